//! What the operator asks for: [`RestoreOptions`].

use dirvault_model::ObjectKind;
use serde::{Deserialize, Serialize};

/// The restore options, in the words of the CLI (`dirvault restore --help`) and the daemon's
/// API. docs/restore.md explains each.
///
/// Which snapshot and which target tenant are not options of the plan: the caller resolves
/// them and hands [`crate::BackupState`] and [`crate::CurrentState`] to [`crate::plan`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(rename_all = "camelCase", default)]
pub struct RestoreOptions {
    /// The kind of the selected objects (users, groups, applications, servicePrincipals,
    /// administrativeUnits, roleDefinitions, conditionalAccessPolicies, namedLocations,
    /// devices). Without it, `--id` finds each id's kind in the snapshot and `--all` means
    /// every restorable kind.
    #[cfg_attr(feature = "clap", arg(long))]
    pub kind: Option<ObjectKind>,
    /// Object ids (as in the snapshot) to restore; users may be given by UPN.
    #[cfg_attr(feature = "clap", arg(long = "id", value_name = "ID", num_args = 1..))]
    pub ids: Vec<String>,
    /// Every object of `--kind` (or of the whole snapshot) instead of `--id`.
    #[cfg_attr(feature = "clap", arg(long, conflicts_with = "ids"))]
    pub all: bool,
    /// Restore the object itself (recycle bin, re-create, or overwrite differing
    /// properties). Without it only relationships are restored, to objects that exist.
    #[cfg_attr(feature = "clap", arg(long))]
    pub with_object: bool,
    /// Restore one object as a new object with this name (a user's UPN or mail nickname, a
    /// group's or application's display name). Implies `--with-object`.
    #[cfg_attr(feature = "clap", arg(long, value_name = "NAME"))]
    pub as_new: Option<String>,
    /// Restored users get `accountEnabled: false`.
    #[cfg_attr(feature = "clap", arg(long))]
    pub block_sign_in: bool,
    /// Group and administrative-unit memberships, ownerships, manager and device owners as
    /// of the snapshot.
    #[cfg_attr(feature = "clap", arg(long))]
    pub with_memberships: bool,
    /// Directory role assignments (also AU-scoped), PIM eligibility, app role assignments and
    /// delegated permission grants as of the snapshot.
    #[cfg_attr(feature = "clap", arg(long))]
    pub with_role_assignments: bool,
    /// Phone and email authentication methods (others are reported: users re-register).
    #[cfg_attr(feature = "clap", arg(long))]
    pub with_auth_methods: bool,
    /// For a restore into another tenant: the target's verified domain that UPN, mail and
    /// other addresses are moved to.
    #[cfg_attr(feature = "clap", arg(long, value_name = "DOMAIN"))]
    pub domain: Option<String>,
    /// Skip objects that still exist in the target.
    #[cfg_attr(feature = "clap", arg(long))]
    pub only_deleted: bool,
    /// Also remove relationships of the selected objects that were not in the snapshot
    /// (default: only add missing ones).
    #[cfg_attr(feature = "clap", arg(long))]
    pub rollback_relationships: bool,
}

impl RestoreOptions {
    /// Whether the object itself is restored.
    pub fn restores_object(&self) -> bool {
        self.with_object || self.as_new.is_some()
    }
}
