//! [`plan`]: pure planning from the snapshot's state and the target's state.
//!
//! Graph's rules the plan follows are in docs/graph.md §1 ("Create / update rules that
//! restore must respect"), §2 (recycle bin) and §7 (errors); docs/restore.md explains each
//! option.

use std::collections::{BTreeMap, BTreeSet};

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
use crate::state::{collection, filter};
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
        id_map: BTreeMap::new(),
        skipped: Vec::new(),
        warnings: Vec::new(),
        resets: BTreeSet::new(),
        needs_password: false,
        unreachable: BTreeMap::new(),
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
        id_map,
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
    id_map: BTreeMap<ObjectId, Mapping>,
    skipped: Vec<Skip>,
    warnings: Vec<Warning>,
    resets: BTreeSet<ObjectRef>,
    needs_password: bool,
    unreachable: BTreeMap<ObjectRef, BTreeSet<String>>,
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

    fn object(&mut self, object: &DirectoryObject, phase: Phase) -> Result<()> {
        let oref = object_ref(object);
        let id = object.id();
        if let Some(name) = &self.options.as_new {
            let name = name.clone();
            return self.create(object, phase, Some(&name));
        }
        if let Some(reason) = self.current.ambiguous.get(id) {
            let reason = reason.clone();
            self.warn(
                oref,
                format!("not restored: {reason}; resolve it in the tenant, then plan again"),
            );
            return Ok(());
        }
        if let Some(found) = self.current.found.get(id) {
            if self.options.only_deleted {
                self.skip(oref, "exists in the target (--only-deleted)");
            } else if self.options.restores_object() {
                self.overwrite(object, &found.object, phase, Vec::new());
            }
            return Ok(());
        }
        if let Some(deleted) = self.current.recycle_bin.get(id) {
            if !self.options.restores_object() {
                self.warn(
                    oref,
                    "is in the recycle bin; add --with-object to restore it (same id, memberships come back)",
                );
                return Ok(());
            }
            let collection = self.collection(object.kind());
            let body = (object.kind() == ObjectKind::Users)
                .then(|| json!({"autoReconcileProxyConflict": true}));
            let step = self.push(
                phase,
                Action::RestoreDeleted,
                oref,
                Call {
                    method: "POST".into(),
                    url: format!("/directory/deletedItems/{id}/restore"),
                    body,
                },
                "in the recycle bin: restore with the same id (memberships, roles and licenses come back with it)",
                Vec::new(),
                Some(format!("{collection}/{id}?$select=id")),
            );
            self.id_map.insert(id.clone(), Mapping::Restored { step });
            self.overwrite(object, deleted, phase, vec![step]);
            return Ok(());
        }
        if !self.options.restores_object() {
            let message = if self.cross {
                "has no match in the target tenant; add --with-object to create it"
            } else {
                "no longer exists in the target; add --with-object to re-create it"
            };
            self.warn(oref, message);
            return Ok(());
        }
        self.create(object, phase, None)
    }

    fn collection(&self, kind: ObjectKind) -> &'static str {
        collection(kind).unwrap_or("/directoryObjects")
    }

    /// The properties of a snapshot object a create or update may send, with references,
    /// domains and extension attributes adjusted for the target; notes what it leaves out.
    fn writable(
        &mut self,
        object: &DirectoryObject,
        creating: bool,
    ) -> (Map<String, Value>, Vec<u32>) {
        let kind = object.kind();
        let oref = object_ref(object);
        let s = schema(kind);
        let synced = object.is_synced_from_on_premises();
        let mut out = Map::new();
        let mut deps = Vec::new();
        let mut missing_extensions = Vec::new();
        for (key, value) in object.raw() {
            let keep_type = key == "@odata.type" && kind == ObjectKind::NamedLocations && creating;
            if (key.starts_with('@') || key.contains("@odata.")) && !keep_type {
                continue;
            }
            if let Some(s) = s {
                let allowed_create_only =
                    creating && kind == ObjectKind::ServicePrincipals && key == "appId";
                if (s.read_only.contains(&key.as_str()) && !allowed_create_only)
                    || (!creating && s.create_only.contains(&key.as_str()))
                    || (!s.has(key) && !key.starts_with("extension_"))
                {
                    continue;
                }
                if kind == ObjectKind::Devices && !device_writable().contains(&key.as_str()) {
                    continue;
                }
                if synced && !creating && s.on_premises_owned.contains(&key.as_str()) {
                    continue;
                }
            } else if OTHER_READ_ONLY.contains(&key.as_str()) {
                continue;
            }
            if key.starts_with("extension_")
                && let Some(known) = &self.current.extension_properties
                && !known.contains(key)
            {
                missing_extensions.push(key.clone());
                continue;
            }
            if creating && value.is_null() {
                continue;
            }
            // Properties that are not the object's own data.
            if matches!(
                key.as_str(),
                "passwordProfile"
                    | "signInActivity"
                    | "onPremisesImmutableId"
                    | "securityIdentifier"
            ) {
                continue;
            }
            if self.cross && matches!(key.as_str(), "identities" | "identifierUris") {
                continue;
            }
            out.insert(key.clone(), value.clone());
        }
        if !missing_extensions.is_empty() {
            self.warn(
                oref.clone(),
                format!(
                    "extension attributes {} are not defined in the target (their application is gone or in another tenant): not restored",
                    missing_extensions.join(", ")
                ),
            );
        }
        if let (true, Some(domain)) = (self.cross, self.domain().map(str::to_owned)) {
            for field in ["userPrincipalName", "mail"] {
                if let Some(Value::String(v)) = out.get_mut(field) {
                    *v = move_domain(v, &domain);
                }
            }
            if let Some(Value::Array(items)) = out.get_mut("otherMails") {
                for v in items.iter_mut() {
                    if let Value::String(s) = v {
                        *s = move_domain(s, &domain);
                    }
                }
            }
        }
        if kind == ObjectKind::ConditionalAccessPolicies {
            deps.extend(self.remap_policy(&oref, &mut out));
        }
        if kind == ObjectKind::Users && self.options.block_sign_in {
            out.insert("accountEnabled".into(), Value::Bool(false));
        }
        (out, deps)
    }

    /// Remaps the users, groups and named locations a policy names; an unresolvable
    /// reference is dropped and the policy restored disabled, for an administrator to review.
    fn remap_policy(&mut self, oref: &ObjectRef, body: &mut Map<String, Value>) -> Vec<u32> {
        let mut deps = Vec::new();
        let mut dropped = Vec::new();
        for (section, field) in POLICY_FIELDS {
            let Some(Value::Array(items)) = body
                .get_mut("conditions")
                .and_then(|c| c.get_mut(section))
                .and_then(|s| s.get_mut(field))
            else {
                continue;
            };
            let mut mapped = Vec::new();
            for item in items.iter() {
                let Some(id) = item.as_str() else { continue };
                if POLICY_KEYWORDS.contains(&id) {
                    mapped.push(item.clone());
                    continue;
                }
                match ObjectId::new(id).ok().and_then(|i| self.target(&i)) {
                    Some((target, step)) => {
                        mapped.push(Value::String(target));
                        deps.extend(step);
                    }
                    None => dropped.push(format!("{field} {id}")),
                }
            }
            *items = mapped;
        }
        if !dropped.is_empty() {
            body.insert("state".into(), json!("disabled"));
            self.warn(
                oref.clone(),
                format!(
                    "names objects that do not exist in the target ({}): they are left out and the policy is restored disabled; review it before enabling",
                    dropped.join(", ")
                ),
            );
        }
        deps
    }

    fn overwrite(
        &mut self,
        object: &DirectoryObject,
        live: &DirectoryObject,
        phase: Phase,
        deps: Vec<u32>,
    ) {
        let oref = object_ref(object);
        let kind = object.kind();
        let (mut wanted, more) = self.writable(object, false);
        // Compare what both sides have: a property the target did not return was not read.
        let block = self.options.block_sign_in && kind == ObjectKind::Users;
        wanted.retain(|k, _| live.raw().contains_key(k) || (block && k == "accountEnabled"));
        let mut live_map = live.raw().clone();
        live_map.retain(|k, _| wanted.contains_key(k));
        let mut patch = Map::new();
        for change in diff_objects(&live_map, &wanted, &DiffOptions::default()) {
            if change.kind == ChangeKind::Removed {
                continue;
            }
            let top = change.path.split('/').next().unwrap_or_default();
            if let Some(v) = wanted.get(top) {
                patch.insert(top.to_owned(), v.clone());
            }
        }
        if object.is_synced_from_on_premises()
            && let Some(s) = schema(kind)
        {
            let owned: Vec<&str> = s
                .on_premises_owned
                .iter()
                .copied()
                .filter(|p| object.get(p) != live.get(p) && object.get(p).is_some())
                .collect();
            if !owned.is_empty() {
                self.warn(
                    oref.clone(),
                    format!(
                        "synced from on-premises AD, which owns {}: change them there",
                        owned.join(", ")
                    ),
                );
            }
        }
        if patch.is_empty() {
            if deps.is_empty() {
                self.skip(oref, "already as in the snapshot");
            }
            return;
        }
        let names: Vec<&str> = patch.keys().map(String::as_str).collect();
        let why = format!(
            "overwrite what differs from the snapshot: {}",
            names.join(", ")
        );
        let url = format!("{}/{}", self.collection(kind), live.id());
        let mut deps = deps;
        deps.extend(more);
        self.push(
            phase,
            Action::Update,
            oref,
            Call {
                method: "PATCH".into(),
                url,
                body: Some(Value::Object(patch)),
            },
            why,
            deps,
            None,
        );
    }

    fn create(
        &mut self,
        object: &DirectoryObject,
        phase: Phase,
        as_new: Option<&str>,
    ) -> Result<()> {
        let kind = object.kind();
        let oref = object_ref(object);
        if kind.info().recreate == Recreate::No
            || (kind == ObjectKind::RoleDefinitions
                && object.get("isBuiltIn") == Some(&Value::Bool(true)))
        {
            let why = match kind {
                ObjectKind::Devices => {
                    "Graph has no app-only create for devices: re-register or re-enroll the device (Intune, Autopilot)"
                }
                ObjectKind::RoleDefinitions => "built-in role definitions are read-only",
                _ => "Graph cannot create objects of this kind",
            };
            if as_new.is_some() {
                return Err(Error::Options(format!("--as-new: {oref}: {why}")));
            }
            self.warn(oref, format!("gone and not re-creatable: {why}"));
            return Ok(());
        }
        if as_new.is_some() && kind == ObjectKind::ServicePrincipals {
            return Err(Error::Options(
                "--as-new is for users, groups, applications, units, roles, policies and locations: a service principal belongs to its application (restore the application as new, then its service principal)".into(),
            ));
        }
        if kind == ObjectKind::Users && object.str("userType") == Some("Guest") {
            self.warn(
                oref,
                "a guest account is invited, not created: re-invite the guest (POST /invitations); it cannot keep its id",
            );
            return Ok(());
        }
        if object.is_synced_from_on_premises() && !self.cross && as_new.is_none() {
            self.warn(
                oref,
                "synced from on-premises AD: restore it in AD and let sync re-create it (a cloud copy would clash with sync)",
            );
            return Ok(());
        }
        let (mut body, mut deps) = self.writable(object, true);
        let collection = self.collection(kind);
        let mut lookup_filter = None;
        match kind {
            ObjectKind::Users => {
                if let Some(name) = as_new {
                    let upn = body
                        .get("userPrincipalName")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    let upn = if name.contains('@') {
                        name.to_owned()
                    } else {
                        move_domain(
                            &upn,
                            upn.rsplit_once('@').map(|(_, d)| d).unwrap_or_default(),
                        )
                        .replacen(
                            upn.split('@').next().unwrap_or_default(),
                            name,
                            1,
                        )
                    };
                    let nickname = upn.split('@').next().unwrap_or_default().to_owned();
                    body.insert("userPrincipalName".into(), json!(upn));
                    body.insert("mailNickname".into(), json!(nickname));
                    for unique in ["mail", "otherMails", "employeeId", "identities"] {
                        body.remove(unique);
                    }
                }
                if !body.contains_key("mailNickname")
                    && let Some(upn) = body.get("userPrincipalName").and_then(Value::as_str)
                {
                    let nickname = upn.split('@').next().unwrap_or_default().to_owned();
                    body.insert("mailNickname".into(), json!(nickname));
                }
                body.entry("accountEnabled").or_insert(json!(true));
                body.insert(
                    "passwordProfile".into(),
                    json!({"forceChangePasswordNextSignIn": true, "password": DEFAULT_PASSWORD}),
                );
                self.needs_password = true;
                self.resets.insert(oref.clone());
                if let Some(upn) = body.get("userPrincipalName").and_then(Value::as_str) {
                    lookup_filter = Some(filter("userPrincipalName", upn));
                }
                if object
                    .get("assignedLicenses")
                    .and_then(Value::as_array)
                    .is_some_and(|l| !l.is_empty())
                {
                    self.warn(
                        oref.clone(),
                        "licenses are not part of the object: assign them again (assignLicense or group-based licensing)",
                    );
                }
            }
            ObjectKind::Groups => {
                if let Some(name) = as_new {
                    body.insert("displayName".into(), json!(name));
                    let nickname: String =
                        name.chars().filter(char::is_ascii_alphanumeric).collect();
                    body.insert("mailNickname".into(), json!(nickname));
                }
                if let Some(n) = body.get("mailNickname").and_then(Value::as_str) {
                    lookup_filter = Some(filter("mailNickname", n));
                }
            }
            ObjectKind::ServicePrincipals => {
                let app = object.app_id().and_then(|app_id| {
                    self.backup.objects.values().find(|o| {
                        o.kind() == ObjectKind::Applications && o.app_id() == Some(app_id)
                    })
                });
                if let Some(app) = app
                    && let Some(Mapping::Created { step }) = self.id_map.get(app.id())
                {
                    let placeholder = new_app_id(app.id());
                    body.insert("appId".into(), json!(placeholder));
                    deps.push(*step);
                }
                if let Some(a) = body.get("appId").and_then(Value::as_str) {
                    lookup_filter = Some(filter("appId", a));
                }
            }
            _ => {
                if let Some(name) = as_new {
                    body.insert("displayName".into(), json!(name));
                }
                if let Some(n) = body.get("displayName").and_then(Value::as_str) {
                    lookup_filter = Some(filter("displayName", n));
                }
            }
        }
        if kind == ObjectKind::Applications {
            if as_new.is_some() {
                body.remove("identifierUris");
            }
            if object
                .get("passwordCredentials")
                .and_then(Value::as_array)
                .is_some_and(|c| !c.is_empty())
            {
                self.warn(
                    oref.clone(),
                    "client secrets are never readable, so never in a backup: add a new secret (addPassword) and update the apps that use it",
                );
            }
        }
        let why = match (as_new, self.cross) {
            (Some(name), _) => format!("as a new object named {name:?} (new id)"),
            (None, true) => "not in the target tenant: create it (new id)".to_owned(),
            (None, false) => "gone for good (not in the recycle bin): re-create it with a new id; references to it are remapped".to_owned(),
        };
        let select = match kind {
            ObjectKind::Applications | ObjectKind::ServicePrincipals => "id,appId",
            _ => "id",
        };
        let lookup = lookup_filter.map(|f| format!("{collection}?{f}&$select={select}"));
        let step = self.push(
            phase,
            Action::Create,
            ObjectRef {
                name: body
                    .get("userPrincipalName")
                    .or_else(|| body.get("displayName"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or(oref.name.clone()),
                ..oref
            },
            Call {
                method: "POST".into(),
                url: collection.to_owned(),
                body: Some(Value::Object(body)),
            },
            why,
            deps,
            lookup,
        );
        self.id_map
            .insert(object.id().clone(), Mapping::Created { step });
        Ok(())
    }

    // ----- relationships -----------------------------------------------------------------

    /// Whether a link exists now (both ends known in the target).
    fn link_exists(&self, kind: RelationshipKind, source: &str, target: &str) -> bool {
        self.current
            .links
            .contains(&(kind, source.to_owned(), target.to_owned()))
    }

    fn memberships(&mut self) {
        // Group → members to bind, each with the step it waits for.
        let mut binds: BTreeMap<(String, ObjectId), Vec<Bind>> = BTreeMap::new();
        let relationships: Vec<&Relationship> = self
            .backup
            .relationships
            .iter()
            .filter(|r| is_membership(r.kind))
            .collect();
        let mut wanted = BTreeSet::new();
        for r in relationships {
            let (Some(source), Some(target)) = (self.target(&r.source), self.target(&r.target))
            else {
                let (about, other) = if self.backup.selected.contains(&r.source) {
                    (&r.source, &r.target)
                } else {
                    (&r.target, &r.source)
                };
                if let Some(o) = self.backup.object(about) {
                    self.unreachable(object_ref(o), r.kind, other);
                }
                continue;
            };
            wanted.insert((r.kind, source.0.clone(), target.0.clone()));
            if self.link_exists(r.kind, &source.0, &target.0) {
                continue;
            }
            let source_object = self.backup.object(&r.source).cloned();
            let Some(source_object) = source_object else {
                continue;
            };
            let oref = object_ref(&source_object);
            let deps: Vec<u32> = source.1.into_iter().chain(target.1).collect();
            if r.kind == RelationshipKind::GroupMember
                && source_object
                    .get("groupTypes")
                    .and_then(Value::as_array)
                    .is_some_and(|t| t.iter().any(|t| t == "DynamicMembership"))
            {
                continue; // Its rule computes its members.
            }
            match r.kind {
                RelationshipKind::GroupMember => {
                    binds
                        .entry((source.0.clone(), r.source.clone()))
                        .or_default()
                        .push((format!("{GRAPH_ROOT}/directoryObjects/{}", target.0), deps));
                }
                RelationshipKind::UserManager => {
                    let manager = self.backup.object(&r.target).map(object_ref);
                    self.push(
                        Phase::Relationships,
                        Action::SetManager,
                        oref,
                        Call {
                            method: "PUT".into(),
                            url: format!("/users/{}/manager/$ref", source.0),
                            body: Some(
                                json!({"@odata.id": format!("{GRAPH_ROOT}/users/{}", target.0)}),
                            ),
                        },
                        format!(
                            "manager as of the snapshot: {}",
                            manager
                                .map(|m| m.to_string())
                                .unwrap_or_else(|| r.target.to_string())
                        ),
                        deps,
                        None,
                    );
                }
                kind => {
                    let Some(path) = link_path(kind) else {
                        continue;
                    };
                    let other = self.backup.object(&r.target).map(object_ref);
                    self.push(
                        Phase::Relationships,
                        Action::AddLink,
                        oref,
                        Call {
                            method: "POST".into(),
                            url: format!("{}/$ref", path.replace("{id}", &source.0)),
                            body: Some(json!({"@odata.id": format!("{GRAPH_ROOT}/directoryObjects/{}", target.0)})),
                        },
                        format!(
                            "{kind:?} as of the snapshot: {}",
                            other.map(|m| m.to_string()).unwrap_or_else(|| r.target.to_string())
                        ),
                        deps,
                        None,
                    );
                }
            }
        }
        for ((group, source), members) in binds {
            let Some(g) = self.backup.object(&source).map(object_ref) else {
                continue;
            };
            for chunk in members.chunks(MAX_BIND) {
                let deps = chunk.iter().flat_map(|(_, d)| d.iter().copied()).collect();
                let refs: Vec<&String> = chunk.iter().map(|(r, _)| r).collect();
                self.push(
                    Phase::Relationships,
                    Action::AddMembers,
                    g.clone(),
                    Call {
                        method: "PATCH".into(),
                        url: format!("/groups/{group}"),
                        body: Some(json!({"members@odata.bind": refs})),
                    },
                    format!("{} member(s) as of the snapshot", chunk.len()),
                    deps,
                    None,
                );
            }
        }
        if self.options.rollback_relationships {
            self.rollback_links(&wanted);
        }
    }

    /// Rollback: links of the selected objects that exist now but not in the snapshot.
    fn rollback_links(&mut self, wanted: &BTreeSet<(RelationshipKind, String, String)>) {
        let selected: BTreeMap<String, ObjectRef> = self
            .backup
            .selected
            .iter()
            .filter_map(|id| {
                let target = self.current.target_id(id)?;
                Some((target.to_string(), object_ref(self.backup.object(id)?)))
            })
            .collect();
        let extra: Vec<(RelationshipKind, String, String)> = self
            .current
            .links
            .iter()
            .filter(|(kind, s, t)| {
                (selected.contains_key(s) || selected.contains_key(t))
                    && *kind != RelationshipKind::DirectoryRoleMember
                    && !wanted.contains(&(*kind, s.clone(), t.clone()))
            })
            .cloned()
            .collect();
        for (kind, source, target) in extra {
            let about = selected
                .get(&source)
                .or_else(|| selected.get(&target))
                .cloned();
            let Some(about) = about else { continue };
            let (url, method) = match kind {
                RelationshipKind::UserManager => {
                    (format!("/users/{source}/manager/$ref"), "DELETE")
                }
                k => match link_path(k) {
                    Some(p) => (
                        format!("{}/{target}/$ref", p.replace("{id}", &source)),
                        "DELETE",
                    ),
                    None => continue,
                },
            };
            self.push(
                Phase::Relationships,
                Action::RemoveLink,
                about,
                Call {
                    method: method.into(),
                    url,
                    body: None,
                },
                format!("{kind:?} {source} → {target} is not in the snapshot (rollback)"),
                Vec::new(),
                None,
            );
        }
    }

    /// The role definition id to use in the target.
    fn role_definition(&self, id: &ObjectId) -> Option<Target> {
        match self.backup.object(id) {
            Some(def) if def.get("isBuiltIn") == Some(&Value::Bool(false)) => self.target(id),
            // Built-in roles: the id is the template id, the same in every tenant.
            _ => Some((id.to_string(), None)),
        }
    }

    fn scope(&self, scope: Option<&str>) -> Option<Target> {
        let scope = scope.unwrap_or("/");
        match scope.strip_prefix("/administrativeUnits/") {
            Some(au) => {
                let (id, step) = self.target(&ObjectId::new(au).ok()?)?;
                Some((format!("/administrativeUnits/{id}"), step))
            }
            None => Some((scope.to_owned(), None)),
        }
    }

    fn assignment_exists(&self, kind: RelationshipKind, want: &Relationship) -> bool {
        self.current.assignments.iter().any(|a| {
            a.kind == kind
                && a.source == want.source
                && a.target == want.target
                && match kind {
                    RelationshipKind::RoleAssignment | RelationshipKind::RoleEligibility => {
                        a.directory_scope_id().unwrap_or("/")
                            == want.directory_scope_id().unwrap_or("/")
                    }
                    RelationshipKind::AppRoleAssignment => a.app_role_id() == want.app_role_id(),
                    RelationshipKind::Oauth2PermissionGrant => {
                        a.resource() == want.resource() && a.consent_type() == want.consent_type()
                    }
                    _ => true,
                }
        })
    }

    fn roles(&mut self) {
        let relationships: Vec<Relationship> = self
            .backup
            .relationships
            .iter()
            .filter(|r| !is_membership(r.kind))
            .cloned()
            .collect();
        let mut wanted_ids = Vec::new();
        for r in &relationships {
            let about = [&r.target, &r.source]
                .into_iter()
                .find(|id| self.backup.selected.contains(id))
                .and_then(|id| self.backup.object(id))
                .map(object_ref)
                .unwrap_or(ObjectRef {
                    kind: ObjectKind::DirectoryRoles,
                    id: r.source.clone(),
                    name: None,
                });
            let resolved = match r.kind {
                RelationshipKind::RoleAssignment | RelationshipKind::RoleEligibility => self
                    .target(&r.target)
                    .zip(self.role_definition(&r.source))
                    .zip(self.scope(r.directory_scope_id()))
                    .map(|((p, d), s)| (p, d, s)),
                RelationshipKind::AppRoleAssignment | RelationshipKind::Oauth2PermissionGrant => {
                    let resource = match r.kind {
                        RelationshipKind::AppRoleAssignment => Some(r.source.clone()),
                        _ => r.resource().cloned(),
                    };
                    self.target(&r.target)
                        .zip(self.target(&r.source))
                        .zip(resource.and_then(|res| self.target(&res)))
                        .map(|((p, s), res)| (p, s, res))
                }
                RelationshipKind::DirectoryRoleMember => {
                    self.directory_role_member(r, about);
                    continue;
                }
                _ => continue, // Scoped role members are AU-scoped role assignments.
            };
            let Some((a, b, c)) = resolved else {
                if let Some(missing) = r
                    .referenced_ids()
                    .into_iter()
                    .find(|id| self.target(id).is_none())
                {
                    self.unreachable(about, r.kind, missing);
                }
                continue;
            };
            let deps: Vec<u32> = [a.1, b.1, c.1].into_iter().flatten().collect();
            let (url, body, want) = match r.kind {
                RelationshipKind::RoleAssignment | RelationshipKind::RoleEligibility => {
                    let want = Relationship::with_details(
                        r.kind,
                        id_of(&b.0),
                        id_of(&a.0),
                        RelationshipDetails {
                            directory_scope_id: Some(c.0.clone()),
                            ..RelationshipDetails::default()
                        },
                    );
                    let mut body = json!({"principalId": a.0, "roleDefinitionId": b.0, "directoryScopeId": c.0});
                    let url = if r.kind == RelationshipKind::RoleAssignment {
                        "/roleManagement/directory/roleAssignments".to_owned()
                    } else {
                        body["action"] = json!("adminAssign");
                        body["justification"] = json!("Restored by dirvault");
                        body["scheduleInfo"] = json!({"startDateTime": self.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "expiration": {"type": "noExpiration"}});
                        "/roleManagement/directory/roleEligibilityScheduleRequests".to_owned()
                    };
                    (url, body, want)
                }
                RelationshipKind::AppRoleAssignment => {
                    let want = Relationship::with_details(
                        r.kind,
                        id_of(&b.0),
                        id_of(&a.0),
                        RelationshipDetails {
                            app_role_id: r.app_role_id().map(str::to_owned),
                            ..RelationshipDetails::default()
                        },
                    );
                    let body = json!({"principalId": a.0, "resourceId": c.0, "appRoleId": r.app_role_id()});
                    (
                        format!("/servicePrincipals/{}/appRoleAssignedTo", c.0),
                        body,
                        want,
                    )
                }
                _ => {
                    let want = Relationship::with_details(
                        r.kind,
                        id_of(&b.0),
                        id_of(&a.0),
                        RelationshipDetails {
                            resource: Some(id_of(&c.0)),
                            consent_type: r.consent_type().map(str::to_owned),
                            ..RelationshipDetails::default()
                        },
                    );
                    let mut body = json!({"clientId": b.0, "consentType": r.consent_type(), "resourceId": c.0, "scope": r.scope()});
                    if r.consent_type() == Some("Principal") {
                        body["principalId"] = json!(a.0);
                    }
                    ("/oauth2PermissionGrants".to_owned(), body, want)
                }
            };
            wanted_ids.push(want.clone());
            if deps.is_empty() && self.assignment_exists(r.kind, &want) {
                continue;
            }
            let why = match r.kind {
                RelationshipKind::RoleAssignment => {
                    format!(
                        "role {} at scope {} as of the snapshot",
                        self.role_name(&r.source),
                        c.0
                    )
                }
                RelationshipKind::RoleEligibility => format!(
                    "PIM eligibility for role {} at scope {} as of the snapshot (no expiration)",
                    self.role_name(&r.source),
                    c.0
                ),
                RelationshipKind::AppRoleAssignment => {
                    "app role assignment as of the snapshot".to_owned()
                }
                _ => format!(
                    "delegated permission grant ({}) as of the snapshot",
                    r.scope().unwrap_or("").trim()
                ),
            };
            self.push(
                Phase::Roles,
                Action::Assign,
                about,
                Call {
                    method: "POST".into(),
                    url,
                    body: Some(body),
                },
                why,
                deps,
                None,
            );
        }
        if self.options.rollback_relationships {
            self.rollback_role_assignments(&wanted_ids);
        }
    }

    fn role_name(&self, id: &ObjectId) -> String {
        self.backup
            .object(id)
            .and_then(|d| d.display_name())
            .map(|n| format!("{n:?}"))
            .unwrap_or_else(|| id.to_string())
    }

    /// A member of an activated directory role that no role assignment in the snapshot
    /// covers: activate the role first if the target has not, then add the member.
    fn directory_role_member(&mut self, r: &Relationship, about: ObjectRef) {
        let Some(template) = self
            .backup
            .object(&r.source)
            .and_then(|role| role.str("roleTemplateId"))
            .map(str::to_owned)
        else {
            return;
        };
        let covered = self.backup.relationships.iter().any(|a| {
            a.kind == RelationshipKind::RoleAssignment
                && a.target == r.target
                && a.source.as_str() == template
                && a.directory_scope_id().unwrap_or("/") == "/"
        });
        if covered {
            return;
        }
        let Some(member) = self.target(&r.target) else {
            return;
        };
        let mut deps: Vec<u32> = member.1.into_iter().collect();
        let role = match self.current.activated_roles.get(&template) {
            Some(id) => id.clone(),
            None => {
                let step = self.push(
                    Phase::Roles,
                    Action::ActivateRole,
                    ObjectRef {
                        kind: ObjectKind::DirectoryRoles,
                        id: r.source.clone(),
                        name: Some(self.role_name(&r.source)),
                    },
                    Call {
                        method: "POST".into(),
                        url: "/directoryRoles".into(),
                        body: Some(json!({"roleTemplateId": template})),
                    },
                    "built-in role not activated in the target: activate it first",
                    Vec::new(),
                    Some(format!("/directoryRoles(roleTemplateId='{template}')")),
                );
                self.id_map
                    .insert(r.source.clone(), Mapping::Created { step });
                deps.push(step);
                new_id(&r.source)
            }
        };
        self.push(
            Phase::Roles,
            Action::AddLink,
            about,
            Call {
                method: "POST".into(),
                url: format!("/directoryRoles/{role}/members/$ref"),
                body: Some(
                    json!({"@odata.id": format!("{GRAPH_ROOT}/directoryObjects/{}", member.0)}),
                ),
            },
            format!(
                "member of directory role {} as of the snapshot",
                self.role_name(&r.source)
            ),
            deps,
            None,
        );
    }

    fn rollback_role_assignments(&mut self, wanted: &[Relationship]) {
        let selected: BTreeMap<&ObjectId, ObjectRef> = self
            .backup
            .selected
            .iter()
            .filter_map(|id| {
                Some((
                    self.current.target_id(id)?,
                    object_ref(self.backup.object(id)?),
                ))
            })
            .collect();
        let extra: Vec<(ObjectRef, Relationship)> = self
            .current
            .assignments
            .iter()
            .filter(|a| a.kind == RelationshipKind::RoleAssignment)
            .filter_map(|a| Some((selected.get(&a.target)?.clone(), a.clone())))
            .filter(|(_, a)| {
                !wanted.iter().any(|w| {
                    w.kind == a.kind
                        && w.source == a.source
                        && w.target == a.target
                        && w.directory_scope_id().unwrap_or("/")
                            == a.directory_scope_id().unwrap_or("/")
                })
            })
            .collect();
        for (about, a) in extra {
            let Some(id) = a.id() else { continue };
            self.push(
                Phase::Roles,
                Action::Unassign,
                about,
                Call {
                    method: "DELETE".into(),
                    url: format!("/roleManagement/directory/roleAssignments/{id}"),
                    body: None,
                },
                format!(
                    "role {} at scope {} is not in the snapshot (rollback)",
                    self.role_name(&a.source),
                    a.directory_scope_id().unwrap_or("/")
                ),
                Vec::new(),
                None,
            );
        }
    }

    // ----- authentication methods --------------------------------------------------------

    fn auth_methods(&mut self, user: &DirectoryObject) {
        let oref = object_ref(user);
        let Some(methods) = self.backup.auth_methods.get(user.id()).cloned() else {
            return;
        };
        let Some((target, step)) = self.target(user.id()) else {
            self.warn(
                oref,
                format!(
                    "authentication methods not restored: {}",
                    self.unavailable(user.id())
                ),
            );
            return;
        };
        let current: Vec<Value> = self
            .current
            .auth_methods
            .get(&target)
            .cloned()
            .unwrap_or_default();
        let deps: Vec<u32> = step.into_iter().collect();
        let mut unrestorable = BTreeSet::new();
        for method in &methods {
            let ty = method
                .get("@odata.type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let (collection, key, body) = match ty {
                PHONE => (
                    "phoneMethods",
                    "phoneNumber",
                    json!({"phoneNumber": method["phoneNumber"], "phoneType": method["phoneType"]}),
                ),
                EMAIL => (
                    "emailMethods",
                    "emailAddress",
                    json!({"emailAddress": method["emailAddress"]}),
                ),
                PASSWORD => continue,
                other => {
                    unrestorable.insert(
                        other
                            .trim_start_matches("#microsoft.graph.")
                            .trim_end_matches("AuthenticationMethod")
                            .to_owned(),
                    );
                    continue;
                }
            };
            let same_slot = current.iter().find(|m| {
                m.get("@odata.type").and_then(Value::as_str) == Some(ty)
                    && (ty != PHONE || m.get("phoneType") == method.get("phoneType"))
            });
            match same_slot {
                Some(live) if live.get(key) == method.get(key) => {}
                Some(live) => {
                    let id = live.get("id").and_then(Value::as_str).unwrap_or_default();
                    self.push(
                        Phase::AuthenticationMethods,
                        Action::UpdateMethod,
                        oref.clone(),
                        Call {
                            method: "PATCH".into(),
                            url: format!("/users/{target}/authentication/{collection}/{id}"),
                            body: Some(json!({key: method[key]})),
                        },
                        format!("{collection} {key} differs from the snapshot"),
                        deps.clone(),
                        None,
                    );
                }
                None => {
                    self.push(
                        Phase::AuthenticationMethods,
                        Action::AddMethod,
                        oref.clone(),
                        Call {
                            method: "POST".into(),
                            url: format!("/users/{target}/authentication/{collection}"),
                            body: Some(body),
                        },
                        format!("{collection} as of the snapshot"),
                        deps.clone(),
                        None,
                    );
                }
            }
        }
        if !unrestorable.is_empty() {
            self.warn(
                oref.clone(),
                format!(
                    "authentication methods {} cannot be created through Graph: the user must register them again",
                    unrestorable.into_iter().collect::<Vec<_>>().join(", ")
                ),
            );
            self.resets.insert(oref);
        }
    }
}

/// An id or placeholder as an [`ObjectId`], for comparisons with what exists.
fn id_of(s: &str) -> ObjectId {
    ObjectId::new(s).unwrap_or_else(|_| ObjectId::new("-").expect("a valid id"))
}
