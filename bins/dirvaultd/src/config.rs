//! The daemon's sections of the configuration file (`[daemon]`): where it listens, its API
//! keys, limits and timers. The tenants are the engine's ([`dirvault_engine::config`]); the CLI
//! keeps these sections as they are when it rewrites the file.

use std::path::{Path, PathBuf};

use dirvault_engine::config::{ConfigError, ConfigFile, Sections};
use dirvault_graph::GraphClient;
use dirvault_model::{ClientId, TenantId};
use serde::{Deserialize, Serialize};

/// The configuration file as the daemon reads it.
pub(crate) type DaemonFile = ConfigFile<DaemonSections>;

/// The daemon's sections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DaemonSections {
    /// `[daemon]`.
    #[serde(default)]
    pub(crate) daemon: DaemonConfig,
}

impl Sections for DaemonSections {
    fn validate(&self) -> Result<(), String> {
        let d = &self.daemon;
        for (what, value, range) in [
            ("lease_seconds", d.lease_seconds, 1..=86_400),
            ("retry_seconds", d.retry_seconds, 1..=86_400),
            ("tick_seconds", d.tick_seconds, 1..=3_600),
            (
                "shutdown_grace_seconds",
                d.shutdown_grace_seconds,
                0..=86_400,
            ),
            ("header_timeout_seconds", d.header_timeout_seconds, 1..=600),
            (
                "request_timeout_seconds",
                d.request_timeout_seconds,
                1..=86_400,
            ),
        ] {
            if !range.contains(&value) {
                return Err(format!(
                    "[daemon] {what} = {value}: must be from {} to {}",
                    range.start(),
                    range.end()
                ));
            }
        }
        if !(1..=1_024).contains(&d.max_concurrent_jobs) {
            return Err(format!(
                "[daemon] max_concurrent_jobs = {}: must be from 1 to 1024",
                d.max_concurrent_jobs
            ));
        }
        for key in &d.api_keys {
            for id in key.tenant_ids.iter().flatten() {
                TenantId::new(id.as_str()).map_err(|e| format!("API key {:?}: {e}", key.name))?;
            }
        }
        Ok(())
    }
}

/// Where the key that seals secrets taken through the API is, for the configuration file at
/// `path`: `[daemon] secrets_key_file` (relative to the file's directory), or
/// `dirvaultd-secrets.key` beside it.
pub(crate) fn secrets_key_path(config: &DaemonFile, path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    match &config.sections.daemon.secrets_key_file {
        Some(file) => dir.join(file),
        None => dir.join("dirvaultd-secrets.key"),
    }
}

/// The Graph client of tenant `name`, for the configuration file at `path` (which locates the
/// key of sealed secrets).
///
/// # Errors
/// As [`ConfigFile::tenant`] and [`dirvault_engine::config::TenantConfig::client_with`].
// The error carries the Graph client's, as in the engine (which allows this crate-wide):
// rare and cold, and matched on.
#[allow(clippy::result_large_err)]
pub(crate) fn client(
    config: &DaemonFile,
    path: &Path,
    name: &str,
) -> Result<GraphClient, ConfigError> {
    config
        .tenant(name)?
        .client_with(name, Some(&secrets_key_path(config, path)))
}

/// The daemon's settings (`[daemon]`); the CLI ignores them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct DaemonConfig {
    /// Where the API listens.
    pub(crate) listen: String,
    /// The repository (path, `s3://bucket/prefix`); `--repo` / `DIRVAULT_REPO` override it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) repo: Option<String>,
    /// Backups (and restores) running at once on this replica.
    pub(crate) max_concurrent_jobs: usize,
    /// The schedule of tenants without one of their own.
    pub(crate) default_schedule: String,
    /// How often the scheduler looks for due work, in seconds.
    pub(crate) tick_seconds: u64,
    /// A tenant lease's lifetime, in seconds: a replica that dies loses its tenants to the
    /// others this long after its last renewal.
    pub(crate) lease_seconds: u64,
    /// First retry delay after a failed backup, in seconds (doubling, up to the next slot).
    pub(crate) retry_seconds: u64,
    /// How long running jobs may take to finish at shutdown, in seconds.
    pub(crate) shutdown_grace_seconds: u64,
    /// A client has this long to send a request's head (and a kept-alive connection may be
    /// idle this long), in seconds: slow or silent clients are disconnected.
    pub(crate) header_timeout_seconds: u64,
    /// A request's body must arrive, and its answer start, within this, in seconds.
    pub(crate) request_timeout_seconds: u64,
    /// The redirect URI of the MSP's multi-tenant app, for admin-consent URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) consent_redirect_uri: Option<String>,
    /// The multi-tenant app's client id, for admin-consent URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) consent_client_id: Option<ClientId>,
    /// API keys: who may call the API, and for which tenants.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) api_keys: Vec<ApiKeyConfig>,
    /// The key that seals client secrets taken through the API (created, readable by its
    /// owner only, when the first one is sealed). Default: `dirvaultd-secrets.key` beside the
    /// config file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) secrets_key_file: Option<PathBuf>,
    /// Graph and login roots other than the known clouds' that tenants added through the API
    /// may use (an emulator, a proxy). Only the operator writing this file can name one: the
    /// API refuses any other, so a caller cannot send a tenant's credentials to a host of its
    /// choosing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) api_endpoints: Vec<EndpointConfig>,
    /// Where alerts are sent after each backup that raises some (docs/alerts.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) webhook: Option<WebhookConfig>,
}

/// The alert webhook: a URL, and the secret its deliveries are signed with (by reference:
/// never in the file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookConfig {
    /// Where each delivery is POSTed.
    pub(crate) url: String,
    /// An environment variable holding the signing secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) secret_env: Option<String>,
    /// A file whose first line is the signing secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) secret_file: Option<PathBuf>,
    /// Attempts per delivery before it is given up (and counted failed).
    #[serde(default = "default_webhook_attempts")]
    pub(crate) attempts: u32,
    /// The wait before the first retry, in milliseconds; it doubles at each retry.
    #[serde(default = "default_webhook_retry_ms")]
    pub(crate) first_retry_ms: u64,
}

fn default_webhook_attempts() -> u32 {
    6
}

fn default_webhook_retry_ms() -> u64 {
    2_000
}

/// A Graph root and a login root, allowed for tenants added through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EndpointConfig {
    /// The Graph root (`…/v1.0` is added).
    pub(crate) graph_url: String,
    /// The login root (`…/{tenant}/oauth2/v2.0/token`).
    pub(crate) login_url: String,
}

impl EndpointConfig {
    /// Whether this pair is `graph` and `login` (trailing slashes aside).
    pub(crate) fn matches(&self, graph: &str, login: &str) -> bool {
        let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
        same(&self.graph_url, graph) && same(&self.login_url, login)
    }
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8480".into(),
            repo: None,
            max_concurrent_jobs: 4,
            default_schedule: "every 12h".into(),
            tick_seconds: 5,
            lease_seconds: 600,
            retry_seconds: 60,
            shutdown_grace_seconds: 30,
            header_timeout_seconds: 10,
            request_timeout_seconds: 600,
            consent_redirect_uri: None,
            consent_client_id: None,
            api_keys: Vec::new(),
            secrets_key_file: None,
            api_endpoints: Vec::new(),
            webhook: None,
        }
    }
}

/// One API key. The key itself is never in the file: its SHA-256, or an environment variable
/// or file that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiKeyConfig {
    /// A name for logs and metrics.
    pub(crate) name: String,
    /// Hex SHA-256 of the key (`dirvaultd hash-key` prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sha256: Option<String>,
    /// An environment variable holding the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) env: Option<String>,
    /// A file whose first line is the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) file: Option<PathBuf>,
    /// The tenant ids this key may see and touch (their configuration entries and their
    /// data in the repository); absent: an admin key, for every tenant and for adding,
    /// removing and re-pointing tenants. A scope names tenant ids, not names, so that no
    /// change of the names in this file moves a key to another customer's data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tenant_ids: Option<Vec<TenantId>>,
}

/// A secret the configuration names by reference: the value of an environment variable, or
/// the first line of a file. `what` names it in errors (never the value).
pub(crate) fn secret_by_reference(
    what: &str,
    env: Option<&str>,
    file: Option<&Path>,
) -> anyhow::Result<zeroize::Zeroizing<String>> {
    use anyhow::Context as _;
    let text = match (env, file) {
        (Some(var), None) => zeroize::Zeroizing::new(
            std::env::var(var)
                .with_context(|| format!("{what}: the environment variable {var} is not set"))?,
        ),
        (None, Some(path)) => zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("{what}: cannot read {}", path.display()))?,
        ),
        _ => anyhow::bail!("{what}: give exactly one of an environment variable or a file"),
    };
    Ok(zeroize::Zeroizing::new(
        text.lines().next().unwrap_or_default().to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Regression: large lease seconds made chrono panic.
    #[test]
    fn daemon_limits_and_key_scopes_are_checked_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        for bad in [
            "[daemon]\nlease_seconds = 99999999999999\n",
            "[daemon]\nmax_concurrent_jobs = 0\n",
            "[daemon]\nnot_a_setting = 1\n",
            "[[daemon.api_keys]]\nname = \"k\"\nsha256 = \"x\"\ntenant_ids = [\"a b\"]\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = DaemonFile::load(&path).unwrap_err();
            assert!(matches!(err, ConfigError::Parse { .. }), "{bad}: {err}");
        }
        std::fs::write(&path, "[daemon]\nlease_seconds = 60\n").unwrap();
        assert_eq!(
            DaemonFile::load(&path)
                .unwrap()
                .sections
                .daemon
                .lease_seconds,
            60
        );
    }
}
