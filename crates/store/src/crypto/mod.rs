//! Repository encryption (see docs/storage-format.md, "Encryption").
//!
//! Keys: a repository **master key** wrapped by one or more **key slots** (a password through
//! argon2id, or a raw key); under it, one **tenant key** per tenant (a data key and a content-id
//! key), so that deleting a tenant's key makes its data unreadable at once. Every stored object
//! is sealed with XChaCha20-Poly1305 (a random 24-byte nonce each), its associated data binding
//! it to the repository, the tenant, what it is and its name, so that a blob, record or file
//! moved, swapped or replayed from elsewhere does not open. Content ids are HMAC-SHA256 under
//! the tenant's id key: object names and ids reveal nothing about content.
//!
//! All primitives are RustCrypto's; nothing here is home-made beyond putting them together.

mod secret;
mod slots;

pub use secret::Secret;
pub(crate) use slots::{KeySlotFile, SlotKind};

use std::fmt;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::format::BlobId;

/// Bytes a sealed object has beyond its plaintext: the nonce and the tag.
#[cfg(test)]
const SEAL_OVERHEAD: usize = NONCE_BYTES + 16;
const NONCE_BYTES: usize = 24;

/// A 256-bit key: wiped when dropped, never printed.
#[derive(Clone)]
pub(crate) struct Key(Zeroizing<[u8; 32]>);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(redacted)")
    }
}

impl Key {
    /// A new random key (the operating system's generator).
    pub(crate) fn random() -> Self {
        Self(Zeroizing::new(rand::random()))
    }

    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Seals `plain`: nonce ‖ ciphertext ‖ tag, authenticated with `aad`.
    pub(crate) fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new(self.0.as_ref().into());
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let payload = Payload { msg: plain, aad };
        // Encryption fails only for messages over 256 GiB; objects are far smaller.
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`Key::seal`] sealed with the same key and `aad`; `None` when the key, the
    /// associated data or a single byte differs.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, body) = sealed.split_at_checked(NONCE_BYTES)?;
        let cipher = XChaCha20Poly1305::new(self.0.as_ref().into());
        cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
            .ok()
    }

    /// HMAC-SHA256 of `message` under this key.
    pub(crate) fn mac(&self, message: &[u8]) -> [u8; 32] {
        // HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| unreachable!());
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

/// What an object's associated data binds it to: the repository, the tenant, what the object
/// is (`blob`, `index`, `snapshot`, …) and its name. Unambiguous: every part but the last is
/// length-prefixed.
pub(crate) fn binding(repository: &str, tenant: &str, what: &str, name: &str) -> Vec<u8> {
    let mut out = b"dirvault/v1".to_vec();
    for part in [repository, tenant, what] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out
}

/// A tenant's keys: one seals its data, the other makes its content ids.
#[derive(Debug)]
pub(crate) struct TenantKeys {
    pub(crate) data: Key,
    pub(crate) ids: Key,
    /// Whether content ids are cut to 128 bits ([`BlobId::is_short`]): for tenants keyed since
    /// session 25 of dirvault's development. A keyed id needs no collision resistance against
    /// someone without the key, and every id is stored twice (pack index and manifest), so
    /// 16 bytes instead of 32 saved a tenth of an L100k repository. Tenants keyed before keep
    /// full ids, so that their stored blobs keep deduplicating.
    pub(crate) short_ids: bool,
}

/// What follows the two keys in a tenant's wrapped keys when its ids are short (the id
/// length); nothing follows for full ids.
const SHORT_IDS_MARK: u8 = 16;

impl TenantKeys {
    /// New keys for a tenant: its content ids are short.
    pub(crate) fn random() -> Self {
        Self {
            data: Key::random(),
            ids: Key::random(),
            short_ids: true,
        }
    }

    /// Both keys and the id length, for wrapping under the master key (so that the id length
    /// is authenticated with the keys).
    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(65));
        out.extend_from_slice(self.data.bytes());
        out.extend_from_slice(self.ids.bytes());
        if self.short_ids {
            out.push(SHORT_IDS_MARK);
        }
        out
    }

    /// The keys [`TenantKeys::to_bytes`] wrapped: 64 bytes (full ids, as written before
    /// session 25) or 65 ending in the short-id mark; `None` for anything else.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (data, rest) = bytes.split_at_checked(32)?;
        let (ids, mark) = rest.split_at_checked(32)?;
        let short_ids = match mark {
            [] => false,
            [SHORT_IDS_MARK] => true,
            _ => return None,
        };
        Some(Self {
            data: Key::from_bytes(data.try_into().ok()?),
            ids: Key::from_bytes(ids.try_into().ok()?),
            short_ids,
        })
    }
}

/// How a tenant's content ids are made: the SHA-256 of a blob's canonical bytes in an
/// unencrypted repository, their HMAC-SHA256 under the tenant's id key in an encrypted one
/// (so that someone who can read the repository cannot confirm that a known object is there),
/// cut to its first 128 bits for tenants keyed since session 25 ([`TenantKeys::short_ids`]).
#[derive(Clone, Debug, Default)]
pub struct ContentIds(Option<Arc<TenantKeys>>);

impl ContentIds {
    pub(crate) fn keyed(keys: Arc<TenantKeys>) -> Self {
        Self(Some(keys))
    }

    /// The content id of canonical bytes.
    pub fn id_of(&self, canonical: &[u8]) -> BlobId {
        match &self.0 {
            None => BlobId::of_canonical(canonical),
            Some(keys) if keys.short_ids => BlobId::short_from_bytes(keys.ids.mac(canonical)),
            Some(keys) => BlobId::from_bytes(keys.ids.mac(canonical)),
        }
    }

    /// Whether ids are keyed (the repository is encrypted).
    pub fn is_keyed(&self) -> bool {
        self.0.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_objects_open_only_with_their_key_and_binding() {
        let key = Key::random();
        let aad = binding("repo", "tenant", "blob", "abc");
        let sealed = key.seal(&aad, b"secret directory data");
        assert_eq!(sealed.len(), 21 + SEAL_OVERHEAD);
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(key.open(&aad, &sealed).unwrap(), b"secret directory data");
        // Another key, another binding (repository, tenant, kind or name), a flipped bit or a
        // cut: nothing opens.
        assert!(Key::random().open(&aad, &sealed).is_none());
        for other in [
            binding("other", "tenant", "blob", "abc"),
            binding("repo", "other", "blob", "abc"),
            binding("repo", "tenant", "index", "abc"),
            binding("repo", "tenant", "blob", "abd"),
            binding("repot", "enant", "blob", "abc"),
        ] {
            assert!(key.open(&other, &sealed).is_none());
        }
        for i in 0..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[i] ^= 1;
            assert!(key.open(&aad, &flipped).is_none(), "bit {i}");
        }
        assert!(key.open(&aad, &sealed[..20]).is_none());
        assert!(key.open(&aad, &[]).is_none());
        // Two seals of the same bytes differ (random nonces).
        assert_ne!(key.seal(&aad, b"x"), key.seal(&aad, b"x"));
    }

    #[test]
    fn keyed_content_ids_differ_from_plain_and_between_tenants() {
        let plain = ContentIds::default();
        let a = ContentIds::keyed(Arc::new(TenantKeys::random()));
        let b = ContentIds::keyed(Arc::new(TenantKeys::random()));
        let bytes = br#"{"id":"u1"}"#;
        assert_eq!(plain.id_of(bytes), BlobId::of_canonical(bytes));
        assert_ne!(a.id_of(bytes), plain.id_of(bytes));
        assert_ne!(a.id_of(bytes), b.id_of(bytes));
        assert_eq!(a.id_of(bytes), a.id_of(bytes));
    }

    #[test]
    fn new_tenants_have_short_ids_and_tenants_keyed_before_keep_full_ones() {
        let keys = TenantKeys::random();
        let bytes = br#"{"id":"u1"}"#;
        let short = ContentIds::keyed(Arc::new(TenantKeys::from_bytes(&keys.to_bytes()).unwrap()));
        let id = short.id_of(bytes);
        assert!(id.is_short());
        assert_eq!(short.id_of(bytes), id);
        assert_ne!(
            ContentIds::keyed(Arc::new(TenantKeys::random())).id_of(bytes),
            id
        );
        // The wrapped keys of a tenant keyed before session 25: 64 bytes, full ids whose first
        // half is the short id's.
        let before = TenantKeys::from_bytes(&keys.to_bytes()[..64]).unwrap();
        assert!(!before.short_ids);
        let full = ContentIds::keyed(Arc::new(before)).id_of(bytes);
        assert!(!full.is_short());
        assert_eq!(full.to_string()[..32], id.to_string());
        // Anything else after the keys is refused, not guessed at.
        for tail in [&[32u8][..], &[16, 16], &[0]] {
            let mut wrapped = keys.to_bytes()[..64].to_vec();
            wrapped.extend_from_slice(tail);
            assert!(TenantKeys::from_bytes(&wrapped).is_none(), "{tail:?}");
        }
        // Plain ids stay full SHA-256.
        assert!(!ContentIds::default().id_of(bytes).is_short());
    }

    #[test]
    fn keys_never_show_in_debug() {
        let keys = TenantKeys::random();
        let shown = format!(
            "{keys:?} {:?}",
            ContentIds::keyed(Arc::new(TenantKeys::random()))
        );
        assert!(!shown.contains(&hex::encode(keys.data.bytes())));
        assert!(shown.contains("redacted"));
    }
}
