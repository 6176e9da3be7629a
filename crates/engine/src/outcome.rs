//! How a backup ends, one definition for every consumer: each kind is complete, skipped as
//! expected (a permission or licence the tenant lacks) or failed, and the backup as a whole is
//! complete or partial (one that writes no snapshot is an error instead).

use dirvault_model::ObjectKind;
use dirvault_store::KindStatus;
use serde::Serialize;

/// How a backup ended: one definition for the CLI's exit status, the daemon's job states,
/// its metrics and `--json`. A backup that writes no snapshot is an error instead
/// ([`crate::Error::NothingRead`], a refused token, a repository that cannot be written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BackupOutcome {
    /// Every kind complete, or skipped as expected (a permission or licence the tenant
    /// lacks, named in the kind's status and in a warning).
    Complete,
    /// A snapshot was written, but some kinds failed: they carry the previous snapshot's
    /// data and say why.
    Partial,
}

impl BackupOutcome {
    /// The CLI's exit status: 0 complete, 3 partial (1 is for a backup that wrote no
    /// snapshot, 2 for a usage error).
    pub fn exit_code(self) -> u8 {
        match self {
            BackupOutcome::Complete => 0,
            BackupOutcome::Partial => 3,
        }
    }

    /// `complete` or `partial`, as the daemon's metrics and job states spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupOutcome::Complete => "complete",
            BackupOutcome::Partial => "partial",
        }
    }
}

/// Why `kind` is not read when its parent kind ended with `parent_status` (`None`: not
/// read in this run, nor carried): `None` when the parent is complete and `kind` can be read.
pub(crate) fn unread_because_of(
    kind: ObjectKind,
    parent: ObjectKind,
    parent_status: Option<&KindStatus>,
) -> Option<KindStatus> {
    match parent_status {
        Some(KindStatus::Complete) => None,
        Some(KindStatus::Skipped { .. }) => Some(KindStatus::Skipped {
            reason: format!(
                "not read because {parent} was not backed up; the previous snapshot's {kind} are kept"
            ),
        }),
        Some(KindStatus::Failed { .. }) => Some(KindStatus::Failed {
            reason: format!(
                "not read because {parent} failed; the previous snapshot's {kind} are kept"
            ),
        }),
        None => Some(KindStatus::Failed {
            reason: format!(
                "not read: {parent} is in neither this backup nor an earlier snapshot; back up {parent} too"
            ),
        }),
    }
}

/// The reason a failed or skipped kind gives ("complete" for a complete one).
pub(crate) fn status_reason(status: &KindStatus) -> &str {
    match status {
        KindStatus::Complete => "complete",
        KindStatus::Failed { reason } | KindStatus::Skipped { reason } => reason,
    }
}
