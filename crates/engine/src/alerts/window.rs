//! The snapshots alerts compare: those taken since a time (or the latest) and, before them,
//! as many as it takes to find, for each kind they read completely, an earlier snapshot that
//! read it completely. Read from the listing and those records alone: the daemon raises
//! alerts after every backup, and reading every record of the tenant was hundreds of reads a
//! backup after a year (one S3 request each, or a few packs).

use chrono::{DateTime, Utc};
use dirvault_model::{ObjectKind, SnapshotId, TenantId};
use dirvault_store::{KindStatus, Repository, Snapshot};
use std::collections::BTreeSet;

use crate::Result;

/// Seconds of records read one by one, walking back, before every record is read at once
/// (through the record packs) instead.
const ONE_BY_ONE: usize = 8;

/// Whether `snapshot` read `kind` completely.
pub(crate) fn complete(snapshot: &Snapshot, kind: &ObjectKind) -> bool {
    snapshot
        .kinds
        .get(kind)
        .is_some_and(|r| r.status == KindStatus::Complete)
}

/// The time to the second a snapshot id starts with (`YYYYMMDDTHHMMSSZ`).
fn second(id: &SnapshotId) -> &str {
    id.as_str().split('-').next().unwrap_or("")
}

/// The snapshots to compare, oldest first, and the index of the first taken at or after
/// `since` (of the latest, without `since`).
pub(crate) async fn alert_window(
    repo: &Repository,
    tenant: &TenantId,
    since: Option<DateTime<Utc>>,
) -> Result<(Vec<Snapshot>, usize)> {
    let ids = repo.snapshot_ids(tenant).await?;
    // The records of whole seconds are read (ids order snapshots by time only to the second).
    let mut start = match since {
        Some(since) => {
            let limit = since.format("%Y%m%dT%H%M%SZ").to_string();
            ids.partition_point(|id| second(id) < limit.as_str())
        }
        None => match ids.last() {
            Some(last) => ids.partition_point(|id| second(id) < second(last)),
            None => return Ok((Vec::new(), 0)),
        },
    };
    let mut window = read(repo, tenant, &ids[start..]).await?;
    let wanted: BTreeSet<ObjectKind> = window
        .iter()
        .flat_map(|s| s.kinds.keys().filter(|k| complete(s, k)).copied())
        .collect();
    let mut found: BTreeSet<ObjectKind> = BTreeSet::new();
    // Back a second at a time until every wanted kind was read completely before.
    let mut steps = 0;
    while start > 0 && !wanted.is_subset(&found) {
        steps += 1;
        if steps > ONE_BY_ONE {
            // Far back (a kind failing for long, or new): every record, through the packs.
            let all = repo.snapshots(tenant).await?;
            let first = first_compared(&all, since);
            return Ok((all, first));
        }
        let group = second(&ids[start - 1]).to_owned();
        let from = ids[..start].partition_point(|id| second(id) < group.as_str());
        let earlier = read(repo, tenant, &ids[from..start]).await?;
        for s in &earlier {
            found.extend(s.kinds.keys().filter(|k| complete(s, k)).copied());
        }
        window.extend(earlier);
        start = from;
    }
    window.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
    let first = first_compared(&window, since);
    Ok((window, first))
}

/// The index of the first snapshot of `snapshots` (oldest first) taken at or after `since`,
/// or of the latest.
fn first_compared(snapshots: &[Snapshot], since: Option<DateTime<Utc>>) -> usize {
    match since {
        Some(since) => snapshots.partition_point(|s| s.time < since),
        None => snapshots.len().saturating_sub(1),
    }
}

async fn read(repo: &Repository, tenant: &TenantId, ids: &[SnapshotId]) -> Result<Vec<Snapshot>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(repo.snapshot(tenant, id).await?);
    }
    Ok(out)
}
