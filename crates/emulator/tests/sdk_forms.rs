//! The request forms Microsoft's SDKs and documentation use, beyond the plain paths our own
//! client sends: `delta()`, alternate keys, type casts on relationship lists, the `$count`
//! segment, nested `$expand` options, `client-request-id`, and 400 for a `$filter` on a
//! property the type does not have.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use common::start;
use dirvault_emulator::{Collection, LinkKind};
use reqwest::{Method, StatusCode};
use serde_json::Value;

const EVENTUAL: &[(&str, &str)] = &[("ConsistencyLevel", "eventual")];

/// A group with both user and group members, straight from the emulator's state.
fn mixed_group(env: &common::Env) -> (String, Vec<String>) {
    env.emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Groups).unwrap().keys().find_map(|g| {
                let members = t.links(LinkKind::GroupMember, g)?;
                let kinds: Vec<_> = members.iter().filter_map(|m| t.kind_of(m)).collect();
                (kinds.contains(&Collection::Users) && kinds.contains(&Collection::Groups))
                    .then(|| (g.clone(), members.iter().cloned().collect()))
            })
        })
        .unwrap()
        .expect("a group with user and group members")
}

#[tokio::test]
async fn delta_called_as_a_function_is_the_same_delta() {
    let env = start("small").await;
    for kind in ["users", "groups"] {
        let with_parens = env.get(&format!("/{kind}/delta()?$select=id")).await;
        assert_eq!(with_parens.status, StatusCode::OK, "{}", with_parens.body);
        let plain = env.get(&format!("/{kind}/delta?$select=id")).await;
        assert_eq!(with_parens.values().len(), plain.values().len());
    }
}

#[tokio::test]
async fn administrative_units_answer_at_the_root_as_under_directory() {
    let env = start("small").await;
    let root = env.get("/administrativeUnits?$select=id").await;
    assert_eq!(root.status, StatusCode::OK, "{}", root.body);
    let under = env.get("/directory/administrativeUnits?$select=id").await;
    assert_eq!(root.values(), under.values());
    let id = env.ids(Collection::AdministrativeUnits)[0].clone();
    let one = env.get(&format!("/administrativeUnits/{id}")).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["id"], id.as_str());
    let members = env.get(&format!("/administrativeUnits/{id}/members")).await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.body);
}

#[tokio::test]
async fn a_directory_role_is_found_by_its_template_id() {
    let env = start("small").await;
    let id = env.ids(Collection::DirectoryRoles)[0].clone();
    let role = env.object(Collection::DirectoryRoles, &id).unwrap();
    let template = role["roleTemplateId"].as_str().unwrap();
    let by_template = env
        .get(&format!("/directoryRoles(roleTemplateId='{template}')"))
        .await;
    assert_eq!(by_template.status, StatusCode::OK, "{}", by_template.body);
    assert_eq!(by_template.body["id"], id.as_str());
    // The SDKs percent-encode the quotes.
    let members = env
        .get(&format!(
            "/directoryRoles(roleTemplateId=%27{template}%27)/members"
        ))
        .await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.body);
    let unknown = env
        .get("/directoryRoles(roleTemplateId='00000000-0000-0000-0000-000000000000')")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "Request_ResourceNotFound");
}

#[tokio::test]
async fn a_relationship_list_cast_to_a_type_holds_only_that_type() {
    let env = start("small").await;
    let (group, members) = mixed_group(&env);
    for cast in ["microsoft.graph.user", "graph.user"] {
        let users = env.get(&format!("/groups/{group}/members/{cast}")).await;
        assert_eq!(users.status, StatusCode::OK, "{}", users.body);
        assert!(!users.values().is_empty());
        for u in users.values() {
            assert_eq!(u["@odata.type"], "#microsoft.graph.user");
        }
        assert!(
            users.body["@odata.context"]
                .as_str()
                .unwrap()
                .ends_with("#directoryObjects/microsoft.graph.user"),
            "{}",
            users.body
        );
    }
    let groups = env
        .get(&format!("/groups/{group}/members/microsoft.graph.group"))
        .await;
    assert!(
        groups
            .values()
            .iter()
            .all(|g| g["@odata.type"] == "#microsoft.graph.group")
    );
    let users = env
        .get(&format!("/groups/{group}/members/graph.user"))
        .await;
    let devices = env
        .get(&format!("/groups/{group}/members/graph.device"))
        .await;
    assert_eq!(
        users.values().len() + groups.values().len() + devices.values().len(),
        members
            .iter()
            .filter(|m| {
                env.emulator
                    .with_tenant(&env.tenant.tenant_id, |t| t.kind_of(m))
                    .ok()
                    .flatten()
                    .is_some_and(|k| {
                        matches!(
                            k,
                            Collection::Users | Collection::Groups | Collection::Devices
                        )
                    })
            })
            .count()
    );
    let bogus = env
        .get(&format!("/groups/{group}/members/microsoft.graph.nonsense"))
        .await;
    assert_eq!(bogus.status, StatusCode::BAD_REQUEST);
    // One member by id; a non-member is 404.
    let one = env
        .get(&format!("/groups/{group}/members/{}", members[0]))
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["id"], members[0].as_str());
    let stranger = env
        .ids(Collection::Users)
        .into_iter()
        .find(|u| !members.contains(u));
    if let Some(s) = stranger {
        let r = env.get(&format!("/groups/{group}/members/{s}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn the_count_segment_answers_a_plain_number_and_needs_eventual_consistency() {
    let env = start("small").await;
    let users = env.send(Method::GET, "/users/$count", None, EVENTUAL).await;
    assert_eq!(users.status, StatusCode::OK, "{}", users.body);
    assert!(
        users
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(users.body, Value::from(100));
    let without = env.get("/users/$count").await;
    assert_eq!(without.status, StatusCode::BAD_REQUEST);
    assert_eq!(without.code(), "Request_UnsupportedQuery");
    let enabled = env
        .send(
            Method::GET,
            "/users/$count?$filter=accountEnabled eq true",
            None,
            EVENTUAL,
        )
        .await;
    let expected = env
        .get_all("/users?$filter=accountEnabled eq true&$select=id")
        .await
        .0
        .len();
    assert_eq!(enabled.body, Value::from(expected));
    let (group, members) = mixed_group(&env);
    let n = env
        .send(
            Method::GET,
            &format!("/groups/{group}/members/$count"),
            None,
            EVENTUAL,
        )
        .await;
    assert_eq!(n.body, Value::from(members.len()));
}

#[tokio::test]
async fn expand_takes_a_nested_select() {
    let env = start("small").await;
    let (group, _) = mixed_group(&env);
    let r = env
        .get(&format!(
            "/groups/{group}?$expand=members($select=id,displayName)&$select=id"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let members = r.body["members"].as_array().unwrap();
    assert!(!members.is_empty());
    for m in members {
        let keys: Vec<&str> = m
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| !k.starts_with('@'))
            .collect();
        assert_eq!(keys, ["id", "displayName"], "{m}");
    }
    // Several expansions, one with options, split at the top-level commas only.
    let user = env.cloud_user();
    let r = env
        .get(&format!(
            "/users/{user}?$expand=memberOf($select=id),manager"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.get("memberOf").is_some() && r.body.get("manager").is_some());
}

#[tokio::test]
async fn a_filter_on_a_property_the_type_lacks_is_refused_not_empty() {
    let env = start("small").await;
    let typo = env.get("/users?$filter=displayNam eq 'x'").await;
    assert_eq!(typo.status, StatusCode::BAD_REQUEST, "{}", typo.body);
    assert!(typo.message().contains("displayNam"), "{}", typo.body);
    // Declared but documented as not filterable.
    let skills = env.get("/users?$filter=aboutMe eq 'x'").await;
    assert_eq!(skills.status, StatusCode::BAD_REQUEST);
    assert_eq!(skills.code(), "Request_UnsupportedQuery");
    // A nested path is checked by its first segment.
    let ok = env
        .get("/users?$filter=onPremisesExtensionAttributes/extensionAttribute1 eq 'x'")
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn responses_carry_a_request_id_and_echo_the_client_request_id() {
    let env = start("tiny").await;
    let mine = "0f6a7c4e-5d0b-4a53-9d8e-2f1c3b4a5d6e";
    let ok = env
        .send(
            Method::GET,
            "/users?$top=1",
            None,
            &[("client-request-id", mine)],
        )
        .await;
    assert_eq!(ok.header("client-request-id"), Some(mine));
    assert!(ok.header("request-id").is_some());
    let missing = env
        .send(
            Method::GET,
            "/users/00000000-0000-0000-0000-000000000000",
            None,
            &[("client-request-id", mine)],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.header("client-request-id"), Some(mine));
}
