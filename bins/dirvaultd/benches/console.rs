//! Console benchmark: the pages a technician opens on a large tenant, served by the release
//! `dirvaultd` over a repository the browse benchmark made (L100k, many snapshots). Signs in,
//! then times each page over loopback: the first request (cold caches) and the median of the
//! next runs; the daemon's own time for the request is in its log (`ms`).
//!
//! ```sh
//! cargo bench -p dirvault-engine --bench browse -- L100k 100 /tmp/browse-repo   # once
//! cargo bench -p dirvaultd --bench console -- /tmp/browse-repo [RUNS]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

use std::process::{Command, Stdio};
use std::time::Instant;

use dirvault_model::ObjectKind;
use dirvault_store::Repository;

const KEY: &str = "console-bench-admin-key";

#[tokio::main]
async fn main() {
    let args = dirvault_testkit::bench_args();
    let repo_dir = args
        .first()
        .expect("usage: console REPO_DIR [RUNS] (a repository of the browse benchmark)");
    let runs: usize = args.get(1).map_or(7, |r| r.parse().unwrap());
    let repo = Repository::open(repo_dir).unwrap();
    let tenant = repo
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .next()
        .expect("a tenant");
    let snapshots = repo.snapshots(&tenant).await.unwrap();
    let latest = snapshots.last().expect("a snapshot");
    let users = repo.manifest(latest, ObjectKind::Users).await.unwrap();
    let user = users[users.len() / 2].id.to_string();
    println!(
        "{} snapshots, {} users at the latest; object page of {user}",
        snapshots.len(),
        users.len()
    );

    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"[daemon]
default_schedule = "0 0 0 1 1 * 2099"

[[daemon.api_keys]]
name = "admin"
env = "CONSOLE_BENCH_KEY"

[tenants.bench]
tenant_id = "{tenant}"
client_id = "00000000-0000-0000-0000-000000000001"
schedule = "0 0 0 1 1 * 2099"
[tenants.bench.secret]
type = "env"
var = "CONSOLE_BENCH_SECRET"
"#
        ),
    )
    .unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_dirvaultd"))
        .args(["--config"])
        .arg(&config)
        .args(["--repo", repo_dir, "--listen", "127.0.0.1:0", "run"])
        .env("CONSOLE_BENCH_KEY", KEY)
        .env("CONSOLE_BENCH_SECRET", "unused")
        .env("DIRVAULT_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (base, _) = dirvault_testkit::daemon_started(&mut daemon).unwrap();

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = http
        .post(format!("{base}/console/login"))
        .form(&[("key", KEY)])
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let pages = [
        (
            "users, first page",
            "/console/tenants/bench/browse/latest/users".to_owned(),
        ),
        (
            "users, search",
            "/console/tenants/bench/browse/latest/users?search=vance".to_owned(),
        ),
        (
            "users, last modified first",
            "/console/tenants/bench/browse/latest/users?sort=modified".to_owned(),
        ),
        (
            "object page",
            format!("/console/tenants/bench/objects/latest/users/{user}"),
        ),
        ("snapshots", "/console/tenants/bench".to_owned()),
    ];
    println!("| page | first (ms) | median of {runs} (ms) | bytes |");
    println!("|---|---:|---:|---:|");
    for (name, path) in pages {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..=runs {
            let started = Instant::now();
            let response = http
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            bytes = response.bytes().await.unwrap().len();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let first = times.remove(0);
        times.sort_by(f64::total_cmp);
        println!(
            "| {name} | {first:.1} | {:.1} | {bytes} |",
            times[times.len() / 2]
        );
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}
