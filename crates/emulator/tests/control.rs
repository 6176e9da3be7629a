//! The control API over HTTP: tenants, apps, mutations, churn, export, stats, clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code

mod common;

use common::{reply, secret_token, start};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn tenants_are_created_listed_and_removed_over_http() {
    let env = start("tiny").await;
    let created = env
        .control_post(
            "/tenants",
            json!({"name": "fabrikam", "size": "25", "seed": 4}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["counts"]["users"], 25);
    assert!(
        created.body["clientSecret"]
            .as_str()
            .is_some_and(|s| s.len() >= 32)
    );
    let id = created.body["tenantId"].as_str().unwrap().to_owned();
    let token = secret_token(
        &env.http,
        &env.url(),
        &id,
        created.body["clientId"].as_str().unwrap(),
        created.body["clientSecret"].as_str().unwrap(),
    )
    .await;
    let users = env
        .send_as(&token, reqwest::Method::GET, "/users?$top=999", None, &[])
        .await;
    assert_eq!(users.values().len(), 25);
    let list = env.control_get("/tenants").await;
    assert_eq!(list.body["tenants"].as_array().unwrap().len(), 2);
    let again = env
        .control_post("/tenants", json!({"name": "fabrikam"}))
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    let bad_size = env
        .control_post("/tenants", json!({"name": "x", "size": "enormous"}))
        .await;
    assert_eq!(bad_size.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_size.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("enormous")
    );
    let removed = reply(
        env.http
            .delete(env.control(&format!("/tenants/{id}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let unknown = reply(
        env.http
            .delete(env.control(&format!("/tenants/{id}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn apps_with_certificates_register_over_http() {
    let env = start("tiny").await;
    let r = env.control_post(&format!("/tenants/{}/apps", env.tenant.tenant_id), json!({"displayName": "cert-only", "permissions": ["User.Read.All"], "secret": false, "certificatePem": include_str!("fixtures/test-cert.pem")})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body["clientSecret"].is_null());
    let bad = env.control_post(&format!("/tenants/{}/apps", env.tenant.tenant_id), json!({"displayName": "bad", "permissions": [], "certificatePem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid certificate"),
        "{}",
        bad.body
    );
}

#[tokio::test]
async fn mutations_apply_in_order_and_report_the_failing_one() {
    let env = start("tiny").await;
    let users = env.ids(dirvault_emulator::Collection::Users);
    let ok = env.mutate(json!([{"op": "update", "kind": "users", "id": users[0], "set": {"department": "Backup"}}])).await;
    assert_eq!(ok.body["results"][0]["id"], users[0].as_str());
    let r = env
        .control_post(
            &format!("/tenants/{}/mutations", env.tenant.tenant_id),
            json!([{"op": "delete", "kind": "users", "id": "nope"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("mutation refused: operation 0"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn churn_export_stats_and_clock() {
    let env = start("small").await;
    let before = env
        .control_get(&format!("/tenants/{}/export", env.tenant.tenant_id))
        .await;
    assert_eq!(
        before.body["objects"]["users"].as_array().unwrap().len(),
        100
    );
    assert!(
        before.body["links"]["groupMember"]
            .as_object()
            .is_some_and(|m| !m.is_empty())
    );
    let churn = env
        .control_post(
            &format!("/tenants/{}/churn", env.tenant.tenant_id),
            json!({"percent": 10, "seed": 3}),
        )
        .await;
    assert_eq!(churn.status, StatusCode::OK);
    assert!(churn.body["updated"].as_u64().unwrap() > 0);
    assert_eq!(churn.body["created"], 1);
    let after = env
        .control_get(&format!("/tenants/{}/export", env.tenant.tenant_id))
        .await;
    assert_eq!(
        after.body["deletedItems"].as_array().unwrap().len(),
        churn.body["deleted"].as_u64().unwrap() as usize
    );

    reply(
        env.http
            .post(env.control(&format!("/tenants/{}/stats/reset", env.tenant.tenant_id)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    env.get("/users").await;
    env.get("/groups/00000000-0000-0000-0000-000000000000")
        .await;
    let stats = env
        .control_get(&format!("/tenants/{}/stats", env.tenant.tenant_id))
        .await;
    assert_eq!(stats.body["requests"], 2);
    assert_eq!(stats.body["resourceUnits"], 3);
    assert_eq!(stats.body["byStatus"]["404"], 1);

    let clock = env
        .control_post("/clock/advance", json!({"seconds": 86400}))
        .await;
    assert!(clock.body["offsetSeconds"].as_i64().unwrap() >= 86400);
    assert_eq!(
        env.control_post("/clock/advance", json!({"seconds": -1}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}
