//! Generator and serving benchmark: builds a tenant (L100k by default), reports wall time,
//! counts and peak memory, then pages every user over HTTP with `$top=999`.
//!
//! `cargo bench -p dirvault-emulator --bench generate -- [SIZE]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

use std::time::Instant;

// The allocator of the `graph-emulator` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use dirvault_emulator::{Collection, LinkKind};
use dirvault_emulator::{Emulator, EmulatorConfig, TenantSpec, ThrottleConfig};

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[tokio::main]
async fn main() {
    let size = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "L100k".into());
    let emulator = Emulator::new(EmulatorConfig {
        throttle: ThrottleConfig { scale: 0.0 },
        ..EmulatorConfig::default()
    });
    let spec = TenantSpec::preset("bench", &size, 1).expect("size");
    let started = Instant::now();
    let tenant = emulator.create_tenant(&spec).unwrap();
    let generated = started.elapsed();
    let memberships: usize = emulator
        .with_tenant(&tenant.tenant_id, |t| {
            t.all_links(LinkKind::GroupMember)
                .map(|m| m.values().map(|s| s.len()).sum())
                .unwrap_or(0)
        })
        .unwrap();
    println!(
        "tenant {size}: generated in {:.2} s",
        generated.as_secs_f64()
    );
    for kind in Collection::ALL {
        if let Some(n) = tenant.counts.get(kind.name()) {
            println!("  {:<26} {n}", kind.name());
        }
    }
    println!("  {:<26} {memberships}", "group memberships");
    println!(
        "peak RSS after generation: {:.0} MiB",
        peak_rss_mib().unwrap_or(f64::NAN)
    );

    let server = emulator.start("127.0.0.1:0").await.unwrap();
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            server.url(),
            tenant.tenant_id
        ))
        .form(&[
            ("client_id", tenant.client_id.as_str()),
            ("client_secret", tenant.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let mut next = Some(format!(
        "{}/v1.0/users?$top=999&$select=id,displayName,userPrincipalName,accountEnabled,department",
        server.url()
    ));
    let (mut users, mut pages) = (0, 0);
    while let Some(url) = next {
        let page: serde_json::Value = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        users += page["value"].as_array().unwrap().len();
        pages += 1;
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    let listed = started.elapsed();
    println!(
        "listed {users} users in {pages} pages over HTTP in {:.2} s ({:.0} users/s)",
        listed.as_secs_f64(),
        users as f64 / listed.as_secs_f64()
    );
    println!("peak RSS: {:.0} MiB", peak_rss_mib().unwrap_or(f64::NAN));
}
