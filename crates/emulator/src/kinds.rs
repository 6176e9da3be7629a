//! The collections the emulator serves and the links between their objects, with what Graph
//! documents about each: where it is listed, its delta function, its OData type, whether a
//! delete goes to the recycle bin, and the application permissions that read and write it.
//!
//! These are the emulator's own facts, taken from Microsoft's pages (docs/graph.md §1 names
//! them: each kind's list, delta and create pages and their permission tables; the recycle bin
//! from `api-reference/v1.0/resources/directory.md`). The client keeps its own table
//! (`dirvault_model::ObjectKind`); the emulator never reads it, so that a mistake in one is
//! caught by the other (crates/engine/tests/client_tables.rs compares the two).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A collection of directory objects the emulator serves, named by its Graph collection name
/// (`users`, `servicePrincipals`, …) in the control API and in serialized form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Collection {
    /// `/users`
    Users,
    /// `/groups`
    Groups,
    /// `/directoryRoles` (activated built-in roles)
    DirectoryRoles,
    /// `/directoryRoleTemplates`
    DirectoryRoleTemplates,
    /// `/roleManagement/directory/roleDefinitions`
    RoleDefinitions,
    /// `/roleManagement/directory/roleAssignments`
    RoleAssignments,
    /// `/roleManagement/directory/roleEligibilitySchedules`
    RoleEligibilitySchedules,
    /// `/applications`
    Applications,
    /// `/servicePrincipals`
    ServicePrincipals,
    /// `/oauth2PermissionGrants`
    Oauth2PermissionGrants,
    /// `/servicePrincipals/{id}/appRoleAssignedTo`
    AppRoleAssignments,
    /// `/devices`
    Devices,
    /// `/directory/administrativeUnits`
    AdministrativeUnits,
    /// `/identity/conditionalAccess/policies`
    ConditionalAccessPolicies,
    /// `/identity/conditionalAccess/namedLocations`
    NamedLocations,
    /// `/users/{id}/authentication/methods`
    AuthenticationMethods,
    /// `/auditLogs/signIns`
    SignIns,
    /// `/auditLogs/directoryAudits`
    DirectoryAudits,
    /// `/organization`
    Organization,
    /// `/domains`
    Domains,
    /// `/policies/authorizationPolicy` (one settings object)
    AuthorizationPolicy,
    /// `/policies/identitySecurityDefaultsEnforcementPolicy`
    #[serde(rename = "identitySecurityDefaultsEnforcementPolicy")]
    SecurityDefaults,
    /// `/policies/authenticationMethodsPolicy`, with its method configurations
    AuthenticationMethodsPolicy,
    /// `/policies/crossTenantAccessPolicy`
    CrossTenantAccessPolicy,
    /// `/policies/crossTenantAccessPolicy/default`
    #[serde(rename = "crossTenantAccessPolicyDefault")]
    CrossTenantAccessDefault,
    /// `/policies/crossTenantAccessPolicy/partners`, keyed by `tenantId`
    CrossTenantAccessPolicyPartners,
    /// `/policies/adminConsentRequestPolicy`
    AdminConsentRequestPolicy,
    /// `/policies/tokenLifetimePolicies`
    TokenLifetimePolicies,
    /// `/policies/tokenIssuancePolicies`
    TokenIssuancePolicies,
    /// `/policies/claimsMappingPolicies`
    ClaimsMappingPolicies,
    /// `/policies/homeRealmDiscoveryPolicies`
    HomeRealmDiscoveryPolicies,
    /// `/policies/activityBasedTimeoutPolicies`
    ActivityBasedTimeoutPolicies,
    /// `/policies/permissionGrantPolicies`
    PermissionGrantPolicies,
    /// `/policies/authenticationStrengthPolicies`
    AuthenticationStrengthPolicies,
    /// `/policies/roleManagementPolicies` (PIM settings, with their rules)
    RoleManagementPolicies,
    /// `/policies/roleManagementPolicyAssignments`
    RoleManagementPolicyAssignments,
    /// `/directory/onPremisesSynchronization`
    OnPremisesSynchronization,
    /// `/organization/{id}/branding/localizations`: the default sign-in branding (id `0`) and
    /// each language's.
    BrandingLocalizations,
}

/// Where a collection is listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListedAt {
    /// At one path for the whole tenant, e.g. `/users`.
    Tenant(&'static str),
    /// Under each object of another collection: `/{parent}/{id}/{segment}`.
    PerParent {
        /// The collection whose objects own the list.
        parent: Collection,
        /// The path after the parent's id.
        segment: &'static str,
    },
    /// One settings object at a fixed path: `GET` and `PATCH`, no list, create or delete.
    Singleton(&'static str),
}

/// What Graph documents about one [`Collection`].
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    /// The collection name (`users`).
    pub name: &'static str,
    /// The OData type of its objects, without `#`.
    pub odata_type: &'static str,
    /// Where it is listed.
    pub listed_at: ListedAt,
    /// Its v1.0 delta function, if it has one.
    pub delta_path: Option<&'static str>,
    /// Whether a delete moves objects to `/directory/deletedItems` (docs/graph.md §2; for
    /// groups, Microsoft 365 groups only).
    pub soft_delete: bool,
    /// The least-privileged application permission that reads it.
    pub read_permission: &'static str,
    /// The application permission that writes it, if any.
    pub write_permission: Option<&'static str>,
    /// Whether an application (client-credentials) caller can create its objects with a POST
    /// to the collection. Devices cannot (`device-post-devices.md` has no application
    /// permission); templates, logs, the organization and domains are read-only here.
    pub app_create: bool,
}

impl Collection {
    /// Every collection, in the order the generator fills them.
    pub const ALL: [Collection; 38] = [
        Collection::Organization,
        Collection::Domains,
        Collection::AuthorizationPolicy,
        Collection::SecurityDefaults,
        Collection::AuthenticationMethodsPolicy,
        Collection::CrossTenantAccessPolicy,
        Collection::CrossTenantAccessDefault,
        Collection::CrossTenantAccessPolicyPartners,
        Collection::AdminConsentRequestPolicy,
        Collection::TokenLifetimePolicies,
        Collection::TokenIssuancePolicies,
        Collection::ClaimsMappingPolicies,
        Collection::HomeRealmDiscoveryPolicies,
        Collection::ActivityBasedTimeoutPolicies,
        Collection::PermissionGrantPolicies,
        Collection::AuthenticationStrengthPolicies,
        Collection::OnPremisesSynchronization,
        Collection::BrandingLocalizations,
        Collection::AdministrativeUnits,
        Collection::Users,
        Collection::Groups,
        Collection::Devices,
        Collection::Applications,
        Collection::ServicePrincipals,
        Collection::DirectoryRoleTemplates,
        Collection::DirectoryRoles,
        Collection::RoleDefinitions,
        Collection::RoleAssignments,
        Collection::RoleEligibilitySchedules,
        Collection::RoleManagementPolicies,
        Collection::RoleManagementPolicyAssignments,
        Collection::AppRoleAssignments,
        Collection::Oauth2PermissionGrants,
        Collection::NamedLocations,
        Collection::ConditionalAccessPolicies,
        Collection::AuthenticationMethods,
        Collection::SignIns,
        Collection::DirectoryAudits,
    ];

    /// What Graph documents about this collection.
    pub fn facts(self) -> Facts {
        use Collection as C;
        use ListedAt::{PerParent, Singleton, Tenant};
        // (name, OData type, listed at, delta, recycle bin, read, write, app-only create)
        let (name, odata_type, listed_at, delta_path, soft_delete, read, write, app_create) =
            match self {
                // user-list.md, user-delta.md, user-post-users.md
                C::Users => (
                    "users",
                    "microsoft.graph.user",
                    Tenant("/users"),
                    Some("/users/delta"),
                    true,
                    "User.Read.All",
                    Some("User.ReadWrite.All"),
                    true,
                ),
                // group-list.md, group-delta.md, group-post-groups.md
                C::Groups => (
                    "groups",
                    "microsoft.graph.group",
                    Tenant("/groups"),
                    Some("/groups/delta"),
                    true,
                    "Group.Read.All",
                    Some("Group.ReadWrite.All"),
                    true,
                ),
                // directoryrole-list.md, directoryrole-delta.md; POST activates a template
                // (directoryrole-post-directoryroles.md).
                C::DirectoryRoles => (
                    "directoryRoles",
                    "microsoft.graph.directoryRole",
                    Tenant("/directoryRoles"),
                    Some("/directoryRoles/delta"),
                    false,
                    "RoleManagement.Read.Directory",
                    Some("RoleManagement.ReadWrite.Directory"),
                    true,
                ),
                // directoryroletemplate-list.md
                C::DirectoryRoleTemplates => (
                    "directoryRoleTemplates",
                    "microsoft.graph.directoryRoleTemplate",
                    Tenant("/directoryRoleTemplates"),
                    None,
                    false,
                    "RoleManagement.Read.Directory",
                    None,
                    false,
                ),
                // rbacapplication-list-roledefinitions.md, rbacapplication-post-roledefinitions.md
                C::RoleDefinitions => (
                    "roleDefinitions",
                    "microsoft.graph.unifiedRoleDefinition",
                    Tenant("/roleManagement/directory/roleDefinitions"),
                    None,
                    false,
                    "RoleManagement.Read.Directory",
                    Some("RoleManagement.ReadWrite.Directory"),
                    true,
                ),
                // rbacapplication-list-roleassignments.md, rbacapplication-post-roleassignments.md
                C::RoleAssignments => (
                    "roleAssignments",
                    "microsoft.graph.unifiedRoleAssignment",
                    Tenant("/roleManagement/directory/roleAssignments"),
                    None,
                    false,
                    "RoleManagement.Read.Directory",
                    Some("RoleManagement.ReadWrite.Directory"),
                    true,
                ),
                // rbacapplication-list-roleeligibilityschedules.md: schedules are made by
                // POSTing a request (rbacapplication-post-roleeligibilityschedulerequests.md),
                // never by a POST to the schedules.
                C::RoleEligibilitySchedules => (
                    "roleEligibilitySchedules",
                    "microsoft.graph.unifiedRoleEligibilitySchedule",
                    Tenant("/roleManagement/directory/roleEligibilitySchedules"),
                    None,
                    false,
                    "RoleEligibilitySchedule.Read.Directory",
                    Some("RoleEligibilitySchedule.ReadWrite.Directory"),
                    false,
                ),
                // application-list.md, application-delta.md, application-post-applications.md
                C::Applications => (
                    "applications",
                    "microsoft.graph.application",
                    Tenant("/applications"),
                    Some("/applications/delta"),
                    true,
                    "Application.Read.All",
                    Some("Application.ReadWrite.All"),
                    true,
                ),
                // serviceprincipal-list.md, serviceprincipal-delta.md
                C::ServicePrincipals => (
                    "servicePrincipals",
                    "microsoft.graph.servicePrincipal",
                    Tenant("/servicePrincipals"),
                    Some("/servicePrincipals/delta"),
                    true,
                    "Application.Read.All",
                    Some("Application.ReadWrite.All"),
                    true,
                ),
                // oauth2permissiongrant-list.md, oauth2permissiongrant-delta.md
                C::Oauth2PermissionGrants => (
                    "oauth2PermissionGrants",
                    "microsoft.graph.oAuth2PermissionGrant",
                    Tenant("/oauth2PermissionGrants"),
                    Some("/oauth2PermissionGrants/delta"),
                    false,
                    "Directory.Read.All",
                    Some("DelegatedPermissionGrant.ReadWrite.All"),
                    true,
                ),
                // serviceprincipal-list-approleassignedto.md
                C::AppRoleAssignments => (
                    "appRoleAssignments",
                    "microsoft.graph.appRoleAssignment",
                    PerParent {
                        parent: C::ServicePrincipals,
                        segment: "appRoleAssignedTo",
                    },
                    None,
                    false,
                    "Application.Read.All",
                    Some("AppRoleAssignment.ReadWrite.All"),
                    true,
                ),
                // device-list.md, device-delta.md; device-post-devices.md: no application
                // permission.
                C::Devices => (
                    "devices",
                    "microsoft.graph.device",
                    Tenant("/devices"),
                    Some("/devices/delta"),
                    false,
                    "Device.Read.All",
                    Some("Device.ReadWrite.All"),
                    false,
                ),
                // directory-list-administrativeunits.md, administrativeunit-delta.md
                C::AdministrativeUnits => (
                    "administrativeUnits",
                    "microsoft.graph.administrativeUnit",
                    Tenant("/directory/administrativeUnits"),
                    Some("/administrativeUnits/delta"),
                    true,
                    "AdministrativeUnit.Read.All",
                    Some("AdministrativeUnit.ReadWrite.All"),
                    true,
                ),
                // conditionalaccessroot-list-policies.md
                C::ConditionalAccessPolicies => (
                    "conditionalAccessPolicies",
                    "microsoft.graph.conditionalAccessPolicy",
                    Tenant("/identity/conditionalAccess/policies"),
                    None,
                    false,
                    "Policy.Read.All",
                    Some("Policy.ReadWrite.ConditionalAccess"),
                    true,
                ),
                // conditionalaccessroot-list-namedlocations.md
                C::NamedLocations => (
                    "namedLocations",
                    "microsoft.graph.namedLocation",
                    Tenant("/identity/conditionalAccess/namedLocations"),
                    None,
                    false,
                    "Policy.Read.All",
                    Some("Policy.ReadWrite.ConditionalAccess"),
                    true,
                ),
                // authentication-list-methods.md; creation is per method type (phone, email,
                // temporary access pass), handled by the write routes.
                C::AuthenticationMethods => (
                    "authenticationMethods",
                    "microsoft.graph.authenticationMethod",
                    PerParent {
                        parent: C::Users,
                        segment: "authentication/methods",
                    },
                    None,
                    false,
                    "UserAuthenticationMethod.Read.All",
                    Some("UserAuthenticationMethod.ReadWrite.All"),
                    true,
                ),
                // signin-list.md
                C::SignIns => (
                    "signIns",
                    "microsoft.graph.signIn",
                    Tenant("/auditLogs/signIns"),
                    None,
                    false,
                    "AuditLog.Read.All",
                    None,
                    false,
                ),
                // directoryaudit-list.md
                C::DirectoryAudits => (
                    "directoryAudits",
                    "microsoft.graph.directoryAudit",
                    Tenant("/auditLogs/directoryAudits"),
                    None,
                    false,
                    "AuditLog.Read.All",
                    None,
                    false,
                ),
                // organization-list.md
                C::Organization => (
                    "organization",
                    "microsoft.graph.organization",
                    Tenant("/organization"),
                    None,
                    false,
                    "Organization.Read.All",
                    None,
                    false,
                ),
                // domain-list.md
                C::Domains => (
                    "domains",
                    "microsoft.graph.domain",
                    Tenant("/domains"),
                    None,
                    false,
                    "Domain.Read.All",
                    None,
                    false,
                ),
                // Settings objects: GET and PATCH on one path (the get and update page of
                // each; permissions from their tables).
                // authorizationpolicy-get.md, authorizationpolicy-update.md
                C::AuthorizationPolicy => (
                    "authorizationPolicy",
                    "microsoft.graph.authorizationPolicy",
                    Singleton("/policies/authorizationPolicy"),
                    None,
                    false,
                    "Policy.Read.All",
                    Some("Policy.ReadWrite.Authorization"),
                    false,
                ),
                // identitysecuritydefaultsenforcementpolicy-get.md, -update.md
                C::SecurityDefaults => (
                    "identitySecurityDefaultsEnforcementPolicy",
                    "microsoft.graph.identitySecurityDefaultsEnforcementPolicy",
                    Singleton("/policies/identitySecurityDefaultsEnforcementPolicy"),
                    None,
                    false,
                    "Policy.Read.All",
                    Some("Policy.ReadWrite.ConditionalAccess"),
                    false,
                ),
                // authenticationmethodspolicy-get.md, -update.md,
                // authenticationmethodconfiguration-update.md
                C::AuthenticationMethodsPolicy => (
                    "authenticationMethodsPolicy",
                    "microsoft.graph.authenticationMethodsPolicy",
                    Singleton("/policies/authenticationMethodsPolicy"),
                    None,
                    false,
                    "Policy.Read.AuthenticationMethod",
                    Some("Policy.ReadWrite.AuthenticationMethod"),
                    false,
                ),
                // crosstenantaccesspolicy-get.md, crosstenantaccesspolicy-update.md
                C::CrossTenantAccessPolicy => (
                    "crossTenantAccessPolicy",
                    "microsoft.graph.crossTenantAccessPolicy",
                    Singleton("/policies/crossTenantAccessPolicy"),
                    None,
                    false,
                    "Policy.Read.All",
                    Some("Policy.ReadWrite.CrossTenantAccess"),
                    false,
                ),
                // crosstenantaccesspolicy-list-partners.md, crosstenantaccesspolicy-post-partners.md,
                // crosstenantaccesspolicyconfigurationpartner-update.md, -delete.md
                C::CrossTenantAccessPolicyPartners => (
                    "crossTenantAccessPolicyPartners",
                    "microsoft.graph.crossTenantAccessPolicyConfigurationPartner",
                    Tenant("/policies/crossTenantAccessPolicy/partners"),
                    None,
                    false,
                    "Policy.Read.All",
                    Some("Policy.ReadWrite.CrossTenantAccess"),
                    true,
                ),
                // crosstenantaccesspolicyconfigurationdefault-get.md, -update.md
                C::CrossTenantAccessDefault => (
                    "crossTenantAccessPolicyDefault",
                    "microsoft.graph.crossTenantAccessPolicyConfigurationDefault",
                    Singleton("/policies/crossTenantAccessPolicy/default"),
                    None,
                    false,
                    "Policy.Read.All",
                    Some("Policy.ReadWrite.CrossTenantAccess"),
                    false,
                ),
                // adminconsentrequestpolicy-get.md, -update.md
                C::AdminConsentRequestPolicy => (
                    "adminConsentRequestPolicy",
                    "microsoft.graph.adminConsentRequestPolicy",
                    Singleton("/policies/adminConsentRequestPolicy"),
                    None,
                    false,
                    "Policy.Read.All",
                    Some("Policy.ReadWrite.ConsentRequest"),
                    false,
                ),
                // tokenlifetimepolicy-list.md, tokenlifetimepolicy-post-tokenlifetimepolicies.md
                C::TokenLifetimePolicies => (
                    "tokenLifetimePolicies",
                    "microsoft.graph.tokenLifetimePolicy",
                    Tenant("/policies/tokenLifetimePolicies"),
                    None,
                    false,
                    "Policy.Read.All",
                    Some("Policy.ReadWrite.ApplicationConfiguration"),
                    true,
                ),
                // tokenissuancepolicy-list.md, tokenissuancepolicy-post-tokenissuancepolicies.md
                C::TokenIssuancePolicies => (
                    "tokenIssuancePolicies",
                    "microsoft.graph.tokenIssuancePolicy",
                    Tenant("/policies/tokenIssuancePolicies"),
                    None,
                    false,
                    "Policy.Read.All",
                    Some("Policy.ReadWrite.ApplicationConfiguration"),
                    true,
                ),
                // claimsmappingpolicy-list.md, claimsmappingpolicy-post-claimsmappingpolicies.md
                C::ClaimsMappingPolicies => (
                    "claimsMappingPolicies",
                    "microsoft.graph.claimsMappingPolicy",
                    Tenant("/policies/claimsMappingPolicies"),
                    None,
                    false,
                    "Policy.Read.All",
                    Some("Policy.ReadWrite.ApplicationConfiguration"),
                    true,
                ),
                // homerealmdiscoverypolicy-list.md, -post-homerealmdiscoverypolicies.md
                C::HomeRealmDiscoveryPolicies => (
                    "homeRealmDiscoveryPolicies",
                    "microsoft.graph.homeRealmDiscoveryPolicy",
                    Tenant("/policies/homeRealmDiscoveryPolicies"),
                    None,
                    false,
                    "Policy.Read.All",
                    Some("Policy.ReadWrite.ApplicationConfiguration"),
                    true,
                ),
                // activitybasedtimeoutpolicy-list.md, -post-activitybasedtimeoutpolicies.md
                C::ActivityBasedTimeoutPolicies => (
                    "activityBasedTimeoutPolicies",
                    "microsoft.graph.activityBasedTimeoutPolicy",
                    Tenant("/policies/activityBasedTimeoutPolicies"),
                    None,
                    false,
                    "Policy.Read.All",
                    Some("Policy.ReadWrite.ApplicationConfiguration"),
                    true,
                ),
                // permissiongrantpolicy-list.md, permissiongrantpolicy-post-permissiongrantpolicies.md
                C::PermissionGrantPolicies => (
                    "permissionGrantPolicies",
                    "microsoft.graph.permissionGrantPolicy",
                    Tenant("/policies/permissionGrantPolicies"),
                    None,
                    false,
                    "Policy.Read.PermissionGrant",
                    Some("Policy.ReadWrite.PermissionGrant"),
                    true,
                ),
                // policyroot-list-rolemanagementpolicies.md (the scope $filter is required),
                // unifiedrolemanagementpolicyrule-update.md; policies are neither created,
                // updated as a whole nor deleted.
                C::RoleManagementPolicies => (
                    "roleManagementPolicies",
                    "microsoft.graph.unifiedRoleManagementPolicy",
                    Tenant("/policies/roleManagementPolicies"),
                    None,
                    false,
                    "RoleManagementPolicy.Read.Directory",
                    Some("RoleManagementPolicy.ReadWrite.Directory"),
                    false,
                ),
                // policyroot-list-rolemanagementpolicyassignments.md: read-only here.
                C::RoleManagementPolicyAssignments => (
                    "roleManagementPolicyAssignments",
                    "microsoft.graph.unifiedRoleManagementPolicyAssignment",
                    Tenant("/policies/roleManagementPolicyAssignments"),
                    None,
                    false,
                    "RoleManagementPolicy.Read.Directory",
                    None,
                    false,
                ),
                // onpremisesdirectorysynchronization-list.md; the update page has no
                // application permission.
                C::OnPremisesSynchronization => (
                    "onPremisesSynchronization",
                    "microsoft.graph.onPremisesDirectorySynchronization",
                    Tenant("/directory/onPremisesSynchronization"),
                    None,
                    false,
                    "OnPremDirectorySynchronization.Read.All",
                    None,
                    false,
                ),
                // organizationalbranding-list-localizations.md (the default branding is the
                // localization `0`), organizationalbranding-post-localizations.md,
                // organizationalbrandinglocalization-update.md, -delete.md: application
                // permissions OrganizationalBranding.Read.All / .ReadWrite.All.
                C::BrandingLocalizations => (
                    "brandingLocalizations",
                    "microsoft.graph.organizationalBrandingLocalization",
                    PerParent {
                        parent: C::Organization,
                        segment: "branding/localizations",
                    },
                    None,
                    false,
                    "OrganizationalBranding.Read.All",
                    Some("OrganizationalBranding.ReadWrite.All"),
                    true,
                ),
                // authenticationstrengthroot-list-policies.md (built-in strengths are
                // read-only: authenticationstrengthpolicy-update.md)
                C::AuthenticationStrengthPolicies => (
                    "authenticationStrengthPolicies",
                    "microsoft.graph.authenticationStrengthPolicy",
                    Tenant("/policies/authenticationStrengthPolicies"),
                    None,
                    false,
                    "Policy.Read.AuthenticationMethod",
                    Some("Policy.ReadWrite.AuthenticationMethod"),
                    true,
                ),
            };
        Facts {
            name,
            odata_type,
            listed_at,
            delta_path,
            soft_delete,
            read_permission: read,
            write_permission: write,
            app_create,
        }
    }

    /// The property that identifies an object of this collection in its URL: `id`, but a
    /// partner configuration's `tenantId` (resources/crosstenantaccesspolicyconfigurationpartner.md:
    /// the partner's tenant id is its key; the type has no `id`).
    pub fn key(self) -> &'static str {
        match self {
            Collection::CrossTenantAccessPolicyPartners => "tenantId",
            _ => "id",
        }
    }

    /// The collection name (`users`, `servicePrincipals`, …).
    pub fn name(self) -> &'static str {
        self.facts().name
    }

    /// The collection whose OData type is `odata_type` (with or without `#`).
    pub fn from_odata_type(odata_type: &str) -> Option<Collection> {
        let t = odata_type.trim_start_matches('#');
        Self::ALL.into_iter().find(|c| c.facts().odata_type == t)
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A collection name that is not one the emulator serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown collection {0:?}")]
pub struct UnknownCollection(pub String);

impl FromStr for Collection {
    type Err = UnknownCollection;

    /// Parses a collection name, case-insensitively.
    fn from_str(s: &str) -> Result<Self, UnknownCollection> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownCollection(s.to_owned()))
    }
}

/// A link Graph lists under an object and writes with `$ref`: members, owners, manager.
/// Objects that are relationships themselves (role assignments, app role assignments, OAuth2
/// grants) are objects of their own [`Collection`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LinkKind {
    /// `/groups/{id}/members`
    GroupMember,
    /// `/groups/{id}/owners`
    GroupOwner,
    /// `/directoryRoles/{id}/members`
    DirectoryRoleMember,
    /// `/directory/administrativeUnits/{id}/members`
    AdministrativeUnitMember,
    /// `/devices/{id}/registeredOwners`
    DeviceRegisteredOwner,
    /// `/devices/{id}/registeredUsers`
    DeviceRegisteredUser,
    /// `/users/{id}/manager`
    UserManager,
    /// `/applications/{id}/owners`
    ApplicationOwner,
    /// `/servicePrincipals/{id}/owners`
    ServicePrincipalOwner,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_collection_parses_from_its_name_and_serializes_to_it() {
        for c in Collection::ALL {
            assert_eq!(c.name().parse::<Collection>(), Ok(c));
            assert_eq!(
                serde_json::to_value(c).ok(),
                Some(serde_json::Value::String(c.name().to_owned()))
            );
            assert_eq!(Collection::from_odata_type(c.facts().odata_type), Some(c));
        }
        assert!("user".parse::<Collection>().is_err());
    }
}
