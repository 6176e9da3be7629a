//! Store-only benchmark against restic: the same objects (the emulator's generated tenant)
//! written as one dirvault snapshot, and exported as one JSON file each then backed up with
//! `restic backup` (Debian's `restic`). Reports wall time and repository size for both, and
//! the same for a second snapshot with 1% of users changed.
//!
//! `cargo bench -p dirvault-store --bench vs_restic -- [SIZE]` (default L100k; needs `restic`
//! on the PATH). `BENCH_DIRVAULT_ONLY=1` stops after dirvault's two snapshots (for profiling).
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

// The allocator the `dirvault` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use dirvault_emulator::{Emulator, EmulatorConfig, TenantSpec};
use dirvault_model::{DirectoryObject, ObjectKind};
use dirvault_store::Repository;

fn size(path: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(path).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            size(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

fn restic(repo: &Path, args: &[&str]) -> f64 {
    let t = Instant::now();
    let out = Command::new("restic")
        .args(["--repo", repo.to_str().unwrap(), "--quiet"])
        .args(args)
        .env("RESTIC_PASSWORD", "bench")
        .output()
        .expect("restic on the PATH (apt-get install restic)");
    assert!(
        out.status.success(),
        "restic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed().as_secs_f64()
}

fn export(dir: &Path, objects: &[DirectoryObject]) {
    for o in objects {
        let kind_dir = dir.join(o.kind().name());
        std::fs::create_dir_all(&kind_dir).unwrap();
        std::fs::write(
            kind_dir.join(format!("{}.json", o.id())),
            serde_json::to_vec_pretty(o.raw()).unwrap(),
        )
        .unwrap();
    }
}

/// Prints the repository's bytes by part (packs, indexes, dictionaries, the rest): which
/// structure to make smaller.
fn print_parts(repo: &Path) {
    let mut parts: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    let mut stack = vec![repo.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else if let Some(part) = ["packs", "index", "dictionaries", "snapshots"]
                .into_iter()
                .find(|p| entry.path().parent().is_some_and(|d| d.ends_with(p)))
            {
                let slot = parts.entry(part.to_owned()).or_default();
                slot.0 += 1;
                slot.1 += meta.len();
            }
        }
    }
    for (part, (files, bytes)) in parts {
        println!("  {part}: {files} files, {:.2} MB", bytes as f64 / 1e6);
    }
}

/// CPU seconds this process has used (user, system), from /proc.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ") ".
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (11 and 12 after the name), in 1/100 s.
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

async fn snapshot(
    repo: &Repository,
    tenant: &dirvault_model::TenantId,
    objects: &[DirectoryObject],
    n: i64,
    parent: Option<dirvault_model::SnapshotId>,
) -> (f64, dirvault_model::SnapshotId) {
    let t = Instant::now();
    let cpu = cpu_seconds();
    let mut w = repo
        .begin(
            tenant,
            chrono::Utc::now() + chrono::Duration::hours(n),
            parent,
        )
        .await
        .unwrap();
    // A page at a time, as a backup adds them.
    for page in objects.chunks(999) {
        w.add_objects(page).await.unwrap();
    }
    let (s, stats) = w.commit().await.unwrap();
    let wall = t.elapsed().as_secs_f64();
    let (user, system) = cpu_seconds();
    let (user, system) = (user - cpu.0, system - cpu.1);
    println!(
        "dirvault snapshot {n}: {wall:.2} s, CPU {user:.2} s user + {system:.2} s system ({:.0}% of one core)",
        100.0 * (user + system) / wall
    );
    println!(
        "  written: {:.2} MB in packs, of which object versions {:.2} MB",
        stats.bytes_written as f64 / 1e6,
        stats.object_bytes as f64 / 1e6
    );
    (wall, s.id)
}

#[tokio::main]
async fn main() {
    let size_arg = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "L100k".into());
    let emulator = Emulator::new(EmulatorConfig::default());
    let info = emulator
        .create_tenant(&TenantSpec::preset("bench", &size_arg, 1).unwrap())
        .unwrap();
    let mut objects: Vec<DirectoryObject> = emulator
        .with_tenant(&info.tenant_id, |t| {
            ObjectKind::ALL
                .iter()
                .flat_map(|k| {
                    t.objects(k.name().parse().unwrap())
                        .into_iter()
                        .flat_map(|m| m.values())
                        .map(|o| {
                            DirectoryObject::from_graph(*k, serde_json::Value::Object(o.clone()))
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .unwrap();
    drop(emulator);
    let tenant: dirvault_model::TenantId = info.tenant_id.parse().unwrap();
    let work = tempfile::tempdir().unwrap();
    println!("{} objects", objects.len());

    // dirvault: one snapshot, then one with 1% of users changed.
    let dv = work.path().join("dirvault");
    // Encrypted, as restic's is (BENCH_PLAIN=1: unencrypted).
    let plain = std::env::var_os("BENCH_PLAIN").is_some();
    let options = dirvault_store::OpenOptions {
        secret: (!plain).then(|| dirvault_store::Secret::password("bench password")),
        require_encryption: !plain,
    };
    println!(
        "dirvault repository: {}",
        if plain { "unencrypted" } else { "encrypted" }
    );
    let repo = Repository::open_with(dv.to_str().unwrap(), &options).unwrap();
    let (t1, first) = snapshot(&repo, &tenant, &objects, 0, None).await;
    let s1 = size(&dv);
    // What the full snapshot's manifests, relationships and changesets take, by part (the
    // rest of its packs is object versions).
    let full = repo.snapshot(&tenant, &first).await.unwrap();
    let mut nothing = full.clone();
    nothing.kinds.clear();
    nothing.relationships = dirvault_store::KindRecord::default();
    let parts = repo.written_beyond(&nothing, &full).await.unwrap();
    let shown: Vec<String> = parts
        .iter()
        .filter(|(_, bytes)| *bytes >= 100_000)
        .map(|(part, bytes)| format!("{part} {:.2} MB", *bytes as f64 / 1e6))
        .collect();
    println!(
        "  structure of the full snapshot: {:.2} MB: {}",
        parts.iter().map(|(_, b)| *b).sum::<u64>() as f64 / 1e6,
        shown.join(", ")
    );
    let users: Vec<usize> = objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind() == ObjectKind::Users)
        .map(|(i, _)| i)
        .collect();
    for i in users.iter().step_by(100) {
        let mut raw = objects[*i].raw().clone();
        raw.insert("jobTitle".into(), serde_json::json!("Changed"));
        objects[*i] =
            DirectoryObject::from_graph(ObjectKind::Users, serde_json::Value::Object(raw)).unwrap();
    }
    let (t2, _) = snapshot(&repo, &tenant, &objects, 1, Some(first)).await;
    let s2 = size(&dv) - s1;
    print_parts(&dv);
    if std::env::var("BENCH_DIRVAULT_ONLY").is_ok_and(|v| v == "1") {
        // For profiling dirvault's side alone.
        println!("dirvault: full {t1:.2} s, {s1} bytes; 1% changed {t2:.2} s, {s2} bytes");
        return;
    }

    // restic: the same objects as one JSON file each.
    let files = work.path().join("export");
    let rr = work.path().join("restic");
    restic(&rr, &["init"]);
    export(&files, &objects);
    let r1 = restic(&rr, &["backup", files.to_str().unwrap()]);
    let rs1 = size(&rr);
    // (the export holds the changed objects already; re-export nothing, touch the changed ones)
    for i in users.iter().step_by(100) {
        let o = &objects[*i];
        let mut raw = o.raw().clone();
        raw.insert("jobTitle".into(), serde_json::json!("Changed again"));
        std::fs::write(
            files.join(o.kind().name()).join(format!("{}.json", o.id())),
            serde_json::to_vec_pretty(&raw).unwrap(),
        )
        .unwrap();
    }
    let r2 = restic(&rr, &["backup", files.to_str().unwrap()]);
    let rs2 = size(&rr) - rs1;

    println!(
        "full:        dirvault {t1:.1} s, {:.1} MB | restic {r1:.1} s, {:.1} MB | {:.1}x faster, {:.1}x smaller",
        s1 as f64 / 1e6,
        rs1 as f64 / 1e6,
        r1 / t1,
        rs1 as f64 / s1 as f64
    );
    println!(
        "incremental: dirvault {t2:.1} s, {:.2} MB | restic {r2:.1} s, {:.2} MB | {:.1}x faster, {:.1}x smaller",
        s2 as f64 / 1e6,
        rs2 as f64 / 1e6,
        r2 / t2,
        rs2 as f64 / s2.max(1) as f64
    );
}
