//! Microsoft Graph types for dirvault.
//!
//! - [`ObjectKind`]: every kind of object dirvault backs up, with what Graph says about it
//!   ([`KindInfo`]: collection path, delta support, permissions, whether an app-only client
//!   can re-create it).
//! - [`DirectoryObject`]: one object, lossless: the raw JSON Graph returned plus typed
//!   read-only views.
//! - [`Relationship`]: memberships, ownerships, role and app role assignments, grants.
//! - Newtype ids ([`TenantId`], [`ObjectId`], [`ClientId`], [`SnapshotId`]) and [`Cloud`].
//!
//! # Example
//! ```
//! use dirvault_model::{DirectoryObject, ObjectKind};
//! use serde_json::json;
//!
//! let kind: ObjectKind = "users".parse()?;
//! let user = DirectoryObject::from_graph(kind, json!({
//!     "id": "6e7b768e-07e2-4810-8459-485f84f8f204",
//!     "displayName": "Adele Vance",
//!     "extension_b7d8e648520f41d3b9c0fdeb91768a0a_costCenter": "K-42",
//! }))?;
//! assert_eq!(user.display_name(), Some("Adele Vance"));
//! assert!(kind.supports_delta());
//! // Nothing is dropped: the extension attribute is still there.
//! assert_eq!(user.raw().len(), 3);
//! # Ok::<(), dirvault_model::Error>(())
//! ```

mod cloud;
mod error;
mod hash;
mod ids;
mod kind;
mod object;
pub mod policy_writes;
mod relationship;
pub mod roles;
pub mod schema;

pub use cloud::Cloud;
pub use error::Error;
pub use hash::fnv1a;
pub use ids::{ClientId, MAX_ID_LEN, ObjectId, SnapshotId, TenantId};
pub use kind::{CollectionPath, KindInfo, ObjectKind, Recreate};
pub use object::DirectoryObject;
pub use relationship::{Relationship, RelationshipDetails, RelationshipKind};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn kind_names() -> String {
    ObjectKind::ALL
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}
