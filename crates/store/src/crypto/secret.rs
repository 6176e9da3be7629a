//! What unlocks an encrypted repository: a password or a raw key. Never printed.

use std::fmt;

use zeroize::Zeroizing;

/// A repository password or raw key. Its `Debug` shows which it is, never its value; it is
/// wiped from memory when dropped.
#[derive(Clone)]
pub enum Secret {
    /// A password: key slots derive their key from it with argon2id.
    Password(Zeroizing<String>),
    /// A raw 256-bit key (from a key file, or a KMS through `--password-command`): key slots
    /// use it directly, without the cost of argon2id.
    Key(Zeroizing<[u8; 32]>),
}

impl Secret {
    /// A password (trailing newlines removed, as a password file or command prints them).
    pub fn password(password: impl Into<String>) -> Self {
        let mut password = password.into();
        while password.ends_with(['\n', '\r']) {
            password.pop();
        }
        Self::Password(Zeroizing::new(password))
    }

    /// A raw key from 64 hex digits (surrounding whitespace ignored).
    ///
    /// # Errors
    /// When the text is not 64 hex digits (the message does not repeat it).
    pub fn key_from_hex(text: &str) -> Result<Self, String> {
        let text = Zeroizing::new(text.trim().to_owned());
        if text.len() != 64 {
            return Err(format!(
                "a raw key is 64 hex digits; this one has {} characters",
                text.len()
            ));
        }
        let bytes = hex::decode_to_array::<_, 32>(text.as_bytes())
            .map_err(|_| "a raw key is 64 hex digits; this one has others".to_owned())?;
        Ok(Self::Key(Zeroizing::new(bytes)))
    }

    /// Whether it is a password (else a raw key).
    pub fn is_password(&self) -> bool {
        matches!(self, Self::Password(_))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Secret::Password(redacted)"),
            Self::Key(_) => f.write_str("Secret::Key(redacted)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_and_keys_are_checked() {
        let p = Secret::password("correct horse\n");
        assert_eq!(format!("{p:?}"), "Secret::Password(redacted)");
        let Secret::Password(text) = &p else { panic!() };
        assert_eq!(text.as_str(), "correct horse");
        let k = Secret::key_from_hex(&"ab".repeat(32)).unwrap();
        assert!(!format!("{k:?}").contains("abab"));
        let err = Secret::key_from_hex("zz").unwrap_err();
        assert!(!err.contains("zz"), "{err}");
        assert!(Secret::key_from_hex(&"zz".repeat(32)).is_err());
    }
}
