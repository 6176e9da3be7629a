//! The two inputs of [`crate::plan`]: what the snapshot holds ([`BackupState`], read from the
//! repository) and what the target tenant holds now ([`CurrentState`], read from Graph).
//! Reading is the only I/O of planning; the planner itself is pure.

mod branding;
mod listing;
mod lookups;
pub(crate) use branding::*;
pub(crate) use lookups::*;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use dirvault_graph::{BatchRequest, GraphClient, Method};
use dirvault_model::{
    CollectionPath, DirectoryObject, ObjectId, ObjectKind, Relationship, RelationshipKind,
    SnapshotId, TenantId, schema::schema,
};
use dirvault_store::{Repository, Snapshot};
use serde_json::{Value, json};

use crate::plan::MatchedBy;
use crate::{Error, RestoreOptions, Result};

/// Kinds of directory objects a plan can restore, create or overwrite, in plan order; the
/// tenant policies come after them ([`restorable`]).
const OBJECT_KINDS: [ObjectKind; 9] = [
    ObjectKind::AdministrativeUnits,
    ObjectKind::Groups,
    ObjectKind::Users,
    ObjectKind::Applications,
    ObjectKind::RoleDefinitions,
    ObjectKind::NamedLocations,
    ObjectKind::ServicePrincipals,
    ObjectKind::ConditionalAccessPolicies,
    ObjectKind::Devices,
];

/// The tenant policies a plan rolls back: every kind with documented writes
/// ([`dirvault_model::policy_writes`]), in `ObjectKind::ALL` order.
pub(crate) fn tenant_policies() -> impl Iterator<Item = ObjectKind> {
    ObjectKind::ALL
        .into_iter()
        .filter(|k| dirvault_model::policy_writes::policy_writes(*k).is_some())
}

/// Every kind whose objects a plan can restore, in plan order: directory objects, then tenant
/// policies.
pub fn restorable() -> Vec<ObjectKind> {
    OBJECT_KINDS.into_iter().chain(tenant_policies()).collect()
}

/// Kinds a relationship end or a policy reference can be.
const REFERENCED: [ObjectKind; 10] = [
    ObjectKind::AdministrativeUnits,
    ObjectKind::Groups,
    ObjectKind::Users,
    ObjectKind::Applications,
    ObjectKind::ServicePrincipals,
    ObjectKind::Devices,
    ObjectKind::RoleDefinitions,
    ObjectKind::DirectoryRoles,
    ObjectKind::NamedLocations,
    ObjectKind::ConditionalAccessPolicies,
];

/// What the snapshot holds that a restore needs.
#[derive(Debug, Clone, Default)]
pub struct BackupState {
    /// The backed-up tenant.
    pub tenant: Option<TenantId>,
    /// The snapshot.
    pub snapshot: Option<SnapshotId>,
    /// When it was taken.
    pub time: DateTime<Utc>,
    /// The selected objects' ids, in plan order.
    pub selected: Vec<ObjectId>,
    /// The selected objects and every object they refer to (relationship ends, policy
    /// references, a service principal's application, role definitions).
    pub objects: BTreeMap<ObjectId, DirectoryObject>,
    /// The relationships that touch a selected object.
    pub relationships: Vec<Relationship>,
    /// Authentication methods of selected users (user id → methods as listed).
    pub auth_methods: BTreeMap<ObjectId, Vec<Value>>,
    /// The source tenant's domains.
    pub domains: Vec<String>,
}

impl BackupState {
    /// Reads what a restore with `options` needs from `snapshot`.
    ///
    /// # Errors
    /// [`Error::Selection`] when an id is not in the snapshot (or in another kind);
    /// store errors.
    pub async fn load(
        repo: &Repository,
        snapshot: &Snapshot,
        options: &RestoreOptions,
    ) -> Result<Self> {
        // An index of every referable object: id → (kind, blob), plus UPNs.
        let mut index = HashMap::new();
        let mut upns = HashMap::new();
        for kind in REFERENCED.into_iter().chain(tenant_policies()) {
            for entry in repo.manifest(snapshot, kind).await? {
                if kind == ObjectKind::Users
                    && let Some(upn) = &entry.key
                {
                    upns.insert(upn.to_lowercase(), entry.id.clone());
                }
                index.insert(entry.id.clone(), (kind, entry));
            }
        }
        let restorable = restorable();
        let kinds: Vec<ObjectKind> = match options.kind {
            Some(k) if restorable.contains(&k) => vec![k],
            Some(k) => {
                let why = if k.info().write_permission.is_none() {
                    " (Graph has no application permission that writes them)"
                } else {
                    ""
                };
                return Err(Error::Selection(format!(
                    "{k} objects cannot be restored on their own{why}; restorable kinds: {}",
                    restorable
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            None => restorable.clone(),
        };
        let mut selected = Vec::new();
        if options.all {
            for kind in &kinds {
                for entry in repo.manifest(snapshot, *kind).await? {
                    if matches!(
                        *kind,
                        ObjectKind::RoleDefinitions | ObjectKind::AuthenticationStrengthPolicies
                    ) {
                        // Built-in role definitions and authentication strengths are
                        // read-only (docs/graph.md §1).
                        let object = repo.version(&snapshot.tenant, *kind, &entry).await?;
                        if crate::planner::is_built_in(&object) {
                            continue;
                        }
                    }
                    selected.push(entry.id);
                }
            }
        } else if options.ids.is_empty() {
            return Err(Error::Selection(
                "nothing selected: give --id ID (one or more) or --all".into(),
            ));
        } else {
            // Given twice (or by id and by UPN), selected once.
            let mut seen = std::collections::HashSet::new();
            for given in &options.ids {
                let id = ObjectId::new(given.as_str())
                    .ok()
                    .filter(|id| index.contains_key(id))
                    .or_else(|| upns.get(&given.to_lowercase()).cloned());
                let Some(id) = id else {
                    return Err(Error::Selection(format!(
                        "{given:?} is not in snapshot {}; list what it holds with `dirvault ls`",
                        snapshot.id
                    )));
                };
                let kind = index[&id].0;
                if !kinds.contains(&kind) {
                    return Err(Error::Selection(format!(
                        "{given:?} is a {kind} object in snapshot {}, not {}",
                        snapshot.id,
                        kinds
                            .iter()
                            .map(|k| k.to_string())
                            .collect::<Vec<_>>()
                            .join("/")
                    )));
                }
                if seen.insert(id.clone()) {
                    selected.push(id);
                }
            }
        }
        if options.as_new.is_some() && selected.len() != 1 {
            return Err(Error::Selection(format!(
                "--as-new restores exactly one object; the selection has {}",
                selected.len()
            )));
        }
        // Plan order: by kind, in `restorable` order, stable within a kind.
        selected.sort_by_key(|id| restorable.iter().position(|k| *k == index[id].0));

        let chosen: BTreeSet<&ObjectId> = selected.iter().collect();
        let relationships: Vec<Relationship> = if options.with_memberships
            || options.with_role_assignments
            || options.rollback_relationships
        {
            repo.relationships(snapshot)
                .await?
                .into_iter()
                .filter(|r| touches(r, &chosen))
                .collect()
        } else {
            Vec::new()
        };

        let mut wanted: BTreeSet<ObjectId> = selected.iter().cloned().collect();
        for r in &relationships {
            wanted.extend(r.referenced_ids().into_iter().cloned());
            if let Some(au) = r
                .directory_scope_id()
                .and_then(|s| s.strip_prefix("/administrativeUnits/"))
                .and_then(|s| ObjectId::new(s).ok())
            {
                wanted.insert(au);
            }
        }
        let mut objects = BTreeMap::new();
        for id in wanted {
            read_into(repo, snapshot, &index, &mut objects, id).await?;
        }
        // What selected objects name by id: policy conditions, a service principal's app.
        let mut more = BTreeSet::new();
        for id in &selected {
            let Some(object) = objects.get(id) else {
                continue;
            };
            if object.kind() == ObjectKind::ConditionalAccessPolicies {
                more.extend(
                    crate::planner::policy_references(object)
                        .into_iter()
                        .filter_map(|(_, id)| ObjectId::new(id).ok()),
                );
            }
        }
        if selected
            .iter()
            .any(|id| index[id].0 == ObjectKind::ServicePrincipals)
        {
            for app in repo.manifest(snapshot, ObjectKind::Applications).await? {
                more.insert(app.id);
            }
        }
        // Role definitions: the planner tells built-in from custom roles.
        for def in repo.manifest(snapshot, ObjectKind::RoleDefinitions).await? {
            if relationships.iter().any(|r| r.source == def.id) {
                more.insert(def.id);
            }
        }
        for id in more {
            if !objects.contains_key(&id) {
                read_into(repo, snapshot, &index, &mut objects, id).await?;
            }
        }

        let mut auth_methods = BTreeMap::new();
        if options.with_auth_methods {
            for entry in repo
                .manifest(snapshot, ObjectKind::AuthenticationMethods)
                .await?
            {
                if chosen.contains(&entry.id) {
                    let envelope = repo
                        .version(&snapshot.tenant, ObjectKind::AuthenticationMethods, &entry)
                        .await?;
                    let methods = envelope
                        .get("value")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    auth_methods.insert(entry.id, methods);
                }
            }
        }
        let domains = repo
            .manifest(snapshot, ObjectKind::Domains)
            .await?
            .into_iter()
            .map(|d| d.id.into_string())
            .collect();
        Ok(Self {
            tenant: Some(snapshot.tenant.clone()),
            snapshot: Some(snapshot.id.clone()),
            time: snapshot.time,
            selected,
            objects,
            relationships,
            auth_methods,
            domains,
        })
    }

    /// The object of the snapshot with this id, if the state holds it.
    pub fn object(&self, id: &ObjectId) -> Option<&DirectoryObject> {
        self.objects.get(id)
    }
}

/// Reads one object of the snapshot, if the index knows it, into `objects`.
async fn read_into(
    repo: &Repository,
    snapshot: &Snapshot,
    index: &HashMap<ObjectId, (ObjectKind, dirvault_store::ManifestEntry)>,
    objects: &mut BTreeMap<ObjectId, DirectoryObject>,
    id: ObjectId,
) -> Result<()> {
    if let Some((kind, entry)) = index.get(&id) {
        let object = repo.version(&snapshot.tenant, *kind, entry).await?;
        objects.insert(id, object);
    }
    Ok(())
}

/// Whether a relationship touches one of the chosen objects (either end, its resource, its
/// unit, or the unit it is scoped to).
fn touches(r: &Relationship, chosen: &BTreeSet<&ObjectId>) -> bool {
    r.referenced_ids().iter().any(|id| chosen.contains(id))
        || r.directory_scope_id()
            .and_then(|s| s.strip_prefix("/administrativeUnits/"))
            .is_some_and(|au| chosen.iter().any(|c| c.as_str() == au))
}

/// An object of the snapshot found in the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The target's live object.
    pub object: DirectoryObject,
    /// How it was matched.
    pub matched_by: MatchedBy,
}

/// What the target tenant holds now, as far as the plan needs it. Ids are the target's.
#[derive(Debug, Clone, Default)]
pub struct CurrentState {
    /// The tenant written to.
    pub tenant: Option<TenantId>,
    /// Snapshot objects found in the target, by snapshot id.
    pub found: BTreeMap<ObjectId, Found>,
    /// Snapshot objects in the target's recycle bin (same tenant only), by id.
    pub recycle_bin: BTreeMap<ObjectId, DirectoryObject>,
    /// Links that exist now: (kind, source, target).
    pub links: BTreeSet<(RelationshipKind, String, String)>,
    /// Sources whose links of a kind were listed completely.
    pub listed_sources: BTreeSet<(RelationshipKind, String)>,
    /// Objects whose group / unit memberships (`memberOf`) were listed completely.
    pub listed_member_of: BTreeSet<String>,
    /// Role assignments, PIM eligibilities, app role assignments and grants that exist now.
    pub assignments: Vec<Relationship>,
    /// Whether `assignments` is complete for role assignments, eligibility and grants.
    pub assignments_listed: bool,
    /// Resource service principals whose app role assignments were listed completely.
    pub listed_resources: BTreeSet<String>,
    /// Snapshot objects whose lookup did not settle (several matches, an unreadable answer,
    /// an object other than the one asked for), with why: the planner neither changes nor
    /// re-creates them.
    pub ambiguous: BTreeMap<ObjectId, String>,
    /// Authentication methods of found users (target id → methods).
    pub auth_methods: BTreeMap<String, Vec<Value>>,
    /// The target's verified domains.
    pub domains: Vec<String>,
    /// The target organization's id, read when branding is restored.
    pub organization: Option<String>,
    /// Extension property names the target has (`extension_{appId}_{name}`); `None` when not
    /// read.
    pub extension_properties: Option<BTreeSet<String>>,
    /// Activated directory roles: roleTemplateId → directoryRole id.
    pub activated_roles: BTreeMap<String, String>,
    /// The target's role definitions.
    pub role_definitions: Vec<DirectoryObject>,
}

impl CurrentState {
    /// Reads what the plan needs from the target tenant: each snapshot object by its match
    /// keys, the recycle bin, the links and assignments of the objects concerned, users'
    /// authentication methods, domains, activated roles. Reads go through `$batch`.
    ///
    /// # Errors
    /// Graph errors that stop the read (authentication, network); a 404 is an answer.
    pub async fn read(
        client: &GraphClient,
        backup: &BackupState,
        options: &RestoreOptions,
        cross_tenant: bool,
    ) -> Result<Self> {
        let mut state = CurrentState {
            tenant: Some(client.tenant().clone()),
            ..Self::default()
        };
        let domain = options.domain.as_deref();
        state.organization = Self::read_organization(client, backup).await?;

        // 1. Objects, by match key, round after round for the ones not found yet.
        let organization = state.organization.clone();
        let mut pending: Vec<(&DirectoryObject, Vec<Lookup>)> = backup
            .objects
            .values()
            .map(|o| match (o.kind(), &organization) {
                (ObjectKind::BrandingLocalizations, Some(org)) => {
                    (o, vec![branding_lookup(o, org)])
                }
                _ => (o, lookups(o, cross_tenant, domain)),
            })
            .filter(|(_, l)| !l.is_empty())
            .collect();
        pending = listing::answer_from_listings(client, pending, &mut state).await?;
        while !pending.is_empty() {
            let requests: Vec<BatchRequest> = pending
                .iter()
                .enumerate()
                .map(|(i, (_, l))| BatchRequest::get(i.to_string(), l[0].url.clone()))
                .collect();
            let answers = client.batch(&requests).await?;
            let mut next = Vec::new();
            for ((object, mut candidates), answer) in pending.into_iter().zip(answers) {
                let Lookup { by, key, .. } = candidates.remove(0);
                let hit = if answer.status == 200 {
                    match matched(object.kind(), &answer.body, by, &key) {
                        Ok(hit) => hit,
                        Err(reason) => {
                            state.ambiguous.insert(object.id().clone(), reason);
                            continue;
                        }
                    }
                } else {
                    None
                };
                match hit {
                    Some(live) => {
                        state.found.insert(
                            object.id().clone(),
                            Found {
                                object: live,
                                matched_by: by,
                            },
                        );
                    }
                    None if answer.status == 200 || answer.status == 404 => {
                        if !candidates.is_empty() {
                            next.push((object, candidates));
                        }
                    }
                    None => return Err(batch_error(client, &requests, answer)),
                }
            }
            pending = next;
        }

        state.read_branding_streams(client).await?;

        // 2. The recycle bin, for soft-deletable objects not found (same tenant only).
        if !cross_tenant {
            let missing: Vec<&DirectoryObject> = backup
                .objects
                .values()
                .filter(|o| o.kind().info().soft_delete || o.kind() == ObjectKind::Groups)
                .filter(|o| !state.found.contains_key(o.id()))
                .collect();
            let missing = listing::maybe_in_recycle_bin(client, missing).await?;
            let requests: Vec<BatchRequest> = missing
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    BatchRequest::get(i.to_string(), format!("/directory/deletedItems/{}", o.id()))
                })
                .collect();
            for (object, answer) in missing.iter().zip(client.batch(&requests).await?) {
                match answer.status {
                    200 => {
                        if let Ok(item) = DirectoryObject::from_graph(object.kind(), answer.body) {
                            state.recycle_bin.insert(object.id().clone(), item);
                        }
                    }
                    404 => {}
                    _ => return Err(batch_error(client, &requests, answer)),
                }
            }
        }

        // 3. Links of the objects concerned, by source, and memberOf of selected objects.
        let target_id = |id: &ObjectId| state.found.get(id).map(|f| f.object.id().to_string());
        let mut sources = BTreeSet::new();
        for r in &backup.relationships {
            if let Some(segment) = crate::planner::link_path(r.kind)
                && let Some(source) = target_id(&r.source)
            {
                sources.insert((r.kind, source, segment));
            }
        }
        let mut member_of = Vec::new();
        if options.rollback_relationships {
            for id in &backup.selected {
                let Some(found) = state.found.get(id) else {
                    continue;
                };
                let live = found.object.id().to_string();
                match found.object.kind() {
                    ObjectKind::Users | ObjectKind::Groups => {
                        member_of.push((found.object.kind(), live.clone()));
                    }
                    _ => {}
                }
                for rel in crate::planner::LINK_KINDS {
                    if crate::planner::link_source_kind(rel) == Some(found.object.kind())
                        && let Some(segment) = crate::planner::link_path(rel)
                    {
                        sources.insert((rel, live.clone(), segment));
                    }
                }
            }
        }
        let urls: Vec<String> = sources
            .iter()
            .map(|(_, source, segment)| segment.replace("{id}", source) + "?$select=id")
            .collect();
        for ((rel, source, _), items) in sources.iter().zip(list_all(client, &urls).await?) {
            if let Some(items) = items {
                for item in items {
                    if let Some(t) = item.get("id").and_then(Value::as_str) {
                        state.links.insert((*rel, source.clone(), t.to_owned()));
                    }
                }
                state.listed_sources.insert((*rel, source.clone()));
            }
        }
        let urls: Vec<String> = member_of
            .iter()
            .map(|(kind, id)| format!("/{kind}/{id}/memberOf?$select=id"))
            .collect();
        for ((_, member), items) in member_of.iter().zip(list_all(client, &urls).await?) {
            let Some(items) = items else { continue };
            for item in items {
                let rel = match item.get("@odata.type").and_then(Value::as_str) {
                    Some("#microsoft.graph.group") => RelationshipKind::GroupMember,
                    Some("#microsoft.graph.administrativeUnit") => {
                        RelationshipKind::AdministrativeUnitMember
                    }
                    _ => continue,
                };
                if let Some(g) = item.get("id").and_then(Value::as_str) {
                    state.links.insert((rel, g.to_owned(), member.clone()));
                }
            }
            state.listed_member_of.insert(member.clone());
        }
        // Managers of found users whose manager the snapshot records.
        let managed: Vec<String> = backup
            .relationships
            .iter()
            .filter(|r| r.kind == RelationshipKind::UserManager)
            .filter_map(|r| target_id(&r.source))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let requests: Vec<BatchRequest> = managed
            .iter()
            .map(|u| BatchRequest::get(u.clone(), format!("/users/{u}/manager?$select=id")))
            .collect();
        for (user, answer) in managed.iter().zip(client.batch(&requests).await?) {
            match answer.status {
                200 => {
                    if let Some(m) = answer.body.get("id").and_then(Value::as_str) {
                        state.links.insert((
                            RelationshipKind::UserManager,
                            user.clone(),
                            m.to_owned(),
                        ));
                    }
                }
                404 => {}
                _ => return Err(batch_error(client, &requests, answer)),
            }
            state
                .listed_sources
                .insert((RelationshipKind::UserManager, user.clone()));
        }

        // 4. Assignments (role, PIM, grants tenant-wide; app roles per resource).
        if options.with_role_assignments || options.rollback_relationships {
            for (path, kind) in [
                (
                    "/roleManagement/directory/roleAssignments",
                    ObjectKind::RoleAssignments,
                ),
                (
                    "/roleManagement/directory/roleEligibilitySchedules",
                    ObjectKind::RoleEligibilitySchedules,
                ),
                (
                    "/oauth2PermissionGrants",
                    ObjectKind::Oauth2PermissionGrants,
                ),
            ] {
                state
                    .assignments
                    .extend(relationships(client, path, kind).await?);
            }
            state.assignments_listed = true;
            let resources: BTreeSet<String> = backup
                .relationships
                .iter()
                .filter(|r| r.kind == RelationshipKind::AppRoleAssignment)
                .filter_map(|r| target_id(&r.source))
                .collect();
            for resource in resources {
                let path = format!("/servicePrincipals/{resource}/appRoleAssignedTo");
                state
                    .assignments
                    .extend(relationships(client, &path, ObjectKind::AppRoleAssignments).await?);
                state.listed_resources.insert(resource);
            }
            for def in collect(client, "/roleManagement/directory/roleDefinitions").await? {
                if let Ok(def) = DirectoryObject::from_graph(ObjectKind::RoleDefinitions, def) {
                    state.role_definitions.push(def);
                }
            }
            for role in collect(client, "/directoryRoles").await? {
                if let (Some(t), Some(id)) = (
                    role.get("roleTemplateId").and_then(Value::as_str),
                    role.get("id").and_then(Value::as_str),
                ) {
                    state.activated_roles.insert(t.to_owned(), id.to_owned());
                }
            }
        }

        // 5. Authentication methods of found selected users.
        if options.with_auth_methods {
            let users: Vec<String> = backup
                .selected
                .iter()
                .filter(|id| backup.auth_methods.contains_key(*id))
                .filter_map(target_id)
                .collect();
            let requests: Vec<BatchRequest> = users
                .iter()
                .map(|u| BatchRequest::get(u.clone(), format!("/users/{u}/authentication/methods")))
                .collect();
            for (user, answer) in users.iter().zip(client.batch(&requests).await?) {
                if answer.status != 200 {
                    return Err(batch_error(client, &requests, answer));
                }
                let methods = answer.body["value"].as_array().cloned().unwrap_or_default();
                state.auth_methods.insert(user.clone(), methods);
            }
        }

        // 6. Domains, and extension properties when objects carry some.
        for domain in collect(client, "/domains").await? {
            if domain.get("isVerified") != Some(&Value::Bool(false))
                && let Some(id) = domain.get("id").and_then(Value::as_str)
            {
                state.domains.push(id.to_owned());
            }
        }
        if backup
            .objects
            .values()
            .any(|o| o.raw().keys().any(|k| k.starts_with("extension_")))
        {
            let answer = client
                .send(
                    Method::POST,
                    "/directoryObjects/getAvailableExtensionProperties",
                    Some(&json!({})),
                    &[],
                )
                .await?;
            state.extension_properties = Some(
                answer.body["value"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect(),
            );
        }
        Ok(state)
    }

    /// The target id of a snapshot object that exists in the target.
    pub fn target_id(&self, id: &ObjectId) -> Option<&ObjectId> {
        self.found.get(id).map(|f| f.object.id())
    }
}

fn batch_error(
    client: &GraphClient,
    requests: &[BatchRequest],
    answer: dirvault_graph::BatchResponse,
) -> Error {
    let url = requests
        .iter()
        .find(|r| r.id == answer.id)
        .map(|r| r.url.clone())
        .unwrap_or_default();
    Error::Read {
        tenant: client.tenant().clone(),
        url,
        status: answer.status,
        code: answer.body["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        message: answer.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    }
}

/// Every item of a collection.
async fn collect(client: &GraphClient, path: &str) -> Result<Vec<Value>> {
    use futures::TryStreamExt;
    let pages: Vec<_> = client.pages(path).try_collect().await?;
    Ok(pages.into_iter().flat_map(|p| p.items).collect())
}

/// A collection of relationship objects, as relationships.
async fn relationships(
    client: &GraphClient,
    path: &str,
    kind: ObjectKind,
) -> Result<Vec<Relationship>> {
    let mut out = Vec::new();
    for item in collect(client, path).await? {
        if let Ok(object) = DirectoryObject::from_graph(kind, item)
            && let Ok(Some(r)) = Relationship::from_object(&object)
        {
            out.push(r);
        }
    }
    Ok(out)
}

/// Every item of many collections: first pages through `$batch`, further pages followed one
/// by one. `None` for a collection whose source is gone (404).
async fn list_all(client: &GraphClient, urls: &[String]) -> Result<Vec<Option<Vec<Value>>>> {
    let requests: Vec<BatchRequest> = urls
        .iter()
        .enumerate()
        .map(|(i, u)| BatchRequest::get(i.to_string(), u.clone()))
        .collect();
    let mut out = Vec::with_capacity(urls.len());
    for answer in client.batch(&requests).await? {
        match answer.status {
            200 => {
                out.push(Some(client.rest_of(&answer.body).await?));
            }
            404 => out.push(None),
            _ => return Err(batch_error(client, &requests, answer)),
        }
    }
    Ok(out)
}
