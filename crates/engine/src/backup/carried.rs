//! The parent snapshot's entries of a kind while an incremental round applies its changes.
//!
//! Each changed or deleted object takes its entry out; the rest are carried over unread.
//! The parent's manifest comes sorted by id, so it is kept as it came, found by binary
//! search, with a mark per entry taken out. (A `BTreeMap<String, ManifestEntry>` built from it
//! held a second copy of every id and the tree's nodes: about 30 MB at 100k users, freed
//! again before the commit, which left the allocator's heap larger than the backup needed.)

use dirvault_store::ManifestEntry;

/// The parent's entries not yet taken out (see the module's documentation).
pub(super) struct Carried {
    /// Sorted by id, each id once.
    entries: Vec<ManifestEntry>,
    /// Whether `entries[i]` was taken out.
    taken: Vec<bool>,
    left: usize,
}

impl Carried {
    /// The parent's entries of a kind (sorted here if they are not already).
    pub(super) fn new(mut entries: Vec<ManifestEntry>) -> Carried {
        if !entries.is_sorted_by(|a, b| a.id < b.id) {
            entries.sort_by(|a, b| a.id.cmp(&b.id));
            entries.dedup_by(|a, b| a.id == b.id);
        }
        Carried {
            taken: vec![false; entries.len()],
            left: entries.len(),
            entries,
        }
    }

    fn find(&self, id: &str) -> Option<usize> {
        self.entries
            .binary_search_by(|e| e.id.as_str().cmp(id))
            .ok()
            .filter(|i| !self.taken[*i])
    }

    /// Whether the entry of `id` is still here.
    pub(super) fn contains(&self, id: &str) -> bool {
        self.find(id).is_some()
    }

    /// Takes the entry of `id` out (the object changed or was deleted).
    pub(super) fn remove(&mut self, id: &str) -> Option<ManifestEntry> {
        let i = self.find(id)?;
        self.taken[i] = true;
        self.left -= 1;
        Some(self.entries[i].clone())
    }

    /// Whether every entry was taken out.
    pub(super) fn is_empty(&self) -> bool {
        self.left == 0
    }

    /// The entries still here, in id order.
    pub(super) fn into_left(self) -> impl ExactSizeIterator<Item = ManifestEntry> {
        let Carried {
            entries,
            taken,
            left,
        } = self;
        LeftEntries {
            inner: entries.into_iter().zip(taken),
            left,
        }
    }
}

/// [`Carried::into_left`]'s iterator: its length is known, so that a list it extends grows
/// once.
struct LeftEntries<I> {
    inner: I,
    left: usize,
}

impl<I: Iterator<Item = (ManifestEntry, bool)>> Iterator for LeftEntries<I> {
    type Item = ManifestEntry;

    fn next(&mut self) -> Option<ManifestEntry> {
        let (entry, _) = self.inner.by_ref().find(|(_, taken)| !taken)?;
        self.left -= 1;
        Some(entry)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<I: Iterator<Item = (ManifestEntry, bool)>> ExactSizeIterator for LeftEntries<I> {}

#[cfg(test)]
mod tests {
    use super::*;
    use dirvault_store::BlobId;

    fn entry(n: u8) -> ManifestEntry {
        ManifestEntry::new(
            format!("id-{n:03}").parse().unwrap(),
            BlobId::of_canonical(&[n]),
            None,
            None,
        )
    }

    #[test]
    fn takes_out_once_and_carries_the_rest_in_order() {
        // Out of order and with a repeat: sorted, kept once.
        let mut carried = Carried::new(vec![entry(3), entry(1), entry(2), entry(1)]);
        assert!(carried.contains("id-002"));
        assert_eq!(carried.remove("id-002").unwrap().id.as_str(), "id-002");
        assert!(!carried.contains("id-002"));
        assert!(carried.remove("id-002").is_none());
        assert!(carried.remove("id-009").is_none());
        assert!(!carried.is_empty());
        let left = carried.into_left();
        assert_eq!(left.len(), 2);
        let ids: Vec<String> = left.map(|e| e.id.to_string()).collect();
        assert_eq!(ids, ["id-001", "id-003"]);
    }

    #[test]
    fn empty_once_everything_is_taken() {
        let mut carried = Carried::new(vec![entry(1)]);
        carried.remove("id-001");
        assert!(carried.is_empty());
        assert_eq!(carried.into_left().count(), 0);
        assert!(Carried::new(Vec::new()).is_empty());
    }
}
