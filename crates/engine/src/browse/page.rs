//! One page of a listing, read without making every entry of the kind: in id order from the
//! chunks that hold the page; in name order by choosing the page among the entries' texts,
//! then reading only its entries. What a console needs to show the first hundred of a
//! million users.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use dirvault_model::{ObjectId, ObjectKind};
use dirvault_store::{EntryText, ManifestEntry, Needle, Repository, Snapshot, name_order};
use serde::Serialize;

use super::{ListOptions, SortBy, list};
use crate::Result;

/// A page of a listing and how many entries the whole listing holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ListPage {
    /// Entries in the whole listing (every page).
    pub total: usize,
    /// The page's entries, in the listing's order.
    pub items: Vec<ManifestEntry>,
}

/// Entries `skip..skip + take` of what [`list`] gives, and its length. A listing by id or
/// by name reads only what the page needs: by id, the manifest chunks holding the page; by
/// name, the base's name chunks as far as the page reaches (or, for a base written before
/// them, the texts of every entry), then the page's own entries; a search by name, every
/// name chunk's texts, then the page's own entries. Deletions, searches in another order and
/// the order by modification read the whole listing.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use dirvault_engine::browse::{self, ListOptions, SortBy};
/// use dirvault_model::{DirectoryObject, ObjectKind, TenantId};
/// use dirvault_store::Repository;
/// use serde_json::json;
///
/// let repo = Repository::open("memory://")?;
/// let tenant: TenantId = "contoso".parse().unwrap();
/// let mut writer = repo.begin(&tenant, chrono::Utc::now(), None).await?;
/// for (id, name) in [("u1", "Megan"), ("u2", "adele"), ("u3", "Lee")] {
///     let user = json!({"id": id, "displayName": name});
///     writer.add_object(&DirectoryObject::from_graph(ObjectKind::Users, user).unwrap()).await?;
/// }
/// let (snapshot, _) = writer.commit().await?;
/// let by_name = ListOptions { sort: SortBy::Name, ..ListOptions::default() };
/// let page = browse::list_page(&repo, &snapshot, ObjectKind::Users, &by_name, 0, 2).await?;
/// assert_eq!(page.total, 3);
/// let names: Vec<_> = page.items.iter().filter_map(|e| e.name.as_deref()).collect();
/// assert_eq!(names, ["adele", "Lee"]);
/// # Ok::<(), dirvault_engine::Error>(())
/// # }).unwrap();
/// ```
///
/// # Errors
/// Store errors.
pub async fn list_page(
    repo: &Repository,
    snapshot: &Snapshot,
    kind: ObjectKind,
    options: &ListOptions,
    skip: usize,
    take: usize,
) -> Result<ListPage> {
    let mut page = match (options.search.as_deref(), options.deleted, options.sort) {
        (None, false, SortBy::Id) => {
            let page = repo.manifest_page(snapshot, kind, skip, take).await?;
            ListPage {
                total: page.total,
                items: page.entries,
            }
        }
        (None, false, SortBy::Name) => {
            match repo
                .manifest_page_by_name(snapshot, kind, skip, take)
                .await?
            {
                // The base's name chunks (written since session 30).
                Some(page) => ListPage {
                    total: page.total,
                    items: page.entries,
                },
                // An older base: the page chosen among every entry's texts, unless it is deep
                // into the listing (choosing it would cost more than sorting everything).
                None if skip.saturating_add(take)
                    <= snapshot.kinds.get(&kind).map_or(0, |k| k.count) / 4 =>
                {
                    by_name(repo, snapshot, kind, skip, take).await?
                }
                None => whole_listing_sliced(repo, snapshot, kind, options, skip, take).await?,
            }
        }
        (Some(needle), false, SortBy::Name) => {
            match repo
                .manifest_search_page_by_name(snapshot, kind, &Needle::new(needle), skip, take)
                .await?
            {
                // The base's name chunks hold every text a search matches.
                Some(page) => ListPage {
                    total: page.total,
                    items: page.entries,
                },
                None => whole_listing_sliced(repo, snapshot, kind, options, skip, take).await?,
            }
        }
        _ => whole_listing_sliced(repo, snapshot, kind, options, skip, take).await?,
    };
    // Where a version is stored is the store's business, not the listing's.
    for e in &mut page.items {
        e.clear_location();
    }
    Ok(page)
}

/// Entries `skip..skip + take` of [`list`].
async fn whole_listing_sliced(
    repo: &Repository,
    snapshot: &Snapshot,
    kind: ObjectKind,
    options: &ListOptions,
    skip: usize,
    take: usize,
) -> Result<ListPage> {
    let all = list(repo, snapshot, kind, options).await?;
    Ok(ListPage {
        total: all.len(),
        items: all.into_iter().skip(skip).take(take).collect(),
    })
}

/// Entries `skip..skip + take` in name order: every entry's texts are offered to a bounded
/// selection of the first `skip + take` (nothing is kept of the others), then only the
/// chosen entries are read.
async fn by_name(
    repo: &Repository,
    snapshot: &Snapshot,
    kind: ObjectKind,
    skip: usize,
    take: usize,
) -> Result<ListPage> {
    let wanted = skip.saturating_add(take);
    let selections: Vec<Mutex<FirstByName>> = (0..SELECTION_SHARDS)
        .map(|_| Mutex::new(FirstByName::new(wanted)))
        .collect();
    let total = AtomicUsize::new(0);
    repo.visit_manifest(snapshot, kind, &|e| {
        total.fetch_add(1, AtomicOrdering::Relaxed);
        if let Some(shard) = selections.get(thread_shard()) {
            shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .offer(e);
        }
    })
    .await?;
    let mut chosen: Vec<NameKey> = selections
        .into_iter()
        .flat_map(|s| {
            s.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .heap
                .into_vec()
        })
        .collect();
    chosen.sort_unstable();
    let ids: Vec<ObjectId> = chosen
        .into_iter()
        .skip(skip)
        .take(take)
        .filter_map(|k| ObjectId::new(&*k.id).ok())
        .collect();
    let mut found: HashMap<ObjectId, ManifestEntry> = repo
        .entries_of(snapshot, kind, &ids)
        .await?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    Ok(ListPage {
        total: total.into_inner(),
        items: ids.iter().filter_map(|id| found.remove(id)).collect(),
    })
}

/// Into how many selections the entries are offered (each behind its own lock, chosen by
/// the offering thread): more than the cores that decode chunks, so that they rarely wait.
const SELECTION_SHARDS: usize = 16;

/// This thread's selection: threads are numbered as they first offer an entry.
fn thread_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, AtomicOrdering::Relaxed) % SELECTION_SHARDS;
    }
    SHARD.with(|s| *s)
}

/// An entry's place in name order: its lower-cased name, then its id (as [`list`] sorts).
#[derive(Debug, PartialEq, Eq)]
struct NameKey {
    name: Box<str>,
    id: Box<str>,
}

impl Ord for NameKey {
    fn cmp(&self, other: &Self) -> Ordering {
        name_order((&self.name, &self.id), (&other.name, &other.id))
    }
}

impl PartialOrd for NameKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The first `wanted` entries in name order among those offered: a max-heap of them, so that
/// an entry after the last kept is turned away without allocating.
struct FirstByName {
    wanted: usize,
    heap: BinaryHeap<NameKey>,
}

impl FirstByName {
    fn new(wanted: usize) -> Self {
        Self {
            wanted,
            heap: BinaryHeap::new(),
        }
    }

    fn offer(&mut self, e: EntryText<'_>) {
        if self.wanted == 0 {
            return;
        }
        let name = e.name.unwrap_or("");
        if self.heap.len() == self.wanted {
            match self.heap.peek() {
                Some(last) if name_order((name, e.id), (&last.name, &last.id)).is_lt() => {
                    self.heap.pop();
                }
                _ => return,
            }
        }
        self.heap.push(NameKey {
            name: name.into(),
            id: e.id.into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dirvault_model::{DirectoryObject, TenantId};
    use proptest::prelude::*;
    use serde_json::json;

    /// Names that tie, differ only in case, reach past sixteen bytes, are not ASCII, or are
    /// absent.
    const NAMES: [Option<&str>; 9] = [
        None,
        Some("bob"),
        Some("Bob"),
        Some("alice smithson"),
        Some("Alexandra Konstantinopoulos"),
        Some("ALEXANDRA KONSTANTINOPOULOS"),
        Some("émile"),
        Some("Zoë"),
        Some(""),
    ];

    fn user(id: u32, name: usize) -> DirectoryObject {
        let mut user =
            json!({"id": format!("u{id}"), "userPrincipalName": format!("u{id}@contoso.com")});
        if let Some(name) = NAMES[name % NAMES.len()] {
            user["displayName"] = json!(name);
        }
        DirectoryObject::from_graph(ObjectKind::Users, user).expect("a user")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// Pages by id and by name, and of searches by name, are the whole listing sliced (a
        /// search's, filtered), and a whole search is the listing filtered, through a chain
        /// of snapshots that create, rename and delete users.
        #[test]
        fn pages_are_the_whole_listing_sliced(
            first in proptest::collection::btree_map(0u32..2_000, 0usize..9, 0..700),
            changes in proptest::collection::vec(
                proptest::collection::vec((0u32..2_000, proptest::option::of(0usize..9)), 0..60),
                1..4,
            ),
            windows in proptest::collection::vec((0usize..800, 0usize..300), 1..6),
        ) {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            runtime.block_on(async {
                let repo = Repository::open("memory://").expect("memory");
                let tenant: TenantId = "contoso".parse().expect("a tenant");
                let mut state = first;
                let mut parent = None;
                let start = chrono::Utc::now();
                for (step, change) in std::iter::once(Vec::new()).chain(changes).enumerate() {
                    for (id, name) in change {
                        match name {
                            Some(name) => state.insert(id, name),
                            None => state.remove(&id),
                        };
                    }
                    let time = start + chrono::Duration::minutes(step as i64);
                    let mut writer = repo.begin(&tenant, time, parent.clone()).await.expect("begin");
                    let users: Vec<_> = state.iter().map(|(id, name)| user(*id, *name)).collect();
                    writer.add_objects(&users).await.expect("users");
                    let (snapshot, _) = writer.commit().await.expect("commit");
                    for sort in [SortBy::Id, SortBy::Name] {
                        let options = ListOptions { sort, ..ListOptions::default() };
                        let all = list(&repo, &snapshot, ObjectKind::Users, &options).await.expect("list");
                        for &(skip, take) in &windows {
                            let page = list_page(&repo, &snapshot, ObjectKind::Users, &options, skip, take)
                                .await
                                .expect("a page");
                            let want: Vec<_> = all.iter().skip(skip).take(take).cloned().collect();
                            prop_assert_eq!(page.total, all.len());
                            prop_assert_eq!(&page.items, &want, "{:?} {}+{}", sort, skip, take);
                            if sort == SortBy::Name {
                                // Searches by name: ids, names and keys, in any case.
                                for needle in ["b", "ALEX", "u1", "ë", "@contoso", "nobody"] {
                                    let search = ListOptions {
                                        search: Some(needle.into()),
                                        ..options.clone()
                                    };
                                    // The truth: the whole listing by name, filtered.
                                    let matcher = Needle::new(needle);
                                    let hits: Vec<ManifestEntry> = all
                                        .iter()
                                        .filter(|e| matcher.matches(e.text()))
                                        .cloned()
                                        .collect();
                                    let listed = list(&repo, &snapshot, ObjectKind::Users, &search)
                                        .await
                                        .expect("a search");
                                    prop_assert_eq!(&listed, &hits, "search {}", needle);
                                    let page = list_page(&repo, &snapshot, ObjectKind::Users, &search, skip, take)
                                        .await
                                        .expect("a page of a search");
                                    let want: Vec<_> = hits.iter().skip(skip).take(take).cloned().collect();
                                    prop_assert_eq!(page.total, hits.len(), "{}", needle);
                                    prop_assert_eq!(&page.items, &want, "search {} {}+{}", needle, skip, take);
                                }
                                // The selection itself, however deep the page.
                                let mut chosen = by_name(&repo, &snapshot, ObjectKind::Users, skip, take)
                                    .await
                                    .expect("a page by name");
                                chosen.items.iter_mut().for_each(ManifestEntry::clear_location);
                                prop_assert_eq!(chosen.total, all.len());
                                prop_assert_eq!(&chosen.items, &want, "by name {}+{}", skip, take);
                            }
                        }
                    }
                    parent = Some(snapshot.id.clone());
                }
                Ok(())
            })?;
        }
    }
}
