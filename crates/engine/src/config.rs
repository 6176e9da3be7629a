//! The configuration file shared by the CLI and the daemon: the tenants to back up and how to
//! authenticate to each. Secrets are never written here: a tenant names an environment
//! variable or a file that holds its secret, or a certificate and key file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dirvault_graph::{ClientCertificate, Cloud, Credentials, GraphClient};
use dirvault_model::{ClientId, ObjectKind, TenantId};
use dirvault_store::RetentionPolicy;
use serde::{Deserialize, Serialize};

/// Configuration errors: what is wrong, in which file or tenant, and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("config file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for dirvault.
    #[error("config file {path} is invalid: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No such tenant.
    #[error(
        "no tenant named {name:?} in the config: add it with `dirvault tenant add {name} …` (known: {known})"
    )]
    UnknownTenant {
        /// The name asked for.
        name: String,
        /// The names the config has.
        known: String,
    },
    /// A tenant of that name exists.
    #[error("a tenant named {0:?} exists already: remove it first")]
    Exists(String),
    /// A tenant's secret cannot be found.
    #[error("tenant {name}: {reason}")]
    Secret {
        /// The tenant.
        name: String,
        /// What is missing.
        reason: String,
    },
    /// The Graph client could not be built.
    #[error("tenant {name}: {source}")]
    Client {
        /// The tenant.
        name: String,
        /// The error.
        #[source]
        source: dirvault_graph::Error,
    },
}

/// How a tenant's app authenticates. Only references to secrets are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum SecretSource {
    /// A client secret in an environment variable.
    Env {
        /// The variable.
        var: String,
    },
    /// A client secret in a file (first line).
    File {
        /// The file.
        path: PathBuf,
    },
    /// A certificate (PEM) and its private key (PEM; the certificate file when it holds both).
    Certificate {
        /// The certificate.
        certificate: PathBuf,
        /// The private key.
        key: Option<PathBuf>,
    },
}

/// One tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantConfig {
    /// The tenant id.
    pub tenant_id: TenantId,
    /// The app's client id.
    pub client_id: ClientId,
    /// Where its credential is.
    pub secret: SecretSource,
    /// The cloud.
    #[serde(default)]
    pub cloud: Cloud,
    /// An explicit Graph root (e.g. the emulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_url: Option<String>,
    /// An explicit login root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_url: Option<String>,
    /// When the daemon backs it up: `every 12h` (the default, see [`DaemonConfig`]), `every
    /// 30m`, or a cron expression with seconds (`0 0 2 * * *`: 02:00 UTC every day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The kinds the daemon backs up; all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<ObjectKind>,
    /// The retention policy the daemon applies after each backup (then prunes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionConfig>,
}

impl TenantConfig {
    /// A tenant with a credential and Graph's default endpoints; no schedule, kinds or
    /// retention of its own.
    pub fn new(tenant_id: TenantId, client_id: ClientId, secret: SecretSource) -> Self {
        Self {
            tenant_id,
            client_id,
            secret,
            cloud: Cloud::default(),
            graph_url: None,
            login_url: None,
            schedule: None,
            kinds: Vec::new(),
            retention: None,
        }
    }
}

/// A retention policy as the config file spells it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Keep the last N snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<usize>,
    /// Keep the newest snapshot of each of the last N days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<usize>,
    /// Keep the newest snapshot of each of the last N ISO weeks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<usize>,
    /// Keep the newest snapshot of each of the last N months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<usize>,
    /// Keep every snapshot younger than this (`30d`, `12h`, `2w`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_within: Option<String>,
}

impl RetentionConfig {
    /// The store's policy.
    ///
    /// # Errors
    /// A message naming a `keep_within` that is not a duration.
    pub fn policy(&self) -> Result<RetentionPolicy, String> {
        Ok(RetentionPolicy {
            keep_last: self.keep_last,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
            keep_monthly: self.keep_monthly,
            keep_within: self
                .keep_within
                .as_deref()
                .map(dirvault_store::parse_duration)
                .transpose()?,
        })
    }
}

/// The daemon's settings (`[daemon]`); the CLI ignores them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// Where the API listens.
    pub listen: String,
    /// The repository (path, `s3://bucket/prefix`); `--repo` / `DIRVAULT_REPO` override it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Backups (and restores) running at once on this replica.
    pub max_concurrent_jobs: usize,
    /// The schedule of tenants without one of their own.
    pub default_schedule: String,
    /// How often the scheduler looks for due work, in seconds.
    pub tick_seconds: u64,
    /// A tenant lease's lifetime, in seconds: a replica that dies loses its tenants to the
    /// others this long after its last renewal.
    pub lease_seconds: u64,
    /// First retry delay after a failed backup, in seconds (doubling, up to the next slot).
    pub retry_seconds: u64,
    /// How long running jobs may take to finish at shutdown, in seconds.
    pub shutdown_grace_seconds: u64,
    /// The redirect URI of the MSP's multi-tenant app, for admin-consent URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_redirect_uri: Option<String>,
    /// The multi-tenant app's client id, for admin-consent URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_client_id: Option<ClientId>,
    /// API keys: who may call the API, and for which tenants.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<ApiKeyConfig>,
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
            consent_redirect_uri: None,
            consent_client_id: None,
            api_keys: Vec::new(),
        }
    }
}

/// One API key. The key itself is never in the file: its SHA-256, or an environment variable
/// or file that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// A name for logs and metrics.
    pub name: String,
    /// Hex SHA-256 of the key (`dirvaultd hash-key` prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// An environment variable holding the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// A file whose first line is the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The tenants this key may see and touch; every tenant when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenants: Option<Vec<String>>,
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Tenants by name.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantConfig>,
    /// The daemon's settings.
    #[serde(default)]
    pub daemon: DaemonConfig,
}

impl Config {
    /// The default location: `$XDG_CONFIG_HOME/dirvault/config.toml` (or the platform's).
    pub fn default_path() -> PathBuf {
        dirs::config_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("dirvault")
            .join("config.toml")
    }

    /// Reads a config file; a missing file is an empty config.
    ///
    /// # Errors
    /// [`ConfigError::Io`], [`ConfigError::Parse`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => {
                return Err(ConfigError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Writes the config file (creating its directory).
    ///
    /// # Errors
    /// [`ConfigError::Io`].
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let io = |source| ConfigError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        std::fs::write(path, text).map_err(io)
    }

    /// A tenant by name.
    ///
    /// # Errors
    /// [`ConfigError::UnknownTenant`].
    pub fn tenant(&self, name: &str) -> Result<&TenantConfig, ConfigError> {
        self.tenants
            .get(name)
            .ok_or_else(|| ConfigError::UnknownTenant {
                name: name.to_owned(),
                known: if self.tenants.is_empty() {
                    "none".into()
                } else {
                    self.tenants.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            })
    }
}

impl TenantConfig {
    /// Resolves the credential and builds a Graph client.
    ///
    /// # Errors
    /// [`ConfigError::Secret`] when the secret is not where the config says; [`ConfigError::Client`].
    pub fn client(&self, name: &str) -> Result<GraphClient, ConfigError> {
        let secret_err = |reason: String| ConfigError::Secret {
            name: name.to_owned(),
            reason,
        };
        let credentials = match &self.secret {
            SecretSource::Env { var } => {
                let value = std::env::var(var).map_err(|_| secret_err(format!("the environment variable {var} that should hold the client secret is not set")))?;
                Credentials::secret(self.client_id.clone(), value.trim().to_owned())
            }
            SecretSource::File { path } => {
                let value = std::fs::read_to_string(path).map_err(|e| {
                    secret_err(format!(
                        "cannot read the client secret file {}: {e}",
                        path.display()
                    ))
                })?;
                Credentials::secret(
                    self.client_id.clone(),
                    value.lines().next().unwrap_or("").trim().to_owned(),
                )
            }
            SecretSource::Certificate { certificate, key } => {
                let cert = std::fs::read_to_string(certificate).map_err(|e| {
                    secret_err(format!(
                        "cannot read the certificate {}: {e}",
                        certificate.display()
                    ))
                })?;
                let key_path = key.as_ref().unwrap_or(certificate);
                let key = std::fs::read_to_string(key_path).map_err(|e| {
                    secret_err(format!(
                        "cannot read the private key {}: {e}",
                        key_path.display()
                    ))
                })?;
                let certificate = ClientCertificate::from_pem(&self.client_id, &cert, &key)
                    .map_err(|e| secret_err(e.to_string()))?;
                Credentials::Certificate {
                    client_id: self.client_id.clone(),
                    certificate,
                }
            }
        };
        let mut builder = GraphClient::builder(self.tenant_id.clone())
            .with_credentials(credentials)
            .with_cloud(self.cloud);
        if self.graph_url.is_some() || self.login_url.is_some() {
            let graph = self
                .graph_url
                .clone()
                .unwrap_or_else(|| self.cloud.graph_root().to_owned());
            let login = self
                .login_url
                .clone()
                .unwrap_or_else(|| self.cloud.login_root().to_owned());
            builder = builder.with_endpoints(&graph, &login);
        }
        builder.build().map_err(|source| ConfigError::Client {
            name: name.to_owned(),
            source,
        })
    }
}
