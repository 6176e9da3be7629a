//! Counts the requests a repository sends to its object store, by operation: what an MSP pays
//! its S3 provider for (priced per request class: PUT, COPY, POST and LIST in one, GET and HEAD
//! in another) and what sizes a bucket shared by many replicas.
//!
//! A call is one request, except a listing: S3 answers at most 1,000 keys a request
//! (`ListObjectsV2`'s `max-keys` default), so a listing counts one request per 1,000 keys it
//! yields, and at least one. Retries inside `object_store` (after a 5xx or a timeout) are not
//! seen here.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use serde::Serialize;

/// Keys S3 returns per listing request at most (and by default).
const KEYS_PER_LIST_REQUEST: u64 = 1_000;

/// Requests sent to the object store, by operation (see [`crate::Repository::store_requests`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreRequests {
    /// Object reads (whole or a byte range).
    pub get: u64,
    /// Metadata reads.
    pub head: u64,
    /// Writes, conditional ones (leases, key slots) included; a multipart upload counts once.
    pub put: u64,
    /// Listing requests (one per 1,000 keys listed, at least one a listing).
    pub list: u64,
    /// Deletes.
    pub delete: u64,
    /// Server-side copies.
    pub copy: u64,
}

impl StoreRequests {
    /// Every request.
    pub fn total(&self) -> u64 {
        self.get + self.head + self.put + self.list + self.delete + self.copy
    }

    /// The requests sent since `before` was read.
    #[must_use]
    pub fn since(&self, before: &Self) -> Self {
        Self {
            get: self.get.saturating_sub(before.get),
            head: self.head.saturating_sub(before.head),
            put: self.put.saturating_sub(before.put),
            list: self.list.saturating_sub(before.list),
            delete: self.delete.saturating_sub(before.delete),
            copy: self.copy.saturating_sub(before.copy),
        }
    }

    /// Each operation's name and count, for metrics.
    pub fn by_operation(&self) -> [(&'static str, u64); 6] {
        [
            ("get", self.get),
            ("head", self.head),
            ("put", self.put),
            ("list", self.list),
            ("delete", self.delete),
            ("copy", self.copy),
        ]
    }
}

/// The live counters behind [`StoreRequests`].
#[derive(Debug, Default)]
pub(crate) struct RequestCounters {
    get: AtomicU64,
    head: AtomicU64,
    put: AtomicU64,
    list: AtomicU64,
    delete: AtomicU64,
    copy: AtomicU64,
}

impl RequestCounters {
    pub(crate) fn read(&self) -> StoreRequests {
        StoreRequests {
            get: self.get.load(Ordering::Relaxed),
            head: self.head.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
            list: self.list.load(Ordering::Relaxed),
            delete: self.delete.load(Ordering::Relaxed),
            copy: self.copy.load(Ordering::Relaxed),
        }
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Listing requests for a listing that yielded `keys` keys.
fn list_requests(keys: u64) -> u64 {
    keys.div_ceil(KEYS_PER_LIST_REQUEST).max(1)
}

/// An object store that counts what passes through it.
#[derive(Debug)]
pub(crate) struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    counters: Arc<RequestCounters>,
}

impl CountingStore {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, counters: Arc<RequestCounters>) -> Self {
        Self { inner, counters }
    }

    /// Counts a listing's requests as its keys go by: a first request, then one more each time
    /// a page of 1,000 is used up.
    fn count_listing(
        &self,
        listing: BoxStream<'static, Result<ObjectMeta>>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let counters = Arc::clone(&self.counters);
        add(&counters.list, 1);
        listing
            .enumerate()
            .map(move |(n, item)| {
                if n > 0 && (n as u64).is_multiple_of(KEYS_PER_LIST_REQUEST) {
                    add(&counters.list, 1);
                }
                item
            })
            .boxed()
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        add(&self.counters.put, 1);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        add(&self.counters.put, 1);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let counter = if options.head {
            &self.counters.head
        } else {
            &self.counters.get
        };
        add(counter, 1);
        self.inner.get_opts(location, options).await
    }

    async fn get_range(&self, location: &Path, range: Range<u64>) -> Result<Bytes> {
        add(&self.counters.get, 1);
        self.inner.get_range(location, range).await
    }

    async fn head(&self, location: &Path) -> Result<ObjectMeta> {
        add(&self.counters.head, 1);
        self.inner.head(location).await
    }

    async fn delete(&self, location: &Path) -> Result<()> {
        add(&self.counters.delete, 1);
        self.inner.delete(location).await
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.count_listing(self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.count_listing(self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let listed = self.inner.list_with_delimiter(prefix).await;
        let keys = listed
            .as_ref()
            .map_or(0, |l| (l.objects.len() + l.common_prefixes.len()) as u64);
        add(&self.counters.list, list_requests(keys));
        listed
    }

    async fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        add(&self.counters.copy, 1);
        self.inner.copy(from, to).await
    }

    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> Result<()> {
        add(&self.counters.copy, 1);
        self.inner.copy_if_not_exists(from, to).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use futures::TryStreamExt;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn each_operation_is_counted_and_a_listing_by_pages_of_a_thousand() {
        let counters = Arc::new(RequestCounters::default());
        let store = CountingStore::new(Arc::new(InMemory::new()), Arc::clone(&counters));
        for n in 0..2_001 {
            let path = Path::from(format!("p/{n:05}"));
            store
                .put(&path, PutPayload::from_static(b"x"))
                .await
                .unwrap();
        }
        let path = Path::from("p/00000");
        store.get(&path).await.unwrap().bytes().await.unwrap();
        store.get_range(&path, 0..1).await.unwrap();
        store.head(&path).await.unwrap();
        store.copy(&path, &Path::from("q/0")).await.unwrap();
        store.delete(&Path::from("q/0")).await.unwrap();
        let listed: Vec<ObjectMeta> = store
            .list(Some(&Path::from("p")))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(listed.len(), 2_001);
        store
            .list_with_delimiter(Some(&Path::from("q")))
            .await
            .unwrap();
        assert_eq!(
            counters.read(),
            StoreRequests {
                get: 2,
                head: 1,
                put: 2_001,
                // 2,001 keys are three pages; an empty listing is still a request.
                list: 3 + 1,
                delete: 1,
                copy: 1,
            }
        );
        assert_eq!(counters.read().total(), 2_010);
    }
}
