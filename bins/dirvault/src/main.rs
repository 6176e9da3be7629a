//! `dirvault`: the command-line interface. All behaviour lives in the library crates; this
//! binary parses arguments and prints results.

mod cli;
mod restore;

fn main() -> std::process::ExitCode {
    cli::main()
}
