//! Chains of changesets over a base (overlays): what a snapshot changed since its base, how
//! two snapshots are compared without reading what they share, and when a chain is rebased.

use super::*;

/// A chain of changesets composed ([`Repository::manifest_overlay`]): the state of each object
/// it names, `None` for deleted.
pub(crate) type Overlay = BTreeMap<dirvault_model::ObjectId, Option<ManifestEntry>>;

/// Entries in id order with an overlay applied: objects it names take its state.
pub(super) fn apply_overlay(base: Vec<ManifestEntry>, overlay: Overlay) -> Vec<ManifestEntry> {
    let mut out = Vec::with_capacity(base.len() + overlay.len());
    let mut overlay = overlay.into_iter().peekable();
    for entry in base {
        while let Some((id, _)) = overlay.peek()
            && *id < entry.id
        {
            if let Some((_, Some(e))) = overlay.next() {
                out.push(e);
            }
        }
        match overlay.peek() {
            Some((id, _)) if *id == entry.id => {
                if let Some((_, Some(e))) = overlay.next() {
                    out.push(e);
                }
            }
            _ => out.push(entry),
        }
    }
    out.extend(overlay.filter_map(|(_, e)| e));
    out
}

/// The manifest entries of a kind in two snapshots (of two repositories, e.g. a backup and
/// the live tenant read into memory) that may differ, leaving out what both certainly share:
/// a chunk's blob id is its content, so a chunk both bases hold has the same entries on both
/// sides unless an overlay names one of them. Diffing two large snapshots reads only the
/// chunks that differ, those holding objects either chain names, and the chains.
///
/// # Errors
/// Missing or corrupt blobs.
pub async fn differing_entries(
    (old_repo, old): (&Repository, &Snapshot),
    (new_repo, new): (&Repository, &Snapshot),
    kind: ObjectKind,
) -> Result<(Vec<ManifestEntry>, Vec<ManifestEntry>)> {
    let (Some(a), Some(b)) = (old.kinds.get(&kind), new.kinds.get(&kind)) else {
        return Ok((
            old_repo.manifest(old, kind).await?,
            new_repo.manifest(new, kind).await?,
        ));
    };
    if a.same_manifest(b) {
        return Ok((Vec::new(), Vec::new()));
    }
    if a.index.is_some() && a.index == b.index {
        return differing_on_one_base((old_repo, old, a), (new_repo, new, b)).await;
    }
    let a_chunks = old_repo.manifest_chunks(&old.tenant, a).await?;
    let b_chunks = new_repo.manifest_chunks(&new.tenant, b).await?;
    let a_overlay = old_repo.manifest_overlay(&old.tenant, a).await?;
    let b_overlay = new_repo.manifest_overlay(&new.tenant, b).await?;
    let (a_wanted, b_wanted) = {
        let named: BTreeSet<&dirvault_model::ObjectId> =
            a_overlay.keys().chain(b_overlay.keys()).collect();
        let a_ids: HashSet<BlobId> = a_chunks.iter().map(|c| c.blob).collect();
        let b_ids: HashSet<BlobId> = b_chunks.iter().map(|c| c.blob).collect();
        (
            chunks_to_compare(&a_chunks, &b_ids, &named),
            chunks_to_compare(&b_chunks, &a_ids, &named),
        )
    };
    let before = old_repo.chunk_entries(&old.tenant, &a_wanted).await?;
    let after = new_repo.chunk_entries(&new.tenant, &b_wanted).await?;
    Ok((
        apply_overlay(before, a_overlay),
        apply_overlay(after, b_overlay),
    ))
}

/// [`differing_entries`] of two records on the same base (two snapshots of one chain, e.g.
/// consecutive ones): only objects a chain names can differ. An object both chains name is
/// compared as they say; only for an object one chain names is the base read, and only the
/// chunks that would hold such objects.
pub(super) async fn differing_on_one_base(
    (repo, old, a): (&Repository, &Snapshot, &KindRecord),
    (new_repo, new, b): (&Repository, &Snapshot, &KindRecord),
) -> Result<(Vec<ManifestEntry>, Vec<ManifestEntry>)> {
    let tenant = &old.tenant;
    let a_overlay = repo.manifest_overlay(tenant, a).await?;
    let b_overlay = new_repo.manifest_overlay(&new.tenant, b).await?;
    let (wanted, one_sided) = {
        let one_sided: BTreeSet<&dirvault_model::ObjectId> = a_overlay
            .keys()
            .filter(|id| !b_overlay.contains_key(*id))
            .chain(b_overlay.keys().filter(|id| !a_overlay.contains_key(*id)))
            .collect();
        let chunks = repo.manifest_chunks(tenant, a).await?;
        let all: HashSet<BlobId> = chunks.iter().map(|c| c.blob).collect();
        let wanted = chunks_to_compare(&chunks, &all, &one_sided);
        let one_sided: HashSet<dirvault_model::ObjectId> = one_sided.into_iter().cloned().collect();
        (wanted, one_sided)
    };
    let base: HashMap<dirvault_model::ObjectId, ManifestEntry> = repo
        .chunk_entries(tenant, &wanted)
        .await?
        .into_iter()
        .filter(|e| one_sided.contains(&e.id))
        .map(|e| (e.id.clone(), e))
        .collect();
    let state = |overlay: &Overlay, id: &dirvault_model::ObjectId| match overlay.get(id) {
        Some(state) => state.clone(),
        None => base.get(id).cloned(),
    };
    let named: BTreeSet<&dirvault_model::ObjectId> =
        a_overlay.keys().chain(b_overlay.keys()).collect();
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for id in named {
        let (old, new) = (state(&a_overlay, id), state(&b_overlay, id));
        if old.as_ref().map(|e| e.blob) != new.as_ref().map(|e| e.blob) {
            before.extend(old);
            after.extend(new);
        }
    }
    Ok((before, after))
}

/// The chunks of one side to compare: those the other side does not share, and those that
/// would hold an object an overlay names (all of them when chunks have no first ids).
pub(super) fn chunks_to_compare(
    chunks: &[ChunkRef],
    other: &HashSet<BlobId>,
    named: &BTreeSet<&dirvault_model::ObjectId>,
) -> Vec<ChunkRef> {
    let mut wanted: Vec<bool> = chunks.iter().map(|c| !other.contains(&c.blob)).collect();
    if !named.is_empty() {
        if chunks.iter().any(|c| c.first.is_empty()) {
            wanted.fill(true);
        }
        for id in named {
            let at = chunks.partition_point(|c| c.first.as_str() <= id.as_str());
            if let Some(w) = at.checked_sub(1).and_then(|i| wanted.get_mut(i)) {
                *w = true;
            }
        }
    }
    chunks
        .iter()
        .zip(wanted)
        .filter(|(_, w)| *w)
        .map(|(c, _)| c.clone())
        .collect()
}

/// Chains of changesets are rebased (a new index written over new chunks) when they reach
/// this many links, so that reading a snapshot applies a bounded number of them...
pub(super) const MAX_CHAIN: usize = 32;

/// ...or when what they change since their base passes 1/`OVERLAY_DIVISOR` of the kind's
/// entries (or of the links), so that an overlay stays small beside its base.
pub(super) const OVERLAY_DIVISOR: usize = 8;

/// The changes since the parent, from those since the base and the parent's overlay on that
/// base: an object the overlay names was as the overlay says; any other was as in the base,
/// so it changed since the parent exactly when it changed since the base.
pub(super) fn entries_since_parent(
    since_base: &ChangesetFile,
    parent: &Overlay,
    list: &[ManifestEntry],
) -> ChangesetFile {
    let ours = |id: &dirvault_model::ObjectId| {
        list.binary_search_by(|e| e.id.cmp(id))
            .ok()
            .map(|i| &list[i])
    };
    let mut out = ChangesetFile::default();
    for (id, before) in parent {
        match (before, ours(id)) {
            (None, Some(now)) => out.created.push(now.clone()),
            (Some(before), Some(now)) if before.blob != now.blob => out.modified.push(now.clone()),
            (Some(before), None) => out.deleted.push(before.clone()),
            _ => {}
        }
    }
    let not_named = |e: &&ManifestEntry| !parent.contains_key(&e.id);
    out.created
        .extend(since_base.created.iter().filter(not_named).cloned());
    out.modified
        .extend(since_base.modified.iter().filter(not_named).cloned());
    out.deleted
        .extend(since_base.deleted.iter().filter(not_named).cloned());
    for list in [&mut out.created, &mut out.modified, &mut out.deleted] {
        list.sort_by(|a, b| a.id.cmp(&b.id));
    }
    out
}

/// [`entries_since_parent`] for relationships (`ours` in order).
pub(super) fn relationships_since_parent(
    since_base: &crate::format::RelationshipChangesFile,
    parent: &BTreeMap<Relationship, bool>,
    ours: &crate::SortedRelationships,
) -> crate::format::RelationshipChangesFile {
    let mut out = crate::format::RelationshipChangesFile::default();
    for (r, was) in parent {
        match (was, ours.contains(r)) {
            (false, true) => out.added.push(r.clone()),
            (true, false) => out.removed.push(r.clone()),
            _ => {}
        }
    }
    let not_named = |r: &&Relationship| !parent.contains_key(*r);
    out.added
        .extend(since_base.added.iter().filter(not_named).cloned());
    out.removed
        .extend(since_base.removed.iter().filter(not_named).cloned());
    out.added.sort();
    out.removed.sort();
    out
}

/// How a manifest (or the relationships) is stored in a new snapshot.
pub(super) enum Layout {
    /// New chunks (written) under a new index, with the kind's name chunks (none for
    /// relationships).
    Base {
        chunks: Vec<ChunkRef>,
        by_name: Vec<ChunkRef>,
        /// The name chunks' filters.
        name_filters: Option<BlobId>,
    },
    /// The parent's base index with a chain: the parent's links, then this snapshot's
    /// changes since the parent when it has any. No chain at all when this snapshot is back
    /// at its base (`at_base`).
    Chain {
        index: BlobId,
        index_at: Option<BlobLocation>,
        links: Vec<ChainLink>,
        at_base: bool,
    },
}

impl Layout {
    /// The parent's base (`index` with its chain `links`) kept, unless the chain has
    /// [`MAX_CHAIN`] links or the `changed` entries (or links) since the base pass
    /// 1/[`OVERLAY_DIVISOR`] of the `count`: `None` means write a new base.
    pub(super) fn on_base(
        index: Option<BlobId>,
        index_at: Option<BlobLocation>,
        links: Vec<ChainLink>,
        changed: usize,
        count: usize,
    ) -> Option<Layout> {
        let rebase = links.len() >= MAX_CHAIN || changed * OVERLAY_DIVISOR > count;
        (!rebase).then_some(Layout::Chain {
            index: index?,
            index_at,
            links,
            at_base: changed == 0,
        })
    }
}
