//! Browse benchmark: the L100k tenant with many snapshots at 1% churn each, written straight
//! through the store API (the emulator's generated objects; users change), then, each from a
//! fresh repository handle (nothing cached): list/search users at a snapshot, one object's
//! history over every snapshot, the diff of two snapshots.
//!
//! `cargo bench -p dirvault-engine --bench browse -- [SIZE] [SNAPSHOTS] [REPO_DIR]`
//! (defaults: L100k 730, a temporary directory). With an existing REPO_DIR holding snapshots,
//! generation is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

// The allocator the `dirvault` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use dirvault_emulator::{Emulator, EmulatorConfig, TenantSpec};
use dirvault_engine::browse::{self, ListOptions};
use dirvault_model::{DirectoryObject, ObjectKind, TenantId};
use dirvault_store::{ManifestEntry, Repository};
use rand::{Rng, SeedableRng};

async fn generate(repo: &Repository, size: &str, snapshots: usize) -> TenantId {
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
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut users = objects[&ObjectKind::Users].clone();
    let mut manifests: BTreeMap<ObjectKind, Vec<ManifestEntry>> = BTreeMap::new();
    let mut parent = None;
    let started = Instant::now();
    for n in 0..snapshots {
        let mut w = repo
            .begin(
                &tenant,
                start + Duration::hours(12 * n as i64),
                parent.clone(),
            )
            .await
            .unwrap();
        if n == 0 {
            for (kind, list) in &objects {
                for o in list {
                    w.add_object(o).await.unwrap();
                }
                let _ = kind;
            }
        } else {
            // 1% of users change; everything else is carried over.
            let changed: std::collections::BTreeSet<usize> = (0..users.len() / 100)
                .map(|_| rng.random_range(0..users.len()))
                .collect();
            // Unchanged kinds are carried whole (as a backup carries a kind whose delta is
            // empty): the same index blob, no re-chunking.
            let previous = repo
                .snapshot(&tenant, parent.as_ref().unwrap())
                .await
                .unwrap();
            for (kind, record) in &previous.kinds {
                if *kind != ObjectKind::Users {
                    w.carry_kind(*kind, record.clone(), record.status.clone());
                }
            }
            let entries = &manifests[&ObjectKind::Users];
            for (i, e) in entries.iter().enumerate() {
                if changed.contains(&i) {
                    let mut raw = users[i].raw().clone();
                    raw.insert("jobTitle".into(), serde_json::json!(format!("Title {n}")));
                    users[i] = DirectoryObject::from_graph(
                        ObjectKind::Users,
                        serde_json::Value::Object(raw),
                    )
                    .unwrap();
                    w.add_object(&users[i]).await.unwrap();
                } else {
                    w.carry_entry(ObjectKind::Users, e.clone());
                }
            }
        }
        let (snapshot, _) = w.commit().await.unwrap();
        manifests.insert(
            ObjectKind::Users,
            repo.manifest(&snapshot, ObjectKind::Users).await.unwrap(),
        );
        if n == 0 {
            // Users in the manifest's (id) order, so that index i is the same object in both.
            let by_id: BTreeMap<String, DirectoryObject> =
                users.drain(..).map(|u| (u.id().to_string(), u)).collect();
            users = by_id.into_values().collect();
        }
        parent = Some(snapshot.id.clone());
        if n < 5 || n % 50 == 0 {
            eprintln!(
                "snapshot {n}/{snapshots} ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    tenant
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
    let repo = Repository::open(&url).unwrap();
    let tenant = match repo.tenants().await.unwrap().first() {
        Some(t) => t.clone(),
        None => {
            let t = Instant::now();
            let tenant = generate(&repo, &size, count).await;
            println!(
                "generated {count} snapshots of {size} in {:.0} s",
                t.elapsed().as_secs_f64()
            );
            tenant
        }
    };

    // Each operation from a fresh handle: no cached index, manifests or snapshots.
    let fresh = || Repository::open(&url).unwrap();
    let r = fresh();
    let t = Instant::now();
    let snapshots = r.snapshots(&tenant).await.unwrap();
    println!("{} snapshots listed in {:.1} ms", snapshots.len(), ms(t));
    let latest = snapshots.last().unwrap().clone();
    let first = snapshots.first().unwrap().clone();
    let middle = snapshots[snapshots.len() / 2].clone();

    let r = fresh();
    let t = Instant::now();
    let index = r.store().blob_index(&tenant).await.unwrap();
    println!(
        "blob index ({} blobs) loaded in {:.1} ms",
        index.len(),
        ms(t)
    );

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
    timed!("users manifest alone", async {
        let all = fresh().manifest(&latest, ObjectKind::Users).await.unwrap();
        format!("{} entries", all.len())
    });
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
