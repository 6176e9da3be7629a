//! `$batch`, throttling and injected faults over HTTP (docs/graph.md §4, §5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code

mod common;

use common::{start, start_with};
use dirvault_emulator::Collection;
use dirvault_emulator::{EmulatorConfig, ThrottleConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn response<'a>(batch: &'a Value, id: &str) -> &'a Value {
    batch["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap()
}

#[tokio::test]
async fn batch_runs_requests_and_reports_each_status() {
    let env = start("tiny").await;
    let user = env.cloud_user();
    let r = env
        .post(
            "/$batch",
            json!({"requests": [
                {"id": "1", "method": "GET", "url": format!("/users/{user}?$select=id,displayName")},
                {"id": "2", "method": "GET", "url": "/users/00000000-0000-0000-0000-000000000000"},
                {"id": "3", "method": "GET", "url": "/organization", "dependsOn": ["2"]},
                {"id": "4", "method": "PATCH", "url": format!("/users/{user}"), "headers": {"Content-Type": "application/json"}, "body": {"jobTitle": "Batched"}, "dependsOn": ["1"]},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(response(&r.body, "1")["status"], 200);
    assert_eq!(response(&r.body, "1")["body"]["id"], user.as_str());
    assert_eq!(response(&r.body, "2")["status"], 404);
    assert_eq!(
        response(&r.body, "2")["body"]["error"]["code"],
        "Request_ResourceNotFound"
    );
    assert_eq!(response(&r.body, "3")["status"], 424);
    assert_eq!(
        response(&r.body, "4")["status"],
        204,
        "{}",
        response(&r.body, "4")
    );
    assert_eq!(
        env.object(Collection::Users, &user).unwrap()["jobTitle"],
        "Batched"
    );
}

#[tokio::test]
async fn batch_limits_are_enforced() {
    let env = start("tiny").await;
    let requests: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/organization"}))
        .collect();
    let r = env.post("/$batch", json!({"requests": requests})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("20"), "{}", r.message());
    let dup = env.post("/$batch", json!({"requests": [{"id": "a", "method": "GET", "url": "/organization"}, {"id": "a", "method": "GET", "url": "/domains"}]})).await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    let forward = env.post("/$batch", json!({"requests": [{"id": "a", "method": "GET", "url": "/organization", "dependsOn": ["b"]}, {"id": "b", "method": "GET", "url": "/domains"}]})).await;
    assert_eq!(forward.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn throttled_request_inside_a_batch_is_a_429_inside_a_200() {
    let env = start("tiny").await;
    let faults = env
        .control_put(
            &format!("/tenants/{}/faults", env.tenant.tenant_id),
            json!({"next": [{"fault": "throttle", "retryAfter": 7}]}),
        )
        .await;
    assert_eq!(faults.status, StatusCode::NO_CONTENT);
    let r = env.post("/$batch", json!({"requests": [{"id": "1", "method": "GET", "url": "/organization"}, {"id": "2", "method": "GET", "url": "/domains"}]})).await;
    assert_eq!(r.status, StatusCode::OK);
    let first = response(&r.body, "1");
    assert_eq!(first["status"], 429);
    assert_eq!(first["headers"]["Retry-After"], "7");
    assert_eq!(first["body"]["error"]["code"], "TooManyRequests");
    assert_eq!(response(&r.body, "2")["status"], 200);
}

#[tokio::test]
async fn resource_unit_budget_gives_429_with_retry_after_and_headers() {
    // One hundredth of the documented limits: a small tenant gets 35 ResourceUnits per 10 s.
    let env = start_with(
        "tiny",
        EmulatorConfig {
            throttle: ThrottleConfig { scale: 0.01 },
            ..EmulatorConfig::default()
        },
    )
    .await;
    let first = env.get("/users").await;
    assert_eq!(
        first.header("x-ms-resource-unit"),
        Some("2"),
        "GET /users costs 2"
    );
    assert_eq!(
        env.get("/users?$select=id")
            .await
            .header("x-ms-resource-unit"),
        Some("1"),
        "$select costs 1 less"
    );
    let mut throttled = None;
    for _ in 0..40 {
        let r = env.get("/users").await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(r);
            break;
        }
    }
    let r = throttled.expect("the budget runs out");
    assert_eq!(r.code(), "TooManyRequests");
    // Decimal seconds, as Graph writes them (concepts/throttling.md: `Retry-After: 2.128`).
    let retry: f64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 0.0 && retry <= 10.0, "{retry}");
    // <Scope>/<Limit>/<ApplicationId>/<TenantId> (concepts/throttling-limits.md).
    assert_eq!(
        r.header("x-ms-throttle-scope"),
        Some(
            format!(
                "Tenant_Application/ReadWrite/{}/{}",
                env.tenant.client_id, env.tenant.tenant_id
            )
            .as_str()
        )
    );
    assert!(r.header("x-ms-throttle-information").is_some());
    let stats = env
        .control_get(&format!("/tenants/{}/stats", env.tenant.tenant_id))
        .await;
    assert!(stats.body["throttled"].as_u64().unwrap() >= 1);
    assert!(stats.body["resourceUnits"].as_u64().unwrap() >= 35 - 2);
}

#[tokio::test]
async fn conditional_access_is_one_request_per_second_and_its_429_has_no_retry_after() {
    let env = start_with("tiny", EmulatorConfig::default()).await;
    assert_eq!(
        env.get("/identity/conditionalAccess/policies").await.status,
        StatusCode::OK
    );
    let r = env.get("/identity/conditionalAccess/namedLocations").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.header("retry-after").is_none());
}

#[tokio::test]
async fn reports_apis_allow_five_requests_per_ten_seconds() {
    let env = start_with("tiny", EmulatorConfig::default()).await;
    let user = env.ids(Collection::Users)[0].clone();
    for i in 0..5 {
        let path = if i % 2 == 0 {
            format!("/users/{user}/authentication/methods")
        } else {
            "/auditLogs/signIns".to_owned()
        };
        assert_eq!(env.get(&path).await.status, StatusCode::OK, "request {i}");
    }
    let sixth = env.get("/auditLogs/directoryAudits").await;
    assert_eq!(sixth.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(sixth.header("retry-after").is_some());
    // Other APIs are not affected.
    assert_eq!(env.get("/users?$top=1").await.status, StatusCode::OK);
}

#[tokio::test]
async fn injected_faults_503_reset_truncate_and_storm() {
    let env = start("tiny").await;
    env.control_put(
        &format!("/tenants/{}/faults", env.tenant.tenant_id),
        json!({"next": [{"fault": "status", "status": 503}, {"fault": "reset"}, {"fault": "truncate"}], "throttleStorm": {"requests": 2, "retryAfter": 3}}),
    )
    .await;
    let unavailable = env.get("/users").await;
    assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(unavailable.header("retry-after"), Some("1"));
    // Fresh connections: a broken connection must not be reused by the pool.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // A reset: the connection drops before a complete response arrives.
    let reset = match fresh
        .get(env.graph("/users"))
        .bearer_auth(&env.token)
        .send()
        .await
    {
        Ok(resp) => resp.bytes().await.is_err(),
        Err(e) => e.is_request() || e.is_body(),
    };
    assert!(reset, "the request fails");
    // A truncated body: half of the JSON.
    let truncated = fresh
        .get(env.graph("/users"))
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    assert_eq!(truncated.status(), StatusCode::OK);
    let bytes = truncated.bytes().await.unwrap();
    assert!(!bytes.is_empty());
    assert!(
        serde_json::from_slice::<Value>(&bytes).is_err(),
        "the JSON is cut short"
    );
    for _ in 0..2 {
        let r = env.get("/users").await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.header("retry-after"), Some("3"));
    }
    assert_eq!(env.get("/users").await.status, StatusCode::OK);
}

#[tokio::test]
async fn fault_rates_are_repeatable_for_a_seed() {
    let env = start("tiny").await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        env.control_put(
            &format!("/tenants/{}/faults", env.tenant.tenant_id),
            json!({"errorRate": 0.4, "seed": 11}),
        )
        .await;
        let mut statuses = Vec::new();
        for _ in 0..20 {
            statuses.push(env.get("/organization").await.status.as_u16());
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&503) && runs[0].contains(&200));
    let bad = env
        .control_put(
            &format!("/tenants/{}/faults", env.tenant.tenant_id),
            json!({"errorRat": 0.4}),
        )
        .await;
    assert!(
        bad.status.is_client_error(),
        "unknown fault settings are refused"
    );
}

#[tokio::test]
async fn writes_have_their_own_budget() {
    // 3,000 writes per 150 s, scaled to 3: the fourth write is throttled, reads are not.
    let env = start_with(
        "tiny",
        EmulatorConfig {
            throttle: ThrottleConfig { scale: 0.001 },
            ..EmulatorConfig::default()
        },
    )
    .await;
    let user = env.cloud_user();
    for i in 0..3 {
        let r = env
            .patch(
                &format!("/users/{user}"),
                json!({"jobTitle": format!("t{i}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "write {i}: {}", r.body);
    }
    let fourth = env
        .patch(&format!("/users/{user}"), json!({"jobTitle": "t3"}))
        .await;
    assert_eq!(fourth.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: f64 = fourth.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 0.0 && retry <= 150.0, "{retry}");
    assert!(
        fourth
            .header("x-ms-throttle-scope")
            .unwrap()
            .contains("Write")
    );
}
