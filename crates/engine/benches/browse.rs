//! Browse benchmark: a tenant with many snapshots at 1% churn each, written straight through
//! the store API (the emulator's generated objects; users change), then, each from a fresh
//! repository handle (nothing cached): list/search users at a snapshot, one object's history
//! over every snapshot, the diff of two snapshots.
//!
//! `cargo bench -p dirvault-engine --bench browse -- [SIZE] [SNAPSHOTS] [REPO_DIR]`
//! (defaults: L100k 730, a temporary directory). An existing REPO_DIR with fewer than SNAPSHOTS
//! snapshots is extended from its latest one (which may be a real backup's, e.g. the backup
//! bench's L1M repository); with as many or more, nothing is generated. `BENCH_PASSWORD`: the
//! repository's password when it is encrypted.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

// The allocator the `dirvault` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use dirvault_emulator::{Emulator, EmulatorConfig, TenantSpec};
use dirvault_engine::browse::{self, ListOptions};
use dirvault_model::{DirectoryObject, ObjectKind, TenantId};
use dirvault_store::Repository;
use futures::{StreamExt, TryStreamExt};
use rand::{Rng, SeedableRng};

/// The base snapshot: the emulator's generated tenant, every kind, written through the store.
async fn generate(repo: &Repository, size: &str) -> TenantId {
    let emulator = Emulator::new(EmulatorConfig::default());
    let info = emulator
        .create_tenant(&TenantSpec::preset("bench", size, 1).unwrap())
        .unwrap();
    let tenant: TenantId = info.tenant_id.parse().unwrap();
    let objects: BTreeMap<ObjectKind, Vec<DirectoryObject>> = emulator
        .with_tenant(&info.tenant_id, |t| {
            ObjectKind::ALL
                .iter()
                .filter_map(|k| {
                    let list = t.objects(k.name().parse().ok()?)?;
                    Some((
                        *k,
                        list.values()
                            .map(|o| {
                                DirectoryObject::from_graph(
                                    *k,
                                    serde_json::Value::Object(o.clone()),
                                )
                                .unwrap()
                            })
                            .collect(),
                    ))
                })
                .collect()
        })
        .unwrap();
    drop(emulator);
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let mut w = repo.begin(&tenant, start, None).await.unwrap();
    for list in objects.values() {
        for o in list {
            w.add_object(o).await.unwrap();
        }
    }
    w.commit().await.unwrap();
    tenant
}

/// Adds snapshots after the tenant's latest until it has `count`, 12 hours apart: in each, 1%
/// of the users (picked at random, read back from the store) get a new job title, and
/// everything else is carried over. Unchanged kinds are carried whole (as a backup carries a
/// kind whose delta is empty: the same index blob, no re-chunking); relationships are left
/// out (no measured operation reads them). The base may be a real backup's snapshot (e.g.
/// the backup bench's L1M repository, `BENCH_DIR`).
async fn extend(repo: &Repository, tenant: &TenantId, count: usize) {
    let mut snapshots = repo.snapshots(tenant).await.unwrap();
    let existing = snapshots.len();
    let mut parent = snapshots.pop().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7 + existing as u64);
    let started = Instant::now();
    for n in existing..count {
        let mut w = repo
            .begin(
                tenant,
                parent.time + Duration::hours(12),
                Some(parent.id.clone()),
            )
            .await
            .unwrap();
        for (kind, record) in &parent.kinds {
            if *kind != ObjectKind::Users {
                w.carry_kind(*kind, record.clone(), record.status.clone());
            }
        }
        let entries = repo.manifest(&parent, ObjectKind::Users).await.unwrap();
        let changed: BTreeSet<usize> = (0..entries.len() / 100)
            .map(|_| rng.random_range(0..entries.len()))
            .collect();
        let mut changed_entries = Vec::with_capacity(changed.len());
        let mut kept = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            if changed.contains(&i) {
                changed_entries.push(entry);
            } else {
                kept.push(entry);
            }
        }
        // The changed users' versions read 16 at once (one by one, they were most of the
        // ~9 s a snapshot took at L1M).
        let changed_users: Vec<DirectoryObject> = futures::stream::iter(&changed_entries)
            .map(|entry| repo.version(tenant, ObjectKind::Users, entry))
            .buffered(16)
            .map_ok(|object| {
                let mut raw = object.raw().clone();
                raw.insert("jobTitle".into(), serde_json::json!(format!("Title {n}")));
                DirectoryObject::from_graph(ObjectKind::Users, serde_json::Value::Object(raw))
                    .unwrap()
            })
            .try_collect()
            .await
            .unwrap();
        w.add_objects(&changed_users).await.unwrap();
        w.carry_entries(ObjectKind::Users, kept.into_iter());
        parent = w.commit().await.unwrap().0;
        if n < existing + 5 || n % 50 == 0 {
            eprintln!(
                "snapshot {n}/{count} ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Each measured operation runs this many times, each on a fresh repository handle.
const RUNS: usize = 7;

/// Runs an operation `BROWSE_RUNS` (default [`RUNS`]) times and prints its median and
/// fastest wall time; only operations whose label contains `BROWSE_ONLY` (when set) run.
macro_rules! timed {
    ($label:expr, $body:expr) => {{
        let label = $label;
        let only = std::env::var("BROWSE_ONLY").unwrap_or_default();
        let runs: usize = std::env::var("BROWSE_RUNS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(RUNS);
        if label.contains(only.as_str()) {
            let mut times = Vec::new();
            let mut detail = String::new();
            for _ in 0..runs {
                let t = Instant::now();
                detail = $body.await;
                times.push(ms(t));
            }
            times.sort_by(f64::total_cmp);
            println!(
                "{label}: {detail}: median {:.1} ms, fastest {:.1} ms ({runs} runs, cold handle each)",
                times[runs / 2],
                times[0]
            );
        }
    }};
}

#[tokio::main]
async fn main() {
    let args = dirvault_testkit::bench_args();
    let size = args.first().map_or("L100k", String::as_str).to_owned();
    let count: usize = args.get(1).map_or(730, |s| s.parse().unwrap());
    let temp = tempfile::tempdir().unwrap();
    let dir = args
        .get(2)
        .map_or_else(|| temp.path().to_owned(), std::path::PathBuf::from);
    let url = dir.to_str().unwrap().to_owned();
    // BENCH_PASSWORD: the repository is encrypted with it (the backup bench's are, with
    // "bench password", unless BENCH_PLAIN); otherwise plain.
    let open_options = dirvault_store::OpenOptions {
        secret: std::env::var("BENCH_PASSWORD")
            .ok()
            .map(dirvault_store::Secret::password),
        require_encryption: false,
    };
    let open = || Repository::open_with(&url, &open_options).unwrap();
    let repo = open();
    let t = Instant::now();
    let tenant = match repo.tenants().await.unwrap().first() {
        Some(t) => t.clone(),
        None => generate(&repo, &size).await,
    };
    let before = repo.snapshots(&tenant).await.unwrap().len();
    if before < count {
        extend(&repo, &tenant, count).await;
        println!(
            "{} snapshots added to {before} in {:.0} s",
            count - before,
            t.elapsed().as_secs_f64()
        );
    }

    // A backup's commit packs the snapshot records of the week before (prune too); a
    // repository extended by an older build has none: packed here, as its commits would have.
    let t = Instant::now();
    let packed = repo.pack_snapshot_records(&tenant).await.unwrap();
    if packed.written > 0 {
        println!(
            "snapshot records packed: {} packs written in {:.1} s",
            packed.written,
            t.elapsed().as_secs_f64()
        );
    }

    // Each operation from a fresh handle: no cached index, manifests or snapshots.
    let fresh = open;
    let r = fresh();
    let t = Instant::now();
    let snapshots = r.snapshots(&tenant).await.unwrap();
    println!("{} snapshots listed in {:.1} ms", snapshots.len(), ms(t));
    let latest = snapshots.last().unwrap().clone();
    let first = snapshots.first().unwrap().clone();
    let middle = snapshots[snapshots.len() / 2].clone();
    // What a read of the latest composes: its base's chunks and this many changesets.
    println!(
        "latest snapshot: users on a chain of {} changesets",
        latest
            .kinds
            .get(&ObjectKind::Users)
            .map_or(0, |k| k.chain_length())
    );

    // What the users' last rebase wrote, part by part (manifest chunks, name chunks, name
    // filters, index): the price of what pages and searches read.
    let chain = |s: &dirvault_store::Snapshot| {
        s.kinds
            .get(&ObjectKind::Users)
            .map_or(0, |k| k.chain_length())
    };
    if let Some(at) = (1..snapshots.len())
        .rev()
        .find(|&i| chain(&snapshots[i]) < chain(&snapshots[i - 1]))
    {
        let parts = r
            .written_beyond(&snapshots[at - 1], &snapshots[at])
            .await
            .unwrap();
        let users: Vec<String> = parts
            .iter()
            .filter(|(part, bytes)| part.starts_with("users") && *bytes > 0)
            .map(|(part, bytes)| format!("{part} {:.2} MB", *bytes as f64 / 1e6))
            .collect();
        println!(
            "users' last rebase (snapshot {at}) wrote: {}",
            users.join(", ")
        );
    }

    // Not on the measured paths (they read the chunks their references locate); skipped when
    // BROWSE_ONLY names another operation, so that a profile of one is of that one.
    if "blob index".contains(std::env::var("BROWSE_ONLY").unwrap_or_default().as_str()) {
        let r = fresh();
        let t = Instant::now();
        let index = r.store().blob_index(&tenant).await.unwrap();
        println!(
            "blob index ({} blobs) loaded in {:.1} ms",
            index.len(),
            ms(t)
        );
    }

    // One user's UPN, from the middle of the listing: what an operator looking for someone
    // types, and what name filters are for (one name chunk of 245 may hold it at L1M).
    let middle_user = browse::list_page(
        &fresh(),
        &latest,
        ObjectKind::Users,
        &ListOptions {
            sort: browse::SortBy::Id,
            ..ListOptions::default()
        },
        latest.kinds.get(&ObjectKind::Users).map_or(0, |k| k.count) / 2,
        1,
    )
    .await
    .unwrap();
    let one_upn = middle_user.items[0].key.as_deref().unwrap_or("").to_owned();
    println!("one user's UPN searched for: {one_upn}");
    for (label, options) in [
        (
            "list all users by id",
            ListOptions {
                sort: browse::SortBy::Id,
                ..ListOptions::default()
            },
        ),
        ("list all users (by name)", ListOptions::default()),
        (
            "search users",
            ListOptions {
                search: Some("adele".into()),
                ..ListOptions::default()
            },
        ),
        (
            "search users (one UPN)",
            ListOptions {
                search: Some(one_upn.clone()),
                ..ListOptions::default()
            },
        ),
    ] {
        timed!(label, async {
            let r = fresh();
            let at = browse::resolve_snapshot(&r, &tenant, "latest")
                .await
                .unwrap();
            let found = browse::list(&r, &at, ObjectKind::Users, &options)
                .await
                .unwrap();
            format!("{} users", found.len())
        });
    }
    // What the console and the API ask for: a page of 100, by name (their default) and by id,
    // the first and one far into the listing; and a search's first page by name, with the
    // count of every hit, for a needle that matches 3% of the users and one that matches none.
    let sorted = |sort| ListOptions {
        sort,
        ..ListOptions::default()
    };
    let searched = |needle: &str| ListOptions {
        search: Some(needle.into()),
        ..ListOptions::default()
    };
    for (label, options, page) in [
        ("page 1 of users by name", sorted(browse::SortBy::Name), 0),
        ("page 1 of users by id", sorted(browse::SortBy::Id), 0),
        (
            "page 2,000 of users by id",
            sorted(browse::SortBy::Id),
            1_999,
        ),
        ("page 1 of a search of users (adele)", searched("adele"), 0),
        ("page 1 of a search of users (no hit)", searched("qqqzz"), 0),
        (
            "page 1 of a search of users (one UPN)",
            searched(&one_upn),
            0,
        ),
    ] {
        timed!(label, async {
            let r = fresh();
            let at = browse::resolve_snapshot(&r, &tenant, "latest")
                .await
                .unwrap();
            let found = browse::list_page(&r, &at, ObjectKind::Users, &options, page * 100, 100)
                .await
                .unwrap();
            format!("{} of {} users", found.items.len(), found.total)
        });
    }
    timed!("users manifest alone", async {
        let all = fresh().manifest(&latest, ObjectKind::Users).await.unwrap();
        format!("{} entries", all.len())
    });
    // What every cold handle pays before it reads anything: the key derived from the
    // password (Argon2id) and a listing; then every snapshot record read, as a history does.
    timed!("open: key and snapshot listing", async {
        let at = browse::resolve_snapshot(&fresh(), &tenant, "latest")
            .await
            .unwrap();
        at.id.to_string()
    });
    timed!(
        format!("every snapshot record ({})", snapshots.len()),
        async {
            let all = fresh().snapshots(&tenant).await.unwrap();
            format!("{} records", all.len())
        }
    );
    let user = r_manifest_first(&fresh(), &latest).await;
    timed!(
        format!("history of one user over {} snapshots", snapshots.len()),
        async {
            let history = browse::history(&fresh(), &tenant, ObjectKind::Users, &user)
                .await
                .unwrap();
            format!("{} events", history.len())
        }
    );
    for (label, a, b) in [
        (
            "diff, consecutive",
            &snapshots[snapshots.len() - 2],
            &latest,
        ),
        ("diff, first vs middle", &first, &middle),
    ] {
        timed!(label, async {
            let changes = dirvault_engine::changes(&fresh(), a, b).await.unwrap();
            let modified: usize = changes.values().map(|c| c.modified.len()).sum();
            format!("{modified} modified")
        });
    }
}

/// A user that changed at least once: the first of the latest snapshot's changeset.
async fn r_manifest_first(
    r: &Repository,
    latest: &dirvault_store::Snapshot,
) -> dirvault_model::ObjectId {
    match r.changeset(latest, ObjectKind::Users).await.unwrap() {
        Some(c) if !c.modified.is_empty() => c.modified[0].id.clone(),
        _ => r.manifest(latest, ObjectKind::Users).await.unwrap()[0]
            .id
            .clone(),
    }
}
