//! `dirvault backup` killed with SIGKILL at 20 points spread over a backup: the repository is
//! never corrupt, no snapshot is ever partial, and the next run succeeds at once (the killed
//! run's lease names a process that is gone, so it is broken, not waited out).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use dirvault_emulator::{Emulator, EmulatorConfig, FaultConfig, TenantSpec, ThrottleConfig};
use serde_json::Value;

struct Cli {
    repo: PathBuf,
    config: PathBuf,
    secret: String,
}

impl Cli {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dirvault"));
        cmd.args(["--repo", self.repo.to_str().unwrap()])
            .args(["--config", self.config.to_str().unwrap()])
            .args(args)
            .env("CONTOSO_SECRET", &self.secret)
            .env("DIRVAULT_PASSWORD", "kill-test repository password")
            .env_remove("DIRVAULT_REPO")
            .env_remove("DIRVAULT_CONFIG");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn snapshots(&self) -> Vec<Value> {
        let v: Value = serde_json::from_str(&self.ok(&["--json", "snapshots", "contoso"])).unwrap();
        v["snapshots"].as_array().unwrap().clone()
    }

    /// `verify`'s problems; packs left without an index by a killed write are not corruption
    /// (nothing refers to them; `prune` removes them).
    fn corruption(&self) -> Vec<String> {
        let out = self.run(&["--json", "verify", "contoso"]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "verify gave no report: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .filter(|p| !p.contains("has no index"))
            .collect()
    }
}

fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_kills_at_random_points_never_corrupt_and_never_block_the_next_run() {
    let emulator = Emulator::new(EmulatorConfig {
        throttle: ThrottleConfig { scale: 0.0 },
        ..EmulatorConfig::default()
    });
    let tenant = emulator
        .create_tenant(&TenantSpec::preset("contoso", "medium", 4).unwrap())
        .unwrap();
    // A little latency, so that a backup lasts long enough to be killed anywhere in it.
    emulator
        .with_tenant(&tenant.tenant_id, |t| {
            t.faults = dirvault_emulator::faults::Faults::new(FaultConfig {
                latency_ms: 2,
                ..FaultConfig::default()
            });
        })
        .unwrap();
    let server = emulator.start("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli {
        repo: path(dir.path(), "repo"),
        config: path(dir.path(), "config.toml"),
        secret: tenant.client_secret.clone(),
    };
    let url = server.url();
    cli.ok(&[
        "tenant",
        "add",
        "contoso",
        "--tenant-id",
        &tenant.tenant_id,
        "--client-id",
        &tenant.client_id,
        "--client-secret-env",
        "CONTOSO_SECRET",
        "--graph-url",
        &url,
        "--login-url",
        &url,
    ]);
    // The length of a full backup, the scale of the kill points: the shorter of two runs, so
    // that a slow first run (cold caches, a busy machine) does not push kills past the commit.
    let full = (0..2)
        .map(|_| {
            let started = Instant::now();
            cli.ok(&["backup", "contoso", "--full"]);
            started.elapsed()
        })
        .min()
        .unwrap();

    let mut killed_before_commit = 0;
    for round in 0..20u64 {
        // A point in the backup, spread over its first 80% (a hash of the round: repeatable);
        // the commit is at its very end.
        let fraction =
            (dirvault_model::fnv1a(format!("kill-{round}").as_bytes()) % 800) as f64 / 1000.0;
        let before = cli.snapshots().len();
        let mut child = cli
            .command(&["backup", "contoso", "--full"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The kill point is the test's input, not a wait for something to happen.
        tokio::time::sleep(full.mul_f64(fraction)).await;
        let exited_on_its_own = child.try_wait().unwrap().is_some();
        child.kill().unwrap_or(()); // SIGKILL
        child.wait().unwrap();
        let after = cli.snapshots();
        if !exited_on_its_own && after.len() == before {
            killed_before_commit += 1;
        }
        // No partial snapshot: every snapshot listed reads whole, and nothing is corrupt.
        assert!(after.len() == before || after.len() == before + 1);
        let corruption = cli.corruption();
        assert!(corruption.is_empty(), "round {round}: {corruption:?}");
        // The next run starts at once and completes: the dead run's lease is broken.
        let out = cli.run(&["--json", "backup", "contoso"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: the run after a kill: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["outcome"], "complete", "round {round}");
    }
    // The test proves something only if kills land mid-run; how many depends on the machine's
    // load, so ask for a quarter of the rounds, not a majority.
    assert!(
        killed_before_commit >= 5,
        "kills should land before the commit: {killed_before_commit} of 20 (a full backup took {full:?})"
    );
    cli.ok(&["prune", "contoso"]);
    let out = cli.run(&["--json", "verify", "contoso"]);
    assert!(
        out.status.success(),
        "clean after prune: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
