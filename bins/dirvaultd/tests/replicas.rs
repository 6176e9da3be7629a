//! Three daemons on one S3 bucket (SeaweedFS in CI: `DIRVAULT_TEST_S3_URL` and `AWS_*`, as
//! `.ci/run` sets them) and an emulator with 50 tenants on a 30-second schedule: every tenant
//! is backed up exactly once per slot; a replica killed with SIGKILL mid-run loses its tenants
//! to the others once its leases expire; the repository verifies clean.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dirvault_emulator::{Emulator, EmulatorConfig, FaultConfig, TenantSpec, ThrottleConfig};
use dirvault_model::TenantId;
use dirvault_store::Repository;
use support::{ADMIN_KEY, Daemon, path, tenant_toml};

const TENANTS: usize = 50;
const SLOT_SECONDS: i64 = 30;

fn slot_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(SLOT_SECONDS)
}

/// Each tenant's snapshots, by slot.
async fn slots(repo: &Repository, tenants: &[TenantId]) -> Vec<BTreeMap<i64, usize>> {
    let mut out = Vec::new();
    for t in tenants {
        let mut by_slot = BTreeMap::new();
        for s in repo.snapshots(t).await.unwrap() {
            *by_slot.entry(slot_of(s.time)).or_insert(0) += 1;
        }
        out.push(by_slot);
    }
    out
}

/// Polls until every tenant has a snapshot in `slot` (or the deadline passes).
async fn wait_for_slot(repo: &Repository, tenants: &[TenantId], slot: i64, deadline: Duration) {
    let end = Instant::now() + deadline;
    loop {
        let all = slots(repo, tenants).await;
        let missing = all.iter().filter(|s| !s.contains_key(&slot)).count();
        if missing == 0 {
            return;
        }
        assert!(
            Instant::now() < end,
            "{missing} tenants have no snapshot in slot {slot}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_back_up_each_slot_once_and_survive_a_kill() {
    let Ok(bucket) = std::env::var("DIRVAULT_TEST_S3_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the replica test: set DIRVAULT_TEST_S3_URL (see .ci/run)"
        );
        eprintln!("DIRVAULT_TEST_S3_URL is not set: replica test not run");
        return;
    };
    let repo_url = format!(
        "{}/replicas-{:016x}",
        bucket.trim_end_matches('/'),
        rand_u64()
    );
    let emulator = Emulator::new(EmulatorConfig {
        throttle: ThrottleConfig { scale: 0.0 },
        ..EmulatorConfig::default()
    });
    let mut infos = Vec::new();
    for n in 0..TENANTS {
        let info = emulator
            .create_tenant(&TenantSpec::preset(&format!("t{n}"), "tiny", n as u64).unwrap())
            .unwrap();
        // Some latency, so that backups are running when a replica is killed.
        emulator
            .with_tenant(&info.tenant_id, |t| {
                t.faults = dirvault_emulator::faults::Faults::new(FaultConfig {
                    latency_ms: 15,
                    ..FaultConfig::default()
                });
            })
            .unwrap();
        infos.push(info);
    }
    // Every tenant's first Conditional Access policy is enabled, and switched off after the
    // first slot: each tenant's second snapshot raises an alert, sent to the webhook.
    let policies: Vec<String> = infos
        .iter()
        .map(|info| support::set_policy_state(&emulator, &info.tenant_id, None, "enabled"))
        .collect();
    let server = emulator.start("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (hook, deliveries) = support::webhook_receiver(0).await;
    std::fs::write(path(&dir, "webhook.secret"), "replica webhook secret").unwrap();
    let mut config = format!(
        "[daemon]\ntick_seconds = 1\nlease_seconds = 6\nretry_seconds = 1\nmax_concurrent_jobs = 4\nshutdown_grace_seconds = 5\n\n\
         [[daemon.api_keys]]\nname = \"admin\"\nenv = \"ADMIN_KEY\"\n\n\
         [daemon.webhook]\nurl = \"{hook}\"\nsecret_file = \"{}\"\nfirst_retry_ms = 100\n\n",
        path(&dir, "webhook.secret").display()
    );
    let mut secrets = Vec::new();
    for (n, info) in infos.iter().enumerate() {
        let var = format!("T{n}_SECRET");
        config.push_str(&tenant_toml(
            &format!("t{n}"),
            &info.tenant_id,
            &info.client_id,
            &var,
            &server.url(),
            "*/30 * * * * *",
        ));
        secrets.push((var, info.client_secret.clone()));
    }
    std::fs::write(path(&dir, "config.toml"), config).unwrap();
    let env: Vec<(&str, &str)> = secrets
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // The first slot's backups must start (their snapshots carry their start time) inside it:
    // too close to its end, begin with the next one.
    let into_slot = Utc::now().timestamp().rem_euclid(SLOT_SECONDS);
    if SLOT_SECONDS - into_slot < 12 {
        tokio::time::sleep(Duration::from_secs((SLOT_SECONDS - into_slot) as u64)).await;
    }
    let mut daemons: Vec<Daemon> = (0..3)
        .map(|i| {
            Daemon::start(
                &path(&dir, "config.toml"),
                &repo_url,
                &env,
                &path(&dir, &format!("d{i}.log")),
            )
        })
        .collect();
    // Encrypted by the daemons, with their password.
    let options = dirvault_store::OpenOptions {
        secret: Some(dirvault_store::Secret::password(
            support::REPOSITORY_PASSWORD,
        )),
        require_encryption: true,
    };
    let repo = Repository::open_with(&repo_url, &options).unwrap();
    let tenants: Vec<TenantId> = infos.iter().map(|i| i.tenant_id.parse().unwrap()).collect();

    // The slot the daemons started in is overdue: all three race for it.
    let first = slot_of(Utc::now());
    wait_for_slot(
        &repo,
        &tenants,
        first,
        Duration::from_secs(SLOT_SECONDS as u64 + 60),
    )
    .await;

    for (info, policy) in infos.iter().zip(&policies) {
        support::set_policy_state(&emulator, &info.tenant_id, Some(policy), "disabled");
    }

    // In the next slot, kill -9 a replica while it is backing tenants up.
    let second = first + 1;
    let victim = loop {
        let now = slot_of(Utc::now());
        assert!(now <= second, "missed the second slot");
        if now == second {
            let mut running = None;
            for (i, d) in daemons.iter().enumerate() {
                let (_, jobs) = d.get("/v1/jobs", ADMIN_KEY).await;
                if jobs
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|j| j["state"] == "running")
                {
                    running = Some(i);
                    break;
                }
            }
            if let Some(i) = running {
                break i;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    daemons[victim].child.kill().unwrap();
    daemons[victim].child.wait().unwrap();
    wait_for_slot(
        &repo,
        &tenants,
        second,
        Duration::from_secs(SLOT_SECONDS as u64 + 60),
    )
    .await;

    // Stop the others cleanly, then count.
    for (i, d) in daemons.iter_mut().enumerate() {
        if i != victim {
            d.signal("TERM");
            assert!(d.child.wait().unwrap().success());
        }
    }
    let all = slots(&repo, &tenants).await;
    for (n, by_slot) in all.iter().enumerate() {
        for (slot, count) in by_slot {
            assert_eq!(
                *count, 1,
                "tenant t{n} has {count} snapshots in slot {slot}"
            );
        }
        assert!(
            by_slot.contains_key(&first) && by_slot.contains_key(&second),
            "t{n}: {by_slot:?}"
        );
    }
    let taken_by: BTreeSet<usize> = (0..3)
        .filter(|i| {
            std::fs::read_to_string(path(&dir, &format!("d{i}.log")))
                .unwrap()
                .contains("backup done")
        })
        .collect();
    assert!(taken_by.len() >= 2, "the work was shared: {taken_by:?}");
    for t in &tenants {
        let report = repo.verify(t).await.unwrap();
        assert!(report.is_clean(), "tenant {t}: {:?}", report.problems);
    }
    // Each snapshot's alerts were sent at most once, by the replica that wrote it: no delivery
    // id twice, each for a second-slot snapshot. (The killed replica may have written some
    // snapshots and died before sending their alerts: those stay in the repository.)
    let deliveries = deliveries.lock().unwrap().clone();
    let ids: Vec<String> = deliveries
        .iter()
        .map(|(h, _)| h["x-dirvault-delivery"].to_str().unwrap().to_owned())
        .collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "a delivery was sent twice: {ids:?}"
    );
    assert!(
        ids.len() >= TENANTS / 2,
        "the surviving replicas delivered their snapshots' alerts: {}",
        ids.len()
    );
    for (_, body) in &deliveries {
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["alerts"][0]["rule"], "conditional-access-weakened");
        // Snapshot ids begin with their time: YYYYMMDDTHHMMSSZ.
        let id = body["snapshot"].as_str().unwrap();
        let at = chrono::NaiveDateTime::parse_from_str(&id[..15], "%Y%m%dT%H%M%S")
            .unwrap_or_else(|_| panic!("{body}"))
            .and_utc();
        assert_eq!(slot_of(at), second, "{body}");
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}
