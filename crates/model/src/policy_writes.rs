//! What a restore may send for each tenant policy: the properties its update page lists (a
//! rollback is a `PATCH` of these only), and what its create page takes. The client's own
//! table, from the same pages as the emulator's (`type_rules.json`); the engine's
//! `tests/client_tables.rs` checks the two agree.
//!
//! Sources (Microsoft Graph v1.0, `api-reference/v1.0/api/`): `authorizationpolicy-update.md`,
//! `identitysecuritydefaultsenforcementpolicy-update.md`, `authenticationmethodspolicy-update.md`,
//! `crosstenantaccesspolicy-update.md`, `crosstenantaccesspolicyconfigurationdefault-update.md`,
//! `crosstenantaccesspolicy-post-partners.md`, `crosstenantaccesspolicyconfigurationpartner-update.md`,
//! `adminconsentrequestpolicy-update.md`,
//! `tokenlifetimepolicy-update.md` (and the token issuance, claims mapping, home realm discovery
//! and activity-based timeout pages, which share `stsPolicy`'s properties),
//! `permissiongrantpolicy-update.md`, `permissiongrantpolicy-post-permissiongrantpolicies.md`,
//! `authenticationstrengthpolicy-update.md`, `authenticationstrengthroot-post-policies.md`.

use crate::ObjectKind;

/// The properties a restore may write to one policy kind.
#[derive(Debug, Clone, Copy)]
pub struct PolicyWrites {
    /// What a `PATCH` may carry.
    pub update: &'static [&'static str],
    /// What a `POST` that re-creates the policy carries besides those: a key the caller
    /// names, a property only a create sets. (Settings objects are never created.)
    pub create_also: &'static [&'static str],
}

impl PolicyWrites {
    /// A kind whose create carries nothing its update does not (or that is never created).
    const fn updating(update: &'static [&'static str]) -> Self {
        Self {
            update,
            create_also: &[],
        }
    }

    /// Whether a create of the kind may carry `name`.
    pub fn creates(&self, name: &str) -> bool {
        self.update.contains(&name) || self.create_also.contains(&name)
    }
}

/// What a partner configuration's update takes (its create also takes the partner's
/// `tenantId`).
const CROSS_TENANT_SETTINGS: [&str; 6] = [
    "automaticUserConsentSettings",
    "b2bCollaborationInbound",
    "b2bCollaborationOutbound",
    "b2bDirectConnectInbound",
    "b2bDirectConnectOutbound",
    "inboundTrust",
];

const STS_POLICY: PolicyWrites = PolicyWrites::updating(&[
    "definition",
    "description",
    "displayName",
    "isOrganizationDefault",
]);

/// The string and complex properties of a branding localization a `PATCH` may carry
/// (organizationalbrandinglocalization-update.md); its streams are written one by one with
/// `PUT` ([`BRANDING_STREAMS`]).
const BRANDING: [&str; 16] = [
    "backgroundColor",
    "contentCustomization",
    "customAccountResetCredentialsUrl",
    "customCannotAccessYourAccountText",
    "customCannotAccessYourAccountUrl",
    "customForgotMyPasswordText",
    "customPrivacyAndCookiesText",
    "customPrivacyAndCookiesUrl",
    "customResetItNowText",
    "customTermsOfUseText",
    "customTermsOfUseUrl",
    "headerBackgroundColor",
    "loginPageLayoutConfiguration",
    "loginPageTextVisibilitySettings",
    "signInPageText",
    "usernameHintText",
];

/// The `Edm.Stream` properties of a branding localization (organizationalBrandingProperties in
/// the v1.0 metadata): never in its JSON, each read with `GET …/{id}/{stream}` and written with
/// `PUT` of its bytes; set when its `{stream}RelativeUrl` is.
pub const BRANDING_STREAMS: [&str; 7] = [
    "backgroundImage",
    "bannerLogo",
    "customCSS",
    "favicon",
    "headerLogo",
    "squareLogo",
    "squareLogoDark",
];

/// The writes of a policy kind; `None` for kinds that are not tenant policies.
pub fn policy_writes(kind: ObjectKind) -> Option<PolicyWrites> {
    use ObjectKind as K;
    let writes = match kind {
        // A localization is created with its language as its id
        // (organizationalbranding-post-localizations.md).
        K::BrandingLocalizations => PolicyWrites {
            update: &BRANDING,
            create_also: &["id"],
        },
        K::AuthorizationPolicy => PolicyWrites::updating(&[
            "allowEmailVerifiedUsersToJoinOrganization",
            "allowInvitesFrom",
            "allowUserConsentForRiskyApps",
            "allowedToSignUpEmailBasedSubscriptions",
            "allowedToUseSSPR",
            "blockMsolPowerShell",
            "defaultUserRolePermissions",
            "description",
            "displayName",
            "guestUserRoleId",
        ]),
        K::SecurityDefaults => PolicyWrites::updating(&["isEnabled"]),
        // Each method's configuration is updated on its own path, with its @odata.type
        // (authenticationmethodconfiguration-update.md): see `METHOD_CONFIGURATIONS`.
        K::AuthenticationMethodsPolicy => PolicyWrites::updating(&["registrationEnforcement"]),
        K::CrossTenantAccessPolicy => {
            PolicyWrites::updating(&["allowedCloudEndpoints", "displayName"])
        }
        // The partner's tenant id is its key, given on create only
        // (crosstenantaccesspolicy-post-partners.md, crosstenantaccesspolicyconfigurationpartner-update.md).
        K::CrossTenantAccessPolicyPartners => PolicyWrites {
            update: &CROSS_TENANT_SETTINGS,
            create_also: &["tenantId"],
        },
        K::CrossTenantAccessDefault => PolicyWrites::updating(&[
            "automaticUserConsentSettings",
            "b2bCollaborationInbound",
            "b2bCollaborationOutbound",
            "b2bDirectConnectInbound",
            "b2bDirectConnectOutbound",
            "inboundTrust",
            "invitationRedemptionIdentityProviderConfiguration",
            "tenantRestrictions",
        ]),
        K::AdminConsentRequestPolicy => PolicyWrites::updating(&[
            "isEnabled",
            "notifyReviewers",
            "remindersEnabled",
            "requestDurationInDays",
            "reviewers",
        ]),
        K::TokenLifetimePolicies
        | K::TokenIssuancePolicies
        | K::ClaimsMappingPolicies
        | K::HomeRealmDiscoveryPolicies
        | K::ActivityBasedTimeoutPolicies => STS_POLICY,
        // The caller names a permission grant policy's id; its condition sets (includes,
        // excludes) are written with requests of their own.
        K::PermissionGrantPolicies => PolicyWrites {
            update: &["description", "displayName"],
            create_also: &["id"],
        },
        // A PIM policy is changed rule by rule (unifiedrolemanagementpolicyrule-update.md):
        // see `PIM_RULES`.
        K::RoleManagementPolicies => PolicyWrites::updating(&[]),
        // allowedCombinations changes only through `updateAllowedCombinations`.
        K::AuthenticationStrengthPolicies => PolicyWrites {
            update: &["description", "displayName"],
            create_also: &["allowedCombinations"],
        },
        _ => return None,
    };
    Some(writes)
}

/// Where the authentication methods policy's method configurations are updated, one by one.
pub const METHOD_CONFIGURATIONS: &str =
    "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations";

/// Where a PIM policy's rules are updated, one by one: `{PIM_RULES}/{policy id}/rules/{rule id}`.
pub const PIM_RULES: &str = "/policies/roleManagementPolicies";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_kind_has_its_writes_and_no_other_kind_does() {
        for kind in ObjectKind::ALL {
            let is_policy = kind.name().ends_with("Policy")
                || kind.name().ends_with("Policies")
                || kind.name().ends_with("PolicyDefault")
                || kind.name().ends_with("PolicyPartners")
                || kind == ObjectKind::BrandingLocalizations;
            let is_settings = kind.is_singleton();
            let policy_kind = is_policy && !matches!(kind, ObjectKind::ConditionalAccessPolicies);
            assert_eq!(policy_writes(kind).is_some(), policy_kind, "{kind}");
            // PIM policies: only their rules change, through requests of their own.
            let rules_only = kind == ObjectKind::RoleManagementPolicies;
            if let Some(w) = policy_writes(kind) {
                assert_eq!(w.update.is_empty(), rules_only, "{kind}");
                assert!(!is_settings || w.create_also.is_empty(), "{kind}");
            }
        }
    }
}
