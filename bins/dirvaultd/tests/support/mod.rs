//! Running the real `dirvaultd` binary against the Graph emulator.
#![allow(dead_code)] // each test file uses part of it

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) const ADMIN_KEY: &str = "admin-key-0123456789";

/// A running daemon; killed when dropped.
pub(crate) struct Daemon {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) node: String,
    http: reqwest::Client,
}

/// The password of the daemons' repositories (they are encrypted, as in production).
pub(crate) const REPOSITORY_PASSWORD: &str = "daemon-test repository password";

impl Daemon {
    /// Starts `dirvaultd run` with this config and repository, on a free loopback port.
    pub(crate) fn start(config: &Path, repo: &str, env: &[(&str, &str)], log: &Path) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dirvaultd"));
        cmd.args([
            "--config",
            config.to_str().unwrap(),
            "--repo",
            repo,
            "--listen",
            "127.0.0.1:0",
            "run",
        ])
        .env("ADMIN_KEY", ADMIN_KEY)
        .env("DIRVAULT_PASSWORD", REPOSITORY_PASSWORD)
        .env("DIRVAULT_LOG", "info")
        .env_remove("DIRVAULT_CONFIG")
        .env_remove("DIRVAULT_REPO")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let (url, first) = dirvault_testkit::daemon_started(&mut child).unwrap_or_else(|line| {
            panic!(
                "dirvaultd did not start: {line:?}\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        });
        Daemon {
            child,
            url,
            node: first["node"].as_str().unwrap().to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// A request with an optional key; answers (status, headers' request id, JSON body or Null).
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Option<String>, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.text().await.unwrap();
        (
            status,
            id,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub(crate) async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let (s, _, v) = self.call(reqwest::Method::GET, path, Some(key), None).await;
        (s, v)
    }

    pub(crate) async fn bytes(&self, path: &str, key: &str) -> (u16, Vec<u8>) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
    }

    /// Polls a job until it is finished (or the deadline passes).
    /// Starts a backup of `tenant` with `key` (which must be accepted) and waits for its job:
    /// the finished job.
    pub(crate) async fn backup_now(&self, tenant: &str, key: &str) -> Value {
        let (status, _, job) = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/tenants/{tenant}/backups"),
                Some(key),
                None,
            )
            .await;
        assert_eq!(status, 202, "{job}");
        self.wait_job(job["id"].as_str().unwrap(), key, Duration::from_secs(60))
            .await
    }

    pub(crate) async fn wait_job(&self, id: &str, key: &str, deadline: Duration) -> Value {
        let end = Instant::now() + deadline;
        loop {
            let (status, job) = self.get(&format!("/v1/jobs/{id}"), key).await;
            assert_eq!(status, 200, "{job}");
            if job.get("finished").is_some() {
                return job;
            }
            assert!(Instant::now() < end, "job {id} still not finished: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a signal to the daemon.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tenant of the config file, pointing at the emulator.
pub(crate) fn tenant_toml(
    name: &str,
    tenant_id: &str,
    client_id: &str,
    secret_var: &str,
    url: &str,
    schedule: &str,
) -> String {
    tenant_toml_with(name, tenant_id, client_id, secret_var, url, schedule, "")
}

/// The same, with more lines for the tenant's table (kinds, retention subtables…).
pub(crate) fn tenant_toml_with(
    name: &str,
    tenant_id: &str,
    client_id: &str,
    secret_var: &str,
    url: &str,
    schedule: &str,
    more: &str,
) -> String {
    format!(
        "[tenants.{name}]\ntenant_id = \"{tenant_id}\"\nclient_id = \"{client_id}\"\ncloud = \"global\"\ngraph_url = \"{url}\"\nlogin_url = \"{url}\"\nschedule = \"{schedule}\"\n{more}\n[tenants.{name}.secret]\ntype = \"env\"\nvar = \"{secret_var}\"\n\n"
    )
}

pub(crate) fn path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// The `dirvault` CLI binary built beside `dirvaultd` (built here when a test run of this
/// package alone has not built it), to compare the two front ends.
pub(crate) fn cli_binary() -> PathBuf {
    let cli = Path::new(env!("CARGO_BIN_EXE_dirvaultd")).with_file_name("dirvault");
    if !cli.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "dirvault", "--bin", "dirvault"])
            .status()
            .unwrap();
        assert!(status.success(), "building the dirvault CLI");
    }
    cli
}

/// What a loopback webhook receiver saw: each request's headers and body.
pub(crate) type Received = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>;

/// A webhook receiver on loopback that answers 500 to the first `failures` requests and 200
/// after: its URL, and what it saw.
pub(crate) async fn webhook_receiver(failures: usize) -> (String, Received) {
    let seen: Received = Received::default();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |axum::extract::State(seen): axum::extract::State<Received>,
                  headers: axum::http::HeaderMap,
                  body: String| async move {
                let mut seen = seen.lock().unwrap();
                seen.push((headers, body));
                if seen.len() <= failures {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let for_server = seen.clone();
    tokio::spawn(async move {
        axum::serve(listener, router.with_state(for_server))
            .await
            .unwrap();
    });
    (url, seen)
}

/// Sets the `state` of a Conditional Access policy of an emulated tenant (its first policy when
/// `policy` is `None`, the one alert tests switch): the policy's id.
pub(crate) fn set_policy_state(
    emulator: &dirvault_emulator::Emulator,
    tenant_id: &str,
    policy: Option<&str>,
    state: &str,
) -> String {
    use dirvault_emulator::Collection::ConditionalAccessPolicies as Policies;
    emulator
        .with_tenant(tenant_id, |t| {
            let id = policy.map_or_else(
                || t.objects(Policies).unwrap().keys().next().cloned().unwrap(),
                str::to_owned,
            );
            let set = serde_json::json!({ "state": state })
                .as_object()
                .cloned()
                .unwrap();
            t.update(Policies, &id, set).unwrap();
            id
        })
        .unwrap()
}
