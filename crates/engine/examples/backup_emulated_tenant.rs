//! Back up an emulated tenant, then print what the snapshot holds.
//!
//! ```sh
//! cargo run -p dirvault-engine --example backup_emulated_tenant [REPO]
//! ```
//! REPO is a directory, `s3://bucket/prefix` or (the default) `memory://`. Each run generates
//! the same tenant on a new port: give each run a new repository.
//! Against a real tenant, only the client changes: `GraphClient::builder(tenant_id)` with your
//! app's credentials and no `with_endpoints`.

use dirvault_emulator::{Emulator, EmulatorConfig, TenantSpec, ThrottleConfig};
use dirvault_engine::{BackupOptions, BackupOutcome, backup};
use dirvault_graph::{Credentials, GraphClient};
use dirvault_store::Repository;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A generated tenant of 100 users, served over HTTP on a free loopback port.
    // Graph's documented throttling off: under it, the per-user authentication-method reads
    // of a first backup outrun the client's retries and that kind is reported failed (the
    // backup partial, exit status 3), which is right for a backup but slow for an example.
    let emulator = Emulator::new(EmulatorConfig {
        throttle: ThrottleConfig { scale: 0.0 },
        ..EmulatorConfig::default()
    });
    let tenant = emulator.create_tenant(&TenantSpec::preset("contoso", "small", 1)?)?;
    let server = emulator.start("127.0.0.1:0").await?;
    let client = GraphClient::builder(tenant.tenant_id.parse()?)
        .with_endpoints(&server.url(), &server.url())
        .with_credentials(Credentials::secret(
            tenant.client_id.parse()?,
            &tenant.client_secret,
        ))
        .build()?;

    let repo = Repository::open(&std::env::args().nth(1).unwrap_or("memory://".into()))?;
    let report = backup(
        &client,
        &repo,
        &BackupOptions::default(),
        chrono::Utc::now(),
        &|_| {},
    )
    .await?;

    println!(
        "snapshot {} ({})",
        report.snapshot.id,
        report.outcome.as_str()
    );
    for kind in &report.kinds {
        println!(
            "  {:<28} {:>6} objects  {:?}",
            kind.kind.name(),
            kind.count,
            kind.status
        );
    }
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
    println!("{} Graph requests", report.graph.requests);
    // A failed or partial backup is never success: say so with the exit status.
    if report.outcome != BackupOutcome::Complete {
        std::process::exit(i32::from(report.outcome.exit_code()));
    }
    Ok(())
}
