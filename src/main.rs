//! `shoal`: the one user-facing binary. A thin dispatcher: each subcommand lives in its own
//! module and calls into the library crates; errors become one line on stderr and exit 1.

mod crush_test;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::output::Format;

/// Shoal: a Ceph-style, self-healing object store.
#[derive(Parser, Debug)]
#[command(name = "shoal", version, about, propagate_version = true)]
struct Cli {
    /// Output format of every command.
    #[arg(long, global = true, value_enum, default_value_t = Format::Plain)]
    format: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Placement (CRUSH) tools.
    Crush {
        #[command(subcommand)]
        command: CrushCommand,
    },
}

#[derive(Subcommand, Debug)]
enum CrushCommand {
    /// Map every PG of a synthetic cluster and report balance and data movement
    /// (like `crushtool --test`).
    Test(crush_test::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crush {
            command: CrushCommand::Test(args),
        } => crush_test::run(&args, cli.format),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
