//! Signing alert webhooks: the daemon sends each delivery with
//! `X-Dirvault-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` and
//! `X-Dirvault-Timestamp: <unix seconds>`; a receiver recomputes it with the shared secret,
//! compares in constant time, and refuses old timestamps (a replayed delivery). docs/alerts.md
//! shows a receiver.
//!
//! ```
//! use dirvault_engine::alerts::webhook::{sign, verify};
//!
//! let body = br#"{"alerts":[]}"#;
//! let header = sign(b"shared secret", 1_764_900_000, body);
//! assert!(verify(b"shared secret", 1_764_900_000, body, &header, 1_764_900_030, 300));
//! assert!(!verify(b"another secret", 1_764_900_000, body, &header, 1_764_900_030, 300));
//! assert!(!verify(b"shared secret", 1_764_900_000, body, &header, 1_764_909_000, 300), "too old");
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature scheme's prefix: a receiver can tell a future scheme apart.
const SCHEME: &str = "v1=";

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Dirvault-Signature` value of `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "{SCHEME}{}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Whether `signature` is `body`'s at `timestamp` under `secret`, and `timestamp` is within
/// `tolerance_seconds` of `now` (both unix seconds). The comparison takes the same time
/// whatever the signature.
pub fn verify(
    secret: &[u8],
    timestamp: i64,
    body: &[u8],
    signature: &str,
    now: i64,
    tolerance_seconds: i64,
) -> bool {
    if now.abs_diff(timestamp) > tolerance_seconds.unsigned_abs() {
        return false;
    }
    let Some(given) = signature
        .strip_prefix(SCHEME)
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&given).is_ok()
}
