//! One emulated tenant: its objects, relationship links, recycle bin and change log.
//!
//! Every mutation, from Graph writes or from the control API, goes through the methods here (and
//! in [`audit`] and [`app_roles`]), so the change log that delta queries read is always complete.

mod app_roles;
mod audit;
mod branding;
mod packed;
mod packed_set;

pub use packed::{ObjectMap, PackedObject};
pub use packed_set::PackedSet;

pub use branding::BRANDING_STREAMS;

pub use app_roles::principal_type;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use crate::auth::AppRegistration;
use crate::clock::graph_time;
use crate::error::{GraphError, GraphResult};
use crate::faults::Faults;
use crate::kinds::{Collection, LinkKind};
use crate::metadata::Metadata;

/// A JSON object as stored.
pub type Obj = Map<String, Value>;

/// Days a soft-deleted object stays in the recycle bin (docs/graph.md §2).
pub const RECYCLE_BIN_DAYS: i64 = 30;

/// A soft-deleted object.
#[derive(Debug, Clone)]
pub struct DeletedItem {
    /// Its kind.
    pub kind: Collection,
    /// The object, with `deletedDateTime` set.
    pub object: Obj,
    /// When it was deleted (emulated time).
    pub deleted_at: DateTime<Utc>,
    /// Links it had, restored with it: `(relationship, source, target)`.
    pub links: Vec<(LinkKind, String, String)>,
}

/// What changed, for delta queries.
#[derive(Debug, Clone)]
pub enum ChangeWhat {
    /// Created, or restored from the recycle bin (delta reports both as a creation).
    Created,
    /// These properties were updated.
    Updated(Vec<String>),
    /// Deleted: soft (restorable, reported as `changed`) or hard (`deleted`).
    Removed {
        /// Whether the object went to the recycle bin.
        soft: bool,
    },
    /// A link from this object was added (`members@delta`).
    LinkAdded(LinkKind, String),
    /// A link from this object was removed.
    LinkRemoved(LinkKind, String),
}

/// One entry of the change log.
#[derive(Debug, Clone)]
pub struct Change {
    /// Position in the log; delta tokens remember it.
    pub seq: u64,
    /// The changed object's kind.
    pub kind: Collection,
    /// The changed object's id.
    pub id: String,
    /// What changed.
    pub what: ChangeWhat,
}

/// Request accounting, read through the control API.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Graph requests received (batch sub-requests count one each).
    pub requests: u64,
    /// Of those, writes.
    pub writes: u64,
    /// ResourceUnits charged.
    pub resource_units: u64,
    /// 429 answers.
    pub throttled: u64,
    /// Responses by status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Token requests.
    pub token_requests: u64,
}

/// Which relationship kinds exist between which object kinds: `(relationship, source kind)`.
pub const LINK_SOURCES: &[(LinkKind, Collection)] = &[
    (LinkKind::GroupMember, Collection::Groups),
    (LinkKind::GroupOwner, Collection::Groups),
    (LinkKind::DirectoryRoleMember, Collection::DirectoryRoles),
    (
        LinkKind::AdministrativeUnitMember,
        Collection::AdministrativeUnits,
    ),
    (LinkKind::DeviceRegisteredOwner, Collection::Devices),
    (LinkKind::DeviceRegisteredUser, Collection::Devices),
    (LinkKind::UserManager, Collection::Users),
    (LinkKind::ApplicationOwner, Collection::Applications),
    (
        LinkKind::ServicePrincipalOwner,
        Collection::ServicePrincipals,
    ),
];

/// The kind of object a link of `rel` hangs under.
pub fn link_source_kind(rel: LinkKind) -> Option<Collection> {
    LINK_SOURCES
        .iter()
        .find(|(r, _)| *r == rel)
        .map(|(_, k)| *k)
}

/// The unique keys Graph enforces: `(kind, property)`, compared case-insensitively.
const UNIQUE: &[(Collection, &str)] = &[
    (Collection::Users, "userPrincipalName"),
    (Collection::Applications, "appId"),
    (Collection::ServicePrincipals, "appId"),
];

/// Properties objects are looked up by that are not unique: a principal's or a resource's app
/// role assignments (`/{id}/appRoleAssignments`, `/servicePrincipals/{id}/appRoleAssignedTo`)
/// and a client's delegated grants (`/servicePrincipals/{id}/oauth2PermissionGrants`). Without
/// an index each such read decoded every object of the kind, which made the backup of an L1M
/// tenant's 40k service principals quadratic (issue #19). Compared exactly (they hold ids).
const REFERENCES: &[(Collection, &str)] = &[
    (Collection::AppRoleAssignments, "principalId"),
    (Collection::AppRoleAssignments, "resourceId"),
    (Collection::Oauth2PermissionGrants, "clientId"),
];

/// One tenant.
#[derive(Debug)]
pub struct Tenant {
    /// The tenant id (GUID).
    pub id: String,
    /// A short name (`contoso`).
    pub name: String,
    /// Verified domains; the first is the default `<name>.onmicrosoft.com`.
    pub domains: Vec<String>,
    objects: HashMap<Collection, ObjectMap>,
    links: HashMap<LinkKind, HashMap<String, BTreeSet<String>>>,
    /// Authentication methods: user id → method id → method.
    pub auth_methods: BTreeMap<String, PackedSet>,
    /// When each user's methods last changed (the registration report's
    /// `lastUpdatedDateTime`); users not here have had theirs since they were created.
    pub methods_updated: HashMap<String, chrono::DateTime<chrono::Utc>>,
    deleted: BTreeMap<String, DeletedItem>,
    unique: HashMap<(Collection, &'static str), HashMap<String, String>>,
    /// [`REFERENCES`]: (kind, property) → value → the ids of the objects holding it.
    referencing: HashMap<(Collection, &'static str), HashMap<String, BTreeSet<String>>>,
    log: Vec<Change>,
    seq: u64,
    /// Branding images and CSS: (localization id, stream property) → (media type, bytes).
    pub branding_streams: BTreeMap<(String, String), (String, Vec<u8>)>,
    /// Registered client apps (credentials and consented application permissions).
    pub apps: BTreeMap<String, AppRegistration>,
    /// Directory extension properties (`extensionProperty` objects).
    pub extension_properties: Vec<Obj>,
    /// Fault injection.
    pub faults: Faults,
    /// Request accounting.
    pub stats: Stats,
    /// The service's type facts (Microsoft's v1.0 metadata, plus properties added at runtime).
    pub metadata: Arc<Metadata>,
}

impl Tenant {
    /// An empty tenant.
    pub fn new(id: String, name: String) -> Self {
        let domain = format!("{}.onmicrosoft.com", name.to_ascii_lowercase());
        Self {
            id,
            name,
            domains: vec![domain],
            objects: HashMap::new(),
            links: HashMap::new(),
            auth_methods: BTreeMap::new(),
            methods_updated: HashMap::new(),
            deleted: BTreeMap::new(),
            unique: HashMap::new(),
            referencing: HashMap::new(),
            log: Vec::new(),
            seq: 0,
            branding_streams: BTreeMap::new(),
            apps: BTreeMap::new(),
            extension_properties: Vec::new(),
            faults: Faults::default(),
            stats: Stats::default(),
            metadata: Metadata::microsoft_v1(),
        }
    }

    /// The default domain (`<name>.onmicrosoft.com`).
    pub fn default_domain(&self) -> &str {
        &self.domains[0]
    }

    /// The change-log position of the latest change.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Changes after `after` (exclusive) up to `upto` (inclusive).
    pub fn changes(&self, after: u64, upto: u64) -> &[Change] {
        let start = self.log.partition_point(|c| c.seq <= after);
        let end = self.log.partition_point(|c| c.seq <= upto);
        &self.log[start..end.max(start)]
    }

    fn record(&mut self, kind: Collection, id: &str, what: ChangeWhat) {
        self.seq += 1;
        self.log.push(Change {
            seq: self.seq,
            kind,
            id: id.to_owned(),
            what,
        });
    }

    /// `obj` (an object of `kind`) as Graph holds it: its stored properties and every other
    /// property its type declares, null or `[]` (what a read with every property `$select`ed
    /// returns, single-object-only ones included), without `signInActivity`.
    pub fn declared_view(&self, kind: Collection, obj: &Obj) -> Obj {
        let own_type = obj
            .get("@odata.type")
            .and_then(Value::as_str)
            .unwrap_or(kind.facts().odata_type)
            .to_owned();
        let mut out = obj.clone();
        out.remove("signInActivity");
        out.retain(|name, _| !crate::odata::never_returned(kind.facts().odata_type, name));
        crate::odata::fill_declared(&self.metadata, &own_type, &mut out, |name| {
            name == "signInActivity"
        });
        out
    }

    /// Number of live objects of `kind`.
    pub fn count(&self, kind: Collection) -> usize {
        self.objects.get(&kind).map_or(0, ObjectMap::len)
    }

    /// The live objects of `kind`, in id order.
    pub fn objects(&self, kind: Collection) -> Option<&ObjectMap> {
        self.objects.get(&kind)
    }

    /// One live object (decoded: a copy).
    pub fn get(&self, kind: Collection, id: &str) -> Option<Obj> {
        self.objects.get(&kind)?.get(id)
    }

    /// One live object with only the top-level properties `keep` accepts (cheaper than
    /// [`Tenant::get`] when a read needs a few).
    pub fn get_only(&self, kind: Collection, id: &str, keep: &dyn Fn(&str) -> bool) -> Option<Obj> {
        self.objects.get(&kind)?.get_only(id, keep)
    }

    /// Whether a live object of `kind` has this id.
    pub fn contains(&self, kind: Collection, id: &str) -> bool {
        self.objects
            .get(&kind)
            .is_some_and(|objects| objects.contains_key(id))
    }

    /// The kind of the live object `id`, searching the directory-object kinds.
    pub fn kind_of(&self, id: &str) -> Option<Collection> {
        const DIRECTORY_OBJECTS: [Collection; 7] = [
            Collection::Users,
            Collection::Groups,
            Collection::ServicePrincipals,
            Collection::Devices,
            Collection::Applications,
            Collection::AdministrativeUnits,
            Collection::DirectoryRoles,
        ];
        DIRECTORY_OBJECTS
            .into_iter()
            .find(|k| self.contains(*k, id))
    }

    /// Whether `property` is a unique key of `kind` (looked up with [`Tenant::find_unique`]).
    pub fn is_unique_key(kind: Collection, property: &str) -> bool {
        UNIQUE.iter().any(|(k, p)| *k == kind && *p == property)
    }

    /// Looks an object up by a unique key (case-insensitive), e.g. a user by UPN.
    pub fn find_unique(&self, kind: Collection, property: &str, value: &str) -> Option<&str> {
        let key = UNIQUE.iter().find(|(k, p)| *k == kind && *p == property)?;
        self.unique
            .get(key)?
            .get(&value.to_lowercase())
            .map(String::as_str)
    }

    fn check_unique(&self, kind: Collection, id: &str, obj: &Obj) -> GraphResult<()> {
        for (k, property) in UNIQUE {
            if *k != kind {
                continue;
            }
            if let Some(Value::String(v)) = obj.get(*property)
                && let Some(owner) = self.find_unique(kind, property, v)
                && owner != id
            {
                return Err(GraphError::conflict(property));
            }
        }
        Ok(())
    }

    fn index(&mut self, kind: Collection, id: &str, obj: &Obj, add: bool) {
        for (k, property) in UNIQUE {
            if *k != kind {
                continue;
            }
            if let Some(Value::String(v)) = obj.get(*property) {
                let index = self.unique.entry((*k, property)).or_default();
                if add {
                    index.insert(v.to_lowercase(), id.to_owned());
                } else {
                    index.remove(&v.to_lowercase());
                }
            }
        }
        for (k, property) in REFERENCES {
            if *k != kind {
                continue;
            }
            if let Some(Value::String(v)) = obj.get(*property) {
                let index = self.referencing.entry((*k, property)).or_default();
                if add {
                    index.entry(v.clone()).or_default().insert(id.to_owned());
                } else if let Some(ids) = index.get_mut(v) {
                    ids.remove(id);
                    if ids.is_empty() {
                        index.remove(v);
                    }
                }
            }
        }
    }

    /// The ids of the objects of `kind` whose `property` is `value`, for the properties in
    /// [`REFERENCES`] (an empty set for any other).
    pub fn referencing(&self, kind: Collection, property: &str, value: &str) -> &BTreeSet<String> {
        static NONE: BTreeSet<String> = BTreeSet::new();
        REFERENCES
            .iter()
            .find(|(k, p)| *k == kind && *p == property)
            .and_then(|key| self.referencing.get(key))
            .and_then(|index| index.get(value))
            .unwrap_or(&NONE)
    }

    /// Adds a new object (its key, [`Collection::key`], must be set). Enforces unique keys.
    ///
    /// # Errors
    /// 400 `ObjectConflict` when a unique key is taken.
    pub fn insert(&mut self, kind: Collection, obj: Obj) -> GraphResult<()> {
        let id = obj
            .get(kind.key())
            .and_then(Value::as_str)
            .ok_or_else(|| GraphError::bad_request(format!("object has no {}", kind.key())))?
            .to_owned();
        self.check_unique(kind, &id, &obj)?;
        self.index(kind, &id, &obj, true);
        self.objects
            .entry(kind)
            .or_default()
            .insert(id.clone(), &obj);
        self.record(kind, &id, ChangeWhat::Created);
        Ok(())
    }

    /// Adds an object without logging a change: for building a tenant before anyone syncs.
    pub fn insert_initial(&mut self, kind: Collection, obj: Obj) {
        if let Some(id) = obj
            .get(kind.key())
            .and_then(Value::as_str)
            .map(str::to_owned)
        {
            self.index(kind, &id, &obj, true);
            self.objects.entry(kind).or_default().insert(id, &obj);
        }
    }

    /// Stores a settings object (one per tenant: `/policies/authorizationPolicy`, …) under its
    /// id, or under its collection's name when it has none (cross-tenant access defaults).
    pub fn insert_settings(&mut self, kind: Collection, obj: Obj) {
        let key = obj
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(kind.name())
            .to_owned();
        let objects = self.objects.entry(kind).or_default();
        objects.clear();
        objects.insert(key, &obj);
    }

    /// A settings object (see [`Tenant::insert_settings`]) and the key it is stored under, for
    /// [`Tenant::update`].
    pub fn settings(&self, kind: Collection) -> Option<(&str, Obj)> {
        self.objects(kind)?
            .iter()
            .next()
            .map(|(k, o)| (k.as_str(), o))
    }

    /// Merges `patch` into an object; properties set to `null` become `null`.
    ///
    /// # Errors
    /// 404 when the object does not exist; 400 `ObjectConflict` on a taken unique key.
    pub fn update(&mut self, kind: Collection, id: &str, patch: Obj) -> GraphResult<()> {
        let current = self
            .get(kind, id)
            .ok_or_else(|| GraphError::not_found(id))?;
        let mut next = current;
        let mut changed = Vec::new();
        for (k, v) in patch {
            if next.get(&k) != Some(&v) {
                changed.push(k.clone());
                next.insert(k, v);
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        self.check_unique(kind, id, &next)?;
        let old = self
            .objects
            .get_mut(&kind)
            .and_then(|m| m.insert(id.to_owned(), &next));
        if let Some(old) = old {
            self.index(kind, id, &old, false);
        }
        self.index(kind, id, &next, true);
        self.record(kind, id, ChangeWhat::Updated(changed));
        Ok(())
    }

    /// Whether deleting this object sends it to the recycle bin (docs/graph.md §2: users,
    /// Microsoft 365 groups, applications, service principals, administrative units).
    pub fn is_soft_deletable(kind: Collection, obj: &Obj) -> bool {
        match kind {
            Collection::Groups => obj
                .get("groupTypes")
                .and_then(Value::as_array)
                .is_some_and(|t| t.iter().any(|v| v == "Unified")),
            k => k.facts().soft_delete,
        }
    }

    /// Deletes an object: into the recycle bin where Graph does that, for good otherwise.
    /// Returns whether it was soft-deleted.
    ///
    /// # Errors
    /// 404 when the object does not exist.
    pub fn delete(&mut self, kind: Collection, id: &str, now: DateTime<Utc>) -> GraphResult<bool> {
        if !self.contains(kind, id) {
            return Err(GraphError::not_found(id));
        }
        let soft = self.delete_many(kind, &[id.to_owned()], now);
        Ok(soft == 1)
    }

    /// Deletes many objects of one kind as [`Tenant::delete`] does each (ids not there are
    /// skipped), walking the tenant's links once for all of them rather than once each: a
    /// "tenant wiped" scenario deletes 100k users of a tenant with a million memberships.
    /// Returns how many were soft-deleted.
    pub fn delete_many(&mut self, kind: Collection, ids: &[String], now: DateTime<Utc>) -> usize {
        let mut removed = Vec::new();
        for id in ids {
            if let Some(obj) = self.objects.get_mut(&kind).and_then(|m| m.remove(id)) {
                self.index(kind, id, &obj, false);
                removed.push((id.as_str(), obj));
            }
        }
        let gone: HashSet<&str> = removed.iter().map(|(id, _)| *id).collect();
        let mut links = self.detach_links(&gone);
        let mut soft_deleted = 0;
        for (id, obj) in removed {
            let soft = Self::is_soft_deletable(kind, &obj);
            if soft {
                soft_deleted += 1;
                let mut object = obj;
                object.insert("deletedDateTime".into(), Value::String(graph_time(now)));
                self.deleted.insert(
                    id.to_owned(),
                    DeletedItem {
                        kind,
                        object,
                        deleted_at: now,
                        links: links.remove(id).unwrap_or_default(),
                    },
                );
            } else {
                self.auth_methods.remove(id);
            }
            self.record(kind, id, ChangeWhat::Removed { soft });
        }
        soft_deleted
    }

    /// Removes every link touching one of `ids`, logging the removals under each source that
    /// stays; returns them by the id they touched (a link between two of them under its
    /// source).
    fn detach_links(
        &mut self,
        ids: &HashSet<&str>,
    ) -> HashMap<String, Vec<(LinkKind, String, String)>> {
        /// Up to this many ids, each link set is searched for them rather than walked.
        const FEW_IDS: usize = 16;
        let mut removed: HashMap<String, Vec<(LinkKind, String, String)>> = HashMap::new();
        let mut logged = Vec::new();
        for (rel, by_source) in &mut self.links {
            for id in ids {
                if let Some(targets) = by_source.remove(*id) {
                    removed
                        .entry((*id).to_owned())
                        .or_default()
                        .extend(targets.into_iter().map(|t| (*rel, (*id).to_owned(), t)));
                }
            }
            for (source, targets) in by_source.iter_mut() {
                // A few ids are looked up in each set; many are checked against each target
                // (one pass over the links, whatever the number of ids).
                let hits: Vec<String> = if ids.len() <= FEW_IDS {
                    ids.iter()
                        .filter(|id| targets.remove(**id))
                        .map(|id| (*id).to_owned())
                        .collect()
                } else {
                    let hits = targets
                        .iter()
                        .filter(|t| ids.contains(t.as_str()))
                        .cloned()
                        .collect::<Vec<_>>();
                    for t in &hits {
                        targets.remove(t);
                    }
                    hits
                };
                for target in hits {
                    removed.entry(target.clone()).or_default().push((
                        *rel,
                        source.clone(),
                        target.clone(),
                    ));
                    logged.push((*rel, source.clone(), target));
                }
            }
        }
        for (rel, source, target) in logged {
            if let Some(kind) = link_source_kind(rel) {
                self.record(kind, &source, ChangeWhat::LinkRemoved(rel, target));
            }
        }
        removed
    }

    /// The recycle bin, optionally of one kind.
    pub fn deleted_items(&self, kind: Option<Collection>) -> impl Iterator<Item = &DeletedItem> {
        self.deleted
            .values()
            .filter(move |d| kind.is_none_or(|k| d.kind == k))
    }

    /// One recycle-bin item.
    pub fn deleted_item(&self, id: &str) -> Option<&DeletedItem> {
        self.deleted.get(id)
    }

    /// Purges recycle-bin items older than 30 days of emulated time.
    pub fn expire_recycle_bin(&mut self, now: DateTime<Utc>) {
        let cutoff = now - Duration::days(RECYCLE_BIN_DAYS);
        let expired: Vec<String> = self
            .deleted
            .iter()
            .filter(|(_, d)| d.deleted_at <= cutoff)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.purge(&id);
        }
    }

    /// Permanently deletes a recycle-bin item. Returns whether it was there.
    pub fn purge(&mut self, id: &str) -> bool {
        match self.deleted.remove(id) {
            Some(item) => {
                self.auth_methods.remove(id);
                self.record(item.kind, id, ChangeWhat::Removed { soft: false });
                true
            }
            None => false,
        }
    }

    /// Restores a recycle-bin item with its id and links (docs/graph.md §2). A user whose UPN was
    /// taken meanwhile needs `new_upn`.
    ///
    /// # Errors
    /// 404 when not in the bin; 400 `ObjectConflict` when a unique key is now taken.
    pub fn restore(&mut self, id: &str, new_upn: Option<&str>) -> GraphResult<(Collection, Obj)> {
        let item = self
            .deleted
            .get(id)
            .ok_or_else(|| GraphError::not_found(id))?
            .clone();
        let mut object = item.object;
        object.insert("deletedDateTime".into(), Value::Null);
        if let Some(upn) = new_upn {
            object.insert("userPrincipalName".into(), Value::String(upn.to_owned()));
        }
        self.check_unique(item.kind, id, &object)?;
        self.deleted.remove(id);
        self.index(item.kind, id, &object, true);
        self.objects
            .entry(item.kind)
            .or_default()
            .insert(id.to_owned(), &object);
        self.record(item.kind, id, ChangeWhat::Created);
        for (rel, source, target) in item.links {
            let other = if source == id { &target } else { &source };
            if self.kind_of(other).is_some() {
                // Links whose other end is gone stay gone, as in Entra.
                let _ = self.add_link(rel, &source, &target);
            }
        }
        Ok((item.kind, object))
    }

    /// The targets linked from `source` by `rel`.
    pub fn links(&self, rel: LinkKind, source: &str) -> Option<&BTreeSet<String>> {
        self.links.get(&rel)?.get(source)
    }

    /// Every link of `rel`: source → targets.
    pub fn all_links(&self, rel: LinkKind) -> Option<&HashMap<String, BTreeSet<String>>> {
        self.links.get(&rel)
    }

    /// The sources that link to `target` by `rel` (e.g. the groups a user is a member of).
    pub fn sources_of(&self, rel: LinkKind, target: &str) -> Vec<String> {
        let mut sources: Vec<String> = self
            .links
            .get(&rel)
            .map(|m| {
                m.iter()
                    .filter(|(_, t)| t.contains(target))
                    .map(|(s, _)| s.clone())
                    .collect()
            })
            .unwrap_or_default();
        sources.sort();
        sources
    }

    /// Adds a link. Returns `false` when it already existed.
    ///
    /// # Errors
    /// 404 when either end does not exist.
    pub fn add_link(&mut self, rel: LinkKind, source: &str, target: &str) -> GraphResult<bool> {
        let source_kind = link_source_kind(rel)
            .ok_or_else(|| GraphError::bad_request("not a link relationship"))?;
        if !self.contains(source_kind, source) {
            return Err(GraphError::not_found(source));
        }
        if self.kind_of(target).is_none() {
            return Err(GraphError::not_found(target));
        }
        let targets = self
            .links
            .entry(rel)
            .or_default()
            .entry(source.to_owned())
            .or_default();
        if rel == LinkKind::UserManager {
            // A user has one manager: setting it replaces the old one.
            if targets.contains(target) {
                return Ok(false);
            }
            let old: Vec<String> = std::mem::take(targets).into_iter().collect();
            targets.insert(target.to_owned());
            for o in old {
                self.record(source_kind, source, ChangeWhat::LinkRemoved(rel, o));
            }
        } else if !targets.insert(target.to_owned()) {
            return Ok(false);
        }
        self.record(
            source_kind,
            source,
            ChangeWhat::LinkAdded(rel, target.to_owned()),
        );
        Ok(true)
    }

    /// Adds a link while building a tenant (no change logged, ends not checked).
    pub fn add_link_initial(&mut self, rel: LinkKind, source: &str, target: &str) {
        self.links
            .entry(rel)
            .or_default()
            .entry(source.to_owned())
            .or_default()
            .insert(target.to_owned());
    }

    /// Removes a link. Returns `false` when it did not exist.
    pub fn remove_link(&mut self, rel: LinkKind, source: &str, target: &str) -> bool {
        let removed = self
            .links
            .get_mut(&rel)
            .and_then(|m| m.get_mut(source))
            .is_some_and(|t| t.remove(target));
        if removed && let Some(kind) = link_source_kind(rel) {
            self.record(
                kind,
                source,
                ChangeWhat::LinkRemoved(rel, target.to_owned()),
            );
        }
        removed
    }

    /// Whether an object of `kind` has all these string properties (a uniqueness check).
    /// Only the objects an indexed property ([`REFERENCES`]) names are read when there is one.
    pub fn has_object_with(&self, kind: Collection, properties: &[(&str, &str)]) -> bool {
        let matches = |o: &Obj| {
            properties
                .iter()
                .all(|(p, v)| o.get(*p).and_then(Value::as_str) == Some(*v))
        };
        let indexed = properties
            .iter()
            .find(|(p, _)| REFERENCES.contains(&(kind, *p)));
        match indexed {
            Some((p, v)) => self
                .referencing(kind, p, v)
                .iter()
                .any(|id| self.get(kind, id).is_some_and(|o| matches(&o))),
            None => self
                .objects(kind)
                .into_iter()
                .flatten()
                .any(|(_, o)| matches(&o)),
        }
    }

    /// Every object of every kind, for the control API's export.
    pub fn export(&self) -> BTreeMap<&'static str, Vec<Obj>> {
        let mut out = BTreeMap::new();
        for kind in Collection::ALL {
            if let Some(objects) = self.objects.get(&kind) {
                out.insert(kind.name(), objects.values().collect());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
