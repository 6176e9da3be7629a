//! The point-in-time view of a tenant: which snapshot "as of" a time, an object kind listed at
//! a snapshot, one object with its previous version and what changed, and an object's history.
//!
//! Everything here reads snapshot manifests (ids, versions, names) and only the object versions
//! it shows.

mod page;
mod related;
pub use page::*;
pub use related::*;

use chrono::{DateTime, Utc};
use dirvault_diff::{AttributeChange, DiffOptions, diff_objects};
use dirvault_model::{DirectoryObject, ObjectId, ObjectKind, SnapshotId, TenantId};
use dirvault_store::{ManifestEntry, Needle, Repository, Snapshot, cmp_lowercase};
use futures::{StreamExt, TryStreamExt};
use rayon::prelude::*;
use serde::Serialize;

use crate::{Error, NotFound, Result};

/// The snapshot meant by `at`: `latest`, a snapshot id, or an RFC 3339 date-time (the latest
/// snapshot taken at or before it).
///
/// # Errors
/// [`NotFound`] (as [`Error::NotFound`]) when nothing matches.
pub async fn resolve_snapshot(repo: &Repository, tenant: &TenantId, at: &str) -> Result<Snapshot> {
    if at == "latest" {
        return repo.snapshot_at(tenant, None).await?.ok_or_else(|| {
            NotFound::NoSnapshots {
                tenant: tenant.clone(),
            }
            .into()
        });
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(at) {
        let time = time.with_timezone(&Utc);
        return repo.snapshot_at(tenant, Some(time)).await?.ok_or_else(|| {
            NotFound::NoSnapshotAt {
                tenant: tenant.clone(),
                at: at.to_owned(),
            }
            .into()
        });
    }
    let unknown = || {
        Error::from(NotFound::UnknownSnapshot {
            tenant: tenant.clone(),
            at: at.to_owned(),
        })
    };
    let id = SnapshotId::new(at).map_err(|_| unknown())?;
    match repo.snapshot(tenant, &id).await {
        Err(dirvault_store::Error::NoSnapshot { .. }) => Err(unknown()),
        other => Ok(other?),
    }
}

/// How to sort a listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum SortBy {
    /// By display name (then id).
    #[default]
    Name,
    /// By object id.
    Id,
    /// Most recently created or modified first (from the snapshots' changesets).
    Modified,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Case-insensitive substring of the name, id or key (UPN, appId, mail).
    pub search: Option<String>,
    /// Order.
    pub sort: SortBy,
    /// Objects that existed in the previous snapshot but not in this one.
    pub deleted: bool,
}

/// Objects of `kind` at `snapshot` (or deleted since the one before it).
///
/// # Errors
/// Store errors.
pub async fn list(
    repo: &Repository,
    snapshot: &Snapshot,
    kind: ObjectKind,
    options: &ListOptions,
) -> Result<Vec<ManifestEntry>> {
    let needle = options.search.as_deref().map(Needle::new);
    let mut entries = match (&needle, options.deleted) {
        // In name order, the name chunks that may hold the needle, then only the hits'
        // entries: one user among a million reads a name chunk and a manifest chunk.
        (Some(needle), false) if options.sort == SortBy::Name => {
            match repo
                .manifest_search_page_by_name(snapshot, kind, needle, 0, usize::MAX)
                .await?
            {
                Some(page) => page.entries,
                None => {
                    repo.manifest_matching(snapshot, kind, &|e| needle.matches(e))
                        .await?
                }
            }
        }
        // Only the hits are made into entries.
        (Some(needle), false) => {
            repo.manifest_matching(snapshot, kind, &|e| needle.matches(e))
                .await?
        }
        _ => repo.manifest(snapshot, kind).await?,
    };
    if options.deleted {
        let previous = repo
            .snapshots(&snapshot.tenant)
            .await?
            .into_iter()
            .rfind(|s| s.time < snapshot.time);
        let now: std::collections::BTreeSet<ObjectId> =
            entries.iter().map(|e| e.id.clone()).collect();
        entries = match previous {
            Some(p) => repo
                .manifest(&p, kind)
                .await?
                .into_iter()
                .filter(|e| !now.contains(&e.id))
                .filter(|e| needle.as_ref().is_none_or(|n| n.matches(e.text())))
                .collect(),
            None => Vec::new(),
        };
    }
    // Where a version is stored is the store's business, not the listing's.
    for e in &mut entries {
        e.clear_location();
    }
    if options.sort == SortBy::Modified {
        let when = last_modified(repo, snapshot, kind, &entries).await?;
        // One lookup per entry, not two per comparison (3.4 million at 100k entries); the
        // sort is stable and the entries come in id order, so equal times stay in id order.
        let mut keyed: Vec<(std::cmp::Reverse<Option<DateTime<Utc>>>, ManifestEntry)> = entries
            .into_iter()
            .map(|e| (std::cmp::Reverse(when.get(&e.id).copied()), e))
            .collect();
        keyed.sort_by_key(|(when, _)| *when);
        entries = keyed.into_iter().map(|(_, e)| e).collect();
    }
    if options.sort == SortBy::Name {
        sort_by_name(&mut entries);
    }
    Ok(entries)
}

/// When each entry's version appeared: walking back from `snapshot` through its parents'
/// changesets until every entry is accounted for. Versions older than the first snapshot with
/// a changeset (the first backup, or format 1 snapshots) get that snapshot's time.
async fn last_modified(
    repo: &Repository,
    snapshot: &Snapshot,
    kind: ObjectKind,
    entries: &[ManifestEntry],
) -> Result<std::collections::HashMap<ObjectId, DateTime<Utc>>> {
    let snapshots: std::collections::HashMap<SnapshotId, Snapshot> = repo
        .snapshots(&snapshot.tenant)
        .await?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let mut wanted: std::collections::HashMap<&ObjectId, &dirvault_store::BlobId> =
        entries.iter().map(|e| (&e.id, &e.blob)).collect();
    let mut out = std::collections::HashMap::new();
    let mut current = Some(snapshot.clone());
    while let Some(s) = current.take() {
        if wanted.is_empty() {
            break;
        }
        let parent = s.parent.as_ref().and_then(|p| snapshots.get(p));
        let same_manifest = |p: &Snapshot| match (p.kinds.get(&kind), s.kinds.get(&kind)) {
            (Some(a), Some(b)) => a.same_manifest(b),
            _ => false,
        };
        match repo.changeset(&s, kind).await? {
            Some(c) => {
                for e in c.created.iter().chain(&c.modified) {
                    if wanted.get(&e.id) == Some(&&e.blob) {
                        wanted.remove(&e.id);
                        out.insert(e.id.clone(), s.time);
                    }
                }
            }
            None if parent.is_some_and(same_manifest) => {}
            None => {
                // The base of what changesets can tell: everything left dates from here.
                for id in wanted.drain().map(|(id, _)| id) {
                    out.insert(id.clone(), s.time);
                }
                break;
            }
        }
        current = parent.cloned();
        if current.is_none() {
            for id in wanted.drain().map(|(id, _)| id) {
                out.insert(id.clone(), s.time);
            }
        }
    }
    Ok(out)
}

/// Orders entries by lower-cased name, then by their current order (manifests are in id
/// order). Each entry's sort key holds the first sixteen bytes of its lower-cased name inline
/// (most comparisons end there: two names of at most sixteen bytes with the same head differ
/// only in length); the keys are built and sorted on every core and the entries moved once.
fn sort_by_name(entries: &mut [ManifestEntry]) {
    struct Key {
        head: u128,
        len: usize,
        index: usize,
    }
    let name = |i: usize| entries.get(i).and_then(|e| e.name.as_deref()).unwrap_or("");
    let mut keys: Vec<Key> = (0..entries.len())
        .into_par_iter()
        .map(|index| {
            let mut head = [0u8; 16];
            let n = name(index);
            let len = if n.is_ascii() {
                for (h, b) in head.iter_mut().zip(n.bytes()) {
                    *h = b.to_ascii_lowercase();
                }
                n.len()
            } else {
                let lower = n.to_lowercase();
                for (h, b) in head.iter_mut().zip(lower.bytes()) {
                    *h = b;
                }
                lower.len()
            };
            Key {
                head: u128::from_be_bytes(head),
                len,
                index,
            }
        })
        .collect();
    keys.par_sort_unstable_by(|a, b| {
        a.head
            .cmp(&b.head)
            .then_with(|| {
                if a.len <= 16 && b.len <= 16 {
                    a.len.cmp(&b.len)
                } else {
                    cmp_lowercase(name(a.index), name(b.index))
                }
            })
            .then(a.index.cmp(&b.index))
    });
    let order: Vec<usize> = keys.into_iter().map(|k| k.index).collect();
    permute(entries, &order);
}

/// Puts `items[order[i]]` at `i` for every `i`, in place: one cycle of the permutation at a
/// time (large listings allocate nothing more).
fn permute<T>(items: &mut [T], order: &[usize]) {
    let mut placed = vec![false; items.len()];
    for start in 0..items.len() {
        let mut i = start;
        while !placed[i] {
            placed[i] = true;
            let from = order[i];
            if from == start {
                break;
            }
            items.swap(i, from);
            i = from;
        }
    }
}

/// One object at a snapshot, with the version before it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectView {
    /// The snapshot shown.
    pub snapshot: SnapshotId,
    /// The object there.
    pub object: DirectoryObject,
    /// The latest earlier snapshot holding a different version, and that version.
    pub previous: Option<(SnapshotId, DirectoryObject)>,
    /// What changed from the previous version to this one.
    pub changes: Vec<AttributeChange>,
}

/// What happened to an object in one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Event {
    /// First seen.
    Created,
    /// A new version.
    Modified,
    /// Gone.
    Deleted,
    /// Back after being gone.
    Restored,
}

/// One step of an object's history.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The snapshot where it happened.
    pub snapshot: SnapshotId,
    /// Its time.
    pub time: DateTime<Utc>,
    /// What happened.
    pub event: Event,
    /// For modifications: what changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<AttributeChange>,
}

async fn version_at(
    repo: &Repository,
    snapshot: &Snapshot,
    kind: ObjectKind,
    id: &ObjectId,
) -> Result<Option<ManifestEntry>> {
    Ok(repo.entry(snapshot, kind, id).await?)
}

async fn load(
    repo: &Repository,
    snapshot: &Snapshot,
    kind: ObjectKind,
    entry: &ManifestEntry,
) -> Result<DirectoryObject> {
    repo.version(&snapshot.tenant, kind, entry)
        .await
        .map_err(Error::from)
}

/// The snapshots where an object changed, oldest first, with what changed each time.
///
/// # Errors
/// Store errors.
pub async fn history(
    repo: &Repository,
    tenant: &TenantId,
    kind: ObjectKind,
    id: &ObjectId,
) -> Result<Vec<HistoryEntry>> {
    let versions = repo.versions(tenant, kind, id).await?;
    // The events first, from the entries alone (no manifest is read: the snapshots'
    // changesets gave them).
    let mut events: Vec<(&Snapshot, Option<&ManifestEntry>, Event)> = Vec::new();
    let mut before: Option<&ManifestEntry> = None;
    let mut ever_seen = false;
    for (snapshot, current) in &versions {
        let event = match (before, current) {
            (None, Some(_)) if ever_seen => Some(Event::Restored),
            (None, Some(_)) => Some(Event::Created),
            (Some(_), None) => Some(Event::Deleted),
            (Some(p), Some(c)) if p.blob != c.blob => Some(Event::Modified),
            _ => None,
        };
        if let Some(event) = event {
            events.push((snapshot, current.as_ref(), event));
        }
        ever_seen |= current.is_some();
        before = current.as_ref();
    }
    // The versions the events show, read together (their futures made first, so that the
    // caller's future stays `Send`).
    let loads: Vec<_> = events
        .iter()
        .filter_map(|(snapshot, entry, _)| entry.map(|e| load(repo, snapshot, kind, e)))
        .collect();
    let mut objects = futures::stream::iter(loads)
        .buffered(8)
        .try_collect::<Vec<DirectoryObject>>()
        .await?
        .into_iter();
    let mut out = Vec::with_capacity(events.len());
    let mut previous: Option<DirectoryObject> = None;
    for (snapshot, entry, event) in events {
        let object = entry.and_then(|_| objects.next());
        let changes = match (&previous, &object, event) {
            (Some(old), Some(new), Event::Modified) => {
                diff_objects(old.raw(), new.raw(), &DiffOptions::default())
            }
            _ => Vec::new(),
        };
        out.push(HistoryEntry {
            snapshot: snapshot.id.clone(),
            time: snapshot.time,
            event,
            changes,
        });
        previous = object;
    }
    Ok(out)
}

/// Relationships of an object that changed in one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct RelationshipEvent {
    /// The snapshot where it happened.
    pub snapshot: SnapshotId,
    /// Its time.
    pub time: DateTime<Utc>,
    /// Relationships of the object that appeared.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<dirvault_model::Relationship>,
    /// Relationships of the object that disappeared.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<dirvault_model::Relationship>,
}

/// The snapshots where an object's relationships (memberships, owners, roles, managers…)
/// changed, from the snapshots' relationship changes (format 2; the first snapshot and format
/// 1 snapshots record none).
///
/// # Errors
/// Store errors.
pub async fn relationship_history(
    repo: &Repository,
    tenant: &TenantId,
    id: &ObjectId,
) -> Result<Vec<RelationshipEvent>> {
    let mut out = Vec::new();
    for snapshot in repo.snapshots(tenant).await? {
        if !snapshot.relationships.changes_may_name(id.as_str()) {
            continue; // its relationship changes certainly do not name the object
        }
        let Some(changes) = repo.relationship_changes(&snapshot).await? else {
            continue;
        };
        let touches = |r: &dirvault_model::Relationship| r.referenced_ids().contains(&id);
        let added: Vec<_> = changes.added.into_iter().filter(|r| touches(r)).collect();
        let removed: Vec<_> = changes.removed.into_iter().filter(|r| touches(r)).collect();
        if !added.is_empty() || !removed.is_empty() {
            out.push(RelationshipEvent {
                snapshot: snapshot.id.clone(),
                time: snapshot.time,
                added,
                removed,
            });
        }
    }
    Ok(out)
}

/// One object at `snapshot`, with its previous version and the attribute changes.
///
/// # Errors
/// [`NotFound`] (as [`Error::NotFound`]) when the object is not in the snapshot; store errors.
pub async fn show(
    repo: &Repository,
    snapshot: &Snapshot,
    kind: ObjectKind,
    id: &ObjectId,
) -> Result<ObjectView> {
    let entry = version_at(repo, snapshot, kind, id).await?.ok_or_else(|| {
        Error::from(NotFound::Object {
            kind,
            id: id.clone(),
            snapshot: snapshot.id.clone(),
        })
    })?;
    let object = load(repo, snapshot, kind, &entry).await?;
    // The newest earlier version that differs, found from the snapshots' changesets: looking
    // the object up in each earlier snapshot's manifest costs a manifest read per snapshot
    // the object went unchanged through (hundreds of milliseconds at L100k).
    let earlier = repo
        .versions(&snapshot.tenant, kind, id)
        .await?
        .into_iter()
        .rev()
        .filter(|(s, _)| s.time < snapshot.time)
        .find_map(|(s, e)| e.filter(|e| e.blob != entry.blob).map(|e| (s, e)));
    let previous = match earlier {
        Some((earlier, e)) => Some((earlier.id.clone(), load(repo, &earlier, kind, &e).await?)),
        None => None,
    };
    let changes = previous
        .as_ref()
        .map(|(_, old)| diff_objects(old.raw(), object.raw(), &DiffOptions::default()))
        .unwrap_or_default();
    Ok(ObjectView {
        snapshot: snapshot.id.clone(),
        object,
        previous,
        changes,
    })
}

/// Which version of an object to show, relative to a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSelector {
    /// The version current at the snapshot.
    Current,
    /// The version before it.
    Previous,
    /// The version after it.
    Next,
    /// The N-th version (1 = the first backed up).
    Number(usize),
}

impl std::fmt::Display for VersionSelector {
    /// As it is asked for: `current`, `previous`, `next`, or the number.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionSelector::Current => f.write_str("current"),
            VersionSelector::Previous => f.write_str("previous"),
            VersionSelector::Next => f.write_str("next"),
            VersionSelector::Number(n) => write!(f, "{n}"),
        }
    }
}

impl std::str::FromStr for VersionSelector {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "current" => Ok(Self::Current),
            "prev" | "previous" => Ok(Self::Previous),
            "next" => Ok(Self::Next),
            n => n
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .map(Self::Number)
                .ok_or_else(|| {
                    format!("{s:?}: use prev, next, current or a version number (1 = the first)")
                }),
        }
    }
}

/// The snapshot holding the selected version of an object. Versions are the snapshots where it
/// was created, modified or restored ([`history`]).
///
/// # Errors
/// [`NotFound`] (as [`Error::NotFound`]) when there is no such version.
pub async fn select_version(
    repo: &Repository,
    at: &Snapshot,
    kind: ObjectKind,
    id: &ObjectId,
    which: VersionSelector,
) -> Result<Snapshot> {
    if which == VersionSelector::Current {
        // The snapshot itself: an object deleted by then is reported as missing, not shown in
        // an older version.
        return Ok(at.clone());
    }
    let versions: Vec<HistoryEntry> = history(repo, &at.tenant, kind, id)
        .await?
        .into_iter()
        .filter(|h| h.event != Event::Deleted)
        .collect();
    let current = versions.iter().rposition(|v| v.time <= at.time);
    let index = match (which, current) {
        (VersionSelector::Number(n), _) => Some(n - 1),
        (VersionSelector::Current, c) => c,
        (VersionSelector::Previous, Some(c)) => c.checked_sub(1),
        (VersionSelector::Next, Some(c)) => Some(c + 1),
        (VersionSelector::Next, None) => Some(0),
        (VersionSelector::Previous, None) => None,
    };
    let entry = index.and_then(|i| versions.get(i)).ok_or_else(|| {
        Error::from(NotFound::Version {
            kind,
            id: id.clone(),
            which: which.to_string(),
            snapshot: at.id.clone(),
            versions: versions.len(),
        })
    })?;
    repo.snapshot(&at.tenant, &entry.snapshot)
        .await
        .map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dirvault_store::BlobId;

    fn entry(id: &str, name: Option<&str>) -> ManifestEntry {
        ManifestEntry::new(
            id.parse().expect("an object id"),
            BlobId::of_canonical(id.as_bytes()),
            name.map(Into::into),
            None,
        )
    }

    #[test]
    fn sorting_by_name_ignores_case_and_keeps_id_order_among_equal_names() {
        let mut entries = vec![
            entry("1", Some("bob")),
            entry("2", Some("Alice Smithson")),
            entry("3", Some("alice smith")),
            entry("4", None),
            entry("5", Some("ÉMILE")),
            entry("6", Some("Bob")),
            entry("7", Some("alice smithson")),
            entry("8", Some("émile")),
            entry("9", Some("Zoë")),
            entry("10", Some("al")),
            entry("11", Some("Alexandra Konstantinopoulos")),
            entry("12", Some("alexandra konstantinou")),
            entry("13", Some("Alexandra Konstantin")),
            entry("14", Some("ALEXANDRA KONSTANTINOPOULOS")),
        ];
        sort_by_name(&mut entries);
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        // "" < "al" < "alexandra konstantin" < "…opoulos" (x2, id order) < "…ou" < "alice
        // smith" < "alice smithson" (x2) < "bob" (x2) < "zoë" < "émile"
        assert_eq!(
            ids,
            [
                "4", "10", "13", "11", "14", "12", "3", "2", "7", "1", "6", "9", "5", "8"
            ]
        );
    }

    #[test]
    fn permuting_in_place_matches_the_order() {
        let order = [3, 0, 4, 1, 2, 5];
        let mut items = ["a", "b", "c", "d", "e", "f"];
        permute(&mut items, &order);
        assert_eq!(items, ["d", "a", "e", "b", "c", "f"]);
    }
}
