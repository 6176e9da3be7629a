//! Two backups of an emulated tenant with an admin's changes between them, then what a browse
//! shows: the objects that changed, one user's attribute diff, and a search.
//!
//! ```sh
//! cargo run -p dirvault-engine --example browse_and_diff
//! ```

use dirvault_engine::browse::{self, ListOptions};
use dirvault_engine::{BackupOptions, backup, changes};
use dirvault_model::ObjectKind;
use dirvault_store::Repository;
use dirvault_testkit::EmulatedTenant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A generated tenant served over HTTP, and a client for it: the setup
    // `backup_emulated_tenant` spells out.
    let tenant = EmulatedTenant::start("small", 1).await;
    let client = tenant.client();
    let repo = Repository::open("memory://")?;
    let options = BackupOptions::default();

    let first = backup(&client, &repo, &options, chrono::Utc::now(), &|_| {})
        .await?
        .snapshot;
    // An admin edits 5% of the users, hires, lets people go and moves memberships.
    let now = tenant.emulator.clock().now();
    tenant.mutate(|t| dirvault_emulator::control::churn_tenant(t, 5.0, 42, now));
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
