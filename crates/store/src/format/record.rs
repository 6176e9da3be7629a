//! Snapshot records as stored: `tenants/{tenant}/snapshots/{id}.json`, versioned, with an
//! integrity hash checked on every read. A history reads every record of a tenant (hundreds
//! at 100 KB each at L1M, most of that its kinds' change filters), so a read parses the
//! record once and checks its hash on the bytes as stored.

use super::*;

/// The versioned snapshot file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub(crate) enum SnapshotFile {
    /// Version 6: manifests and relationships as a base index plus a chain of changesets
    /// ([`KindRecord::chain`]), manifest chunks in the binary [`EntryChunk`] encoding.
    #[serde(rename = "6")]
    V6(Snapshot),
}

/// [`SnapshotFile`] borrowing its snapshot: the same JSON, without a copy of the record.
#[derive(Serialize)]
#[serde(tag = "version")]
enum BorrowedFile<'a> {
    #[serde(rename = "6")]
    V6(&'a Snapshot),
}

/// How every record written by this format starts (serde writes the tag first).
const RECORD_START: &[u8] = br#"{"version":"6","#;

/// How a record written by dirvault ends: its integrity hash, the last field.
const INTEGRITY_FIELD: &[u8] = br#","integrity":""#;

impl SnapshotFile {
    /// The snapshot of a stored record; `Err` says which version it has when it is not
    /// [`FORMAT_VERSION`].
    pub(crate) fn decode(bytes: &[u8], path: &str) -> Result<Snapshot, crate::Error> {
        if !bytes.starts_with(RECORD_START) {
            VersionProbe::expect(bytes, path, FORMAT_VERSION)?;
        }
        // The version is known: the record is read as a snapshot directly (an internally
        // tagged enum would first copy every value of the record into a buffer of its own).
        serde_json::from_slice::<Snapshot>(bytes).map_err(|e| crate::Error::Corrupt {
            path: path.to_owned(),
            reason: format!("unreadable snapshot record: {e}"),
        })
    }
}

impl Snapshot {
    /// The SHA-256 (hex) of the record as stored, without its `integrity` field.
    pub fn integrity_digest(&self) -> String {
        if self.integrity.is_some() {
            let mut content = self.clone();
            content.integrity = None;
            return content.integrity_digest();
        }
        // A snapshot always serializes: its maps have string keys.
        let bytes = serde_json::to_vec(&BorrowedFile::V6(self)).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }

    /// The record read from `tenants/{tenant}/snapshots/{id}.json` (`stored`: its bytes, as
    /// parsed), its integrity hash checked and taken off; `Err` says why it cannot be
    /// trusted ([`Snapshot::integrity_problem`]).
    pub(crate) fn checked(mut self, tenant: &str, id: &str, stored: &[u8]) -> Result<Self, String> {
        if self.tenant.as_str() != tenant || self.id.as_str() != id {
            return Err(format!(
                "the record names snapshot {} of tenant {}, but is stored as snapshot {id} of tenant {tenant}",
                self.id, self.tenant
            ));
        }
        match self.integrity.take() {
            // Hashed as stored when it ends as dirvault writes it; else written out again.
            Some(hash)
                if stored_digest(stored).as_ref() != Some(&hash)
                    && hash != self.integrity_digest() =>
            {
                Err(
                    "the record was changed after it was written (its integrity hash does not match)"
                        .into(),
                )
            }
            _ => Ok(self),
        }
    }

    /// Why the record read from `tenants/{tenant}/snapshots/{id}.json` cannot be trusted: its
    /// integrity hash does not match its content, or it names another tenant or id than its
    /// place. `None` for a sound record (and for records written before the hash existed).
    pub fn integrity_problem(&self, tenant: &str, id: &str) -> Option<String> {
        let stored = serde_json::to_vec(&BorrowedFile::V6(self)).unwrap_or_default();
        self.clone().checked(tenant, id, &stored).err()
    }
}

/// The SHA-256 (hex) of a stored record without its integrity field, taken on the bytes as
/// they are when the record ends with that field as dirvault writes it
/// (`…,"integrity":"<64 hex digits>"}`): the same bytes the writer hashed, so a match proves
/// what a record written out again would. `None` for a record that ends otherwise.
fn stored_digest(stored: &[u8]) -> Option<String> {
    let body = stored.strip_suffix(b"\"}")?;
    let field = body.len().checked_sub(64 + INTEGRITY_FIELD.len())?;
    let (content, tail) = body.split_at_checked(field)?;
    if !tail.starts_with(INTEGRITY_FIELD) {
        return None;
    }
    let mut hasher = Sha256::new();
    hasher.update(content);
    hasher.update(b"}");
    Some(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "5f1c2d3e-0000-4000-8000-000000000001";
    const ID: &str = "20261124T060000Z-0000abcd";

    /// A record as the writer stores it: hashed without the field, then written with it.
    fn stored() -> Vec<u8> {
        let mut snapshot = Snapshot {
            id: SnapshotId::new(ID).unwrap(),
            tenant: TenantId::new(TENANT).unwrap(),
            time: DateTime::parse_from_rfc3339("2026-11-24T06:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            parent: None,
            kinds: BTreeMap::from([(
                ObjectKind::Users,
                KindRecord {
                    count: 42,
                    changes_filter: Some(IdFilter::new(&["a", "b"])),
                    ..KindRecord::default()
                },
            )]),
            relationships: KindRecord::default(),
            tool_version: "0.1.0".into(),
            integrity: None,
        };
        snapshot.integrity = Some(snapshot.integrity_digest());
        serde_json::to_vec(&SnapshotFile::V6(snapshot)).unwrap()
    }

    fn read(bytes: &[u8]) -> Result<Snapshot, String> {
        SnapshotFile::decode(bytes, "x")
            .map_err(|e| e.to_string())?
            .checked(TENANT, ID, bytes)
    }

    #[test]
    fn records_are_checked_as_stored_and_as_written_out_again() {
        let bytes = stored();
        assert!(
            stored_digest(&bytes).is_some(),
            "written as dirvault writes"
        );
        let read_back = read(&bytes).unwrap();
        assert_eq!(read_back.kinds[&ObjectKind::Users].count, 42);
        assert_eq!(read_back.integrity, None, "taken off once checked");
        // Formatted otherwise (a record edited by hand and put back as it was): the bytes do
        // not end as written, so the record is written out again and hashed.
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        let pretty = serde_json::to_vec_pretty(&value).unwrap();
        assert_eq!(stored_digest(&pretty), None);
        assert_eq!(read(&pretty).unwrap(), read_back);
    }

    #[test]
    fn edited_records_are_refused_however_they_end() {
        let bytes = stored();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let edited = text.replace("\"count\":42", "\"count\":43");
        assert_ne!(edited, text);
        for edited in [
            edited.clone(),
            // Formatted otherwise too.
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(&edited).unwrap()).unwrap(),
        ] {
            let err = read(edited.as_bytes()).unwrap_err();
            assert!(err.contains("integrity hash does not match"), "{err}");
        }
        // A hash of the wrong length, or none at all where one was.
        let digest = &text[text.len() - 66..text.len() - 2];
        let short = text.replace(digest, &digest[1..]);
        assert!(read(short.as_bytes()).is_err());
        // Placed as another snapshot, or another tenant's.
        let err = SnapshotFile::decode(&bytes, "x")
            .unwrap()
            .checked(TENANT, "20261124T060000Z-0000abce", &bytes)
            .unwrap_err();
        assert!(err.contains("stored as snapshot"), "{err}");
    }

    #[test]
    fn records_of_another_version_are_named_as_such() {
        let text = String::from_utf8(stored()).unwrap();
        let other = text.replacen("\"version\":\"6\"", "\"version\":\"7\"", 1);
        let err = SnapshotFile::decode(other.as_bytes(), "x").unwrap_err();
        assert!(
            matches!(err, crate::Error::UnsupportedFormat { .. }),
            "{err}"
        );
        // The version elsewhere than first: read through the probe, checked written out again.
        let moved = format!(
            "{{{},\"version\":\"6\"}}",
            &text[RECORD_START.len()..text.len() - 1]
        );
        assert!(!moved.as_bytes().starts_with(RECORD_START));
        assert_eq!(
            read(moved.as_bytes()).unwrap(),
            read(text.as_bytes()).unwrap()
        );
        let none = format!("{{{}}}", &text[RECORD_START.len()..text.len() - 1]);
        assert!(matches!(
            SnapshotFile::decode(none.as_bytes(), "x"),
            Err(crate::Error::UnsupportedFormat { .. })
        ));
    }
}
