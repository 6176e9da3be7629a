//! The workspace's shared test setup: an emulated tenant served over real HTTP on loopback,
//! and Graph clients for it. Every crate's integration tests start from here rather than
//! each writing the same setup (tests/tests holds the workspace-level checks).
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let tenant = dirvault_testkit::EmulatedTenant::start("tiny", 1).await;
//! let me = tenant.client().get("/organization").await.unwrap();
//! assert!(me["value"].is_array());
//! # }
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a failed setup is a failed test

use std::time::Duration;

use dirvault_emulator::{
    Emulator, EmulatorConfig, FaultConfig, RunningEmulator, Tenant, TenantInfo, TenantSpec,
    ThrottleConfig,
};
use dirvault_graph::{Credentials, GraphClient, RetryOptions};
use dirvault_model::TenantId;

/// One generated tenant (named `contoso`) served by its own emulator.
pub struct EmulatedTenant {
    /// The emulator, to change the tenant as an admin would or to inject faults.
    pub emulator: Emulator,
    /// Its HTTP server (stops when dropped).
    pub server: RunningEmulator,
    /// The tenant's id and app credentials.
    pub info: TenantInfo,
}

impl EmulatedTenant {
    /// A `contoso` tenant of a preset size (`tiny`, `small`, …) and seed, throttling off
    /// (tests of throttling use [`EmulatedTenant::start_with`]).
    pub async fn start(size: &str, seed: u64) -> Self {
        Self::start_with(
            size,
            seed,
            EmulatorConfig {
                throttle: ThrottleConfig { scale: 0.0 },
                ..EmulatorConfig::default()
            },
        )
        .await
    }

    /// As [`EmulatedTenant::start`], with the emulator configured by `config`.
    pub async fn start_with(size: &str, seed: u64, config: EmulatorConfig) -> Self {
        let emulator = Emulator::new(config);
        let info = emulator
            .create_tenant(&TenantSpec::preset("contoso", size, seed).unwrap())
            .unwrap();
        let server = emulator.start("127.0.0.1:0").await.unwrap();
        Self {
            emulator,
            server,
            info,
        }
    }

    /// The tenant's id.
    pub fn tenant_id(&self) -> TenantId {
        self.info.tenant_id.parse().unwrap()
    }

    /// A client with the tenant's app credentials and [`fast_retries`].
    pub fn client(&self) -> GraphClient {
        self.client_with(self.credentials(), fast_retries())
    }

    /// The tenant's app credentials (client secret).
    pub fn credentials(&self) -> Credentials {
        Credentials::secret(
            self.info.client_id.parse().unwrap(),
            self.info.client_secret.clone(),
        )
    }

    /// A client with these credentials and retries.
    pub fn client_with(&self, credentials: Credentials, retry: RetryOptions) -> GraphClient {
        GraphClient::builder(self.tenant_id())
            .with_credentials(credentials)
            .with_endpoints(&self.server.url(), &self.server.url())
            .with_retry(retry)
            .build()
            .unwrap()
    }

    /// Runs `f` on the tenant's state (an admin's change, a look at what Graph holds).
    pub fn mutate<R>(&self, f: impl FnOnce(&mut Tenant) -> R) -> R {
        self.emulator.with_tenant(&self.info.tenant_id, f).unwrap()
    }

    /// Replaces the tenant's faults.
    pub fn faults(&self, config: FaultConfig) {
        self.mutate(|t| t.faults = dirvault_emulator::faults::Faults::new(config));
    }
}

/// Retries quick enough for tests: up to four, 5–50 ms apart.
pub fn fast_retries() -> RetryOptions {
    RetryOptions {
        max_retries: 4,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_throttled_wait: Duration::from_secs(10),
    }
}

/// A `dirvaultd` just spawned with `--listen 127.0.0.1:0` and a piped stdout: its base URL,
/// and the whole first line it printed, which says where it listens and who it is
/// (`{"listening": "127.0.0.1:PORT", "node": …}`).
///
/// # Errors
/// The line it printed instead (it did not start).
pub fn daemon_started(
    child: &mut std::process::Child,
) -> Result<(String, serde_json::Value), String> {
    use std::io::BufRead;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
    }
    let first: serde_json::Value = serde_json::from_str(&line).map_err(|_| line.clone())?;
    let url = first["listening"]
        .as_str()
        .map(|at| format!("http://{at}"))
        .ok_or(line)?;
    Ok((url, first))
}

/// A `dirvaultd` a test or benchmark started, killed when dropped.
#[derive(Debug)]
pub struct SpawnedDaemon {
    /// The process.
    pub child: std::process::Child,
    /// Its base URL.
    pub url: String,
}

impl SpawnedDaemon {
    /// Spawns `command` (a `dirvaultd run --listen 127.0.0.1:0`) with a piped stdout and waits
    /// for the line saying where it listens.
    ///
    /// # Errors
    /// It could not be spawned, or printed something else first.
    pub fn start(mut command: std::process::Command) -> Result<Self, String> {
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let (url, _) = daemon_started(&mut child)?;
        Ok(Self { child, url })
    }
}

impl Drop for SpawnedDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A benchmark's own arguments: `cargo bench -- A B` runs it with `A B --bench`, and the
/// flags are cargo's, not the benchmark's.
pub fn bench_args() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect()
}
