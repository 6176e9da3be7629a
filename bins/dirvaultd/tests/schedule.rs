//! The scheduler, through the real binary: tenants backed up on their schedule with their own
//! kinds and retention; a failing tenant retries with backoff, reports why, and never holds up
//! the others.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::time::{Duration, Instant};

use dirvault_emulator::{Emulator, EmulatorConfig, TenantSpec, ThrottleConfig};
use serde_json::Value;
use support::{ADMIN_KEY, Daemon, path, tenant_toml, tenant_toml_with};

/// Polls the tenant's status until `done` holds (or the deadline passes).
async fn until(d: &Daemon, tenant: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = d.get(&format!("/v1/tenants/{tenant}"), ADMIN_KEY).await;
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < end, "{tenant}: {what}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_backups_apply_kinds_and_retention_and_failures_back_off() {
    let emulator = Emulator::new(EmulatorConfig {
        throttle: ThrottleConfig { scale: 0.0 },
        ..EmulatorConfig::default()
    });
    let good = emulator
        .create_tenant(&TenantSpec::preset("good", "tiny", 1).unwrap())
        .unwrap();
    let bad = emulator
        .create_tenant(&TenantSpec::preset("bad", "tiny", 2).unwrap())
        .unwrap();
    let server = emulator.start("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[daemon]\ntick_seconds = 1\nretry_seconds = 1\n[[daemon.api_keys]]\nname = \"admin\"\nenv = \"ADMIN_KEY\"\n\n{}{}",
        tenant_toml_with(
            "good",
            &good.tenant_id,
            &good.client_id,
            "GOOD_SECRET",
            &server.url(),
            "*/2 * * * * *",
            "kinds = [\"users\", \"groups\"]\n[tenants.good.retention]\nkeep_last = 2\n"
        ),
        tenant_toml(
            "bad",
            &bad.tenant_id,
            &bad.client_id,
            "BAD_SECRET_NOT_SET",
            &server.url(),
            "*/2 * * * * *"
        ),
    );
    std::fs::write(path(&dir, "config.toml"), &config).unwrap();
    let d = Daemon::start(
        &path(&dir, "config.toml"),
        path(&dir, "repo").to_str().unwrap(),
        &[("GOOD_SECRET", &good.client_secret)],
        &path(&dir, "daemon.log"),
    );

    // The failing tenant reports why and backs off; the good one goes on regardless.
    let bad_status = until(&d, "bad", "a failure reported", |s| {
        s["consecutiveFailures"].as_u64() >= Some(2)
    })
    .await;
    assert!(
        bad_status["lastError"]
            .as_str()
            .unwrap()
            .contains("BAD_SECRET_NOT_SET"),
        "{bad_status}"
    );
    // Several slots with retention keep_last = 2: never more than 2 snapshots, the newest kept.
    let mut seen = std::collections::BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(60);
    while seen.len() < 4 {
        let (_, list) = d.get("/v1/tenants/good/snapshots", ADMIN_KEY).await;
        let snapshots = list["snapshots"].as_array().unwrap();
        assert!(
            snapshots.len() <= 3,
            "retention keeps 2 (a third may exist until it runs): {list}"
        );
        for s in snapshots {
            seen.insert(s["id"].as_str().unwrap().to_owned());
        }
        assert!(
            Instant::now() < end,
            "only {} snapshots in 60 s",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, list) = d.get("/v1/tenants/good/snapshots", ADMIN_KEY).await;
    let latest = list["snapshots"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let kinds: Vec<&str> = latest["kinds"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        kinds,
        ["groups", "users"],
        "only the tenant's kinds: {latest}"
    );
    let (_, jobs) = d.get("/v1/jobs", ADMIN_KEY).await;
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .any(|j| j["tenant"] == "bad" && j["state"] == "failed")
    );
}
