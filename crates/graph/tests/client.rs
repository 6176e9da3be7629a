//! The Graph client against the emulator, over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::time::{Duration, Instant};

use dirvault_emulator::{Collection, Emulator, RunningEmulator, TenantInfo, ThrottleConfig};
use dirvault_graph::{BatchRequest, ClientCertificate, Credentials, Error, GraphClient};
use dirvault_model::{ClientId, TenantId};
use dirvault_testkit::{EmulatedTenant, fast_retries};
use futures::TryStreamExt;
use serde_json::{Value, json};

const CERT: &str = include_str!("../../emulator/tests/fixtures/test-cert.pem");
const KEY: &str = include_str!("../../emulator/tests/fixtures/test-key.pem");

struct Env {
    emulator: Emulator,
    server: RunningEmulator,
    tenant: TenantInfo,
}

async fn env(size: &str) -> Env {
    let EmulatedTenant {
        emulator,
        server,
        info,
    } = EmulatedTenant::start(size, 1).await;
    Env {
        emulator,
        server,
        tenant: info,
    }
}

impl Env {
    fn client_with(&self, credentials: Credentials) -> GraphClient {
        GraphClient::builder(self.tenant.tenant_id.parse().unwrap())
            .with_credentials(credentials)
            .with_endpoints(&self.server.url(), &self.server.url())
            .with_retry(fast_retries())
            .build()
            .unwrap()
    }

    /// The tenant's client with these retry settings.
    fn client_retrying(&self, retry: dirvault_graph::RetryOptions) -> GraphClient {
        GraphClient::builder(self.tenant.tenant_id.parse().unwrap())
            .with_credentials(Credentials::secret(
                self.tenant.client_id.parse().unwrap(),
                self.tenant.client_secret.clone(),
            ))
            .with_endpoints(&self.server.url(), &self.server.url())
            .with_retry(retry)
            .build()
            .unwrap()
    }

    fn client(&self) -> GraphClient {
        self.client_with(Credentials::secret(
            self.tenant.client_id.parse().unwrap(),
            self.tenant.client_secret.clone(),
        ))
    }

    fn faults(&self, config: Value) {
        let config = serde_json::from_value(config).unwrap();
        self.emulator
            .with_tenant(&self.tenant.tenant_id, |t| {
                t.faults = dirvault_emulator::faults::Faults::new(config)
            })
            .unwrap();
    }

    fn token_requests(&self) -> u64 {
        self.emulator
            .with_tenant(&self.tenant.tenant_id, |t| t.stats.token_requests)
            .unwrap()
    }
}

async fn all_items(client: &GraphClient, path: &str) -> (Vec<Value>, usize, Option<String>) {
    let pages: Vec<_> = client.pages(path).try_collect().await.unwrap();
    let delta = pages.last().and_then(|p| p.delta_link.clone());
    let n = pages.len();
    (pages.into_iter().flat_map(|p| p.items).collect(), n, delta)
}

#[tokio::test]
async fn the_next_page_is_fetched_while_the_caller_works_on_this_one() {
    let env = env("small").await;
    let client = env.client();
    let mut pages = std::pin::pin!(client.pages("/users?$top=7&$select=id"));
    let first = pages.try_next().await.unwrap().unwrap();
    assert_eq!(first.items.len(), 7);
    // Not polled again: the second page's request goes out anyway (no sleeping: the loop
    // yields until the client has counted it, bounded by a timeout).
    tokio::time::timeout(Duration::from_secs(10), async {
        while client.stats().requests < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the next page was not requested ahead");
    let second = pages.try_next().await.unwrap().unwrap();
    assert_ne!(first.items[0]["id"], second.items[0]["id"]);
    // Only one page ahead of the caller: a reader that stops early does not drain the tenant.
    assert!(client.stats().requests <= 4, "{:?}", client.stats());
}

#[tokio::test]
async fn pages_stream_every_user_once() {
    let env = env("small").await;
    let client = env.client();
    let (users, pages, _) = all_items(&client, "/users?$top=7&$select=id,displayName").await;
    assert_eq!(users.len(), 100);
    assert_eq!(pages, 15);
    assert_eq!(client.stats().requests, 15);
    assert_eq!(
        client.stats().resource_units,
        15,
        "GET /users with $select costs 1"
    );
    assert_eq!(env.token_requests(), 1, "one token for the whole listing");
}

#[tokio::test]
async fn certificate_credentials_get_a_token() {
    let env = env("tiny").await;
    let (client_id, _) = env
        .emulator
        .register_app(
            &env.tenant.tenant_id,
            "cert",
            &["User.Read.All".into()],
            false,
            Some(CERT),
        )
        .unwrap();
    let client_id: ClientId = client_id.parse().unwrap();
    let cert = ClientCertificate::from_pem(&client_id, CERT, KEY).unwrap();
    let client = env.client_with(Credentials::Certificate {
        client_id,
        certificate: cert,
    });
    let users = client.get("/users?$top=3").await.unwrap();
    assert_eq!(users["value"].as_array().unwrap().len(), 3);
    let debug = format!("{client:?}");
    assert!(
        debug.contains("x5t#S256") && debug.contains("[redacted]") && !debug.contains("PRIVATE"),
        "{debug}"
    );
    let swapped = ClientCertificate::from_pem(&"c".parse().unwrap(), KEY, CERT)
        .err()
        .unwrap()
        .to_string();
    assert!(swapped.contains("not a PEM certificate"), "{swapped}");
}

#[tokio::test]
async fn an_expired_token_is_refreshed_transparently() {
    let env = env("tiny").await;
    let client = env.client();
    client.get("/organization").await.unwrap();
    env.emulator
        .clock()
        .advance(chrono::Duration::seconds(4000));
    client.get("/organization").await.unwrap();
    assert_eq!(env.token_requests(), 2);
}

#[tokio::test]
async fn a_refused_secret_is_a_clear_error_without_the_secret() {
    let env = env("tiny").await;
    let client = env.client_with(Credentials::secret(
        env.tenant.client_id.parse().unwrap(),
        "wrong-secret-value",
    ));
    let err = client.get("/users").await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Token { status: 401, .. }), "{err:?}");
    assert!(
        text.contains(&env.tenant.tenant_id)
            && text.contains("AADSTS7000215")
            && text.contains("check the client secret"),
        "{text}"
    );
    assert!(
        !text.contains("wrong-secret-value") && !format!("{err:?}").contains("wrong-secret-value")
    );
    assert!(!format!("{client:?}").contains("wrong-secret-value"));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let env = env("tiny").await;
    let client = env.client();
    env.faults(json!({"next": [{"fault": "status", "status": 503}, {"fault": "reset"}, {"fault": "truncate"}, {"fault": "status", "status": 504}]}));
    let users = client.get("/users?$top=2").await.unwrap();
    assert_eq!(users["value"].as_array().unwrap().len(), 2);
    assert_eq!(client.stats().retries, 4);
}

#[tokio::test]
async fn retry_after_is_honoured_never_earlier() {
    let env = env("tiny").await;
    let client = env.client();
    // Graph writes Retry-After with decimals (`Retry-After: 2.128`, concepts/throttling.md):
    // 1.25 s is waited in full, not read as "no value" (a 0.5 s backoff) or as 1 s.
    env.faults(json!({"throttleStorm": {"requests": 1, "retryAfter": 1.25}}));
    let started = Instant::now();
    client.get("/organization").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1250),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(client.stats().throttled, 1);
}

#[tokio::test]
async fn a_budget_nearly_used_up_slows_the_client_down_before_any_429() {
    // Graph sends `x-ms-throttle-limit-percentage` as a decimal from 0.8 to 1.8 once an app
    // has used more than 0.8 of its limit (concepts/throttling-limits.md). A tiny tenant's
    // budget scaled to 10 ResourceUnits per 10 s: the 9th one-unit request reads ~0.9, so
    // the 10th waits about half a second instead of going out at once.
    let env = env("tiny").await;
    env.emulator.set_throttle(ThrottleConfig {
        scale: 10.0 / 3_500.0,
    });
    let client = env.client();
    for _ in 0..9 {
        client.get("/users?$select=id").await.unwrap();
    }
    assert_eq!(client.stats().resource_units, 9, "one unit per request");
    let started = Instant::now();
    client.get("/users?$select=id").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "sent after {:?}",
        started.elapsed()
    );
    assert_eq!(client.stats().throttled, 0, "paced, never throttled");
}

#[tokio::test]
async fn retries_stop_after_the_limit_and_say_what_failed() {
    let env = env("tiny").await;
    let client = env.client();
    env.faults(json!({"errorRate": 1.0}));
    let err = client.get("/organization").await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(client.stats().retries, 4);
    let text = err.to_string();
    assert!(
        text.contains("/v1.0/organization")
            && text.contains(&env.tenant.tenant_id)
            && text.contains("request-id"),
        "{text}"
    );
}

#[tokio::test]
async fn graph_errors_are_not_retried_and_carry_context() {
    let env = env("tiny").await;
    let client = env.client();
    let err = client
        .get("/users/00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(err.graph_code(), Some("Request_ResourceNotFound"));
    assert!(!err.is_retryable());
    assert_eq!(client.stats().retries, 0);
    let Error::Graph { request_id, .. } = &err else {
        panic!("{err:?}")
    };
    assert_ne!(request_id, "-");
    let bad = client.get("/users?$top=1000").await.unwrap_err();
    assert_eq!(bad.status(), Some(400));
}

#[tokio::test]
async fn delta_rounds_end_with_a_delta_link_and_expired_links_are_recognised() {
    let env = env("small").await;
    let client = env.client();
    let (users, _, link) = all_items(&client, "/users/delta?$select=id,displayName,jobTitle").await;
    assert_eq!(users.len(), 100);
    let link = link.expect("the last page carries a deltaLink");
    let id = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Users).unwrap().keys().next().cloned()
        })
        .unwrap()
        .unwrap();
    env.emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.update(
                Collection::Users,
                &id,
                json!({"jobTitle": "Delta"}).as_object().cloned().unwrap(),
            )
        })
        .unwrap()
        .unwrap();
    // `pages` sends no Prefer header: Graph's default answer has every selected property of
    // the changed user (user-delta.md), not only the changed one.
    let (changes, _, next) = all_items(&client, &link).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["id"], id.as_str());
    assert_eq!(changes[0]["jobTitle"], "Delta");
    assert!(changes[0]["displayName"].is_string(), "{changes:?}");
    env.emulator.clock().advance(chrono::Duration::days(8));
    let err = client
        .pages(&next.unwrap())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(err.is_delta_expired(), "{err:?}");
}

#[tokio::test]
async fn batch_chunks_by_20_retries_throttled_requests_and_keeps_order() {
    let env = env("small").await;
    let client = env.client();
    let users: Vec<String> = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Users)
                .unwrap()
                .keys()
                .take(45)
                .cloned()
                .collect()
        })
        .unwrap();
    let requests: Vec<BatchRequest> = users
        .iter()
        .enumerate()
        .map(|(i, u)| BatchRequest::get(i.to_string(), format!("/users/{u}?$select=id")))
        .collect();
    env.faults(json!({"next": [{"fault": "throttle", "retryAfter": 1}]}));
    let answers = client.batch(&requests).await.unwrap();
    assert_eq!(answers.len(), 45);
    for (i, (answer, user)) in answers.iter().zip(&users).enumerate() {
        assert_eq!(answer.id, i.to_string());
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["id"], user.as_str());
    }
    assert_eq!(client.stats().throttled, 1);
    assert_eq!(
        client.stats().requests,
        4,
        "3 batches of ≤ 20, plus one retry"
    );
    // Each request inside a batch is charged its own ResourceUnits (at least one each).
    assert!(client.stats().resource_units >= 45, "{:?}", client.stats());
    let dup = client
        .batch(&[
            BatchRequest::get("a", "/organization"),
            BatchRequest::get("a", "/domains"),
        ])
        .await
        .unwrap_err();
    assert!(matches!(dup, Error::Config(_)));
}

/// A request inside a batch that Graph keeps throttling with a Retry-After is retried past
/// `max_retries` (a long restore under the write limit meets many), until it has waited
/// `max_throttled_wait`; then its 429 is the answer (a storm that never ends is bounded).
#[tokio::test]
async fn throttled_batch_requests_are_retried_while_graph_says_when_within_a_bound() {
    let env = env("tiny").await;
    let retry = dirvault_graph::RetryOptions {
        max_throttled_wait: Duration::from_secs(30),
        ..fast_retries()
    };
    let client = env.client_retrying(retry);
    let storm = 3 * retry.max_retries as u32;
    env.faults(json!({"throttleStorm": {"requests": storm, "retryAfter": 0.01}}));
    let answers = client
        .batch(&[BatchRequest::get("1", "/organization")])
        .await
        .unwrap();
    assert_eq!(answers[0].status, 200, "{:?}", answers[0].body);
    assert_eq!(client.stats().throttled, u64::from(storm));

    // Throttled for good: a bounded number of rounds, then the 429 is the answer.
    let bounded = env.client_retrying(dirvault_graph::RetryOptions {
        max_throttled_wait: Duration::from_millis(100),
        ..fast_retries()
    });
    env.faults(json!({"throttleStorm": {"requests": 100_000, "retryAfter": 0}}));
    let answers = bounded
        .batch(&[BatchRequest::get("1", "/organization")])
        .await
        .unwrap();
    assert_eq!(answers[0].status, 429);
    // 100 ms at ≥ 5 ms (min_delay) a round, after the first four.
    let rounds = bounded.stats().throttled;
    assert!((5..=30).contains(&rounds), "{rounds} rounds");
}

#[tokio::test]
async fn tokens_never_go_to_other_hosts_or_over_plain_http() {
    let env = env("tiny").await;
    let client = env.client();
    let err = client
        .get("https://attacker.example/v1.0/users")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidResponse { .. }), "{err:?}");
    let tenant: TenantId = env.tenant.tenant_id.parse().unwrap();
    let http = GraphClient::builder(tenant.clone())
        .with_credentials(Credentials::secret("c".parse().unwrap(), "s"))
        .with_endpoints("http://graph.example.com", "https://login.example.com")
        .build()
        .unwrap_err();
    assert!(
        http.to_string().contains("allowed only for loopback"),
        "{http}"
    );
    let none = GraphClient::builder(tenant).build().unwrap_err();
    assert!(none.to_string().contains("with_credentials"), "{none}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_holds_back_every_request_of_the_tenant_not_just_the_throttled_one() {
    let env = env("tiny").await;
    let client = env.client();
    client.get("/organization").await.unwrap();
    env.faults(json!({"throttleStorm": {"requests": 1, "retryAfter": 2}}));
    let first = tokio::spawn({
        let client = client.clone();
        async move { client.get("/organization").await }
    });
    // Wait (without sleeping) until the client has received the 429.
    while client.stats().throttled == 0 {
        tokio::task::yield_now().await;
    }
    // A request started now is held back until the Retry-After has passed: it does not go
    // out at once to collect another 429.
    let started = Instant::now();
    client.get("/domains").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "sent after {:?}",
        started.elapsed()
    );
    first.await.unwrap().unwrap();
    assert_eq!(client.stats().throttled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_the_reports_budget_does_not_hold_back_directory_requests() {
    // Graph keeps the reports limit (5 requests / 10 s) apart from the directory's
    // ResourceUnits (learn.microsoft.com/graph/throttling-limits): a throttled sign-in
    // listing must not stall the users listing beside it.
    let env = env("tiny").await;
    let client = env.client();
    client.get("/organization").await.unwrap();
    env.faults(json!({
        "next": [{"fault": "throttle", "retryAfter": 3}],
        "nextPath": "/auditLogs/signIns"
    }));
    let reports = tokio::spawn({
        let client = client.clone();
        async move { client.get("/auditLogs/signIns?$top=5").await }
    });
    while client.stats().throttled == 0 {
        tokio::task::yield_now().await;
    }
    let started = Instant::now();
    client.get("/domains").await.unwrap();
    assert!(
        !reports.is_finished(),
        "the directory request waited for the reports request's Retry-After"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "sent after {:?}",
        started.elapsed()
    );
    // The throttled request itself is retried after its Retry-After.
    reports.await.unwrap().unwrap();
    assert_eq!(client.stats().throttled, 1);
}
