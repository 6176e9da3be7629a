//! The links a backup run collects, held compactly until the snapshot is written.
//!
//! A large tenant's relationships are mostly plain links (a million memberships at 100k
//! users), and an incremental run holds all of them: the parent's, with this run's changes
//! applied. As a `BTreeSet<Relationship>` each link took about 75 bytes (two ids of 16 bytes,
//! a pointer, and the tree's nodes), 101 MB of an L100k incremental's 272 MB heap. Here each id
//! is held once and named by a `u32`, so a plain link is 12 bytes in its set; relationships
//! that carry details (role assignments, app role assignments, grants: few) are kept whole.

use std::collections::BTreeSet;
use std::hash::BuildHasher;

use dirvault_model::{ObjectId, Relationship, RelationshipKind};
use dirvault_store::SortedRelationships;

/// A plain link: its kind and its two ends, as indexes into [`LinkSet::ids`].
type PlainLink = (RelationshipKind, u32, u32);

/// A set of relationships whose ids are held once (see the module's documentation).
#[derive(Default)]
pub(super) struct LinkSet {
    /// Every id named so far, once; a link names them by position.
    ids: Vec<ObjectId>,
    /// Positions in `ids`, found by the id's text.
    positions: hashbrown::HashTable<u32>,
    hasher: std::collections::hash_map::RandomState,
    plain: BTreeSet<PlainLink>,
    detailed: BTreeSet<Relationship>,
}

impl LinkSet {
    /// The position of `id`, when it has been named.
    fn position(&self, id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        self.positions
            .find(hash, |p| self.ids[*p as usize].as_str() == id)
            .copied()
    }

    /// The position of `id`, which is added when new.
    fn intern(&mut self, id: ObjectId) -> u32 {
        if let Some(known) = self.position(id.as_str()) {
            return known;
        }
        // More than four billion distinct ids do not fit a machine's memory anyway.
        let position = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        let hash = self.hasher.hash_one(id.as_str());
        self.ids.push(id);
        let (ids, hasher) = (&self.ids, &self.hasher);
        self.positions.insert_unique(hash, position, |p| {
            hasher.hash_one(ids[*p as usize].as_str())
        });
        position
    }

    /// The one shared copy of `id` (a tenant's million memberships name its hundred thousand
    /// users: each id is held once, and the run's lists of ids share it too).
    pub(super) fn share(&mut self, id: ObjectId) -> ObjectId {
        let position = self.intern(id);
        self.ids[position as usize].clone()
    }

    /// [`LinkSet::intern`] for text from Graph; `None` when it is not an id.
    fn intern_text(&mut self, id: &str) -> Option<u32> {
        match self.position(id) {
            Some(known) => Some(known),
            None => ObjectId::new(id).ok().map(|id| self.intern(id)),
        }
    }

    /// [`LinkSet::share`] for text from Graph; `None` when it is not an id.
    pub(super) fn shared_id(&mut self, id: &str) -> Option<ObjectId> {
        let position = self.intern_text(id)?;
        Some(self.ids[position as usize].clone())
    }

    /// Adds a plain link between two ids from Graph; false when an end is not an id.
    pub(super) fn insert_link(
        &mut self,
        kind: RelationshipKind,
        source: &str,
        target: &str,
    ) -> bool {
        let (Some(source), Some(target)) = (self.intern_text(source), self.intern_text(target))
        else {
            return false;
        };
        self.plain.insert((kind, source, target));
        true
    }

    /// Removes a plain link, if it is here.
    pub(super) fn remove_link(&mut self, kind: RelationshipKind, source: &str, target: &str) {
        if let (Some(source), Some(target)) = (self.position(source), self.position(target)) {
            self.plain.remove(&(kind, source, target));
        }
    }

    /// Adds a relationship (a plain link or one with details), its ends shared.
    pub(super) fn insert(&mut self, mut rel: Relationship) {
        if rel.is_plain() {
            let link = (rel.kind, self.intern(rel.source), self.intern(rel.target));
            self.plain.insert(link);
        } else {
            rel.source = self.share(rel.source.clone());
            rel.target = self.share(rel.target.clone());
            self.detailed.insert(rel);
        }
    }

    /// Keeps the relationships for which `keep(kind, source, target)` holds.
    pub(super) fn retain(
        &mut self,
        mut keep: impl FnMut(RelationshipKind, &ObjectId, &ObjectId) -> bool,
    ) {
        let ids = &self.ids;
        self.plain
            .retain(|(kind, s, t)| keep(*kind, &ids[*s as usize], &ids[*t as usize]));
        self.detailed.retain(|r| keep(r.kind, &r.source, &r.target));
    }

    /// Drops every relationship of `kind`.
    pub(super) fn remove_kind(&mut self, kind: RelationshipKind) {
        self.retain(|k, _, _| k != kind);
    }

    /// Takes in another set's relationships (a lane's).
    pub(super) fn append(&mut self, other: LinkSet) {
        if self.plain.is_empty() && self.detailed.is_empty() && self.ids.is_empty() {
            *self = other;
            return;
        }
        let LinkSet {
            ids,
            plain,
            detailed,
            ..
        } = other;
        for (kind, s, t) in plain {
            let link = (
                kind,
                self.intern(ids[s as usize].clone()),
                self.intern(ids[t as usize].clone()),
            );
            self.plain.insert(link);
        }
        for rel in detailed {
            self.insert(rel);
        }
    }

    /// How many relationships there are.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.plain.len() + self.detailed.len()
    }

    /// The relationships in their order (as a `BTreeSet<Relationship>` would list them), each
    /// once, still held compactly: the writer makes values a chunk at a time.
    pub(super) fn into_sorted(self) -> SortedRelationships {
        let LinkSet {
            ids,
            plain,
            detailed,
            ..
        } = self;
        SortedRelationships::from_links(ids, plain, detailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(n: u8) -> String {
        format!("00000000-0000-0000-0000-0000000000{n:02x}")
    }

    fn plain(kind: RelationshipKind, s: u8, t: u8) -> Relationship {
        Relationship::link(kind, id(s).parse().unwrap(), id(t).parse().unwrap())
    }

    #[test]
    fn ids_are_held_once_and_shared() {
        let mut set = LinkSet::default();
        assert!(set.insert_link(RelationshipKind::GroupMember, &id(1), &id(2)));
        assert!(set.insert_link(RelationshipKind::GroupOwner, &id(1), &id(2)));
        assert_eq!(set.ids.len(), 2);
        let shared = set.shared_id(&id(1)).unwrap();
        assert_eq!(shared.as_str(), id(1));
        assert_eq!(set.ids.len(), 2);
        // Text that is no id is refused, and nothing is added.
        assert!(!set.insert_link(RelationshipKind::GroupMember, "a/b", &id(2)));
        assert!(set.shared_id("").is_none());
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn removing_an_unknown_link_changes_nothing() {
        let mut set = LinkSet::default();
        set.insert_link(RelationshipKind::GroupMember, &id(1), &id(2));
        set.remove_link(RelationshipKind::GroupMember, &id(9), &id(2));
        set.remove_link(RelationshipKind::GroupOwner, &id(1), &id(2));
        assert_eq!(set.len(), 1);
        set.remove_link(RelationshipKind::GroupMember, &id(1), &id(2));
        assert_eq!(set.len(), 0);
    }

    #[derive(Debug, Clone)]
    enum Step {
        Insert(u8, u8, u8),
        InsertDetailed(u8, u8, u8),
        Remove(u8, u8, u8),
        DropSource(u8),
        DropKind(u8),
    }

    fn kind(k: u8) -> RelationshipKind {
        RelationshipKind::ALL[k as usize % RelationshipKind::ALL.len()]
    }

    fn detailed(k: u8, s: u8, t: u8) -> Relationship {
        Relationship::with_details(
            kind(k),
            id(s).parse().unwrap(),
            id(t).parse().unwrap(),
            dirvault_model::RelationshipDetails {
                id: Some(format!("assignment-{k}-{s}-{t}").parse().unwrap()),
                ..Default::default()
            },
        )
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u8..4, 0u8..12, 0u8..12).prop_map(|(k, s, t)| Step::Insert(k, s, t)),
            (0u8..4, 0u8..12, 0u8..12).prop_map(|(k, s, t)| Step::InsertDetailed(k, s, t)),
            (0u8..4, 0u8..12, 0u8..12).prop_map(|(k, s, t)| Step::Remove(k, s, t)),
            (0u8..12).prop_map(Step::DropSource),
            (0u8..4).prop_map(Step::DropKind),
        ]
    }

    /// Applies `steps` to a set, or to a half of them each to two sets appended (as lanes
    /// are): either way the result is what a `BTreeSet<Relationship>` would hold.
    fn check(steps: &[Step], split: usize) {
        let mut model: BTreeSet<Relationship> = BTreeSet::new();
        let mut first = LinkSet::default();
        let mut second = LinkSet::default();
        let split = split.min(steps.len());
        for (n, step) in steps.iter().enumerate() {
            // Removals after the split go to the second set only when they concern what it
            // holds: keep the model simple by splitting inserts only.
            let set = if n < split { &mut first } else { &mut second };
            match step {
                Step::Insert(k, s, t) => {
                    set.insert_link(kind(*k), &id(*s), &id(*t));
                    model.insert(plain(kind(*k), *s, *t));
                }
                Step::InsertDetailed(k, s, t) => {
                    set.insert(detailed(*k, *s, *t));
                    model.insert(detailed(*k, *s, *t));
                }
                Step::Remove(k, s, t) if n < split || split == 0 => {
                    set.remove_link(kind(*k), &id(*s), &id(*t));
                    model.remove(&plain(kind(*k), *s, *t));
                }
                Step::DropSource(s) if n < split || split == 0 => {
                    set.retain(|_, source, _| source.as_str() != id(*s));
                    model.retain(|r| r.source.as_str() != id(*s));
                }
                Step::DropKind(k) if n < split || split == 0 => {
                    set.remove_kind(kind(*k));
                    model.retain(|r| r.kind != kind(*k));
                }
                _ => {}
            }
        }
        first.append(second);
        let expected: Vec<Relationship> = model.into_iter().collect();
        assert_eq!(first.into_sorted().iter().collect::<Vec<_>>(), expected);
    }

    proptest! {
        #[test]
        fn holds_what_a_set_of_relationships_would(steps in proptest::collection::vec(step(), 0..80)) {
            check(&steps, 0);
        }

        #[test]
        fn appended_sets_hold_both(steps in proptest::collection::vec(step(), 0..80), split in 0usize..80) {
            check(&steps, split.max(1));
        }
    }
}
