//! [`ObjectKind`]: every kind of object dirvault backs up, and what Graph says about each.
//!
//! The facts in this table come from docs/graph.md §1 and Microsoft's Graph v1.0
//! reference (api-reference/v1.0/api/*-list.md, *-delta.md). Keep them here, in one table:
//! the client, the engine and the restore planner read it. The emulator keeps its own table
//! (`dirvault_emulator::kinds`), written from the same pages; a test compares the two.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Where a kind's objects are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CollectionPath {
    /// A tenant-wide collection, e.g. `/users`.
    Tenant(&'static str),
    /// A collection under each object of another kind: `/{parent}/{id}/{segment}`,
    /// e.g. `/users/{id}/authentication/methods`.
    PerParent {
        /// The kind whose objects own the collection.
        parent: ObjectKind,
        /// The path segment after the parent's id.
        segment: &'static str,
    },
    /// One object at a fixed path, read with `GET` and changed with `PATCH` on that path,
    /// never created or deleted: a tenant's settings, e.g. `/policies/authorizationPolicy`.
    Singleton(&'static str),
}

/// Whether an app-only (client-credentials) client can re-create an object of this kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Recreate {
    /// Graph has an application-permission create for this kind.
    Yes,
    /// Some objects of the kind can be created, others not (e.g. phone and email
    /// authentication methods can, FIDO2 keys cannot; custom role definitions can, built-in
    /// ones cannot).
    Partial,
    /// No app-only create exists (devices), or the kind is read-only (logs, templates).
    No,
}

/// The row of a tenant-wide policy collection: listed without delta, created by an app with
/// the write permission, deleted for good (no recycle bin).
type InfoRow = (
    &'static str,
    &'static str,
    CollectionPath,
    Option<&'static str>,
    Option<&'static str>,
    Recreate,
    bool,
    &'static str,
    Option<&'static str>,
);

fn policy_collection(
    name: &'static str,
    odata_type: &'static str,
    path: &'static str,
    read_permission: &'static str,
    write_permission: &'static str,
) -> InfoRow {
    (
        name,
        odata_type,
        CollectionPath::Tenant(path),
        None,
        Some("displayName"),
        Recreate::Yes,
        false,
        read_permission,
        Some(write_permission),
    )
}

/// Every kind of object dirvault backs up.
///
/// Serialized (and parsed) by its Graph collection name: `users`, `servicePrincipals`, …
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ObjectKind {
    /// `microsoft.graph.user`
    Users,
    /// `microsoft.graph.group`
    Groups,
    /// Activated built-in directory roles (`microsoft.graph.directoryRole`).
    DirectoryRoles,
    /// `microsoft.graph.directoryRoleTemplate`
    DirectoryRoleTemplates,
    /// Built-in and custom role definitions (`microsoft.graph.unifiedRoleDefinition`).
    RoleDefinitions,
    /// `microsoft.graph.unifiedRoleAssignment`
    RoleAssignments,
    /// PIM eligibility (`microsoft.graph.unifiedRoleEligibilitySchedule`).
    RoleEligibilitySchedules,
    /// `microsoft.graph.application`
    Applications,
    /// `microsoft.graph.servicePrincipal`
    ServicePrincipals,
    /// `microsoft.graph.oAuth2PermissionGrant`
    Oauth2PermissionGrants,
    /// `microsoft.graph.appRoleAssignment`, listed per resource service principal.
    AppRoleAssignments,
    /// `microsoft.graph.device`
    Devices,
    /// `microsoft.graph.administrativeUnit`
    AdministrativeUnits,
    /// `microsoft.graph.conditionalAccessPolicy`
    ConditionalAccessPolicies,
    /// `microsoft.graph.namedLocation` (IP or country).
    NamedLocations,
    /// Authentication-method metadata, listed per user.
    AuthenticationMethods,
    /// `microsoft.graph.signIn` (audit log).
    SignIns,
    /// `microsoft.graph.directoryAudit` (audit log).
    DirectoryAudits,
    /// `microsoft.graph.organization`
    Organization,
    /// `microsoft.graph.domain`
    Domains,
    /// The tenant's authorization settings (`microsoft.graph.authorizationPolicy`): user
    /// consent, guest invitations, what default users may do.
    AuthorizationPolicy,
    /// Security defaults on or off (`microsoft.graph.identitySecurityDefaultsEnforcementPolicy`).
    #[serde(rename = "identitySecurityDefaultsEnforcementPolicy")]
    SecurityDefaults,
    /// Which authentication methods users may use, with each method's configuration
    /// (`microsoft.graph.authenticationMethodsPolicy`).
    AuthenticationMethodsPolicy,
    /// Which clouds cross-tenant access may reach (`microsoft.graph.crossTenantAccessPolicy`).
    CrossTenantAccessPolicy,
    /// Cross-tenant access defaults: B2B collaboration, B2B direct connect, inbound trust
    /// (`microsoft.graph.crossTenantAccessPolicyConfigurationDefault`).
    #[serde(rename = "crossTenantAccessPolicyDefault")]
    CrossTenantAccessDefault,
    /// Cross-tenant access settings for one partner organization, keyed by its tenant id
    /// (`microsoft.graph.crossTenantAccessPolicyConfigurationPartner`).
    CrossTenantAccessPolicyPartners,
    /// Whether users may ask an admin to consent to an app
    /// (`microsoft.graph.adminConsentRequestPolicy`).
    AdminConsentRequestPolicy,
    /// `microsoft.graph.tokenLifetimePolicy`
    TokenLifetimePolicies,
    /// `microsoft.graph.tokenIssuancePolicy`
    TokenIssuancePolicies,
    /// `microsoft.graph.claimsMappingPolicy`
    ClaimsMappingPolicies,
    /// `microsoft.graph.homeRealmDiscoveryPolicy`
    HomeRealmDiscoveryPolicies,
    /// `microsoft.graph.activityBasedTimeoutPolicy`
    ActivityBasedTimeoutPolicies,
    /// Which permissions users may consent to (`microsoft.graph.permissionGrantPolicy`).
    PermissionGrantPolicies,
    /// Built-in and custom authentication strengths Conditional Access requires
    /// (`microsoft.graph.authenticationStrengthPolicy`).
    AuthenticationStrengthPolicies,
    /// PIM settings of each directory role: activation duration, MFA, justification,
    /// approval, notifications (`microsoft.graph.unifiedRoleManagementPolicy`, with its rules).
    RoleManagementPolicies,
    /// Which PIM policy applies to which directory role
    /// (`microsoft.graph.unifiedRoleManagementPolicyAssignment`).
    RoleManagementPolicyAssignments,
    /// Directory synchronization settings of a tenant synced from on-premises AD: accidental
    /// deletion prevention, sync features (`microsoft.graph.onPremisesDirectorySynchronization`).
    OnPremisesSynchronization,
    /// The organization's sign-in branding per language, the default's id `0`
    /// (`microsoft.graph.organizationalBrandingLocalization`; images as `data:` URIs).
    BrandingLocalizations,
}

/// What Graph says about one [`ObjectKind`].
#[derive(Clone, Copy, Debug)]
pub struct KindInfo {
    /// The Graph collection name, used in CLI arguments, store paths and exports.
    pub name: &'static str,
    /// The OData type, without the leading `#`.
    pub odata_type: &'static str,
    /// Where the objects are listed.
    pub collection: CollectionPath,
    /// The delta function's path, for kinds with a v1.0 delta query.
    pub delta_path: Option<&'static str>,
    /// The query a list of the kind needs (Graph refuses the list without it).
    pub list_query: Option<&'static str>,
    /// The property holding the object's id.
    pub id_field: &'static str,
    /// The property shown as the object's name, if the kind has one.
    pub display_name_field: Option<&'static str>,
    /// Whether an app-only client can re-create it.
    pub recreate: Recreate,
    /// Whether deleting it moves it to `/directory/deletedItems` (30-day recycle bin).
    pub soft_delete: bool,
    /// The least-privileged application permission that reads it.
    pub read_permission: &'static str,
    /// The application permission that writes it, if Graph allows app-only writes.
    pub write_permission: Option<&'static str>,
}

impl ObjectKind {
    /// Every kind, in backup order (objects before the relationships that point at them).
    pub const ALL: [ObjectKind; 38] = [
        ObjectKind::Organization,
        ObjectKind::Domains,
        ObjectKind::AuthorizationPolicy,
        ObjectKind::SecurityDefaults,
        ObjectKind::AuthenticationMethodsPolicy,
        ObjectKind::CrossTenantAccessPolicy,
        ObjectKind::CrossTenantAccessDefault,
        ObjectKind::CrossTenantAccessPolicyPartners,
        ObjectKind::AdminConsentRequestPolicy,
        ObjectKind::TokenLifetimePolicies,
        ObjectKind::TokenIssuancePolicies,
        ObjectKind::ClaimsMappingPolicies,
        ObjectKind::HomeRealmDiscoveryPolicies,
        ObjectKind::ActivityBasedTimeoutPolicies,
        ObjectKind::PermissionGrantPolicies,
        ObjectKind::AuthenticationStrengthPolicies,
        ObjectKind::OnPremisesSynchronization,
        ObjectKind::BrandingLocalizations,
        ObjectKind::AdministrativeUnits,
        ObjectKind::Users,
        ObjectKind::Groups,
        ObjectKind::Devices,
        ObjectKind::Applications,
        ObjectKind::ServicePrincipals,
        ObjectKind::DirectoryRoleTemplates,
        ObjectKind::DirectoryRoles,
        ObjectKind::RoleDefinitions,
        ObjectKind::RoleAssignments,
        ObjectKind::RoleEligibilitySchedules,
        ObjectKind::RoleManagementPolicies,
        ObjectKind::RoleManagementPolicyAssignments,
        ObjectKind::AppRoleAssignments,
        ObjectKind::Oauth2PermissionGrants,
        ObjectKind::NamedLocations,
        ObjectKind::ConditionalAccessPolicies,
        ObjectKind::AuthenticationMethods,
        ObjectKind::SignIns,
        ObjectKind::DirectoryAudits,
    ];

    /// What Graph says about this kind.
    pub fn info(self) -> KindInfo {
        use CollectionPath::{PerParent, Singleton, Tenant};
        use ObjectKind as K;
        let (
            name,
            odata_type,
            collection,
            delta_path,
            display_name_field,
            recreate,
            soft_delete,
            read_permission,
            write_permission,
        ) = match self {
            K::Users => (
                "users",
                "microsoft.graph.user",
                Tenant("/users"),
                Some("/users/delta"),
                Some("displayName"),
                Recreate::Yes,
                true,
                "User.Read.All",
                Some("User.ReadWrite.All"),
            ),
            K::Groups => (
                "groups",
                "microsoft.graph.group",
                Tenant("/groups"),
                Some("/groups/delta"),
                Some("displayName"),
                Recreate::Yes,
                // Microsoft 365 groups only; security groups are hard-deleted.
                true,
                "Group.Read.All",
                Some("Group.ReadWrite.All"),
            ),
            K::DirectoryRoles => (
                "directoryRoles",
                "microsoft.graph.directoryRole",
                Tenant("/directoryRoles"),
                Some("/directoryRoles/delta"),
                Some("displayName"),
                // Activation from a template (POST /directoryRoles {roleTemplateId}).
                Recreate::Yes,
                false,
                "RoleManagement.Read.Directory",
                Some("RoleManagement.ReadWrite.Directory"),
            ),
            K::DirectoryRoleTemplates => (
                "directoryRoleTemplates",
                "microsoft.graph.directoryRoleTemplate",
                Tenant("/directoryRoleTemplates"),
                None,
                Some("displayName"),
                Recreate::No,
                false,
                "RoleManagement.Read.Directory",
                None,
            ),
            K::RoleDefinitions => (
                "roleDefinitions",
                "microsoft.graph.unifiedRoleDefinition",
                Tenant("/roleManagement/directory/roleDefinitions"),
                None,
                Some("displayName"),
                // Custom roles only; built-in roles are read-only.
                Recreate::Partial,
                false,
                "RoleManagement.Read.Directory",
                Some("RoleManagement.ReadWrite.Directory"),
            ),
            K::RoleAssignments => (
                "roleAssignments",
                "microsoft.graph.unifiedRoleAssignment",
                Tenant("/roleManagement/directory/roleAssignments"),
                None,
                None,
                Recreate::Yes,
                false,
                "RoleManagement.Read.Directory",
                Some("RoleManagement.ReadWrite.Directory"),
            ),
            K::RoleEligibilitySchedules => (
                "roleEligibilitySchedules",
                "microsoft.graph.unifiedRoleEligibilitySchedule",
                Tenant("/roleManagement/directory/roleEligibilitySchedules"),
                None,
                None,
                // Through roleEligibilityScheduleRequests (action adminAssign).
                Recreate::Yes,
                false,
                "RoleEligibilitySchedule.Read.Directory",
                Some("RoleEligibilitySchedule.ReadWrite.Directory"),
            ),
            K::Applications => (
                "applications",
                "microsoft.graph.application",
                Tenant("/applications"),
                Some("/applications/delta"),
                Some("displayName"),
                Recreate::Yes,
                true,
                "Application.Read.All",
                Some("Application.ReadWrite.All"),
            ),
            K::ServicePrincipals => (
                "servicePrincipals",
                "microsoft.graph.servicePrincipal",
                Tenant("/servicePrincipals"),
                Some("/servicePrincipals/delta"),
                Some("displayName"),
                Recreate::Yes,
                true,
                "Application.Read.All",
                Some("Application.ReadWrite.All"),
            ),
            K::Oauth2PermissionGrants => (
                "oauth2PermissionGrants",
                "microsoft.graph.oAuth2PermissionGrant",
                Tenant("/oauth2PermissionGrants"),
                Some("/oauth2PermissionGrants/delta"),
                None,
                Recreate::Yes,
                false,
                "Directory.Read.All",
                Some("DelegatedPermissionGrant.ReadWrite.All"),
            ),
            K::AppRoleAssignments => (
                "appRoleAssignments",
                "microsoft.graph.appRoleAssignment",
                PerParent {
                    parent: K::ServicePrincipals,
                    segment: "appRoleAssignedTo",
                },
                None,
                Some("principalDisplayName"),
                Recreate::Yes,
                false,
                "Application.Read.All",
                Some("AppRoleAssignment.ReadWrite.All"),
            ),
            K::Devices => (
                "devices",
                "microsoft.graph.device",
                Tenant("/devices"),
                Some("/devices/delta"),
                Some("displayName"),
                // POST /devices has no application permission: devices are reported.
                Recreate::No,
                false,
                "Device.Read.All",
                Some("Device.ReadWrite.All"),
            ),
            K::AdministrativeUnits => (
                "administrativeUnits",
                "microsoft.graph.administrativeUnit",
                Tenant("/directory/administrativeUnits"),
                Some("/administrativeUnits/delta"),
                Some("displayName"),
                Recreate::Yes,
                true,
                "AdministrativeUnit.Read.All",
                Some("AdministrativeUnit.ReadWrite.All"),
            ),
            K::ConditionalAccessPolicies => (
                "conditionalAccessPolicies",
                "microsoft.graph.conditionalAccessPolicy",
                Tenant("/identity/conditionalAccess/policies"),
                None,
                Some("displayName"),
                Recreate::Yes,
                false,
                "Policy.Read.All",
                Some("Policy.ReadWrite.ConditionalAccess"),
            ),
            K::NamedLocations => (
                "namedLocations",
                "microsoft.graph.namedLocation",
                Tenant("/identity/conditionalAccess/namedLocations"),
                None,
                Some("displayName"),
                Recreate::Yes,
                false,
                "Policy.Read.All",
                Some("Policy.ReadWrite.ConditionalAccess"),
            ),
            K::AuthenticationMethods => (
                "authenticationMethods",
                "microsoft.graph.authenticationMethod",
                PerParent {
                    parent: K::Users,
                    segment: "authentication/methods",
                },
                None,
                None,
                // Phone and email methods can be created; FIDO2, Authenticator, OATH,
                // Windows Hello, platform credentials and passwords cannot.
                Recreate::Partial,
                false,
                "UserAuthenticationMethod.Read.All",
                Some("UserAuthenticationMethod.ReadWrite.All"),
            ),
            K::SignIns => (
                "signIns",
                "microsoft.graph.signIn",
                Tenant("/auditLogs/signIns"),
                None,
                Some("userDisplayName"),
                Recreate::No,
                false,
                "AuditLog.Read.All",
                None,
            ),
            K::DirectoryAudits => (
                "directoryAudits",
                "microsoft.graph.directoryAudit",
                Tenant("/auditLogs/directoryAudits"),
                None,
                Some("activityDisplayName"),
                Recreate::No,
                false,
                "AuditLog.Read.All",
                None,
            ),
            K::Organization => (
                "organization",
                "microsoft.graph.organization",
                Tenant("/organization"),
                None,
                Some("displayName"),
                Recreate::No,
                false,
                "Organization.Read.All",
                None,
            ),
            K::Domains => (
                "domains",
                "microsoft.graph.domain",
                Tenant("/domains"),
                None,
                // A domain's id is its name.
                Some("id"),
                Recreate::No,
                false,
                "Domain.Read.All",
                None,
            ),
            // Tenant policies (docs/graph.md §1 "Tenant policies"): settings objects read at
            // a fixed path and rolled back with PATCH, and policy collections.
            K::AuthorizationPolicy => (
                "authorizationPolicy",
                "microsoft.graph.authorizationPolicy",
                Singleton("/policies/authorizationPolicy"),
                None,
                Some("displayName"),
                Recreate::No,
                false,
                "Policy.Read.All",
                Some("Policy.ReadWrite.Authorization"),
            ),
            K::SecurityDefaults => (
                "identitySecurityDefaultsEnforcementPolicy",
                "microsoft.graph.identitySecurityDefaultsEnforcementPolicy",
                Singleton("/policies/identitySecurityDefaultsEnforcementPolicy"),
                None,
                Some("displayName"),
                Recreate::No,
                false,
                "Policy.Read.All",
                Some("Policy.ReadWrite.ConditionalAccess"),
            ),
            K::AuthenticationMethodsPolicy => (
                "authenticationMethodsPolicy",
                "microsoft.graph.authenticationMethodsPolicy",
                Singleton("/policies/authenticationMethodsPolicy"),
                None,
                Some("displayName"),
                Recreate::No,
                false,
                "Policy.Read.AuthenticationMethod",
                Some("Policy.ReadWrite.AuthenticationMethod"),
            ),
            K::CrossTenantAccessPolicy => (
                "crossTenantAccessPolicy",
                "microsoft.graph.crossTenantAccessPolicy",
                Singleton("/policies/crossTenantAccessPolicy"),
                None,
                Some("displayName"),
                Recreate::No,
                false,
                "Policy.Read.All",
                Some("Policy.ReadWrite.CrossTenantAccess"),
            ),
            // Keyed by the partner's tenant id, not an id of its own
            // (resources/crosstenantaccesspolicyconfigurationpartner.md).
            K::CrossTenantAccessPolicyPartners => (
                "crossTenantAccessPolicyPartners",
                "microsoft.graph.crossTenantAccessPolicyConfigurationPartner",
                Tenant("/policies/crossTenantAccessPolicy/partners"),
                None,
                None,
                Recreate::Yes,
                false,
                "Policy.Read.All",
                Some("Policy.ReadWrite.CrossTenantAccess"),
            ),
            K::CrossTenantAccessDefault => (
                "crossTenantAccessPolicyDefault",
                "microsoft.graph.crossTenantAccessPolicyConfigurationDefault",
                Singleton("/policies/crossTenantAccessPolicy/default"),
                None,
                None,
                Recreate::No,
                false,
                "Policy.Read.All",
                Some("Policy.ReadWrite.CrossTenantAccess"),
            ),
            K::AdminConsentRequestPolicy => (
                "adminConsentRequestPolicy",
                "microsoft.graph.adminConsentRequestPolicy",
                Singleton("/policies/adminConsentRequestPolicy"),
                None,
                None,
                Recreate::No,
                false,
                "Policy.Read.All",
                Some("Policy.ReadWrite.ConsentRequest"),
            ),
            K::TokenLifetimePolicies => policy_collection(
                "tokenLifetimePolicies",
                "microsoft.graph.tokenLifetimePolicy",
                "/policies/tokenLifetimePolicies",
                "Policy.Read.All",
                "Policy.ReadWrite.ApplicationConfiguration",
            ),
            K::TokenIssuancePolicies => policy_collection(
                "tokenIssuancePolicies",
                "microsoft.graph.tokenIssuancePolicy",
                "/policies/tokenIssuancePolicies",
                "Policy.Read.All",
                "Policy.ReadWrite.ApplicationConfiguration",
            ),
            K::ClaimsMappingPolicies => policy_collection(
                "claimsMappingPolicies",
                "microsoft.graph.claimsMappingPolicy",
                "/policies/claimsMappingPolicies",
                "Policy.Read.All",
                "Policy.ReadWrite.ApplicationConfiguration",
            ),
            K::HomeRealmDiscoveryPolicies => policy_collection(
                "homeRealmDiscoveryPolicies",
                "microsoft.graph.homeRealmDiscoveryPolicy",
                "/policies/homeRealmDiscoveryPolicies",
                "Policy.Read.All",
                "Policy.ReadWrite.ApplicationConfiguration",
            ),
            K::ActivityBasedTimeoutPolicies => policy_collection(
                "activityBasedTimeoutPolicies",
                "microsoft.graph.activityBasedTimeoutPolicy",
                "/policies/activityBasedTimeoutPolicies",
                "Policy.Read.All",
                "Policy.ReadWrite.ApplicationConfiguration",
            ),
            K::PermissionGrantPolicies => policy_collection(
                "permissionGrantPolicies",
                "microsoft.graph.permissionGrantPolicy",
                "/policies/permissionGrantPolicies",
                "Policy.Read.PermissionGrant",
                "Policy.ReadWrite.PermissionGrant",
            ),
            // PIM for directory roles (policyroot-list-rolemanagementpolicies.md,
            // policyroot-list-rolemanagementpolicyassignments.md): listed with the scope
            // filter Graph requires; a policy's rules are patched one by one, no policy or
            // assignment is created or deleted.
            K::RoleManagementPolicies => (
                "roleManagementPolicies",
                "microsoft.graph.unifiedRoleManagementPolicy",
                Tenant("/policies/roleManagementPolicies"),
                None,
                Some("displayName"),
                Recreate::No,
                false,
                "RoleManagementPolicy.Read.Directory",
                Some("RoleManagementPolicy.ReadWrite.Directory"),
            ),
            K::RoleManagementPolicyAssignments => (
                "roleManagementPolicyAssignments",
                "microsoft.graph.unifiedRoleManagementPolicyAssignment",
                Tenant("/policies/roleManagementPolicyAssignments"),
                None,
                None,
                Recreate::No,
                false,
                "RoleManagementPolicy.Read.Directory",
                None,
            ),
            // onpremisesdirectorysynchronization-list.md; its update page has no application
            // permission (onpremisesdirectorysynchronization-update.md): read-only here.
            K::OnPremisesSynchronization => (
                "onPremisesSynchronization",
                "microsoft.graph.onPremisesDirectorySynchronization",
                Tenant("/directory/onPremisesSynchronization"),
                None,
                None,
                Recreate::No,
                false,
                "OnPremDirectorySynchronization.Read.All",
                None,
            ),
            // organizationalbranding-list-localizations.md, -post-localizations.md,
            // organizationalbrandinglocalization-update.md (Organization.Read.All reads too).
            K::BrandingLocalizations => (
                "brandingLocalizations",
                "microsoft.graph.organizationalBrandingLocalization",
                PerParent {
                    parent: K::Organization,
                    segment: "branding/localizations",
                },
                None,
                None,
                Recreate::Yes,
                false,
                "OrganizationalBranding.Read.All",
                Some("OrganizationalBranding.ReadWrite.All"),
            ),
            K::AuthenticationStrengthPolicies => policy_collection(
                "authenticationStrengthPolicies",
                "microsoft.graph.authenticationStrengthPolicy",
                "/policies/authenticationStrengthPolicies",
                "Policy.Read.AuthenticationMethod",
                "Policy.ReadWrite.AuthenticationMethod",
            ),
        };
        KindInfo {
            name,
            odata_type,
            collection,
            delta_path,
            list_query: match self {
                K::RoleManagementPolicies => {
                    Some("$filter=scopeId eq '/' and scopeType eq 'DirectoryRole'&$expand=rules")
                }
                K::RoleManagementPolicyAssignments => {
                    Some("$filter=scopeId eq '/' and scopeType eq 'DirectoryRole'")
                }
                _ => None,
            },
            id_field: if self == K::CrossTenantAccessPolicyPartners {
                "tenantId"
            } else {
                "id"
            },
            display_name_field,
            recreate,
            soft_delete,
            read_permission,
            write_permission,
        }
    }

    /// The width of the longest kind name, to line up a column of them.
    pub fn name_width() -> usize {
        Self::ALL.iter().map(|k| k.name().len()).max().unwrap_or(0)
    }

    /// Whether this kind is one settings object at a fixed path (never created or deleted).
    pub fn is_singleton(self) -> bool {
        matches!(self.info().collection, CollectionPath::Singleton(_))
    }

    /// The Graph collection name (`users`, `servicePrincipals`, …).
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Whether Graph v1.0 offers a delta query for this kind.
    pub fn supports_delta(self) -> bool {
        self.info().delta_path.is_some()
    }

    /// The kind whose OData type is `odata_type` (with or without the leading `#`).
    pub fn from_odata_type(odata_type: &str) -> Option<ObjectKind> {
        let t = odata_type.trim_start_matches('#');
        Self::ALL.into_iter().find(|k| k.info().odata_type == t)
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ObjectKind {
    type Err = Error;

    /// Parses a collection name, case-insensitively (`users`, `servicePrincipals`).
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownKind {
                value: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_from_its_name_and_serializes_to_it() {
        for kind in ObjectKind::ALL {
            assert_eq!(kind.name().parse::<ObjectKind>().unwrap(), kind);
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(kind.name().to_owned())
            );
            assert_eq!(
                ObjectKind::from_odata_type(kind.info().odata_type),
                Some(kind)
            );
        }
        assert_eq!(
            "SERVICEPRINCIPALS".parse::<ObjectKind>().unwrap(),
            ObjectKind::ServicePrincipals
        );
    }

    #[test]
    fn unknown_kind_lists_the_valid_ones() {
        let err = "user".parse::<ObjectKind>().unwrap_err().to_string();
        assert!(err.starts_with("unknown object kind \"user\""), "{err}");
        assert!(err.contains("users, groups"), "{err}");
    }

    #[test]
    fn kind_table_matches_graph_md() {
        let delta: Vec<_> = ObjectKind::ALL
            .into_iter()
            .filter(|k| k.supports_delta())
            .map(ObjectKind::name)
            .collect();
        insta::assert_debug_snapshot!(delta);
        assert_eq!(ObjectKind::Devices.info().recreate, Recreate::No);
        assert!(!ObjectKind::ConditionalAccessPolicies.supports_delta());
    }
}
