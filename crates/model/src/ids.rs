//! Newtype identifiers. No bare `String` id crosses a crate boundary.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The longest id accepted, in bytes. Graph's ids are GUIDs or a few dozen characters (role
/// and app role assignment ids, audit ids); a longer one is hostile input, and would not fit a
/// file name on export.
pub const MAX_ID_LEN: usize = 200;

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        ///
        /// Cheap to clone: clones share one string (a million relationships naming a hundred
        /// thousand users need hold each user's id once), and many ids can share one buffer
        /// ([`Self::new_shared`]: a manifest chunk's ids are one allocation, not thousands).
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(arcstr::Substr);

        impl $name {
            /// Wraps `value`.
            ///
            /// # Errors
            /// [`Error::InvalidId`] when `value` is empty, longer than [`MAX_ID_LEN`] bytes,
            /// or contains whitespace, a control character or `/`, which no Graph id does.
            pub fn new(value: impl AsRef<str>) -> Result<Self, Error> {
                let value = value.as_ref();
                Self::check(value)?;
                Ok(Self(arcstr::Substr::from(value)))
            }

            /// Wraps a part of a shared string (which it keeps alive) without copying it.
            ///
            /// # Errors
            /// As [`Self::new`].
            pub fn new_shared(value: arcstr::Substr) -> Result<Self, Error> {
                Self::check(&value)?;
                Ok(Self(value))
            }

            fn check(value: &str) -> Result<(), Error> {
                if value.is_empty()
                    || value.len() > MAX_ID_LEN
                    || value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/')
                {
                    // A hostile id can be megabytes: the error shows its start only.
                    let shown: String = value.chars().take(64).collect();
                    return Err(Error::InvalidId {
                        what: $what,
                        value: if shown.len() < value.len() { format!("{shown}…") } else { shown },
                    });
                }
                Ok(())
            }

            /// The id as Graph spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Hash, Eq and Ord are the string's: sets of ids can be searched by `&str`.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        // As the string, unchecked (what was stored is read back as it was), with one
        // allocation.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visit;
                impl serde::de::Visitor<'_> for Visit {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "a {}", $what)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name(arcstr::Substr::from(v)))
                    }
                }
                deserializer.deserialize_str(Visit)
            }
        }
    };
}

string_id!(
    /// A Microsoft Entra tenant: its GUID, or a verified domain where Graph accepts one.
    TenantId,
    "tenant id"
);
string_id!(
    /// The `id` of a directory object (a GUID for most kinds; role assignments, OAuth2 grants
    /// and app role assignments use other opaque strings; domains use their name).
    ObjectId,
    "object id"
);
string_id!(
    /// An application's client id (`appId`): the id a client authenticates as.
    ClientId,
    "client id"
);
string_id!(
    /// A snapshot in a dirvault repository.
    SnapshotId,
    "snapshot id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_empty_and_path_like_values() {
        assert!(ObjectId::new("").is_err());
        assert!(ObjectId::new("a/b").is_err());
        assert!(TenantId::new("contoso .com").is_err());
        let id: ObjectId = "8afc02cb-4d62-4dba-b536-9f6d73e9be26".parse().unwrap();
        assert_eq!(id.to_string(), "8afc02cb-4d62-4dba-b536-9f6d73e9be26");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"8afc02cb-4d62-4dba-b536-9f6d73e9be26\""
        );
    }

    #[test]
    fn ids_sharing_a_buffer_are_checked_and_compare_as_their_text() {
        let buffer = arcstr::ArcStr::from("b2 a1a/b");
        let b = ObjectId::new_shared(buffer.substr(0..2)).unwrap();
        let a = ObjectId::new_shared(buffer.substr(3..5)).unwrap();
        assert_eq!(a, ObjectId::new("a1").unwrap());
        assert!(a < b);
        assert!(ObjectId::new_shared(buffer.substr(1..4)).is_err());
        assert!(ObjectId::new_shared(buffer.substr(5..8)).is_err());
        let set: std::collections::HashSet<ObjectId> = [a, b].into();
        assert!(set.contains("b2"));
    }

    #[test]
    fn invalid_id_error_names_the_value() {
        let err = ClientId::new("a b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid client id \"a b\": ids are 1 to 200 bytes with no whitespace, control characters or '/'"
        );
    }

    // Regression: 10,000-character ids reached Graph and the store (500/502, a 300-character
    // id aborted an export); the error shows only the start of such a value.
    #[test]
    fn overlong_and_control_character_ids_are_refused_with_a_short_error() {
        let long = "a".repeat(10_000);
        let err = ObjectId::new(&long).unwrap_err().to_string();
        assert!(err.len() < 300, "{err}");
        assert!(ObjectId::new("a".repeat(MAX_ID_LEN)).is_ok());
        assert!(ObjectId::new("a".repeat(MAX_ID_LEN + 1)).is_err());
        assert!(TenantId::new("a\nb").is_err());
        assert!(TenantId::new("a/b c").is_err());
    }
}
