//! Writes and the recycle bin over HTTP (docs/graph.md §1 "Create / update rules", §2, §7).
//!
//! Longer than our ~800-line guide on purpose: each integration-test file is its own binary,
//! linked against the whole stack, and on CI's two cores a binary costs more to link than
//! these tests take to run; the tests share one setup and are grouped by feature below.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code

mod common;

use chrono::Duration;
use common::start;
use dirvault_emulator::{Collection, LinkKind};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn new_user(domain: &str, nick: &str) -> Value {
    json!({"accountEnabled": true, "displayName": format!("User {nick}"), "mailNickname": nick,
           "userPrincipalName": format!("{nick}@{domain}"),
           "passwordProfile": {"forceChangePasswordNextSignIn": true, "password": "Temp-Pass-123!"}})
}

#[tokio::test]
async fn create_user_validates_like_graph() {
    let env = start("tiny").await;
    let domain = env.tenant.default_domain.clone();
    let created = env.post("/users", new_user(&domain, "alice")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(
        created.body["passwordProfile"].is_null(),
        "passwords are never returned"
    );
    assert!(created.body["createdDateTime"].is_string());
    assert_eq!(
        env.get(&format!("/users/{id}")).await.body["userPrincipalName"],
        format!("alice@{domain}")
    );

    // Duplicate UPN (case-insensitive): 400 with an ObjectConflict detail on userPrincipalName.
    let dup = env.post("/users", new_user(&domain, "ALICE")).await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    assert_eq!(dup.code(), "Request_BadRequest");
    assert_eq!(dup.body["error"]["details"][0]["code"], "ObjectConflict");
    assert_eq!(
        dup.body["error"]["details"][0]["target"],
        "userPrincipalName"
    );

    let mut missing = new_user(&domain, "bob");
    missing.as_object_mut().unwrap().remove("mailNickname");
    let r = env.post("/users", missing).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("mailNickname"), "{}", r.message());

    let mut no_password = new_user(&domain, "carol");
    no_password["passwordProfile"] = json!({"forceChangePasswordNextSignIn": true});
    assert_eq!(
        env.post("/users", no_password).await.status,
        StatusCode::BAD_REQUEST
    );

    let foreign = env
        .post("/users", new_user("not-verified.example", "dave"))
        .await;
    assert_eq!(foreign.status, StatusCode::BAD_REQUEST);
    assert!(
        foreign.message().contains("verified domain"),
        "{}",
        foreign.message()
    );

    let mut read_only = new_user(&domain, "erin");
    read_only["createdDateTime"] = json!("2020-01-01T00:00:00Z");
    let r = env.post("/users", read_only).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.message(),
        "Property 'createdDateTime' is read-only and cannot be set."
    );

    let mut unknown = new_user(&domain, "frank");
    unknown["favouriteColour"] = json!("blue");
    assert_eq!(
        env.post("/users", unknown).await.status,
        StatusCode::BAD_REQUEST
    );

    let not_json = env
        .http
        .post(env.graph("/users"))
        .bearer_auth(&env.token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn patch_updates_writable_properties_and_refuses_the_rest() {
    let env = start("small").await;
    let id = env.cloud_user();
    let r = env
        .patch(
            &format!("/users/{id}"),
            json!({"jobTitle": "Restorer", "accountEnabled": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let u = env.object(Collection::Users, &id).unwrap();
    assert_eq!(
        (u["jobTitle"].clone(), u["accountEnabled"].clone()),
        (json!("Restorer"), json!(false))
    );
    assert_eq!(
        env.patch(&format!("/users/{id}"), json!({"id": "x"}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        env.patch(
            "/users/00000000-0000-0000-0000-000000000000",
            json!({"jobTitle": "x"})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // A synced user's on-premises attributes are not writable through Graph.
    let synced = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Users)
                .unwrap()
                .iter()
                .find(|(_, u)| u["onPremisesSyncEnabled"] == true)
                .map(|(id, _)| id.clone())
        })
        .unwrap()
        .unwrap();
    let r = env
        .patch(
            &format!("/users/{synced}"),
            json!({"displayName": "Renamed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.message().contains("on-premises mastered"),
        "{}",
        r.message()
    );
    assert_eq!(
        env.patch(&format!("/users/{synced}"), json!({"usageLocation": "NO"}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    // Role assignments have no PATCH; devices accept only a few properties and no app-only create.
    let assignment = env.ids(Collection::RoleAssignments)[0].clone();
    assert_eq!(
        env.patch(
            &format!("/roleManagement/directory/roleAssignments/{assignment}"),
            json!({"principalId": id})
        )
        .await
        .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let device = env.ids(Collection::Devices)[0].clone();
    assert_eq!(
        env.patch(
            &format!("/devices/{device}"),
            json!({"accountEnabled": false})
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        env.patch(&format!("/devices/{device}"), json!({"model": "x"}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let create_device = env
        .post(
            "/devices",
            json!({"displayName": "laptop", "accountEnabled": true}),
        )
        .await;
    assert_eq!(create_device.status, StatusCode::FORBIDDEN);
    // Built-in role definitions are read-only.
    assert_eq!(
        env.patch(
            "/roleManagement/directory/roleDefinitions/62e90394-69f5-4237-9190-012177145e10",
            json!({"description": "x"})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn member_refs_and_odata_bind() {
    let env = start("small").await;
    let domain = env.tenant.default_domain.clone();
    let users = env.ids(Collection::Users);
    let g = env
        .post("/groups", json!({"displayName": "Restored team", "mailEnabled": false, "mailNickname": "restored", "securityEnabled": true,
                                 "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", users[0])]}))
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.body);
    let gid = g.body["id"].as_str().unwrap().to_owned();
    let members = |env: &common::Env| {
        env.emulator
            .with_tenant(&env.tenant.tenant_id, |t| {
                t.links(LinkKind::GroupMember, &gid)
                    .cloned()
                    .unwrap_or_default()
            })
            .unwrap()
    };
    assert_eq!(members(&env).len(), 1);

    let add = |id: &str| json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")});
    assert_eq!(
        env.post(&format!("/groups/{gid}/members/$ref"), add(&users[1]))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let again = env
        .post(&format!("/groups/{gid}/members/$ref"), add(&users[1]))
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        again.message(),
        "One or more added object references already exist for the following modified properties: 'members'."
    );
    assert_eq!(
        env.post(
            &format!("/groups/{gid}/members/$ref"),
            add("00000000-0000-0000-0000-000000000000")
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.post(&format!("/groups/{gid}/members/$ref"), json!({"id": "x"}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // members@odata.bind: at most 20, and all or nothing.
    let bind = |ids: &[String]| json!({"members@odata.bind": ids.iter().map(|i| format!("https://graph.microsoft.com/v1.0/directoryObjects/{i}")).collect::<Vec<_>>()});
    assert_eq!(
        env.patch(&format!("/groups/{gid}"), bind(&users[2..23]))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let with_existing: Vec<String> = users[2..6]
        .iter()
        .cloned()
        .chain([users[1].clone()])
        .collect();
    assert_eq!(
        env.patch(&format!("/groups/{gid}"), bind(&with_existing))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        members(&env).len(),
        2,
        "nothing added when one reference exists"
    );
    assert_eq!(
        env.patch(&format!("/groups/{gid}"), bind(&users[2..22]))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(members(&env).len(), 22);

    assert_eq!(
        env.delete(&format!("/groups/{gid}/members/{}/$ref", users[1]))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        env.delete(&format!("/groups/{gid}/members/{}/$ref", users[1]))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Owners and managers work the same way.
    assert_eq!(
        env.post(&format!("/groups/{gid}/owners/$ref"), add(&users[0]))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        env.send(
            reqwest::Method::PUT,
            &format!("/users/{}/manager/$ref", users[5]),
            Some(add(&users[6])),
            &[]
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        env.get(&format!("/users/{}/manager", users[5])).await.body["id"],
        users[6].as_str()
    );
    // isAssignableToRole only at creation.
    assert_eq!(
        env.patch(
            &format!("/groups/{gid}"),
            json!({"isAssignableToRole": true})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    let _ = domain;
}

#[tokio::test]
async fn applications_service_principals_and_assignments() {
    let env = start("tiny").await;
    let app = env.post("/applications", json!({"displayName": "Restored app", "appRoles": [{"allowedMemberTypes": ["User"], "description": "r", "displayName": "Reader", "id": "6e3a4b1d-0000-4000-8000-000000000001", "isEnabled": true, "value": "Reader"}]})).await;
    assert_eq!(app.status, StatusCode::CREATED, "{}", app.body);
    let app_id = app.body["appId"].as_str().unwrap().to_owned();
    assert_ne!(app_id, app.body["id"].as_str().unwrap());
    assert_eq!(
        env.patch(
            &format!("/applications/{}", app.body["id"].as_str().unwrap()),
            json!({"passwordCredentials": []})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    let sp = env
        .post("/servicePrincipals", json!({"appId": app_id}))
        .await;
    assert_eq!(sp.status, StatusCode::CREATED, "{}", sp.body);
    let dup = env
        .post("/servicePrincipals", json!({"appId": app_id}))
        .await;
    assert_eq!(dup.body["error"]["details"][0]["code"], "ObjectConflict");
    assert_eq!(
        env.post(
            "/servicePrincipals",
            json!({"appId": "00000000-1111-2222-3333-444444444444"})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    let sp_id = sp.body["id"].as_str().unwrap().to_owned();
    let user = env.ids(Collection::Users)[0].clone();
    let assignment = json!({"principalId": user, "resourceId": sp_id, "appRoleId": "6e3a4b1d-0000-4000-8000-000000000001"});
    let created = env
        .post(
            &format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"),
            assignment.clone(),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        env.post(
            &format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"),
            assignment
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    let bad_role = env.post(&format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"), json!({"principalId": user, "resourceId": sp_id, "appRoleId": "11111111-0000-0000-0000-000000000000"})).await;
    assert_eq!(bad_role.status, StatusCode::BAD_REQUEST);
    let aid = created.body["id"].as_str().unwrap();
    assert_eq!(
        env.delete(&format!(
            "/servicePrincipals/{sp_id}/appRoleAssignedTo/{aid}"
        ))
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    // Both were audited, as Entra does, naming the resource and the principal (only those two
    // assignment events: the refused requests wrote none).
    let audits = env
        .get("/auditLogs/directoryAudits?$filter=activityDateTime ge 2000-01-01T00:00:00Z&$top=999")
        .await;
    let audits = audits.values();
    let events: Vec<(&str, Vec<&str>)> = audits
        .iter()
        .filter(|e| {
            e["activityDisplayName"]
                .as_str()
                .unwrap()
                .contains("app role assignment")
                && e["targetResources"][0]["id"] == sp_id.as_str()
        })
        .map(|e| {
            (
                e["activityDisplayName"].as_str().unwrap(),
                e["targetResources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["id"].as_str().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        events.iter().map(|(a, _)| *a).collect::<BTreeSet<_>>(),
        BTreeSet::from([
            "Add app role assignment grant to user",
            "Remove app role assignment from user"
        ]),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .all(|(_, t)| *t == [sp_id.as_str(), user.as_str()])
    );
    // OAuth2 grants: tenant-wide, then a duplicate.
    let graph_sp = env
        .get("/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'")
        .await
        .values()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let grant = json!({"clientId": sp_id, "consentType": "AllPrincipals", "resourceId": graph_sp, "scope": "User.Read"});
    assert_eq!(
        env.post("/oauth2PermissionGrants", grant.clone())
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        env.post("/oauth2PermissionGrants", grant).await.status,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn role_assignments_activate_roles_and_pim_requests() {
    let env = start("tiny").await;
    let user = env.cloud_user();
    let helpdesk = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
    let r = env
        .post(
            "/roleManagement/directory/roleAssignments",
            json!({"principalId": user, "roleDefinitionId": helpdesk, "directoryScopeId": "/"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let dup = env
        .post(
            "/roleManagement/directory/roleAssignments",
            json!({"principalId": user, "roleDefinitionId": helpdesk, "directoryScopeId": "/"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    let roles = env
        .get(&format!(
            "/directoryRoles?$filter=roleTemplateId eq '{helpdesk}'"
        ))
        .await;
    let role_id = roles.values()[0]["id"].as_str().unwrap().to_owned();
    let members = env.get(&format!("/directoryRoles/{role_id}/members")).await;
    assert!(members.values().iter().any(|m| m["id"] == user.as_str()));
    assert_eq!(env.post("/roleManagement/directory/roleAssignments", json!({"principalId": "00000000-0000-0000-0000-000000000000", "roleDefinitionId": helpdesk, "directoryScopeId": "/"})).await.status, StatusCode::NOT_FOUND);
    // Activating an active role is a conflict; an inactive template activates.
    assert_eq!(
        env.post("/directoryRoles", json!({"roleTemplateId": helpdesk}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let active: Vec<Value> = env
        .get("/directoryRoles")
        .await
        .values()
        .iter()
        .map(|r| r["roleTemplateId"].clone())
        .collect();
    let inactive = env
        .get("/directoryRoleTemplates")
        .await
        .values()
        .iter()
        .map(|t| t["id"].clone())
        .find(|t| !active.contains(t))
        .unwrap();
    assert_eq!(
        env.post("/directoryRoles", json!({"roleTemplateId": inactive}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        env.post(
            "/directoryRoles",
            json!({"roleTemplateId": "00000000-0000-0000-0000-00000000beef"})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let pim = json!({"action": "adminAssign", "principalId": user, "roleDefinitionId": helpdesk, "directoryScopeId": "/", "justification": "restore"});
    let req = env
        .post(
            "/roleManagement/directory/roleEligibilityScheduleRequests",
            pim.clone(),
        )
        .await;
    assert_eq!(req.status, StatusCode::CREATED, "{}", req.body);
    assert_eq!(req.body["status"], "Provisioned");
    let again = env
        .post(
            "/roleManagement/directory/roleEligibilityScheduleRequests",
            pim,
        )
        .await;
    assert_eq!(
        again.body["error"]["details"][0]["code"],
        "RoleAssignmentExists"
    );
    let assignment_id = r.body["id"].as_str().unwrap();
    assert_eq!(
        env.delete(&format!(
            "/roleManagement/directory/roleAssignments/{assignment_id}"
        ))
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert!(
        !env.get(&format!("/directoryRoles/{role_id}/members"))
            .await
            .values()
            .iter()
            .any(|m| m["id"] == user.as_str())
    );
}

#[tokio::test]
async fn conditional_access_and_named_locations() {
    let env = start("tiny").await;
    let group = env.ids(Collection::Groups)[0].clone();
    let policy = json!({"displayName": "Restored CA", "state": "disabled",
        "conditions": {"users": {"includeGroups": [group], "excludeUsers": []}, "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"]},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}});
    let r = env
        .post("/identity/conditionalAccess/policies", policy.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let mut dangling = policy;
    dangling["conditions"]["users"]["includeGroups"] =
        json!(["00000000-0000-0000-0000-0000000000aa"]);
    assert_eq!(
        env.post("/identity/conditionalAccess/policies", dangling)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let loc = env.post("/identity/conditionalAccess/namedLocations", json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "Nordics", "countriesAndRegions": ["NO", "SE"], "includeUnknownCountriesAndRegions": false})).await;
    assert_eq!(loc.status, StatusCode::CREATED);
    assert_eq!(
        env.post(
            "/identity/conditionalAccess/namedLocations",
            json!({"displayName": "untyped"})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn phone_and_email_methods_can_be_created_others_cannot() {
    let env = start("tiny").await;
    let user = env.cloud_user();
    env.mutate(json!([{"op": "removeAuthMethod", "user": user, "id": "3179e48a-750b-4051-897c-87b9720928f7"}, {"op": "removeAuthMethod", "user": user, "id": "3ddfcfc8-9383-446f-83cc-3ab9be4be18f"}])).await;
    let phone = env
        .post(
            &format!("/users/{user}/authentication/phoneMethods"),
            json!({"phoneNumber": "+1 2065555555", "phoneType": "mobile"}),
        )
        .await;
    assert_eq!(phone.status, StatusCode::CREATED, "{}", phone.body);
    assert_eq!(phone.body["id"], "3179e48a-750b-4051-897c-87b9720928f7");
    assert_eq!(
        env.post(
            &format!("/users/{user}/authentication/phoneMethods"),
            json!({"phoneNumber": "+1 2065555556", "phoneType": "mobile"})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    let email = env
        .post(
            &format!("/users/{user}/authentication/emailMethods"),
            json!({"emailAddress": "me@example.net"}),
        )
        .await;
    assert_eq!(email.body["id"], "3ddfcfc8-9383-446f-83cc-3ab9be4be18f");
    assert_eq!(
        env.patch(
            &format!(
                "/users/{user}/authentication/phoneMethods/3179e48a-750b-4051-897c-87b9720928f7"
            ),
            json!({"phoneNumber": "+1 2065550000"})
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        env.post(
            &format!("/users/{user}/authentication/fido2Methods"),
            json!({"displayName": "key"})
        )
        .await
        .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        env.delete(&format!(
            "/users/{user}/authentication/passwordMethods/28c10230-6103-485e-b985-444c60001490"
        ))
        .await
        .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        env.delete(&format!(
            "/users/{user}/authentication/emailMethods/3ddfcfc8-9383-446f-83cc-3ab9be4be18f"
        ))
        .await
        .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn deleted_user_goes_to_the_recycle_bin_and_comes_back_with_its_memberships() {
    let env = start("small").await;
    let user = env.cloud_user();
    let groups_before = env
        .get(&format!("/users/{user}/memberOf?$top=999"))
        .await
        .values()
        .len();
    assert!(groups_before > 0);
    assert_eq!(
        env.delete(&format!("/users/{user}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        env.get(&format!("/users/{user}")).await.status,
        StatusCode::NOT_FOUND
    );
    let bin = env
        .get("/directory/deletedItems/microsoft.graph.user")
        .await;
    let item = bin
        .values()
        .iter()
        .find(|u| u["id"] == user.as_str())
        .expect("in the recycle bin");
    assert!(item["deletedDateTime"].is_string());
    assert_eq!(item["@odata.type"], "#microsoft.graph.user");
    assert_eq!(
        env.get("/directory/deletedItems").await.status,
        StatusCode::BAD_REQUEST,
        "the type cast is required"
    );
    let restored = env
        .post(
            &format!("/directory/deletedItems/{user}/restore"),
            json!({}),
        )
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
    assert_eq!(restored.body["id"], user.as_str());
    assert!(restored.body["deletedDateTime"].is_null());
    assert_eq!(
        env.get(&format!("/users/{user}/memberOf?$top=999"))
            .await
            .values()
            .len(),
        groups_before
    );
    assert_eq!(
        env.post(
            &format!("/directory/deletedItems/{user}/restore"),
            json!({})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn restore_with_a_taken_upn_needs_a_new_one() {
    let env = start("tiny").await;
    let user = env.cloud_user();
    let upn = env.object(Collection::Users, &user).unwrap()["userPrincipalName"]
        .as_str()
        .unwrap()
        .to_owned();
    env.delete(&format!("/users/{user}")).await;
    let (nick, domain) = upn.split_once('@').unwrap();
    let mut clash = new_user(domain, nick);
    clash["userPrincipalName"] = json!(upn);
    assert_eq!(env.post("/users", clash).await.status, StatusCode::CREATED);
    let r = env
        .post(
            &format!("/directory/deletedItems/{user}/restore"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["details"][0]["code"], "ObjectConflict");
    let ok = env
        .post(
            &format!("/directory/deletedItems/{user}/restore"),
            json!({"newUserPrincipalName": format!("restored.{nick}@{domain}")}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(
        ok.body["userPrincipalName"],
        format!("restored.{nick}@{domain}")
    );
}

#[tokio::test]
async fn security_groups_are_hard_deleted_and_m365_groups_soft_deleted() {
    let env = start("small").await;
    let (security, unified): (Vec<String>, Vec<String>) = {
        let all = env
            .emulator
            .with_tenant(&env.tenant.tenant_id, |t| {
                t.objects(Collection::Groups)
                    .unwrap()
                    .iter()
                    .map(|(id, g)| {
                        (
                            id.clone(),
                            g["groupTypes"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .any(|x| x == "Unified"),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap();
        let (u, s): (Vec<_>, Vec<_>) = all.into_iter().partition(|(_, unified)| *unified);
        (
            s.into_iter().map(|(id, _)| id).collect(),
            u.into_iter().map(|(id, _)| id).collect(),
        )
    };
    env.delete(&format!("/groups/{}", security[0])).await;
    env.delete(&format!("/groups/{}", unified[0])).await;
    let bin: Vec<String> = env
        .get("/directory/deletedItems/microsoft.graph.group")
        .await
        .values()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(bin.contains(&unified[0]));
    assert!(!bin.contains(&security[0]));
    // Purged items are gone for good.
    assert_eq!(
        env.delete(&format!("/directory/deletedItems/{}", unified[0]))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        env.post(
            &format!("/directory/deletedItems/{}/restore", unified[0]),
            json!({})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn recycle_bin_forgets_after_30_days() {
    let mut env = start("tiny").await;
    let app = env.ids(Collection::Applications)[0].clone();
    env.delete(&format!("/applications/{app}")).await;
    env.emulator.clock().advance(Duration::days(29));
    env.renew_token().await;
    let still = env.get(&format!("/directory/deletedItems/{app}")).await;
    assert_eq!(still.status, StatusCode::OK);
    env.emulator.clock().advance(Duration::days(2));
    env.renew_token().await;
    let gone = env.get(&format!("/directory/deletedItems/{app}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn administrative_units_and_custom_roles_are_created_and_used() {
    let env = start("tiny").await;
    let au = env
        .post(
            "/directory/administrativeUnits",
            json!({"displayName": "Oslo office", "description": "restored"}),
        )
        .await;
    assert_eq!(au.status, StatusCode::CREATED, "{}", au.body);
    let au_id = au.body["id"].as_str().unwrap().to_owned();
    let user = env.cloud_user();
    let add =
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user}")});
    assert_eq!(
        env.post(
            &format!("/directory/administrativeUnits/{au_id}/members/$ref"),
            add.clone()
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        env.post(
            &format!("/directory/administrativeUnits/{au_id}/members/$ref"),
            add
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    let members = env
        .get(&format!("/directory/administrativeUnits/{au_id}/members"))
        .await;
    assert_eq!(members.values()[0]["id"], user.as_str());
    assert_eq!(
        env.post(
            "/directory/administrativeUnits",
            json!({"description": "no name"})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );

    let role = env.post("/roleManagement/directory/roleDefinitions", json!({"displayName": "Restored helpdesk", "isEnabled": true,
        "rolePermissions": [{"allowedResourceActions": ["microsoft.directory/users/basic/update"]}]})).await;
    assert_eq!(role.status, StatusCode::CREATED, "{}", role.body);
    assert_eq!(role.body["isBuiltIn"], false);
    let role_id = role.body["id"].as_str().unwrap();
    let scoped = env.post("/roleManagement/directory/roleAssignments", json!({"principalId": user, "roleDefinitionId": role_id, "directoryScopeId": format!("/administrativeUnits/{au_id}")})).await;
    assert_eq!(scoped.status, StatusCode::CREATED, "{}", scoped.body);
    let scoped_members = env
        .get(&format!(
            "/directory/administrativeUnits/{au_id}/scopedRoleMembers"
        ))
        .await;
    assert_eq!(
        scoped_members.values()[0]["roleMemberInfo"]["id"],
        user.as_str()
    );
    assert_eq!(
        env.post(
            "/roleManagement/directory/roleDefinitions",
            json!({"displayName": "no permissions"})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        env.post(
            "/roleManagement/directory/roleDefinitions",
            json!({"displayName": "x", "rolePermissions": [], "isBuiltIn": true})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    // An AU goes to the recycle bin.
    assert_eq!(
        env.delete(&format!("/directory/administrativeUnits/{au_id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let bin = env
        .get("/directory/deletedItems/microsoft.graph.administrativeUnit")
        .await;
    assert!(bin.values().iter().any(|a| a["id"] == au_id.as_str()));
}

#[tokio::test]
async fn device_owners_and_users_are_listed() {
    let env = start("tiny").await;
    let device = env.ids(Collection::Devices)[0].clone();
    for nav in ["registeredOwners", "registeredUsers"] {
        let r = env.get(&format!("/devices/{device}/{nav}")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.values().len(), 1, "{nav}");
        assert_eq!(r.values()[0]["@odata.type"], "#microsoft.graph.user");
    }
    let expanded = env.get("/devices?$expand=registeredOwners").await;
    assert!(expanded.values().iter().all(|d| {
        d["registeredOwners"]
            .as_array()
            .is_some_and(|o| o.len() == 1)
    }));
}

// ----- tenant policies: settings objects patched on their own path with the update page's
// properties only, method configurations with their @odata.type, built-in strengths
// read-only, permission grant policies named by their caller, each behind its permission.

#[tokio::test]
async fn settings_objects_take_their_writable_properties_and_refuse_the_rest() {
    let env = start("tiny").await;
    let path = "/policies/identitySecurityDefaultsEnforcementPolicy";
    let r = env.get(path).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["id"], "00000000-0000-0000-0000-000000000005");
    assert!(
        r.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#policies/identitySecurityDefaultsEnforcementPolicy/$entity")
    );
    let r = env.patch(path, json!({"isEnabled": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["isEnabled"], false);
    assert_eq!(env.get(path).await.body["isEnabled"], false);
    for (bad, why) in [
        (json!({"id": "x"}), "read-only"),
        (json!({"displayName": "x"}), "not on the update page"),
        (json!({"isenabled": true}), "names are case-sensitive"),
        (json!({"notAProperty": 1}), "not declared"),
    ] {
        let r = env.patch(path, bad.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{bad} ({why}): {}",
            r.body
        );
    }
    // No list, create or delete of a settings object.
    assert_eq!(
        env.post(path, json!({"isEnabled": true})).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        env.send(reqwest::Method::DELETE, path, None, &[])
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );

    let default = "/policies/crossTenantAccessPolicy/default";
    assert!(env.get(default).await.body.get("id").is_none(), "no id");
    let r = env.patch(default, json!({"isServiceDefault": false})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "read-only: {}", r.body);
    let r = env
        .patch(
            default,
            json!({"inboundTrust": {"isMfaAccepted": true, "isCompliantDeviceAccepted": false, "isHybridAzureADJoinedDeviceAccepted": false}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let now = env.get(default).await.body;
    assert_eq!(now["inboundTrust"]["isMfaAccepted"], true);
    assert_eq!(now["isServiceDefault"], false, "customised now");

    // The methods policy's configurations are not patched through the policy.
    let methods = "/policies/authenticationMethodsPolicy";
    let r = env
        .patch(methods, json!({"authenticationMethodConfigurations": []}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

#[tokio::test]
async fn a_method_configuration_is_patched_with_its_own_type_and_declared_properties() {
    let env = start("tiny").await;
    let sms = "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Sms";
    let own = "#microsoft.graph.smsAuthenticationMethodConfiguration";
    assert_eq!(env.get(sms).await.body["state"], "disabled");
    let r = env.patch(sms, json!({"state": "enabled"})).await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "no @odata.type: {}",
        r.body
    );
    let r = env
        .patch(
            sms,
            json!({"@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration", "state": "enabled"}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "another type: {}",
        r.body
    );
    let r = env
        .patch(
            sms,
            json!({"@odata.type": own, "isAttestationEnforced": true}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "FIDO2's property: {}",
        r.body
    );
    let r = env
        .patch(
            sms,
            json!({"@odata.type": own, "state": "enabled", "includeTargets": [{"targetType": "group", "id": "all_users", "isRegistrationRequired": false, "isUsableForSignIn": false}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let policy = env.get("/policies/authenticationMethodsPolicy").await.body;
    let configuration = policy["authenticationMethodConfigurations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "Sms")
        .unwrap()
        .clone();
    assert_eq!(configuration["state"], "enabled");
    assert_eq!(
        configuration["includeTargets"][0]["isUsableForSignIn"],
        false
    );
    assert_eq!(
        env.patch(
            "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/NoSuchMethod",
            json!({"@odata.type": own, "state": "enabled"})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn strengths_and_grant_policies_follow_their_create_and_update_rules() {
    let env = start("tiny").await;
    let strengths = "/policies/authenticationStrengthPolicies";
    let built_in = format!("{strengths}/00000000-0000-0000-0000-000000000004");
    assert_eq!(env.get(&built_in).await.body["policyType"], "builtIn");
    assert_eq!(
        env.patch(&built_in, json!({"displayName": "mine"}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(env.delete(&built_in).await.status, StatusCode::BAD_REQUEST);
    let r = env
        .post(strengths, json!({"displayName": "Keys only"}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "combinations required: {}",
        r.body
    );
    let r = env
        .post(
            strengths,
            json!({"displayName": "Keys only", "allowedCombinations": ["fido2"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["policyType"], "custom");
    let custom = format!("{strengths}/{}", r.body["id"].as_str().unwrap());
    assert_eq!(
        env.patch(&custom, json!({"allowedCombinations": ["sms"]}))
            .await
            .status,
        StatusCode::BAD_REQUEST,
        "combinations change only through the action"
    );
    let update = format!("{custom}/updateAllowedCombinations");
    assert_eq!(
        env.post(&update, json!({"allowedCombinations": []}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let r = env
        .post(
            &update,
            json!({"allowedCombinations": ["fido2", "windowsHelloForBusiness"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        env.get(&custom).await.body["allowedCombinations"],
        json!(["fido2", "windowsHelloForBusiness"])
    );

    let grants = "/policies/permissionGrantPolicies";
    let r = env
        .post(
            grants,
            json!({"id": "contoso-low-risk", "displayName": "Low risk"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["id"], "contoso-low-risk", "the caller names the id");
    let again = env
        .post(
            grants,
            json!({"id": "contoso-low-risk", "displayName": "Again"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert_eq!(
        env.get(&format!("{grants}/contoso-low-risk")).await.body["displayName"],
        "Low risk",
        "a taken id is refused, not overwritten"
    );
    let r = env.post(grants, json!({"displayName": "No id"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    // A partner configuration is keyed by the partner's tenant id, which is given once.
    let partners = "/policies/crossTenantAccessPolicy/partners";
    let partner = "5a6b7c8d-0000-4000-8000-00000000cafe";
    let r = env
        .post(partners, json!({"inboundTrust": {"isMfaAccepted": true}}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "tenantId required: {}",
        r.body
    );
    let r = env
        .post(
            partners,
            json!({"tenantId": partner, "inboundTrust": {"isMfaAccepted": true}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body.get("id").is_none(), "no id of its own: {}", r.body);
    let one = format!("{partners}/{partner}");
    assert_eq!(env.get(&one).await.body["tenantId"], partner);
    assert_eq!(
        env.post(partners, json!({"tenantId": partner}))
            .await
            .status,
        StatusCode::BAD_REQUEST,
        "a partner once"
    );
    assert_eq!(
        env.patch(&one, json!({"tenantId": "another"})).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        env.patch(&one, json!({"inboundTrust": {"isMfaAccepted": false}}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(env.delete(&one).await.status, StatusCode::NO_CONTENT);
    assert_eq!(env.get(&one).await.status, StatusCode::NOT_FOUND);

    let lifetimes = "/policies/tokenLifetimePolicies";
    let r = env
        .post(lifetimes, json!({"displayName": "No definition"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

#[tokio::test]
async fn each_policy_needs_its_permission() {
    let env = start("tiny").await;
    let directory_only = env.token_with(&["Directory.Read.All"]).await;
    for path in [
        "/policies/authorizationPolicy",
        "/policies/identitySecurityDefaultsEnforcementPolicy",
        "/policies/authenticationMethodsPolicy",
        "/policies/crossTenantAccessPolicy/default",
        "/policies/tokenLifetimePolicies",
        "/policies/authenticationStrengthPolicies",
    ] {
        let r = env
            .send_as(&directory_only, reqwest::Method::GET, path, None, &[])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    // Policy.Read.All reads every policy, the narrower ones included; it writes none.
    let policy_reader = env.token_with(&["Policy.Read.All"]).await;
    for path in [
        "/policies/authenticationMethodsPolicy",
        "/policies/permissionGrantPolicies",
        "/policies/authenticationStrengthPolicies",
    ] {
        let r = env
            .send_as(&policy_reader, reqwest::Method::GET, path, None, &[])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    }
    let r = env
        .send_as(
            &policy_reader,
            reqwest::Method::PATCH,
            "/policies/authorizationPolicy",
            Some(json!({"allowedToUseSSPR": false})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn pim_policies_are_listed_for_a_scope_and_changed_rule_by_rule() {
    let env = start("tiny").await;
    let list = "/policies/roleManagementPolicies";
    let r = env.get(list).await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "the scope filter is required: {}",
        r.body
    );
    let scoped = format!("{list}?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole'");
    let r = env.get(&scoped).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.values().is_empty());
    assert!(
        r.values()[0].get("rules").is_none(),
        "rules come only expanded"
    );
    let r = env.get(&format!("{scoped}&$expand=rules")).await;
    let policy = r.values()[0].clone();
    let id = policy["id"].as_str().unwrap().to_owned();
    assert!(policy["rules"].as_array().unwrap().len() >= 3, "{policy}");
    assert_eq!(
        env.patch(&format!("{list}/{id}"), json!({"displayName": "x"}))
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED,
        "a policy changes rule by rule"
    );
    let rule = format!("{list}/{id}/rules/Enablement_EndUser_Assignment");
    let own = "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule";
    assert_eq!(
        env.patch(&rule, json!({"enabledRules": []})).await.status,
        StatusCode::BAD_REQUEST,
        "no @odata.type"
    );
    assert_eq!(
        env.patch(
            &rule,
            json!({"@odata.type": own, "maximumDuration": "PT1H"})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST,
        "an expiration rule's property"
    );
    let r = env
        .patch(
            &rule,
            json!({"@odata.type": own, "id": "Enablement_EndUser_Assignment", "enabledRules": ["Justification"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        env.get(&rule).await.body["enabledRules"],
        json!(["Justification"])
    );
    let assignments = env
        .get("/policies/roleManagementPolicyAssignments?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole'")
        .await;
    assert!(
        assignments
            .values()
            .iter()
            .any(|a| a["policyId"] == id.as_str()),
        "{}",
        assignments.body
    );
    // Directory.Read.All does not read PIM settings; the role management permission does.
    let directory_only = env.token_with(&["Directory.Read.All"]).await;
    assert_eq!(
        env.send_as(&directory_only, reqwest::Method::GET, &scoped, None, &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let role_reader = env.token_with(&["RoleManagement.Read.Directory"]).await;
    assert_eq!(
        env.send_as(&role_reader, reqwest::Method::GET, &scoped, None, &[])
            .await
            .status,
        StatusCode::OK
    );
}

// ----- organizational branding --------------------------------------------------------------

#[tokio::test]
async fn branding_is_served_by_language_with_its_images_as_streams() {
    let env = start("tiny").await;
    let org = env.tenant.tenant_id.clone();
    let branding = format!("/organization/{org}/branding");
    let localizations = format!("{branding}/localizations");

    // The list holds the default (id 0) and each language; streams never appear in JSON.
    let listed = env.get(&localizations).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let ids: Vec<&str> = listed
        .values()
        .iter()
        .filter_map(|l| l["id"].as_str())
        .collect();
    assert_eq!(ids, ["0", "fr-FR"]);
    let default = &listed.values()[0];
    assert!(default["bannerLogoRelativeUrl"].is_string(), "{default}");
    assert!(
        default.get("bannerLogo").is_none(),
        "a stream is not JSON: {default}"
    );

    // GET /branding needs Accept-Language: 0 or default, or a language.
    let r = env.get(&branding).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    for language in ["0", "default"] {
        let r = env
            .send(
                reqwest::Method::GET,
                &branding,
                None,
                &[("Accept-Language", language)],
            )
            .await;
        assert_eq!(r.body["id"], "0", "{language}: {}", r.body);
    }
    let r = env
        .send(
            reqwest::Method::GET,
            &branding,
            None,
            &[("Accept-Language", "de-DE")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = env
        .get("/organization/00000000-0000-0000-0000-000000000000/branding/localizations")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another organization");

    // PATCH takes the documented text properties, never a stream or a read-only URL.
    let r = env
        .patch(
            &format!("{localizations}/fr-FR"),
            json!({"signInPageText": "Salut"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = env
        .send(
            reqwest::Method::PATCH,
            &branding,
            Some(json!({"usernameHintText": "hint"})),
            &[("Accept-Language", "0")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        env.get(&format!("{localizations}/0")).await.body["usernameHintText"],
        "hint"
    );
    for bad in [
        json!({"bannerLogo": "aGVsbG8="}),
        json!({"bannerLogoRelativeUrl": "x"}),
        json!({"cdnList": []}),
        json!({"id": "de-DE"}),
    ] {
        let r = env.patch(&format!("{localizations}/0"), bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }

    // A stream is PUT as bytes with a media type, read back as bytes, and its URL changes.
    let logo = |path: &str| {
        let url = env.graph(&format!("{localizations}/{path}"));
        let http = env.http.clone();
        let token = env.token.clone();
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let before = logo("0/bannerLogo").await;
    assert!(
        before.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/png")
    );
    let put = env
        .http
        .put(env.graph(&format!("{localizations}/fr-FR/bannerLogo")))
        .bearer_auth(&env.token)
        .header("content-type", "image/jpeg")
        .body(vec![0xFF, 0xD8, 0xFF, 0xE0])
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::NO_CONTENT);
    let after = logo("fr-FR/bannerLogo").await;
    assert_eq!(after.headers()["content-type"], "image/jpeg");
    assert_eq!(
        after.bytes().await.unwrap().as_ref(),
        &[0xFF, 0xD8, 0xFF, 0xE0]
    );
    assert!(
        env.get(&format!("{localizations}/fr-FR")).await.body["bannerLogoRelativeUrl"].is_string()
    );
    let unset = logo("fr-FR/squareLogo").await;
    assert_eq!(unset.status(), StatusCode::OK);
    assert!(
        unset.bytes().await.unwrap().is_empty(),
        "an unset stream is an empty 200"
    );
    let json_put = env
        .send(
            reqwest::Method::PUT,
            &format!("{localizations}/fr-FR/bannerLogo"),
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(
        json_put.status,
        StatusCode::BAD_REQUEST,
        "a stream is not JSON"
    );
    assert_eq!(
        logo("fr-FR/notAStream").await.status(),
        StatusCode::NOT_FOUND
    );

    // A localization with an image cannot be deleted; without, it can, and is created again
    // with its language as its id (taken: refused).
    let r = env.delete(&format!("{localizations}/fr-FR")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = env.delete(&format!("{localizations}/0")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "the default has a logo");
    // Its image removed (as msgraph-sdk's BannerLogoRequestBuilder.delete does), it can go.
    let r = env
        .delete(&format!("{localizations}/fr-FR/bannerLogo"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert!(
        env.get(&format!("{localizations}/fr-FR")).await.body["bannerLogoRelativeUrl"].is_null()
    );
    let r = env.delete(&format!("{localizations}/fr-FR")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    // The default branding's streams are also at /branding/{stream}.
    let default_logo = env
        .http
        .get(env.graph(&format!("{branding}/bannerLogo")))
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    assert_eq!(default_logo.status(), StatusCode::OK);
    assert!(default_logo.bytes().await.unwrap().starts_with(b"\x89PNG"));
    let created = env
        .post(
            &localizations,
            json!({"id": "de-DE", "signInPageText": "Willkommen"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let taken = env.post(&localizations, json!({"id": "de-DE"})).await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST, "{}", taken.body);
    let no_id = env
        .post(&localizations, json!({"signInPageText": "x"}))
        .await;
    assert_eq!(no_id.status, StatusCode::BAD_REQUEST, "{}", no_id.body);
    assert_eq!(
        env.delete(&format!("{localizations}/de-DE")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        env.get(&format!("{localizations}/de-DE")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn branding_needs_its_permission_or_the_organization_s() {
    let env = start("tiny").await;
    let localizations = format!(
        "/organization/{}/branding/localizations",
        env.tenant.tenant_id
    );
    let get = |token: String| {
        let path = localizations.clone();
        let env = &env;
        async move {
            env.send_as(&token, reqwest::Method::GET, &path, None, &[])
                .await
                .status
        }
    };
    let patch = |token: String| {
        let path = format!("{localizations}/0");
        let env = &env;
        async move {
            env.send_as(
                &token,
                reqwest::Method::PATCH,
                &path,
                Some(json!({"signInPageText": "x"})),
                &[],
            )
            .await
            .status
        }
    };
    // organizationalbrandinglocalization-get.md, -update.md: the branding permissions, or the
    // organization's as higher privileges; Directory.Read.All is neither.
    assert_eq!(
        get(env.token_with(&["Directory.Read.All"]).await).await,
        StatusCode::FORBIDDEN
    );
    for reader in ["OrganizationalBranding.Read.All", "Organization.Read.All"] {
        assert_eq!(
            get(env.token_with(&[reader]).await).await,
            StatusCode::OK,
            "{reader}"
        );
        assert_eq!(
            patch(env.token_with(&[reader]).await).await,
            StatusCode::FORBIDDEN,
            "{reader}"
        );
    }
    for writer in [
        "OrganizationalBranding.ReadWrite.All",
        "Organization.ReadWrite.All",
    ] {
        assert_eq!(
            patch(env.token_with(&[writer]).await).await,
            StatusCode::NO_CONTENT,
            "{writer}"
        );
    }
}

#[tokio::test]
async fn permission_grant_condition_sets_are_added_and_removed_one_by_one() {
    let env = start("tiny").await;
    let policy = "/policies/permissionGrantPolicies/microsoft-user-default-low";
    // Returned with the policy, and listed on their own.
    let got = env.get(policy).await;
    assert_eq!(
        got.body["includes"].as_array().map(Vec::len),
        Some(1),
        "{}",
        got.body
    );
    assert_eq!(got.body["excludes"], json!([]));
    let listed = env.get(&format!("{policy}/includes")).await;
    assert_eq!(listed.values().len(), 1, "{}", listed.body);
    assert_eq!(
        env.get(&format!("{policy}/notASet")).await.status,
        StatusCode::NOT_FOUND
    );

    let created = env
        .post(
            "/policies/permissionGrantPolicies",
            json!({"id": "custom-tier-1", "displayName": "Tier 1"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["includes"], json!([]));
    let custom = "/policies/permissionGrantPolicies/custom-tier-1";
    // Only through their own requests: not in the policy's create or update.
    let r = env
        .patch(
            custom,
            json!({"includes": [{"permissionType": "delegated"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    // Omitted conditions take their most inclusive defaults (permissiongrantconditionset.md).
    let set = env
        .post(
            &format!("{custom}/includes"),
            json!({"permissionType": "delegated", "clientApplicationsFromVerifiedPublisherOnly": true}),
        )
        .await;
    assert_eq!(set.status, StatusCode::CREATED, "{}", set.body);
    assert_eq!(set.body["permissionClassification"], "all");
    assert_eq!(set.body["resourceApplication"], "any");
    assert_eq!(set.body["permissions"], json!(["all"]));
    assert_eq!(set.body["clientApplicationIds"], json!(["all"]));
    assert_eq!(
        set.body["clientApplicationsFromVerifiedPublisherOnly"],
        true
    );
    let set_id = set.body["id"].as_str().unwrap().to_owned();
    for bad in [
        json!({}),
        json!({"permissionType": "delegatedUserConsentable"}),
        json!({"permissionType": "delegated", "id": "mine"}),
        json!({"permissionType": "delegated", "notACondition": 1}),
    ] {
        let r = env.post(&format!("{custom}/excludes"), bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }
    assert_eq!(
        env.get(custom).await.body["includes"][0]["id"],
        set_id.as_str()
    );
    let r = env.delete(&format!("{custom}/includes/{set_id}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(env.get(custom).await.body["includes"], json!([]));
    assert_eq!(
        env.delete(&format!("{custom}/includes/{set_id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Read with the policy read permission (or Directory.Read.All, as the list page says);
    // written only with the policy write permission.
    let reader = env.token_with(&["Directory.Read.All"]).await;
    let r = env
        .send_as(
            &reader,
            reqwest::Method::GET,
            &format!("{policy}/includes"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = env
        .send_as(
            &reader,
            reqwest::Method::POST,
            &format!("{custom}/includes"),
            Some(json!({"permissionType": "delegated"})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
