//! What changed between a snapshot and its parent, as the API shows it. The stored changesets
//! ([`crate::format::ChangesetFile`], [`crate::format::RelationshipChangesFile`]) are the
//! format's own types: these are what a reader gets, so that the format can change without
//! changing the API.

use dirvault_model::Relationship;

use crate::format::{ChangesetFile, ManifestEntry, RelationshipChangesFile};

/// What changed in a kind since the parent snapshot: the entries of objects created and
/// modified (their new versions), and of objects deleted (the parent's version).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Changeset {
    /// New objects.
    pub created: Vec<ManifestEntry>,
    /// Objects with a new version.
    pub modified: Vec<ManifestEntry>,
    /// Objects gone (their last version).
    pub deleted: Vec<ManifestEntry>,
}

/// How the relationships changed since the parent snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RelationshipChanges {
    /// Relationships that are new.
    pub added: Vec<Relationship>,
    /// Relationships that are gone.
    pub removed: Vec<Relationship>,
}

impl From<ChangesetFile> for Changeset {
    fn from(file: ChangesetFile) -> Self {
        Self {
            created: file.created,
            modified: file.modified,
            deleted: file.deleted,
        }
    }
}

impl From<RelationshipChangesFile> for RelationshipChanges {
    fn from(file: RelationshipChangesFile) -> Self {
        Self {
            added: file.added,
            removed: file.removed,
        }
    }
}
