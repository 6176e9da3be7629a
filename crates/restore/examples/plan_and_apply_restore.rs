//! What a backup is for: someone deletes a user; the last backup brings it back. Plan
//! (printed for review), apply, and check the user is back with the same id (from the recycle
//! bin) and in the groups it was in.
//!
//! ```sh
//! cargo run -p dirvault-restore --example plan_and_apply_restore
//! ```

use std::collections::BTreeSet;

use dirvault_emulator::LinkKind;
use dirvault_engine::{BackupOptions, backup};
use dirvault_graph::Method;
use dirvault_model::ObjectKind;
use dirvault_restore::{ApplyOptions, BackupState, CurrentState, PlanContext, RestoreOptions};
use dirvault_store::Repository;
use dirvault_testkit::EmulatedTenant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A generated tenant served over HTTP, and a client for it: the setup
    // `dirvault-engine`'s example `backup_emulated_tenant` spells out.
    let tenant = EmulatedTenant::start("small", 1).await;
    let client = tenant.client();
    let repo = Repository::open("memory://")?;
    let snapshot = backup(
        &client,
        &repo,
        &BackupOptions::default(),
        chrono::Utc::now(),
        &|_| {},
    )
    .await?
    .snapshot;

    // A user in at least one group; someone deletes it.
    let groups_of = |id: &str| {
        tenant.mutate(|t| {
            t.sources_of(LinkKind::GroupMember, id)
                .into_iter()
                .collect::<BTreeSet<_>>()
        })
    };
    let users = repo.objects(&snapshot, ObjectKind::Users).await?;
    let user = users
        .iter()
        .find(|u| !groups_of(u.id().as_ref()).is_empty());
    let user = user
        .ok_or("no user with a group in the generated tenant")?
        .id()
        .to_string();
    let groups_before = groups_of(&user);
    client
        .send(Method::DELETE, &format!("/users/{user}"), None, &[])
        .await?;
    println!("deleted {user}, a member of {} groups", groups_before.len());

    let options = RestoreOptions {
        ids: vec![user.clone()],
        with_object: true,
        with_memberships: true,
        ..RestoreOptions::default()
    };
    let state = BackupState::load(&repo, &snapshot, &options).await?;
    let current = CurrentState::read(&client, &state, &options, false).await?;
    let plan = dirvault_restore::plan(&options, &state, &current, PlanContext::new(false))?;
    println!("{plan}");
    let report = dirvault_restore::apply(&client, &repo, &plan, &ApplyOptions::default()).await?;
    if !report.is_complete() {
        return Err(format!("the restore did not complete: {report:?}").into());
    }

    let groups_after = groups_of(&user);
    println!(
        "{user} is back with the same id, a member of {} groups",
        groups_after.len()
    );
    if groups_after != groups_before {
        return Err("the memberships did not come back".into());
    }
    Ok(())
}
