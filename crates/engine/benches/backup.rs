//! Backup benchmark: a full backup of an emulated tenant, 1% churn, an incremental backup.
//! Reports wall time, Graph requests, ResourceUnits, 429s, bytes written and peak memory.
//!
//! `cargo bench -p dirvault-engine --bench backup -- [SIZE] [THROTTLE_SCALE] [LATENCY_MS] [SKIP]`
//! (defaults: large 0 0; SCALE 1 = Graph's documented limits, 0 = off; SKIP: kinds left out,
//! comma-separated, e.g. `authenticationMethods`). With throttling on, the wall time is compared
//! with the bound the ResourceUnits consumed imply (RU ÷ the tenant's RU rate).
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

// The allocator the `dirvault` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use dirvault_emulator::{Emulator, EmulatorConfig, TenantSpec, ThrottleConfig};
use dirvault_engine::{BackupOptions, BackupReport, backup};
use dirvault_graph::{Credentials, GraphClient};
use dirvault_store::Repository;

/// Peak resident memory since the last [`reset_peak`], from /proc.
fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// Current resident memory, from /proc.
fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Resets the peak (`VmHWM`) so that the next phase's is its own.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// What each kind of a run cost, from its progress events: Graph requests, 429s and wall
/// time between the kind's first and last event, and the largest resident memory seen.
#[derive(Default)]
struct Profile {
    start: Option<Instant>,
    kinds: std::collections::BTreeMap<String, KindProfile>,
}

struct KindProfile {
    first: (u64, u64, f64),
    last: (u64, u64, f64),
    rss: f64,
}

impl Profile {
    fn record(&mut self, p: &dirvault_engine::Progress) {
        let start = *self.start.get_or_insert_with(Instant::now);
        let now = (
            p.graph.requests,
            p.graph.throttled,
            start.elapsed().as_secs_f64(),
        );
        let rss = rss_mib();
        let k = self.kinds.entry(p.kind.to_string()).or_insert(KindProfile {
            first: now,
            last: now,
            rss,
        });
        k.last = now;
        k.rss = k.rss.max(rss);
    }

    /// The five kinds with the largest resident memory, as a line.
    fn memory(&self) -> String {
        let mut v: Vec<(&String, f64)> = self.kinds.iter().map(|(k, p)| (k, p.rss)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v.iter()
            .take(5)
            .map(|(k, m)| format!("{k} {m:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Requests, 429s and seconds by kind (approximate: a kind's requests are those made
    /// between its first event and its last; kinds read at once share them), as a line.
    fn costs(&self) -> String {
        let mut v: Vec<(&String, &KindProfile)> = self.kinds.iter().collect();
        v.sort_by(|a, b| a.1.first.2.total_cmp(&b.1.first.2));
        v.iter()
            .map(|(k, p)| {
                format!(
                    "{k} {}r/{}t/{:.1}s",
                    p.last.0 - p.first.0,
                    p.last.1 - p.first.1,
                    p.last.2 - p.first.2
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn show(label: &str, r: &BackupReport, secs: f64) {
    let objects: usize = r.kinds.iter().map(|k| k.count).sum();
    println!(
        "{label:<12} {secs:>8.2} s  {objects:>9} objects  {:>7} requests  {:>9} RU  {:>5} 429s  {:>8} new blobs  {:>12} bytes written ({} of object versions)",
        r.graph.requests,
        r.graph.resource_units,
        r.graph.throttled,
        r.write.new_blobs,
        r.write.bytes_written,
        r.write.object_bytes
    );
}

/// The tenant to back up: generated in this process, or served by an external
/// `graph-emulator --json` whose output line is in the file named by `DIRVAULT_BENCH_EMULATOR`
/// (so that peak memory is the backup's alone).
struct Target {
    url: String,
    tenant: dirvault_emulator::TenantInfo,
    local: Option<(Emulator, dirvault_emulator::RunningEmulator)>,
}

async fn target(size: &str, scale: f64, latency: u64) -> Target {
    if let Ok(file) = std::env::var("DIRVAULT_BENCH_EMULATOR") {
        let info: serde_json::Value = serde_json::from_str(
            std::fs::read_to_string(file)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        let t = &info["tenants"][0];
        let tenant = dirvault_emulator::TenantInfo {
            tenant_id: t["tenantId"].as_str().unwrap().into(),
            name: t["name"].as_str().unwrap().into(),
            default_domain: t["defaultDomain"].as_str().unwrap().into(),
            client_id: t["clientId"].as_str().unwrap().into(),
            client_secret: t["clientSecret"].as_str().unwrap().into(),
            // The tenant's size sets its ResourceUnit budget (the bound below).
            counts: serde_json::from_value(t["counts"].clone()).unwrap_or_default(),
        };
        let url: String = info["url"].as_str().unwrap().into();
        // The latency is the tenant's (a fault setting); throttling is the emulator's
        // (`--throttle-scale`).
        reqwest::Client::new()
            .put(format!(
                "{url}/_emulator/tenants/{}/faults",
                tenant.tenant_id
            ))
            .json(&serde_json::json!({ "latencyMs": latency }))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
        return Target {
            url,
            tenant,
            local: None,
        };
    }
    let emulator = Emulator::new(EmulatorConfig {
        throttle: ThrottleConfig { scale },
        ..EmulatorConfig::default()
    });
    let tenant = emulator
        .create_tenant(&TenantSpec::preset("bench", size, 1).unwrap())
        .unwrap();
    if latency > 0 {
        emulator
            .with_tenant(&tenant.tenant_id, |t| {
                t.faults = dirvault_emulator::faults::Faults::new(dirvault_emulator::FaultConfig {
                    latency_ms: latency,
                    ..Default::default()
                })
            })
            .unwrap();
    }
    let server = emulator.start("127.0.0.1:0").await.unwrap();
    Target {
        url: server.url(),
        tenant,
        local: Some((emulator, server)),
    }
}

async fn churn(target: &Target, seed: u64) -> serde_json::Value {
    match &target.local {
        Some((emulator, _)) => emulator
            .with_tenant(&target.tenant.tenant_id, |t| {
                dirvault_emulator::control::churn_tenant(t, 1.0, seed, emulator.clock().now())
            })
            .unwrap(),
        None => reqwest::Client::new()
            .post(format!(
                "{}/_emulator/tenants/{}/churn",
                target.url, target.tenant.tenant_id
            ))
            .json(&serde_json::json!({"percent": 1.0, "seed": seed}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    }
}

/// Runs one backup from a fresh peak and prints what it cost: wall time, requests, bytes, the
/// RU bound, peak memory and the costs by kind.
#[allow(clippy::too_many_arguments)]
async fn measured(
    label: &str,
    what: &str,
    client: &GraphClient,
    repo: &Repository,
    options: &BackupOptions,
    now: chrono::DateTime<chrono::Utc>,
    profile: &std::sync::Mutex<Profile>,
    bound: &dyn Fn(&BackupReport) -> String,
) -> BackupReport {
    let record = |p: &dirvault_engine::Progress| profile.lock().unwrap().record(p);
    let t = Instant::now();
    reset_peak();
    let report = backup(client, repo, options, now, &record).await.unwrap();
    show(label, &report, t.elapsed().as_secs_f64());
    println!("{}", bound(&report));
    let shown = std::mem::take(&mut *profile.lock().unwrap());
    println!(
        "  peak RSS of the {what}: {:.0} MiB; largest RSS (MiB) while listing: {}",
        peak_rss_mib(),
        shown.memory()
    );
    println!("  by kind (requests/429s/seconds): {}", shown.costs());
    report
}

/// Where an incremental's structure bytes went: the compressed bytes of the manifest chunks,
/// indexes and changesets it wrote (not shared with its parent), by kind, and of its
/// relationship chunks and index; the largest first.
async fn structure_bytes(repo: &Repository, tenant: &dirvault_model::TenantId) -> String {
    let snapshots = repo.snapshots(tenant).await.unwrap();
    let [.., parent, child] = snapshots.as_slice() else {
        return String::new();
    };
    let parts = repo.written_beyond(parent, child).await.unwrap();
    parts
        .iter()
        .filter(|(_, b)| *b >= 50_000)
        .map(|(what, b)| format!("{what} {:.2} MB", *b as f64 / 1e6))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let size = args.first().cloned().unwrap_or_else(|| "large".into());
    let scale: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let latency: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let skip: Vec<dirvault_model::ObjectKind> = args
        .get(3)
        .map(|s| s.split(',').map(|k| k.parse().unwrap()).collect())
        .unwrap_or_default();
    let options = BackupOptions {
        kinds: dirvault_model::ObjectKind::ALL
            .into_iter()
            .filter(|k| !skip.contains(k))
            .collect(),
        ..BackupOptions::default()
    };
    // Requests in flight at once (the client's default unless BENCH_CONCURRENCY says).
    let concurrency: usize = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(dirvault_graph::DEFAULT_MAX_CONCURRENCY);
    let target = target(&size, scale, latency).await;
    // Graph's ResourceUnit budget per app and tenant (docs/graph.md §5), by tenant size.
    let users = target.tenant.counts.get("users").copied().unwrap_or(0);
    let ru_per_second = scale
        * match users {
            0..50 => 350.0,
            50..=500 => 500.0,
            _ => 800.0,
        };
    // The bucket holds 10 s of budget: a run cannot take less than its ResourceUnits beyond
    // that first bucketful, at the steady rate.
    let bound = |r: &BackupReport| {
        if ru_per_second > 0.0 {
            let beyond = (r.graph.resource_units as f64 - 10.0 * ru_per_second).max(0.0);
            format!("  RU bound {:.1} s", beyond / ru_per_second)
        } else {
            String::new()
        }
    };
    let client = GraphClient::builder(target.tenant.tenant_id.parse().unwrap())
        .with_credentials(Credentials::secret(
            target.tenant.client_id.parse().unwrap(),
            target.tenant.client_secret.clone(),
        ))
        .with_endpoints(&target.url, &target.url)
        .with_max_concurrency(concurrency)
        .build()
        .unwrap();
    // BENCH_FRESH=1: the incremental runs in a fresh process (this binary again, told by
    // BENCH_REPO where the repository is), as `dirvault backup` would; otherwise in this one
    // after the full run (memory the allocator kept from it included).
    let fresh = std::env::var("BENCH_FRESH").is_ok_and(|v| v == "1");
    let child_repo = std::env::var("BENCH_REPO").ok();
    // BENCH_DIR keeps the repository there (e.g. to profile another incremental on it).
    let dir = tempfile::tempdir().unwrap();
    let repo_path = child_repo
        .clone()
        .or_else(|| std::env::var("BENCH_DIR").ok())
        .unwrap_or_else(|| dir.path().to_str().unwrap().to_owned());
    // Encrypted, as a repository is by default (BENCH_PLAIN=1: unencrypted).
    let plain = std::env::var_os("BENCH_PLAIN").is_some();
    let open_options = dirvault_store::OpenOptions {
        secret: (!plain).then(|| dirvault_store::Secret::password("bench password")),
        require_encryption: !plain,
    };
    let repo = Repository::open_with(&repo_path, &open_options).unwrap();
    let profile = std::sync::Mutex::new(Profile::default());
    let now = chrono::Utc::now();
    let run = |label: &'static str, what: &'static str, at| {
        measured(label, what, &client, &repo, &options, at, &profile, &bound)
    };
    if child_repo.is_some() {
        let incremental = run("incremental", "incremental run (a fresh process)", now).await;
        println!(
            "  structure written (≥ 0.05 MB): {}",
            structure_bytes(&repo, client.tenant()).await
        );
        // The parent reads this line for the ratios.
        println!(
            "totals {} {}",
            incremental.graph.requests, incremental.write.bytes_written
        );
        return;
    }
    let external = target.local.is_none();
    println!(
        "tenant {size}, throttle scale {scale}, latency {latency} ms, {concurrency} requests at once, emulator {}, repository on local disk",
        if external {
            "in another process"
        } else {
            "in this process"
        }
    );
    // BENCH_SKIP_FULL=1 (BENCH_DIR holding an earlier run's repository, and that run's
    // emulator): no full run, only the churn and the incremental on the latest snapshot.
    let skip_full = std::env::var("BENCH_SKIP_FULL").is_ok_and(|v| v == "1");
    let full = if skip_full {
        None
    } else {
        Some(run("full", "full run", now).await)
    };
    println!(
        "churn 1%: {}",
        churn(&target, if skip_full { 8 } else { 7 }).await
    );
    let (requests, bytes) = if fresh {
        assert!(external, "BENCH_FRESH needs DIRVAULT_BENCH_EMULATOR");
        // BENCH_WRAP=heaptrack (or any command): the incremental process runs under it, to
        // see where its memory goes.
        let exe = std::env::current_exe().unwrap();
        let mut command = match std::env::var("BENCH_WRAP") {
            Ok(wrap) => {
                let mut c = std::process::Command::new(wrap);
                c.arg(exe);
                c
            }
            Err(_) => std::process::Command::new(exe),
        };
        let out = command
            .args(std::env::args().skip(1))
            .env("BENCH_REPO", &repo_path)
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success(), "the incremental process failed");
        let text = String::from_utf8(out.stdout).unwrap();
        let mut totals = (0, 0);
        for line in text.lines() {
            match line.strip_prefix("totals ") {
                Some(t) => {
                    let (r, b) = t.split_once(' ').unwrap();
                    totals = (r.parse::<u64>().unwrap(), b.parse::<u64>().unwrap());
                }
                None => println!("{line}"),
            }
        }
        totals
    } else {
        // BENCH_ROUNDS=N: N incrementals, each after its own 1% churn (chains of changesets
        // grow, then rebase): the first is reported below, each and their mean here.
        let rounds: usize = std::env::var("BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(1);
        let mut each = Vec::new();
        for round in 0..rounds {
            if round > 0 {
                println!("churn 1%: {}", churn(&target, 7 + round as u64).await);
            }
            let at = now + chrono::Duration::minutes(30 * (round as i64 + 1));
            let incremental = run("incremental", "incremental run (same process)", at).await;
            println!(
                "  structure written (≥ 0.05 MB): {}",
                structure_bytes(&repo, client.tenant()).await
            );
            each.push((incremental.graph.requests, incremental.write.bytes_written));
        }
        if rounds > 1 {
            let full_bytes = full.as_ref().map_or(1, |f| f.write.bytes_written);
            let percent = |b: u64| 100.0 * b as f64 / full_bytes as f64;
            let shown: Vec<String> = each
                .iter()
                .map(|(_, b)| format!("{:.1}", percent(*b)))
                .collect();
            let mean = each.iter().map(|(_, b)| *b).sum::<u64>() / rounds as u64;
            println!(
                "bytes of each incremental, % of the full run: {}; mean {:.2}%",
                shown.join(" "),
                percent(mean)
            );
        }
        each[0]
    };
    if let Some(full) = full {
        println!(
            "incremental / full: requests {:.1}%, bytes {:.1}%",
            100.0 * requests as f64 / full.graph.requests as f64,
            100.0 * bytes as f64 / full.write.bytes_written as f64
        );
    }
}
