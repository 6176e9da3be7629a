//! Daemon benchmark: one replica with N small tenants (default 1,000 tiny ones on the
//! emulator). Backs every tenant up once, then measures the idle daemon: resident memory per
//! tenant (against a daemon with one tenant) and the scheduler's CPU use.
//!
//! `cargo bench -p dirvaultd --bench idle -- [TENANTS] [IDLE_SECONDS]` (defaults: 1000 30).
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dirvault_emulator::{Emulator, EmulatorConfig, TenantSpec, ThrottleConfig};
use dirvault_testkit::SpawnedDaemon;

const KEY: &str = "bench-admin-key";

fn status_field(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap()
        / 1024.0
}

/// User + system CPU seconds of a process.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

async fn run(
    emulator: &Emulator,
    url: &str,
    tenants: usize,
    dir: &std::path::Path,
) -> SpawnedDaemon {
    let mut config = format!(
        "[daemon]\ntick_seconds = 5\nmax_concurrent_jobs = 8\n[[daemon.api_keys]]\nname = \"bench\"\nsha256 = \"{}\"\n\n",
        {
            use sha2::Digest;
            sha2::Sha256::digest(KEY.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        }
    );
    let mut env = Vec::new();
    for n in 0..tenants {
        let info = emulator
            .create_tenant(
                &TenantSpec::preset(&format!("r{tenants}-{n}"), "tiny", n as u64).unwrap(),
            )
            .unwrap();
        config.push_str(&format!(
            "[tenants.b{n}]\ntenant_id = \"{}\"\nclient_id = \"{}\"\ngraph_url = \"{url}\"\nlogin_url = \"{url}\"\nschedule = \"every 12h\"\n[tenants.b{n}.secret]\ntype = \"env\"\nvar = \"B{n}_SECRET\"\n\n",
            info.tenant_id, info.client_id
        ));
        env.push((format!("B{n}_SECRET"), info.client_secret));
    }
    let config_path = dir.join(format!("config-{tenants}.toml"));
    std::fs::write(&config_path, config).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_dirvaultd"));
    command
        .args([
            "--config",
            config_path.to_str().unwrap(),
            "--repo",
            dir.join(format!("repo-{tenants}")).to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "run",
        ])
        .envs(env)
        .env("DIRVAULT_LOG", "warn")
        .stderr(Stdio::null());
    SpawnedDaemon::start(command).unwrap()
}

/// Waits until every tenant has a snapshot; returns the seconds it took.
async fn backed_up(d: &SpawnedDaemon, tenants: usize) -> f64 {
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let list: serde_json::Value = http
            .get(format!("{}/v1/tenants", d.url))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let done = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["lastSnapshot"].is_object())
            .count();
        let running = http
            .get(format!("{}/v1/jobs", d.url))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["state"] == "running" || j["state"] == "queued")
            .count();
        if done == tenants && running == 0 {
            return started.elapsed().as_secs_f64();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "{done}/{tenants} tenants backed up"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::main]
async fn main() {
    let args = dirvault_testkit::bench_args();
    let tenants: usize = args.first().map_or(1000, |s| s.parse().unwrap());
    let idle: u64 = args.get(1).map_or(30, |s| s.parse().unwrap());
    let emulator = Emulator::new(EmulatorConfig {
        throttle: ThrottleConfig { scale: 0.0 },
        ..EmulatorConfig::default()
    });
    let server = emulator.start("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let mut results = Vec::new();
    for n in [1, tenants] {
        let d = run(&emulator, &server.url(), n, dir.path()).await;
        let pid = d.child.id();
        let seconds = backed_up(&d, n).await;
        let rss_after = status_field(pid, "VmRSS:");
        let cpu0 = cpu_seconds(pid);
        tokio::time::sleep(Duration::from_secs(idle)).await;
        let cpu = cpu_seconds(pid) - cpu0;
        let rss_idle = status_field(pid, "VmRSS:");
        let peak = status_field(pid, "VmHWM:");
        println!(
            "{n:>5} tenants: first round {seconds:.1} s; idle RSS {rss_idle:.1} MiB (peak {peak:.1} MiB, right after the round {rss_after:.1} MiB); idle CPU {:.3}% over {idle} s",
            cpu / idle as f64 * 100.0
        );
        results.push((n, rss_idle));
    }
    let (n1, r1) = results[0];
    let (n2, r2) = results[1];
    println!(
        "idle memory per tenant: {:.3} MiB (({r2:.1} - {r1:.1}) MiB / {} tenants)",
        (r2 - r1) / (n2 - n1) as f64,
        n2 - n1
    );
}
