//! Delta queries over HTTP (docs/graph.md §3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use common::{Env, start, start_with};
use dirvault_emulator::EmulatorConfig;
use dirvault_emulator::{Collection, LinkKind};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Runs one delta round from `start` (a path or a deltaLink); returns every entry and the new
/// deltaLink. Asserts that no page carries both links and that every page but the last has a
/// nextLink.
async fn round(env: &Env, start: &str) -> (Vec<Value>, String) {
    round_with(env, start, &[]).await
}

/// [`round`] with request headers (e.g. `Prefer: return=minimal`) on every page.
async fn round_with(env: &Env, start: &str, headers: &[(&str, &str)]) -> (Vec<Value>, String) {
    let mut url = env.graph(start);
    let mut items = Vec::new();
    loop {
        let r = env.send(reqwest::Method::GET, &url, None, headers).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
        items.extend(r.values().iter().cloned());
        let next = r.body["@odata.nextLink"].as_str();
        let delta = r.body["@odata.deltaLink"].as_str();
        assert!(
            next.is_some() != delta.is_some(),
            "exactly one of nextLink/deltaLink: {}",
            r.body
        );
        match (next, delta) {
            (Some(n), None) => url = n.to_owned(),
            (None, Some(d)) => return (items, d.to_owned()),
            _ => unreachable!(),
        }
    }
}

fn by_id(items: &[Value]) -> BTreeMap<String, Value> {
    items
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_owned(), i.clone()))
        .collect()
}

#[tokio::test]
async fn initial_round_returns_every_user_then_changes_only() {
    let env = start("small").await;
    let (initial, link) = round(
        &env,
        "/users/delta?$select=id,displayName,jobTitle,accountEnabled",
    )
    .await;
    assert_eq!(by_id(&initial).len(), 100);
    assert!(link.contains("/v1.0/users/delta?$deltatoken="), "{link}");
    // Nothing changed: an empty round.
    let (none, link) = round(&env, &link).await;
    assert!(none.is_empty(), "{none:?}");

    let users = env.ids(Collection::Users);
    let domain = env.tenant.default_domain.clone();
    env.mutate(json!([
        {"op": "update", "kind": "users", "id": users[1], "set": {"jobTitle": "Chief Backup Officer"}},
        {"op": "update", "kind": "users", "id": users[2], "set": {"city": "Oslo"}},
        {"op": "delete", "kind": "users", "id": users[3]},
        {"op": "hardDelete", "kind": "users", "id": users[4]},
        {"op": "create", "kind": "users", "object": {"id": "11111111-1111-1111-1111-111111111111", "displayName": "New Hire", "jobTitle": null, "accountEnabled": true, "userPrincipalName": format!("new@{domain}")}},
    ]))
    .await;
    // The same changes, twice: without Prefer (Graph's default), an updated object comes
    // whole, every selected property; with `Prefer: return=minimal`, only what changed
    // (api/user-delta.md, "Optional request headers").
    let (whole, _) = round(&env, &link).await;
    let whole = by_id(&whole);
    assert_eq!(whole[&users[1]]["jobTitle"], "Chief Backup Officer");
    assert!(
        whole[&users[1]]["displayName"].is_string(),
        "{}",
        whole[&users[1]]
    );
    assert!(whole[&users[1]].get("accountEnabled").is_some());
    let (changes, link) = round_with(&env, &link, &[("Prefer", "return=minimal")]).await;
    let changes = by_id(&changes);
    assert_eq!(
        whole.keys().collect::<Vec<_>>(),
        changes.keys().collect::<Vec<_>>()
    );
    // Updated: id + the changed property only (a partial object).
    assert_eq!(
        changes[&users[1]],
        json!({"id": users[1], "jobTitle": "Chief Backup Officer"})
    );
    // city is not selected: that change is not tracked.
    assert!(!changes.contains_key(&users[2]));
    assert_eq!(changes[&users[3]]["@removed"], json!({"reason": "changed"}));
    assert_eq!(changes[&users[4]]["@removed"], json!({"reason": "deleted"}));
    let new = &changes["11111111-1111-1111-1111-111111111111"];
    assert_eq!(new["displayName"], "New Hire");
    assert!(
        new["jobTitle"].is_null(),
        "a creation carries every selected property"
    );
    assert_eq!(changes.len(), 4);

    // A restored object comes back as a creation.
    env.mutate(json!([{"op": "restore", "id": users[3]}])).await;
    let (restored, _) = round(&env, &link).await;
    assert_eq!(restored.len(), 1);
    assert!(restored[0].get("displayName").is_some() && restored[0].get("@removed").is_none());
}

#[tokio::test]
async fn group_members_delta_marks_added_and_removed_members() {
    let env = start("small").await;
    let (initial, link) = round(&env, "/groups/delta?$select=displayName,members").await;
    let groups = env.ids(Collection::Groups);
    let users = env.ids(Collection::Users);
    let g = &groups[3];
    let before: BTreeSet<String> = initial
        .iter()
        .filter(|e| e["id"] == g.as_str())
        .flat_map(|e| e["members@delta"].as_array().cloned().unwrap_or_default())
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    let stored = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.links(LinkKind::GroupMember, g)
                .cloned()
                .unwrap_or_default()
        })
        .unwrap();
    assert_eq!(before, stored);
    let newcomer = users.iter().find(|u| !stored.contains(*u)).unwrap();
    let mut ops = vec![
        json!({"op": "addLink", "relationship": "groupMember", "source": g, "target": newcomer}),
    ];
    let leaver = stored.iter().next().cloned();
    if let Some(l) = &leaver {
        ops.push(
            json!({"op": "removeLink", "relationship": "groupMember", "source": g, "target": l}),
        );
    }
    env.mutate(Value::Array(ops)).await;
    let (changes, _) = round(&env, &link).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    let members = changes[0]["members@delta"].as_array().unwrap();
    assert!(members.iter().any(|m| m["id"] == newcomer.as_str()
        && m.get("@removed").is_none()
        && m["@odata.type"] == "#microsoft.graph.user"));
    if let Some(l) = leaver {
        assert!(
            members
                .iter()
                .any(|m| m["id"] == l.as_str() && m["@removed"]["reason"] == "deleted")
        );
    }
}

#[tokio::test]
async fn users_delta_with_manager_selected_reports_manager_changes() {
    let env = start("small").await;
    let (initial, link) = round(&env, "/users/delta?$select=displayName,manager").await;
    let managers = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.all_links(LinkKind::UserManager)
                .cloned()
                .unwrap_or_default()
        })
        .unwrap();
    // The initial round names each user's manager (user-delta.md, example 3).
    let reported: BTreeMap<String, String> = initial
        .iter()
        .filter_map(|e| {
            let m = e["manager@delta"].as_array()?;
            Some((
                e["id"].as_str()?.to_owned(),
                m[0]["id"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let stored: BTreeMap<String, String> = managers
        .iter()
        .filter_map(|(u, m)| Some((u.clone(), m.iter().next()?.clone())))
        .collect();
    assert!(!stored.is_empty());
    assert_eq!(reported, stored);
    // A new manager: the user comes back with the new one, and the old one removed.
    let (user, old) = stored.iter().next().unwrap();
    let new = env
        .ids(Collection::Users)
        .into_iter()
        .find(|u| u != user && u != old)
        .unwrap();
    let put = env
        .send(
            reqwest::Method::PUT,
            &format!("/users/{user}/manager/$ref"),
            Some(json!({"@odata.id": env.graph(&format!("/users/{new}"))})),
            &[],
        )
        .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.body);
    let (changes, _) = round(&env, &link).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    let refs = changes[0]["manager@delta"].as_array().unwrap();
    assert!(
        refs.iter()
            .any(|m| m["id"] == new.as_str() && m.get("@removed").is_none())
    );
    assert!(
        refs.iter()
            .any(|m| m["id"] == old.as_str() && m.get("@removed").is_some())
    );
    // Without manager selected, nothing about managers.
    let (plain, _) = round(&env, "/users/delta?$select=displayName").await;
    assert!(plain.iter().all(|e| e.get("manager@delta").is_none()));
}

#[tokio::test]
async fn a_large_group_is_split_across_pages_and_merges_back() {
    let config = EmulatorConfig {
        delta_members_per_page: 7,
        delta_page_size: 3,
        ..common::quiet()
    };
    let env = start_with("small", config).await;
    let (entries, _) = round(&env, "/groups/delta?$select=displayName,members").await;
    let mut merged: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pieces: BTreeMap<String, usize> = BTreeMap::new();
    for e in &entries {
        let id = e["id"].as_str().unwrap().to_owned();
        *pieces.entry(id.clone()).or_default() += 1;
        let set = merged.entry(id).or_default();
        for m in e["members@delta"].as_array().into_iter().flatten() {
            set.insert(m["id"].as_str().unwrap().to_owned());
        }
    }
    assert!(pieces.values().any(|n| *n > 1), "some group spans pages");
    let expected = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Groups)
                .unwrap()
                .keys()
                .map(|g| {
                    (
                        g.clone(),
                        t.links(LinkKind::GroupMember, g)
                            .cloned()
                            .unwrap_or_default(),
                    )
                })
                .collect::<BTreeMap<_, _>>()
        })
        .unwrap();
    assert_eq!(merged, expected);
}

#[tokio::test]
async fn latest_token_and_expired_token() {
    let mut env = start("tiny").await;
    let r = env.get("/users/delta?$deltatoken=latest").await;
    assert!(r.values().is_empty());
    let link = r.body["@odata.deltaLink"].as_str().unwrap().to_owned();
    let (none, _) = round(&env, &link).await;
    assert!(none.is_empty());
    // Tokens for directory objects live 7 days.
    env.emulator.clock().advance(Duration::days(8));
    env.renew_token().await;
    let expired = env.get(&link).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert_eq!(expired.code(), "syncStateNotFound");
}

#[tokio::test]
async fn delta_refuses_top_and_filters_other_than_id() {
    let env = start("tiny").await;
    assert_eq!(
        env.get("/users/delta?$top=5").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        env.get("/users/delta?$filter=startswith(displayName,'a')")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let id = env.ids(Collection::Users)[0].clone();
    let (one, _) = round(&env, &format!("/users/delta?$filter=id eq '{id}'")).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["id"], id.as_str());
}

#[tokio::test]
async fn every_delta_kind_answers() {
    let env = start("small").await;
    for kind in Collection::ALL
        .into_iter()
        .filter(|k| k.facts().delta_path.is_some())
    {
        let path = kind.facts().delta_path.unwrap();
        let (items, _) = round(&env, path).await;
        assert_eq!(items.len(), env.ids(kind).len(), "{kind}");
    }
}
