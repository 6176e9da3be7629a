//! Restore benchmark: every user of an emulated tenant deleted for good, then re-created with
//! their group memberships, under Graph's documented write limit (3,000 writes per 150 s per
//! app and tenant, docs/graph.md §5), scaled by THROTTLE_SCALE.
//!
//! `cargo bench -p dirvault-restore --bench restore -- [SIZE] [THROTTLE_SCALE] [plan]`
//! (defaults: large 4; `plan` stops after planning). Prints wall time against the write-limit bound
//! `max(0, writes - burst) / rate`, and requests per membership.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

use std::time::Instant;

use dirvault_emulator::{Collection, ThrottleConfig};
use dirvault_engine::{BackupOptions, backup};
use dirvault_model::{ObjectKind, RelationshipKind};
use dirvault_restore::{
    Action, ApplyOptions, BackupState, CurrentState, PlanContext, RestoreOptions,
};
use dirvault_store::Repository;

#[tokio::main]
async fn main() {
    let args = dirvault_testkit::bench_args();
    let size = args.first().map_or("large", String::as_str);
    let scale: f64 = args.get(1).map_or(4.0, |s| s.parse().unwrap());

    let tenant = dirvault_testkit::EmulatedTenant::start(size, 1).await;
    let (emulator, info) = (&tenant.emulator, &tenant.info);
    // Graph's own retry timing (Retry-After), not the tests' fast retries.
    let client = tenant.client_with(
        tenant.credentials(),
        dirvault_graph::RetryOptions::default(),
    );
    let repo = Repository::open("memory://").unwrap();
    let everything = BackupOptions::default();
    let backed_up = backup(&client, &repo, &everything, chrono::Utc::now(), &|_| {});
    let snapshot = backed_up.await.unwrap().snapshot;

    // Every user gone for good (deleted and purged): their memberships go with them.
    emulator
        .with_tenant(&info.tenant_id, |t| {
            let now = chrono::Utc::now();
            let users: Vec<String> = t
                .objects(Collection::Users)
                .unwrap()
                .keys()
                .cloned()
                .collect();
            t.delete_many(Collection::Users, &users, now);
            for u in users {
                t.purge(&u);
            }
        })
        .unwrap();

    let options = RestoreOptions {
        kind: Some(ObjectKind::Users),
        all: true,
        with_object: true,
        with_memberships: true,
        ..RestoreOptions::default()
    };
    let started = Instant::now();
    let state = BackupState::load(&repo, &snapshot, &options).await.unwrap();
    let loaded = started.elapsed().as_secs_f64();
    eprintln!("tenant read");
    let before_read = client.stats();
    let current = CurrentState::read(&client, &state, &options, false)
        .await
        .unwrap();
    let read = started.elapsed().as_secs_f64() - loaded;
    let read_requests = client.stats().since(before_read).requests;
    // A mark for a profiler attached to the planning alone.
    eprintln!("planning");
    let plan = dirvault_restore::plan(&options, &state, &current, PlanContext::new(false)).unwrap();
    let planning = started.elapsed().as_secs_f64();
    let members: usize = state
        .relationships
        .iter()
        .filter(|r| r.kind == RelationshipKind::GroupMember)
        .count();
    let member_steps = plan
        .steps
        .iter()
        .filter(|s| s.action == Action::AddMembers)
        .count();

    // Printed now: applying 100k users takes a while.
    println!(
        "plan: {:.2} s (snapshot read {loaded:.2} s, tenant read {read:.2} s in {read_requests} HTTP requests, planning {:.2} s), {} steps ({} creates, {} member binds for {} memberships)",
        planning,
        planning - loaded - read,
        plan.steps.len(),
        plan.summary().created,
        member_steps,
        members
    );

    if args.get(2).is_some_and(|a| a == "plan") {
        return;
    }

    // Writes under Graph's documented limit, scaled.
    emulator.set_throttle(ThrottleConfig { scale });
    let writes_before = emulator
        .with_tenant(&info.tenant_id, |t| t.stats.writes)
        .unwrap();
    let before = client.stats();
    let started = Instant::now();
    let report = dirvault_restore::apply(
        &client,
        &repo,
        &plan,
        &ApplyOptions {
            default_password: Some("Bench!Passw0rd".to_owned().into()),
            batches_in_flight: 4,
        },
    )
    .await
    .unwrap();
    let wall = started.elapsed().as_secs_f64();
    let graph = client.stats().since(before);
    // The emulator counts throttled attempts as writes too; the bound is on admitted ones.
    let attempts = emulator
        .with_tenant(&info.tenant_id, |t| t.stats.writes)
        .unwrap()
        - writes_before;
    let writes = attempts - graph.throttled;
    let (burst, rate) = (3_000.0 * scale, 3_000.0 * scale / 150.0);
    let bound = ((writes as f64 - burst).max(0.0)) / rate;

    println!("tenant {size}, write limit x{scale}: burst {burst} writes, {rate} writes/s");
    println!(
        "apply: {wall:.1} s for {writes} writes ({attempts} attempts); bound {bound:.1} s; ratio {:.2}",
        if bound > 0.0 { wall / bound } else { f64::NAN }
    );
    println!(
        "HTTP requests {} ({} retries, {} 429s); member binds per membership 1/{:.1}",
        graph.requests,
        graph.retries,
        graph.throttled,
        members as f64 / member_steps.max(1) as f64
    );
    println!("report: {:?}", report.summary);
    // What failed, by action and Graph's answer (a failure is a finding, not noise).
    let mut failures: std::collections::BTreeMap<String, usize> = Default::default();
    let actions: std::collections::HashMap<u32, Action> =
        plan.steps.iter().map(|s| (s.id, s.action)).collect();
    for s in &report.steps {
        if let dirvault_restore::Outcome::Failed {
            http_status,
            code,
            message,
            ..
        } = &s.outcome
        {
            let key = format!("{:?} {http_status} {code}: {message}", actions[&s.step]);
            *failures.entry(key).or_default() += 1;
        }
    }
    for (what, n) in failures.iter().take(10) {
        println!("failed: {n} × {what}");
    }
}
