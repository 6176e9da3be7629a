//! Small packs read whole and kept for a while.
//!
//! A backup of a small tenant reads one blob at a time from the previous snapshot (each kind's
//! manifest, changesets, delta state): tens of ranged GETs of a few hundred bytes, many of them
//! from the same one or two packs of some kilobytes (the replicas benchmark measured 93 GETs
//! per tiny tenant per incremental slot). A pack the index shows to be small is fetched whole
//! once instead, and the next reads slice it. Packs are immutable (named by their content), so
//! a kept copy is never stale; a deleted pack is dropped.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::path::Path;

/// A pack whose blobs end within this many bytes is read whole.
pub(super) const SMALL_PACK_BYTES: u64 = 256 * 1024;

/// Bytes of small packs kept (the least recently fetched go first).
const KEPT_BYTES: usize = 16 * 1024 * 1024;

/// Small packs known from blob indexes remembered at most (a large tenant's small packs are
/// few; thousands of tiny tenants each have some).
const KNOWN_PACKS: usize = 200_000;

#[derive(Debug, Default)]
pub(super) struct SmallPacks {
    /// Packs the index showed to be small, by path.
    known: Mutex<HashSet<String>>,
    /// Fetched packs, oldest first, and their total size.
    kept: Mutex<(VecDeque<(String, Bytes)>, usize)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data: still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SmallPacks {
    /// Notes a pack whose blobs end at `extent` (read whole later when small).
    pub(super) fn note(&self, path: &str, extent: u64) {
        if extent > SMALL_PACK_BYTES {
            return;
        }
        let mut known = lock(&self.known);
        if known.len() >= KNOWN_PACKS {
            known.clear();
        }
        known.insert(path.to_owned());
    }

    /// Whether a pack is known to be small.
    pub(super) fn is_small(&self, path: &str) -> bool {
        lock(&self.known).contains(path)
    }

    /// A kept copy of a pack.
    pub(super) fn get(&self, path: &str) -> Option<Bytes> {
        let kept = lock(&self.kept);
        kept.0
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
    }

    /// Keeps a fetched pack, dropping the oldest beyond the budget.
    pub(super) fn keep(&self, path: &str, bytes: Bytes) {
        let mut kept = lock(&self.kept);
        if kept.0.iter().any(|(p, _)| p == path) {
            return;
        }
        kept.1 += bytes.len();
        kept.0.push_back((path.to_owned(), bytes));
        while kept.1 > KEPT_BYTES {
            match kept.0.pop_front() {
                Some((_, old)) => kept.1 -= old.len(),
                None => break,
            }
        }
    }

    /// Byte ranges of a pack in `store`: sliced from the whole pack when the index showed it
    /// small (read once, then kept), ranged reads otherwise (`object_store` coalesces nearby
    /// ones). A range beyond a small pack's end is an error, as a ranged read's is.
    pub(super) async fn ranges(
        &self,
        store: &dyn ObjectStore,
        path: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        if !self.is_small(path.as_ref()) {
            return store.get_ranges(path, ranges).await;
        }
        let pack = match self.get(path.as_ref()) {
            Some(pack) => pack,
            None => {
                let pack = store.get(path).await?.bytes().await?;
                self.keep(path.as_ref(), pack.clone());
                pack
            }
        };
        ranges
            .iter()
            .map(|r| {
                let within = usize::try_from(r.start)
                    .ok()
                    .zip(usize::try_from(r.end).ok());
                match within {
                    Some((start, end)) if start <= end && end <= pack.len() => {
                        Ok(pack.slice(start..end))
                    }
                    _ => Err(object_store::Error::Generic {
                        store: "pack",
                        source: format!(
                            "range {r:?} lies outside pack {path} of {} bytes",
                            pack.len()
                        )
                        .into(),
                    }),
                }
            })
            .collect()
    }

    /// Forgets a deleted pack.
    pub(super) fn forget(&self, path: &str) {
        lock(&self.known).remove(path);
        let mut kept = lock(&self.kept);
        if let Some(at) = kept.0.iter().position(|(p, _)| p == path)
            && let Some((_, old)) = kept.0.remove(at)
        {
            kept.1 -= old.len();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use object_store::PutPayload;
    use object_store::memory::InMemory;

    /// A small pack is read once and sliced; a range the pack does not hold (a corrupt or
    /// hostile index) is an error, never a panic or bytes from elsewhere.
    #[tokio::test]
    async fn small_packs_are_read_once_and_ranges_outside_them_are_errors() {
        let counters = std::sync::Arc::new(super::super::counting::RequestCounters::default());
        let store = super::super::counting::CountingStore::new(
            std::sync::Arc::new(InMemory::new()),
            std::sync::Arc::clone(&counters),
        );
        let packs = SmallPacks::default();
        let path = Path::from("tenants/t/packs/p");
        store
            .put(&path, PutPayload::from_static(b"0123456789"))
            .await
            .unwrap();
        packs.note(path.as_ref(), 10);
        let got = packs.ranges(&store, &path, &[2..4, 8..10]).await.unwrap();
        assert_eq!(got, [Bytes::from_static(b"23"), Bytes::from_static(b"89")]);
        let again = packs
            .ranges(&store, &path, std::slice::from_ref(&(0..1)))
            .await
            .unwrap();
        assert_eq!(again, [Bytes::from_static(b"0")]);
        assert_eq!(counters.read().get, 1, "read whole once, then kept");
        #[allow(clippy::reversed_empty_ranges)] // a hostile index's range
        let hostile = [8..12, 4..2, u64::MAX - 1..u64::MAX];
        for range in hostile {
            let outcome = packs
                .ranges(&store, &path, std::slice::from_ref(&range))
                .await;
            assert!(outcome.is_err(), "{range:?}: {outcome:?}");
        }
    }

    #[test]
    fn only_small_packs_are_known_and_kept_packs_stay_within_budget() {
        let packs = SmallPacks::default();
        packs.note("a", 1_000);
        packs.note("big", SMALL_PACK_BYTES + 1);
        assert!(packs.is_small("a") && !packs.is_small("big"));
        let chunk = Bytes::from(vec![0u8; KEPT_BYTES / 4]);
        for n in 0..6 {
            packs.keep(&format!("p{n}"), chunk.clone());
        }
        // The oldest went to keep four within budget.
        assert!(packs.get("p0").is_none() && packs.get("p1").is_none());
        assert_eq!(packs.get("p5").unwrap().len(), chunk.len());
        packs.forget("p5");
        assert!(packs.get("p5").is_none());
        packs.forget("a");
        assert!(!packs.is_small("a"));
    }
}
