//! A snapshot's relationships in their order, held compactly until they are written.
//!
//! A tenant of a million users has about ten million memberships. As [`Relationship`] values
//! (48 bytes each: a kind, two shared ids and a pointer to details) they were about 530 MB
//! of an L1M backup's commit, on top of the run's own set of links. Here every id is held once,
//! in text order, and a plain link is 12 bytes naming its ends by place in that list (so links
//! sort as integers in the order their values sort in); relationships with details (role and
//! app role assignments, grants: few) are kept whole. Values are made a chunk at a time, as
//! the writer encodes and compares them.

use std::cmp::Ordering;
use std::ops::Range;

use dirvault_model::{ObjectId, Relationship, RelationshipKind};
use rayon::slice::ParallelSliceMut;

/// A plain link: its kind and its two ends, as places in [`SortedRelationships::ids`].
type Link = (RelationshipKind, u32, u32);

/// Relationships sorted as a `BTreeSet<Relationship>` would list them, each once, held
/// compactly (see the module's documentation).
#[derive(Clone, Debug, Default)]
pub struct SortedRelationships {
    /// Every id a plain link names, once, in text order.
    ids: Vec<ObjectId>,
    /// The plain links, sorted (by kind, then ends in text order), each once.
    links: Vec<Link>,
    /// The relationships with details, sorted, each once.
    detailed: Vec<Relationship>,
    /// Where each of `detailed` stands among all the relationships (ascending).
    detailed_at: Vec<usize>,
}

impl SortedRelationships {
    /// Plain links naming `ids` by position (an id may appear more than once; a position past
    /// the end is left out), and relationships with details, in any order and with repeats.
    #[must_use]
    pub fn from_links(
        ids: Vec<ObjectId>,
        links: impl IntoIterator<Item = (RelationshipKind, u32, u32)>,
        detailed: impl IntoIterator<Item = Relationship>,
    ) -> Self {
        // Each id's rank in text order (equal texts share one), so that links sort as integers.
        let mut order: Vec<u32> = (0..u32::try_from(ids.len()).unwrap_or(u32::MAX)).collect();
        order.par_sort_unstable_by(|a, b| ids[*a as usize].cmp(&ids[*b as usize]));
        let mut rank = vec![0u32; order.len()];
        let mut sorted_ids: Vec<ObjectId> = Vec::with_capacity(order.len());
        for p in order {
            let id = &ids[p as usize];
            if sorted_ids.last() != Some(id) {
                sorted_ids.push(id.clone());
            }
            rank[p as usize] = u32::try_from(sorted_ids.len() - 1).unwrap_or(u32::MAX);
        }
        drop(ids);
        let mut links: Vec<Link> = links
            .into_iter()
            .filter_map(|(kind, s, t)| Some((kind, *rank.get(s as usize)?, *rank.get(t as usize)?)))
            .collect();
        drop(rank);
        links.par_sort_unstable();
        links.dedup();
        let mut detailed: Vec<Relationship> = detailed.into_iter().collect();
        detailed.par_sort_unstable();
        detailed.dedup();
        let mut out = Self {
            ids: sorted_ids,
            links,
            detailed,
            detailed_at: Vec::new(),
        };
        out.detailed_at = out
            .detailed
            .iter()
            .enumerate()
            .map(|(j, d)| j + out.links.partition_point(|l| out.cmp_link(l, d).is_lt()))
            .collect();
        out
    }

    /// Relationships in any order and with repeats.
    #[must_use]
    pub fn from_relationships(relationships: impl IntoIterator<Item = Relationship>) -> Self {
        let mut ids = Vec::new();
        let mut links = Vec::new();
        let mut detailed = Vec::new();
        for r in relationships {
            if r.is_plain() {
                let at = u32::try_from(ids.len()).unwrap_or(u32::MAX);
                links.push((r.kind, at, at.saturating_add(1)));
                ids.push(r.source);
                ids.push(r.target);
            } else {
                detailed.push(r);
            }
        }
        Self::from_links(ids, links, detailed)
    }

    /// How many relationships there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.links.len() + self.detailed.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The relationship at `i` in their order, as a value.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<Relationship> {
        match self.detailed_at.binary_search(&i) {
            Ok(j) => self.detailed.get(j).cloned(),
            Err(before) => {
                let (kind, s, t) = *self.links.get(i.checked_sub(before)?)?;
                Some(Relationship::link(
                    kind,
                    self.ids[s as usize].clone(),
                    self.ids[t as usize].clone(),
                ))
            }
        }
    }

    /// The relationships in `range` (as far as there are), as values.
    #[must_use]
    pub fn values(&self, range: Range<usize>) -> Vec<Relationship> {
        range.map_while(|i| self.get(i)).collect()
    }

    /// Every relationship in order, as values made one at a time.
    pub fn iter(&self) -> impl Iterator<Item = Relationship> + '_ {
        (0..self.len()).map_while(|i| self.get(i))
    }

    /// Whether `r` is here.
    #[must_use]
    pub fn contains(&self, r: &Relationship) -> bool {
        if !r.is_plain() {
            return self.detailed.binary_search(r).is_ok();
        }
        let rank = |id: &ObjectId| {
            self.ids
                .binary_search(id)
                .ok()
                .and_then(|p| u32::try_from(p).ok())
        };
        match (rank(&r.source), rank(&r.target)) {
            (Some(s), Some(t)) => self.links.binary_search(&(r.kind, s, t)).is_ok(),
            _ => false,
        }
    }

    /// How a plain link compares with a relationship with details (a plain link comes before
    /// one with details between the same ends, as `Relationship`'s order has it).
    fn cmp_link(&self, (kind, s, t): &Link, d: &Relationship) -> Ordering {
        kind.cmp(&d.kind)
            .then_with(|| self.ids[*s as usize].cmp(&d.source))
            .then_with(|| self.ids[*t as usize].cmp(&d.target))
            .then(Ordering::Less)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dirvault_model::RelationshipDetails;
    use proptest::prelude::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::new(format!("id-{:02}", n % 7)).unwrap()
    }

    fn kind(k: u8) -> RelationshipKind {
        [
            RelationshipKind::GroupMember,
            RelationshipKind::UserManager,
            RelationshipKind::RoleAssignment,
        ][usize::from(k % 3)]
    }

    fn relationship((k, s, t, d): (u8, u8, u8, Option<u8>)) -> Relationship {
        match d {
            None => Relationship::link(kind(k), id(s), id(t)),
            Some(d) => Relationship::with_details(
                kind(k),
                id(s),
                id(t),
                RelationshipDetails {
                    directory_scope_id: Some(format!("/{}", d % 3)),
                    ..RelationshipDetails::default()
                },
            ),
        }
    }

    proptest! {
        /// Held compactly, relationships list, count and are found as a sorted, deduplicated
        /// list of values would have them.
        #[test]
        fn holds_what_a_sorted_list_of_values_would(
            items in proptest::collection::vec(
                (any::<u8>(), any::<u8>(), any::<u8>(), proptest::option::of(any::<u8>())),
                0..60,
            ),
            probes in proptest::collection::vec(
                (any::<u8>(), any::<u8>(), any::<u8>(), proptest::option::of(any::<u8>())),
                0..20,
            ),
        ) {
            let values: Vec<Relationship> = items.iter().copied().map(relationship).collect();
            let mut expected = values.clone();
            expected.sort();
            expected.dedup();
            let list = SortedRelationships::from_relationships(values);
            prop_assert_eq!(list.len(), expected.len());
            prop_assert_eq!(list.iter().collect::<Vec<_>>(), expected.clone());
            let half = expected.len() / 2;
            prop_assert_eq!(list.values(half..expected.len() + 3), expected[half..].to_vec());
            for probe in probes.into_iter().map(relationship).chain(expected.iter().cloned()) {
                prop_assert_eq!(list.contains(&probe), expected.binary_search(&probe).is_ok());
            }
        }
    }

    #[test]
    fn positions_past_the_ids_are_left_out_not_a_panic() {
        let list = SortedRelationships::from_links(
            vec![id(1), id(2), id(1)],
            [
                (RelationshipKind::GroupMember, 0, 1),
                (RelationshipKind::GroupMember, 2, 1),
                (RelationshipKind::GroupMember, 0, 9),
            ],
            [],
        );
        assert_eq!(
            list.iter().collect::<Vec<_>>(),
            vec![Relationship::link(
                RelationshipKind::GroupMember,
                id(1),
                id(2)
            )]
        );
        assert_eq!(list.get(1), None);
    }
}
