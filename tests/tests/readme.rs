//! The README promises two commands; CI must run the same test command the README gives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code

use std::path::Path;

fn read(relative: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The first command in the ```sh block that follows `marker`.
fn command_after(text: &str, marker: &str) -> String {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("README has no {marker:?}"));
    let block = text[start..]
        .split("```sh\n")
        .nth(1)
        .expect("a ```sh block");
    block.lines().next().expect("a command").trim().to_owned()
}

#[test]
fn ci_runs_the_test_command_the_readme_gives() {
    let readme = read("README.md");
    let ci = read(".ci/run");
    let test_command = command_after(&readme, "**Run the tests**");
    assert!(test_command.starts_with("cargo test"), "{test_command}");
    let in_ci = ci
        .lines()
        .any(|l| l.trim() == test_command || l.trim() == format!("{test_command} --locked"));
    assert!(in_ci, ".ci/run must run `{test_command}`");
    assert!(ci.contains("cargo fmt --all -- --check") && ci.contains("-D warnings"));
}

#[test]
fn the_readme_run_command_names_a_binary_that_exists() {
    let readme = read("README.md");
    let run = command_after(&readme, "**Run it**");
    let package = run
        .split("-p ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("cargo run -p <package>");
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../bins")
            .join(package)
            .join("Cargo.toml")
            .exists(),
        "{package}"
    );
}
