//! One conformance suite for every storage backend: memory, local files, and a real
//! S3-compatible server (SeaweedFS in CI: set `DIRVAULT_TEST_S3_URL=s3://bucket` and the
//! `AWS_*` variables; `.ci/run` does).
//!
//! Longer than our ~800-line guide on purpose: each integration-test file is its own binary,
//! linked against the whole stack, and on CI's two cores a binary costs more to link than
//! these tests take to run; the tests share one setup and are grouped by feature below.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use dirvault_model::{
    DirectoryObject, ObjectId, ObjectKind, Relationship, RelationshipKind, TenantId,
};
use dirvault_store::__internal::SnapshotStore;
use dirvault_store::{Error, KindStatus, ObjectSnapshotStore, Repository, RetentionPolicy, Secret};
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use serde_json::json;

struct Backend {
    name: &'static str,
    raw: Arc<dyn ObjectStore>,
    repo: Repository,
    /// The repository's password, when it is encrypted.
    secret: Option<Secret>,
    _dir: Option<tempfile::TempDir>,
}

/// The password of the encrypted runs.
const PASSWORD: &str = "correct horse battery staple";

fn wrap(
    name: &'static str,
    raw: Arc<dyn ObjectStore>,
    dir: Option<tempfile::TempDir>,
    encrypted: bool,
) -> Backend {
    let secret = encrypted.then(|| Secret::password(PASSWORD));
    let store = ObjectSnapshotStore::new(raw.clone(), name).with_secret(secret.clone());
    Backend {
        name,
        raw,
        repo: Repository::from(store),
        secret,
        _dir: dir,
    }
}

fn memory(encrypted: bool) -> Backend {
    wrap(
        "memory",
        Arc::new(object_store::memory::InMemory::new()),
        None,
        encrypted,
    )
}

fn local(encrypted: bool) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let fs = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    wrap("local", Arc::new(fs), Some(dir), encrypted)
}

/// The S3 backend, on a fresh prefix. `None` only outside CI when S3 is not configured.
fn s3(encrypted: bool) -> Option<Backend> {
    let Ok(url) = std::env::var("DIRVAULT_TEST_S3_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the S3 conformance suite: set DIRVAULT_TEST_S3_URL (see .ci/run)"
        );
        eprintln!("DIRVAULT_TEST_S3_URL is not set: S3 backend not tested in this run");
        return None;
    };
    let bucket = url.trim_start_matches("s3://").trim_end_matches('/');
    let s3 = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_endpoint(std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL"))
        .with_allow_http(true)
        .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch)
        .build()
        .unwrap();
    let prefix = format!("conformance-{}", uuid_like());
    Some(wrap(
        "s3",
        Arc::new(object_store::prefix::PrefixStore::new(s3, prefix.as_str())),
        None,
        encrypted,
    ))
}

fn uuid_like() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn tenant() -> TenantId {
    "5f1c2d3e-0000-4000-8000-000000000001".parse().unwrap()
}

fn user(id: &str, title: &str) -> DirectoryObject {
    DirectoryObject::from_graph(
        ObjectKind::Users,
        json!({"id": id, "displayName": format!("User {id}"), "userPrincipalName": format!("{id}@contoso.com"),
               "jobTitle": title, "extension_b7d8e648520f41d3b9c0fdeb91768a0a_costCenter": null,
               "employeeOrgData": {"division": "Sales"}}),
    )
    .unwrap()
}

fn group(id: &str) -> DirectoryObject {
    DirectoryObject::from_graph(ObjectKind::Groups, json!({"id": id, "displayName": format!("Group {id}"), "mail": format!("{id}@contoso.com")})).unwrap()
}

fn member(g: &str, u: &str) -> Relationship {
    Relationship::link(
        RelationshipKind::GroupMember,
        ObjectId::new(g).unwrap(),
        ObjectId::new(u).unwrap(),
    )
}

async fn round_trip_and_dedupe(b: &Backend) {
    let repo = &b.repo;
    let t = tenant();
    let time = Utc.with_ymd_and_hms(2026, 11, 1, 6, 0, 0).unwrap();
    let users: Vec<_> = (0..50)
        .map(|i| user(&format!("u{i:03}"), "Engineer"))
        .collect();
    let mut w = repo.begin(&t, time, None).await.unwrap();
    for u in &users {
        w.add_object(u).await.unwrap();
    }
    w.add_object(&group("g1")).await.unwrap();
    w.add_relationship(member("g1", "u001"));
    w.finish_kind(
        ObjectKind::Users,
        KindStatus::Complete,
        Some("https://graph.microsoft.com/v1.0/users/delta?$deltatoken=abc".into()),
    );
    w.finish_kind(
        ObjectKind::SignIns,
        KindStatus::Skipped {
            reason: "AuditLog.Read.All not granted".into(),
        },
        None,
    );
    let (first, stats) = w.commit().await.unwrap();
    assert_eq!(stats.objects, 51, "{}", b.name);
    assert_eq!(
        stats.packs, 3,
        "{}: three packs (objects; the manifest chunks that say where each object is; the \
         indexes that say where each chunk is), not one file per object",
        b.name
    );
    let back = repo.objects(&first, ObjectKind::Users).await.unwrap();
    assert_eq!(back, users, "{}: lossless round trip", b.name);
    assert_eq!(
        repo.relationships(&first).await.unwrap(),
        vec![member("g1", "u001")]
    );
    let manifest = repo.manifest(&first, ObjectKind::Users).await.unwrap();
    assert_eq!(manifest[1].key.as_deref(), Some("u001@contoso.com"));
    // Content ids: keyed and cut to 128 bits when encrypted, full SHA-256 when not (anyone
    // can compute those, so they keep their collision resistance).
    assert!(
        manifest
            .iter()
            .all(|e| e.blob.is_short() == b.secret.is_some()),
        "{}",
        b.name
    );
    assert_eq!(
        first.kinds[&ObjectKind::Users].delta_link.as_deref(),
        Some("https://graph.microsoft.com/v1.0/users/delta?$deltatoken=abc")
    );
    assert_eq!(
        first.kinds[&ObjectKind::SignIns].status,
        KindStatus::Skipped {
            reason: "AuditLog.Read.All not granted".into()
        }
    );

    // The same data again: no new bytes at all.
    let mut w = repo
        .begin(&t, time + Duration::hours(12), Some(first.id.clone()))
        .await
        .unwrap();
    for u in &users {
        w.add_object(u).await.unwrap();
    }
    w.add_object(&group("g1")).await.unwrap();
    w.add_relationship(member("g1", "u001"));
    let (_, stats) = w.commit().await.unwrap();
    assert_eq!(
        (stats.new_blobs, stats.packs, stats.bytes_written),
        (0, 0, 0),
        "{}",
        b.name
    );

    // One changed user: its new version, the users manifest chunk holding it and the
    // manifest's index, nothing else.
    let mut w = repo
        .begin(&t, time + Duration::hours(24), None)
        .await
        .unwrap();
    for (i, u) in users.iter().enumerate() {
        let u = if i == 7 {
            user("u007", "Director")
        } else {
            u.clone()
        };
        w.add_object(&u).await.unwrap();
    }
    w.add_object(&group("g1")).await.unwrap();
    let (third, stats) = w.commit().await.unwrap();
    assert_eq!(stats.new_blobs, 3, "{}", b.name);
    assert_eq!(
        repo.objects(&third, ObjectKind::Users).await.unwrap()[7],
        user("u007", "Director")
    );
    assert_eq!(repo.snapshots(&t).await.unwrap().len(), 3);
    assert!(repo.verify(&t).await.unwrap().is_clean());
    assert!(repo.tenants().await.unwrap().contains(&t));

    // Commits never overwrite.
    let err = repo.store().commit_snapshot(&third).await.unwrap_err();
    assert!(
        matches!(err, Error::SnapshotExists { .. }),
        "{}: {err}",
        b.name
    );
}

async fn crash_before_commit_leaves_no_snapshot(b: &Backend) {
    let repo = &b.repo;
    let t: TenantId = "crash-tenant".parse().unwrap();
    // An interrupted write: a pack and its index written, then no commit.
    repo.store()
        .write_pack(
            &t,
            vec![dirvault_store::__internal::PackPiece::Alone(
                dirvault_store::BlobId::of(&json!({"id": "x"})),
                bytes::Bytes::from_static(b"ignored"),
            )],
        )
        .await
        .unwrap();
    let mut w = repo.begin(&t, Utc::now(), None).await.unwrap();
    w.add_object(&user("u1", "x")).await.unwrap();
    drop(w);
    assert!(repo.snapshots(&t).await.unwrap().is_empty(), "{}", b.name);
    // A pack without an index (crash between the two writes) is reported, and prune removes it.
    b.raw
        .put(
            &Path::from(format!("tenants/{t}/packs/deadbeef")),
            b"half".to_vec().into(),
        )
        .await
        .unwrap();
    let report = repo.verify(&t).await.unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("deadbeef") && p.contains("no index")),
        "{}: {report:?}",
        b.name
    );
    let pruned = repo.prune(&t).await.unwrap();
    assert_eq!(pruned.packs_deleted, 2, "{}: {pruned:?}", b.name);
    assert!(repo.store().packs(&t).await.unwrap().is_empty());
    // The next backup succeeds.
    let mut w = repo.begin(&t, Utc::now(), None).await.unwrap();
    w.add_object(&user("u1", "x")).await.unwrap();
    w.commit().await.unwrap();
    assert!(repo.verify(&t).await.unwrap().is_clean());
}

/// Flips bits (`mask`) of the byte at `at(length)` of the object stored at `path`.
async fn flip_stored_byte(b: &Backend, path: &Path, at: impl Fn(usize) -> usize, mask: u8) {
    let mut bytes = b
        .raw
        .get(path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let at = at(bytes.len());
    bytes[at] ^= mask;
    b.raw.put(path, bytes.into()).await.unwrap();
}

async fn corruption_is_detected_and_named(b: &Backend) {
    let repo = &b.repo;
    let t: TenantId = "corrupt-tenant".parse().unwrap();
    let mut w = repo.begin(&t, Utc::now(), None).await.unwrap();
    w.add_object(&user("victim", "x")).await.unwrap();
    let (snapshot, _) = w.commit().await.unwrap();
    let packs = repo.store().packs(&t).await.unwrap();
    let path = Path::from(format!("tenants/{t}/packs/{}", packs[0].id));
    flip_stored_byte(b, &path, |len| len - 3, 0xff).await;
    let report = repo.verify(&t).await.unwrap();
    assert!(!report.is_clean(), "{}", b.name);
    assert!(
        report.problems.iter().any(|p| p.contains(&packs[0].id)),
        "{}: {report:?}",
        b.name
    );
    // The flipped byte is in the last blob of a pack: the object, its manifest chunk or index
    // (read by `objects`), its name chunk (read by a page by name) or its name chunk's filter
    // (read by a search).
    let err = match repo.objects(&snapshot, ObjectKind::Users).await {
        Err(e) => e,
        Ok(_) => match repo
            .manifest_page_by_name(&snapshot, ObjectKind::Users, 0, 10)
            .await
        {
            Err(e) => e,
            Ok(_) => repo
                .manifest_search_page_by_name(
                    &snapshot,
                    ObjectKind::Users,
                    &dirvault_store::Needle::new("victim"),
                    0,
                    10,
                )
                .await
                .unwrap_err(),
        },
    };
    assert!(
        matches!(err, Error::Corrupt { .. } | Error::MissingBlob { .. }),
        "{}: {err}",
        b.name
    );
    assert!(err.to_string().contains("verify"), "{err}");
}

async fn leases_keep_writers_apart(b: &Backend) {
    let store = b.repo.store();
    let t: TenantId = "lease-tenant".parse().unwrap();
    let now = Utc::now();
    let ttl = Duration::minutes(5);
    let a = store
        .acquire_lease(&t, "replica-a", ttl, now)
        .await
        .unwrap();
    let err = store
        .acquire_lease(&t, "replica-b", ttl, now)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{}: {err}", b.name);
    assert!(err.to_string().contains("replica-a"), "{err}");
    let a = store
        .renew_lease(&a, ttl, now + Duration::minutes(1))
        .await
        .unwrap();
    // After expiry another replica takes over; the old holder then loses it.
    let later = now + Duration::minutes(7);
    let b_lease = store
        .acquire_lease(&t, "replica-b", ttl, later)
        .await
        .unwrap();
    let lost = store.renew_lease(&a, ttl, later).await.unwrap_err();
    assert!(
        matches!(lost, Error::LeaseLost { .. }),
        "{}: {lost}",
        b.name
    );
    store.release_lease(a).await.unwrap();
    assert!(
        store
            .acquire_lease(&t, "replica-c", ttl, later)
            .await
            .is_err(),
        "{}: releasing a lost lease frees nothing",
        b.name
    );
    store.release_lease(b_lease).await.unwrap();
    store
        .acquire_lease(&t, "replica-c", ttl, later)
        .await
        .unwrap();
}

/// One snapshot a day from `start`: that day's user and one user every snapshot holds.
async fn commit_days(repo: &Repository, t: &TenantId, start: chrono::DateTime<Utc>, days: i64) {
    for day in 0..days {
        let mut w = repo
            .begin(t, start + Duration::days(day), None)
            .await
            .unwrap();
        w.add_object(&user(&format!("day{day}"), "x"))
            .await
            .unwrap();
        w.add_object(&user("always", "x")).await.unwrap();
        w.commit().await.unwrap();
    }
}

/// Forgets all but the `n` latest snapshots of `t`.
async fn keep_last(
    repo: &Repository,
    t: &TenantId,
    n: usize,
    now: chrono::DateTime<Utc>,
) -> dirvault_store::ForgetReport {
    let policy = RetentionPolicy {
        keep_last: Some(n),
        ..RetentionPolicy::default()
    };
    repo.forget(t, &policy, now).await.unwrap()
}

async fn forget_and_prune_free_space_and_keep_the_rest_readable(b: &Backend) {
    let repo = &b.repo;
    let t: TenantId = "retention-tenant".parse().unwrap();
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 6, 0, 0).unwrap();
    commit_days(repo, &t, start, 5).await;
    let report = keep_last(repo, &t, 2, start + Duration::days(5)).await;
    assert_eq!(
        (report.kept.len(), report.removed.len()),
        (2, 3),
        "{}",
        b.name
    );
    let pruned = repo.prune(&t).await.unwrap();
    assert!(pruned.blobs_removed >= 3, "{}: {pruned:?}", b.name);
    assert!(pruned.bytes_freed > 0);
    for s in repo.snapshots(&t).await.unwrap() {
        assert_eq!(
            repo.objects(&s, ObjectKind::Users).await.unwrap().len(),
            2,
            "{}",
            b.name
        );
    }
    assert!(repo.verify(&t).await.unwrap().is_clean(), "{}", b.name);
    let empty = repo
        .forget(&t, &RetentionPolicy::default(), Utc::now())
        .await
        .unwrap_err();
    assert!(empty.to_string().contains("--keep-last"), "{empty}");
}

/// The snapshot records of `t`, each read from its own file: what a read through packs must
/// equal.
async fn records_one_by_one(b: &Backend, t: &TenantId) -> Vec<dirvault_store::Snapshot> {
    let repo = reopened(b);
    let mut out = Vec::new();
    for id in repo.store().snapshot_ids(t).await.unwrap() {
        out.push(repo.snapshot(t, &id).await.unwrap());
    }
    out
}

/// The names of `t`'s snapshot record packs as stored.
async fn record_pack_paths(b: &Backend, t: &TenantId) -> Vec<Path> {
    let folder = Path::from(format!("tenants/{t}/snapshot-packs"));
    let metas: Vec<_> = b.raw.list(Some(&folder)).try_collect().await.unwrap();
    let mut paths: Vec<Path> = metas.into_iter().map(|m| m.location).collect();
    paths.sort();
    paths
}

/// The requests a fresh handle sends to read `t`'s snapshots (after its keys and one record,
/// read first so that only the listing's reads are counted), which must be `truth`.
async fn snapshots_read_fresh(
    b: &Backend,
    t: &TenantId,
    truth: &[dirvault_store::Snapshot],
) -> dirvault_store::StoreRequests {
    let fresh = reopened(b);
    fresh.snapshot(t, &truth[0].id).await.unwrap();
    let before = fresh.store_requests().unwrap();
    assert_eq!(fresh.snapshots(t).await.unwrap(), truth, "{}", b.name);
    fresh.store_requests().unwrap().since(&before)
}

async fn snapshot_records_are_read_from_packs(b: &Backend) {
    let repo = &b.repo;
    let t: TenantId = "packed-tenant".parse().unwrap();
    // A snapshot a day, each on the one before, from a Monday: the commits of the next two
    // Mondays pack the week before (7 records each); the last week's 6 are on their own.
    let monday = Utc.with_ymd_and_hms(2026, 10, 5, 6, 0, 0).unwrap();
    let mut parent = None;
    for day in 0..20 {
        let mut w = repo
            .begin(&t, monday + Duration::days(day), parent.clone())
            .await
            .unwrap();
        w.add_object(&user(&format!("day{day}"), "x"))
            .await
            .unwrap();
        parent = Some(w.commit().await.unwrap().0.id);
    }
    assert_eq!(record_pack_paths(b, &t).await.len(), 2, "{}", b.name);
    let truth = records_one_by_one(b, &t).await;
    assert_eq!(truth.len(), 20);

    // A fresh handle reads 2 packs and 6 records instead of 20 records.
    let sent = snapshots_read_fresh(b, &t, &truth).await;
    assert_eq!((sent.get, sent.list), (2 + 6, 2), "{}: {sent:?}", b.name);

    // A damaged pack costs reads, never records: its records come from their own files.
    let damaged = &record_pack_paths(b, &t).await[0];
    flip_stored_byte(b, damaged, |len| len / 2, 0x5a).await;
    snapshots_read_fresh(b, &t, &truth).await;
    let report = repo.verify(&t).await.unwrap();
    assert!(
        report.problems.len() == 1 && report.problems[0].contains(damaged.as_ref()),
        "{}: {report:?}",
        b.name
    );

    // Forgotten snapshots leave packs' records unread, and prune writes the packs anew
    // without them: the damaged pack (its records now forgotten or on their own) and the
    // second (4 of its 7 kept) go; the kept 4 are packed anew, and 5 of the last week's 6.
    let kept = keep_last(repo, &t, 10, monday + Duration::days(20)).await;
    assert_eq!(kept.removed.len(), 10);
    let truth = records_one_by_one(b, &t).await;
    assert_eq!(truth.len(), 10);
    snapshots_read_fresh(b, &t, &truth).await;
    let pruned = repo.prune(&t).await.unwrap();
    assert_eq!(
        (pruned.record_packs_deleted, pruned.record_packs_written),
        (2, 2),
        "{}: {pruned:?}",
        b.name
    );
    assert_eq!(record_pack_paths(b, &t).await.len(), 2, "{}", b.name);
    let sent = snapshots_read_fresh(b, &t, &truth).await;
    assert_eq!((sent.get, sent.list), (2 + 1, 2), "{}: {sent:?}", b.name);
    assert!(repo.verify(&t).await.unwrap().is_clean(), "{}", b.name);
}

async fn documents_are_replaced_listed_and_absent_ones_are_none(b: &Backend) {
    let store = b.repo.store();
    let t = tenant();
    assert!(
        store
            .get_document(&t, "restore/p1/plan.json")
            .await
            .unwrap()
            .is_none()
    );
    for (name, body) in [
        ("restore/p1/plan.json", "v1"),
        ("restore/p1/journal/00000002.json", "b"),
        ("restore/p1/journal/00000001.json", "a"),
        ("restore/p2/plan.json", "other"),
        ("restore/p1/plan.json", "v2"),
    ] {
        store
            .put_document(&t, name, bytes::Bytes::from(body))
            .await
            .unwrap();
    }
    let got = store
        .get_document(&t, "restore/p1/plan.json")
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some(&b"v2"[..]), "{}", b.name);
    assert_eq!(
        store
            .list_documents(&t, "restore/p1/journal")
            .await
            .unwrap(),
        [
            "restore/p1/journal/00000001.json",
            "restore/p1/journal/00000002.json"
        ],
        "{}",
        b.name
    );
    assert!(
        store
            .list_documents(&t, "restore/p3")
            .await
            .unwrap()
            .is_empty()
    );
}

/// A snapshot of `users` (and nothing else), taken `hours` after the first.
async fn commit_users(
    repo: &Repository,
    t: &TenantId,
    hours: i64,
    parent: Option<&dirvault_store::Snapshot>,
    users: &[DirectoryObject],
) -> dirvault_store::Snapshot {
    let time = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + Duration::hours(hours);
    let mut w = repo
        .begin(t, time, parent.map(|p| p.id.clone()))
        .await
        .unwrap();
    for u in users {
        w.add_object(u).await.unwrap();
    }
    w.commit().await.unwrap().0
}

/// Each snapshot records what changed since its parent; one object's versions come from those
/// changesets, and its entry from one manifest chunk.
async fn changesets_and_versions(b: &Backend) {
    let repo = &b.repo;
    let t: TenantId = "5f1c2d3e-0000-4000-8000-0000000000c5".parse().unwrap();
    let mut users: Vec<DirectoryObject> = (0..300)
        .map(|i| user(&format!("u{i:03}"), "Staff"))
        .collect();
    let base = commit_users(repo, &t, 0, None, &users).await;
    assert!(
        !base.kinds[&ObjectKind::Users].has_changes(),
        "no parent, no changeset"
    );
    // u007 modified, u010 deleted, u300 created.
    users[7] = user("u007", "Director");
    users.remove(10);
    users.push(user("u300", "New"));
    let second = commit_users(repo, &t, 1, Some(&base), &users).await;
    let changes = repo
        .changeset(&second, ObjectKind::Users)
        .await
        .unwrap()
        .unwrap();
    let ids = |l: &[dirvault_store::ManifestEntry]| {
        l.iter().map(|e| e.id.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&changes.created), ["u300"], "{}", b.name);
    assert_eq!(ids(&changes.modified), ["u007"], "{}", b.name);
    assert_eq!(ids(&changes.deleted), ["u010"], "{}", b.name);
    // The same data again: the kind's index is the parent's, no changeset.
    let third = commit_users(repo, &t, 2, Some(&second), &users).await;
    assert!(third.kinds[&ObjectKind::Users].same_manifest(&second.kinds[&ObjectKind::Users]));
    assert!(!third.kinds[&ObjectKind::Users].has_changes());
    for (id, expected) in [
        ("u007", [true, true, true]),
        ("u010", [true, false, false]),
        ("u300", [false, true, true]),
        ("u123", [true, true, true]),
    ] {
        let id = id.parse().unwrap();
        let versions = repo.versions(&t, ObjectKind::Users, &id).await.unwrap();
        let present: Vec<bool> = versions.iter().map(|(_, e)| e.is_some()).collect();
        assert_eq!(present, expected, "{id} on {}", b.name);
        for (snapshot, entry) in &versions {
            let direct = repo.entry(snapshot, ObjectKind::Users, &id).await.unwrap();
            assert_eq!(&direct, entry, "{id} in {} on {}", snapshot.id, b.name);
        }
    }
    // Relationship changes: one member removed, one added.
    let time = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
    let mut w = repo.begin(&t, time, Some(third.id.clone())).await.unwrap();
    for u in &users {
        w.add_object(u).await.unwrap();
    }
    w.add_relationship(member("g1", "u001"));
    w.add_relationship(member("g1", "u002"));
    let with_members = w.commit().await.unwrap().0;
    let mut w = repo
        .begin(&t, time + Duration::hours(1), Some(with_members.id.clone()))
        .await
        .unwrap();
    for u in &users {
        w.add_object(u).await.unwrap();
    }
    // Added out of order and twice: the snapshot holds them sorted, once.
    w.add_relationship(member("g1", "u003"));
    w.add_relationships([member("g1", "u001"), member("g1", "u003")]);
    let changed_members = w.commit().await.unwrap().0;
    let changes = repo
        .relationship_changes(&changed_members)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changes.added, [member("g1", "u003")], "{}", b.name);
    assert_eq!(changes.removed, [member("g1", "u002")], "{}", b.name);
    assert_eq!(
        repo.relationships(&changed_members).await.unwrap(),
        [member("g1", "u001"), member("g1", "u003")],
        "{}",
        b.name
    );
    let v = repo
        .versions(&t, ObjectKind::Users, &"u007".parse().unwrap())
        .await
        .unwrap();
    assert_ne!(v[0].1.as_ref().unwrap().blob, v[1].1.as_ref().unwrap().blob);
    assert!(repo.verify(&t).await.unwrap().is_clean(), "{}", b.name);
}

/// A snapshot is found by id, as of a time, or as the latest, from the listing of ids and the
/// records of one second (two snapshots may share a second; the later time wins).
async fn snapshots_are_found_by_id_and_time(b: &Backend) {
    let repo = &b.repo;
    let t: TenantId = "5f1c2d3e-0000-4000-8000-0000000000c6".parse().unwrap();
    assert!(repo.snapshot_at(&t, None).await.unwrap().is_none());
    let users = [user("u1", "Staff")];
    let base = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let mut taken = Vec::new();
    // Two in one second (the later one has the earlier id half the time), one an hour later.
    for at in [
        base + Duration::milliseconds(900),
        base + Duration::milliseconds(100),
        base + Duration::hours(1),
    ] {
        let mut w = repo.begin(&t, at, None).await.unwrap();
        w.add_object(&users[0]).await.unwrap();
        taken.push(w.commit().await.unwrap().0);
    }
    let latest = repo.snapshot_at(&t, None).await.unwrap().unwrap();
    assert_eq!(latest.id, taken[2].id, "{}", b.name);
    let tenant = &t;
    let at = |time| async move {
        let found = repo.snapshot_at(tenant, Some(time)).await.unwrap();
        found.map(|s| s.id)
    };
    assert_eq!(
        at(base + Duration::minutes(30)).await,
        Some(taken[0].id.clone())
    );
    assert_eq!(
        at(base + Duration::milliseconds(500)).await,
        Some(taken[1].id.clone())
    );
    assert_eq!(at(base).await, None, "before the first snapshot");
    assert_eq!(
        repo.snapshot(&t, &taken[1].id).await.unwrap().time,
        taken[1].time
    );
    let missing = dirvault_model::SnapshotId::new("20200101T000000Z-00000000").unwrap();
    assert!(matches!(
        repo.snapshot(&t, &missing).await,
        Err(dirvault_store::Error::NoSnapshot { .. })
    ));
}

/// A kind with enough new objects gets a compression dictionary, stored beside the packs;
/// objects read back the same from a fresh handle, and a missing dictionary is named.
async fn dictionaries_compress_objects_and_are_needed_to_read_them(b: &Backend) {
    let t: TenantId = "5f1c2d3e-0000-4000-8000-0000000000c7".parse().unwrap();
    let users: Vec<DirectoryObject> = (0..250)
        .map(|i| user(&format!("d{i:03}"), "Staff"))
        .collect();
    let groups: Vec<DirectoryObject> = (0..5).map(|i| group(&format!("g{i}"))).collect();
    let mut w = b.repo.begin(&t, Utc::now(), None).await.unwrap();
    for o in users.iter().chain(&groups) {
        w.add_object(o).await.unwrap();
    }
    let (snapshot, stats) = w.commit().await.unwrap();
    let dictionaries = b.repo.store().dictionaries(&t).await.unwrap();
    let kinds: Vec<&str> = dictionaries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["users"],
        "{}: five groups are too few to train on",
        b.name
    );
    // Each user compressed with the dictionary takes a fraction of what it takes alone.
    let alone: usize = users
        .iter()
        .map(|u| {
            zstd::encode_all(u.to_value().to_string().as_bytes(), 3)
                .unwrap()
                .len()
        })
        .sum();
    assert!(
        (stats.bytes_written as usize) < alone,
        "{}: {} bytes written, {alone} for the users compressed alone",
        b.name,
        stats.bytes_written
    );
    let fresh = reopened(b);
    let read = fresh.objects(&snapshot, ObjectKind::Users).await.unwrap();
    assert_eq!(read.len(), users.len());
    assert_eq!(read[0].to_value(), users[0].to_value());
    assert!(fresh.verify(&t).await.unwrap().is_clean(), "{}", b.name);
    // A second backup uses the stored dictionary and trains no other.
    let mut w = b
        .repo
        .begin(&t, Utc::now(), Some(snapshot.id.clone()))
        .await
        .unwrap();
    for u in &users {
        w.add_object(&user(&format!("{}x", u.id()), "Changed"))
            .await
            .unwrap();
    }
    w.commit().await.unwrap();
    assert_eq!(
        b.repo.store().dictionaries(&t).await.unwrap().len(),
        1,
        "{}",
        b.name
    );
    // Without the dictionary the blobs cannot be read, and the error says which.
    let listed: Vec<_> = b
        .raw
        .list(Some(&Path::from(format!("tenants/{t}/dictionaries"))))
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    b.raw.delete(&listed[0].location).await.unwrap();
    let fresh = reopened(b);
    let err = fresh
        .objects(&snapshot, ObjectKind::Users)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("dictionary"), "{}: {err}", b.name);
    let report = fresh.verify(&t).await.unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("dictionary")),
        "{}: {report:?}",
        b.name
    );
}

/// One kind of relationship is read from the chunks that hold it, whichever chunk it starts
/// or ends in.
async fn relationships_are_read_by_kind(b: &Backend) {
    let repo = &b.repo;
    let t = tenant();
    let time = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
    let mut w = repo.begin(&t, time, None).await.unwrap();
    let id = |s: String| ObjectId::new(s).unwrap();
    // Kinds of very different sizes, so that some share a chunk and some span many.
    let counts = [
        (RelationshipKind::GroupMember, 5000),
        (RelationshipKind::GroupOwner, 3),
        (RelationshipKind::DirectoryRoleMember, 0),
        (RelationshipKind::UserManager, 1200),
        (RelationshipKind::ApplicationOwner, 1),
        (RelationshipKind::AppRoleAssignment, 700),
    ];
    for (kind, n) in counts {
        for i in 0..n {
            let r = Relationship::link(kind, id(format!("s{}", i % 37)), id(format!("t{i:05}")));
            w.add_relationship(r);
        }
    }
    let (snapshot, _) = w.commit().await.unwrap();
    let all = repo.relationships(&snapshot).await.unwrap();
    assert_eq!(all.len(), 5000 + 3 + 1200 + 1 + 700);
    for kind in RelationshipKind::ALL {
        let expected: Vec<&Relationship> = all.iter().filter(|r| r.kind == kind).collect();
        let got = repo.relationships_of(&snapshot, kind).await.unwrap();
        assert_eq!(got.iter().collect::<Vec<_>>(), expected, "{kind:?}");
    }
}

/// What a manifest says of each object: its id and version (hint locations differ between
/// repositories).
fn versions_of(entries: &[dirvault_store::ManifestEntry]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|e| (e.id.to_string(), e.blob.to_string()))
        .collect()
}

/// A page of a search is `hits` (every hit, in order) sliced, and counts them all.
fn assert_page_of(
    page: &dirvault_store::ManifestPage,
    hits: &[dirvault_store::ManifestEntry],
    skip: usize,
    take: usize,
    what: &str,
) {
    let want: Vec<_> = hits.iter().skip(skip).take(take).cloned().collect();
    assert_eq!(page.total, hits.len(), "{what}: total");
    assert_eq!(
        versions_of(&page.entries),
        versions_of(&want),
        "{what}: page {skip}+{take}"
    );
}

/// Pages of a manifest and entries of some of its objects read as the whole manifest
/// (`expected`, the truth) sliced and filtered: at the start, across chunk boundaries, at and
/// beyond the end.
async fn assert_pages_match(
    repo: &Repository,
    snapshot: &dirvault_store::Snapshot,
    expected: &[dirvault_store::ManifestEntry],
    context: &str,
) {
    let n = expected.len();
    for take in [0, 1, 7, 100, 257, 1_000] {
        let mut skips = vec![0, 1, 255, 256, 257, n.saturating_sub(1), n, n + 5];
        skips.extend((0..n).step_by(take.max(397)));
        for skip in skips {
            let page = repo
                .manifest_page(snapshot, ObjectKind::Users, skip, take)
                .await
                .unwrap();
            let want: Vec<_> = expected.iter().skip(skip).take(take).cloned().collect();
            assert_eq!(page.total, n, "{context}: total");
            assert_eq!(
                versions_of(&page.entries),
                versions_of(&want),
                "{context}: page {skip}+{take}"
            );
        }
    }
    // In name order, from the base's name chunks (4,096 entries on average) and the chain.
    let mut by_name = expected.to_vec();
    let key =
        |e: &dirvault_store::ManifestEntry| (e.name.clone().unwrap_or_default(), e.id.clone());
    by_name.sort_by(|a, b| {
        let (a, b) = (key(a), key(b));
        dirvault_store::name_order((&a.0, a.1.as_str()), (&b.0, b.1.as_str()))
    });
    for take in [0, 1, 100, 1_000] {
        for skip in [0, 1, 4_095, 4_096, 4_097, n.saturating_sub(1), n, n + 5] {
            let page = repo
                .manifest_page_by_name(snapshot, ObjectKind::Users, skip, take)
                .await
                .unwrap()
                .expect("bases are written with name chunks");
            let want: Vec<_> = by_name.iter().skip(skip).take(take).cloned().collect();
            assert_eq!(page.total, n, "{context}: total by name");
            assert_eq!(
                versions_of(&page.entries),
                versions_of(&want),
                "{context}: page {skip}+{take} by name"
            );
        }
    }
    // A search in name order: every name chunk's texts, the page's own entries.
    let matches = |e: dirvault_store::EntryText<'_>| {
        e.id.ends_with('3') || e.name.is_some_and(|n| n.contains('7'))
    };
    let hits: Vec<_> = by_name
        .iter()
        .filter(|e| matches(e.text()))
        .cloned()
        .collect();
    for take in [0, 1, 100, 1_000] {
        for skip in [0, 1, 999, hits.len().saturating_sub(1), hits.len() + 5] {
            let page = repo
                .manifest_matching_page_by_name(snapshot, ObjectKind::Users, &matches, skip, take)
                .await
                .unwrap()
                .expect("bases are written with name chunks");
            assert_page_of(&page, &hits, skip, take, &format!("{context}: a search"));
        }
    }
    // Searches for a needle: only the name chunks whose filters may hold it are read, and
    // the pages are what every entry's texts give (one object, a few, many, none, a needle
    // too short for the filters, one in ids).
    let last_id = expected.last().map_or("u0000", |e| e.id.as_str());
    for needle in [
        "U012",
        "u1234@",
        "ER U0",
        "qqq",
        "3@CONTOSO",
        "7",
        "",
        last_id,
    ] {
        let needle = dirvault_store::Needle::new(needle);
        let hits: Vec<_> = by_name
            .iter()
            .filter(|e| needle.matches(e.text()))
            .cloned()
            .collect();
        for (skip, take) in [(0, 100), (1, 7), (hits.len().saturating_sub(1), 100)] {
            let page = repo
                .manifest_search_page_by_name(snapshot, ObjectKind::Users, &needle, skip, take)
                .await
                .unwrap()
                .expect("bases are written with name chunks");
            assert_page_of(&page, &hits, skip, take, &format!("{context}: {needle:?}"));
        }
    }
    // Every seventh object, and ids that are not there.
    let mut ids: Vec<ObjectId> = expected.iter().step_by(7).map(|e| e.id.clone()).collect();
    ids.extend(["u9999", "a", "zz"].map(|id| id.parse().unwrap()));
    let got = repo
        .entries_of(snapshot, ObjectKind::Users, &ids)
        .await
        .unwrap();
    let want: Vec<_> = expected.iter().step_by(7).cloned().collect();
    assert_eq!(
        versions_of(&got),
        versions_of(&want),
        "{context}: entries_of"
    );
}

/// A manifest of many chunks with a chain of creations, deletions and modifications spread
/// over it (and a base chunk emptied whole): every page and every object's entry read from
/// the chunks that hold them equals the whole manifest's.
#[tokio::test]
async fn pages_of_a_chained_manifest_read_as_the_whole_manifest() {
    let repo = Repository::open("memory://").unwrap();
    let t = tenant();
    let mut state = ChainState {
        users: (0..6_000).map(|i| (i * 2, 0)).collect(),
        members: std::collections::BTreeSet::new(),
    };
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: u32| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % u64::from(n)) as u32
    };
    let start = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let (mut parent, mut longest) = (None, 0);
    for step in 0..12_i64 {
        if step > 0 {
            for _ in 0..150 {
                match next(3) {
                    0 => {
                        state.users.insert(next(12_000), step as u32);
                    }
                    1 => {
                        let id = next(12_000);
                        state.users.remove(&id);
                    }
                    _ => {
                        if let Some(v) = state.users.get_mut(&next(12_000)) {
                            *v += 1;
                        }
                    }
                }
            }
            if step == 5 {
                // A whole stretch gone: some base chunks hold nothing any more.
                state.users.retain(|id, _| !(3_000..5_000).contains(id));
            }
        }
        let time = start + Duration::hours(step);
        let snapshot = commit_and_check_pages(&repo, (&t, time, parent), &state, step).await;
        longest = longest.max(snapshot.kinds[&ObjectKind::Users].chain_length());
        parent = Some(snapshot.id.clone());
    }
    assert!(
        longest >= 3,
        "the pages were read through chains ({longest})"
    );
    // Every user deleted (the kind left empty), then a few created again.
    for (step, users) in [(12_i64, 0_u32), (13, 40)] {
        state.users = (0..users).map(|i| (i * 3, 0)).collect();
        let time = start + Duration::hours(step);
        let snapshot = commit_and_check_pages(&repo, (&t, time, parent), &state, step).await;
        parent = Some(snapshot.id.clone());
    }
}

/// Commits `state` on `parent` and checks the snapshot's pages against its whole manifest.
async fn commit_and_check_pages(
    repo: &Repository,
    (t, time, parent): (
        &TenantId,
        chrono::DateTime<Utc>,
        Option<dirvault_model::SnapshotId>,
    ),
    state: &ChainState,
    step: i64,
) -> dirvault_store::Snapshot {
    let mut w = repo.begin(t, time, parent).await.unwrap();
    write_state(&mut w, state).await;
    let (snapshot, _) = w.commit().await.unwrap();
    let expected = repo.manifest(&snapshot, ObjectKind::Users).await.unwrap();
    assert_eq!(expected.len(), state.users.len(), "step {step}");
    assert_pages_match(repo, &snapshot, &expected, &format!("step {step}")).await;
    snapshot
}

/// The state of a tenant in the chain test: users by id (with a "version" in the job title)
/// and group memberships.
#[derive(Clone)]
struct ChainState {
    users: std::collections::BTreeMap<u32, u32>,
    members: std::collections::BTreeSet<(u32, u32)>,
}

/// Adds a state's users and memberships to a snapshot.
async fn write_state(w: &mut dirvault_store::SnapshotWriter, state: &ChainState) {
    let users: Vec<DirectoryObject> = state
        .users
        .iter()
        .map(|(id, v)| user(&format!("u{id:04}"), &format!("v{v}")))
        .collect();
    w.add_objects(&users).await.unwrap();
    for (g, u) in &state.members {
        w.add_relationship(member(&format!("g{g}"), &format!("u{u:04}")));
    }
}

/// Incremental snapshots keep their base's manifest and relationship chunks and add a chain of
/// changesets; every reader sees exactly what a snapshot written whole would hold: manifests,
/// single entries, versions, relationships (all and by kind), changes since the parent, diffs
/// between any two snapshots, across rebases, verify, and forget + prune of the bases.
async fn chains_of_changesets_read_like_whole_snapshots(b: &Backend) {
    let repo = &b.repo;
    let t: TenantId = "5f1c2d3e-0000-4000-8000-0000000000c8".parse().unwrap();
    // The same states written whole (no parent), as the truth to compare with.
    let truth_repo = Repository::open("memory://").unwrap();
    let mut state = ChainState {
        users: (0..400).map(|i| (i, 0)).collect(),
        members: (0..400).map(|i| (i % 7, i)).collect(),
    };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u32| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) % u64::from(n)) as u32
    };
    let start = Utc.with_ymd_and_hms(2026, 11, 3, 0, 0, 0).unwrap();
    let mut snapshots: Vec<(dirvault_store::Snapshot, dirvault_store::Snapshot)> = Vec::new();
    let (mut longest, mut rebased_users, mut rebased_links) = (0, 0, 0);
    let first_state = state.clone();
    for step in 0..84_i64 {
        if step > 0 {
            // One user and one link changed a step at first (chains grow to their longest),
            // then twenty random changes (the overlay cap rebases first); step 30 goes back to
            // the first state (the chain ends: the snapshot is its base again).
            if step < 70 {
                let id = next(400);
                if let Some(v) = state.users.get_mut(&id) {
                    *v += 1;
                }
                let link = (next(7), next(400));
                if !state.members.remove(&link) {
                    state.members.insert(link);
                }
            }
            for _ in 0..if step < 70 { 0 } else { 20 } {
                match next(5) {
                    0 => {
                        state.users.insert(400 + next(200), 0);
                    }
                    1 => {
                        let id = next(600);
                        state.users.remove(&id);
                    }
                    2 => {
                        let g = next(7);
                        let u = next(600);
                        if !state.members.remove(&(g, u)) {
                            state.members.insert((g, u));
                        }
                    }
                    _ => {
                        let id = next(600);
                        if let Some(v) = state.users.get_mut(&id) {
                            *v += 1;
                        }
                    }
                }
            }
            if step == 30 {
                state = first_state.clone();
            }
        }
        let time = start + Duration::hours(step);
        let parent = snapshots.last().map(|(s, _)| s.id.clone());
        let mut w = repo.begin(&t, time, parent).await.unwrap();
        write_state(&mut w, &state).await;
        let (snapshot, stats) = w.commit().await.unwrap();
        let mut w = truth_repo.begin(&t, time, None).await.unwrap();
        write_state(&mut w, &state).await;
        let (truth, _) = w.commit().await.unwrap();
        let record = &snapshot.kinds[&ObjectKind::Users];
        if let Some((previous, _)) = snapshots.last() {
            let before = &previous.kinds[&ObjectKind::Users];
            if record.shares_base(before)
                && snapshot.relationships.shares_base(&previous.relationships)
            {
                // A chained snapshot writes its new object versions and its changesets only:
                // no manifest or relationship chunks, no index.
                let changes = repo
                    .changeset(&snapshot, ObjectKind::Users)
                    .await
                    .unwrap()
                    .unwrap_or_default();
                let versions = changes.created.len() + changes.modified.len();
                assert!(
                    stats.new_blobs <= versions as u64 + 2,
                    "step {step}: {stats:?} on {}",
                    b.name
                );
            }
            if !record.shares_base(before) {
                rebased_users += 1;
            }
            if !snapshot.relationships.shares_base(&previous.relationships) {
                rebased_links += 1;
            }
        }
        longest = longest
            .max(record.chain_length())
            .max(snapshot.relationships.chain_length());
        assert!(record.chain_length() <= 32 && snapshot.relationships.chain_length() <= 32);
        // Whole manifests and relationships.
        let manifest = repo.manifest(&snapshot, ObjectKind::Users).await.unwrap();
        let expected = truth_repo
            .manifest(&truth, ObjectKind::Users)
            .await
            .unwrap();
        assert_eq!(
            versions_of(&manifest),
            versions_of(&expected),
            "step {step} on {}",
            b.name
        );
        assert_eq!(record.count, expected.len());
        // A filtered read: the chain's own entries (new users, changed versions, deletions)
        // and the base's alike, those the chain names taken from it.
        let keep =
            |e: dirvault_store::EntryText<'_>| e.id.ends_with(['1', '3', '7']) || e.id > "u0550";
        let matching = repo
            .manifest_matching(&snapshot, ObjectKind::Users, &keep)
            .await
            .unwrap();
        let expected_matching: Vec<_> = expected
            .iter()
            .filter(|e| keep(e.text()))
            .cloned()
            .collect();
        assert_eq!(
            versions_of(&matching),
            versions_of(&expected_matching),
            "step {step} on {}",
            b.name
        );
        assert_eq!(
            repo.relationships(&snapshot).await.unwrap(),
            truth_repo.relationships(&truth).await.unwrap(),
            "step {step} on {}",
            b.name
        );
        assert_eq!(
            repo.relationships_of(&snapshot, RelationshipKind::GroupMember)
                .await
                .unwrap(),
            truth_repo
                .relationships_of(&truth, RelationshipKind::GroupMember)
                .await
                .unwrap(),
        );
        assert_pages_match(
            repo,
            &snapshot,
            &expected,
            &format!("step {step} on {}", b.name),
        )
        .await;
        // Single entries, present or not.
        for id in [0, 7, 399, 401, 450, 599] {
            let id: ObjectId = format!("u{id:04}").parse().unwrap();
            let got = repo.entry(&snapshot, ObjectKind::Users, &id).await.unwrap();
            let want = truth_repo
                .entry(&truth, ObjectKind::Users, &id)
                .await
                .unwrap();
            assert_eq!(
                got.map(|e| e.blob),
                want.map(|e| e.blob),
                "{id} at step {step} on {}",
                b.name
            );
        }
        snapshots.push((snapshot, truth));
    }
    assert_eq!(longest, 32, "chains grow to their longest, then rebase");
    assert!(
        rebased_users >= 3 && rebased_links >= 2,
        "{rebased_users} {rebased_links}"
    );
    // Changes since the parent, and diffs between any two snapshots.
    for pair in snapshots.windows(2) {
        let [(_, parent_truth), (child, child_truth)] = pair else {
            unreachable!()
        };
        let changes = repo
            .changeset(child, ObjectKind::Users)
            .await
            .unwrap()
            .unwrap_or_default();
        let (before, after) = dirvault_store::differing_entries(
            (&truth_repo, parent_truth),
            (&truth_repo, child_truth),
            ObjectKind::Users,
        )
        .await
        .unwrap();
        let before: std::collections::BTreeMap<_, _> = versions_of(&before).into_iter().collect();
        let after: std::collections::BTreeMap<_, _> = versions_of(&after).into_iter().collect();
        let created: Vec<_> = after
            .keys()
            .filter(|id| !before.contains_key(*id))
            .cloned()
            .collect();
        let deleted: Vec<_> = before
            .keys()
            .filter(|id| !after.contains_key(*id))
            .cloned()
            .collect();
        let modified: Vec<_> = after
            .iter()
            .filter(|(id, v)| before.get(*id).is_some_and(|old| old != *v))
            .map(|(id, _)| id.clone())
            .collect();
        let ids = |l: &[dirvault_store::ManifestEntry]| {
            l.iter().map(|e| e.id.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(
            (
                ids(&changes.created),
                ids(&changes.modified),
                ids(&changes.deleted)
            ),
            (created, modified, deleted),
            "changes of {} on {}",
            child.id,
            b.name
        );
        let links = repo
            .relationship_changes(child)
            .await
            .unwrap()
            .unwrap_or_default();
        let old = truth_repo.relationships(parent_truth).await.unwrap();
        let new = truth_repo.relationships(child_truth).await.unwrap();
        let added: Vec<_> = new.iter().filter(|r| !old.contains(r)).cloned().collect();
        let removed: Vec<_> = old.iter().filter(|r| !new.contains(r)).cloned().collect();
        assert_eq!(
            (links.added, links.removed),
            (added, removed),
            "links of {}",
            child.id
        );
    }
    for (i, j) in [
        (0, 1),
        (0, 31),
        (3, 29),
        (5, 55),
        (40, 45),
        (55, 2),
        (12, 30),
        (0, 30),
    ] {
        let ((a, a_truth), (b_snap, b_truth)) = (&snapshots[i], &snapshots[j]);
        let diff = |(x, y): (
            Vec<dirvault_store::ManifestEntry>,
            Vec<dirvault_store::ManifestEntry>,
        )| {
            let x: std::collections::BTreeMap<_, _> = versions_of(&x).into_iter().collect();
            let y: std::collections::BTreeMap<_, _> = versions_of(&y).into_iter().collect();
            let ids: std::collections::BTreeSet<_> = x.keys().chain(y.keys()).cloned().collect();
            ids.into_iter()
                .filter(|id| x.get(id) != y.get(id))
                .map(|id| (id.clone(), x.get(&id).cloned(), y.get(&id).cloned()))
                .collect::<Vec<_>>()
        };
        let got = dirvault_store::differing_entries((repo, a), (repo, b_snap), ObjectKind::Users)
            .await
            .unwrap();
        let want = dirvault_store::differing_entries(
            (&truth_repo, a_truth),
            (&truth_repo, b_truth),
            ObjectKind::Users,
        )
        .await
        .unwrap();
        let want = diff(want);
        assert_eq!(diff(got), want, "diff {i} → {j} on {}", b.name);
        // Across repositories too (a backup against the live tenant read into memory).
        let across =
            dirvault_store::differing_entries((repo, a), (&truth_repo, b_truth), ObjectKind::Users)
                .await
                .unwrap();
        assert_eq!(diff(across), want, "diff {i} → live {j} on {}", b.name);
    }
    // Versions of one object come out as whole snapshots would give them (objects changed,
    // deleted, re-created or never touched, some of them a changeset filter's false positive).
    for id in [7, 401, 599].into_iter().chain((0..600).step_by(41)) {
        let id: ObjectId = format!("u{id:04}").parse().unwrap();
        let got = repo.versions(&t, ObjectKind::Users, &id).await.unwrap();
        let want: Vec<Option<String>> = snapshots
            .iter()
            .map(|(_, truth)| {
                futures::executor::block_on(truth_repo.entry(truth, ObjectKind::Users, &id))
                    .unwrap()
                    .map(|e| e.blob.to_string())
            })
            .collect();
        let got: Vec<Option<String>> = got
            .into_iter()
            .map(|(_, e)| e.map(|e| e.blob.to_string()))
            .collect();
        assert_eq!(got, want, "versions of {id} on {}", b.name);
    }
    assert!(repo.verify(&t).await.unwrap().is_clean(), "{}", b.name);
    // Forgetting the bases keeps what the last snapshot's chain needs.
    let last = snapshots.last().unwrap().0.clone();
    repo.forget(
        &t,
        &RetentionPolicy {
            keep_last: Some(1),
            ..RetentionPolicy::default()
        },
        start + Duration::days(30),
    )
    .await
    .unwrap();
    repo.prune(&t).await.unwrap();
    assert!(repo.verify(&t).await.unwrap().is_clean(), "{}", b.name);
    let (_, truth) = snapshots.last().unwrap();
    let expected = truth_repo.manifest(truth, ObjectKind::Users).await.unwrap();
    assert_eq!(
        versions_of(&repo.manifest(&last, ObjectKind::Users).await.unwrap()),
        versions_of(&expected)
    );
    // Pages by id and by name too: prune kept the base's name chunks.
    let context = format!("after prune on {}", b.name);
    assert_pages_match(repo, &last, &expected, &context).await;
    assert_pages_match(&reopened(b), &last, &expected, &context).await;
    assert_eq!(
        repo.relationships(&last).await.unwrap(),
        truth_repo.relationships(truth).await.unwrap()
    );
}

/// A fresh handle on the same storage (nothing cached, the format not checked yet), opened
/// with `secret`.
fn opened_with(b: &Backend, secret: Option<Secret>) -> ObjectSnapshotStore {
    ObjectSnapshotStore::new(b.raw.clone(), b.name).with_secret(secret)
}

/// A fresh handle on the same storage, with the backend's own secret.
fn reopened(b: &Backend) -> Repository {
    Repository::from(opened_with(b, b.secret.clone()))
}

fn is_unsupported(err: &Error) -> bool {
    matches!(err, Error::UnsupportedFormat { path, .. } if path == "repository.json")
}

/// The repository says its format in `repository.json`, written by the first write; a
/// repository of another format, or with tenants but no such file (written before formats
/// were marked), is refused on read and on write, and nothing is written into it.
async fn the_format_is_marked_and_checked(b: &Backend) {
    let marker = Path::from("repository.json");
    assert!(b.repo.tenants().await.unwrap().is_empty(), "{}", b.name);
    assert!(b.raw.head(&marker).await.is_err(), "a read marks nothing");
    let t: TenantId = "format-tenant".parse().unwrap();
    let mut w = b.repo.begin(&t, Utc::now(), None).await.unwrap();
    w.add_object(&user("u1", "x")).await.unwrap();
    w.commit().await.unwrap();
    let original = b.raw.get(&marker).await.unwrap().bytes().await.unwrap();
    let file: serde_json::Value = serde_json::from_slice(&original).unwrap();
    assert_eq!(file["version"], "6", "{}", b.name);
    assert_eq!(file["encryption"].is_object(), b.secret.is_some(), "{file}");
    assert_eq!(file["id"].as_str().unwrap().len(), 32);
    assert_eq!(reopened(b).tenants().await.unwrap(), vec![t.clone()]);

    let mut other = file.clone();
    other["version"] = "7".into();
    let other = serde_json::to_vec(&other).unwrap();
    b.raw.put(&marker, other.into()).await.unwrap();
    let repo = reopened(b);
    let err = repo.tenants().await.unwrap_err();
    assert!(is_unsupported(&err), "{}: {err}", b.name);
    let message = err.to_string();
    assert!(
        message.contains("format \"7\"") && message.contains("reads only format 6"),
        "{message}"
    );
    let err = repo.begin(&t, Utc::now(), None).await.unwrap_err();
    assert!(is_unsupported(&err), "{}: {err}", b.name);

    b.raw.delete(&marker).await.unwrap();
    let repo = reopened(b);
    let err = repo.snapshots(&t).await.unwrap_err();
    assert!(is_unsupported(&err), "{}: {err}", b.name);
    assert!(err.to_string().contains("(none given)"), "{err}");
    let err = repo.begin(&t, Utc::now(), None).await.unwrap_err();
    assert!(is_unsupported(&err), "{}: {err}", b.name);
    assert!(
        b.raw.head(&marker).await.is_err(),
        "nothing written into it"
    );

    b.raw.put(&marker, original.into()).await.unwrap();
    assert_eq!(reopened(b).snapshots(&t).await.unwrap().len(), 1);
}

/// What encryption adds, on an encrypted backend: nothing readable in storage, a wrong or
/// missing secret refused, every tampering named, a tenant erased by forgetting its key, key
/// slots managed, and secrets never shown.
async fn conformance_encrypted(b: &Backend) {
    use dirvault_store::ContentIds;
    let secret = b.secret.clone().unwrap();
    let t: TenantId = "enc-tenant".parse().unwrap();
    let other: TenantId = "enc-other".parse().unwrap();
    let secret_user = DirectoryObject::from_graph(
        ObjectKind::Users,
        json!({"id": "s1", "displayName": "Zyxwvut Secretname", "jobTitle": "Keeper of secrets"}),
    )
    .unwrap();
    // A tenant with no keys yet (never written, as in a copy's destination) has no snapshots,
    // rather than reading as erased.
    assert!(b.repo.snapshots(&t).await.unwrap().is_empty());
    let mut snapshots = Vec::new();
    for (tenant, hours) in [(&t, 0), (&t, 1), (&other, 0)] {
        let mut w = b
            .repo
            .begin(tenant, Utc::now() + Duration::hours(hours), None)
            .await
            .unwrap();
        w.add_object(&secret_user).await.unwrap();
        w.add_object(&user(&format!("u{hours}"), "x"))
            .await
            .unwrap();
        w.add_relationship(member("g1", "s1"));
        snapshots.push(w.commit().await.unwrap().0);
    }
    b.repo
        .store()
        .put_document(&t, "restore/plan.json", "Secretname's plan".into())
        .await
        .unwrap();
    // Nothing in storage shows the data, nor the plain content id of a known object.
    let plain_id = ContentIds::default()
        .id_of(&serde_json::to_vec(&json!({"displayName": "Zyxwvut Secretname", "id": "s1", "jobTitle": "Keeper of secrets"})).unwrap())
        .to_string();
    let all: Vec<_> = b.raw.list(None).try_collect().await.unwrap();
    for meta in &all {
        let bytes = b
            .raw
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let shown = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(
            !shown(b"Secretname") && !shown(b"Keeper"),
            "{}",
            meta.location
        );
        assert!(!shown(plain_id.as_bytes()), "{}", meta.location);
        assert!(!meta.location.as_ref().contains(&plain_id));
    }
    let read = reopened(b);
    let latest = read.snapshot_at(&t, None).await.unwrap().unwrap();
    // A tenant keyed now has short (128-bit) content ids.
    let entries = read.manifest(&latest, ObjectKind::Users).await.unwrap();
    assert!(entries.iter().all(|e| e.blob.is_short()), "{entries:?}");
    assert!(
        read.objects(&latest, ObjectKind::Users)
            .await
            .unwrap()
            .contains(&secret_user)
    );
    assert_eq!(
        read.relationships(&latest).await.unwrap(),
        vec![member("g1", "s1")]
    );
    assert_eq!(
        read.store()
            .get_document(&t, "restore/plan.json")
            .await
            .unwrap()
            .unwrap(),
        "Secretname's plan"
    );

    // A wrong password, none, or a password for an unencrypted repository: refused clearly.
    let wrong = opened_with(b, Some(Secret::password("hunter2-not-it")));
    let err = wrong.tenants().await.unwrap_err();
    assert!(matches!(err, Error::WrongPassword { slots: 1 }), "{err}");
    assert!(!format!("{err} {err:?} {wrong:?}").contains("hunter2"));
    let err = opened_with(b, None).tenants().await.unwrap_err();
    assert!(matches!(err, Error::PasswordRequired), "{err}");
    assert!(err.to_string().contains("DIRVAULT_PASSWORD"));
    let plain = memory(false);
    plain
        .repo
        .begin(&t, Utc::now(), None)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    let err = opened_with(&plain, Some(secret.clone()))
        .tenants()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotEncrypted), "{err}");
    assert!(!format!("{:?}", b.repo).contains(PASSWORD));

    // Key slots: add one, open with it, refuse removing the current or the last one, change.
    let store = opened_with(b, Some(secret.clone()));
    let second = Secret::password("second password");
    let added = store.add_key(&second).await.unwrap();
    let with_second = opened_with(b, Some(second.clone()));
    let slots = with_second.key_slots().await.unwrap();
    assert_eq!(slots.len(), 2);
    assert!(
        slots
            .iter()
            .any(|s| s.id == added && s.current && s.kind == "password")
    );
    assert!(
        with_second.remove_key(&added).await.is_err(),
        "the current slot"
    );
    let first = slots.iter().find(|s| !s.current).unwrap().id.clone();
    with_second.remove_key(&first).await.unwrap();
    assert!(
        with_second.remove_key(&added).await.is_err(),
        "the only slot"
    );
    assert!(matches!(
        opened_with(b, Some(secret.clone())).tenants().await,
        Err(Error::WrongPassword { .. })
    ));
    let raw_key = Secret::key_from_hex(&"5a".repeat(32)).unwrap();
    opened_with(b, Some(second.clone()))
        .change_key(&raw_key)
        .await
        .unwrap();
    assert!(
        opened_with(b, Some(second)).tenants().await.is_err(),
        "changed away"
    );
    opened_with(b, Some(raw_key))
        .add_key(&secret)
        .await
        .unwrap();
    assert!(
        reopened(b).tenants().await.is_ok(),
        "the original password again"
    );
    // Without any slot, nothing opens.
    let keys: Vec<_> = b
        .raw
        .list(Some(&Path::from("keys")))
        .try_collect()
        .await
        .unwrap();
    let mut saved = Vec::new();
    for meta in &keys {
        saved.push((
            meta.location.clone(),
            b.raw
                .get(&meta.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        ));
        b.raw.delete(&meta.location).await.unwrap();
    }
    let err = reopened(b).tenants().await.unwrap_err();
    assert!(matches!(err, Error::WrongPassword { slots: 0 }), "{err}");
    for (path, bytes) in saved {
        b.raw.put(&path, bytes.into()).await.unwrap();
    }

    // Tampering: a swapped pack, a snapshot record replayed from another tenant or from
    // another repository, a pack index moved to another pack's name: each is named, never
    // read as data.
    let packs = read.store().packs(&t).await.unwrap();
    assert!(packs.len() >= 2);
    let path_of = |p: &str| Path::from(format!("tenants/{t}/packs/{p}"));
    let (a, c) = (path_of(&packs[0].id), path_of(&packs[1].id));
    let bytes_a = b.raw.get(&a).await.unwrap().bytes().await.unwrap();
    let bytes_c = b.raw.get(&c).await.unwrap().bytes().await.unwrap();
    b.raw.put(&a, bytes_c.clone().into()).await.unwrap();
    b.raw.put(&c, bytes_a.clone().into()).await.unwrap();
    let report = reopened(b).verify(&t).await.unwrap();
    assert!(!report.is_clean(), "{report:?}");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("does not decrypt")),
        "{report:?}"
    );
    b.raw.put(&a, bytes_a.into()).await.unwrap();
    b.raw.put(&c, bytes_c.into()).await.unwrap();
    assert!(reopened(b).verify(&t).await.unwrap().is_clean());

    let theirs = Path::from(format!(
        "tenants/{other}/snapshots/{}.json",
        snapshots[2].id
    ));
    let replayed = Path::from(format!("tenants/{t}/snapshots/{}.json", snapshots[2].id));
    b.raw
        .put(
            &replayed,
            b.raw
                .get(&theirs)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .into(),
        )
        .await
        .unwrap();
    let err = reopened(b)
        .snapshot(&t, &snapshots[2].id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { .. }) && err.to_string().contains("does not decrypt"),
        "{err}"
    );
    b.raw.delete(&replayed).await.unwrap();

    let elsewhere = memory(true);
    let mut w = elsewhere.repo.begin(&t, Utc::now(), None).await.unwrap();
    w.add_object(&secret_user).await.unwrap();
    let (foreign, _) = w.commit().await.unwrap();
    let foreign_path = Path::from(format!("tenants/{t}/snapshots/{}.json", foreign.id));
    let foreign_bytes = elsewhere
        .raw
        .get(&foreign_path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    b.raw
        .put(&foreign_path, foreign_bytes.into())
        .await
        .unwrap();
    let err = reopened(b).snapshot(&t, &foreign.id).await.unwrap_err();
    assert!(err.to_string().contains("does not decrypt"), "{err}");
    b.raw.delete(&foreign_path).await.unwrap();

    // A forged lease (written without the keys) holds no one off.
    let lease = Path::from(format!("tenants/{other}/lease.json"));
    let forged = json!({"owner": "attacker", "expires": "2999-01-01T00:00:00Z"});
    b.raw
        .put(&lease, serde_json::to_vec(&forged).unwrap().into())
        .await
        .unwrap();
    let shown = reopened(b).store().lease(&other).await.unwrap().unwrap();
    assert!(shown.owner.contains("unreadable"), "{shown:?}");
    let w = reopened(b).begin(&other, Utc::now(), None).await.unwrap();
    drop(w);
    let held = b
        .repo
        .store()
        .acquire_lease(&other, "me", Duration::minutes(5), Utc::now())
        .await
        .unwrap();
    b.repo.store().release_lease(held).await.unwrap();

    // Erasing a tenant: its data unreadable at once (no pack rewritten), reads and writes say
    // "erased", verify reports it erased, the other tenant unharmed.
    let packs_before = b
        .raw
        .list(Some(&Path::from(format!("tenants/{t}/packs"))))
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len();
    store.forget_tenant_key(&t).await.unwrap();
    let read = reopened(b);
    let err = read.snapshots(&t).await.unwrap_err();
    assert!(matches!(err, Error::Erased { .. }), "{err}");
    assert!(err.to_string().contains("erased"));
    assert!(matches!(
        read.begin(&t, Utc::now(), None).await,
        Err(Error::Erased { .. })
    ));
    let report = read.verify(&t).await.unwrap();
    assert!(
        report.erased.is_some() && report.problems.is_empty(),
        "{report:?}"
    );
    let packs_after = b
        .raw
        .list(Some(&Path::from(format!("tenants/{t}/packs"))))
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len();
    assert_eq!(packs_before, packs_after);
    let theirs = read.snapshot_at(&other, None).await.unwrap().unwrap();
    assert!(
        read.objects(&theirs, ObjectKind::Users)
            .await
            .unwrap()
            .contains(&secret_user)
    );
}

async fn conformance(b: &Backend) {
    the_format_is_marked_and_checked(b).await;
    documents_are_replaced_listed_and_absent_ones_are_none(b).await;
    round_trip_and_dedupe(b).await;
    crash_before_commit_leaves_no_snapshot(b).await;
    corruption_is_detected_and_named(b).await;
    leases_keep_writers_apart(b).await;
    forget_and_prune_free_space_and_keep_the_rest_readable(b).await;
    snapshot_records_are_read_from_packs(b).await;
    changesets_and_versions(b).await;
    snapshots_are_found_by_id_and_time(b).await;
    dictionaries_compress_objects_and_are_needed_to_read_them(b).await;
    relationships_are_read_by_kind(b).await;
    // It compares content ids with a second, unencrypted repository (ids are keyed per tenant
    // when encrypted); encryption does not touch how chains are read.
    if b.secret.is_none() {
        chains_of_changesets_read_like_whole_snapshots(b).await;
    }
}

/// Reads an unsigned LEB128 varint at `at`, moving past it.
fn varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut n = 0;
    for shift in (0..64).step_by(7) {
        let b = bytes[*at];
        *at += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
    }
    n
}

/// A binary (version 2) pack index rewritten as version 1's JSON, as an earlier dirvault
/// wrote it, with its pack id.
fn as_version_1_index(binary: &[u8]) -> (String, Vec<u8>) {
    assert_eq!(&binary[..4], b"DVI2", "the fixture's indexes are version 2");
    let mut at = 4;
    let len = varint(binary, &mut at) as usize;
    let pack = String::from_utf8(binary[at..at + len].to_vec()).unwrap();
    at += len;
    let (mut blobs, mut offset) = (Vec::new(), 0);
    for _ in 0..varint(binary, &mut at) {
        let id = hex::encode(&binary[at..at + 32]);
        at += 32;
        let length = varint(binary, &mut at);
        blobs.push(json!([id, offset, length]));
        offset += length;
    }
    assert_eq!(at, binary.len());
    let json = json!({"version": "1", "pack": pack, "blobs": blobs});
    (pack, serde_json::to_vec(&json).unwrap())
}

/// The ids of a tenant's packs.
async fn pack_ids(repo: &Repository, t: &TenantId) -> Vec<String> {
    repo.store()
        .packs(t)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect()
}

/// A copy of a fixture folder (`tests/fixtures/…`) to write into.
fn fixture_copy(name: &str) -> tempfile::TempDir {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            match entry.file_type().unwrap().is_dir() {
                true => copy(&entry.path(), &target),
                false => {
                    std::fs::copy(entry.path(), target).unwrap();
                }
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    copy(&from.join(name), dir.path());
    dir
}

/// A user of the earlier-format fixtures, as the fixture's writer made it.
fn fixture_user(i: u32, title: &str) -> DirectoryObject {
    let id = format!("{i:08x}-0001-4000-8000-00000000{i:04x}");
    DirectoryObject::from_graph(
        ObjectKind::Users,
        json!({"id": id, "displayName": format!("User {i}"), "userPrincipalName": format!("user{i}@contoso.com"),
               "jobTitle": title, "mail": format!("user{i}@contoso.com"), "accountEnabled": !i.is_multiple_of(7),
               "businessPhones": [format!("+1 425 555 {i:04}")], "employeeOrgData": {"division": "Sales", "costCenter": format!("CC{}", i % 13)}}),
    )
    .unwrap()
}

/// Users by id with their job titles, from a snapshot.
async fn titles(
    repo: &Repository,
    s: &dirvault_store::Snapshot,
) -> std::collections::BTreeMap<String, String> {
    repo.objects(s, ObjectKind::Users)
        .await
        .unwrap()
        .into_iter()
        .map(|o| {
            (
                o.id().to_string(),
                o.raw()["jobTitle"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Repositories written by the dirvault of session 23 (`tests/fixtures/earlier-format`:
/// object versions compressed one by one, manifest chunks `DVM4`, pack indexes `DVI2` — and,
/// rewritten here, version 1 JSON indexes) are read, verified, extended with groups by a new
/// backup, forgotten and pruned, plain and encrypted. The fixtures were made at commit 4836616
/// (240 users, 3 groups and their members; the next day 5 users deleted, 3 created, 6 retitled).
#[tokio::test]
async fn repositories_of_earlier_formats_are_read_extended_and_pruned() {
    for (fixture, password, version_1_indexes) in [
        ("earlier-format/plain", None, false),
        ("earlier-format/plain", None, true),
        ("earlier-format/encrypted", Some("earlier format"), false),
    ] {
        let case = format!("{fixture} (version 1 indexes: {version_1_indexes})");
        let dir = fixture_copy(fixture);
        let t: TenantId = "earlier-format".parse().unwrap();
        let index_dir = dir.path().join("tenants/earlier-format/index");
        if version_1_indexes {
            for entry in std::fs::read_dir(&index_dir).unwrap() {
                let path = entry.unwrap().path();
                let (pack, json) = as_version_1_index(&std::fs::read(&path).unwrap());
                assert!(json.len() > std::fs::metadata(&path).unwrap().len() as usize);
                std::fs::write(index_dir.join(format!("{pack}.json")), json).unwrap();
                std::fs::remove_file(path).unwrap();
            }
        }
        let open = || {
            let fs = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
            Repository::from(
                ObjectSnapshotStore::new(Arc::new(fs), "fixture")
                    .with_secret(password.map(Secret::password)),
            )
        };
        let repo = open();
        let s = repo.snapshots(&t).await.unwrap();
        assert_eq!(s.len(), 2, "{case}");
        let (first, second) = (titles(&repo, &s[0]).await, titles(&repo, &s[1]).await);
        assert_eq!((first.len(), second.len()), (240, 238), "{case}");
        let user3 = "00000003-0001-4000-8000-000000000003";
        assert_eq!(
            (first[user3].as_str(), second[user3].as_str()),
            ("Engineer", "Director")
        );
        let members = repo.relationships(&s[1]).await.unwrap();
        assert!(members.len() > 150, "{case}: {}", members.len());
        assert!(repo.verify(&t).await.unwrap().is_clean(), "{case}");

        // A backup by this dirvault on top: its new versions go in groups, the rest stay
        // where the earlier one wrote them.
        let mut w = repo
            .begin(&t, s[1].time + Duration::days(1), Some(s[1].id.clone()))
            .await
            .unwrap();
        let users: Vec<_> = (0..243u32)
            .filter(|i| i % 50 != 7)
            .map(|i| {
                let title = match i % 40 {
                    3 => "Director",
                    5 => "Manager",
                    _ => "Engineer",
                };
                fixture_user(i, title)
            })
            .collect();
        w.add_objects(&users).await.unwrap();
        let (third, _) = w.commit().await.unwrap();
        let entries = repo.manifest(&third, ObjectKind::Users).await.unwrap();
        let index = repo.store().blob_index(&t).await.unwrap();
        let grouped = entries
            .iter()
            .filter(|e| index.get(&e.blob).is_some_and(|at| at.group.is_some()))
            .count();
        assert_eq!(
            grouped, 6,
            "{case}: the six retitled users are new versions, in a group"
        );
        if password.is_none() {
            let newest = std::fs::read_dir(&index_dir)
                .unwrap()
                .map(|e| std::fs::read(e.unwrap().path()).unwrap())
                .filter(|bytes| bytes.starts_with(b"DVI4\x20"))
                .count();
            assert!(
                newest >= 1,
                "{case}: the new backup writes version 4 indexes (with full ids)"
            );
        }
        // A tenant keyed before short ids, or an unencrypted one, keeps full ids: its stored
        // blobs keep deduplicating.
        assert!(entries.iter().all(|e| !e.blob.is_short()), "{case}");
        let now = titles(&repo, &third).await;
        assert_eq!(now.len(), 238, "{case}");
        assert_eq!(now["00000005-0001-4000-8000-000000000005"], "Manager");
        assert_eq!(now[user3], "Director");
        assert!(repo.verify(&t).await.unwrap().is_clean(), "{case}");

        // Forget the earlier snapshots and prune: what the newest needs is kept, readable.
        let policy = RetentionPolicy {
            keep_last: Some(1),
            ..RetentionPolicy::default()
        };
        repo.forget(&t, &policy, third.time + Duration::days(1))
            .await
            .unwrap();
        let pruned = repo.prune(&t).await.unwrap();
        assert!(pruned.blobs_removed >= 6, "{case}: {pruned:?}");
        let repo = open();
        let s = repo.snapshots(&t).await.unwrap();
        assert_eq!(s.len(), 1, "{case}");
        assert_eq!(titles(&repo, &s[0]).await, now, "{case}");
        assert!(repo.verify(&t).await.unwrap().is_clean(), "{case}");
        let left: Vec<String> = std::fs::read_dir(&index_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let packs = pack_ids(&repo, &t).await;
        for name in &left {
            let pack = name.trim_end_matches(".json").trim_end_matches(".idx");
            assert!(
                packs.iter().any(|p| p == pack),
                "{case}: {name} outlived its pack"
            );
        }
    }
}

#[tokio::test]
async fn memory_backend() {
    conformance(&memory(false)).await;
}

#[tokio::test]
async fn local_files_backend() {
    conformance(&local(false)).await;
}

#[tokio::test]
async fn s3_backend() {
    if let Some(b) = s3(false) {
        conformance(&b).await;
    }
}

#[tokio::test]
async fn memory_backend_encrypted() {
    let b = memory(true);
    conformance(&b).await;
    conformance_encrypted(&b).await;
}

#[tokio::test]
async fn local_files_backend_encrypted() {
    let b = local(true);
    conformance(&b).await;
    conformance_encrypted(&b).await;
}

#[tokio::test]
async fn s3_backend_encrypted() {
    if let Some(b) = s3(true) {
        conformance(&b).await;
        conformance_encrypted(&b).await;
    }
}

/// An unencrypted repository copied into an encrypted one (`dirvault repo encrypt`): every
/// snapshot under its id, time and parent, with its kinds' outcomes, delta links, objects and
/// relationships; documents too; unchanged objects carried, not written again; a second run
/// finds everything there; and the copy reads back clean with the password only.
async fn copy_into_an_encrypted_repository(from: &Backend, to: &Backend) {
    let t = tenant();
    let time = Utc.with_ymd_and_hms(2026, 11, 1, 6, 0, 0).unwrap();
    let users: Vec<_> = (0..40)
        .map(|i| user(&format!("u{i:03}"), "Engineer"))
        .collect();
    let mut parent = None;
    let mut ids = Vec::new();
    for day in 0..4_i64 {
        let mut w = from
            .repo
            .begin(&t, time + Duration::days(day), parent.clone())
            .await
            .unwrap();
        for (i, u) in users.iter().enumerate() {
            // One user changes each day.
            let u = if i as i64 == day {
                user(&format!("u{i:03}"), "Director")
            } else {
                u.clone()
            };
            w.add_object(&u).await.unwrap();
        }
        w.add_object(&group("g1")).await.unwrap();
        w.add_relationship(member("g1", &format!("u{day:03}")));
        w.finish_kind(
            ObjectKind::Users,
            KindStatus::Complete,
            Some(format!(
                "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=d{day}"
            )),
        );
        w.finish_kind(
            ObjectKind::SignIns,
            KindStatus::Failed {
                reason: "HTTP 503".into(),
            },
            None,
        );
        let (snapshot, _) = w.commit().await.unwrap();
        parent = Some(snapshot.id.clone());
        ids.push(snapshot.id);
    }
    from.repo
        .store()
        .put_document(
            &t,
            "restore/p1/plan.json",
            bytes::Bytes::from_static(b"{\"plan\":1}"),
        )
        .await
        .unwrap();

    let mut seen = Vec::new();
    let progress = std::sync::Mutex::new(&mut seen);
    let report = from
        .repo
        .copy_into(&to.repo, &|p| {
            progress.lock().unwrap().push((p.done, p.total))
        })
        .await
        .unwrap();
    assert_eq!(
        (report.tenants, report.snapshots, report.documents),
        (1, 4, 1),
        "{}",
        to.name
    );
    assert_eq!(
        report.objects_written,
        41 + 2 * 3,
        "{}: the first snapshot in full, then each day's two changed users only (one promoted, \
         yesterday's back)",
        to.name
    );
    assert_eq!(seen.last(), Some(&(4, 4)));
    let source = from.repo.snapshots(&t).await.unwrap();
    let copied = to.repo.snapshots(&t).await.unwrap();
    assert_eq!(
        copied.iter().map(|s| &s.id).collect::<Vec<_>>(),
        ids.iter().collect::<Vec<_>>()
    );
    for (a, b) in source.iter().zip(&copied) {
        assert_eq!((a.time, &a.parent), (b.time, &b.parent), "{}", to.name);
        for (kind, record) in &a.kinds {
            let other = &b.kinds[kind];
            assert_eq!(
                (&record.status, &record.delta_link, record.count),
                (&other.status, &other.delta_link, other.count),
                "{kind}"
            );
            assert_eq!(
                from.repo.objects(a, *kind).await.unwrap(),
                to.repo.objects(b, *kind).await.unwrap(),
                "{kind}"
            );
        }
        assert_eq!(
            from.repo.relationships(a).await.unwrap(),
            to.repo.relationships(b).await.unwrap()
        );
    }
    assert_eq!(
        to.repo
            .store()
            .get_document(&t, "restore/p1/plan.json")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"{\"plan\":1}"[..])
    );
    assert!(to.repo.verify(&t).await.unwrap().is_clean(), "{}", to.name);
    // Encrypted: nothing readable without the password.
    let locked = ObjectSnapshotStore::new(to.raw.clone(), to.name);
    assert!(matches!(
        Repository::from(locked).snapshots(&t).await,
        Err(Error::PasswordRequired)
    ));

    // A second run (say the first was interrupted) writes nothing again.
    let again = from.repo.copy_into(&to.repo, &|_| {}).await.unwrap();
    assert_eq!(
        (again.snapshots, again.already_there, again.objects_written),
        (0, 4, 0)
    );

    // A source snapshot whose packs are damaged: the copy stops, naming it, and the copy keeps
    // only whole snapshots (each is committed at its end), still verifying clean.
    let before = pack_ids(&from.repo, &t).await;
    let mut w = from
        .repo
        .begin(&t, time + Duration::days(5), parent.clone())
        .await
        .unwrap();
    w.add_object(&user("u999", "New")).await.unwrap();
    w.commit().await.unwrap();
    for pack in from.repo.store().packs(&t).await.unwrap() {
        if before.contains(&pack.id) {
            continue;
        }
        let path = Path::from(format!("tenants/{t}/packs/{}", pack.id));
        let mut bytes = from
            .raw
            .get(&path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        let last = bytes.len() - 3;
        bytes[last] ^= 0xff;
        from.raw.put(&path, bytes.into()).await.unwrap();
    }
    let err = from.repo.copy_into(&to.repo, &|_| {}).await.unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { .. } | Error::MissingBlob { .. }),
        "{}: {err}",
        to.name
    );
    assert_eq!(to.repo.snapshots(&t).await.unwrap().len(), 4, "{}", to.name);
    assert!(to.repo.verify(&t).await.unwrap().is_clean(), "{}", to.name);
}

#[tokio::test]
async fn copies_into_an_encrypted_repository() {
    copy_into_an_encrypted_repository(&memory(false), &memory(true)).await;
    copy_into_an_encrypted_repository(&local(false), &local(true)).await;
    if let Some(to) = s3(true) {
        copy_into_an_encrypted_repository(&local(false), &to).await;
    }
}

#[test]
fn repository_urls_are_checked() {
    let err = dirvault_store::__internal::open("ftp://example.com/x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("s3://bucket/prefix"), "{err}");
    assert!(dirvault_store::__internal::open("s3:///nobucket").is_err());
    assert!(dirvault_store::__internal::open("memory://").is_ok());
}

/// A location that misplaces a blob in its group (a forged or damaged hint or index) reads as
/// corrupt, never as a panic or as another blob's bytes; so does a blob alone read as a group
/// and a group member read as a blob alone. Plain and encrypted.
#[tokio::test]
async fn misplaced_group_members_read_as_corrupt() {
    use dirvault_store::__internal::InGroup;
    for b in [memory(false), memory(true)] {
        let t: TenantId = "groups".parse().unwrap();
        let mut w = b.repo.begin(&t, Utc::now(), None).await.unwrap();
        let users: Vec<_> = (0..300u32).map(|i| fixture_user(i, "Engineer")).collect();
        w.add_objects(&users).await.unwrap();
        w.commit().await.unwrap();
        let index = b.repo.store().blob_index(&t).await.unwrap();
        let (id, at) = index
            .iter()
            .find(|(_, at)| at.group.is_some_and(|g| g.start > 0))
            .unwrap();
        let store = b.repo.store();
        assert!(store.read_blob_bytes(&t, &id, &at).await.is_ok());
        let g = at.group.unwrap();
        let forged = [
            Some(InGroup {
                start: u32::MAX,
                length: 10,
            }),
            Some(InGroup {
                start: 0,
                length: u32::MAX,
            }),
            Some(InGroup {
                start: g.start - 1,
                length: g.length,
            }),
            None,
        ];
        for group in forged {
            let wrong = dirvault_store::__internal::BlobLocation {
                group,
                ..at.clone()
            };
            let err = store.read_blob_bytes(&t, &id, &wrong).await.unwrap_err();
            assert!(
                matches!(err, Error::Corrupt { .. }),
                "{} {group:?}: {err}",
                b.name
            );
        }
        let (alone_id, alone_at) = index.iter().find(|(_, at)| at.group.is_none()).unwrap();
        let as_group = dirvault_store::__internal::BlobLocation {
            group: Some(InGroup {
                start: 0,
                length: 5,
            }),
            ..alone_at
        };
        let err = store
            .read_blob_bytes(&t, &alone_id, &as_group)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{}: {err}", b.name);
    }
}
