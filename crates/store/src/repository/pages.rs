//! Reading part of a manifest: a page of it in id order, or the entries of some objects,
//! without decoding the chunks that hold none of them. A console showing the first hundred of
//! a million users reads the index, the chain and one or two chunks.

use super::*;

/// A page of a kind's manifest in id order ([`Repository::manifest_page`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManifestPage {
    /// Entries in the whole manifest.
    pub total: usize,
    /// The page's entries, in id order.
    pub entries: Vec<ManifestEntry>,
}

impl Repository {
    /// Entries `skip..skip + take` of a kind's manifest in id order, and how many it holds:
    /// what [`Repository::manifest`] sliced would give. Only the chunks that hold the page
    /// are read (each chunk's entry count is in the manifest's index, and the chain of
    /// changesets says how many it gained or lost).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use dirvault_model::{DirectoryObject, ObjectKind, TenantId};
    /// use dirvault_store::Repository;
    /// use serde_json::json;
    ///
    /// let repo = Repository::open("memory://")?;
    /// let tenant: TenantId = "contoso".parse().unwrap();
    /// let mut writer = repo.begin(&tenant, chrono::Utc::now(), None).await?;
    /// for id in ["u1", "u2", "u3"] {
    ///     let user = json!({"id": id, "displayName": id});
    ///     writer.add_object(&DirectoryObject::from_graph(ObjectKind::Users, user).unwrap()).await?;
    /// }
    /// let (snapshot, _) = writer.commit().await?;
    /// let page = repo.manifest_page(&snapshot, ObjectKind::Users, 1, 10).await?;
    /// assert_eq!(page.total, 3);
    /// let ids: Vec<&str> = page.entries.iter().map(|e| e.id.as_str()).collect();
    /// assert_eq!(ids, ["u2", "u3"]);
    /// # Ok::<(), dirvault_store::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn manifest_page(
        &self,
        snapshot: &Snapshot,
        kind: ObjectKind,
        skip: usize,
        take: usize,
    ) -> Result<ManifestPage> {
        let Some(record) = snapshot.kinds.get(&kind) else {
            return Ok(ManifestPage::default());
        };
        if record.index.is_none() {
            // Nothing to count chunks by: the whole manifest (it is small or empty).
            return Ok(page_of(self.manifest(snapshot, kind).await?, skip, take));
        }
        let chunks = self.manifest_chunks(&snapshot.tenant, record).await?;
        let chain = self.composed_chain(&snapshot.tenant, record).await?;
        if chunks.is_empty() {
            // A base that held nothing (every object deleted at a rebase): the chain's
            // objects are the whole manifest.
            let all = chain.entries().cloned().collect();
            return Ok(page_of(all, skip, take));
        }
        let counts = chunk_counts(&chunks, &chain);
        let total: usize = counts.iter().sum();
        let end = skip.saturating_add(take).min(total);
        if skip >= end {
            return Ok(ManifestPage {
                total,
                entries: Vec::new(),
            });
        }
        // The chunks that hold entries skip..end, and how many entries come before them.
        let (mut first, mut before) = (0, 0);
        while counts.get(first).is_some_and(|&n| before + n <= skip) {
            before += counts.get(first).copied().unwrap_or(0);
            first += 1;
        }
        let mut last = first;
        let mut through = before;
        while last < chunks.len() {
            through += counts.get(last).copied().unwrap_or(0);
            last += 1;
            if through >= end {
                break;
            }
        }
        let held = chunks.get(first..last).unwrap_or_default();
        let base = self
            .chunked_refs(&snapshot.tenant, held, "manifest")
            .await?;
        // The chain's entries that fall in those chunks' id range (before the first chunk's
        // first id counts as the first chunk's).
        let from = (first > 0).then(|| chunks.get(first).map(|c| c.first.as_str()));
        let until = chunks.get(last).map(|c| c.first.as_str());
        let overlay = chain.overlay_between(from.flatten(), until);
        let entries = apply_overlay(base, overlay);
        let entries = entries
            .into_iter()
            .skip(skip - before)
            .take(end - skip)
            .collect();
        Ok(ManifestPage { total, entries })
    }

    /// Calls `visit` once with the texts (id, name, key) of each entry of a kind's manifest,
    /// in no particular order and from any thread, without making entries: what a listing
    /// sorted by name needs to choose its page among a million users.
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn visit_manifest(
        &self,
        snapshot: &Snapshot,
        kind: ObjectKind,
        visit: &(dyn Fn(EntryText<'_>) + Sync),
    ) -> Result<()> {
        // `manifest_matching` offers each entry of the manifest to its filter exactly once
        // (those the chain replaces are left out before): keeping none makes none.
        self.manifest_matching(snapshot, kind, &|e| {
            visit(e);
            false
        })
        .await
        .map(drop)
    }

    /// The entries of `ids` in a kind's manifest, in id order (objects it does not hold are
    /// left out): only the chunks that may hold them are read.
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn entries_of(
        &self,
        snapshot: &Snapshot,
        kind: ObjectKind,
        ids: &[dirvault_model::ObjectId],
    ) -> Result<Vec<ManifestEntry>> {
        let Some(record) = snapshot.kinds.get(&kind) else {
            return Ok(Vec::new());
        };
        let wanted: HashSet<&str> = ids.iter().map(|id| id.as_str()).collect();
        if record.index.is_none() {
            let mut all = self.manifest(snapshot, kind).await?;
            all.retain(|e| wanted.contains(e.id.as_str()));
            return Ok(all);
        }
        let chunks = self.manifest_chunks(&snapshot.tenant, record).await?;
        let chain = self.composed_chain(&snapshot.tenant, record).await?;
        // The chain decides the objects it names; the base's chunks the others.
        let mut held: Vec<usize> = wanted
            .iter()
            .filter(|id| !chain.names(id))
            .filter_map(|id| chunk_of(&chunks, id))
            .collect();
        held.sort_unstable();
        held.dedup();
        let refs: Vec<ChunkRef> = held
            .into_iter()
            .filter_map(|i| chunks.get(i).cloned())
            .collect();
        let decode = |bytes: &[u8]| {
            EntryChunk::decode_matching(bytes, &|e| wanted.contains(e.id) && !chain.names(e.id))
        };
        let base = self
            .chunked_refs_with(&snapshot.tenant, &refs, "manifest", &decode)
            .await?;
        let overlay: Overlay = chain
            .objects()
            .iter()
            .filter(|o| wanted.contains(o.id().as_str()))
            .map(|o| (o.id().clone(), o.state().cloned()))
            .collect();
        Ok(apply_overlay(base, overlay))
    }
}

/// Entries `skip..skip + take` of a whole manifest.
fn page_of(all: Vec<ManifestEntry>, skip: usize, take: usize) -> ManifestPage {
    ManifestPage {
        total: all.len(),
        entries: all.into_iter().skip(skip).take(take).collect(),
    }
}

/// The chunk whose id range holds `id`: the last whose first id is at or before it (ids
/// before the first chunk's are the first chunk's); `None` without chunks.
fn chunk_of(chunks: &[ChunkRef], id: &str) -> Option<usize> {
    if chunks.is_empty() {
        return None;
    }
    Some(
        chunks
            .partition_point(|c| c.first.as_str() <= id)
            .saturating_sub(1),
    )
}

/// How many entries each chunk's id range holds once the chain is applied (`chunks` not
/// empty): its own count,
/// plus the objects the chain left there that the base did not hold, minus those the base held
/// that the chain removed. A chain that contradicts its base (a corrupt one) cannot make a
/// count negative.
fn chunk_counts(chunks: &[ChunkRef], chain: &ComposedChain) -> Vec<usize> {
    let mut counts: Vec<i64> = chunks
        .iter()
        .map(|c| i64::try_from(c.count).unwrap_or(i64::MAX))
        .collect();
    // The overlay is in id order, as the chunks are: one walk over both (the chunk of an id
    // is the last whose first id is at or before it, or the first chunk).
    let mut chunk = 0;
    for object in chain.objects() {
        let id = object.id();
        while chunks
            .get(chunk + 1)
            .is_some_and(|c| c.first.as_str() <= id.as_str())
        {
            chunk += 1;
        }
        let (now, then) = (
            i64::from(object.state().is_some()),
            i64::from(object.base_held),
        );
        if let Some(count) = counts.get_mut(chunk) {
            *count = count.saturating_add(now - then);
        }
    }
    counts
        .into_iter()
        .map(|n| usize::try_from(n).unwrap_or(0))
        .collect()
}

/// A kind's chain of changesets composed ([`Repository::composed_chain`]): each object it
/// names, in id order, with its last state. A sorted vector, not a map: at L1M a chain of nine
/// changesets names 86k users, and a B-tree and a hash set of them were 15 MB more to fault
/// in and fill on every cold page.
pub(crate) struct ComposedChain {
    objects: Vec<ChainObject>,
    /// How many of `objects` the base held.
    base_held: usize,
}

/// One object a chain names.
pub(crate) struct ChainObject {
    /// Its last entry in the chain: its state, or its last version when `deleted`.
    entry: ManifestEntry,
    deleted: bool,
    /// Whether the chain's base held it: its first change in the chain is a modification or
    /// a deletion (a changeset is against its parent, so an object is created only where it
    /// was not).
    pub base_held: bool,
}

impl ChainObject {
    /// The object's id.
    pub(crate) fn id(&self) -> &dirvault_model::ObjectId {
        &self.entry.id
    }

    /// Its state at the end of the chain (`None`: deleted).
    pub(crate) fn state(&self) -> Option<&ManifestEntry> {
        (!self.deleted).then_some(&self.entry)
    }
}

impl ComposedChain {
    /// Each object the chain names, in id order.
    pub(crate) fn objects(&self) -> &[ChainObject] {
        &self.objects
    }

    /// How many objects the chain names that its base held.
    pub(crate) fn base_held(&self) -> usize {
        self.base_held
    }

    /// Whether the chain names object `id` (then it decides the object, not the base).
    pub(crate) fn names(&self, id: &str) -> bool {
        self.objects
            .binary_search_by(|o| o.id().as_str().cmp(id))
            .is_ok()
    }

    /// The entries the chain leaves (not deleted), in id order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &ManifestEntry> {
        self.objects.iter().filter_map(ChainObject::state)
    }

    /// The chain's objects with ids in `from..until` (unbounded where `None`) as an overlay.
    pub(crate) fn overlay_between(&self, from: Option<&str>, until: Option<&str>) -> Overlay {
        let start = from.map_or(0, |from| {
            self.objects.partition_point(|o| o.id().as_str() < from)
        });
        let end = until.map_or(self.objects.len(), |until| {
            self.objects.partition_point(|o| o.id().as_str() < until)
        });
        self.objects
            .get(start..end.max(start))
            .unwrap_or_default()
            .iter()
            .map(|o| (o.id().clone(), o.state().cloned()))
            .collect()
    }

    /// The chain as an overlay (what a backup compares its parent with).
    pub(crate) fn into_overlay(self) -> Overlay {
        self.objects
            .into_iter()
            .map(|o| match o.deleted {
                true => (o.entry.id, None),
                false => (o.entry.id.clone(), Some(o.entry)),
            })
            .collect()
    }
}

/// What a changeset did to an object: its section of the changeset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Created,
    Modified,
    Deleted,
}

impl Change {
    /// The sections of a changeset, in the order they are kept.
    const ALL: [Change; 3] = [Change::Created, Change::Modified, Change::Deleted];
}

/// One object's changes over a chain, as [`ComposedChain::of`] finds them: whether the base
/// held it (its first change is not a creation) and where its last change is (section, and
/// position in that section).
struct Composed {
    base_held: bool,
    last: (usize, usize),
}

impl ComposedChain {
    /// Composes changesets, oldest first. A changeset's sections are each in id order (as
    /// they are written; one that is not is sorted first), so the chain's changes are merged
    /// in (id, place in the chain) order without sorting them, each object's first change
    /// (did the base hold it?) and last change read off, and each entry moved once, in the
    /// order it sits in its section. At L1M nine changesets name 90k users: sorting their
    /// positions, then picking entries all over memory, cost 40–80 ms of every page.
    pub(crate) fn of(chain: Vec<ChangesetFile>) -> Self {
        let by_id = |a: &ManifestEntry, b: &ManifestEntry| a.id.cmp(&b.id);
        // Section `place * 3 + change` holds what changeset `place` did as `change`.
        let sections: Vec<Vec<ManifestEntry>> = chain
            .into_iter()
            .flat_map(|file| [file.created, file.modified, file.deleted])
            .map(|mut section| {
                if !section.is_sorted_by(|a, b| by_id(a, b).is_le()) {
                    section.sort_by(by_id);
                }
                section
            })
            .collect();
        let change_of = |section: usize| Change::ALL.get(section % 3).copied();
        let objects = merged_runs(&sections, |first_section, last_section, position| {
            Composed {
                base_held: change_of(first_section).is_some_and(|c| c != Change::Created),
                last: (last_section, position),
            }
        });
        // Each section's entries taken in order: an object's last change is at a later
        // position in its section than the previous object's.
        let mut taken: Vec<(std::vec::IntoIter<ManifestEntry>, usize)> =
            sections.into_iter().map(|s| (s.into_iter(), 0)).collect();
        let mut composed: Vec<ChainObject> = Vec::with_capacity(objects.len());
        for object in objects {
            let (section, position) = object.last;
            let Some((entries, next)) = taken.get_mut(section) else {
                continue;
            };
            let Some(entry) = position
                .checked_sub(*next)
                .and_then(|skipped| entries.nth(skipped))
            else {
                continue;
            };
            *next = position + 1;
            composed.push(ChainObject {
                entry,
                deleted: change_of(section) == Some(Change::Deleted),
                base_held: object.base_held,
            });
        }
        Self {
            base_held: composed.iter().filter(|o| o.base_held).count(),
            objects: composed,
        }
    }
}

/// Merges sections sorted by id (a k-way merge on a heap of each section's next entry; ties
/// go to the earlier section) and calls `run(first section, last section, last position)`
/// once for each id, in id order.
fn merged_runs<T>(
    sections: &[Vec<ManifestEntry>],
    run: impl Fn(usize, usize, usize) -> T,
) -> Vec<T> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let id_at = |section: usize, position: usize| {
        sections
            .get(section)
            .and_then(|s| s.get(position))
            .map(|e| e.id.as_str())
    };
    let mut heads: BinaryHeap<Reverse<(&str, usize, usize)>> = (0..sections.len())
        .filter_map(|section| id_at(section, 0).map(|id| Reverse((id, section, 0))))
        .collect();
    let mut out = Vec::with_capacity(sections.iter().map(Vec::len).sum());
    // The run being read: its id, first section, and last (section, position).
    let mut current: Option<(&str, usize, (usize, usize))> = None;
    while let Some(Reverse((id, section, position))) = heads.pop() {
        if let Some(next) = id_at(section, position + 1) {
            heads.push(Reverse((next, section, position + 1)));
        }
        current = match current {
            Some((same, first, _)) if same == id => Some((same, first, (section, position))),
            done => {
                if let Some((_, first, (last, at))) = done {
                    out.push(run(first, last, at));
                }
                Some((id, section, (section, position)))
            }
        };
    }
    if let Some((_, first, (last, at))) = current {
        out.push(run(first, last, at));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dirvault_model::ObjectId;
    use proptest::prelude::*;

    /// The composition as the chain defines it: each changeset applied in turn.
    fn applied_in_turn(chain: Vec<ChangesetFile>) -> (Overlay, BTreeSet<ObjectId>) {
        let (mut overlay, mut base_held) = (Overlay::new(), BTreeSet::new());
        for changes in chain {
            for e in changes.modified.iter().chain(&changes.deleted) {
                if !overlay.contains_key(&e.id) {
                    base_held.insert(e.id.clone());
                }
            }
            for e in changes.created.into_iter().chain(changes.modified) {
                overlay.insert(e.id.clone(), Some(e));
            }
            for e in changes.deleted {
                overlay.insert(e.id, None);
            }
        }
        (overlay, base_held)
    }

    proptest! {
        /// Merging every change at once composes what applying each changeset in turn does,
        /// whether the changesets' sections are in id order (as written) or not (a changeset
        /// from elsewhere).
        #[test]
        fn a_chain_composes_as_applied_in_turn(
            chain in proptest::collection::vec(
                (proptest::collection::btree_map(0u32..60, (0u8..3, 0u32..1_000), 0..40), any::<bool>()),
                0..6,
            ),
        ) {
            let files: Vec<ChangesetFile> = chain
                .iter()
                .map(|(changes, reversed)| {
                    let mut file = ChangesetFile::default();
                    for (&id, &(change, version)) in changes {
                        let id = ObjectId::new(format!("u{id}")).expect("an id");
                        let blob = BlobId::of(&serde_json::json!({ "v": version }));
                        let entry = ManifestEntry::new(id, blob, Some(format!("v{version}").into()), None);
                        match change {
                            0 => file.created.push(entry),
                            1 => file.modified.push(entry),
                            _ => file.deleted.push(entry),
                        }
                    }
                    if *reversed {
                        for section in [&mut file.created, &mut file.modified, &mut file.deleted] {
                            section.reverse();
                        }
                    }
                    file
                })
                .collect();
            let (overlay, base_held) = applied_in_turn(files.clone());
            let composed = ComposedChain::of(files);
            let held: BTreeSet<ObjectId> = composed
                .objects()
                .iter()
                .filter(|o| o.base_held)
                .map(|o| o.id().clone())
                .collect();
            prop_assert_eq!(composed.base_held(), held.len());
            prop_assert_eq!(held, base_held);
            prop_assert_eq!(composed.into_overlay(), overlay);
        }
    }
}
