//! Snapshot records read and packed together ([`crate::format::record_pack_records`]): a
//! tenant's snapshot list (what a history, retention and prune read) is one listing, the
//! packs and the records not yet in one, instead of one read per snapshot: at L1M over 730
//! snapshots, 730 reads of ~31 KB became about 60.
//!
//! The records on their own (`snapshots/{id}.json`) stay and stay the truth: a snapshot
//! exists when its record is listed, so forgetting one deletes its record as before, and a
//! pack's copy of a forgotten record is ignored until prune rewrites the pack. A pack is only
//! ever a faster way to the same bytes: each record in it is checked as its own file is (the
//! integrity hash, the tenant and id it names), and a pack or record in it that fails is
//! passed over, with a warning, for the record's own file.
//!
//! Packs are written by the commit that starts a new week (ISO weeks, by the snapshots' times)
//! after the snapshot before it (its parent), holding every record not yet packed but the new
//! one, and by [`SnapshotStore::tidy_record_packs`] (prune). A pack's name says which
//! records it may hold (`{first id}.{last id}.{digest}.pack`, ids in hex), so the writer knows
//! which are not packed from two listings, without reading any pack.

use chrono::Datelike;

use super::keys::Sealing;
use super::over_object_store::{open_record, record_place, tenant_path};
use super::*;
use crate::format::{Snapshot, SnapshotFile, encode_record_pack, record_pack_records};

/// The folder of a tenant's record packs.
const PACKS: &str = "snapshot-packs";

/// Records a pack holds at most (~2 MB at L1M, read whole; packs are read 16 at once).
const RECORDS_PER_PACK: usize = 64;

/// Records not yet packed that a commit packs at least: fewer wait for a later week (a
/// weekly backup's records are packed every four weeks).
const FEWEST_TO_PACK: usize = 4;

/// Objects read at once (S3 round trips dominate).
const READS_AT_ONCE: usize = 16;

/// What a pack's name says: the first and last snapshot ids it may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PackName {
    /// The file name.
    file: String,
    first: String,
    last: String,
}

impl PackName {
    fn of(records: &[(String, Vec<u8>)]) -> Option<Self> {
        let (first, last) = (&records.first()?.0, &records.last()?.0);
        let mut digest = Sha256::new();
        for (_, bytes) in records {
            digest.update(bytes);
        }
        let digest = hex::encode(&digest.finalize()[..8]);
        Some(Self {
            file: format!("{}.{}.{digest}.pack", hex::encode(first), hex::encode(last)),
            first: first.clone(),
            last: last.clone(),
        })
    }

    fn parse(file: &str) -> Option<Self> {
        let mut parts = file.strip_suffix(".pack")?.split('.');
        let text = |hex_text: &str| String::from_utf8(hex::decode(hex_text).ok()?).ok();
        let (first, last) = (text(parts.next()?)?, text(parts.next()?)?);
        parts.next()?;
        Some(Self {
            file: file.to_owned(),
            first,
            last,
        })
    }

    fn may_hold(&self, id: &str) -> bool {
        self.first.as_str() <= id && id <= self.last.as_str()
    }
}

/// What one read of [`ObjectSnapshotStore::read_records`] fetched.
enum Fetched {
    /// A pack's file name and stored bytes.
    Pack(String, Bytes),
    /// A record's path and stored bytes.
    Record(Path, Bytes),
}

/// What [`SnapshotStore::tidy_record_packs`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordPacksTidied {
    /// Packs written (records packed, or a pack's live records written anew).
    pub written: u64,
    /// Packs deleted (holding forgotten snapshots' records).
    pub deleted: u64,
}

/// Whether `time` is in another ISO week than the snapshot `parent` (its id starts with its
/// time, `YYYYMMDDTHHMMSSZ`).
fn starts_a_week(parent: &SnapshotId, time: DateTime<Utc>) -> bool {
    let Some(parent_time) = parent
        .as_str()
        .get(..16)
        .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%M%SZ").ok())
    else {
        return false;
    };
    parent_time.iso_week() != time.iso_week()
}

impl ObjectSnapshotStore {
    /// Every snapshot of a tenant, oldest first: the listed records, from packs where a pack
    /// holds them and from their own files otherwise.
    pub(super) async fn read_records(&self, tenant: &TenantId) -> Result<Vec<Snapshot>> {
        self.unlocked(false).await?;
        let folder = tenant_path(tenant, "snapshots");
        let (metas, packs) = futures::join!(self.list(&folder), self.record_packs(tenant));
        // Packs only speed reads up: a credential that may not list them reads the records.
        let packs = packs.unwrap_or_else(|e| {
            tracing::warn!(tenant = %tenant, error = %e, "snapshot record packs not listed; records are read one by one");
            Vec::new()
        });
        let listed: HashMap<String, Path> = metas?
            .into_iter()
            .filter_map(|m| Some((record_place(&m.location).ok()?.1, m.location)))
            .collect();
        if listed.is_empty() {
            // No records, no keys needed (a tenant new to an encrypted repository has none).
            return Ok(Vec::new());
        }
        let useful: Vec<&PackName> = packs
            .iter()
            .filter(|p| listed.keys().any(|id| p.may_hold(id)))
            .collect();
        let reads: Vec<Fetch<'_>> = useful
            .iter()
            .map(|p| Fetch::Pack(&p.file))
            .chain(
                listed
                    .iter()
                    .filter(|(id, _)| !useful.iter().any(|p| p.may_hold(id)))
                    .map(|(_, path)| Fetch::Record(path)),
            )
            .collect();
        let fetched = self.fetch(reads, tenant).await?;
        let sealing = self.sealing_of(tenant, false).await?;
        let mut found: HashMap<String, Snapshot> = fetched
            .par_iter()
            .map(|f| match f {
                Fetched::Pack(file, bytes) => Ok(packed_records(&sealing, tenant, file, bytes)),
                Fetched::Record(path, bytes) => Ok(vec![open_record(&sealing, path, bytes)?]),
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .filter(|s| listed.contains_key(s.id.as_str()))
            .map(|s| (s.id.to_string(), s))
            .collect();
        // Records a pack was to hold but did not give: their own files.
        let missing: Vec<Fetch<'_>> = listed
            .iter()
            .filter(|(id, _)| !found.contains_key(id.as_str()))
            .map(|(_, path)| Fetch::Record(path))
            .collect();
        if !missing.is_empty() {
            for f in self.fetch(missing, tenant).await? {
                if let Fetched::Record(path, bytes) = f {
                    let s = open_record(&sealing, &path, &bytes)?;
                    found.insert(s.id.to_string(), s);
                }
            }
        }
        let mut out: Vec<Snapshot> = found.into_values().collect();
        out.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The tenant's record packs, as their names say.
    async fn record_packs(&self, tenant: &TenantId) -> Result<Vec<PackName>> {
        Ok(self
            .list(&tenant_path(tenant, PACKS))
            .await?
            .iter()
            .filter_map(|m| PackName::parse(m.location.filename()?))
            .collect())
    }

    /// Reads packs and records, [`READS_AT_ONCE`] at a time.
    async fn fetch(&self, reads: Vec<Fetch<'_>>, tenant: &TenantId) -> Result<Vec<Fetched>> {
        // The futures made first (a stream mapping with a closure across the await would make
        // callers' futures not `Send`).
        let reads: Vec<_> = reads
            .into_iter()
            .map(|r| self.fetch_one(r, tenant))
            .collect();
        futures::stream::iter(reads)
            .buffered(READS_AT_ONCE)
            .try_collect()
            .await
    }

    async fn fetch_one(&self, read: Fetch<'_>, tenant: &TenantId) -> Result<Fetched> {
        Ok(match read {
            Fetch::Pack(file) => {
                let path = tenant_path(tenant, &format!("{PACKS}/{file}"));
                match self.get(&path).await {
                    Ok(bytes) => Fetched::Pack(file.to_owned(), bytes),
                    // Deleted by a prune meanwhile: its records' own files answer.
                    Err(e) => {
                        tracing::warn!(pack = %path, error = %e, "snapshot record pack unreadable; its records are read one by one");
                        Fetched::Pack(file.to_owned(), Bytes::new())
                    }
                }
            }
            Fetch::Record(path) => Fetched::Record(path.clone(), self.get(path).await?),
        })
    }

    /// After `snapshot` was committed: packs the records not yet packed when it starts a new
    /// week after its parent. A pack is an optimisation: failing to write one is logged, and
    /// the commit stands.
    pub(super) async fn pack_after_commit(&self, snapshot: &Snapshot) {
        let Some(parent) = &snapshot.parent else {
            return;
        };
        if !starts_a_week(parent, snapshot.time) {
            return;
        }
        if let Err(e) = self
            .pack_loose_records(&snapshot.tenant, &snapshot.id)
            .await
        {
            tracing::warn!(tenant = %snapshot.tenant, error = %e, "snapshot records not packed; a later week's backup tries again");
        }
    }

    /// Packs the listed records no pack's name covers, older than `newest` (the newest is
    /// left out: it is the one most read alone), when there are [`FEWEST_TO_PACK`] or more.
    /// The packs written.
    pub(super) async fn pack_loose_records(
        &self,
        tenant: &TenantId,
        newest: &SnapshotId,
    ) -> Result<u64> {
        let folder = tenant_path(tenant, "snapshots");
        let (metas, packs) = futures::try_join!(self.list(&folder), self.record_packs(tenant))?;
        let loose: Vec<Path> = metas
            .into_iter()
            .filter(|m| {
                record_place(&m.location).is_ok_and(|(_, id)| {
                    id.as_str() < newest.as_str() && !packs.iter().any(|p| p.may_hold(&id))
                })
            })
            .map(|m| m.location)
            .collect();
        if loose.len() < FEWEST_TO_PACK {
            return Ok(0);
        }
        let sealing = self.sealing_of(tenant, true).await?;
        let fetched = self
            .fetch(loose.iter().map(Fetch::Record).collect(), tenant)
            .await?;
        // Each record checked before it is packed: a damaged one stays on its own.
        let mut records: Vec<(String, Vec<u8>)> = fetched
            .par_iter()
            .filter_map(|f| {
                let Fetched::Record(path, stored) = f else {
                    return None;
                };
                let (_, id) = record_place(path).ok()?;
                let plain = sealing.open("snapshot", &id, path.as_ref(), stored).ok()?;
                SnapshotFile::decode(&plain, path.as_ref())
                    .ok()?
                    .checked(tenant.as_str(), &id, &plain)
                    .ok()?;
                Some((id, plain.to_vec()))
            })
            .collect();
        records.sort_by(|a, b| a.0.cmp(&b.0));
        self.write_record_packs(&sealing, tenant, &records).await
    }

    /// Writes `records` (id and plaintext, sorted by id) as packs of at most
    /// [`RECORDS_PER_PACK`]; the packs written.
    async fn write_record_packs(
        &self,
        sealing: &Sealing,
        tenant: &TenantId,
        records: &[(String, Vec<u8>)],
    ) -> Result<u64> {
        let mut written = 0;
        for part in records.chunks(RECORDS_PER_PACK) {
            let Some(name) = PackName::of(part) else {
                continue;
            };
            let plain: Vec<&[u8]> = part.iter().map(|(_, b)| b.as_slice()).collect();
            let bytes = sealing.seal("snapshot-pack", &name.file, encode_record_pack(&plain));
            let path = tenant_path(tenant, &format!("{PACKS}/{}", name.file));
            self.store
                .put(&path, PutPayload::from(bytes))
                .await
                .map_err(super::over_object_store::backend("write", &path))?;
            written += 1;
        }
        Ok(written)
    }

    /// What is wrong with the tenant's record packs, each said with what fixes it.
    pub(super) async fn problems_of_record_packs(&self, tenant: &TenantId) -> Result<Vec<String>> {
        let sealing = self.sealing_of(tenant, false).await?;
        let mut problems = Vec::new();
        for pack in self.record_packs(tenant).await? {
            let path = tenant_path(tenant, &format!("{PACKS}/{}", pack.file));
            let stored = self.get(&path).await?;
            let problem = match pack_contents(&sealing, tenant, &pack.file, &stored) {
                (0, _) => "cannot be opened or decoded".to_owned(),
                (held, sound) if sound.len() < held => format!(
                    "{} of its {held} records do not check out",
                    held - sound.len()
                ),
                _ => continue,
            };
            problems.push(format!(
                "snapshot record pack {path} {problem} (the records' own files are read instead; `prune` writes the pack anew)"
            ));
        }
        Ok(problems)
    }

    /// What prune does for record packs: a pack holding a forgotten snapshot's record is
    /// written anew without it (or deleted, when it holds nothing else), then the records
    /// not yet packed are packed. Run it under the tenant's lease.
    pub(super) async fn tidy_packs_of_records(
        &self,
        tenant: &TenantId,
    ) -> Result<RecordPacksTidied> {
        let mut tidied = RecordPacksTidied::default();
        let ids = self.snapshot_ids(tenant).await?;
        let Some(newest) = ids.last() else {
            return Ok(tidied);
        };
        let listed: std::collections::HashSet<&str> = ids.iter().map(SnapshotId::as_str).collect();
        let sealing = self.sealing_of(tenant, true).await?;
        for pack in self.record_packs(tenant).await? {
            let path = tenant_path(tenant, &format!("{PACKS}/{}", pack.file));
            let stored = self.get(&path).await?;
            let (held, sound) = pack_contents(&sealing, tenant, &pack.file, &stored);
            let mut live: Vec<(String, Vec<u8>)> = sound
                .into_iter()
                .filter(|(s, _)| listed.contains(s.id.as_str()))
                .map(|(s, bytes)| (s.id.to_string(), bytes))
                .collect();
            if live.len() == held && held > 0 {
                continue; // every record in it is live and sound
            }
            live.sort_by(|a, b| a.0.cmp(&b.0));
            tidied.written += self.write_record_packs(&sealing, tenant, &live).await?;
            self.store
                .delete(&path)
                .await
                .map_err(super::over_object_store::backend("delete", &path))?;
            tidied.deleted += 1;
        }
        tidied.written += self.pack_loose_records(tenant, newest).await?;
        Ok(tidied)
    }
}

/// A read for [`ObjectSnapshotStore::fetch`].
enum Fetch<'a> {
    /// A pack, by file name.
    Pack(&'a str),
    /// A record's own file.
    Record(&'a Path),
}

/// The sound records of a pack: each checked as its own file would be (the tenant and id it
/// names, its integrity hash); a pack that cannot be opened gives none, and a record that
/// fails is left out — both with a warning (their own files are read instead).
fn packed_records(
    sealing: &Sealing,
    tenant: &TenantId,
    file: &str,
    stored: &[u8],
) -> Vec<Snapshot> {
    let (_, sound) = pack_contents(sealing, tenant, file, stored);
    sound.into_iter().map(|(s, _)| s).collect()
}

/// How many records a pack holds (0 when it cannot be opened), and its sound ones with their
/// bytes ([`packed_records`]).
fn pack_contents(
    sealing: &Sealing,
    tenant: &TenantId,
    file: &str,
    stored: &[u8],
) -> (usize, Vec<(Snapshot, Vec<u8>)>) {
    let path = format!("tenants/{tenant}/{PACKS}/{file}");
    if stored.is_empty() {
        return (0, Vec::new()); // unreadable (warned when fetched)
    }
    let records = match sealing
        .open("snapshot-pack", file, &path, stored)
        .and_then(|plain| {
            record_pack_records(&plain).map_err(|reason| Error::Corrupt {
                path: path.clone(),
                reason,
            })
        }) {
        Ok(records) => records,
        Err(e) => {
            tracing::warn!(pack = %path, error = %e, "snapshot record pack damaged; its records are read one by one");
            return (0, Vec::new());
        }
    };
    let held = records.len();
    // Checked on every core (a pack may be most of a tenant's records).
    let sound = records
        .into_par_iter()
        .filter_map(|bytes| {
            let checked = SnapshotFile::decode(&bytes, &path).and_then(|s| {
                let id = s.id.to_string();
                s.checked(tenant.as_str(), &id, &bytes)
                    .map_err(|reason| Error::Corrupt {
                        path: path.clone(),
                        reason: format!("snapshot record: {reason}"),
                    })
            });
            match checked {
                Ok(s) => Some((s, bytes)),
                Err(e) => {
                    tracing::warn!(pack = %path, error = %e, "a record in a snapshot record pack is damaged; its own file is read instead");
                    None
                }
            }
        })
        .collect();
    (held, sound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_name_says_its_range_whatever_the_ids_hold() {
        let records = vec![
            ("a.b_c".to_owned(), b"1".to_vec()),
            ("a.b_d".to_owned(), b"2".to_vec()),
        ];
        let name = PackName::of(&records).unwrap();
        assert_eq!(PackName::parse(&name.file), Some(name.clone()));
        assert!(name.may_hold("a.b_c") && name.may_hold("a.b_cz") && name.may_hold("a.b_d"));
        assert!(!name.may_hold("a.b_b") && !name.may_hold("a.b_e"));
        for junk in [
            "x.pack",
            "zz.zz.1.pack",
            "6162.6364.pack",
            "6162.6364.1.json",
        ] {
            assert_eq!(PackName::parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn a_new_iso_week_starts_on_monday() {
        let id = |s: &str| SnapshotId::new(s).unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // 2026-12-06 is a Sunday, 2026-12-07 a Monday.
        assert!(starts_a_week(
            &id("20261206T230000Z-1"),
            at("2026-12-07T01:00:00Z")
        ));
        assert!(!starts_a_week(
            &id("20261207T000000Z-1"),
            at("2026-12-13T23:59:59Z")
        ));
        assert!(!starts_a_week(&id("imported"), at("2027-01-01T00:00:00Z")));
    }
}
