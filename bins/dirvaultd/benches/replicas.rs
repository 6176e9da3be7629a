//! Replicas benchmark: three `dirvaultd` replicas (the release binary) share one S3 bucket and N
//! tiny tenants on the emulator, on a schedule of one backup per tenant per slot. Counts the S3
//! requests the replicas send per tenant per slot (leases, snapshot records, packs, listings:
//! each replica's `dirvault_store_requests` metric, summed), checks that every tenant has
//! exactly one snapshot in each slot, and reports each replica's resident memory.
//!
//! `cargo bench -p dirvaultd --bench replicas -- [TENANTS] [SLOT_MINUTES] [SLOTS]`
//! (defaults: 1000 5 2). Needs an S3 bucket: `DIRVAULT_TEST_S3_URL` (`s3://bucket`) and the
//! `AWS_*` variables, as `.ci/run` sets them for SeaweedFS.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dirvault_emulator::{Emulator, EmulatorConfig, TenantSpec, ThrottleConfig};
use dirvault_model::TenantId;
use dirvault_store::{OpenOptions, Repository, Secret, StoreRequests};
use dirvault_testkit::SpawnedDaemon;

const KEY: &str = "bench-admin-key";
const PASSWORD: &str = "bench repository password";
const REPLICAS: usize = 3;

/// One replica (killed when dropped).
struct Replica(SpawnedDaemon);

impl Replica {
    fn start(config: &std::path::Path, repo: &str, env: &[(String, String)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dirvaultd"));
        command
            .args([
                "--config",
                config.to_str().unwrap(),
                "--repo",
                repo,
                "--listen",
                "127.0.0.1:0",
                "run",
            ])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("DIRVAULT_PASSWORD", PASSWORD)
            .env("DIRVAULT_LOG", "warn")
            .stderr(Stdio::null());
        Self(SpawnedDaemon::start(command).unwrap())
    }

    async fn get(&self, path: &str) -> String {
        reqwest::Client::new()
            .get(format!("{}{path}", self.0.url))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The replica's S3 requests so far, from its metrics.
    async fn store_requests(&self) -> StoreRequests {
        let metrics = self.get("/metrics").await;
        let count = |operation: &str| -> u64 {
            let prefix = format!("dirvault_store_requests_total{{operation=\"{operation}\"}} ");
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .map_or(0, |v| v.parse().unwrap())
        };
        StoreRequests {
            get: count("get"),
            head: count("head"),
            put: count("put"),
            list: count("list"),
            delete: count("delete"),
            copy: count("copy"),
        }
    }

    /// Jobs running or queued.
    async fn busy(&self) -> usize {
        let jobs: serde_json::Value = serde_json::from_str(&self.get("/v1/jobs").await).unwrap();
        jobs.as_array()
            .unwrap()
            .iter()
            .filter(|j| j["state"] == "running" || j["state"] == "queued")
            .count()
    }

    fn rss_mib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.0.child.id()))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .unwrap()
            / 1024.0
    }
}

fn sum(all: &[StoreRequests]) -> StoreRequests {
    all.iter()
        .fold(StoreRequests::default(), |a, r| StoreRequests {
            get: a.get + r.get,
            head: a.head + r.head,
            put: a.put + r.put,
            list: a.list + r.list,
            delete: a.delete + r.delete,
            copy: a.copy + r.copy,
        })
}

async fn requests(replicas: &[Replica]) -> StoreRequests {
    let mut all = Vec::new();
    for r in replicas {
        all.push(r.store_requests().await);
    }
    sum(&all)
}

fn slot_start(t: DateTime<Utc>, slot_seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp().div_euclid(slot_seconds) * slot_seconds, 0).unwrap()
}

/// Waits until `at`, checking the clock (the slot boundaries are wall-clock times).
async fn until(at: DateTime<Utc>) {
    let left = (at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left).await;
}

/// Waits until no replica has a job running or queued, after the slot's jobs had time to start.
async fn idle(replicas: &[Replica]) -> f64 {
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    loop {
        let mut busy = 0;
        for r in replicas {
            busy += r.busy().await;
        }
        if busy == 0 {
            return started.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[tokio::main]
async fn main() {
    let args = dirvault_testkit::bench_args();
    let tenants: usize = args.first().map_or(1000, |s| s.parse().unwrap());
    let slot_minutes: i64 = args.get(1).map_or(5, |s| s.parse().unwrap());
    let slots: usize = args.get(2).map_or(2, |s| s.parse().unwrap());
    let slot_seconds = slot_minutes * 60;
    let Ok(bucket) = std::env::var("DIRVAULT_TEST_S3_URL") else {
        eprintln!(
            "set DIRVAULT_TEST_S3_URL (s3://bucket) and AWS_* for an S3 bucket (SeaweedFS: see .ci/run)"
        );
        return;
    };
    let repo_url = format!(
        "{}/bench-replicas-{}",
        bucket.trim_end_matches('/'),
        Utc::now().format("%Y%m%dT%H%M%S")
    );

    let emulator = Emulator::new(EmulatorConfig {
        throttle: ThrottleConfig { scale: 0.0 },
        ..EmulatorConfig::default()
    });
    let server = emulator.start("127.0.0.1:0").await.unwrap();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let mut config = format!(
        "[daemon]\ntick_seconds = 5\nmax_concurrent_jobs = 8\n[[daemon.api_keys]]\nname = \"bench\"\nsha256 = \"{}\"\n\n",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(KEY.as_bytes()))
    );
    let mut env = Vec::new();
    let mut ids = Vec::new();
    for n in 0..tenants {
        let info = emulator
            .create_tenant(&TenantSpec::preset(&format!("r{n}"), "tiny", n as u64).unwrap())
            .unwrap();
        config.push_str(&format!(
            "[tenants.b{n}]\ntenant_id = \"{}\"\nclient_id = \"{}\"\ngraph_url = \"{url}\"\nlogin_url = \"{url}\"\nschedule = \"0 */{slot_minutes} * * * *\"\n[tenants.b{n}.secret]\ntype = \"env\"\nvar = \"B{n}_SECRET\"\n\n",
            info.tenant_id, info.client_id
        ));
        env.push((format!("B{n}_SECRET"), info.client_secret));
        ids.push(info.tenant_id.parse::<TenantId>().unwrap());
    }
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config).unwrap();

    // Start just after a slot boundary, so that each measured slot is a whole one (started
    // before it, the replicas would back every tenant up for the slot before too).
    let first = slot_start(Utc::now(), slot_seconds) + chrono::Duration::seconds(slot_seconds);
    println!(
        "{tenants} tiny tenants, {REPLICAS} replicas, a backup each per {slot_minutes}-minute slot; starting at {first}"
    );
    until(first + chrono::Duration::seconds(1)).await;
    let replicas: Vec<Replica> = (0..REPLICAS)
        .map(|_| Replica::start(&config_path, &repo_url, &env))
        .collect();

    // Each slot's requests: the counters read a second before its end, less the last reading.
    let mut last = StoreRequests::default();
    for slot in 0..slots {
        let start = first + chrono::Duration::seconds(slot_seconds * slot as i64);
        until(start).await;
        let round = idle(&replicas).await;
        let rss: Vec<f64> = replicas.iter().map(Replica::rss_mib).collect();
        until(start + chrono::Duration::seconds(slot_seconds - 1)).await;
        let now = requests(&replicas).await;
        let used = now.since(&last);
        last = now;
        println!(
            "slot {slot}: round {round:.0} s; S3 requests {} = {:.1} per tenant ({used:?}); replica RSS {rss:.0?} MiB",
            used.total(),
            used.total() as f64 / tenants as f64
        );
    }

    // Stopped before the check, so that no backup of the next slot is under way.
    drop(replicas);

    // Every tenant backed up exactly once in each measured slot, and never twice in one (read
    // with the bench's own handle: not in the replicas' counts).
    let repo = Repository::open_with(
        &repo_url,
        &OpenOptions {
            secret: Some(Secret::password(PASSWORD)),
            require_encryption: true,
        },
    )
    .unwrap();
    let starts: Vec<DateTime<Utc>> = (0..slots)
        .map(|slot| first + chrono::Duration::seconds(slot_seconds * slot as i64))
        .collect();
    for t in &ids {
        let mut per_slot: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
        for s in repo.snapshots(t).await.unwrap() {
            *per_slot
                .entry(slot_start(s.time, slot_seconds))
                .or_default() += 1;
        }
        assert!(
            per_slot.values().all(|n| *n == 1),
            "tenant {t}: two snapshots in a slot: {per_slot:?}"
        );
        let measured: Vec<DateTime<Utc>> = per_slot
            .keys()
            .filter(|s| starts.contains(s))
            .copied()
            .collect();
        assert_eq!(measured, starts, "tenant {t}: a snapshot in each slot");
    }
    println!("every tenant: exactly one snapshot in each of the {slots} slots");
}
