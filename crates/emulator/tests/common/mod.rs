//! Shared helpers for the emulator's HTTP tests: start a server with a generated tenant, get a
//! token the way a Graph client does, and send requests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use dirvault_emulator::{
    Emulator, EmulatorConfig, RunningEmulator, TenantInfo, TenantSpec, ThrottleConfig,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub struct Env {
    pub emulator: Emulator,
    pub server: RunningEmulator,
    pub tenant: TenantInfo,
    pub http: reqwest::Client,
    pub token: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
    pub fn values(&self) -> &Vec<Value> {
        self.body["value"]
            .as_array()
            .expect("a collection response")
    }
}

/// No throttling unless a test asks for it.
pub fn quiet() -> EmulatorConfig {
    EmulatorConfig {
        throttle: ThrottleConfig { scale: 0.0 },
        ..EmulatorConfig::default()
    }
}

pub async fn start(size: &str) -> Env {
    start_with(size, quiet()).await
}

pub async fn start_with(size: &str, config: EmulatorConfig) -> Env {
    let emulator = Emulator::new(config);
    let tenant = emulator
        .create_tenant(&TenantSpec::preset("contoso", size, 1).unwrap())
        .unwrap();
    let server = emulator.start("127.0.0.1:0").await.unwrap();
    let http = reqwest::Client::new();
    let token = secret_token(
        &http,
        &server.url(),
        &tenant.tenant_id,
        &tenant.client_id,
        &tenant.client_secret,
    )
    .await;
    Env {
        emulator,
        server,
        tenant,
        http,
        token,
    }
}

pub async fn token_request(
    http: &reqwest::Client,
    url: &str,
    tenant: &str,
    form: &[(&str, &str)],
) -> Reply {
    let resp = http
        .post(format!("{url}/{tenant}/oauth2/v2.0/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    reply(resp).await
}

pub async fn secret_token(
    http: &reqwest::Client,
    url: &str,
    tenant: &str,
    client: &str,
    secret: &str,
) -> String {
    let r = token_request(
        http,
        url,
        tenant,
        &[
            ("client_id", client),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["access_token"].as_str().unwrap().to_owned()
}

pub async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

impl Env {
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// A new token for the tenant's app: after the emulated clock moves past the old one's
    /// expiry, as a client would.
    pub async fn renew_token(&mut self) {
        self.token = secret_token(
            &self.http,
            &self.url(),
            &self.tenant.tenant_id,
            &self.tenant.client_id,
            &self.tenant.client_secret,
        )
        .await;
    }

    pub fn graph(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}/v1.0{path}", self.url())
        }
    }

    pub fn control(&self, path: &str) -> String {
        format!("{}/_emulator{path}", self.url())
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.send_as(&self.token, method, path, body, headers).await
    }

    pub async fn send_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .http
            .request(method, self.graph(path))
            .bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        reply(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Follows `@odata.nextLink` until it is absent; returns every item and the page count.
    pub async fn get_all(&self, path: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut next = Some(self.graph(path));
        let mut pages = 0;
        while let Some(url) = next {
            let r = self.get(&url).await;
            assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
            pages += 1;
            items.extend(r.values().iter().cloned());
            next = r.body["@odata.nextLink"].as_str().map(str::to_owned);
        }
        (items, pages)
    }

    pub async fn control_post(&self, path: &str, body: Value) -> Reply {
        reply(
            self.http
                .post(self.control(path))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn control_put(&self, path: &str, body: Value) -> Reply {
        reply(
            self.http
                .put(self.control(path))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn control_get(&self, path: &str) -> Reply {
        reply(self.http.get(self.control(path)).send().await.unwrap()).await
    }

    pub async fn mutate(&self, ops: Value) -> Reply {
        let r = self
            .control_post(
                &format!("/tenants/{}/mutations", self.tenant.tenant_id),
                ops,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r
    }

    /// Registers an app with `permissions` and returns a token for it.
    pub async fn token_with(&self, permissions: &[&str]) -> String {
        let r = self
            .control_post(
                &format!("/tenants/{}/apps", self.tenant.tenant_id),
                serde_json::json!({"displayName": "limited", "permissions": permissions}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        secret_token(
            &self.http,
            &self.url(),
            &self.tenant.tenant_id,
            r.body["clientId"].as_str().unwrap(),
            r.body["clientSecret"].as_str().unwrap(),
        )
        .await
    }

    /// Ids of objects of `kind` straight from the emulator's state.
    pub fn ids(&self, kind: dirvault_emulator::Collection) -> Vec<String> {
        self.emulator
            .with_tenant(&self.tenant.tenant_id, |t| {
                t.objects(kind)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default()
            })
            .unwrap()
    }

    /// A user that is not synced from on-premises (its attributes are writable through Graph).
    pub fn cloud_user(&self) -> String {
        self.emulator
            .with_tenant(&self.tenant.tenant_id, |t| {
                t.objects(dirvault_emulator::Collection::Users)
                    .unwrap()
                    .iter()
                    .find(|(_, u)| {
                        u.get("onPremisesSyncEnabled") != Some(&Value::Bool(true))
                            && u["userType"] == "Member"
                    })
                    .map(|(id, _)| id.clone())
            })
            .unwrap()
            .expect("a cloud-only member user")
    }

    pub fn object(
        &self,
        kind: dirvault_emulator::Collection,
        id: &str,
    ) -> Option<serde_json::Map<String, Value>> {
        self.emulator
            .with_tenant(&self.tenant.tenant_id, |t| t.get(kind, id))
            .unwrap()
    }
}
