//! The facade's workflows against an emulated tenant: what the CLI and the daemon both call.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use dirvault_emulator::{FaultAction, FaultConfig};
use dirvault_engine::vault::{Against, DiffEnd, DiffFilter, RestoreRequest};
use dirvault_engine::{BackupOptions, Vault};
use dirvault_model::ObjectKind;
use dirvault_restore::RestoreOptions;
use dirvault_store::{Repository, RetentionPolicy};
use dirvault_testkit::EmulatedTenant;

fn vault() -> Vault {
    Vault::new(Repository::open("memory://").unwrap())
}

#[tokio::test]
async fn a_kind_the_live_read_cannot_finish_is_unavailable_never_all_deleted() {
    let tenant = EmulatedTenant::start("tiny", 7).await;
    let vault = vault();
    let client = tenant.client();
    vault
        .backup(&client, &BackupOptions::default(), &|_| {})
        .await
        .unwrap();
    // Every groups listing now fails, past the client's retries.
    tenant.faults(FaultConfig {
        next: vec![FaultAction::Status { status: 500 }; 40],
        next_path: Some("/groups".into()),
        ..FaultConfig::default()
    });
    let diff = vault
        .diff(
            &tenant.tenant_id(),
            "latest",
            Against::Live(&client),
            &DiffFilter::default(),
        )
        .await
        .unwrap();
    assert_eq!(diff.to, DiffEnd::Live);
    assert!(
        diff.unavailable.contains_key(&ObjectKind::Groups),
        "{:?}",
        diff.unavailable
    );
    assert!(!diff.changes.contains_key(&ObjectKind::Groups));
    // The other kinds compared, unchanged, and said so.
    assert!(diff.changes[&ObjectKind::Users].is_empty());
}

#[tokio::test]
async fn diff_lists_the_filtered_kind_even_unchanged_unless_only_changes() {
    let tenant = EmulatedTenant::start("tiny", 8).await;
    let vault = vault();
    let client = tenant.client();
    vault
        .backup(&client, &BackupOptions::default(), &|_| {})
        .await
        .unwrap();
    let id = tenant.tenant_id();
    let only_users = DiffFilter {
        kind: Some(ObjectKind::Users),
        ..DiffFilter::default()
    };
    let diff = vault
        .diff(&id, "latest", Against::Live(&client), &only_users)
        .await
        .unwrap();
    assert_eq!(
        diff.changes.keys().collect::<Vec<_>>(),
        [&ObjectKind::Users]
    );
    assert!(diff.changes[&ObjectKind::Users].is_empty());
    let diff = vault
        .diff(
            &id,
            "latest",
            Against::Snapshot("latest"),
            &DiffFilter {
                only_changes: true,
                ..only_users
            },
        )
        .await
        .unwrap();
    assert!(diff.changes.is_empty(), "{:?}", diff.changes);
}

#[tokio::test]
async fn maintenance_is_refused_while_a_backup_holds_the_lease_and_leaves_it_free() {
    let tenant = EmulatedTenant::start("tiny", 9).await;
    let vault = vault();
    let client = tenant.client();
    for _ in 0..3 {
        vault
            .backup(&client, &BackupOptions::default(), &|_| {})
            .await
            .unwrap();
    }
    let id = tenant.tenant_id();
    let keep_one = RetentionPolicy {
        keep_last: Some(1),
        ..RetentionPolicy::default()
    };
    // Someone else holds the tenant's lease: forget, prune and maintain touch nothing.
    let store = &vault.repository();
    let lease = store
        .acquire_lease(
            &id,
            "a-backup",
            chrono::Duration::minutes(5),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    for result in [
        vault.forget(&id, &keep_one, "maint").await.map(|_| ()),
        vault.prune(&id, "maint").await.map(|_| ()),
        vault.maintain(&id, &keep_one, "maint").await.map(|_| ()),
    ] {
        assert!(
            matches!(
                result,
                Err(dirvault_engine::Error::Store(
                    dirvault_store::Error::Locked { .. }
                ))
            ),
            "{result:?}"
        );
    }
    assert_eq!(vault.snapshots(&id).await.unwrap().len(), 3);
    store.release_lease(lease).await.unwrap();

    let report = vault.maintain(&id, &keep_one, "maint").await.unwrap();
    assert_eq!(report.forgotten.removed.len(), 2);
    assert!(report.pruned.is_some());
    assert!(vault.verify(&id).await.unwrap().is_clean());
    // Nothing left to forget: nothing pruned, and the lease is free again.
    let again = vault.maintain(&id, &keep_one, "maint").await.unwrap();
    assert!(again.forgotten.removed.is_empty() && again.pruned.is_none());
    assert!(store.lease(&id).await.unwrap().is_none());
}

#[tokio::test]
async fn plans_are_kept_by_id_and_hostile_ids_name_none() {
    let tenant = EmulatedTenant::start("tiny", 10).await;
    let vault = vault();
    let client = tenant.client();
    vault
        .backup(&client, &BackupOptions::default(), &|_| {})
        .await
        .unwrap();
    let id = tenant.tenant_id();
    let options = RestoreOptions {
        kind: Some(ObjectKind::Users),
        all: true,
        with_object: true,
        ..RestoreOptions::default()
    };
    let request = RestoreRequest {
        source: &id,
        snapshot: "latest",
        options: &options,
        target: &client,
    };
    let plan = vault.plan_restore(&request).await.unwrap();
    assert_eq!(
        vault.stored_plan(&id, &plan.id).await.unwrap().as_ref(),
        Some(&plan)
    );
    for hostile in ["", "../../lease", "restore/x/plan.json", &"a".repeat(65)] {
        assert_eq!(
            vault.stored_plan(&id, hostile).await.unwrap(),
            None,
            "{hostile:?}"
        );
    }
    // A domain mapping into the snapshot's own tenant is refused before anything is read.
    let mapped = RestoreOptions {
        domain: Some("fabrikam.example".into()),
        ..options.clone()
    };
    let err = vault
        .plan_restore(&RestoreRequest {
            options: &mapped,
            ..request
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            dirvault_engine::Error::Restore(dirvault_restore::Error::Options(_))
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("--"), "no CLI wording: {err}");
}

/// The alerts of the latest of 21 snapshots of 5 users, where users failed in the `failing`
/// before it and the latest holds 2 of them; and the requests they took.
async fn alerts_after_failures(
    failing: i64,
) -> (
    Vec<dirvault_engine::alerts::Alert>,
    dirvault_store::StoreRequests,
) {
    use chrono::{Duration, TimeZone, Utc};
    use dirvault_model::DirectoryObject;
    use dirvault_store::KindStatus;
    let repo = Repository::open("memory://").unwrap();
    let t: dirvault_model::TenantId = "alerting".parse().unwrap();
    let user = |i: usize| {
        DirectoryObject::from_graph(
            ObjectKind::Users,
            serde_json::json!({"id": format!("u{i}"), "displayName": format!("User {i}")}),
        )
        .unwrap()
    };
    let start = Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0).unwrap();
    let mut parent: Option<dirvault_store::Snapshot> = None;
    for n in 0..21 {
        let mut w = repo
            .begin(
                &t,
                start + Duration::hours(n),
                parent.as_ref().map(|p| p.id.clone()),
            )
            .await
            .unwrap();
        match &parent {
            Some(p) if n < 20 && n >= 20 - failing => w.carry_kind(
                ObjectKind::Users,
                p.kinds[&ObjectKind::Users].clone(),
                KindStatus::Failed {
                    reason: "throttled".into(),
                },
            ),
            _ => {
                let users: Vec<_> = (0..if n == 20 { 2 } else { 5 }).map(user).collect();
                w.add_objects(&users).await.unwrap();
            }
        }
        parent = Some(w.commit().await.unwrap().0);
    }
    let vault = Vault::new(repo.clone());
    let settings = dirvault_engine::alerts::AlertSettings {
        mass_deletion_threshold: 2,
        ..Default::default()
    };
    let before = repo.store_requests().unwrap();
    let alerts = vault.alerts(&t, None, &settings).await.unwrap();
    (alerts, repo.store_requests().unwrap().since(&before))
}

/// Alerts compare the latest snapshot with the latest earlier one that read each kind
/// completely, found from the listing and those records alone (the daemon raises alerts after
/// every backup): a mass deletion told once users are read again, after snapshots where they
/// failed, without reading every record of the tenant — and, far back, through every record.
#[tokio::test]
async fn alerts_read_the_records_they_compare_not_every_record() {
    let rules = |alerts: &[dirvault_engine::alerts::Alert]| -> Vec<String> {
        alerts.iter().map(|a| a.rule.to_string()).collect()
    };
    let (alerts, sent) = alerts_after_failures(3).await;
    assert_eq!(rules(&alerts), ["mass-deletion"], "{alerts:?}");
    // The latest record and the four before it (three failed), not 21; then what the
    // comparison itself reads.
    assert!(sent.get <= 5 + 8, "{sent:?}: every record read?");
    // Users failing in the 12 before: found through every record, the same alert.
    let (alerts, _) = alerts_after_failures(12).await;
    assert_eq!(rules(&alerts), ["mass-deletion"], "{alerts:?}");
}
