//! `shoal-chaos`: the chaos scenarios behind `chaos/*.sh` (the code is the `chaos` crate).

fn main() -> std::process::ExitCode {
    chaos::main()
}
