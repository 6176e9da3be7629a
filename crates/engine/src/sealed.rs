//! Client secrets sealed at rest: the daemon takes a secret's *value* through its API (which
//! never accepts a reference to an environment variable or a file, since those would let a
//! caller send the daemon's own secrets anywhere) and keeps it in the config file encrypted
//! with XChaCha20-Poly1305 under a key of its own, in a file only its user can read.
//!
//! The associated data binds a sealed value to its tenant id and client id: copied into
//! another tenant's entry, it does not open.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use dirvault_model::{ClientId, TenantId};
use secrecy::{ExposeSecret, SecretString};

/// What sealing or opening a secret failed on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The key file could not be read or created.
    #[error("secrets key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key file does not hold a key.
    #[error(
        "secrets key file {path} does not hold a key (64 hex digits): restore it from your backup of the daemon's files"
    )]
    BadKey {
        /// The file.
        path: PathBuf,
    },
    /// The sealed value does not open with this key for this tenant.
    #[error(
        "the sealed client secret of tenant {tenant} does not open with the key in {path}: it was sealed with another key or for another tenant; set the secret again"
    )]
    Open {
        /// The tenant id.
        tenant: TenantId,
        /// The key file.
        path: PathBuf,
    },
}

/// Prefix of a sealed value: its format, so that another one can follow.
const FORMAT: &str = "xc20p1:";

/// The daemon's key for sealed secrets.
pub struct SealingKey {
    key: Key,
    path: PathBuf,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKey")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn associated_data(tenant: &TenantId, client: &ClientId) -> Vec<u8> {
    format!("dirvault sealed client secret\0{tenant}\0{client}").into_bytes()
}

impl SealingKey {
    /// Reads the key in `path`.
    ///
    /// # Errors
    /// [`SealError::KeyFile`], [`SealError::BadKey`].
    pub fn load(path: &Path) -> Result<Self, SealError> {
        let text = std::fs::read_to_string(path).map_err(|source| SealError::KeyFile {
            path: path.to_owned(),
            source,
        })?;
        let bytes = hex::decode(text.trim()).map_err(|_| SealError::BadKey {
            path: path.to_owned(),
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey {
            path: path.to_owned(),
        })?;
        Ok(Self {
            key: key.into(),
            path: path.to_owned(),
        })
    }

    /// Reads the key in `path`, or makes one there (readable by its owner only) when there is
    /// no file yet.
    ///
    /// # Errors
    /// As [`SealingKey::load`]; [`SealError::KeyFile`] when the file cannot be created.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        let io = |source| SealError::KeyFile {
            path: path.to_owned(),
            source,
        };
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(hex::encode(key).as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(Self {
                    key,
                    path: path.to_owned(),
                })
            }
            // Made by someone else meanwhile, or there already: use it.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(path),
            Err(e) => Err(io(e)),
        }
    }

    /// Seals `secret` for the tenant's app.
    pub fn seal(&self, tenant: &TenantId, client: &ClientId, secret: &SecretString) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let cipher = XChaCha20Poly1305::new(&self.key);
        let aad = associated_data(tenant, client);
        // Encryption into a Vec fails only on a message longer than the cipher's limit
        // (256 GiB): a client secret never is.
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.expose_secret().as_bytes(),
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!(
            "{FORMAT}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// Opens a value [`SealingKey::seal`] made for the same tenant and app.
    ///
    /// # Errors
    /// [`SealError::Open`] when it was sealed with another key, for another tenant or app,
    /// or was changed.
    pub fn open(
        &self,
        tenant: &TenantId,
        client: &ClientId,
        sealed: &str,
    ) -> Result<SecretString, SealError> {
        let fail = || SealError::Open {
            tenant: tenant.clone(),
            path: self.path.clone(),
        };
        let bytes = sealed
            .strip_prefix(FORMAT)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .ok_or_else(fail)?;
        if bytes.len() < 24 {
            return Err(fail());
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let aad = associated_data(tenant, client);
        let plain = XChaCha20Poly1305::new(&self.key)
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| fail())?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| fail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(t: &str) -> (TenantId, ClientId) {
        (
            t.parse().unwrap(),
            "11111111-2222-3333-4444-555555555555".parse().unwrap(),
        )
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_tenant_and_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let key = SealingKey::load_or_create(&path).unwrap();
        let (tenant, client) = ids("aaaaaaaa-0000-0000-0000-000000000001");
        let sealed = key.seal(&tenant, &client, &SecretString::from("s3cret-value"));
        assert!(!sealed.contains("s3cret"), "{sealed}");
        let again = SealingKey::load_or_create(&path).unwrap();
        assert_eq!(
            again
                .open(&tenant, &client, &sealed)
                .unwrap()
                .expose_secret(),
            "s3cret-value"
        );
        // Moved to another tenant's entry: refused.
        let (other, _) = ids("bbbbbbbb-0000-0000-0000-000000000002");
        assert!(matches!(
            again.open(&other, &client, &sealed),
            Err(SealError::Open { .. })
        ));
        // Another key: refused.
        let other_key = SealingKey::load_or_create(&dir.path().join("other.key")).unwrap();
        assert!(other_key.open(&tenant, &client, &sealed).is_err());
        // A flipped character, a truncated value, garbage: refused, no panic.
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 3;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        for bad in [
            String::from_utf8(flipped).unwrap(),
            sealed[..20].to_owned(),
            "xc20p1:".to_owned(),
            "garbage".to_owned(),
        ] {
            assert!(again.open(&tenant, &client, &bad).is_err(), "{bad}");
        }
        // Debug shows no key material.
        let shown = format!("{again:?}");
        assert!(
            !shown.contains(&std::fs::read_to_string(&path).unwrap()),
            "{shown}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        SealingKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
