//! A tenant's policies as a new tenant has them: the settings objects with the values their
//! get pages show (`authorizationpolicy-get.md`, `identitysecuritydefaultsenforcementpolicy-get.md`,
//! `authenticationmethodspolicy-get.md`, `crosstenantaccesspolicy-get.md`, `crosstenantaccesspolicyconfigurationdefault-get.md`,
//! `crosstenantaccesspolicy-list-partners.md`,
//! `adminconsentrequestpolicy-get.md`), Microsoft's built-in authentication strengths and
//! permission grant policies (`authenticationstrengthroot-list-policies.md`,
//! `permissiongrantpolicy-list.md`), and one policy of each application-configuration kind so
//! that every collection has something to back up.

use super::*;

pub(super) fn policies(g: &mut Gen, t: &mut Tenant) {
    let modified = graph_time(g.now);
    t.insert_settings(
        Collection::AuthorizationPolicy,
        obj(json!({
            "id": "authorizationPolicy",
            "displayName": "Authorization Policy",
            "description": "Used to manage authorization related settings across the company.",
            "deletedDateTime": null,
            "allowInvitesFrom": "everyone",
            "allowedToSignUpEmailBasedSubscriptions": true,
            "allowedToUseSSPR": true,
            "allowEmailVerifiedUsersToJoinOrganization": false,
            "allowUserConsentForRiskyApps": false,
            "blockMsolPowerShell": false,
            "guestUserRoleId": "10dae51f-b6af-4016-8d66-8c2a99b929b3",
            "defaultUserRolePermissions": {
                "allowedToCreateApps": true,
                "allowedToCreateSecurityGroups": true,
                "allowedToCreateTenants": true,
                "allowedToReadBitlockerKeysForOwnedDevice": true,
                "allowedToReadOtherUsers": true,
                "permissionGrantPoliciesAssigned": ["ManagePermissionGrantsForSelf.microsoft-user-default-low"]
            }
        })),
    );
    t.insert_settings(
        Collection::SecurityDefaults,
        obj(json!({
            "id": "00000000-0000-0000-0000-000000000005",
            "displayName": "Security Defaults",
            "description": "Security defaults is a set of basic identity security mechanisms recommended by Microsoft. When enabled, these recommendations will be automatically enforced in your organization. Administrators and users will be better protected from common identity related attacks.",
            "deletedDateTime": null,
            "isEnabled": true
        })),
    );
    let all_users =
        json!([{"targetType": "group", "id": "all_users", "isRegistrationRequired": false}]);
    t.insert_settings(
        Collection::AuthenticationMethodsPolicy,
        obj(json!({
            "id": "authenticationMethodsPolicy",
            "displayName": "Authentication Methods Policy",
            "description": "The tenant-wide policy that controls which authentication methods are allowed in the tenant, authentication method registration requirements, and self-service password reset settings",
            "lastModifiedDateTime": modified,
            "policyVersion": "1.5",
            "reconfirmationInDays": 0,
            "policyMigrationState": "preMigration",
            "registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {
                "snoozeDurationInDays": 1, "state": "default", "excludeTargets": [],
                "includeTargets": [{"id": "all_users", "targetType": "group", "targetedAuthenticationMethod": "microsoftAuthenticator"}]}},
            "authenticationMethodConfigurations": [
                {"@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration", "id": "Fido2",
                 "state": "enabled", "excludeTargets": [], "isSelfServiceRegistrationAllowed": true, "isAttestationEnforced": true,
                 "keyRestrictions": {"isEnforced": false, "enforcementType": "block", "aaGuids": []}, "includeTargets": all_users},
                {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethodConfiguration", "id": "MicrosoftAuthenticator",
                 "state": "enabled", "excludeTargets": [], "isSoftwareOathEnabled": false,
                 "includeTargets": [{"targetType": "group", "id": "all_users", "isRegistrationRequired": false, "authenticationMode": "any"}]},
                {"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "id": "Sms",
                 "state": "disabled", "excludeTargets": [],
                 "includeTargets": [{"targetType": "group", "id": "all_users", "isRegistrationRequired": false, "isUsableForSignIn": true}]},
                {"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration", "id": "TemporaryAccessPass",
                 "state": "enabled", "excludeTargets": [], "defaultLifetimeInMinutes": 60, "defaultLength": 8,
                 "minimumLifetimeInMinutes": 60, "maximumLifetimeInMinutes": 480, "isUsableOnce": false, "includeTargets": all_users},
                {"@odata.type": "#microsoft.graph.emailAuthenticationMethodConfiguration", "id": "Email",
                 "state": "enabled", "excludeTargets": [], "allowExternalIdToUseEmailOtp": "default", "includeTargets": []}
            ]
        })),
    );
    let everyone = |access: &str| {
        json!({
            "usersAndGroups": {"accessType": access, "targets": [{"target": "AllUsers", "targetType": "user"}]},
            "applications": {"accessType": access, "targets": [{"target": "AllApplications", "targetType": "application"}]}
        })
    };
    t.insert_settings(
        Collection::CrossTenantAccessDefault,
        obj(json!({
            "isServiceDefault": true,
            "inboundTrust": {"isMfaAccepted": false, "isCompliantDeviceAccepted": false, "isHybridAzureADJoinedDeviceAccepted": false},
            "automaticUserConsentSettings": {"inboundAllowed": false, "outboundAllowed": false},
            "b2bCollaborationOutbound": everyone("allowed"),
            "b2bCollaborationInbound": everyone("allowed"),
            "b2bDirectConnectOutbound": everyone("blocked"),
            "b2bDirectConnectInbound": everyone("blocked")
        })),
    );
    t.insert_settings(
        Collection::CrossTenantAccessPolicy,
        obj(json!({
            "id": "crossTenantAccessPolicy",
            "displayName": "CrossTenantAccessPolicy",
            "description": null,
            "deletedDateTime": null,
            "allowedCloudEndpoints": []
        })),
    );
    // One partner organization whose users may collaborate (B2B) and whose MFA is trusted.
    let partner = g.uuid();
    t.insert_initial(
        Collection::CrossTenantAccessPolicyPartners,
        obj(json!({
            "tenantId": partner,
            "isServiceProvider": false,
            "isInMultiTenantOrganization": false,
            "inboundTrust": {"isMfaAccepted": true, "isCompliantDeviceAccepted": false, "isHybridAzureADJoinedDeviceAccepted": false},
            "automaticUserConsentSettings": {"inboundAllowed": false, "outboundAllowed": false},
            "b2bCollaborationInbound": everyone("allowed"),
            "b2bCollaborationOutbound": null,
            "b2bDirectConnectInbound": everyone("blocked"),
            "b2bDirectConnectOutbound": null,
            "tenantRestrictions": null
        })),
    );
    t.insert_settings(
        Collection::AdminConsentRequestPolicy,
        obj(json!({
            "isEnabled": false,
            "notifyReviewers": false,
            "remindersEnabled": false,
            "requestDurationInDays": 30,
            "reviewers": [],
            "version": 0
        })),
    );
    for (kind, name, definition) in [
        (
            Collection::TokenLifetimePolicies,
            "Contoso app token lifetime",
            r#"{"TokenLifetimePolicy":{"Version":1,"AccessTokenLifetime":"8:00:00"}}"#,
        ),
        (
            Collection::TokenIssuancePolicies,
            "SAML token signing",
            r#"{"TokenIssuancePolicy":{"Version":1,"SigningAlgorithm":"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256","TokenResponseSigningPolicy":"TokenOnly","SamlTokenVersion":"2.0"}}"#,
        ),
        (
            Collection::ClaimsMappingPolicies,
            "Employee id claim",
            r#"{"ClaimsMappingPolicy":{"Version":1,"IncludeBasicClaimSet":"true","ClaimsSchema":[{"Source":"user","ID":"employeeid","JwtClaimType":"employeeid"}]}}"#,
        ),
        (
            Collection::HomeRealmDiscoveryPolicies,
            "Federated domain acceleration",
            r#"{"HomeRealmDiscoveryPolicy":{"AccelerateToFederatedDomain":true,"AllowCloudPasswordValidation":false}}"#,
        ),
        (
            Collection::ActivityBasedTimeoutPolicies,
            "Web session idle timeout",
            r#"{"ActivityBasedTimeoutPolicy":{"Version":1,"ApplicationPolicies":[{"ApplicationId":"default","WebSessionIdleTimeout":"08:00:00"}]}}"#,
        ),
    ] {
        let id = g.uuid();
        t.insert_initial(
            kind,
            obj(json!({
                "id": id, "deletedDateTime": null, "displayName": name, "description": null,
                "definition": [definition], "isOrganizationDefault": false
            })),
        );
    }
    // Each with its condition sets (permissiongrantpolicy-list.md shows them inline); their
    // ids derived from the policy's, not drawn, so seeded tenants stay as they were.
    for (id, name, permission_type, classification) in [
        (
            "microsoft-user-default-low",
            "Default policy for user consent to apps (low risk)",
            "delegatedUserConsentable",
            "low",
        ),
        (
            "microsoft-user-default-legacy",
            "Default policy for user consent to apps (legacy)",
            "delegatedUserConsentable",
            "all",
        ),
        (
            "microsoft-all-application-permissions",
            "All application permissions, for any client app",
            "application",
            "all",
        ),
    ] {
        let set = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("{id}/includes/0").as_bytes(),
        );
        t.insert_initial(
            Collection::PermissionGrantPolicies,
            obj(json!({"id": id, "displayName": name, "description": name, "deletedDateTime": null,
                       "includes": [{
                           "id": set.to_string(), "permissionClassification": classification,
                           "permissionType": permission_type, "resourceApplication": "any",
                           "permissions": ["all"], "clientApplicationIds": ["all"],
                           "clientApplicationTenantIds": ["all"], "clientApplicationPublisherIds": ["all"],
                           "clientApplicationsFromVerifiedPublisherOnly": false
                       }],
                       "excludes": []})),
        );
    }
    let created = "2021-12-01T00:00:00Z";
    for (id, name, combinations, satisfied) in [
        (
            "00000000-0000-0000-0000-000000000002",
            "Multifactor authentication",
            json!([
                "windowsHelloForBusiness",
                "fido2",
                "x509CertificateMultiFactor",
                "deviceBasedPush",
                "temporaryAccessPassOneTime",
                "temporaryAccessPassMultiUse",
                "password,microsoftAuthenticatorPush",
                "password,softwareOath",
                "password,hardwareOath",
                "password,sms",
                "password,voice",
                "federatedMultiFactor",
                "microsoftAuthenticatorPush,federatedSingleFactor",
                "softwareOath,federatedSingleFactor",
                "hardwareOath,federatedSingleFactor",
                "sms,federatedSingleFactor",
                "voice,federatedSingleFactor"
            ]),
            "mfa",
        ),
        (
            "00000000-0000-0000-0000-000000000003",
            "Passwordless MFA",
            json!([
                "windowsHelloForBusiness",
                "fido2",
                "x509CertificateMultiFactor",
                "deviceBasedPush"
            ]),
            "mfa",
        ),
        (
            "00000000-0000-0000-0000-000000000004",
            "Phishing-resistant MFA",
            json!([
                "windowsHelloForBusiness",
                "fido2",
                "x509CertificateMultiFactor"
            ]),
            "mfa",
        ),
    ] {
        t.insert_initial(
            Collection::AuthenticationStrengthPolicies,
            obj(json!({
                "id": id, "displayName": name, "description": name, "policyType": "builtIn",
                "requirementsSatisfied": satisfied, "allowedCombinations": combinations,
                "createdDateTime": created, "modifiedDateTime": created
            })),
        );
    }
    role_management_policies(g, t);
    branding(t);
    // The tenant syncs users from on-premises AD (the generator's synced users), with its
    // settings as onpremisesdirectorysynchronization-get.md shows them.
    let tenant = t.id.clone();
    t.insert_initial(
        Collection::OnPremisesSynchronization,
        obj(json!({
            "id": tenant,
            "configuration": {
                "accidentalDeletionPrevention": {"synchronizationPreventionType": "enabledForCount", "alertThreshold": 500},
                "synchronizationInterval": "PT30M",
                "customerRequestedSynchronizationInterval": null
            },
            "features": {
                "passwordSyncEnabled": true, "passwordWritebackEnabled": false,
                "groupWriteBackEnabled": false, "deviceWritebackEnabled": false,
                "userWritebackEnabled": false, "directoryExtensionsEnabled": true,
                "softMatchOnUpnEnabled": true, "blockSoftMatchEnabled": false,
                "blockCloudObjectTakeoverThroughHardMatchEnabled": false
            }
        })),
    );
}

/// A 1×1 transparent PNG: the banner logo of the default branding.
const BANNER_LOGO: [u8; 67] = [
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// Sign-in branding as organizationalbranding-list-localizations.md shows it: the default
/// (id `0`) with a banner logo, and a French localization. Drawn from nothing random, so a
/// seed gives the tenant it gave before branding was served.
fn branding(t: &mut Tenant) {
    let name = t.name.clone();
    for (id, color, text, hint) in [
        (
            "0",
            "#0072C6",
            format!("Welcome to {name}"),
            "someone@example.com",
        ),
        (
            "fr-FR",
            "#FFFF33",
            format!("Bienvenue chez {name}"),
            "quelqu'un@example.com",
        ),
    ] {
        t.insert_initial(
            Collection::BrandingLocalizations,
            obj(json!({
                "id": id, "backgroundColor": color, "signInPageText": text,
                "usernameHintText": hint, "cdnList": [],
                "customPrivacyAndCookiesText": null, "customPrivacyAndCookiesUrl": null,
                "loginPageTextVisibilitySettings": {
                    "hideCannotAccessYourAccount": false, "hideForgotMyPassword": false,
                    "hideResetItNow": false, "hideTermsOfUse": true, "hidePrivacyAndCookies": true,
                    "hideAccountResetCredentials": false
                }
            })),
        );
    }
    // Set before anyone syncs: no change logged.
    if let Some(default) = t.get(Collection::BrandingLocalizations, "0") {
        let mut default = default;
        // The CDNs that serve its images (organizationalbranding-list-localizations.md: the
        // localization without images has none).
        default.insert("cdnList".into(), json!(["aadcdn.msftauthimages.net"]));
        default.insert(
            "bannerLogoRelativeUrl".into(),
            json!(format!("{}/logintenantbranding/0/bannerlogo?ts=0", t.id)),
        );
        t.insert_initial(Collection::BrandingLocalizations, default);
        t.branding_streams.insert(
            ("0".into(), "bannerLogo".into()),
            ("image/png".into(), BANNER_LOGO.to_vec()),
        );
    }
}

/// PIM's settings for each built-in directory role, as
/// `policyroot-list-rolemanagementpolicies.md` (example 2) shows them: a policy per role with
/// its rules, and the assignment that ties it to the role
/// (`policyroot-list-rolemanagementpolicyassignments.md`).
fn role_management_policies(g: &mut Gen, t: &mut Tenant) {
    let tenant = t.id.clone();
    let target = |caller: &str, level: &str| {
        json!({"caller": caller, "operations": ["all"], "level": level,
               "inheritableSettings": [], "enforcedSettings": []})
    };
    for (template, name) in BUILT_IN_ROLES {
        let global_admin = *name == "Global Administrator";
        let policy = format!("DirectoryRole_{tenant}_{}", g.uuid());
        let rules = json!([
            {"@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
             "id": "Expiration_Admin_Eligibility", "isExpirationRequired": false,
             "maximumDuration": "P365D", "target": target("Admin", "Eligibility")},
            {"@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
             "id": "Expiration_EndUser_Assignment", "isExpirationRequired": true,
             "maximumDuration": "PT8H", "target": target("EndUser", "Assignment")},
            {"@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule",
             "id": "Enablement_EndUser_Assignment",
             "enabledRules": ["MultiFactorAuthentication", "Justification"],
             "target": target("EndUser", "Assignment")},
            {"@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyApprovalRule",
             "id": "Approval_EndUser_Assignment",
             "setting": {"isApprovalRequired": global_admin, "isApprovalRequiredForExtension": false,
                         "isRequestorJustificationRequired": true, "approvalMode": "SingleStage",
                         "approvalStages": [{"approvalStageTimeOutInDays": 1, "isApproverJustificationRequired": true,
                                             "escalationTimeInMinutes": 0, "isEscalationEnabled": false,
                                             "primaryApprovers": [], "escalationApprovers": []}]},
             "target": target("EndUser", "Assignment")},
            {"@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyNotificationRule",
             "id": "Notification_Admin_Admin_Eligibility", "notificationType": "Email",
             "recipientType": "Admin", "notificationLevel": "All", "isDefaultRecipientsEnabled": true,
             "notificationRecipients": [], "target": target("Admin", "Eligibility")}
        ]);
        t.insert_initial(
            Collection::RoleManagementPolicies,
            obj(json!({
                "id": policy, "displayName": "DirectoryRole", "description": "DirectoryRole",
                "isOrganizationDefault": false, "scopeId": "/", "scopeType": "DirectoryRole",
                "lastModifiedDateTime": null, "lastModifiedBy": {"displayName": null, "id": null},
                "rules": rules
            })),
        );
        t.insert_initial(
            Collection::RoleManagementPolicyAssignments,
            obj(json!({
                "id": format!("{policy}_{template}"), "policyId": policy,
                "scopeId": "/", "scopeType": "DirectoryRole", "roleDefinitionId": template
            })),
        );
    }
}
