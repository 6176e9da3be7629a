//! Diffs for dirvault: pure, synchronous functions over model values (no I/O, no clock).
//!
//! - [`diff_objects`]: what changed between two versions of an object, by JSON path. Arrays
//!   Graph treats as sets (`proxyAddresses`, `businessPhones`, `identifierUris`, …) are compared
//!   as sets, other arrays as whole values; nested objects are compared property by property;
//!   `@odata.*` annotations and server-maintained timestamps can be ignored.
//! - [`apply`]: replays a diff onto the old version (what a restore of changed attributes does).
//! - [`diff_relationships`]: relationships added and removed.
//! - [`diff_versions`]: created / modified / deleted objects between two listings of
//!   `(id, version)` pairs, e.g. two snapshot manifests.
//!
//! # Example
//! ```
//! use dirvault_diff::{DiffOptions, diff_objects};
//! use serde_json::json;
//!
//! let old = json!({"id": "u1", "jobTitle": "Engineer", "proxyAddresses": ["SMTP:a@x.com", "smtp:b@x.com"]});
//! let new = json!({"id": "u1", "jobTitle": "Director", "proxyAddresses": ["smtp:b@x.com", "SMTP:a@x.com"]});
//! let changes = diff_objects(old.as_object().unwrap(), new.as_object().unwrap(), &DiffOptions::default());
//! assert_eq!(changes.len(), 1, "a reordered set is not a change");
//! assert_eq!(changes[0].path, "jobTitle");
//! ```

use std::collections::{BTreeMap, BTreeSet};

use dirvault_model::Relationship;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Graph properties whose arrays are sets: their order carries no meaning.
pub const SET_PROPERTIES: &[&str] = &[
    "proxyAddresses",
    "businessPhones",
    "identifierUris",
    "otherMails",
    "imAddresses",
    "groupTypes",
    "servicePrincipalNames",
    "replyUrls",
    "tags",
    "notificationEmailAddresses",
    "alternativeNames",
    "redirectUris",
    "countriesAndRegions",
    "includeUsers",
    "excludeUsers",
    "includeGroups",
    "excludeGroups",
    "includeRoles",
    "excludeRoles",
    "includeApplications",
    "excludeApplications",
    "includeLocations",
    "excludeLocations",
    "builtInControls",
    "clientAppTypes",
    "allowedResourceActions",
    "resourceScopes",
    "assignedLicenses",
    "physicalIds",
    "systemLabels",
    "allowedMemberTypes",
];

/// Properties Graph maintains itself; changes there are noise when looking for what an admin
/// changed.
pub const SERVER_MAINTAINED: &[&str] = &[
    "lastPasswordChangeDateTime",
    "onPremisesLastSyncDateTime",
    "signInSessionsValidFromDateTime",
    "renewedDateTime",
    "approximateLastSignInDateTime",
    "modifiedDateTime",
    "signInActivity",
    "externalUserStateChangeDateTime",
    "licenseAssignmentStates",
    "assignedPlans",
    "provisionedPlans",
    "deletedDateTime",
];

/// What to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffOptions {
    /// Ignore `@odata.*` annotations (`@odata.type`, `@odata.context`, …).
    pub ignore_odata: bool,
    /// Ignore [`SERVER_MAINTAINED`] properties.
    pub ignore_server_maintained: bool,
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self {
            ignore_odata: true,
            ignore_server_maintained: false,
        }
    }
}

/// What happened to a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    /// Absent before.
    Added,
    /// Absent after.
    Removed,
    /// Present in both, different.
    Changed,
}

/// One changed property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeChange {
    /// The property's path: names joined by `/` (`employeeOrgData/division`).
    pub path: String,
    /// Added, removed or changed.
    pub kind: ChangeKind,
    /// The old value (absent for additions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The new value (absent for removals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// For set-valued arrays: the items added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items_added: Vec<Value>,
    /// For set-valued arrays: the items removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items_removed: Vec<Value>,
}

fn ignored(name: &str, options: &DiffOptions) -> bool {
    (options.ignore_odata && name.contains("@odata."))
        || (options.ignore_server_maintained && SERVER_MAINTAINED.contains(&name))
}

fn set_of(items: &[Value]) -> BTreeSet<String> {
    items.iter().map(Value::to_string).collect()
}

/// The property changes from `old` to `new`, sorted by path.
pub fn diff_objects(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    options: &DiffOptions,
) -> Vec<AttributeChange> {
    let mut out = Vec::new();
    diff_into("", old, new, options, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn diff_into(
    prefix: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    options: &DiffOptions,
    out: &mut Vec<AttributeChange>,
) {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        if ignored(name, options) {
            continue;
        }
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let change = |kind, old: Option<&Value>, new: Option<&Value>| AttributeChange {
            path: path.clone(),
            kind,
            old: old.cloned(),
            new: new.cloned(),
            items_added: Vec::new(),
            items_removed: Vec::new(),
        };
        match (old.get(name), new.get(name)) {
            (None, Some(n)) => out.push(change(ChangeKind::Added, None, Some(n))),
            (Some(o), None) => out.push(change(ChangeKind::Removed, Some(o), None)),
            (Some(o), Some(n)) if o == n => {}
            (Some(Value::Object(o)), Some(Value::Object(n))) => {
                diff_into(&path, o, n, options, out)
            }
            (Some(Value::Array(o)), Some(Value::Array(n)))
                if SET_PROPERTIES.contains(&name.as_str()) =>
            {
                let (before, after) = (set_of(o), set_of(n));
                if before == after {
                    continue;
                }
                let mut c = change(
                    ChangeKind::Changed,
                    Some(&Value::Array(o.clone())),
                    Some(&Value::Array(n.clone())),
                );
                c.items_added = n
                    .iter()
                    .filter(|v| !before.contains(&v.to_string()))
                    .cloned()
                    .collect();
                c.items_removed = o
                    .iter()
                    .filter(|v| !after.contains(&v.to_string()))
                    .cloned()
                    .collect();
                out.push(c);
            }
            (Some(o), Some(n)) => out.push(change(ChangeKind::Changed, Some(o), Some(n))),
            (None, None) => {}
        }
    }
}

/// Replays `changes` onto `old`: the result equals the `new` the changes were computed from
/// (set-valued arrays up to order).
pub fn apply(old: &Map<String, Value>, changes: &[AttributeChange]) -> Map<String, Value> {
    let mut out = old.clone();
    for c in changes {
        let mut parts: Vec<&str> = c.path.split('/').collect();
        let Some(last) = parts.pop() else { continue };
        let mut target = &mut out;
        for p in parts {
            let entry = target
                .entry(p.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            let Value::Object(next) = entry else {
                unreachable!("made an object above")
            };
            target = next;
        }
        // Decided by the kind, not by `new`: a diff read back from JSON has `new: None` for a
        // property that became null.
        match c.kind {
            ChangeKind::Removed => {
                target.remove(last);
            }
            ChangeKind::Added | ChangeKind::Changed => {
                target.insert(last.to_owned(), c.new.clone().unwrap_or(Value::Null));
            }
        }
    }
    out
}

/// Relationships added and removed between two sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RelationshipDiff {
    /// Only in the new set.
    pub added: Vec<Relationship>,
    /// Only in the old set.
    pub removed: Vec<Relationship>,
}

/// The relationship changes from `old` to `new`.
pub fn diff_relationships(old: &[Relationship], new: &[Relationship]) -> RelationshipDiff {
    let before: BTreeSet<&Relationship> = old.iter().collect();
    let after: BTreeSet<&Relationship> = new.iter().collect();
    RelationshipDiff {
        added: after.difference(&before).map(|r| (*r).clone()).collect(),
        removed: before.difference(&after).map(|r| (*r).clone()).collect(),
    }
}

/// Objects created, modified and deleted between two listings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VersionDiff<K> {
    /// Only in the new listing.
    pub created: Vec<K>,
    /// In both, with another version.
    pub modified: Vec<K>,
    /// Only in the old listing.
    pub deleted: Vec<K>,
}

impl<K> VersionDiff<K> {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.modified.is_empty() && self.deleted.is_empty()
    }
}

/// Compares two listings of `(id, version)`: works in either order (swapping them swaps
/// created and deleted).
pub fn diff_versions<K: Ord + Clone, V: PartialEq>(
    old: impl IntoIterator<Item = (K, V)>,
    new: impl IntoIterator<Item = (K, V)>,
) -> VersionDiff<K> {
    let before: BTreeMap<K, V> = old.into_iter().collect();
    let mut out = VersionDiff {
        created: Vec::new(),
        modified: Vec::new(),
        deleted: Vec::new(),
    };
    let mut seen = BTreeSet::new();
    for (id, version) in new {
        match before.get(&id) {
            None => out.created.push(id.clone()),
            Some(v) if *v != version => out.modified.push(id.clone()),
            Some(_) => {}
        }
        seen.insert(id);
    }
    out.deleted = before.into_keys().filter(|k| !seen.contains(k)).collect();
    out.created.sort();
    out.modified.sort();
    out
}

#[cfg(test)]
mod tests;
