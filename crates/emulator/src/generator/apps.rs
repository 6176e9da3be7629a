//! Applications, their service principals and app role assignments, with Microsoft Graph's
//! own service principal and app roles.

use super::*;

/// Graph's application permissions as app roles of the Microsoft Graph service principal:
/// first the first release's, with ids drawn from the seed (the generator picks among
/// these), then the policy writes, with ids derived from their names so that adding them
/// changed no tenant a seed gives.
pub(super) fn graph_app_roles(g: &mut Gen) -> Vec<Value> {
    let role = |p: &str, id: String| {
        json!({"allowedMemberTypes": ["Application"], "description": format!("Allows the app to {p}"),
               "displayName": p, "id": id, "isEnabled": true, "origin": "Application", "value": p})
    };
    let mut roles: Vec<Value> = seeded_permissions()
        .into_iter()
        .map(|p| role(p, g.uuid()))
        .collect();
    roles.extend(POLICY_WRITE_PERMISSIONS.iter().map(|p| {
        role(
            p,
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, p.as_bytes()).to_string(),
        )
    }));
    roles
}

/// The permissions whose app role ids come from the seed, in the order they are drawn.
fn seeded_permissions() -> BTreeSet<&'static str> {
    FIRST_RELEASE_PERMISSIONS
        .iter()
        .copied()
        .chain([
            "User.Read.All",
            "Group.Read.All",
            "Application.Read.All",
            "Directory.ReadWrite.All",
        ])
        .collect()
}

/// How many of [`graph_app_roles`] the generator picks from (the seeded ones).
fn seeded_roles() -> usize {
    seeded_permissions().len()
}

pub(super) fn applications(
    g: &mut Gen,
    t: &mut Tenant,
    spec: &TenantSpec,
    domain: &str,
    ext_app_id: &str,
    users: &[String],
) -> Vec<String> {
    let mut sps = Vec::new();
    // Microsoft Graph itself: the resource of every app role assignment for permissions.
    let graph_sp = g.uuid();
    let graph_roles = graph_app_roles(g);
    t.insert_initial(
        Collection::ServicePrincipals,
        service_principal(
            g,
            &graph_sp,
            GRAPH_APP_ID,
            "Microsoft Graph",
            "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
            graph_roles.clone(),
            &[],
        ),
    );
    sps.push(graph_sp.clone());
    for i in 0..spec.applications {
        let id = g.uuid();
        let app_id = if i == 0 {
            ext_app_id.to_owned()
        } else {
            g.uuid()
        };
        let name = if i == 0 {
            "dirvault schema extensions".to_owned()
        } else {
            format!("{} App {i}", g.pick(DEPARTMENTS))
        };
        let defines_roles = g.chance(0.3);
        let app_roles: Vec<Value> = if defines_roles {
            vec![
                json!({"allowedMemberTypes": ["User"], "description": "Readers", "displayName": "Reader", "id": g.uuid(), "isEnabled": true, "origin": "Application", "value": "Reader"}),
            ]
        } else {
            vec![]
        };
        let created = g.past(1000);
        let key_id = g.uuid();
        let hint: String = (0..3)
            .map(|_| (b'a' + g.rng.random_range(0..26u8)) as char)
            .collect();
        let permission = graph_roles[g.rng.random_range(0..seeded_roles())]["id"].clone();
        t.insert_initial(
            Collection::Applications,
            obj(json!({
                "id": id,
                "deletedDateTime": null,
                "addIns": [],
                "api": {"acceptMappedClaims": null, "knownClientApplications": [], "oauth2PermissionScopes": [], "preAuthorizedApplications": [], "requestedAccessTokenVersion": null},
                "appId": app_id,
                "appRoles": app_roles,
                "applicationTemplateId": null,
                "certification": null,
                "createdDateTime": created,
                "defaultRedirectUri": null,
                "description": null,
                "disabledByMicrosoftStatus": null,
                "displayName": name,
                "groupMembershipClaims": if g.chance(0.2) { json!("SecurityGroup") } else { Value::Null },
                "identifierUris": [format!("api://{app_id}")],
                "info": {"logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null, "supportUrl": null, "termsOfServiceUrl": null},
                "isDeviceOnlyAuthSupported": null,
                "isFallbackPublicClient": null,
                "keyCredentials": [],
                "nativeAuthenticationApisEnabled": null,
                "notes": null,
                "oauth2RequirePostResponse": false,
                "optionalClaims": null,
                "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
                "passwordCredentials": [{"customKeyIdentifier": null, "displayName": "ci secret", "endDateTime": graph_time(g.now + Duration::days(365)), "hint": hint, "keyId": key_id, "secretText": null, "startDateTime": created}],
                "publicClient": {"redirectUris": []},
                "publisherDomain": domain,
                "requestSignatureVerification": null,
                "requiredResourceAccess": [{"resourceAppId": GRAPH_APP_ID, "resourceAccess": [{"id": permission, "type": "Role"}]}],
                "samlMetadataUrl": null,
                "serviceManagementReference": null,
                "servicePrincipalLockConfiguration": null,
                "signInAudience": if g.chance(0.1) { "AzureADMultipleOrgs" } else { "AzureADMyOrg" },
                "spa": {"redirectUris": []},
                "tags": [],
                "tokenEncryptionKeyId": null,
                "uniqueName": null,
                "verifiedPublisher": {"displayName": null, "verifiedPublisherId": null, "addedDateTime": null},
                "web": {"homePageUrl": null, "logoutUrl": null, "redirectUris": [format!("https://app{i}.{domain}/auth")], "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false}, "redirectUriSettings": []},
            })),
        );
        if !users.is_empty() {
            let owner = g.pick(users).clone();
            t.add_link_initial(LinkKind::ApplicationOwner, &id, &owner);
        }
        if sps.len() < spec.service_principals {
            let sp_id = g.uuid();
            let tenant_id = t.id.clone();
            t.insert_initial(
                Collection::ServicePrincipals,
                service_principal(
                    g,
                    &sp_id,
                    &app_id,
                    &name,
                    &tenant_id,
                    app_roles.clone(),
                    &[],
                ),
            );
            sps.push(sp_id.clone());
            // App permissions: an app role assignment of the app's SP to Microsoft Graph.
            if g.chance(0.5) {
                let role = graph_roles[g.rng.random_range(0..seeded_roles())]["id"].clone();
                app_role_assignment(
                    g,
                    t,
                    &sp_id,
                    &name,
                    "ServicePrincipal",
                    &graph_sp,
                    "Microsoft Graph",
                    &role,
                );
            }
            if let (Some(role), false) = (app_roles.first(), users.is_empty()) {
                let user = g.pick(users).clone();
                let user_name = t
                    .get(Collection::Users, &user)
                    .and_then(|mut u| u.remove("displayName"))
                    .unwrap_or(Value::Null);
                let role_id = role["id"].clone();
                app_role_assignment(
                    g,
                    t,
                    &user,
                    user_name.as_str().unwrap_or(""),
                    "User",
                    &sp_id,
                    &name,
                    &role_id,
                );
            }
            // Every tenant has at least one tenant-wide OAuth2 grant.
            if i == 1 || g.chance(0.3) {
                let grant_id = base64_id(g).replace(['+', '/', '='], "");
                t.insert_initial(
                    Collection::Oauth2PermissionGrants,
                    obj(json!({"id": grant_id, "clientId": sp_id, "consentType": "AllPrincipals", "principalId": null, "resourceId": graph_sp, "scope": "User.Read openid profile"})),
                );
            }
        }
    }
    // Third-party multi-tenant apps (no application object in this tenant).
    while sps.len() < spec.service_principals {
        let sp_id = g.uuid();
        let app_id = g.uuid();
        let owner_org = g.uuid();
        let name = format!("Vendor SaaS {}", sps.len());
        t.insert_initial(
            Collection::ServicePrincipals,
            service_principal(g, &sp_id, &app_id, &name, &owner_org, vec![], &[]),
        );
        sps.push(sp_id);
    }
    sps
}

pub(super) fn service_principal(
    g: &mut Gen,
    id: &str,
    app_id: &str,
    name: &str,
    owner_org: &str,
    app_roles: Vec<Value>,
    tags: &[&str],
) -> Obj {
    obj(json!({
        "id": id,
        "deletedDateTime": null,
        "accountEnabled": true,
        "addIns": [],
        "alternativeNames": [],
        "appDescription": null,
        "appDisplayName": name,
        "appId": app_id,
        "applicationTemplateId": null,
        "appOwnerOrganizationId": owner_org,
        "appRoleAssignmentRequired": g.chance(0.2),
        "appRoles": app_roles,
        "description": null,
        "disabledByMicrosoftStatus": null,
        "displayName": name,
        "homepage": null,
        "info": {"logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null, "supportUrl": null, "termsOfServiceUrl": null},
        "keyCredentials": [],
        "loginUrl": null,
        "logoutUrl": null,
        "notes": null,
        "notificationEmailAddresses": [],
        "oauth2PermissionScopes": [],
        "passwordCredentials": [],
        "preferredSingleSignOnMode": null,
        "preferredTokenSigningKeyThumbprint": null,
        "replyUrls": [],
        "resourceSpecificApplicationPermissions": [],
        "samlSingleSignOnSettings": null,
        "servicePrincipalNames": [app_id],
        "servicePrincipalType": "Application",
        "signInAudience": "AzureADMyOrg",
        "tags": tags,
        "tokenEncryptionKeyId": null,
        "verifiedPublisher": {"displayName": null, "verifiedPublisherId": null, "addedDateTime": null},
    }))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn app_role_assignment(
    g: &mut Gen,
    t: &mut Tenant,
    principal: &str,
    principal_name: &str,
    principal_type: &str,
    resource: &str,
    resource_name: &str,
    role: &Value,
) {
    let id = base64_id(g).replace(['+', '/', '='], "");
    let created = g.past(500);
    t.insert_initial(
        Collection::AppRoleAssignments,
        obj(json!({
            "id": id,
            "deletedDateTime": null,
            "appRoleId": role,
            "createdDateTime": created,
            "principalDisplayName": principal_name,
            "principalId": principal,
            "principalType": principal_type,
            "resourceDisplayName": resource_name,
            "resourceId": resource,
        })),
    );
}
