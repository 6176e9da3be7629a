//! The alert rules, evaluated over what changed between two snapshots: pure functions of the
//! objects' versions before and after, so that the CLI, the daemon and the console show the
//! same alerts for the same pair of snapshots.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dirvault_model::roles::{high_privilege_permission, privileged_role};
use dirvault_model::{ObjectId, ObjectKind, SnapshotId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A rule: what risky change it looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// A role assignment to a privileged directory role was added.
    PrivilegedRoleAssigned,
    /// PIM eligibility for a privileged directory role was added.
    PrivilegedRoleEligible,
    /// An enabled Conditional Access policy was disabled, switched to report-only, or deleted.
    ConditionalAccessWeakened,
    /// Security defaults were turned off.
    SecurityDefaultsDisabled,
    /// An authentication method was disabled (or removed) in the authentication methods
    /// policy.
    AuthenticationMethodDisabled,
    /// Cross-tenant access was opened, by default or for a partner: B2B collaboration or
    /// direct connect newly allowed, or another tenant's MFA or device claims newly trusted.
    CrossTenantAccessOpened,
    /// Users may consent to more: a permission grant policy newly assigned to the default
    /// user role, or consent for risky apps allowed.
    UserConsentWidened,
    /// Activating a privileged directory role through PIM no longer requires MFA, or no
    /// longer requires approval.
    PimActivationWeakened,
    /// Directory synchronization's accidental deletion prevention was switched off.
    SyncDeletionProtectionDisabled,
    /// A secret or certificate was added to an application or service principal.
    CredentialAdded,
    /// An app was granted a high-privilege Microsoft Graph application permission.
    HighPrivilegeAppPermission,
    /// A domain was added, or its authentication changed (managed / federated).
    DomainChanged,
    /// More objects of a kind than the threshold were deleted in one snapshot.
    MassDeletion,
}

impl Rule {
    /// Every rule, in the order alerts are listed.
    pub const ALL: [Rule; 13] = [
        Rule::PrivilegedRoleAssigned,
        Rule::PrivilegedRoleEligible,
        Rule::ConditionalAccessWeakened,
        Rule::SecurityDefaultsDisabled,
        Rule::AuthenticationMethodDisabled,
        Rule::CrossTenantAccessOpened,
        Rule::UserConsentWidened,
        Rule::PimActivationWeakened,
        Rule::SyncDeletionProtectionDisabled,
        Rule::CredentialAdded,
        Rule::HighPrivilegeAppPermission,
        Rule::DomainChanged,
        Rule::MassDeletion,
    ];

    /// The kinds whose objects the rule reads, before and after.
    pub(crate) fn kinds(self) -> &'static [ObjectKind] {
        match self {
            Rule::PrivilegedRoleAssigned => &[ObjectKind::RoleAssignments],
            Rule::PrivilegedRoleEligible => &[ObjectKind::RoleEligibilitySchedules],
            Rule::ConditionalAccessWeakened => &[ObjectKind::ConditionalAccessPolicies],
            Rule::SecurityDefaultsDisabled => &[ObjectKind::SecurityDefaults],
            Rule::AuthenticationMethodDisabled => &[ObjectKind::AuthenticationMethodsPolicy],
            Rule::CrossTenantAccessOpened => &[
                ObjectKind::CrossTenantAccessDefault,
                ObjectKind::CrossTenantAccessPolicyPartners,
            ],
            Rule::UserConsentWidened => &[ObjectKind::AuthorizationPolicy],
            Rule::PimActivationWeakened => &[ObjectKind::RoleManagementPolicies],
            Rule::SyncDeletionProtectionDisabled => &[ObjectKind::OnPremisesSynchronization],
            Rule::CredentialAdded => &[ObjectKind::Applications, ObjectKind::ServicePrincipals],
            Rule::HighPrivilegeAppPermission => &[ObjectKind::AppRoleAssignments],
            Rule::DomainChanged => &[ObjectKind::Domains],
            Rule::MassDeletion => &[],
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The serde name, so that the configuration and the output spell a rule alike.
        let name = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&name)
    }
}

/// A tenant's alert settings (`[tenants.NAME.alerts]` in the configuration): every rule is on
/// unless listed in `disabled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// Rules that never fire for this tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disabled: Vec<Rule>,
    /// `mass-deletion` fires when more objects than this of one kind are deleted in one
    /// snapshot.
    #[serde(default = "default_mass_deletion")]
    pub mass_deletion_threshold: usize,
}

fn default_mass_deletion() -> usize {
    50
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            disabled: Vec::new(),
            mass_deletion_threshold: default_mass_deletion(),
        }
    }
}

impl AlertSettings {
    /// Whether `rule` is on.
    pub fn enabled(&self, rule: Rule) -> bool {
        !self.disabled.contains(&rule)
    }
}

/// One risky change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// The rule that fired.
    pub rule: Rule,
    /// The snapshot before the change.
    pub from: SnapshotId,
    /// The snapshot that holds the change.
    pub to: SnapshotId,
    /// The kind of the object changed.
    pub kind: ObjectKind,
    /// The object (none for a rule about a whole kind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<ObjectId>,
    /// Its display name, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What happened, in a sentence.
    pub summary: String,
    /// The values the rule looked at, before the change (absent: the object was new).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The same values after it (absent: the object was deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// An object of a watched kind that changed: its versions in the two snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectChange {
    /// Its kind.
    pub kind: ObjectKind,
    /// Its id.
    pub id: ObjectId,
    /// Its name.
    pub name: Option<String>,
    /// The version before (none: created).
    pub before: Option<Map<String, Value>>,
    /// The version after (none: deleted).
    pub after: Option<Map<String, Value>>,
}

/// What the rules read: the changed objects of the kinds they watch, how many objects of each
/// kind were deleted, and the app roles of the service principals that app role assignments
/// point at.
#[derive(Debug, Clone)]
pub struct ChangeEvidence {
    /// The snapshot before.
    pub from: SnapshotId,
    /// The snapshot after.
    pub to: SnapshotId,
    /// Changed objects of the watched kinds.
    pub objects: Vec<ObjectChange>,
    /// Objects deleted per kind, of the kinds both snapshots read completely.
    pub deleted: BTreeMap<ObjectKind, usize>,
    /// App role `value`s by (resource service principal id, app role id), as of `to`.
    pub app_roles: HashMap<(String, String), String>,
    /// The directory role each changed PIM policy applies to: policy id → role definition id
    /// (its `unifiedRoleManagementPolicyAssignment`), as of `to`.
    pub pim_roles: HashMap<String, String>,
}

impl ChangeEvidence {
    /// Evidence of no change yet, from `from` to `to`.
    pub fn new(from: SnapshotId, to: SnapshotId) -> Self {
        Self {
            from,
            to,
            objects: Vec::new(),
            deleted: BTreeMap::new(),
            app_roles: HashMap::new(),
            pim_roles: HashMap::new(),
        }
    }
}

/// Logs roll over: their entries leaving a snapshot is retention, not deletion.
const LOG_KINDS: [ObjectKind; 2] = [ObjectKind::SignIns, ObjectKind::DirectoryAudits];

/// The alerts `settings` raise on `evidence`, in rule order, then by kind and id.
pub fn evaluate(settings: &AlertSettings, evidence: &ChangeEvidence) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for rule in Rule::ALL.into_iter().filter(|r| settings.enabled(*r)) {
        if rule == Rule::MassDeletion {
            for (kind, count) in &evidence.deleted {
                if *count > settings.mass_deletion_threshold && !LOG_KINDS.contains(kind) {
                    alerts.push(Alert {
                        rule,
                        from: evidence.from.clone(),
                        to: evidence.to.clone(),
                        kind: *kind,
                        id: None,
                        name: None,
                        summary: format!(
                            "{count} {kind} deleted in one snapshot (more than {})",
                            settings.mass_deletion_threshold
                        ),
                        before: None,
                        after: None,
                    });
                }
            }
            continue;
        }
        for change in evidence
            .objects
            .iter()
            .filter(|c| rule.kinds().contains(&c.kind))
        {
            if let Some((summary, before, after)) = check(rule, change, evidence) {
                alerts.push(Alert {
                    rule,
                    from: evidence.from.clone(),
                    to: evidence.to.clone(),
                    kind: change.kind,
                    id: Some(change.id.clone()),
                    name: change.name.clone(),
                    summary,
                    before,
                    after,
                });
            }
        }
    }
    alerts
}

type Finding = (String, Option<Value>, Option<Value>);

/// The cross-tenant access settings that went from blocked to allowed, or from not trusted to
/// trusted (resources/crosstenantaccesspolicyconfigurationdefault.md,
/// resources/crosstenantaccesspolicyb2bsetting.md, resources/crosstenantaccesspolicyinboundtrust.md).
fn opened_cross_tenant_settings(
    before: Option<&Map<String, Value>>,
    after: &Map<String, Value>,
) -> Vec<String> {
    let mut opened = Vec::new();
    for setting in [
        "b2bCollaborationInbound",
        "b2bCollaborationOutbound",
        "b2bDirectConnectInbound",
        "b2bDirectConnectOutbound",
    ] {
        for target in ["usersAndGroups", "applications"] {
            let access = |o: &Map<String, Value>| {
                o.get(setting)
                    .and_then(|s| s.get(target))
                    .and_then(|t| t.get("accessType"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let was = before.and_then(access);
            if access(after).as_deref() == Some("allowed") && was.as_deref() != Some("allowed") {
                opened.push(format!(
                    "{setting}.{target} {} → allowed",
                    was.as_deref().unwrap_or("not set")
                ));
            }
        }
    }
    for claim in [
        "isMfaAccepted",
        "isCompliantDeviceAccepted",
        "isHybridAzureADJoinedDeviceAccepted",
    ] {
        let trusted = |o: &Map<String, Value>| {
            o.get("inboundTrust").and_then(|t| t.get(claim)) == Some(&Value::Bool(true))
        };
        if trusted(after) && !before.is_some_and(trusted) {
            opened.push(format!("inboundTrust.{claim} now trusted"));
        }
    }
    opened
}

fn text<'a>(object: Option<&'a Map<String, Value>>, field: &str) -> Option<&'a str> {
    object?.get(field)?.as_str()
}

/// Whether `rule` fires on one object's change, with its sentence and the values it read.
fn check(rule: Rule, change: &ObjectChange, evidence: &ChangeEvidence) -> Option<Finding> {
    let (before, after) = (change.before.as_ref(), change.after.as_ref());
    match rule {
        Rule::PrivilegedRoleAssigned | Rule::PrivilegedRoleEligible => {
            // Only new ones: the assignment is the fact (its properties barely change).
            if before.is_some() {
                return None;
            }
            let definition = text(after, "roleDefinitionId")?;
            let role = privileged_role(definition)?;
            let principal = text(after, "principalId").unwrap_or("?");
            let scope = text(after, "directoryScopeId").unwrap_or("/");
            let what = if rule == Rule::PrivilegedRoleAssigned {
                "assigned"
            } else {
                "made eligible for"
            };
            Some((
                format!("principal {principal} {what} the privileged role {role} (scope {scope})"),
                None,
                Some(
                    serde_json::json!({"roleDefinitionId": definition, "role": role, "principalId": principal, "directoryScopeId": scope}),
                ),
            ))
        }
        Rule::ConditionalAccessWeakened => {
            let was = text(before, "state")?;
            if was != "enabled" {
                return None;
            }
            match text(after, "state") {
                Some("enabled") => None,
                Some(now) => Some((
                    format!("Conditional Access policy switched from enabled to {now}"),
                    Some(Value::from(was)),
                    Some(Value::from(now)),
                )),
                None if after.is_none() => Some((
                    "enabled Conditional Access policy deleted".to_owned(),
                    Some(Value::from(was)),
                    None,
                )),
                None => None,
            }
        }
        Rule::SecurityDefaultsDisabled => {
            let was = before?.get("isEnabled")?.as_bool()?;
            let now = after?.get("isEnabled")?.as_bool()?;
            (was && !now).then(|| {
                (
                    "security defaults turned off".to_owned(),
                    Some(Value::Bool(was)),
                    Some(Value::Bool(now)),
                )
            })
        }
        Rule::AuthenticationMethodDisabled => {
            let enabled = |o: Option<&Map<String, Value>>| -> BTreeSet<String> {
                o.and_then(|o| o.get("authenticationMethodConfigurations"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|c| c.get("state").and_then(Value::as_str) == Some("enabled"))
                    .filter_map(|c| c.get("id")?.as_str().map(str::to_owned))
                    .collect()
            };
            after?;
            let was = enabled(before);
            let disabled: Vec<String> = was.difference(&enabled(after)).cloned().collect();
            if disabled.is_empty() {
                return None;
            }
            Some((
                format!("authentication method(s) disabled: {}", disabled.join(", ")),
                Some(Value::from(was.into_iter().collect::<Vec<_>>())),
                Some(Value::from(disabled)),
            ))
        }
        Rule::CrossTenantAccessOpened => {
            // A new partner configuration is compared with nothing allowed.
            let opened = opened_cross_tenant_settings(before, after?);
            if opened.is_empty() {
                return None;
            }
            Some((
                format!("cross-tenant access opened: {}", opened.join(", ")),
                None,
                Some(Value::from(opened)),
            ))
        }
        Rule::UserConsentWidened => {
            let policies = |o: Option<&Map<String, Value>>| -> BTreeSet<String> {
                o.and_then(|o| o.get("defaultUserRolePermissions"))
                    .and_then(|p| p.get("permissionGrantPoliciesAssigned"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            };
            let (before, after) = (before?, after?);
            let added: Vec<String> = policies(Some(after))
                .difference(&policies(Some(before)))
                .cloned()
                .collect();
            let risky = |o: &Map<String, Value>| {
                o.get("allowUserConsentForRiskyApps") == Some(&Value::Bool(true))
            };
            let mut what = Vec::new();
            if !added.is_empty() {
                what.push(format!("users may now consent under {}", added.join(", ")));
            }
            if risky(after) && !risky(before) {
                what.push("user consent for risky apps allowed".to_owned());
            }
            if what.is_empty() {
                return None;
            }
            Some((what.join("; "), None, Some(Value::from(added))))
        }
        Rule::PimActivationWeakened => {
            let definition = evidence.pim_roles.get(change.id.as_str())?;
            let role = privileged_role(definition)?;
            let rule = |o: Option<&Map<String, Value>>, id: &str| -> Option<Value> {
                o?.get("rules")?
                    .as_array()?
                    .iter()
                    .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
                    .cloned()
            };
            let mfa = |o| {
                rule(o, "Enablement_EndUser_Assignment")
                    .and_then(|r| r.get("enabledRules").cloned())
                    .and_then(|r| r.as_array().cloned())
                    .is_some_and(|r| r.iter().any(|x| x == "MultiFactorAuthentication"))
            };
            let approval = |o| {
                rule(o, "Approval_EndUser_Assignment")
                    .and_then(|r| r.get("setting")?.get("isApprovalRequired")?.as_bool())
                    .unwrap_or(false)
            };
            let (before, after) = (Some(before?), Some(after?));
            let mut lost = Vec::new();
            if mfa(before) && !mfa(after) {
                lost.push("MFA");
            }
            if approval(before) && !approval(after) {
                lost.push("approval");
            }
            if lost.is_empty() {
                return None;
            }
            Some((
                format!(
                    "activating {role} through PIM no longer requires {}",
                    lost.join(" or ")
                ),
                None,
                Some(
                    serde_json::json!({"roleDefinitionId": definition, "role": role, "noLongerRequired": lost}),
                ),
            ))
        }
        Rule::SyncDeletionProtectionDisabled => {
            let prevention = |o: Option<&Map<String, Value>>| {
                o?.get("configuration")?
                    .get("accidentalDeletionPrevention")?
                    .get("synchronizationPreventionType")?
                    .as_str()
                    .map(str::to_owned)
            };
            let (was, now) = (prevention(before)?, prevention(after)?);
            (was != "disabled" && now == "disabled").then(|| {
                (
                    "accidental deletion prevention of directory synchronization switched off"
                        .to_owned(),
                    Some(Value::from(was)),
                    Some(Value::from(now)),
                )
            })
        }
        Rule::CredentialAdded => {
            let key_ids = |o: Option<&Map<String, Value>>| -> BTreeSet<String> {
                ["passwordCredentials", "keyCredentials"]
                    .iter()
                    .filter_map(|f| o?.get(*f)?.as_array())
                    .flatten()
                    .filter_map(|c| c.get("keyId")?.as_str().map(str::to_owned))
                    .collect()
            };
            let old = key_ids(before);
            let added: Vec<String> = key_ids(after).difference(&old).cloned().collect();
            if added.is_empty() {
                return None;
            }
            Some((
                format!(
                    "{} credential(s) added (key ids {})",
                    added.len(),
                    added.join(", ")
                ),
                Some(Value::from(old.into_iter().collect::<Vec<_>>())),
                Some(Value::from(added)),
            ))
        }
        Rule::HighPrivilegeAppPermission => {
            if before.is_some() || text(after, "principalType") != Some("ServicePrincipal") {
                return None;
            }
            let resource = text(after, "resourceId")?;
            let role = text(after, "appRoleId")?;
            let value = evidence
                .app_roles
                .get(&(resource.to_owned(), role.to_owned()))?;
            if !high_privilege_permission(value) {
                return None;
            }
            let principal = text(after, "principalDisplayName")
                .or_else(|| text(after, "principalId"))
                .unwrap_or("?");
            let api = text(after, "resourceDisplayName").unwrap_or(resource);
            Some((
                format!("{principal} granted the application permission {value} on {api}"),
                None,
                Some(
                    serde_json::json!({"permission": value, "resourceId": resource, "appRoleId": role}),
                ),
            ))
        }
        Rule::DomainChanged => {
            let now = text(after, "authenticationType");
            match (before, after) {
                (None, Some(_)) => Some((
                    format!(
                        "domain {} added ({})",
                        change.id,
                        now.unwrap_or("authentication unknown")
                    ),
                    None,
                    now.map(Value::from),
                )),
                (Some(_), Some(_)) => {
                    let was = text(before, "authenticationType");
                    (was != now).then(|| {
                        (
                            format!(
                                "domain {} authentication changed from {} to {}",
                                change.id,
                                was.unwrap_or("?"),
                                now.unwrap_or("?")
                            ),
                            was.map(Value::from),
                            now.map(Value::from),
                        )
                    })
                }
                _ => None,
            }
        }
        Rule::MassDeletion => None,
    }
}
