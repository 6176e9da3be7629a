//! `dirvault`: the command-line interface. All behaviour lives in the library crates; this
//! binary parses arguments and prints results.

// Listing and diffing decode many small values on several threads; glibc's allocator spent a
// quarter of a large listing consolidating memory freed across threads (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod alerts;
mod backup;
mod cli;
mod keys;
mod kind_column;
mod lease;
mod ls;
mod quickstart;
mod repo;
mod repository;
mod restore;
mod shown;
mod tenant;

fn main() -> std::process::ExitCode {
    cli::main()
}
