//! Reads over HTTP: paging, `$select`, `$filter`, `$expand`, `$count`, relationship lists,
//! authentication methods, extension attributes (docs/graph.md §1, §6, §6a).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code

mod common;

use std::collections::BTreeSet;

use common::start;
use dirvault_emulator::{Collection, LinkKind};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn paging_follows_absolute_next_links_until_absent_and_sees_every_user_once() {
    let env = start("small").await;
    let (items, pages) = env.get_all("/users?$top=7&$select=id,displayName").await;
    let ids: BTreeSet<&str> = items.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), items.len(), "no user twice");
    assert_eq!(ids.len(), 100);
    assert_eq!(pages, 15);
    let first = env.get("/users?$top=7&$select=id").await;
    let next = first.body["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{}/v1.0/users?", env.url())),
        "{next}"
    );
    assert!(next.contains("$skiptoken="), "{next}");
    assert!(next.contains("$top=7"), "nextLink keeps the query: {next}");
    assert_eq!(
        first.body["@odata.context"],
        format!("{}/v1.0/$metadata#users(id)", env.url())
    );
    // Default page size is 100.
    let default = env.get("/users").await;
    assert_eq!(default.values().len(), 100);
    assert!(default.body.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn top_is_limited_to_999() {
    let env = start("tiny").await;
    let r = env.get("/users?$top=1000").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "Request_BadRequest");
    assert_eq!(
        r.message(),
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
    );
    assert_eq!(env.get("/users?$top=999").await.status, StatusCode::OK);
    // Sign-ins: default = max = 1000 (docs/graph.md §1).
    assert_eq!(
        env.get("/auditLogs/signIns?$top=1000").await.status,
        StatusCode::OK
    );
    assert_eq!(
        env.get("/auditLogs/signIns?$top=1001").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn users_without_select_return_only_the_default_properties() {
    let env = start("tiny").await;
    let r = env.get("/users?$top=1").await;
    let keys: BTreeSet<&str> = r.values()[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "businessPhones",
        "displayName",
        "givenName",
        "id",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
    ]
    .into();
    assert_eq!(keys, expected);
    // Named properties come back, null when unset; unknown names are a 400.
    let r = env
        .get("/users?$top=1&$select=id,accountEnabled,faxNumber,onPremisesExtensionAttributes")
        .await;
    let u = &r.values()[0];
    assert_eq!(u.as_object().unwrap().len(), 4);
    assert!(u["faxNumber"].is_null());
    assert!(u["onPremisesExtensionAttributes"]["extensionAttribute15"].is_null());
    let bad = env.get("/users?$select=id,favouriteColour").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.message(),
        "Could not find a property named 'favouriteColour' on type 'microsoft.graph.user'."
    );
    // Property names match case-insensitively.
    let r = env.get("/users?$top=1&$select=DisplayName").await;
    assert!(r.values()[0].get("displayName").is_some());
}

#[tokio::test]
async fn single_object_properties_fail_on_lists_and_work_on_one_user() {
    let env = start("tiny").await;
    let r = env.get("/users?$select=id,skills").await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(r.code(), "NotImplemented");
    let id = &env.ids(Collection::Users)[0];
    let one = env
        .get(&format!("/users/{id}?$select=id,skills,mailboxSettings"))
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert!(one.body["skills"].is_array());
    assert_eq!(
        one.body["@odata.context"],
        format!(
            "{}/v1.0/$metadata#users(id,skills,mailboxSettings)/$entity",
            env.url()
        )
    );
    // Groups: Exchange-backed properties only on a single group.
    assert_eq!(
        env.get("/groups?$select=id,unseenCount").await.status,
        StatusCode::NOT_IMPLEMENTED
    );
    let list = env.get("/groups?$top=3").await;
    assert!(
        list.values()
            .iter()
            .all(|g| g.get("allowExternalSenders").is_none() && g.get("mailNickname").is_some())
    );
}

#[tokio::test]
async fn extension_attributes_come_back_only_when_selected_by_name() {
    let env = start("small").await;
    let ext = env
        .post(
            "/directoryObjects/getAvailableExtensionProperties",
            json!({"isSyncedFromOnPremises": false}),
        )
        .await;
    assert_eq!(ext.status, StatusCode::OK, "{}", ext.body);
    let names: Vec<String> = ext
        .values()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    let cost = names
        .iter()
        .find(|n| n.ends_with("_costCenter"))
        .unwrap()
        .clone();
    assert!(cost.starts_with("extension_") && !cost.contains('-'));
    let (all, _) = env.get_all("/users?$top=999&$select=id,displayName").await;
    assert!(all.iter().all(|u| u.get(&cost).is_none()));
    let (with, _) = env
        .get_all(&format!("/users?$top=999&$select=id,{cost}"))
        .await;
    let set = with.iter().filter(|u| u.get(&cost).is_some()).count();
    assert!(
        set > 0 && set < with.len(),
        "some users have it, others omit it: {set}"
    );
    let bad = env.get("/users?$select=extension_0000_nope").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn get_by_id_or_upn_and_404_shape() {
    let env = start("tiny").await;
    let id = env.ids(Collection::Users)[0].clone();
    let upn = env.object(Collection::Users, &id).unwrap()["userPrincipalName"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_upn = env.get(&format!("/users/{upn}")).await;
    assert_eq!(by_upn.body["id"], id.as_str());
    let missing = env.get("/users/00000000-0000-0000-0000-000000000000").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "Request_ResourceNotFound");
    let inner = &missing.body["error"]["innerError"];
    assert!(
        inner["date"].is_string()
            && inner["request-id"].is_string()
            && inner["client-request-id"].is_string()
    );
}

#[tokio::test]
async fn filters_and_advanced_queries() {
    let env = start("small").await;
    let r = env
        .get("/users?$filter=startswith(displayName,'a')&$select=displayName&$top=999")
        .await;
    assert!(!r.values().is_empty());
    assert!(r.values().iter().all(|u| {
        u["displayName"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .starts_with('a')
    }));
    let guests = env
        .get("/users?$filter=userType eq 'Guest'&$select=userType&$top=999")
        .await;
    assert!(guests.values().iter().all(|u| u["userType"] == "Guest"));
    let unified = env
        .get("/groups?$filter=groupTypes/any(c:c eq 'Unified')&$select=groupTypes&$top=999")
        .await;
    assert!(!unified.values().is_empty());
    // $count and ne need ConsistencyLevel: eventual.
    assert_eq!(
        env.get("/users?$count=true").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        env.get("/users?$filter=userType ne 'Guest'").await.status,
        StatusCode::BAD_REQUEST
    );
    let counted = env
        .send(
            Method::GET,
            "/users?$count=true&$top=1",
            None,
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(counted.body["@odata.count"], 100);
    let search = env
        .send(
            Method::GET,
            "/users?$search=\"displayName:a\"",
            None,
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(search.status, StatusCode::OK);
    assert_eq!(
        env.get("/users?$search=\"displayName:a\"").await.status,
        StatusCode::BAD_REQUEST
    );
    let malformed = env.get("/users?$filter=displayName eq").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        env.get("/users?$orderby=displayName").await.status,
        StatusCode::BAD_REQUEST
    );
}

/// `userPrincipalName eq` and `appId eq` answer from the unique keys' index (a restore looks
/// up 100k users this way): the same answers as a scan, in any case, after a rename too.
#[tokio::test]
async fn filters_on_unique_keys_answer_what_a_scan_would() {
    let env = start("small").await;
    let user = env.ids(Collection::Users)[3].clone();
    let upn = env.object(Collection::Users, &user).unwrap()["userPrincipalName"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_upn = |upn: String| {
        let env = &env;
        async move {
            let r = env
                .get(&format!(
                    "/users?$filter=userPrincipalName eq '{upn}'&$select=id"
                ))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.values()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(by_upn(upn.clone()).await, vec![user.clone()]);
    assert_eq!(by_upn(upn.to_uppercase()).await, vec![user.clone()]);
    assert!(by_upn(format!("x{upn}")).await.is_empty());
    // A filter that is more than the key is still a scan.
    let both = env
        .get(&format!(
            "/users?$filter=userPrincipalName eq '{upn}' and userType eq 'Nobody'"
        ))
        .await;
    assert!(both.values().is_empty(), "{}", both.body);
    let renamed = format!("renamed.{upn}");
    let patched = env
        .patch(
            &format!("/users/{user}"),
            json!({"userPrincipalName": renamed}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::NO_CONTENT, "{}", patched.body);
    assert!(by_upn(upn).await.is_empty());
    assert_eq!(by_upn(renamed).await, [user]);
    let app = env.ids(Collection::Applications)[0].clone();
    let app_id = env.object(Collection::Applications, &app).unwrap()["appId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = env
        .get(&format!(
            "/applications?$filter=appId eq '{app_id}'&$select=id"
        ))
        .await;
    assert_eq!(r.values().len(), 1);
    assert_eq!(r.values()[0]["id"], app.as_str());
}

#[tokio::test]
async fn members_owners_member_of_manager_and_expand() {
    let env = start("small").await;
    let all_employees = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Groups)
                .unwrap()
                .iter()
                .find(|(_, g)| g["displayName"] == "All Employees")
                .map(|(id, _)| id.clone())
        })
        .unwrap()
        .unwrap();
    let expected: BTreeSet<String> = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.links(LinkKind::GroupMember, &all_employees)
                .cloned()
                .unwrap_or_default()
        })
        .unwrap();
    assert!(expected.len() > 20);
    let (members, _) = env
        .get_all(&format!("/groups/{all_employees}/members?$top=10"))
        .await;
    let got: BTreeSet<String> = members
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, expected);
    let types = [
        "#microsoft.graph.user",
        "#microsoft.graph.group",
        "#microsoft.graph.device",
    ];
    assert!(
        members
            .iter()
            .all(|m| types.contains(&m["@odata.type"].as_str().unwrap()))
    );
    assert!(
        members
            .iter()
            .any(|m| m["@odata.type"] == "#microsoft.graph.user")
    );
    // $expand caps expanded collections at 20 items.
    let g = env
        .get(&format!("/groups/{all_employees}?$expand=members"))
        .await;
    assert_eq!(g.body["members"].as_array().unwrap().len(), 20);
    assert_eq!(
        env.get("/users?$expand=favourites").await.status,
        StatusCode::BAD_REQUEST
    );
    // memberOf from the other side.
    let member = got.iter().next().unwrap();
    let of = env.get(&format!("/users/{member}/memberOf")).await;
    assert!(
        of.values()
            .iter()
            .any(|g| g["id"] == all_employees.as_str())
    );
    // A user with a manager.
    let (user, manager) = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            let all = t.all_links(LinkKind::UserManager).unwrap();
            let (u, m) = all.iter().find(|(_, m)| !m.is_empty()).unwrap();
            (u.clone(), m.iter().next().unwrap().clone())
        })
        .unwrap();
    let m = env.get(&format!("/users/{user}/manager")).await;
    assert_eq!(m.body["id"], manager.as_str());
    assert_eq!(m.body["@odata.type"], "#microsoft.graph.user");
    let expanded = env.get(&format!("/users/{user}?$expand=manager")).await;
    assert_eq!(expanded.body["manager"]["id"], manager.as_str());
    let unknown = env
        .get("/groups/00000000-0000-0000-0000-000000000000/members")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn transitive_members_include_nested_groups_members() {
    let env = start("tiny").await;
    let groups = env.ids(Collection::Groups);
    let users = env.ids(Collection::Users);
    let (outer, inner) = (&groups[0], &groups[1]);
    env.mutate(json!([
        {"op": "addLink", "relationship": "groupMember", "source": outer, "target": inner},
        {"op": "addLink", "relationship": "groupMember", "source": inner, "target": users[9]},
    ]))
    .await;
    let r = env
        .get(&format!("/groups/{outer}/transitiveMembers?$top=999"))
        .await;
    let ids: Vec<&str> = r
        .values()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&inner.as_str()) && ids.contains(&users[9].as_str()));
    assert_eq!(ids.len(), ids.iter().collect::<BTreeSet<_>>().len());
}

#[tokio::test]
async fn every_kind_lists_with_its_permission() {
    let env = start("small").await;
    for kind in Collection::ALL {
        let path = match kind.facts().listed_at {
            dirvault_emulator::kinds::ListedAt::Tenant(p) => p.to_owned(),
            dirvault_emulator::kinds::ListedAt::Singleton(p) => {
                // One settings object, not a collection.
                let r = env.get(p).await;
                assert_eq!(r.status, StatusCode::OK, "{kind}: {p}: {}", r.body);
                assert!(r.body.get("value").is_none(), "{kind}: {}", r.body);
                assert!(
                    r.body["@odata.context"]
                        .as_str()
                        .is_some_and(|c| c.contains("$metadata#")),
                    "{kind}"
                );
                continue;
            }
            dirvault_emulator::kinds::ListedAt::PerParent { parent, segment } => {
                let id = env.ids(parent)[0].clone();
                format!(
                    "{}/{id}/{segment}",
                    match parent.facts().listed_at {
                        dirvault_emulator::kinds::ListedAt::Tenant(p) => p,
                        _ => unreachable!(),
                    }
                )
            }
        };
        // PIM's lists need their scope (policyroot-list-rolemanagementpolicies.md).
        let path = if path.starts_with("/policies/roleManagementPolicy")
            || path.starts_with("/policies/roleManagementPolicies")
        {
            format!("{path}?$filter=scopeId eq '/' and scopeType eq 'DirectoryRole'")
        } else {
            path
        };
        let r = env.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{kind}: {path}: {}", r.body);
        assert!(
            r.body["@odata.context"]
                .as_str()
                .unwrap()
                .contains("$metadata#"),
            "{kind}"
        );
        if kind != Collection::AppRoleAssignments && kind != Collection::AuthenticationMethods {
            assert!(!r.values().is_empty(), "{kind} is empty");
        }
    }
}

#[tokio::test]
async fn authentication_methods_are_typed_and_sign_in_activity_needs_audit_permission() {
    let env = start("small").await;
    let user = env.ids(Collection::Users)[0].clone();
    let all = env
        .get(&format!("/users/{user}/authentication/methods"))
        .await;
    assert!(all.values().iter().all(|m| {
        m["@odata.type"]
            .as_str()
            .unwrap()
            .starts_with("#microsoft.graph.")
    }));
    assert!(
        all.values()
            .iter()
            .any(|m| m["id"] == "28c10230-6103-485e-b985-444c60001490")
    );
    let pw = env
        .get(&format!("/users/{user}/authentication/passwordMethods"))
        .await;
    assert_eq!(pw.values().len(), 1);
    assert!(
        pw.values()[0]["password"].is_null(),
        "passwords are never readable"
    );
    assert_eq!(
        env.get(&format!("/users/{user}/authentication/nopeMethods"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    let r = env.get("/users?$select=id,signInActivity&$top=600").await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "signInActivity caps $top at 500"
    );
    assert_eq!(
        env.get("/users?$select=id,signInActivity&$top=500")
            .await
            .status,
        StatusCode::OK
    );
    let token = env.token_with(&["User.Read.All"]).await;
    let denied = env
        .send_as(
            &token,
            Method::GET,
            "/users?$select=id,signInActivity",
            None,
            &[],
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn scoped_role_members_and_app_role_assignments() {
    let env = start("medium").await;
    let (au, principal) = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::RoleAssignments)
                .unwrap()
                .values()
                .find_map(|a| {
                    a["directoryScopeId"]
                        .as_str()
                        .and_then(|s| s.strip_prefix("/administrativeUnits/"))
                        .map(|au| (au.to_owned(), a["principalId"].as_str().unwrap().to_owned()))
                })
        })
        .unwrap()
        .expect("the generator scopes some role assignments to AUs");
    let r = env
        .get(&format!(
            "/directory/administrativeUnits/{au}/scopedRoleMembers"
        ))
        .await;
    assert!(
        r.values()
            .iter()
            .any(|m| m["roleMemberInfo"]["id"] == principal.as_str()
                && m["administrativeUnitId"] == au.as_str())
    );
    let assignment = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::AppRoleAssignments)
                .unwrap()
                .values()
                .next()
        })
        .unwrap()
        .unwrap();
    let resource = assignment["resourceId"].as_str().unwrap();
    let to = env
        .get(&format!("/servicePrincipals/{resource}/appRoleAssignedTo"))
        .await;
    assert!(to.values().iter().any(|a| a["id"] == assignment["id"]));
    let principal = assignment["principalId"].as_str().unwrap();
    let kind = if assignment["principalType"] == "User" {
        "users"
    } else {
        "servicePrincipals"
    };
    let of = env
        .get(&format!("/{kind}/{principal}/appRoleAssignments"))
        .await;
    assert!(
        of.values()
            .iter()
            .any(|a: &Value| a["id"] == assignment["id"])
    );
}

/// The registration report: one row per enabled user, paged, `lastUpdatedDateTime` moving when
/// a user's methods change, `$filter` only on the documented properties, `AuditLog.Read.All`.
#[tokio::test]
async fn user_registration_details_report_each_enabled_users_methods() {
    let env = start("large").await;
    let (rows, pages) = env
        .get_all("/reports/authenticationMethods/userRegistrationDetails")
        .await;
    let enabled: BTreeSet<String> = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Users)
                .unwrap()
                .iter()
                .filter(|(_, u)| u["accountEnabled"] != json!(false))
                .map(|(id, _)| id.clone())
                .collect()
        })
        .unwrap();
    let listed: BTreeSet<String> = rows
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed.len(), rows.len(), "no user twice");
    assert_eq!(listed, enabled, "every enabled user, no disabled one");
    assert!(enabled.len() < env.ids(Collection::Users).len());
    assert_eq!(pages, enabled.len().div_ceil(1000));

    // A new phone method shows in the user's row, with a later lastUpdatedDateTime.
    let user = env.cloud_user();
    let row_of = |user: String| {
        let env = &env;
        async move {
            let r = env
                .get(&format!(
                    "/reports/authenticationMethods/userRegistrationDetails?$filter=userPrincipalName eq '{}'",
                    env.object(Collection::Users, &user).unwrap()["userPrincipalName"].as_str().unwrap()
                ))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            assert_eq!(r.values().len(), 1);
            r.values()[0].clone()
        }
    };
    let before = row_of(user.clone()).await;
    assert_eq!(before["id"], user.as_str());
    env.mutate(json!([{"op": "removeAuthMethod", "user": user, "id": "3179e48a-750b-4051-897c-87b9720928f7"}])).await;
    let created = env
        .post(
            &format!("/users/{user}/authentication/phoneMethods"),
            json!({"phoneNumber": "+1 2065555555", "phoneType": "office"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let after = row_of(user.clone()).await;
    assert!(
        after["methodsRegistered"]
            .as_array()
            .unwrap()
            .contains(&json!("officePhone")),
        "{after}"
    );
    assert!(
        after["lastUpdatedDateTime"].as_str().unwrap()
            > before["lastUpdatedDateTime"].as_str().unwrap(),
        "{before} → {after}"
    );

    // lastUpdatedDateTime is not filterable (userregistrationdetails.md), nor is $top accepted.
    let r = env
        .get("/reports/authenticationMethods/userRegistrationDetails?$filter=lastUpdatedDateTime ge 2026-01-01T00:00:00Z")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.message().contains("lastUpdatedDateTime"),
        "{}",
        r.message()
    );
    let r = env
        .get("/reports/authenticationMethods/userRegistrationDetails?$top=5")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let token = env.token_with(&["UserAuthenticationMethod.Read.All"]).await;
    let denied = env
        .send_as(
            &token,
            Method::GET,
            "/reports/authenticationMethods/userRegistrationDetails",
            None,
            &[],
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}

/// Objects are held packed and a read decodes only what it needs (issue #19): a filter on a
/// property the `$select` leaves out, an expansion that reads another property, a lookup by
/// UPN and a `$select` naming a property twice all answer as a whole-object read would.
#[tokio::test]
async fn reads_that_decode_part_of_an_object_answer_as_whole_reads() {
    let env = start("small").await;
    let (all, _) = env
        .get_all("/users?$select=id,department,userPrincipalName,displayName&$top=999")
        .await;
    let department = all[0]["department"].as_str().unwrap();
    let sales: Vec<&Value> = all
        .iter()
        .filter(|u| u["department"] == department)
        .collect();
    assert!(sales.len() < all.len());
    let (filtered, _) = env
        .get_all(&format!(
            "/users?$filter=department eq '{department}'&$select=id&$top=999"
        ))
        .await;
    let ids = |v: &[&Value]| v.iter().map(|u| u["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&filtered.iter().collect::<Vec<_>>()), ids(&sales));
    assert!(filtered.iter().all(|u| u.as_object().unwrap().len() == 1));

    let one = &all[1];
    let upn = one["userPrincipalName"].as_str().unwrap();
    let by_upn = env
        .get(&format!("/users/{upn}?$select=displayName,displayName,id"))
        .await;
    assert_eq!(by_upn.status, StatusCode::OK, "{}", by_upn.body);
    assert_eq!(by_upn.body["displayName"], one["displayName"]);
    assert_eq!(by_upn.body["id"], one["id"]);

    let path = "/roleManagement/directory/roleAssignments?$select=id&$expand=principal($select=id)&$top=999";
    let (expanded, _) = env.get_all(path).await;
    assert!(!expanded.is_empty());
    for a in &expanded {
        assert!(
            a["principal"]["id"].is_string(),
            "an expansion reads principalId, which $select leaves out: {a}"
        );
    }
}
