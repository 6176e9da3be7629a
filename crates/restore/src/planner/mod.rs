//! [`plan`]: pure planning from the snapshot's state and the target's state.
//!
//! Graph's rules the plan follows are in docs/graph.md §1 ("Create / update rules that
//! restore must respect"), §2 (recycle bin) and §7 (errors); docs/restore.md explains each
//! option.
//!
//! The plan's frame and the planner's bookkeeping are here; each sort of step is planned in
//! its own file: [`objects`], [`links`], [`roles`], [`auth_methods`], [`tenant_policies`].

mod auth_methods;
mod links;
mod objects;
mod roles;
mod tenant_policies;

pub(crate) use tenant_policies::is_built_in;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use dirvault_diff::{ChangeKind, DiffOptions, diff_objects};
use dirvault_model::schema::{device_writable, schema};
use dirvault_model::{
    DirectoryObject, ObjectId, ObjectKind, Recreate, Relationship, RelationshipDetails,
    RelationshipKind,
};
use serde_json::{Map, Value, json};

use crate::plan::{
    Action, Call, DEFAULT_PASSWORD, GRAPH_ROOT, Mapping, ObjectRef, PLAN_FORMAT, Phase,
    RestorePlan, Skip, SourceRef, Step, Warning, new_app_id, new_id,
};
use crate::state::{collection, filter, singleton};
use crate::{BackupState, CurrentState, Error, RestoreOptions, Result};

/// Group members one `PATCH … members@odata.bind` may add (docs/graph.md §1, group-update.md).
pub const MAX_BIND: usize = 20;

/// Link relationships restored with `$ref` (or `members@odata.bind`).
pub(crate) const LINK_KINDS: [RelationshipKind; 7] = [
    RelationshipKind::GroupMember,
    RelationshipKind::GroupOwner,
    RelationshipKind::AdministrativeUnitMember,
    RelationshipKind::ApplicationOwner,
    RelationshipKind::ServicePrincipalOwner,
    RelationshipKind::DeviceRegisteredOwner,
    RelationshipKind::DeviceRegisteredUser,
];

/// The collection a link kind is listed in, with `{id}` for the source.
pub(crate) fn link_path(kind: RelationshipKind) -> Option<&'static str> {
    Some(match kind {
        RelationshipKind::GroupMember => "/groups/{id}/members",
        RelationshipKind::GroupOwner => "/groups/{id}/owners",
        RelationshipKind::AdministrativeUnitMember => "/directory/administrativeUnits/{id}/members",
        RelationshipKind::ApplicationOwner => "/applications/{id}/owners",
        RelationshipKind::ServicePrincipalOwner => "/servicePrincipals/{id}/owners",
        RelationshipKind::DeviceRegisteredOwner => "/devices/{id}/registeredOwners",
        RelationshipKind::DeviceRegisteredUser => "/devices/{id}/registeredUsers",
        RelationshipKind::DirectoryRoleMember => "/directoryRoles/{id}/members",
        _ => return None,
    })
}

/// The kind of object a link kind hangs under.
pub(crate) fn link_source_kind(kind: RelationshipKind) -> Option<ObjectKind> {
    Some(match kind {
        RelationshipKind::GroupMember | RelationshipKind::GroupOwner => ObjectKind::Groups,
        RelationshipKind::AdministrativeUnitMember => ObjectKind::AdministrativeUnits,
        RelationshipKind::ApplicationOwner => ObjectKind::Applications,
        RelationshipKind::ServicePrincipalOwner => ObjectKind::ServicePrincipals,
        RelationshipKind::DeviceRegisteredOwner | RelationshipKind::DeviceRegisteredUser => {
            ObjectKind::Devices
        }
        _ => return None,
    })
}

/// Whether a relationship kind is restored with memberships (else with role assignments).
fn is_membership(kind: RelationshipKind) -> bool {
    LINK_KINDS.contains(&kind) || kind == RelationshipKind::UserManager
}

/// Moves an address (`alice@contoso.com`) to another domain.
pub fn move_domain(address: &str, domain: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, _)) => format!("{local}@{domain}"),
        None => address.to_owned(),
    }
}

/// The ids a Conditional Access policy names: `(path, id)` for users, groups and named
/// locations in its conditions (not the keywords `All`, `None`, `GuestsOrExternalUsers`,
/// `AllTrusted`).
pub(crate) fn policy_references(policy: &DirectoryObject) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (section, field) in POLICY_FIELDS {
        let items = policy
            .get("conditions")
            .and_then(|c| c.get(section))
            .and_then(|s| s.get(field))
            .and_then(Value::as_array);
        for id in items.into_iter().flatten().filter_map(Value::as_str) {
            if !POLICY_KEYWORDS.contains(&id) {
                out.push((format!("conditions/{section}/{field}"), id.to_owned()));
            }
        }
    }
    out
}

const POLICY_FIELDS: [(&str, &str); 6] = [
    ("users", "includeUsers"),
    ("users", "excludeUsers"),
    ("users", "includeGroups"),
    ("users", "excludeGroups"),
    ("locations", "includeLocations"),
    ("locations", "excludeLocations"),
];

const POLICY_KEYWORDS: [&str; 5] = [
    "All",
    "None",
    "GuestsOrExternalUsers",
    "AllTrusted",
    "AllCompliantNetworkLocations",
];

/// Read-only properties of kinds without a schema table (conditionalAccessPolicy.md,
/// namedlocation.md, unifiedroledefinition.md).
const OTHER_READ_ONLY: [&str; 7] = [
    "id",
    "createdDateTime",
    "modifiedDateTime",
    "deletedDateTime",
    "isBuiltIn",
    "templateId",
    "version",
];

/// Authentication method types Graph can create (docs/graph.md §1).
const PHONE: &str = "#microsoft.graph.phoneAuthenticationMethod";
const EMAIL: &str = "#microsoft.graph.emailAuthenticationMethod";
const PASSWORD: &str = "#microsoft.graph.passwordAuthenticationMethod";

/// Inputs of a plan other than the two states.
#[derive(Debug, Clone)]
pub struct PlanContext {
    /// The plan's id (names its journal).
    pub id: String,
    /// When it is planned.
    pub created: DateTime<Utc>,
    /// Whether the target is another tenant than the snapshot's.
    pub cross_tenant: bool,
}

/// Plans a restore. Pure: everything it knows comes from `backup` and `current`.
///
/// # Errors
/// [`Error::Options`] for contradictory or incomplete options (as-new for a service principal,
/// another tenant without `--domain`, a domain the target has not verified).
pub fn plan(
    options: &RestoreOptions,
    backup: &BackupState,
    current: &CurrentState,
    context: PlanContext,
) -> Result<RestorePlan> {
    let (Some(source_tenant), Some(snapshot), Some(target)) =
        (&backup.tenant, &backup.snapshot, &current.tenant)
    else {
        return Err(Error::Options(
            "the backup and current states must name their tenants and snapshot".into(),
        ));
    };
    if context.cross_tenant {
        let Some(domain) = &options.domain else {
            return Err(Error::Options(
                "a restore into another tenant needs --domain: the target's verified domain that UPNs and addresses move to".into(),
            ));
        };
        if !current
            .domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
        {
            return Err(Error::Options(format!(
                "{domain:?} is not a verified domain of tenant {target}; its domains: {}",
                current.domains.join(", ")
            )));
        }
    } else if options.domain.is_some() {
        return Err(Error::Options(
            "--domain is for restores into another tenant (--to-tenant)".into(),
        ));
    }
    let mut planner = Planner {
        options,
        backup,
        current,
        cross: context.cross_tenant,
        created: context.created,
        steps: Vec::new(),
        id_map: HashMap::new(),
        skipped: Vec::new(),
        warnings: Vec::new(),
        resets: BTreeSet::new(),
        needs_password: false,
        unreachable: BTreeMap::new(),
        selected: backup.selected.iter().collect(),
        applications: backup
            .objects
            .values()
            .rev() // the first of an appId (never several) wins, as a search in order would
            .filter(|o| o.kind() == ObjectKind::Applications)
            .filter_map(|o| Some((o.app_id()?, o)))
            .collect(),
    };
    for (id, found) in &current.found {
        planner.id_map.insert(
            id.clone(),
            Mapping::Existing {
                id: found.object.id().clone(),
                matched_by: found.matched_by,
            },
        );
    }
    let of = |kinds: &[ObjectKind]| -> Vec<&DirectoryObject> {
        backup
            .selected
            .iter()
            .filter_map(|id| backup.object(id))
            .filter(|o| kinds.contains(&o.kind()))
            .collect()
    };
    use ObjectKind as K;
    for object in of(&[
        K::AdministrativeUnits,
        K::Groups,
        K::Users,
        K::Applications,
        K::RoleDefinitions,
        K::NamedLocations,
        K::Devices,
    ]) {
        planner.object(object, Phase::Objects)?;
    }
    for object in of(&[K::ServicePrincipals]) {
        planner.object(object, Phase::ServicePrincipals)?;
    }
    if options.with_memberships {
        planner.memberships();
    }
    if options.with_role_assignments {
        planner.roles();
    }
    planner.flush_unreachable();
    for object in of(&[K::ConditionalAccessPolicies]) {
        planner.object(object, Phase::Policies)?;
    }
    for object in of(&crate::state::tenant_policies().collect::<Vec<_>>()) {
        planner.object(object, Phase::Policies)?;
    }
    if options.with_auth_methods {
        for object in of(&[K::Users]) {
            planner.auth_methods(object);
        }
    }
    let Planner {
        steps,
        id_map,
        skipped,
        warnings,
        resets,
        needs_password,
        ..
    } = planner;
    Ok(RestorePlan {
        format: PLAN_FORMAT.into(),
        id: context.id,
        created: context.created,
        source: SourceRef {
            tenant: source_tenant.clone(),
            snapshot: snapshot.clone(),
            time: backup.time,
        },
        target: target.clone(),
        cross_tenant: context.cross_tenant,
        options: options.clone(),
        id_map: id_map.into_iter().collect(),
        steps,
        skipped,
        warnings,
        password_resets: resets.into_iter().collect(),
        needs_default_password: needs_password,
        digest: String::new(),
    }
    .sealed())
}

struct Planner<'a> {
    options: &'a RestoreOptions,
    backup: &'a BackupState,
    current: &'a CurrentState,
    cross: bool,
    created: DateTime<Utc>,
    steps: Vec<Step>,
    /// Hashed while planning (looked up for both ends of every relationship); ordered in
    /// the plan.
    id_map: HashMap<ObjectId, Mapping>,
    skipped: Vec<Skip>,
    warnings: Vec<Warning>,
    resets: BTreeSet<ObjectRef>,
    needs_password: bool,
    unreachable: BTreeMap<ObjectRef, BTreeSet<String>>,
    /// `backup.selected` as a set: asked once per relationship (a million at L100k).
    selected: std::collections::HashSet<&'a ObjectId>,
    /// The snapshot's applications by appId (a service principal's application).
    applications: HashMap<&'a str, &'a DirectoryObject>,
}

fn object_ref(object: &DirectoryObject) -> ObjectRef {
    ObjectRef {
        kind: object.kind(),
        id: object.id().clone(),
        name: object
            .user_principal_name()
            .or_else(|| object.display_name())
            .map(str::to_owned),
    }
}

/// A member to bind: its `@odata.bind` URL and the steps it waits for.
type Bind = (String, Vec<u32>);

/// A reference to an object in the target: its id (or placeholder) and the step it waits for.
type Target = (String, Option<u32>);

impl Planner<'_> {
    #[allow(clippy::too_many_arguments)] // a step's fields, named at each call site
    fn push(
        &mut self,
        phase: Phase,
        action: Action,
        object: ObjectRef,
        call: Call,
        why: impl Into<String>,
        mut depends_on: Vec<u32>,
        lookup: Option<String>,
    ) -> u32 {
        let id = self.steps.len() as u32 + 1;
        depends_on.sort_unstable();
        depends_on.dedup();
        self.steps.push(Step {
            id,
            phase,
            action,
            object,
            call,
            why: why.into(),
            depends_on,
            lookup,
        });
        id
    }

    fn warn(&mut self, object: ObjectRef, message: impl Into<String>) {
        self.warnings.push(Warning {
            object,
            message: message.into(),
        });
    }

    fn skip(&mut self, object: ObjectRef, reason: impl Into<String>) {
        self.skipped.push(Skip {
            object,
            reason: reason.into(),
        });
    }

    /// The target id (or placeholder) of a snapshot object, and the step that makes it.
    fn target(&self, id: &ObjectId) -> Option<Target> {
        match self.id_map.get(id)? {
            Mapping::Existing { id, .. } => Some((id.to_string(), None)),
            Mapping::Restored { step } => Some((id.to_string(), Some(*step))),
            Mapping::Created { step } => Some((new_id(id), Some(*step))),
        }
    }

    /// An object that cannot be referred to, and why, for a warning.
    fn unavailable(&self, id: &ObjectId) -> String {
        let what = self
            .backup
            .object(id)
            .map(|o| object_ref(o).to_string())
            .unwrap_or_else(|| format!("object {id}"));
        let why = if self.current.ambiguous.contains_key(id) {
            "its match in the target is ambiguous"
        } else if self.current.recycle_bin.contains_key(id) {
            "in the recycle bin"
        } else if self.cross {
            "no match in the target tenant"
        } else {
            "gone"
        };
        format!("{what} ({why})")
    }

    /// Notes a relationship of `about` whose other end `other` is not in the target.
    fn unreachable(&mut self, about: ObjectRef, kind: RelationshipKind, other: &ObjectId) {
        let text = format!("{kind:?} {}", self.unavailable(other));
        self.unreachable.entry(about).or_default().insert(text);
    }

    /// One warning per object for its relationships that could not be restored.
    fn flush_unreachable(&mut self) {
        for (about, ends) in std::mem::take(&mut self.unreachable) {
            let list: Vec<String> = ends.into_iter().collect();
            self.warn(
                about,
                format!(
                    "{} relationship(s) not restored because the other end is not in the target (select those objects too, with --with-object): {}",
                    list.len(),
                    list.join("; ")
                ),
            );
        }
    }

    fn domain(&self) -> Option<&str> {
        self.options.domain.as_deref()
    }

    // ----- objects -----------------------------------------------------------------------
}

/// An id or placeholder as an [`ObjectId`], for comparisons with what exists.
fn id_of(s: &str) -> ObjectId {
    ObjectId::new(s).unwrap_or_else(|_| ObjectId::new("-").expect("a valid id"))
}
