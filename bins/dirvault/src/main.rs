//! `dirvault`: the command-line interface. All behaviour lives in the library crates; this
//! binary parses arguments and prints results.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
