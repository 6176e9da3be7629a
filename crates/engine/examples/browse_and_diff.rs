//! Two backups of an emulated tenant with an admin's changes between them, then what a browse
//! shows: the objects that changed, one user's attribute diff, and a search.
//!
//! ```sh
//! cargo run -p dirvault-engine --example browse_and_diff
//! ```

use dirvault_emulator::{Emulator, EmulatorConfig, TenantSpec, ThrottleConfig};
use dirvault_engine::browse::{self, ListOptions};
use dirvault_engine::{BackupOptions, backup, changes};
use dirvault_graph::{Credentials, GraphClient};
use dirvault_model::ObjectKind;
use dirvault_store::Repository;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Graph's documented throttling off, to keep the example quick.
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
    let repo = Repository::open("memory://")?;
    let options = BackupOptions::default();

    let first = backup(&client, &repo, &options, chrono::Utc::now(), &|_| {})
        .await?
        .snapshot;
    // An admin edits 5% of the users, hires, lets people go and moves memberships.
    emulator.with_tenant(&tenant.tenant_id, |t| {
        dirvault_emulator::control::churn_tenant(t, 5.0, 42, emulator.clock().now())
    })?;
    let second = backup(&client, &repo, &options, chrono::Utc::now(), &|_| {})
        .await?
        .snapshot;

    for (kind, c) in changes(&repo, &first, &second).await? {
        let (created, modified, deleted) = (c.created.len(), c.modified.len(), c.deleted.len());
        println!("{kind:<28} {created} created, {modified} modified, {deleted} deleted");
    }
    let users = changes(&repo, &first, &second)
        .await?
        .remove(&ObjectKind::Users)
        .unwrap_or_default();
    if let Some(user) = users.modified.first() {
        let view = browse::show(&repo, &second, ObjectKind::Users, &user.id).await?;
        println!("\n{} ({}):", user.name.as_deref().unwrap_or(""), user.id);
        for change in &view.changes {
            println!("  {}: {:?} -> {:?}", change.path, change.old, change.new);
        }
    }
    let search = ListOptions {
        search: Some("adele".into()),
        ..ListOptions::default()
    };
    let found = browse::list(&repo, &second, ObjectKind::Users, &search).await?;
    println!("\n{} users match \"adele\"", found.len());
    Ok(())
}
