//! The configuration file shared by the CLI and the daemon: the tenants to back up and how to
//! authenticate to each. A program's own sections (the daemon's `[daemon]`) are its business:
//! [`ConfigFile`] takes them as a type parameter, and [`Config`] keeps them as they are. Secrets are never written here in clear: a tenant names an
//! environment variable or a file that holds its secret, or a certificate and key file (what
//! an operator writes), or holds a secret the daemon's API took, sealed with the daemon's key
//! ([`crate::sealed`]).
//!
//! The file is written whole or not at all ([`Config::save`]: a temporary file, fsync,
//! rename), and a file that does not parse, or names a tenant or id that is not valid, is
//! refused whole ([`Config::load`]).

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
    /// A client secret the daemon's API took, sealed with the key in
    /// `[daemon] secrets_key_file` for this tenant id and client id.
    Sealed {
        /// The sealed value.
        sealed: String,
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
    /// When the daemon backs it up: `every 12h` (the daemon's default schedule when absent), `every
    /// 30m`, or a cron expression with seconds (`0 0 2 * * *`: 02:00 UTC every day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The kinds the daemon backs up; all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<ObjectKind>,
    /// The retention policy the daemon applies after each backup (then prunes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionConfig>,
    /// Which alert rules fire on its snapshots, and their thresholds (docs/alerts.md).
    #[serde(default, skip_serializing_if = "is_default_alerts")]
    pub alerts: crate::alerts::AlertSettings,
}

fn is_default_alerts(settings: &crate::alerts::AlertSettings) -> bool {
    *settings == crate::alerts::AlertSettings::default()
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
            alerts: crate::alerts::AlertSettings::default(),
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
            allow_empty: false,
        })
    }
}

/// The whole configuration file: the tenants, and the sections of the program that reads it
/// (the daemon's `[daemon]`), which this crate does not interpret. `S` is what the program
/// makes of them; [`Config`] keeps them as they are ([`OtherSections`]), so that a program
/// that rewrites the file (the CLI adding a tenant) keeps another's sections.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize",
    deserialize = "S: Deserialize<'de> + Default"
))]
pub struct ConfigFile<S> {
    /// Tenants by name.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Where the repository's password is (`[repository]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<crate::repository_access::RepositoryConfig>,
    /// The other sections of the file.
    #[serde(flatten, default)]
    pub sections: S,
}

/// A program's own sections of the configuration file.
pub trait Sections: Serialize + serde::de::DeserializeOwned + Default {
    /// What [`Config::load`] checks of them beyond their syntax (and [`Config::save`] before
    /// it writes them).
    ///
    /// # Errors
    /// What is wrong, naming the section and key.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The configuration file with the other sections kept as they are: what the CLI and an
/// embedder read and write.
pub type Config = ConfigFile<OtherSections>;

/// Sections kept as they are: a TOML table of everything but `tenants`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OtherSections(pub toml::Table);

impl Sections for OtherSections {}

impl<S: Sections> ConfigFile<S> {
    /// The default location: `$XDG_CONFIG_HOME/dirvault/config.toml` (or the platform's).
    pub fn default_path() -> PathBuf {
        dirs::config_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("dirvault")
            .join("config.toml")
    }

    /// Reads a config file; a missing file is an empty config. A file that does not parse,
    /// or names an invalid tenant name or id, is refused whole.
    ///
    /// # Errors
    /// [`ConfigError::Io`], [`ConfigError::Parse`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
            Err(source) => {
                return Err(ConfigError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let parse = |reason: String| ConfigError::Parse {
            path: path.to_owned(),
            reason,
        };
        let config: ConfigFile<S> = toml::from_str(&text).map_err(|e| parse(e.to_string()))?;
        config.validate().map_err(parse)?;
        Ok(config)
    }

    /// What [`Config::load`] checks beyond the syntax: tenant names and ids (the file is
    /// written by hand, and ids are read unchecked).
    fn validate(&self) -> Result<(), String> {
        for (name, t) in &self.tenants {
            check_tenant_name(name)?;
            TenantId::new(t.tenant_id.as_str()).map_err(|e| format!("tenant {name}: {e}"))?;
            ClientId::new(t.client_id.as_str()).map_err(|e| format!("tenant {name}: {e}"))?;
        }
        self.sections.validate()
    }

    /// Writes the config file (creating its directory) whole or not at all: a temporary file
    /// beside it, flushed to disk, renamed over it. A reader never sees half a file, and a
    /// crash leaves the old one or the new one.
    ///
    /// # Errors
    /// [`ConfigError::Io`]; [`ConfigError::Parse`] for a config [`Config::load`] would refuse.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let io = |source| ConfigError::Io {
            path: path.to_owned(),
            source,
        };
        // What `load` would refuse is never written: it would lock its writer out.
        self.validate().map_err(|reason| ConfigError::Parse {
            path: path.to_owned(),
            reason,
        })?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io)?;
        file.as_file().sync_all().map_err(io)?;
        // Keep the old file's permissions (a config may be readable by its owner only).
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(file.path(), meta.permissions()).map_err(io)?;
        }
        file.persist(path).map_err(|e| io(e.error))?;
        #[cfg(unix)]
        if let Ok(d) = std::fs::File::open(dir) {
            // The rename is durable once the directory is.
            let _ = d.sync_all();
        }
        Ok(())
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

/// Checks a tenant name: 1 to 64 letters, digits, `-`, `_` or `.` (it names the tenant in
/// URLs, logs, metrics labels and file names).
///
/// # Errors
/// What is wrong with it.
pub fn check_tenant_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "tenant name {:?}: use 1 to 64 letters, digits, '-', '_' or '.' (not first)",
            name.chars().take(80).collect::<String>()
        ));
    }
    Ok(())
}

impl TenantConfig {
    /// Resolves the credential and builds a Graph client. A sealed secret needs the config's
    /// key: use [`TenantConfig::client_with`] with the key's path, as the daemon does.
    ///
    /// # Errors
    /// [`ConfigError::Secret`] when the secret is not where the config says; [`ConfigError::Client`].
    pub fn client(&self, name: &str) -> Result<GraphClient, ConfigError> {
        self.client_with(name, None)
    }

    /// [`TenantConfig::client`], opening a sealed secret with the key in `sealing_key`.
    ///
    /// # Errors
    /// As [`TenantConfig::client`]; [`ConfigError::Secret`] when a sealed secret does not
    /// open.
    pub fn client_with(
        &self,
        name: &str,
        sealing_key: Option<&Path>,
    ) -> Result<GraphClient, ConfigError> {
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
            SecretSource::Sealed { sealed } => {
                let path = sealing_key.ok_or_else(|| {
                    secret_err("the client secret is sealed by the daemon: only the daemon, which holds its key, can use it".into())
                })?;
                let key =
                    crate::sealed::SealingKey::load(path).map_err(|e| secret_err(e.to_string()))?;
                let secret = key
                    .open(&self.tenant_id, &self.client_id, sealed)
                    .map_err(|e| secret_err(e.to_string()))?;
                Credentials::secret(
                    self.client_id.clone(),
                    secrecy::ExposeSecret::expose_secret(&secret).to_owned(),
                )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path)
    }

    const TENANT: &str = "tenant_id = \"5f1c2d3e-0000-4000-8000-000000000000\"\nclient_id = \"11111111-2222-4333-8444-555555555555\"\n[tenants.{name}.secret]\ntype = \"env\"\nvar = \"X\"\n";

    fn tenant(name: &str, id: &str) -> String {
        format!("[tenants.{name}]\n{}", TENANT.replace("{name}", name))
            .replace("5f1c2d3e-0000-4000-8000-000000000000", id)
    }

    // Regressions: `tenant_id = "a/b c"` became a storage path; a tenant name with a newline
    // was accepted.
    #[test]
    fn a_config_with_invalid_names_ids_or_limits_is_refused_whole() {
        assert!(load(&tenant("contoso", "5f1c2d3e-0000-4000-8000-000000000000")).is_ok());
        for bad in [
            tenant("contoso", "a/b c"),
            tenant("\"a\\nb\"", "5f1c2d3e-0000-4000-8000-000000000000"),
            tenant("\"../x\"", "5f1c2d3e-0000-4000-8000-000000000000"),
        ] {
            let err = load(&bad).unwrap_err();
            assert!(matches!(err, ConfigError::Parse { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn another_programs_sections_are_kept_when_the_file_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let text = format!(
            "{}\n[daemon]\nlisten = \"127.0.0.1:9\"\n[[daemon.api_keys]]\nname = \"k\"\nenv = \"K\"\n",
            tenant("contoso", "5f1c2d3e-0000-4000-8000-000000000000")
        );
        std::fs::write(&path, text).unwrap();
        let mut config: Config = Config::load(&path).unwrap();
        config.tenants.remove("contoso");
        config.save(&path).unwrap();
        let again: Config = Config::load(&path).unwrap();
        assert!(again.tenants.is_empty());
        assert_eq!(
            again.sections.0["daemon"]["listen"].as_str(),
            Some("127.0.0.1:9")
        );
        assert_eq!(
            again.sections.0["daemon"]["api_keys"][0]["env"].as_str(),
            Some("K")
        );
    }

    #[test]
    fn a_config_that_load_would_refuse_is_never_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let mut config = load(&tenant("contoso", "5f1c2d3e-0000-4000-8000-000000000000")).unwrap();
        config.save(&path).unwrap();
        let good = std::fs::read_to_string(&path).unwrap();
        let entry = config.tenants["contoso"].clone();
        config.tenants.insert("bad\nname".into(), entry);
        assert!(config.save(&path).is_err());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            good,
            "the file is unchanged"
        );
    }
}
