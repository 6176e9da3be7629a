//! Token endpoint and bearer-token validation, over HTTP (docs/graph.md §8).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use common::{start, token_request};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

const CERT: &str = include_str!("fixtures/test-cert.pem");
const KEY: &str = include_str!("fixtures/test-key.pem");
const OTHER_KEY: &str = include_str!("fixtures/other-key.pem");
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn thumbprint(cert_pem: &str) -> String {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).unwrap();
    URL_SAFE_NO_PAD.encode(Sha256::digest(&pem.contents))
}

fn assertion(key_pem: &str, x5t: &str, client: &str, aud: &str, now: i64, exp_in: i64) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
    header.x5t_s256 = Some(x5t.to_owned());
    let claims = json!({"aud": aud, "iss": client, "sub": client, "jti": uuid::Uuid::new_v4().to_string(),
                        "nbf": now, "iat": now, "exp": now + exp_in});
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn client_secret_token_has_the_documented_shape() {
    let env = start("tiny").await;
    let r = token_request(
        &env.http,
        &env.url(),
        &env.tenant.tenant_id,
        &[
            ("client_id", &env.tenant.client_id),
            ("client_secret", &env.tenant.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3599);
    assert!(
        r.body["access_token"]
            .as_str()
            .is_some_and(|t| t.len() > 40)
    );
    assert!(r.body.get("refresh_token").is_none());
    // The tenant can also be named by its domain.
    let by_domain = token_request(
        &env.http,
        &env.url(),
        &env.tenant.default_domain,
        &[
            ("client_id", &env.tenant.client_id),
            ("client_secret", &env.tenant.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ],
    )
    .await;
    assert_eq!(by_domain.status, StatusCode::OK);
}

#[tokio::test]
async fn token_errors_use_the_identity_platform_error_shape() {
    let env = start("tiny").await;
    let (url, t, c, s) = (
        env.url(),
        env.tenant.tenant_id.clone(),
        env.tenant.client_id.clone(),
        env.tenant.client_secret.clone(),
    );
    let scope = "https://graph.microsoft.com/.default";
    let cases: Vec<(&str, Vec<(&str, &str)>, StatusCode, &str, u64)> = vec![
        (
            t.as_str(),
            vec![
                ("client_id", &c),
                ("client_secret", "wrong"),
                ("scope", scope),
                ("grant_type", "client_credentials"),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
        ),
        (
            "00000000-0000-0000-0000-00000000dead",
            vec![
                ("client_id", &c),
                ("client_secret", &s),
                ("scope", scope),
                ("grant_type", "client_credentials"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
        ),
        (
            t.as_str(),
            vec![
                ("client_id", "4a1f0000-0000-0000-0000-000000000000"),
                ("client_secret", &s),
                ("scope", scope),
                ("grant_type", "client_credentials"),
            ],
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
        ),
        (
            t.as_str(),
            vec![
                ("client_id", &c),
                ("client_secret", &s),
                ("scope", "User.Read"),
                ("grant_type", "client_credentials"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
        ),
        (
            t.as_str(),
            vec![
                ("client_id", &c),
                ("client_secret", &s),
                ("scope", scope),
                ("grant_type", "password"),
            ],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
        ),
        (
            t.as_str(),
            vec![
                ("client_id", &c),
                ("scope", scope),
                ("grant_type", "client_credentials"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            7000218,
        ),
        (
            "common",
            vec![
                ("client_id", &c),
                ("client_secret", &s),
                ("scope", scope),
                ("grant_type", "client_credentials"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            700016,
        ),
    ];
    for (tenant, form, status, error, code) in cases {
        let r = token_request(&env.http, &url, tenant, &form).await;
        assert_eq!(r.status, status, "{form:?}: {}", r.body);
        assert_eq!(r.body["error"], error, "{}", r.body);
        assert_eq!(r.body["error_codes"], json!([code]), "{}", r.body);
        assert!(
            r.body["error_description"]
                .as_str()
                .unwrap()
                .starts_with(&format!("AADSTS{code}:"))
        );
        for field in ["timestamp", "trace_id", "correlation_id"] {
            assert!(r.body.get(field).is_some(), "{field} missing in {}", r.body);
        }
        // The wrong secret never echoes back.
        assert!(!r.body.to_string().contains("wrong\""), "{}", r.body);
    }
}

#[tokio::test]
async fn certificate_assertion_is_verified() {
    let env = start("tiny").await;
    let (client, _) = env
        .emulator
        .register_app(
            &env.tenant.tenant_id,
            "cert app",
            &["User.Read.All".into()],
            false,
            Some(CERT),
        )
        .unwrap();
    let url = env.url();
    let tenant = env.tenant.tenant_id.clone();
    let aud = format!("{url}/{tenant}/oauth2/v2.0/token");
    let now = env.emulator.clock().now().timestamp();
    let x5t = thumbprint(CERT);
    let ask = |assertion: String| {
        let (http, url, tenant, client) = (
            env.http.clone(),
            url.clone(),
            tenant.clone(),
            client.clone(),
        );
        async move {
            token_request(
                &http,
                &url,
                &tenant,
                &[
                    ("client_id", &client),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &assertion),
                    ("scope", "https://graph.microsoft.com/.default"),
                    ("grant_type", "client_credentials"),
                ],
            )
            .await
        }
    };
    let ok = ask(assertion(KEY, &x5t, &client, &aud, now, 600)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let token = ok.body["access_token"].as_str().unwrap().to_owned();
    let users = env
        .send_as(&token, Method::GET, "/users?$top=1", None, &[])
        .await;
    assert_eq!(users.status, StatusCode::OK);

    let failures = [
        (
            assertion(OTHER_KEY, &x5t, &client, &aud, now, 600),
            700027,
            "signed by another key",
        ),
        (
            assertion(KEY, "bm90LXRoZS10aHVtYnByaW50", &client, &aud, now, 600),
            700027,
            "unknown x5t#S256",
        ),
        (
            assertion(
                KEY,
                &x5t,
                &client,
                "https://login.microsoftonline.com/other/oauth2/v2.0/token",
                now,
                600,
            ),
            700212,
            "wrong aud",
        ),
        (
            assertion(KEY, &x5t, &client, &aud, now - 3600, 600),
            700024,
            "expired",
        ),
        (
            assertion(KEY, &x5t, "someone-else", &aud, now, 600),
            700021,
            "iss/sub not the client",
        ),
        ("not.a.jwt".to_owned(), 50027, "malformed"),
    ];
    for (a, code, why) in failures {
        let r = ask(a).await;
        assert!(r.status.is_client_error(), "{why}: {}", r.body);
        assert_eq!(r.body["error_codes"], json!([code]), "{why}: {}", r.body);
    }
}

#[tokio::test]
async fn graph_rejects_missing_bad_and_expired_tokens_with_401() {
    let env = start("tiny").await;
    let none = common::reply(env.http.get(env.graph("/users")).send().await.unwrap()).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.code(), "InvalidAuthenticationToken");
    assert_eq!(none.message(), "Access token is empty.");
    assert!(
        none.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer"))
    );
    assert!(none.body["error"]["innerError"]["request-id"].is_string());

    let bad = env
        .send_as("dvemu.forged", Method::GET, "/users", None, &[])
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);

    // A long backup outlives its token: after 3599 s the same token is refused.
    assert_eq!(env.get("/users?$top=1").await.status, StatusCode::OK);
    env.emulator.clock().advance(Duration::seconds(3600));
    let expired = env.get("/users?$top=1").await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        expired.message(),
        "Lifetime validation failed, the token is expired."
    );
}

#[tokio::test]
async fn token_of_a_removed_tenant_stops_working() {
    let env = start("tiny").await;
    assert_eq!(env.get("/organization").await.status, StatusCode::OK);
    env.emulator.remove_tenant(&env.tenant.tenant_id).unwrap();
    let r = env.get("/organization").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
}

#[tokio::test]
async fn tenants_are_isolated_by_token() {
    let env = start("tiny").await;
    let other = env
        .emulator
        .create_tenant(&dirvault_emulator::TenantSpec::preset("fabrikam", "tiny", 9).unwrap())
        .unwrap();
    let other_token = common::secret_token(
        &env.http,
        &env.url(),
        &other.tenant_id,
        &other.client_id,
        &other.client_secret,
    )
    .await;
    let mine = env.get("/organization").await;
    let theirs = env
        .send_as(&other_token, Method::GET, "/organization", None, &[])
        .await;
    assert_eq!(mine.values()[0]["id"], env.tenant.tenant_id.as_str());
    assert_eq!(theirs.values()[0]["id"], other.tenant_id.as_str());
    // The other tenant's secret does not work against this tenant.
    let r = token_request(
        &env.http,
        &env.url(),
        &env.tenant.tenant_id,
        &[
            ("client_id", &other.client_id),
            ("client_secret", &other.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ],
    )
    .await;
    assert_eq!(r.body["error"], "unauthorized_client");
}

#[tokio::test]
async fn requests_outside_the_consented_permissions_get_403() {
    let env = start("tiny").await;
    let token = env.token_with(&["User.Read.All"]).await;
    let ok = env.send_as(&token, Method::GET, "/users", None, &[]).await;
    assert_eq!(ok.status, StatusCode::OK);
    for path in [
        "/groups",
        "/identity/conditionalAccess/policies",
        "/auditLogs/signIns",
        "/applications",
    ] {
        let r = env.send_as(&token, Method::GET, path, None, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(r.code(), "Authorization_RequestDenied");
        assert_eq!(
            r.message(),
            "Insufficient privileges to complete the operation."
        );
    }
    let write = env
        .send_as(
            &token,
            Method::PATCH,
            &format!(
                "/users/{}",
                env.ids(dirvault_emulator::Collection::Users)[0]
            ),
            Some(json!({"jobTitle": "x"})),
            &[],
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    // Directory.Read.All does not cover Conditional Access (docs/graph.md §1).
    let dir = env.token_with(&["Directory.Read.All"]).await;
    assert_eq!(
        env.send_as(&dir, Method::GET, "/groups", None, &[])
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        env.send_as(
            &dir,
            Method::GET,
            "/identity/conditionalAccess/policies",
            None,
            &[]
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
}
