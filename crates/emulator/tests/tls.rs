//! HTTPS, OpenID discovery and signed JWT access tokens: what Microsoft's auth libraries need
//! (they refuse an `http` authority and read the discovery document before asking for a
//! token). tests/sdk/msgraph_conformance.py runs MSAL and azure-identity themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use dirvault_emulator::{Emulator, EmulatorConfig, TenantSpec, ThrottleConfig, TlsIdentity};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Tls {
    _server: dirvault_emulator::RunningEmulator,
    url: String,
    http: reqwest::Client,
    tenant: dirvault_emulator::TenantInfo,
}

async fn start_tls() -> Tls {
    let emulator = Emulator::new(EmulatorConfig {
        throttle: ThrottleConfig { scale: 0.0 },
        ..EmulatorConfig::default()
    });
    let tenant = emulator
        .create_tenant(&TenantSpec::preset("contoso", "tiny", 1).unwrap())
        .unwrap();
    let identity = TlsIdentity::generate().unwrap();
    let server = emulator.start_tls("127.0.0.1:0", &identity).await.unwrap();
    let ca = reqwest::Certificate::from_pem(identity.ca_pem().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    Tls {
        url: server.url(),
        _server: server,
        http,
        tenant,
    }
}

impl Tls {
    /// `GET {url}{path}` over HTTPS, as JSON.
    async fn get_json(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }
}

async fn token(t: &Tls) -> String {
    let r = t
        .http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            t.url, t.tenant.tenant_id
        ))
        .form(&[
            ("client_id", t.tenant.client_id.as_str()),
            ("client_secret", t.tenant.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn discovery_names_https_endpoints_on_the_emulator() {
    let t = start_tls().await;
    assert!(t.url.starts_with("https://127.0.0.1:"), "{}", t.url);
    let config = t
        .get_json(&format!(
            "/{}/v2.0/.well-known/openid-configuration",
            t.tenant.tenant_id
        ))
        .await;
    let tid = &t.tenant.tenant_id;
    assert_eq!(
        config["token_endpoint"],
        format!("{}/{tid}/oauth2/v2.0/token", t.url)
    );
    assert_eq!(config["issuer"], format!("{}/{tid}/v2.0", t.url));
    assert_eq!(
        config["jwks_uri"],
        format!("{}/{tid}/discovery/v2.0/keys", t.url)
    );
    // By domain too, with the tenant id in the issuer; an unknown tenant is AADSTS90002.
    let by_domain = t
        .get_json(&format!(
            "/{}/v2.0/.well-known/openid-configuration",
            t.tenant.default_domain
        ))
        .await;
    assert_eq!(by_domain["issuer"], format!("{}/{tid}/v2.0", t.url));
    let unknown = t
        .http
        .get(format!(
            "{}/nowhere.example/v2.0/.well-known/openid-configuration",
            t.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error_codes"], json!([90002]));
}

#[tokio::test]
async fn access_tokens_are_rs256_jwts_that_verify_with_the_published_key() {
    let t = start_tls().await;
    let token = token(&t).await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwks = t
        .get_json(&format!("/{}/discovery/v2.0/keys", t.tenant.tenant_id))
        .await;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("the token's kid is published");
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().unwrap(),
        jwk["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["https://graph.microsoft.com"]);
    let tid = &t.tenant.tenant_id;
    validation.set_issuer(&[format!("https://sts.windows.net/{tid}/")]);
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["tid"], tid.as_str());
    assert_eq!(claims["appid"], t.tenant.client_id.as_str());
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["appidacr"], "1");
    assert!(claims["roles"].as_array().unwrap().len() > 3);
    assert_eq!(claims["oid"], claims["sub"]);
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
}

#[tokio::test]
async fn graph_over_https_writes_https_links_and_refuses_a_forged_token() {
    let t = start_tls().await;
    let token = token(&t).await;
    let r: Value = t
        .http
        .get(format!("{}/v1.0/users?$top=2&$select=id", t.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = r["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{}/v1.0/users?", t.url)),
        "{next}"
    );
    assert!(
        r["@odata.context"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    // Inside $batch too.
    let batch: Value = t
        .http
        .post(format!("{}/v1.0/$batch", t.url))
        .bearer_auth(&token)
        .json(
            &json!({"requests": [{"id": "1", "method": "GET", "url": "/users?$top=2&$select=id"}]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let inner = batch["responses"][0]["body"]["@odata.nextLink"]
        .as_str()
        .unwrap();
    assert!(inner.starts_with("https://"), "{inner}");
    // A token with the right shape that the emulator did not issue: a payload changed.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1].push('A');
    let forged = t
        .http
        .get(format!("{}/v1.0/users", t.url))
        .bearer_auth(parts.join("."))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_cannot_connect() {
    let t = start_tls().await;
    let stranger = reqwest::Client::new();
    let err = stranger
        .get(format!("{}/v1.0/users", t.url))
        .send()
        .await
        .expect_err("an untrusted certificate is refused");
    assert!(err.is_connect() || err.is_request(), "{err}");
    // The server goes on serving clients that do trust it.
    let again = t
        .http
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            t.url, t.tenant.tenant_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}
