//! Key slots: `keys/{slot}.json`, each the master key sealed under a key derived from one
//! password (argon2id) or raw key (HMAC-SHA256, i.e. HKDF-Extract). Any slot opens the
//! repository; adding or removing one never touches data.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Key, Secret, binding};

/// argon2id's cost: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_PASSES: u32 = 2;
const ARGON2_LANES: u32 = 1;

/// What a slot is opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum SlotKind {
    Password,
    Key,
}

/// How a slot's key is derived from its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Derivation {
    /// `argon2id` (passwords) or `hmac-sha256` (raw keys).
    algorithm: String,
    salt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    memory_kib: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    passes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lanes: Option<u32>,
}

/// A stored key slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeySlotFile {
    pub(crate) version: String,
    pub(crate) kind: SlotKind,
    pub(crate) created: DateTime<Utc>,
    /// Where it was made (host name): helps tell slots apart in `key list`.
    #[serde(default)]
    pub(crate) host: String,
    derivation: Derivation,
    /// The master key sealed under the derived key (base64).
    wrapped: String,
}

impl KeySlotFile {
    /// A slot that opens `master` with `secret`, for slot `slot` of repository `repository`.
    pub(crate) fn wrap(master: &Key, secret: &Secret, repository: &str, slot: &str) -> Self {
        let salt: [u8; 16] = rand::random();
        let derivation = match secret {
            Secret::Password(_) => Derivation {
                algorithm: "argon2id".into(),
                salt: BASE64.encode(salt),
                memory_kib: Some(ARGON2_MEMORY_KIB),
                passes: Some(ARGON2_PASSES),
                lanes: Some(ARGON2_LANES),
            },
            Secret::Key(_) => Derivation {
                algorithm: "hmac-sha256".into(),
                salt: BASE64.encode(salt),
                memory_kib: None,
                passes: None,
                lanes: None,
            },
        };
        // The derivation was just made with valid parameters.
        let kek = derive(&derivation, secret).unwrap_or_else(|_| Key::random());
        let sealed = kek.seal(&binding(repository, "", "key-slot", slot), master.bytes());
        Self {
            version: "1".into(),
            kind: if secret.is_password() {
                SlotKind::Password
            } else {
                SlotKind::Key
            },
            created: Utc::now(),
            host: hostname(),
            derivation,
            wrapped: BASE64.encode(sealed),
        }
    }

    /// The master key, when `secret` opens this slot (`None`: another secret's slot, or a
    /// slot that was altered).
    pub(crate) fn unwrap(&self, secret: &Secret, repository: &str, slot: &str) -> Option<Key> {
        // A password never opens a raw-key slot, nor the reverse: skip the derivation.
        if (self.kind == SlotKind::Password) != secret.is_password() {
            return None;
        }
        let kek = derive(&self.derivation, secret).ok()?;
        let sealed = BASE64.decode(&self.wrapped).ok()?;
        let master = Zeroizing::new(kek.open(&binding(repository, "", "key-slot", slot), &sealed)?);
        Some(Key::from_bytes(master.as_slice().try_into().ok()?))
    }
}

/// The key a slot's secret derives.
fn derive(d: &Derivation, secret: &Secret) -> Result<Key, String> {
    let salt = BASE64.decode(&d.salt).map_err(|e| e.to_string())?;
    match (d.algorithm.as_str(), secret) {
        ("argon2id", Secret::Password(password)) => {
            // Bounded, so that an altered slot cannot make an unlock take all memory.
            let memory = d.memory_kib.unwrap_or(ARGON2_MEMORY_KIB).min(1024 * 1024);
            let passes = d.passes.unwrap_or(ARGON2_PASSES).min(64);
            let lanes = d.lanes.unwrap_or(ARGON2_LANES).min(16);
            let params =
                argon2::Params::new(memory, passes, lanes, Some(32)).map_err(|e| e.to_string())?;
            let argon =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let mut out = Zeroizing::new([0u8; 32]);
            argon
                .hash_password_into(password.as_bytes(), &salt, out.as_mut())
                .map_err(|e| e.to_string())?;
            Ok(Key::from_bytes(*out))
        }
        ("hmac-sha256", Secret::Key(raw)) => {
            // HKDF-Extract: HMAC with the salt as key over the input key.
            let salt_key =
                Key::from_bytes(salt.as_slice().try_into().map_or([0; 32], |s: [u8; 16]| {
                    let mut k = [0u8; 32];
                    k[..16].copy_from_slice(&s);
                    k
                }));
            Ok(Key::from_bytes(salt_key.mac(raw.as_ref())))
        }
        (other, _) => Err(format!("unknown key derivation {other:?}")),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_opens_with_its_secret_only() {
        let master = Key::random();
        let password = Secret::password("correct horse battery staple");
        let slot = KeySlotFile::wrap(&master, &password, "repo", "s1");
        let text = serde_json::to_string(&slot).unwrap();
        assert!(!text.contains("correct horse"));
        assert_eq!(
            slot.unwrap(&password, "repo", "s1").unwrap().bytes(),
            master.bytes()
        );
        assert!(
            slot.unwrap(&Secret::password("wrong"), "repo", "s1")
                .is_none()
        );
        assert!(
            slot.unwrap(&password, "other-repo", "s1").is_none(),
            "moved"
        );
        assert!(slot.unwrap(&password, "repo", "s2").is_none(), "renamed");
        let raw = Secret::key_from_hex(&"42".repeat(32)).unwrap();
        let key_slot = KeySlotFile::wrap(&master, &raw, "repo", "s3");
        assert_eq!(key_slot.kind, SlotKind::Key);
        assert_eq!(
            key_slot.unwrap(&raw, "repo", "s3").unwrap().bytes(),
            master.bytes()
        );
        assert!(key_slot.unwrap(&password, "repo", "s3").is_none());
        // An altered slot (here: cheaper parameters) does not open.
        let mut altered: serde_json::Value = serde_json::from_str(&text).unwrap();
        altered["derivation"]["passes"] = 1.into();
        let altered: KeySlotFile = serde_json::from_value(altered).unwrap();
        assert!(altered.unwrap(&password, "repo", "s1").is_none());
    }
}
