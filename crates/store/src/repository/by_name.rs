//! A page of a kind's manifest in name order, from its base's name chunks and its chain: the
//! first page of a million users by name reads one name chunk, the chain, and the chunks
//! holding the page's own entries — not every entry's texts. A search reads every name
//! chunk (ids, names and keys: what it matches) but no entry beyond its page's.

use dirvault_model::ObjectId;

use super::*;
use crate::format::{NamedId, decode_name_chunk_where, decode_name_filters};
use crate::name_order;
use crate::search::Needle;

impl Repository {
    /// Entries `skip..skip + take` of a kind's manifest in name order ([`crate::name_order`]:
    /// lower-cased names, then ids) and how many it holds — what the manifest sorted by name
    /// and sliced would give. The base's name chunks are read only as far as the page
    /// reaches; the chain's objects are merged in. `Ok(None)` when the kind's base was
    /// written without name chunks (before session 30 of dirvault's development): the caller
    /// chooses the page another way.
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
    /// for (id, name) in [("u1", "Megan"), ("u2", "adele"), ("u3", "Lee")] {
    ///     let user = json!({"id": id, "displayName": name});
    ///     writer.add_object(&DirectoryObject::from_graph(ObjectKind::Users, user).unwrap()).await?;
    /// }
    /// let (snapshot, _) = writer.commit().await?;
    /// let page = repo
    ///     .manifest_page_by_name(&snapshot, ObjectKind::Users, 1, 10)
    ///     .await?
    ///     .expect("written with name chunks");
    /// assert_eq!(page.total, 3);
    /// let names: Vec<_> = page.entries.iter().filter_map(|e| e.name.as_deref()).collect();
    /// assert_eq!(names, ["Lee", "Megan"]);
    /// # Ok::<(), dirvault_store::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Missing or corrupt blobs, or name chunks naming an object the manifest does not hold.
    pub async fn manifest_page_by_name(
        &self,
        snapshot: &Snapshot,
        kind: ObjectKind,
        skip: usize,
        take: usize,
    ) -> Result<Option<ManifestPage>> {
        self.page_by_name(snapshot, kind, None, skip, take).await
    }

    /// Entries `skip..skip + take`, in name order, of those whose texts (id, name, key)
    /// `matches` accepts, and how many it accepts — what
    /// [`manifest_matching`](Self::manifest_matching) sorted by name and sliced would give.
    /// Every name chunk of the base is read (the count needs them), but only the page's own
    /// entries: a search of a million users reads their ids, names and keys, not their
    /// entries. `Ok(None)` when the kind's base was written without name chunks.
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
    /// for (id, name, upn) in [("u1", "Megan", "megan@contoso"), ("u2", "Adele", "adele@fabrikam")] {
    ///     let user = json!({"id": id, "displayName": name, "userPrincipalName": upn});
    ///     writer.add_object(&DirectoryObject::from_graph(ObjectKind::Users, user).unwrap()).await?;
    /// }
    /// let (snapshot, _) = writer.commit().await?;
    /// let in_contoso = |e: dirvault_store::EntryText<'_>| e.key.is_some_and(|k| k.ends_with("@contoso"));
    /// let page = repo
    ///     .manifest_matching_page_by_name(&snapshot, ObjectKind::Users, &in_contoso, 0, 10)
    ///     .await?
    ///     .expect("written with name chunks");
    /// assert_eq!(page.total, 1);
    /// assert_eq!(page.entries[0].name.as_deref(), Some("Megan"));
    /// # Ok::<(), dirvault_store::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Missing or corrupt blobs, or name chunks naming an object the manifest does not hold.
    pub async fn manifest_matching_page_by_name(
        &self,
        snapshot: &Snapshot,
        kind: ObjectKind,
        matches: &(dyn Fn(EntryText<'_>) -> bool + Sync),
        skip: usize,
        take: usize,
    ) -> Result<Option<ManifestPage>> {
        let search = Search {
            matches,
            needle: None,
        };
        self.page_by_name(snapshot, kind, Some(search), skip, take)
            .await
    }

    /// Entries `skip..skip + take`, in name order, of those `needle` matches (their id, name
    /// or key contains it, ignoring case), and how many it matches: what
    /// [`manifest_matching_page_by_name`](Self::manifest_matching_page_by_name) with
    /// [`Needle::matches`] gives, reading only the name chunks whose filters say they may
    /// hold a match (bases written before session 33 have none: every name chunk is read).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use dirvault_model::{DirectoryObject, ObjectKind, TenantId};
    /// use dirvault_store::{Needle, Repository};
    /// use serde_json::json;
    ///
    /// let repo = Repository::open("memory://")?;
    /// let tenant: TenantId = "contoso".parse().unwrap();
    /// let mut writer = repo.begin(&tenant, chrono::Utc::now(), None).await?;
    /// for (id, name, upn) in [("u1", "Megan", "megan@contoso"), ("u2", "Adele", "adele@fabrikam")] {
    ///     let user = json!({"id": id, "displayName": name, "userPrincipalName": upn});
    ///     writer.add_object(&DirectoryObject::from_graph(ObjectKind::Users, user).unwrap()).await?;
    /// }
    /// let (snapshot, _) = writer.commit().await?;
    /// let page = repo
    ///     .manifest_search_page_by_name(&snapshot, ObjectKind::Users, &Needle::new("FABRIKAM"), 0, 10)
    ///     .await?
    ///     .expect("written with name chunks");
    /// assert_eq!(page.total, 1);
    /// assert_eq!(page.entries[0].name.as_deref(), Some("Adele"));
    /// # Ok::<(), dirvault_store::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Missing or corrupt blobs, or name chunks naming an object the manifest does not hold.
    pub async fn manifest_search_page_by_name(
        &self,
        snapshot: &Snapshot,
        kind: ObjectKind,
        needle: &Needle,
        skip: usize,
        take: usize,
    ) -> Result<Option<ManifestPage>> {
        let matches = |e: EntryText<'_>| needle.matches(e);
        let search = Search {
            matches: &matches,
            needle: Some(needle),
        };
        self.page_by_name(snapshot, kind, Some(search), skip, take)
            .await
    }

    /// A page by name of the whole kind, or of what `filter` accepts.
    async fn page_by_name(
        &self,
        snapshot: &Snapshot,
        kind: ObjectKind,
        filter: Option<Search<'_>>,
        skip: usize,
        take: usize,
    ) -> Result<Option<ManifestPage>> {
        let Some(record) = snapshot.kinds.get(&kind) else {
            return Ok(Some(ManifestPage::default()));
        };
        let Some(index_blob) = &record.index else {
            return Ok(None);
        };
        let tenant = &snapshot.tenant;
        let index = self
            .manifest_index(tenant, index_blob, record.index_at.as_ref())
            .await?;
        if index.by_name.is_empty() && !index.chunks.is_empty() {
            return Ok(None);
        }
        let chain = self.composed_chain(tenant, record).await?;
        let from_chain: Vec<&ManifestEntry> = chain
            .entries()
            .filter(|e| filter.as_ref().is_none_or(|f| (f.matches)(e.text())))
            .collect();
        let (total, from_base) = match filter {
            None => {
                let base_count: usize = index.chunks.iter().map(|c| c.count).sum();
                let total = base_count
                    .saturating_sub(chain.base_held())
                    .saturating_add(from_chain.len());
                let wanted = skip.saturating_add(take).min(total);
                let from_base = if skip < wanted {
                    self.first_base_names(tenant, &index.by_name, &chain, wanted)
                        .await?
                } else {
                    Vec::new()
                };
                (total, from_base)
            }
            Some(filter) => {
                let wanted = skip.saturating_add(take);
                let searched = self
                    .chunks_to_search(tenant, index_blob, &index, filter.needle)
                    .await?;
                let (matched, first) = self
                    .matching_base_names(tenant, &searched, &chain, filter.matches, wanted)
                    .await?;
                (matched.saturating_add(from_chain.len()), first)
            }
        };
        let wanted = skip.saturating_add(take).min(total);
        if skip >= wanted {
            return Ok(Some(ManifestPage {
                total,
                entries: Vec::new(),
            }));
        }
        let from_chain = first_in_name_order(from_chain, wanted);
        let page: Vec<Pick<'_>> = merge_by_name(&from_base, &from_chain, wanted)
            .into_iter()
            .skip(skip)
            .collect();
        let ids: Vec<ObjectId> = page
            .iter()
            .filter_map(|p| match p {
                Pick::Base(n) => Some(n.id.clone()),
                Pick::Chain(_) => None,
            })
            .collect();
        let mut found: HashMap<ObjectId, ManifestEntry> = self
            .entries_of(snapshot, kind, &ids)
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        let entries = page
            .into_iter()
            .map(|p| match p {
                Pick::Chain(e) => Ok(e.clone()),
                Pick::Base(n) => found.remove(&n.id).ok_or_else(|| Error::Corrupt {
                    path: format!("manifest index {index_blob}"),
                    reason: format!(
                        "its name chunks list {kind} {}, which its chunks do not hold",
                        n.id
                    ),
                }),
            })
            .collect::<Result<_>>()?;
        Ok(Some(ManifestPage { total, entries }))
    }

    /// The first `wanted` entries of a base's name chunks that the chain does not name (the
    /// chain decides those), in name order: chunks are read a few at a time, as many as
    /// would hold what is still wanted.
    async fn first_base_names(
        &self,
        tenant: &TenantId,
        by_name: &[ChunkRef],
        chain: &ComposedChain,
        wanted: usize,
    ) -> Result<Vec<NamedId>> {
        let mut out: Vec<NamedId> = Vec::new();
        let mut next = 0;
        while out.len() < wanted && next < by_name.len() {
            let still = wanted - out.len();
            let (mut end, mut holds) = (next, 0usize);
            while end < by_name.len() && holds < still {
                holds = holds.saturating_add(by_name.get(end).map_or(0, |c| c.count));
                end += 1;
            }
            let batch = by_name.get(next..end).unwrap_or_default();
            let names = self
                .chunked_refs_with(tenant, batch, "name chunk", &|bytes| {
                    decode_name_chunk_where(bytes, &|_| true)
                })
                .await?;
            out.extend(
                names
                    .into_iter()
                    .filter(|n| !chain.names(n.id.as_str()))
                    .take(still),
            );
            next = end;
        }
        Ok(out)
    }

    /// The name chunks a search for `needle` reads: those whose filters say they may hold a
    /// match (every name chunk without a needle, or when the base has no filters).
    async fn chunks_to_search(
        &self,
        tenant: &TenantId,
        index_blob: &BlobId,
        index: &ManifestIndex,
        needle: Option<&Needle>,
    ) -> Result<Vec<ChunkRef>> {
        let (Some(needle), Some(filters)) = (needle, &index.name_filters) else {
            return Ok(index.by_name.clone());
        };
        let corrupt = |reason: String| Error::Corrupt {
            path: format!(
                "name filters {} of manifest index {index_blob}",
                filters.blob
            ),
            reason,
        };
        let bytes = self
            .blob_bytes_at(tenant, &filters.blob, filters.at.as_ref())
            .await?;
        let filters = decode_name_filters(&bytes).map_err(corrupt)?;
        if filters.len() != index.by_name.len() {
            return Err(corrupt(format!(
                "{} filters for {} name chunks",
                filters.len(),
                index.by_name.len()
            )));
        }
        Ok(index
            .by_name
            .iter()
            .zip(&filters)
            .filter(|(_, f)| f.may_hold(needle))
            .map(|(c, _)| c.clone())
            .collect())
    }

    /// How many entries of a base's name chunks `filter` accepts among those the chain does
    /// not name, and the first `wanted` of them in name order. Every chunk is read, a batch
    /// at a time (a search that matches everything holds one batch's hits, not a million).
    async fn matching_base_names(
        &self,
        tenant: &TenantId,
        by_name: &[ChunkRef],
        chain: &ComposedChain,
        filter: &TextFilter<'_>,
        wanted: usize,
    ) -> Result<(usize, Vec<NamedId>)> {
        let (mut matched, mut first) = (0usize, Vec::new());
        for batch in by_name.chunks(SEARCHED_AT_ONCE) {
            let hits = self
                .chunked_refs_with(tenant, batch, "name chunk", &|bytes| {
                    decode_name_chunk_where(bytes, filter)
                })
                .await?;
            for hit in hits.into_iter().filter(|n| !chain.names(n.id.as_str())) {
                matched += 1;
                if first.len() < wanted {
                    first.push(hit);
                }
            }
        }
        Ok((matched, first))
    }
}

/// Name chunks a search decodes at once (on every core): about 130k entries, enough to keep
/// the cores busy, few enough that a search matching everything holds little.
const SEARCHED_AT_ONCE: usize = 32;

/// What a search keeps of an entry's texts.
type TextFilter<'a> = dyn Fn(EntryText<'_>) -> bool + Sync + 'a;

/// A search in name order: what it keeps, and its needle when it is one (the name filters
/// then rule out chunks).
struct Search<'a> {
    matches: &'a TextFilter<'a>,
    needle: Option<&'a Needle>,
}

/// Where an entry of a page by name comes from.
enum Pick<'a> {
    /// The base (its entry is read from the base's chunks).
    Base(&'a NamedId),
    /// The chain (its entry is at hand).
    Chain(&'a ManifestEntry),
}

fn entry_key(e: &ManifestEntry) -> (&str, &str) {
    (e.name.as_deref().unwrap_or(""), e.id.as_str())
}

fn named_key(n: &NamedId) -> (&str, &str) {
    (n.name.as_deref().unwrap_or(""), n.id.as_str())
}

/// The first `wanted` of `entries` in name order, sorted.
fn first_in_name_order(mut entries: Vec<&ManifestEntry>, wanted: usize) -> Vec<&ManifestEntry> {
    let by_name = |a: &&ManifestEntry, b: &&ManifestEntry| name_order(entry_key(a), entry_key(b));
    if wanted == 0 {
        return Vec::new();
    }
    if entries.len() > wanted {
        entries.select_nth_unstable_by(wanted - 1, by_name);
        entries.truncate(wanted);
    }
    entries.sort_unstable_by(by_name);
    entries
}

/// The first `wanted` of two lists in name order, merged.
fn merge_by_name<'a>(
    base: &'a [NamedId],
    chain: &[&'a ManifestEntry],
    wanted: usize,
) -> Vec<Pick<'a>> {
    let mut out = Vec::with_capacity(wanted.min(base.len() + chain.len()));
    let (mut b, mut c) = (base.iter().peekable(), chain.iter().peekable());
    while out.len() < wanted {
        let base_first = match (b.peek(), c.peek()) {
            (Some(x), Some(y)) => name_order(named_key(x), entry_key(y)).is_lt(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let pick = match base_first {
            true => b.next().map(Pick::Base),
            false => c.next().map(|e| Pick::Chain(e)),
        };
        out.extend(pick);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dirvault_model::DirectoryObject;
    use serde_json::json;

    /// The manifest index (and its blob) of a base of `users` (id, name, job title), written
    /// without a parent for tenant "contoso".
    async fn base_of(repo: &Repository, users: &[(u32, String, &str)]) -> (ManifestIndex, BlobId) {
        let tenant: TenantId = "contoso".parse().expect("a tenant");
        let mut writer = repo
            .begin(&tenant, chrono::Utc::now(), None)
            .await
            .expect("begin");
        let objects: Vec<DirectoryObject> = users
            .iter()
            .map(|(id, name, title)| {
                let user =
                    json!({"id": format!("u{id:05}"), "displayName": name, "jobTitle": title});
                DirectoryObject::from_graph(ObjectKind::Users, user).expect("a user")
            })
            .collect();
        writer.add_objects(&objects).await.expect("users");
        let (snapshot, _) = writer.commit().await.expect("commit");
        let record = snapshot.kinds.get(&ObjectKind::Users).expect("users");
        let index_blob = record.index.expect("an index");
        let index = repo
            .manifest_index(&tenant, &index_blob, record.index_at.as_ref())
            .await
            .expect("the index");
        (index, index_blob)
    }

    /// The name chunks of a base of `users`.
    async fn name_chunks_of(repo: &Repository, users: &[(u32, String, &str)]) -> Vec<BlobId> {
        let (index, _) = base_of(repo, users).await;
        index.by_name.iter().map(|c| c.blob).collect()
    }

    /// A search reads only the name chunks whose filters may hold its needle: one user's
    /// name among 30,000 is looked for in a chunk or two, a needle too short for trigrams or
    /// matching everyone in every chunk.
    #[tokio::test]
    async fn a_search_reads_only_the_name_chunks_that_may_hold_its_needle() {
        let repo = Repository::open("memory://").expect("memory");
        let users: Vec<(u32, String, &str)> = (0..30_000)
            .map(|i| (i, format!("user {:05}", (i * 7_919) % 30_000), "clerk"))
            .collect();
        let (index, index_blob) = base_of(&repo, &users).await;
        let all = index.by_name.len();
        assert!(all >= 3, "{all} name chunks");
        let tenant: TenantId = "contoso".parse().expect("a tenant");
        let searched = |needle: &str| {
            let needle = Needle::new(needle);
            let (repo, tenant, index) = (&repo, &tenant, &index);
            async move {
                repo.chunks_to_search(tenant, &index_blob, index, Some(&needle))
                    .await
                    .expect("filters")
                    .len()
            }
        };
        assert!(searched("USER 12345").await <= 2);
        assert_eq!(searched("qqqzz").await, 0);
        assert_eq!(searched("user").await, all);
        assert_eq!(searched("r ").await, all);
    }

    /// Name chunks are cut by content: a base whose users changed but kept their names and
    /// keys writes the very same name chunks, and one rename rewrites at most the two chunks
    /// it leaves and joins — not every chunk after it.
    #[tokio::test]
    async fn a_base_rewrites_only_the_name_chunks_its_renames_touch() {
        let repo = Repository::open("memory://").expect("memory");
        let mut users: Vec<(u32, String, &str)> = (0..30_000)
            .map(|i| (i, format!("user {:05}", (i * 7_919) % 30_000), "clerk"))
            .collect();
        let before = name_chunks_of(&repo, &users).await;
        assert!(before.len() >= 3, "{} name chunks", before.len());
        users.iter_mut().for_each(|u| u.2 = "manager");
        assert_eq!(name_chunks_of(&repo, &users).await, before);
        if let Some(user) = users.get_mut(12_345) {
            user.1 = "aaron first".into();
        }
        let after = name_chunks_of(&repo, &users).await;
        let new = after.iter().filter(|c| !before.contains(c)).count();
        assert!(new <= 2, "{new} of {} name chunks rewritten", after.len());
    }
}
