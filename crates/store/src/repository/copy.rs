//! Copying a repository into another: how an unencrypted repository becomes an encrypted one
//! (`dirvault repo encrypt`). Never in place: every snapshot is written again into the other
//! repository under its own id, time and parent, with each kind's outcome, delta link and
//! selection, its objects and its relationships — each object's bytes as they are, re-hashed
//! and sealed by the destination (an encrypted repository's content ids are keyed, so no blob
//! can be carried across). An object unchanged since the snapshot copied before is carried as
//! the destination already holds it, so a tenant's history costs its changes, not its
//! snapshots times its objects. Restore plans and journals are copied as they are. A copy that
//! stops can be run again: snapshots the destination holds already are passed over.

use dirvault_model::ObjectId;

use super::*;

/// What [`Repository::copy_into`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyReport {
    /// Tenants copied.
    pub tenants: u64,
    /// Snapshots written into the destination.
    pub snapshots: u64,
    /// Snapshots the destination held already (an earlier, interrupted copy).
    pub already_there: u64,
    /// Object versions read and written again (the others were carried).
    pub objects_written: u64,
    /// Documents (restore plans and journals) copied.
    pub documents: u64,
    /// Tenants not copied because their keys were forgotten: their data is erased.
    pub erased: Vec<String>,
}

/// Where a copy is: the tenant, and how many of its snapshots are done.
#[derive(Debug, Clone, Copy)]
pub struct CopyProgress<'a> {
    /// The tenant being copied.
    pub tenant: &'a TenantId,
    /// Its snapshots copied so far.
    pub done: usize,
    /// Its snapshots in all.
    pub total: usize,
}

/// An object of the snapshot copied last: its blob in the source, and its entry in the
/// destination.
type Copied = HashMap<ObjectId, (BlobId, ManifestEntry)>;

impl Repository {
    /// Copies every tenant's snapshots and documents into `dest` (see the module's docs).
    ///
    /// # Errors
    /// Store errors of either repository ([`Error::SnapshotExists`] never: a snapshot the
    /// destination holds is passed over). A tenant whose keys were forgotten is reported, not
    /// copied.
    pub async fn copy_into(
        &self,
        dest: &Repository,
        progress: &(dyn Fn(CopyProgress<'_>) + Sync),
    ) -> Result<CopyReport> {
        let mut report = CopyReport::default();
        for tenant in self.tenants().await? {
            let snapshots = match self.snapshots(&tenant).await {
                Ok(s) => s,
                Err(Error::Erased { .. }) => {
                    report.erased.push(tenant.to_string());
                    continue;
                }
                Err(e) => return Err(e),
            };
            report.tenants += 1;
            let there: HashSet<SnapshotId> = dest
                .snapshots(&tenant)
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect();
            let mut copied: BTreeMap<ObjectKind, Copied> = BTreeMap::new();
            let mut previous: Option<SnapshotId> = None;
            for (done, snapshot) in snapshots.iter().enumerate() {
                progress(CopyProgress {
                    tenant: &tenant,
                    done,
                    total: snapshots.len(),
                });
                if there.contains(&snapshot.id) {
                    report.already_there += 1;
                    copied = dest_entries(self, dest, snapshot).await?;
                } else {
                    let written;
                    (copied, written) = self
                        .copy_snapshot(dest, snapshot, previous.as_ref(), copied)
                        .await?;
                    report.objects_written += written;
                    report.snapshots += 1;
                }
                previous = Some(snapshot.id.clone());
            }
            progress(CopyProgress {
                tenant: &tenant,
                done: snapshots.len(),
                total: snapshots.len(),
            });
            for name in self.store.list_documents(&tenant, "").await? {
                if let Some(bytes) = self.store.get_document(&tenant, &name).await? {
                    dest.store.put_document(&tenant, &name, bytes).await?;
                    report.documents += 1;
                }
            }
        }
        Ok(report)
    }

    /// Writes one snapshot into `dest`: objects unchanged since `copied` (the snapshot copied
    /// before) carried, the others read and added. Returns what it now holds, and how many
    /// objects it wrote.
    async fn copy_snapshot(
        &self,
        dest: &Repository,
        snapshot: &Snapshot,
        previous: Option<&SnapshotId>,
        mut copied: BTreeMap<ObjectKind, Copied>,
    ) -> Result<(BTreeMap<ObjectKind, Copied>, u64)> {
        let tenant = &snapshot.tenant;
        // The parent, when it is in the destination (a forgotten parent is not).
        let parent = match &snapshot.parent {
            Some(p) if dest.snapshot(tenant, p).await.is_ok() => Some(p.clone()),
            _ => None,
        };
        let mut writer = dest.begin(tenant, snapshot.time, parent).await?;
        writer.keep_id(snapshot.id.clone());
        let mut written = 0;
        let mut sources: BTreeMap<ObjectKind, Vec<ManifestEntry>> = BTreeMap::new();
        for (kind, record) in &snapshot.kinds {
            let entries = self.manifest(snapshot, *kind).await?;
            let before = copied.remove(kind).unwrap_or_default();
            let mut fresh = Vec::new();
            for entry in &entries {
                match before.get(&entry.id) {
                    Some((blob, dest_entry)) if *blob == entry.blob && previous.is_some() => {
                        writer.carry_entry(*kind, dest_entry.clone());
                    }
                    _ => fresh.push(self.version(tenant, *kind, entry).await?),
                }
            }
            written += fresh.len() as u64;
            writer.add_objects(&fresh).await?;
            writer.finish_kind(*kind, record.status.clone(), record.delta_link.clone());
            writer.record_selection(*kind, record.selected.clone());
            sources.insert(*kind, entries);
        }
        let relationships: BTreeSet<Relationship> =
            self.relationships(snapshot).await?.into_iter().collect();
        writer.add_relationships(relationships);
        let (written_snapshot, _) = writer.commit().await?;
        let mut now = BTreeMap::new();
        for (kind, entries) in sources {
            let by_id: HashMap<ObjectId, ManifestEntry> = dest
                .manifest(&written_snapshot, kind)
                .await?
                .into_iter()
                .map(|e| (e.id.clone(), e))
                .collect();
            now.insert(kind, pair(entries, by_id));
        }
        Ok((now, written))
    }
}

/// What the destination holds of a snapshot copied by an earlier run, paired with the
/// source's entries.
async fn dest_entries(
    source: &Repository,
    dest: &Repository,
    snapshot: &Snapshot,
) -> Result<BTreeMap<ObjectKind, Copied>> {
    let there = dest.snapshot(&snapshot.tenant, &snapshot.id).await?;
    let mut out = BTreeMap::new();
    for kind in snapshot.kinds.keys() {
        let by_id: HashMap<ObjectId, ManifestEntry> = dest
            .manifest(&there, *kind)
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        out.insert(*kind, pair(source.manifest(snapshot, *kind).await?, by_id));
    }
    Ok(out)
}

fn pair(source: Vec<ManifestEntry>, mut dest: HashMap<ObjectId, ManifestEntry>) -> Copied {
    source
        .into_iter()
        .filter_map(|e| dest.remove(&e.id).map(|d| (e.id.clone(), (e.blob, d))))
        .collect()
}
