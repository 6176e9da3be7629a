//! How a repository is opened: where its password or key comes from (an environment
//! variable, a file, or a command such as a KMS client; never a command-line value), and
//! whether a new one may be created unencrypted. Shared by the CLI and the daemon.

use std::path::{Path, PathBuf};

use dirvault_store::{OpenOptions, Secret};
use serde::{Deserialize, Serialize};

/// The environment variable holding a repository password (or `key:` and 64 hex digits).
pub const PASSWORD_ENV: &str = "DIRVAULT_PASSWORD";

/// The text of a secret that marks a raw key rather than a password.
const KEY_PREFIX: &str = "key:";

/// Where a repository's password or raw key comes from (a tenant's Graph credential is a
/// [`crate::config::SecretSource`], a different thing kept in the configuration).
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An environment variable's value.
    Env(String),
    /// A file's content (trailing newline removed).
    File(PathBuf),
    /// What a command prints (run with `sh -c`; its standard error is passed through).
    Command(String),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names where the secret is, never the secret (a command line names no secret).
        match self {
            Self::Env(name) => write!(f, "Env({name})"),
            Self::File(path) => write!(f, "File({})", path.display()),
            Self::Command(command) => write!(f, "Command({command})"),
        }
    }
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env(name) => write!(f, "the environment variable {name}"),
            Self::File(path) => write!(f, "the file {}", path.display()),
            Self::Command(command) => write!(f, "the command `{command}`"),
        }
    }
}

/// Why a secret could not be read. Never contains the secret.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the repository password from {source_name}: {reason}")]
pub struct SecretError {
    source_name: String,
    reason: String,
}

impl KeySource {
    /// Reads the secret: a password, or a raw key written `key:` followed by 64 hex digits.
    ///
    /// # Errors
    /// When it cannot be read, is empty, or a command fails.
    pub fn read(&self) -> Result<Secret, SecretError> {
        let fail = |reason: String| SecretError {
            source_name: self.to_string(),
            reason,
        };
        let text = zeroize::Zeroizing::new(match self {
            Self::Env(name) => std::env::var(name).map_err(|e| fail(e.to_string()))?,
            Self::File(path) => std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?,
            Self::Command(command) => {
                let out = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(command)
                    .stdin(std::process::Stdio::null())
                    .stderr(std::process::Stdio::inherit())
                    .output()
                    .map_err(|e| fail(format!("cannot run it: {e}")))?;
                if !out.status.success() {
                    return Err(fail(format!("it exited with {}", out.status)));
                }
                String::from_utf8(out.stdout).map_err(|_| fail("it printed non-UTF-8".into()))?
            }
        });
        let trimmed = text.trim_end_matches(['\n', '\r']);
        if trimmed.is_empty() {
            return Err(fail("it is empty".into()));
        }
        match trimmed.strip_prefix(KEY_PREFIX) {
            Some(hex) => Secret::key_from_hex(hex).map_err(fail),
            None => Ok(Secret::password(trimmed)),
        }
    }
}

/// The `[repository]` section of the configuration file: where the password is, for commands
/// not given one otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    /// A file holding the password (or `key:` and 64 hex digits); relative to the
    /// configuration file's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// A command printing it (e.g. a KMS or secret-manager client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_command: Option<String>,
    /// Allow creating a new repository unencrypted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_no_encryption: bool,
}

/// How a front end asks for a repository: the first secret source given wins, in the order
/// command, file, `DIRVAULT_PASSWORD`, then the configuration's.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `--password-command`.
    pub password_command: Option<String>,
    /// `--password-file`.
    pub password_file: Option<PathBuf>,
    /// `--insecure-no-encryption`.
    pub insecure_no_encryption: bool,
}

impl Access {
    /// The options to open the repository with, reading the secret now.
    ///
    /// # Errors
    /// When the chosen source cannot be read.
    pub fn options(
        &self,
        config: Option<(&Path, &RepositoryConfig)>,
    ) -> Result<OpenOptions, SecretError> {
        let (folder, section) = match config {
            Some((path, section)) => (path.parent().unwrap_or(Path::new(".")), Some(section)),
            None => (Path::new("."), None),
        };
        let source = if let Some(command) = &self.password_command {
            Some(KeySource::Command(command.clone()))
        } else if let Some(file) = &self.password_file {
            Some(KeySource::File(file.clone()))
        } else if std::env::var_os(PASSWORD_ENV).is_some() {
            Some(KeySource::Env(PASSWORD_ENV.into()))
        } else if let Some(command) = section.and_then(|s| s.password_command.clone()) {
            Some(KeySource::Command(command))
        } else {
            section
                .and_then(|s| s.password_file.as_ref())
                .map(|file| KeySource::File(folder.join(file)))
        };
        let insecure =
            self.insecure_no_encryption || section.is_some_and(|s| s.insecure_no_encryption);
        Ok(OpenOptions {
            secret: source.map(|s| s.read()).transpose()?,
            require_encryption: !insecure,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_files_and_commands_and_never_show() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret-pass\n").unwrap();
        let secret = KeySource::File(file.clone()).read().unwrap();
        assert!(secret.is_password());
        assert!(!format!("{secret:?}").contains("s3cret"));
        let key = KeySource::Command(format!("printf 'key:{}'", "ab".repeat(32)))
            .read()
            .unwrap();
        assert!(!key.is_password());
        // What a failing command printed is not repeated (the command line is no secret).
        let err = KeySource::Command("echo $((6 * 7))zz; exit 3".into())
            .read()
            .unwrap_err()
            .to_string();
        assert!(err.contains("exited") && !err.contains("42zz"), "{err}");
        let err = KeySource::File(dir.path().join("missing"))
            .read()
            .unwrap_err();
        assert!(err.to_string().contains("missing"));
        std::fs::write(&file, "\n").unwrap();
        assert!(KeySource::File(file).read().is_err(), "empty");
        let err = KeySource::Command("printf key:zz".into())
            .read()
            .unwrap_err();
        assert!(err.to_string().contains("64 hex"), "{err}");
    }

    #[test]
    fn the_first_source_given_wins_and_config_paths_are_relative_to_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("repo.password"), "from-config").unwrap();
        let config = dir.path().join("config.toml");
        let section = RepositoryConfig {
            password_file: Some("repo.password".into()),
            ..RepositoryConfig::default()
        };
        let access = Access::default();
        if std::env::var_os(PASSWORD_ENV).is_none() {
            let options = access.options(Some((&config, &section))).unwrap();
            assert!(options.secret.is_some() && options.require_encryption);
            assert!(access.options(None).unwrap().secret.is_none());
        }
        let insecure = Access {
            insecure_no_encryption: true,
            password_command: Some("echo from-flag".into()),
            ..Access::default()
        };
        let options = insecure.options(Some((&config, &section))).unwrap();
        assert!(!options.require_encryption && options.secret.is_some());
    }
}
