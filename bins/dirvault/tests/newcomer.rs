//! A newcomer follows the README: `dirvault quickstart --serve`, then every line of the
//! README's "Then explore what it made" block, as written (placeholders filled with what the
//! earlier commands printed), against the quickstart's repository and emulated tenant, with
//! no configuration written by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The lines of the ```sh block after `marker` in the README.
fn readme_block(marker: &str) -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let start = readme.find(marker).expect("the README's marker");
    let block = readme[start..]
        .split("```sh\n")
        .nth(1)
        .expect("a ```sh block");
    block
        .split("\n```")
        .next()
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Kills the served quickstart however the test ends.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_readme_works_for_a_newcomer_after_the_quickstart() {
    let dir = tempfile::tempdir().unwrap();
    // What a newcomer's defaults would be (./dirvault-repo, the user's config file), in a
    // directory of the test's own.
    let repo = dir.path().join("dirvault-repo");
    let config = dir.path().join("config").join("config.toml");
    let dirvault = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dirvault"));
        c.args(args)
            .current_dir(dir.path())
            .env("DIRVAULT_REPO", &repo)
            .env("DIRVAULT_CONFIG", &config)
            .env_remove("DIRVAULT_LOG");
        c
    };

    let quickstart = readme_block("**Run it**");
    assert_eq!(
        quickstart,
        ["cargo run --release -p dirvault -- quickstart --serve"]
    );
    let mut served = Served(
        dirvault(&["--json", "quickstart", "--serve"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(served.0.stdout.take().unwrap()).lines();
    let report: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    // The serving line comes once the configuration is written.
    let serving: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(serving["config"].as_str(), config.to_str());
    assert_eq!(report["restore"]["back"], true, "{report}");
    assert_eq!(report["restore"]["member"], true, "{report}");

    let first_snapshot = report["snapshots"][0].as_str().unwrap().to_owned();
    let user_id = report["restore"]["user"].as_str().unwrap().to_owned();
    let deleted_user_id = report["changes"]["users"]["deleted"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut plan_id = None::<String>;

    let block = readme_block("**Then explore what it made**");
    assert!(block.len() >= 15, "{block:?}");
    let mut last = String::new();
    for line in &block {
        let mut command = line.clone();
        for (placeholder, value) in [
            ("<first-snapshot>", Some(&first_snapshot)),
            ("<user-id>", Some(&user_id)),
            ("<deleted-user-id>", Some(&deleted_user_id)),
            ("<plan-id>", plan_id.as_ref()),
        ] {
            if command.contains(placeholder) {
                let value = value.unwrap_or_else(|| panic!("{placeholder} before it is known"));
                command = command.replace(placeholder, value);
            }
        }
        let words: Vec<&str> = command.split_whitespace().collect();
        assert_eq!(words[0], "dirvault", "{line}");
        assert!(
            !command.contains('<') && !command.contains('#') && !command.contains("&&"),
            "{line}"
        );
        let out = dirvault(&words[1..]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{line}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if line.contains("--dry-run") {
            plan_id = stdout
                .lines()
                .find_map(|l| l.strip_prefix("apply it with: dirvault restore apply "))
                .map(str::to_owned);
            assert!(
                plan_id.is_some(),
                "{line}: the dry run names its plan\n{stdout}"
            );
        }
        last = stdout;
    }
    // The leaver: in the first snapshot, deleted in the second, back in the newest.
    // Lines are `SNAPSHOT DATE TIME EVENT …`, then the relationships' `… + KIND …` lines.
    let events: Vec<&str> = last
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .filter(|e| ["Created", "Modified", "Deleted", "Restored"].contains(e))
        .collect();
    assert_eq!(events, ["Created", "Deleted", "Restored"], "{last}");
    assert!(dir.path().join("contoso-export").is_dir());
}

#[test]
fn serve_listens_on_loopback_only_and_leaves_a_real_contoso_alone() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let dirvault = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dirvault"))
            .args(args)
            .current_dir(dir.path())
            .env("DIRVAULT_REPO", dir.path().join("repo"))
            .env("DIRVAULT_CONFIG", &config)
            .output()
            .unwrap()
    };
    // An emulated tenant with its secret-free Graph is never served beyond this machine.
    let out = dirvault(&["quickstart", "--serve", "--listen", "0.0.0.0:0"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("loopback"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A `contoso` that is someone's real tenant is not re-pointed at the emulator.
    let real = "[tenants.contoso]\ntenant_id = \"5f1c2d3e-0000-4000-8000-000000000000\"\n\
                client_id = \"11111111-2222-4333-8444-555555555555\"\ncloud = \"global\"\n\
                [tenants.contoso.secret]\ntype = \"env\"\nvar = \"CONTOSO_SECRET\"\n";
    std::fs::write(&config, real).unwrap();
    let out = dirvault(&["quickstart", "--serve"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not an emulated one"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), real);
    assert!(!dir.path().join("contoso.secret").exists());
}
