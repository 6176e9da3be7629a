//! Which blobs a tenant's repository holds, and where: held compactly, because a large tenant
//! has millions of blobs and a backup holds the index for its whole run (3.06M blobs at L1M).
//!
//! A [`BlobLocation`] is 80 bytes with its 32-byte id and its own reference to the pack's name;
//! here a location is 32 bytes that name the pack by its number, and a short id (a keyed
//! tenant's 128-bit ids, the last 16 bytes zero: see [`BlobId`]) is keyed on its 16 bytes. An
//! entry of a keyed tenant is 48 bytes instead of 80.

use std::collections::HashMap;
use std::sync::Arc;

use crate::format::{BlobId, BlobLocation, InGroup};

/// Which blobs a tenant's repository holds, and where. When a blob is in two packs (a pack
/// rewritten by `prune` before the old one is deleted), the location inserted last is kept.
#[derive(Debug, Clone, Default)]
pub struct BlobIndex {
    packs: Vec<Arc<str>>,
    pack_numbers: HashMap<Arc<str>, u32>,
    short: HashMap<ShortId, Spot>,
    long: HashMap<BlobId, Spot>,
}

/// The first 16 bytes of a short id (the rest are zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ShortId([u8; 16]);

impl std::hash::Hash for ShortId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `BlobId` hashes: a keyed hash is uniform already.
        crate::format::hash_head(&self.0, state);
    }
}

impl ShortId {
    fn of(id: &BlobId) -> Option<Self> {
        id.significant().try_into().ok().map(Self)
    }

    fn id(self) -> BlobId {
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(&self.0);
        BlobId::short_from_bytes(bytes)
    }
}

/// A location with its pack as a number in [`BlobIndex::packs`].
#[derive(Debug, Clone, Copy)]
struct Spot {
    offset: u64,
    length: u64,
    pack: u32,
    group_start: u32,
    group_length: u32,
    grouped: bool,
}

impl BlobIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many blobs.
    pub fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    /// Whether it has no blob.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the blob is in the repository.
    pub fn contains_key(&self, id: &BlobId) -> bool {
        self.spot(id).is_some()
    }

    /// Where the blob is.
    pub fn get(&self, id: &BlobId) -> Option<BlobLocation> {
        self.spot(id).map(|spot| self.location(spot))
    }

    /// Adds (or moves) a blob.
    pub fn insert(&mut self, id: BlobId, at: BlobLocation) {
        let spot = self.spot_of(at);
        match ShortId::of(&id) {
            Some(short) => self.short.insert(short, spot),
            None => self.long.insert(id, spot),
        };
    }

    /// Every blob and where it is, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (BlobId, BlobLocation)> + '_ {
        let short = self.short.iter().map(|(id, spot)| (id.id(), *spot));
        let long = self.long.iter().map(|(id, spot)| (*id, *spot));
        short
            .chain(long)
            .map(|(id, spot)| (id, self.location(&spot)))
    }

    fn spot(&self, id: &BlobId) -> Option<&Spot> {
        match ShortId::of(id) {
            Some(short) => self.short.get(&short),
            None => self.long.get(id),
        }
    }

    fn location(&self, spot: &Spot) -> BlobLocation {
        BlobLocation {
            pack: self.packs[spot.pack as usize].clone(),
            offset: spot.offset,
            length: spot.length,
            group: spot.grouped.then_some(InGroup {
                start: spot.group_start,
                length: spot.group_length,
            }),
        }
    }

    fn spot_of(&mut self, at: BlobLocation) -> Spot {
        let pack = match self.pack_numbers.get(&at.pack) {
            Some(n) => *n,
            None => {
                // More than 4 billion packs in one tenant cannot be listed, let alone held.
                let n = u32::try_from(self.packs.len()).unwrap_or(u32::MAX);
                self.packs.push(at.pack.clone());
                self.pack_numbers.insert(at.pack, n);
                n
            }
        };
        let group = at.group.unwrap_or(InGroup {
            start: 0,
            length: 0,
        });
        Spot {
            offset: at.offset,
            length: at.length,
            pack,
            group_start: group.start,
            group_length: group.length,
            grouped: at.group.is_some(),
        }
    }
}

impl Extend<(BlobId, BlobLocation)> for BlobIndex {
    fn extend<T: IntoIterator<Item = (BlobId, BlobLocation)>>(&mut self, iter: T) {
        for (id, at) in iter {
            self.insert(id, at);
        }
    }
}

impl FromIterator<(BlobId, BlobLocation)> for BlobIndex {
    fn from_iter<T: IntoIterator<Item = (BlobId, BlobLocation)>>(iter: T) -> Self {
        let mut index = Self::new();
        index.extend(iter);
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn location(pack: u8, offset: u64, length: u64, group: Option<(u32, u32)>) -> BlobLocation {
        BlobLocation {
            pack: format!("pack{pack}").into(),
            offset,
            length,
            group: group.map(|(start, length)| InGroup { start, length }),
        }
    }

    fn id(bytes: [u8; 32]) -> BlobId {
        BlobId::from_bytes(bytes)
    }

    proptest! {
        /// The same answers as a `HashMap<BlobId, BlobLocation>`, short and long ids mixed,
        /// blobs moved between packs, extreme offsets and groups included.
        #[test]
        fn answers_as_a_map_would(
            ops in prop::collection::vec(
                (any::<[u8; 16]>(), any::<bool>(), 0u8..4, any::<u64>(), any::<u64>(),
                 prop::option::of((any::<u32>(), any::<u32>()))),
                0..200,
            ),
        ) {
            let mut index = BlobIndex::new();
            let mut model: HashMap<BlobId, BlobLocation> = HashMap::new();
            for (head, short, pack, offset, length, group) in ops {
                let mut bytes = [0u8; 32];
                bytes[..16].copy_from_slice(&head);
                if !short {
                    bytes[31] = 1;
                }
                let (id, at) = (id(bytes), location(pack, offset, length, group));
                index.insert(id, at.clone());
                model.insert(id, at);
            }
            prop_assert_eq!(index.len(), model.len());
            for (id, at) in &model {
                prop_assert!(index.contains_key(id));
                prop_assert_eq!(index.get(id), Some(at.clone()));
            }
            let all: HashMap<BlobId, BlobLocation> = index.iter().collect();
            prop_assert_eq!(all, model);
        }
    }

    #[test]
    fn a_short_id_and_a_long_one_with_the_same_head_are_two_blobs() {
        let short = id([7; 16]
            .iter()
            .chain(&[0; 16])
            .copied()
            .collect::<Vec<_>>()
            .try_into()
            .unwrap());
        let long = id([7; 32]);
        let mut index = BlobIndex::new();
        index.insert(short, location(1, 1, 1, None));
        assert!(!index.contains_key(&long));
        index.insert(long, location(2, 2, 2, Some((0, 2))));
        assert_eq!(index.len(), 2);
        assert_eq!(index.get(&short).unwrap().offset, 1);
        assert_eq!(
            index.get(&long).unwrap().group,
            Some(InGroup {
                start: 0,
                length: 2
            })
        );
        assert!(index.get(&id([9; 32])).is_none());
    }

    #[test]
    fn a_pack_is_named_once() {
        let index: BlobIndex = (0u8..100)
            .map(|i| {
                let mut bytes = [0u8; 32];
                bytes[0] = i;
                (id(bytes), location(0, u64::from(i), 1, None))
            })
            .collect();
        assert_eq!(index.packs.len(), 1);
        assert!(
            index
                .iter()
                .all(|(_, at)| Arc::ptr_eq(&at.pack, &index.packs[0]))
        );
    }
}
