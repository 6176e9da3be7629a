use crate::{ObjectId, ObjectKind};

/// Errors from building model values out of Graph data or user input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An id was empty or malformed.
    #[error(
        "invalid {what} {value:?}: ids are 1 to 200 bytes with no whitespace, control characters or '/'"
    )]
    InvalidId {
        /// Which kind of id.
        what: &'static str,
        /// The rejected value.
        value: String,
    },
    /// An object kind name was not recognised.
    #[error(
        "unknown object kind {value:?}: expected one of {}",
        crate::kind_names()
    )]
    UnknownKind {
        /// The rejected value.
        value: String,
    },
    /// A cloud name was not recognised.
    #[error("unknown cloud {value:?}: expected one of global, usgov, usgov-dod, china")]
    UnknownCloud {
        /// The rejected value.
        value: String,
    },
    /// Graph returned something other than a JSON object where an object was expected.
    #[error("a {kind} object from Graph is {found}, not a JSON object")]
    NotAnObject {
        /// The kind being read.
        kind: ObjectKind,
        /// The JSON type found instead.
        found: &'static str,
    },
    /// An object had no id.
    #[error("a {kind} object from Graph has no string {field:?} property")]
    MissingId {
        /// The kind being read.
        kind: ObjectKind,
        /// The id field expected.
        field: &'static str,
    },
    /// An object lacked a property its kind requires.
    #[error("{kind} object {id} has no {property:?} property")]
    MissingProperty {
        /// The kind.
        kind: ObjectKind,
        /// The object.
        id: ObjectId,
        /// The missing property.
        property: &'static str,
    },
}
