//! Console sessions: signing in with an API key gives a random session token in an HttpOnly,
//! SameSite=Strict cookie; the session holds the key's hash (not the key) and a CSRF token
//! that every form carries.
//!
//! Sessions live in this replica's memory: a daemon restart signs everyone out, and behind a
//! load balancer the console needs sticky sessions. The key is looked up again on every
//! request, so a key removed or re-scoped in the configuration applies to its sessions at once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "dirvault_session";

/// A session ends this long after sign-in, whatever it does.
const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// A session ends after this long without a request.
const IDLE: Duration = Duration::from_secs(2 * 3600);

/// Sessions kept at most; signing in beyond it ends the oldest.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Clone)]
pub(crate) struct Session {
    /// The SHA-256 of the API key it signed in with.
    pub(crate) key_sha256: [u8; 32],
    /// The token every form of this session carries (hex).
    pub(crate) csrf: String,
    started: Instant,
    seen: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

/// The sessions of this replica, by the SHA-256 of their token (a memory dump holds no
/// usable token).
#[derive(Default)]
pub(crate) struct Sessions {
    by_token: Mutex<HashMap<[u8; 32], Session>>,
}

/// 32 random bytes, hex, from `rand`'s thread generator (a CSPRNG seeded by the operating
/// system).
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    /// A new session for the key with this hash: its token (for the cookie).
    pub(crate) fn start(&self, key_sha256: [u8; 32]) -> String {
        let token = random_token();
        let now = Instant::now();
        let mut map = self.by_token.lock();
        map.retain(|_, s| live(s, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.started).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(
            token_hash(&token),
            Session {
                key_sha256,
                csrf: random_token(),
                started: now,
                seen: now,
            },
        );
        token
    }

    /// The live session of `token`, marked as seen now.
    pub(crate) fn get(&self, token: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.by_token.lock();
        let hash = token_hash(token);
        let session = map.get_mut(&hash)?;
        if !live(session, now) {
            map.remove(&hash);
            return None;
        }
        session.seen = now;
        Some(session.clone())
    }

    /// Ends the session of `token`.
    pub(crate) fn end(&self, token: &str) {
        self.by_token.lock().remove(&token_hash(token));
    }
}

fn live(s: &Session, now: Instant) -> bool {
    now.duration_since(s.started) < LIFETIME && now.duration_since(s.seen) < IDLE
}

/// The session token in a request's `Cookie` headers.
pub(crate) fn token_in(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value of a new session: HttpOnly (no script reads it), SameSite=Strict
/// (no other site's page sends it), only under /console, and Secure when the console is
/// reached over HTTPS (a TLS-terminating proxy says so with `X-Forwarded-Proto`).
pub(crate) fn cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub(crate) fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_token_only_and_ends_when_asked() {
        let sessions = Sessions::default();
        let token = sessions.start([7; 32]);
        assert_eq!(token.len(), 64);
        let s = sessions.get(&token).expect("session");
        assert_eq!(s.key_sha256, [7; 32]);
        assert_eq!(s.csrf.len(), 64);
        assert_ne!(s.csrf, token, "the CSRF token is not the session token");
        assert!(sessions.get(&"0".repeat(64)).is_none());
        sessions.end(&token);
        assert!(sessions.get(&token).is_none());
    }

    #[test]
    fn the_cookie_is_read_among_others_and_malformed_ones_are_ignored() {
        let mut headers = axum::http::HeaderMap::new();
        let token = "ab".repeat(32);
        headers.insert(
            axum::http::header::COOKIE,
            format!("other=1; {COOKIE}={token}; x=y").parse().unwrap(),
        );
        assert_eq!(token_in(&headers), Some(token));
        headers.insert(
            axum::http::header::COOKIE,
            format!("{COOKIE}=../../etc").parse().unwrap(),
        );
        assert_eq!(token_in(&headers), None);
    }

    #[test]
    fn the_cookie_is_http_only_and_same_site_strict() {
        let c = cookie("t", false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        assert!(cookie("t", true).ends_with("; Secure"));
    }
}
