//! `shoal config ls|get|set|rm`: cluster-wide settings held in the map
//! (`placement::config`), so every OSD applies a change within an epoch.

use anyhow::Context;
use placement::config::{SETTINGS, Setting, setting};
use rados::proto::mon::AdminCommand;
use serde_json::json;

use crate::connection::{self, Connection};
use crate::output::{Format, print_json};

/// Subcommands under `shoal config`.
#[derive(clap::Subcommand, Debug)]
pub enum ConfigCommand {
    /// Every setting with its value and default.
    Ls,
    /// One setting's value.
    Get {
        /// The setting, e.g. `osd_max_backfills`.
        key: String,
    },
    /// Set a setting, e.g. `shoal config set osd_recovery_max_bytes_per_sec 50MiB`.
    Set {
        /// The setting.
        key: String,
        /// Its value: an integer, optionally with a KiB/MiB/GiB (or K/M/G) suffix.
        value: String,
    },
    /// Return a setting to its default.
    Rm {
        /// The setting.
        key: String,
    },
}

/// `shoal config ...`.
pub fn run(conn: &Connection, cmd: &ConfigCommand, format: Format) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Ls => {
            let map = connection::status(conn)?.map;
            if format == Format::Json {
                return print_json(
                    &SETTINGS
                        .iter()
                        .map(|s| {
                            json!({"key": s.key, "value": map.setting(s), "default": s.default, "help": s.help})
                        })
                        .collect::<Vec<_>>(),
                );
            }
            println!("{:<34} {:>14} {:>14}  HELP", "KEY", "VALUE", "DEFAULT");
            for s in SETTINGS {
                println!(
                    "{:<34} {:>14} {:>14}  {}",
                    s.key,
                    map.setting(s),
                    s.default,
                    s.help
                );
            }
            Ok(())
        }
        ConfigCommand::Get { key } => {
            let s = known(key)?;
            let value = connection::status(conn)?.map.setting(s);
            if format == Format::Json {
                return print_json(&json!({"key": s.key, "value": value}));
            }
            println!("{value}");
            Ok(())
        }
        ConfigCommand::Set { key, value } => {
            let s = known(key)?;
            let value = crate::args::parse_bytes(value)?;
            let epoch = connection::admin(
                conn,
                AdminCommand::ConfigSet {
                    key: s.key.into(),
                    value: Some(value),
                },
            )?;
            connection::changed(format!("{} = {value}", s.key), epoch, format)
        }
        ConfigCommand::Rm { key } => {
            let s = known(key)?;
            let epoch = connection::admin(
                conn,
                AdminCommand::ConfigSet {
                    key: s.key.into(),
                    value: None,
                },
            )?;
            connection::changed(format!("{} reset to {}", s.key, s.default), epoch, format)
        }
    }
}

fn known(key: &str) -> anyhow::Result<&'static Setting> {
    setting(key).with_context(|| {
        let all: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        format!("unknown setting {key:?}; known: {}", all.join(", "))
    })
}
