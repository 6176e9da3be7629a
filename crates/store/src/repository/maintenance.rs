//! Keeping a repository sound and small: verify, forget, prune.

use super::*;

impl Repository {
    /// Re-reads and re-hashes everything of a tenant; names what is missing or corrupt.
    ///
    /// # Errors
    /// Store errors that stop the check itself (listing fails).
    pub async fn verify(&self, tenant: &TenantId) -> Result<VerifyReport> {
        let index = match self.store.blob_index(tenant).await {
            Ok(index) => index,
            // Erased on purpose: reported as such, not as thousands of corrupt blobs.
            Err(Error::Erased { since, .. }) => {
                return Ok(VerifyReport {
                    erased: Some(since.unwrap_or_else(|| "an unknown time".into())),
                    ..VerifyReport::default()
                });
            }
            Err(e) => return Err(e),
        };
        let mut report = VerifyReport::default();
        let mut good: HashSet<BlobId> = HashSet::new();
        for pack in self.store.packs(tenant).await? {
            report.packs += 1;
            if !pack.indexed {
                report.problems.push(format!(
                    "pack {} has no index (left by an interrupted write; `prune` removes it)",
                    pack.id
                ));
            }
        }
        for (id, at) in index.iter() {
            match self.store.read_blob_bytes(tenant, &id, &at).await {
                Ok(_) => {
                    good.insert(id);
                }
                Err(e) => report
                    .problems
                    .push(format!("blob {id} in pack {}: {e}", at.pack)),
            }
            report.blobs += 1;
        }
        report
            .problems
            .extend(self.store.record_packs_problems(tenant).await?);
        // Record by record: one that does not check out is reported by name, and the others
        // are still verified.
        let mut snapshots = Vec::new();
        for id in self.store.snapshot_ids(tenant).await? {
            match self.store.read_snapshot(tenant, &id).await {
                Ok(snapshot) => snapshots.push(snapshot),
                Err(e) => {
                    report.snapshots += 1;
                    report.problems.push(format!("snapshot {id}: {e}"));
                }
            }
        }
        for snapshot in snapshots {
            report.snapshots += 1;
            let roots = match self.snapshot_blobs(&snapshot).await {
                Ok(r) => r,
                Err(e) => {
                    report
                        .problems
                        .push(format!("snapshot {}: {e}", snapshot.id));
                    snapshot.root_blobs().cloned().collect()
                }
            };
            for root in &roots {
                if !good.contains(root) {
                    report.problems.push(format!(
                        "snapshot {}: blob {root} is missing or corrupt",
                        snapshot.id
                    ));
                }
            }
            for kind in snapshot.kinds.keys() {
                let entries = match self.manifest(&snapshot, *kind).await {
                    Ok(e) => e,
                    Err(_) => continue,
                };
                for e in entries {
                    if !good.contains(&e.blob) {
                        report.problems.push(format!(
                            "snapshot {}: {kind} {} (blob {}) is missing or corrupt",
                            snapshot.id, e.id, e.blob
                        ));
                    }
                }
            }
        }
        Ok(report)
    }

    /// Deletes the snapshots `policy` does not keep. Data is freed by [`Repository::prune`].
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty policy; store errors.
    pub async fn forget(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<ForgetReport> {
        let snapshots = self.snapshots(tenant).await?;
        let keep = policy.keep(&snapshots, now)?;
        let mut report = ForgetReport::default();
        for s in snapshots {
            if keep.contains(&s.id) {
                report.kept.push(s.id);
            } else {
                self.store.delete_snapshot(tenant, &s.id).await?;
                report.removed.push(s.id);
            }
        }
        Ok(report)
    }

    /// Packs the tenant's snapshot records that no record pack holds yet (all but the newest),
    /// and rewrites the packs that hold forgotten snapshots' records, so that reading the
    /// tenant's snapshots ([`Repository::snapshots`], what a history reads) is a few reads
    /// instead of one a snapshot. A backup's commit does this each new week, and prune
    /// each time; this is for a repository written before record packs (or to do it now).
    ///
    /// # Errors
    /// Store errors. Run it under the tenant's lease.
    pub async fn pack_snapshot_records(
        &self,
        tenant: &TenantId,
    ) -> Result<crate::backend::RecordPacksTidied> {
        self.store.tidy_record_packs(tenant).await
    }

    /// Frees the data no snapshot references: deletes packs with no referenced blob, repacks
    /// packs that are partly referenced, removes packs left without an index; rewrites the
    /// snapshot record packs that hold forgotten snapshots' records and packs the records not
    /// yet packed ([`Repository::pack_snapshot_records`]).
    ///
    /// # Errors
    /// Store errors. Run it under the tenant's lease.
    pub async fn prune(&self, tenant: &TenantId) -> Result<PruneReport> {
        // Refuse before changing anything when this credential may not delete (an append-only
        // backup identity): deleting a pack that never exists is a no-op for a credential that
        // may, and refused to one that may not. Otherwise a repack would be written, and its
        // old pack then fail to be deleted.
        self.store
            .delete_pack(tenant, "never-a-pack-delete-right-probe")
            .await?;
        let index = self.store.blob_index(tenant).await?;
        let mut referenced: HashSet<BlobId> = HashSet::new();
        for snapshot in self.snapshots(tenant).await? {
            referenced.extend(self.snapshot_blobs(&snapshot).await?);
            for kind in snapshot.kinds.keys() {
                referenced.extend(
                    self.manifest(&snapshot, *kind)
                        .await?
                        .into_iter()
                        .map(|e| e.blob),
                );
            }
        }
        let mut by_pack: BTreeMap<Arc<str>, Vec<(BlobId, crate::format::BlobLocation)>> =
            BTreeMap::new();
        for (id, at) in index.iter() {
            by_pack.entry(at.pack.clone()).or_default().push((id, at));
        }
        let mut report = PruneReport::default();
        for pack in self.store.packs(tenant).await? {
            if !pack.indexed {
                self.store.delete_pack(tenant, &pack.id).await?;
                report.packs_deleted += 1;
                report.bytes_freed += pack.size;
                continue;
            }
            let blobs = by_pack.remove(pack.id.as_str()).unwrap_or_default();
            // A group is kept whole while any of its members is referenced (it is compressed
            // and sealed as one).
            let kept_groups: HashSet<u64> = blobs
                .iter()
                .filter(|(id, at)| at.group.is_some() && referenced.contains(id))
                .map(|(_, at)| at.offset)
                .collect();
            let keep: Vec<_> = blobs
                .iter()
                .filter(|(id, at)| match at.group {
                    Some(_) => kept_groups.contains(&at.offset),
                    None => referenced.contains(id),
                })
                .collect();
            if keep.len() == blobs.len() {
                continue;
            }
            if !keep.is_empty() {
                // Write the survivors to a new pack before deleting the old one.
                let moved: Vec<(BlobId, BlobLocation)> =
                    keep.iter().map(|(id, at)| (*id, at.clone())).collect();
                report.blobs_repacked += moved.len() as u64;
                self.store.repack(tenant, &pack.id, &moved).await?;
            }
            self.store.delete_pack(tenant, &pack.id).await?;
            report.packs_deleted += 1;
            report.blobs_removed += (blobs.len() - keep.len()) as u64;
            report.bytes_freed += pack.size;
        }
        let tidied = self.store.tidy_record_packs(tenant).await?;
        report.record_packs_written = tidied.written;
        report.record_packs_deleted = tidied.deleted;
        // Blobs moved or deleted: the cached index is stale.
        // (Even if a thread panicked holding the cache: a stale index must not survive.)
        self.indexes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|(t, _)| t != tenant);
        Ok(report)
    }
}

/// What [`Repository::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Snapshots checked.
    pub snapshots: u64,
    /// Packs listed.
    pub packs: u64,
    /// Blobs re-read and re-hashed.
    pub blobs: u64,
    /// Every problem, naming the snapshot, object, blob or pack.
    pub problems: Vec<String>,
    /// When the tenant's keys were forgotten, if they were: its data is erased, and nothing
    /// else was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erased: Option<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What [`Repository::forget`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ForgetReport {
    /// Kept snapshots.
    pub kept: Vec<SnapshotId>,
    /// Removed snapshots.
    pub removed: Vec<SnapshotId>,
}

/// What [`Repository::prune`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneReport {
    /// Packs deleted.
    pub packs_deleted: u64,
    /// Blobs no snapshot referenced.
    pub blobs_removed: u64,
    /// Referenced blobs moved out of partly-used packs.
    pub blobs_repacked: u64,
    /// Bytes of deleted packs.
    pub bytes_freed: u64,
    /// Snapshot record packs written: records packed, or a pack's live records written anew
    /// without forgotten snapshots' ones.
    pub record_packs_written: u64,
    /// Snapshot record packs deleted (they held forgotten snapshots' records).
    pub record_packs_deleted: u64,
}
