//! Graph reads: collections, single objects, relationship lists, authentication methods,
//! the recycle bin and extension properties.

use std::collections::{BTreeSet, VecDeque};
use std::ops::Bound;

use crate::kinds::{Collection, LinkKind};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{collection, json_response};
use crate::Emulator;
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::odata::{self, MAX_TOP, Query, project};
use crate::tenant::{Obj, Tenant};

/// The parsed query and the path (after `/v1.0`) of a Graph request.
pub(crate) struct Req {
    pub(crate) query: Query,
    pub(crate) path: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Req {
    type Rejection = GraphError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, GraphError> {
        Ok(Req {
            query: Query::parse(parts.uri.query().unwrap_or(""), &parts.headers)?,
            path: parts.uri.path().to_owned(),
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = GraphError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, GraphError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            GraphError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty.",
            )
        })
    }
}

/// A collection Graph returns in one page (no nextLink, no count).
fn unpaged(caller: &Caller, set: &str, items: Vec<Value>) -> Response {
    collection(
        odata::context(&caller.base, set, None, false),
        items,
        None,
        None,
    )
}

/// The caller's tenant.
pub(crate) fn tenant_of(
    emulator: &Emulator,
    caller: &Caller,
) -> GraphResult<std::sync::Arc<parking_lot::RwLock<Tenant>>> {
    emulator.tenant(&caller.tenant_id).ok_or_else(|| {
        GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        )
    })
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    after: String,
}

/// The id a `$skiptoken` says the page starts after, if any.
pub(crate) fn page_after(query: &Query) -> GraphResult<Option<String>> {
    match &query.skiptoken {
        Some(token) => Ok(Some(odata::decode_token::<Cursor>(token)?.after)),
        None => Ok(None),
    }
}

/// The nextLink of a page cut after `last` when there is `more`.
pub(crate) fn next_link_after(
    caller: &Caller,
    path: &str,
    query: &Query,
    more: bool,
    last: Option<String>,
) -> Option<String> {
    match (more, last) {
        (true, Some(after)) => Some(odata::next_link(
            &caller.base,
            path,
            &query.pairs,
            &odata::encode_token(&Cursor { after }),
        )),
        _ => None,
    }
}

/// The registered extension properties that apply to `kind` (docs/graph.md §6a).
pub(crate) fn extension_names(t: &Tenant, kind: Collection) -> Vec<String> {
    let target = match kind {
        Collection::Users => "User",
        Collection::Groups => "Group",
        Collection::Applications => "Application",
        Collection::Devices => "Device",
        _ => return Vec::new(),
    };
    t.extension_properties
        .iter()
        .filter(|e| {
            e.get("targetObjects")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == target))
        })
        .filter_map(|e| e.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Default and maximum page sizes (docs/graph.md §1, §6).
fn page_limits(kind: Collection) -> (usize, usize) {
    match kind {
        Collection::SignIns => (1000, 1000),
        _ => (100, MAX_TOP),
    }
}

/// Navigation properties `$expand` accepts, by kind.
fn expandable(kind: Collection) -> &'static [&'static str] {
    match kind {
        Collection::Users => &["manager", "memberOf"],
        Collection::Groups => &["members", "owners"],
        Collection::Applications | Collection::ServicePrincipals => &["owners"],
        Collection::Devices => &["registeredOwners", "registeredUsers"],
        Collection::DirectoryRoles | Collection::AdministrativeUnits => &["members"],
        Collection::RoleAssignments => &["principal", "roleDefinition"],
        _ => &[],
    }
}

fn matches_search(obj: &Obj, search: &str) -> bool {
    // $search="displayName:adele" (tokenized "contains" on the named property).
    let (prop, term) = search.split_once(':').unwrap_or(("displayName", search));
    obj.get(prop.trim_matches('"'))
        .and_then(Value::as_str)
        .is_some_and(|v| {
            v.to_lowercase()
                .contains(&term.trim_matches('"').to_lowercase())
        })
}

fn check_special_selects(
    kind: Collection,
    caller: &Caller,
    q: &Query,
    page: usize,
) -> GraphResult<()> {
    let selects_sign_in = q
        .select
        .as_ref()
        .is_some_and(|s| s.iter().any(|p| p == "signInActivity"));
    if kind == Collection::Users && selects_sign_in {
        // Graph: user.md — signInActivity needs AuditLog.Read.All and caps $top at 500.
        caller.require(&["AuditLog.Read.All"])?;
        if page > 500 {
            return Err(GraphError::bad_request(format!(
                "Invalid page size specified: '{page}'. Must be between 1 and 500 inclusive when signInActivity is selected."
            )));
        }
    }
    Ok(())
}

/// `GET /{collection}`
pub(crate) async fn list(
    kind: Collection,
    State(emulator): State<Emulator>,
    caller: Caller,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(kind)?;
    let Req { mut query, path } = req;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    query.check_select(&t.metadata, kind, &extension_names(&t, kind), false, &[])?;
    query.check_filter(&t.metadata, kind, &extension_names(&t, kind))?;
    check_expand(kind, &query)?;
    let (default, max) = page_limits(kind);
    let size = query.page_size(default, max)?;
    check_special_selects(kind, &caller, &query, size)?;
    let after = page_after(&query)?;
    let empty = std::collections::BTreeMap::new();
    let objects = t.objects(kind).unwrap_or(&empty);
    let keep = |o: &Obj| {
        query.filter.as_ref().is_none_or(|f| f.matches(o))
            && query.search.as_deref().is_none_or(|s| matches_search(o, s))
    };
    let range = match &after {
        Some(a) => objects.range::<String, _>((Bound::Excluded(a), Bound::Unbounded)),
        None => objects.range::<String, _>(..),
    };
    let mut items = Vec::with_capacity(size.min(objects.len()));
    let mut last = None;
    let mut more = false;
    for (id, obj) in range {
        if !keep(obj) {
            continue;
        }
        if items.len() == size {
            more = true;
            break;
        }
        items.push(render(&t, kind, obj, &query));
        last = Some(id.clone());
    }
    let count = query
        .count
        .then(|| objects.values().filter(|o| keep(o)).count());
    let next = next_link_after(&caller, &path, &query, more, last);
    let context = odata::context(&caller.base, kind.name(), query.select.as_deref(), false);
    Ok(collection(context, items, next, count))
}

fn check_expand(kind: Collection, q: &Query) -> GraphResult<()> {
    for e in &q.expand {
        if !expandable(kind).iter().any(|x| x.eq_ignore_ascii_case(e)) {
            return Err(GraphError::bad_request(format!(
                "Could not find a property named '{e}' on type '{}'.",
                kind.facts().odata_type
            )));
        }
    }
    Ok(())
}

/// Projects an object and adds `$expand`ed navigation properties (at most 20 items each,
/// as Graph does for directory objects: docs/graph.md §6).
fn render(t: &Tenant, kind: Collection, obj: &Obj, q: &Query) -> Value {
    let mut out = project(&t.metadata, kind, obj, q.select.as_deref());
    let id = obj.get("id").and_then(Value::as_str).unwrap_or("");
    for (i, nav) in q.expand.iter().enumerate() {
        let select = q.expand_select.get(i).cloned().flatten();
        let select = select.as_deref();
        let value = match (kind, nav.to_ascii_lowercase().as_str()) {
            (Collection::Users, "manager") => t
                .links(LinkKind::UserManager, id)
                .and_then(|m| m.iter().next())
                .and_then(|m| directory_object(t, m, select))
                .unwrap_or(Value::Null),
            (Collection::Users, "memberof") => Value::Array(
                member_of_ids(t, id)
                    .iter()
                    .take(20)
                    .filter_map(|g| directory_object(t, g, select))
                    .collect(),
            ),
            (Collection::RoleAssignments, "principal") => obj
                .get("principalId")
                .and_then(Value::as_str)
                .and_then(|p| directory_object(t, p, select))
                .unwrap_or(Value::Null),
            (Collection::RoleAssignments, "roledefinition") => obj
                .get("roleDefinitionId")
                .and_then(Value::as_str)
                .and_then(|d| t.get(Collection::RoleDefinitions, d))
                .map(|d| Value::Object(d.clone()))
                .unwrap_or(Value::Null),
            (_, nav_lower) => {
                let rel = match nav_lower {
                    "members" => match kind {
                        Collection::Groups => Some(LinkKind::GroupMember),
                        Collection::DirectoryRoles => Some(LinkKind::DirectoryRoleMember),
                        _ => Some(LinkKind::AdministrativeUnitMember),
                    },
                    "owners" => match kind {
                        Collection::Groups => Some(LinkKind::GroupOwner),
                        Collection::Applications => Some(LinkKind::ApplicationOwner),
                        _ => Some(LinkKind::ServicePrincipalOwner),
                    },
                    "registeredowners" => Some(LinkKind::DeviceRegisteredOwner),
                    "registeredusers" => Some(LinkKind::DeviceRegisteredUser),
                    _ => None,
                };
                let targets = rel.and_then(|r| t.links(r, id));
                Value::Array(
                    targets
                        .into_iter()
                        .flatten()
                        .take(20)
                        .filter_map(|m| directory_object(t, m, select))
                        .collect(),
                )
            }
        };
        let name = expandable(kind)
            .iter()
            .find(|x| x.eq_ignore_ascii_case(nav))
            .copied()
            .unwrap_or(nav.as_str());
        out.insert(name.to_owned(), value);
    }
    Value::Object(out)
}

/// A directory object as it appears in a relationship list: `@odata.type` first, then the
/// kind's default (or `$select`ed) properties.
pub(crate) fn directory_object(t: &Tenant, id: &str, select: Option<&[String]>) -> Option<Value> {
    let kind = t.kind_of(id)?;
    let obj = t.get(kind, id)?;
    let mut out = serde_json::Map::new();
    out.insert(
        "@odata.type".into(),
        Value::String(format!("#{}", kind.facts().odata_type)),
    );
    out.extend(project(&t.metadata, kind, obj, select));
    Some(Value::Object(out))
}

/// `GET /{collection}/{id}`
pub(crate) async fn get_one(
    kind: Collection,
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(kind)?;
    let Req { mut query, .. } = req;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    query.check_select(&t.metadata, kind, &extension_names(&t, kind), true, &[])?;
    check_expand(kind, &query)?;
    check_special_selects(kind, &caller, &query, 1)?;
    let obj = lookup(&t, kind, &id).ok_or_else(|| GraphError::not_found(&id))?;
    let mut body = serde_json::Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(odata::context(
            &caller.base,
            kind.name(),
            query.select.as_deref(),
            true,
        )),
    );
    if let Value::Object(m) = render(&t, kind, obj, &query) {
        body.extend(m);
    }
    Ok(json_response(StatusCode::OK, Value::Object(body)))
}

/// An object by id, or a user by userPrincipalName (Graph accepts either: user-get.md).
/// A directory role also by the template it was activated from:
/// `directoryRoles(roleTemplateId='…')` (directoryrole-get.md), which the router receives as
/// `roleTemplateId=…`.
pub(crate) fn lookup<'a>(t: &'a Tenant, kind: Collection, key: &str) -> Option<&'a Obj> {
    t.get(kind, key).or_else(|| {
        match (kind, key.strip_prefix("roleTemplateId=")) {
            (Collection::Users, _) => t
                .find_unique(kind, "userPrincipalName", key)
                .and_then(|id| t.get(kind, id)),
            // A tenant activates a few dozen roles at most: a scan is cheap.
            (Collection::DirectoryRoles, Some(template)) => t.objects(kind)?.values().find(|r| {
                r.get("roleTemplateId")
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(template))
            }),
            _ => None,
        }
    })
}

/// An existing object by id (or a user by UPN): its canonical id and a copy of it.
///
/// # Errors
/// 404 `Request_ResourceNotFound`.
pub(crate) fn existing(t: &Tenant, kind: Collection, key: &str) -> GraphResult<(String, Obj)> {
    let obj = lookup(t, kind, key)
        .cloned()
        .ok_or_else(|| GraphError::not_found(key))?;
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or(key)
        .to_owned();
    Ok((id, obj))
}

/// The permission that reads links of `rel`.
fn link_read_permissions(rel: LinkKind, source: Collection) -> Vec<&'static str> {
    match rel {
        LinkKind::GroupMember | LinkKind::GroupOwner => {
            vec!["GroupMember.Read.All"]
        }
        _ => vec![source.facts().read_permission],
    }
}

/// Pages over a sorted list of ids.
fn page_ids<'a>(
    ids: impl Iterator<Item = &'a String>,
    q: &Query,
    size: usize,
) -> GraphResult<(Vec<&'a String>, Option<String>)> {
    let after = match &q.skiptoken {
        Some(token) => Some(odata::decode_token::<Cursor>(token)?.after),
        None => None,
    };
    let mut out = Vec::new();
    let mut more = false;
    for id in ids {
        if after.as_ref().is_some_and(|a| id <= a) {
            continue;
        }
        if out.len() == size {
            more = true;
            break;
        }
        out.push(id);
    }
    let next = if more {
        out.last().map(|l| (*l).clone())
    } else {
        None
    };
    Ok((out, next))
}

fn directory_objects_response(
    t: &Tenant,
    caller: &Caller,
    req: &Req,
    ids: &BTreeSet<String>,
    set: &str,
) -> GraphResult<Response> {
    let q = &req.query;
    let size = q.page_size(100, MAX_TOP)?;
    let filtered: Vec<&String> = ids
        .iter()
        .filter(|id| {
            q.filter.as_ref().is_none_or(|f| {
                t.kind_of(id)
                    .and_then(|k| t.get(k, id))
                    .is_some_and(|o| f.matches(o))
            })
        })
        .collect();
    let (page, next) = page_ids(filtered.iter().copied(), q, size)?;
    let items = page
        .iter()
        .filter_map(|id| directory_object(t, id, q.select.as_deref()))
        .collect();
    let next = next.map(|after| {
        odata::next_link(
            &caller.base,
            &req.path,
            &q.pairs,
            &odata::encode_token(&Cursor { after }),
        )
    });
    let count = q.count.then_some(filtered.len());
    Ok(collection(
        odata::context(&caller.base, set, q.select.as_deref(), false),
        items,
        next,
        count,
    ))
}

/// `GET /groups/{id}/members` and the other link lists.
pub(crate) async fn links(
    rel: LinkKind,
    source: Collection,
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    req: Req,
) -> GraphResult<Response> {
    caller.require(&link_read_permissions(rel, source))?;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    let id = source_id(&t, source, &id)?;
    let empty = BTreeSet::new();
    let ids = t.links(rel, &id).unwrap_or(&empty);
    directory_objects_response(&t, &caller, &req, ids, "directoryObjects")
}

/// The canonical id of a relationship's source (given by id, UPN or role template).
fn source_id(t: &Tenant, source: Collection, key: &str) -> GraphResult<String> {
    lookup(t, source, key)
        .and_then(|o| o.get("id").and_then(Value::as_str))
        .map(str::to_owned)
        .ok_or_else(|| GraphError::not_found(key))
}

/// `GET /groups/{id}/members/{member}`: the list cast to one type
/// (`microsoft.graph.user`, or `graph.user` as the SDKs write it: group-list-members.md),
/// the list's size (`$count`, with `ConsistencyLevel: eventual`), or one member by id.
pub(crate) async fn link(
    rel: LinkKind,
    source: Collection,
    State(emulator): State<Emulator>,
    caller: Caller,
    Path((id, member)): Path<(String, String)>,
    req: Req,
) -> GraphResult<Response> {
    caller.require(&link_read_permissions(rel, source))?;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    let id = source_id(&t, source, &id)?;
    let empty = BTreeSet::new();
    let ids = t.links(rel, &id).unwrap_or(&empty);
    if member == "$count" {
        return count_response(&req.query, ids.len());
    }
    if let Some(cast) = member
        .strip_prefix("microsoft.graph.")
        .or_else(|| member.strip_prefix("graph."))
    {
        let Some(kind) = cast_target(cast) else {
            return Err(GraphError::bad_request(format!(
                "Type cast '{member}' is not a directory object type."
            )));
        };
        let cast_ids: BTreeSet<String> = ids
            .iter()
            .filter(|m| t.kind_of(m) == Some(kind))
            .cloned()
            .collect();
        let set = format!("directoryObjects/{}", kind.facts().odata_type);
        return directory_objects_response(&t, &caller, &req, &cast_ids, &set);
    }
    if !ids.contains(&member) {
        return Err(GraphError::not_found(&member));
    }
    let object = directory_object(&t, &member, req.query.select.as_deref())
        .ok_or_else(|| GraphError::not_found(&member))?;
    Ok(json_response(StatusCode::OK, object))
}

/// The kind a relationship list can be cast to.
fn cast_target(cast: &str) -> Option<Collection> {
    Some(match cast {
        "user" => Collection::Users,
        "group" => Collection::Groups,
        "servicePrincipal" => Collection::ServicePrincipals,
        "application" => Collection::Applications,
        "device" => Collection::Devices,
        "directoryRole" => Collection::DirectoryRoles,
        "administrativeUnit" => Collection::AdministrativeUnits,
        _ => return None,
    })
}

/// `GET /{collection}/$count`: the number of objects (matching `$filter`/`$search`), as
/// `text/plain`. Like `$count=true`, it needs `ConsistencyLevel: eventual`
/// (aad-advanced-queries.md; user-list.md "Get only a count of users").
pub(crate) async fn count(
    kind: Collection,
    State(emulator): State<Emulator>,
    caller: Caller,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(kind)?;
    let query = req.query;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    query.check_filter(&t.metadata, kind, &extension_names(&t, kind))?;
    let n = t.objects(kind).map_or(0, |objects| {
        objects
            .values()
            .filter(|o| {
                query.filter.as_ref().is_none_or(|f| f.matches(o))
                    && query.search.as_deref().is_none_or(|s| matches_search(o, s))
            })
            .count()
    });
    count_response(&query, n)
}

fn count_response(query: &Query, n: usize) -> GraphResult<Response> {
    if !query.eventual {
        return Err(GraphError::unsupported_query(
            "$count is only supported with the 'ConsistencyLevel: eventual' header.",
        ));
    }
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "text/plain")],
        n.to_string(),
    )
        .into_response())
}

/// `GET /groups/{id}/transitiveMembers`: members of nested groups too, each once.
pub(crate) async fn transitive_members(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    req: Req,
) -> GraphResult<Response> {
    caller.require(&["GroupMember.Read.All"])?;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    if t.get(Collection::Groups, &id).is_none() {
        return Err(GraphError::not_found(&id));
    }
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([id.clone()]);
    let mut visited_groups = BTreeSet::from([id]);
    while let Some(group) = queue.pop_front() {
        for m in t.links(LinkKind::GroupMember, &group).into_iter().flatten() {
            seen.insert(m.clone());
            if t.get(Collection::Groups, m).is_some() && visited_groups.insert(m.clone()) {
                queue.push_back(m.clone());
            }
        }
    }
    directory_objects_response(&t, &caller, &req, &seen, "directoryObjects")
}

fn member_of_ids(t: &Tenant, id: &str) -> BTreeSet<String> {
    let mut ids: BTreeSet<String> = t
        .sources_of(LinkKind::GroupMember, id)
        .into_iter()
        .collect();
    ids.extend(t.sources_of(LinkKind::DirectoryRoleMember, id));
    ids.extend(t.sources_of(LinkKind::AdministrativeUnitMember, id));
    ids
}

/// `GET /users/{id}/memberOf`: groups, directory roles and administrative units.
pub(crate) async fn member_of(
    kind: Collection,
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    req: Req,
) -> GraphResult<Response> {
    caller.require(&[kind.facts().read_permission])?;
    caller.require(&["GroupMember.Read.All"])?;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    let obj = lookup(&t, kind, &id).ok_or_else(|| GraphError::not_found(&id))?;
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or(&id)
        .to_owned();
    directory_objects_response(
        &t,
        &caller,
        &req,
        &member_of_ids(&t, &id),
        "directoryObjects",
    )
}

/// `GET /users/{id}/manager`
pub(crate) async fn manager(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(Collection::Users)?;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    let user = lookup(&t, Collection::Users, &id).ok_or_else(|| GraphError::not_found(&id))?;
    let uid = user.get("id").and_then(Value::as_str).unwrap_or(&id);
    let manager = t
        .links(LinkKind::UserManager, uid)
        .and_then(|m| m.iter().next())
        .and_then(|m| directory_object(&t, m, req.query.select.as_deref()))
        .ok_or_else(|| GraphError::not_found("manager"))?;
    let mut body = serde_json::Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(odata::context(&caller.base, "directoryObjects", None, true)),
    );
    if let Value::Object(m) = manager {
        body.extend(m);
    }
    Ok(json_response(StatusCode::OK, Value::Object(body)))
}

fn filtered_objects(t: &Tenant, kind: Collection, field: &str, id: &str) -> BTreeSet<String> {
    t.objects(kind)
        .into_iter()
        .flatten()
        .filter(|(_, o)| o.get(field).and_then(Value::as_str) == Some(id))
        .map(|(k, _)| k.clone())
        .collect()
}

fn objects_response(
    t: &Tenant,
    caller: &Caller,
    req: &Req,
    kind: Collection,
    ids: &BTreeSet<String>,
) -> GraphResult<Response> {
    let q = &req.query;
    let size = q.page_size(100, MAX_TOP)?;
    let (page, next) = page_ids(ids.iter(), q, size)?;
    let items = page
        .iter()
        .filter_map(|id| t.get(kind, id))
        .map(|o| Value::Object(project(&t.metadata, kind, o, q.select.as_deref())))
        .collect();
    let next = next.map(|after| {
        odata::next_link(
            &caller.base,
            &req.path,
            &q.pairs,
            &odata::encode_token(&Cursor { after }),
        )
    });
    Ok(collection(
        odata::context(&caller.base, kind.name(), q.select.as_deref(), false),
        items,
        next,
        None,
    ))
}

/// `GET /servicePrincipals/{id}/appRoleAssignedTo` (by resource) and
/// `GET /{users|groups|servicePrincipals}/{id}/appRoleAssignments` (by principal).
pub(crate) async fn app_role_assignments(
    field: &'static str,
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(Collection::AppRoleAssignments)?;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    if t.kind_of(&id).is_none() {
        return Err(GraphError::not_found(&id));
    }
    let ids = filtered_objects(&t, Collection::AppRoleAssignments, field, &id);
    objects_response(&t, &caller, &req, Collection::AppRoleAssignments, &ids)
}

/// `GET /servicePrincipals/{id}/oauth2PermissionGrants`
pub(crate) async fn sp_grants(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(Collection::Oauth2PermissionGrants)?;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    if t.get(Collection::ServicePrincipals, &id).is_none() {
        return Err(GraphError::not_found(&id));
    }
    let ids = filtered_objects(&t, Collection::Oauth2PermissionGrants, "clientId", &id);
    objects_response(&t, &caller, &req, Collection::Oauth2PermissionGrants, &ids)
}

/// `GET /directory/administrativeUnits/{id}/scopedRoleMembers`: the role assignments scoped
/// to the unit, as `scopedRoleMembership` objects.
pub(crate) async fn scoped_role_members(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    caller.require_read(Collection::AdministrativeUnits)?;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    if t.get(Collection::AdministrativeUnits, &id).is_none() {
        return Err(GraphError::not_found(&id));
    }
    let scope = format!("/administrativeUnits/{id}");
    let items = t
        .objects(Collection::RoleAssignments)
        .into_iter()
        .flatten()
        .filter(|(_, a)| a.get("directoryScopeId").and_then(Value::as_str) == Some(scope.as_str()))
        .map(|(aid, a)| {
            let principal = a.get("principalId").and_then(Value::as_str).unwrap_or("");
            let name = t
                .kind_of(principal)
                .and_then(|k| t.get(k, principal))
                .and_then(|o| o.get("displayName"))
                .cloned()
                .unwrap_or(Value::Null);
            json!({"id": aid, "roleId": a.get("roleDefinitionId"), "administrativeUnitId": id,
                   "roleMemberInfo": {"id": principal, "displayName": name}})
        })
        .collect();
    Ok(unpaged(&caller, "scopedRoleMemberships", items))
}

/// `GET /applications/{id}/extensionProperties`
pub(crate) async fn extension_properties(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    caller.require_read(Collection::Applications)?;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    let (_, app) = existing(&t, Collection::Applications, &id)?;
    let prefix = format!(
        "extension_{}_",
        app.get("appId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .replace('-', "")
    );
    let items = t
        .extension_properties
        .iter()
        .filter(|e| {
            e.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .map(|e| Value::Object(e.clone()))
        .collect();
    Ok(unpaged(&caller, "extensionProperties", items))
}

/// `GET /applications/{id}/federatedIdentityCredentials`
pub(crate) async fn federated_credentials(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    caller.require_read(Collection::Applications)?;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    let (_, app) = existing(&t, Collection::Applications, &id)?;
    let items = app
        .get("federatedIdentityCredentials")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(unpaged(&caller, "federatedIdentityCredentials", items))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExtensionQuery {
    is_synced_from_on_premises: Option<bool>,
}

/// `POST /directoryObjects/getAvailableExtensionProperties` (docs/graph.md §6a).
pub(crate) async fn available_extension_properties(
    State(emulator): State<Emulator>,
    caller: Caller,
    body: Option<axum::Json<ExtensionQuery>>,
) -> GraphResult<Response> {
    caller.require(&["Directory.Read.All", "Application.Read.All"])?;
    let synced = body
        .map(|b| b.0)
        .unwrap_or_default()
        .is_synced_from_on_premises;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    let items = t
        .extension_properties
        .iter()
        .filter(|e| synced.is_none_or(|s| e.get("isSyncedFromOnPremises") == Some(&Value::Bool(s))))
        .map(|e| Value::Object(e.clone()))
        .collect();
    Ok(collection(
        odata::context(
            &caller.base,
            "Collection(microsoft.graph.extensionProperty)",
            None,
            false,
        ),
        items,
        None,
        None,
    ))
}

/// Authentication-method collections and the `@odata.type` each holds.
pub(crate) const METHOD_COLLECTIONS: &[(&str, &str)] = &[
    ("phoneMethods", "#microsoft.graph.phoneAuthenticationMethod"),
    ("emailMethods", "#microsoft.graph.emailAuthenticationMethod"),
    (
        "passwordMethods",
        "#microsoft.graph.passwordAuthenticationMethod",
    ),
    ("fido2Methods", "#microsoft.graph.fido2AuthenticationMethod"),
    (
        "microsoftAuthenticatorMethods",
        "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
    ),
    (
        "softwareOathMethods",
        "#microsoft.graph.softwareOathAuthenticationMethod",
    ),
    (
        "windowsHelloForBusinessMethods",
        "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod",
    ),
    (
        "temporaryAccessPassMethods",
        "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
    ),
    (
        "platformCredentialMethods",
        "#microsoft.graph.platformCredentialAuthenticationMethod",
    ),
];

pub(crate) fn method_type(collection: &str) -> GraphResult<&'static str> {
    METHOD_COLLECTIONS
        .iter()
        .find(|(c, _)| *c == collection)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("Resource not found for the segment '{collection}'."),
            )
        })
}

/// The user's id, resolving a UPN.
pub(crate) fn user_id(t: &Tenant, key: &str) -> GraphResult<String> {
    lookup(t, Collection::Users, key)
        .and_then(|u| u.get("id").and_then(Value::as_str))
        .map(str::to_owned)
        .ok_or_else(|| GraphError::not_found(key))
}

fn methods_response(t: &Tenant, caller: &Caller, user: &str, only: Option<&str>) -> Response {
    let items = t
        .auth_methods
        .get(user)
        .into_iter()
        .flatten()
        .filter(|(_, m)| {
            only.is_none_or(|ty| m.get("@odata.type").and_then(Value::as_str) == Some(ty))
        })
        .map(|(_, m)| {
            Value::Object(odata::project(
                &t.metadata,
                Collection::AuthenticationMethods,
                m,
                None,
            ))
        })
        .collect();
    collection(
        odata::context(
            &caller.base,
            &format!("users('{user}')/authentication/methods"),
            None,
            false,
        ),
        items,
        None,
        None,
    )
}

/// `GET /users/{id}/authentication/methods`
pub(crate) async fn auth_methods(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    caller.require_read(Collection::AuthenticationMethods)?;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    let user = user_id(&t, &id)?;
    Ok(methods_response(&t, &caller, &user, None))
}

/// `GET /users/{id}/authentication/{type}Methods`
pub(crate) async fn auth_method_collection(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path((id, coll)): Path<(String, String)>,
) -> GraphResult<Response> {
    caller.require_read(Collection::AuthenticationMethods)?;
    let ty = method_type(&coll)?;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    let user = user_id(&t, &id)?;
    Ok(methods_response(&t, &caller, &user, Some(ty)))
}

/// `GET /users/{id}/authentication/{type}Methods/{method}`
pub(crate) async fn auth_method(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path((id, coll, method)): Path<(String, String, String)>,
) -> GraphResult<Response> {
    caller.require_read(Collection::AuthenticationMethods)?;
    let ty = method_type(&coll)?;
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    let user = user_id(&t, &id)?;
    let m = t
        .auth_methods
        .get(&user)
        .and_then(|ms| ms.get(&method))
        .filter(|m| m.get("@odata.type").and_then(Value::as_str) == Some(ty))
        .ok_or_else(|| GraphError::not_found(&method))?;
    let m = odata::project(&t.metadata, Collection::AuthenticationMethods, m, None);
    Ok(json_response(StatusCode::OK, Value::Object(m)))
}

/// `GET /directory/deletedItems` without the type cast Graph requires (docs/graph.md §2).
pub(crate) async fn deleted_items_uncast(caller: Caller) -> GraphResult<Response> {
    let _ = caller;
    Err(GraphError::bad_request(
        "A type cast is required to list deleted items, e.g. /directory/deletedItems/microsoft.graph.user.",
    ))
}

fn cast_kind(cast: &str) -> Collection {
    match cast {
        "user" => Collection::Users,
        "group" => Collection::Groups,
        "application" => Collection::Applications,
        "servicePrincipal" => Collection::ServicePrincipals,
        _ => Collection::AdministrativeUnits,
    }
}

/// `GET /directory/deletedItems/microsoft.graph.{type}`
pub(crate) async fn deleted_items(
    cast: &'static str,
    State(emulator): State<Emulator>,
    caller: Caller,
    req: Req,
) -> GraphResult<Response> {
    let kind = cast_kind(cast);
    caller.require_read(kind)?;
    let shared = tenant_of(&emulator, &caller)?;
    let now = emulator.clock().now();
    shared.write().expire_recycle_bin(now);
    let t = shared.read();
    let mut query = req.query;
    query.check_select(&t.metadata, kind, &extension_names(&t, kind), false, &[])?;
    query.check_filter(&t.metadata, kind, &extension_names(&t, kind))?;
    let size = query.page_size(100, MAX_TOP)?;
    let items_all: Vec<&crate::tenant::DeletedItem> = t
        .deleted_items(Some(kind))
        .filter(|d| query.filter.as_ref().is_none_or(|f| f.matches(&d.object)))
        .collect();
    let ids: Vec<String> = items_all
        .iter()
        .filter_map(|d| {
            d.object
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    let (page, next) = page_ids(ids.iter(), &query, size)?;
    let items = page
        .iter()
        .filter_map(|id| t.deleted_item(id))
        .map(|d| {
            let mut out = serde_json::Map::new();
            out.insert(
                "@odata.type".into(),
                Value::String(format!("#{}", kind.facts().odata_type)),
            );
            out.extend(project(
                &t.metadata,
                kind,
                &d.object,
                query.select.as_deref(),
            ));
            if query.select.is_none() {
                out.insert(
                    "deletedDateTime".into(),
                    d.object
                        .get("deletedDateTime")
                        .cloned()
                        .unwrap_or(Value::Null),
                );
            }
            Value::Object(out)
        })
        .collect();
    let next = next.map(|after| {
        odata::next_link(
            &caller.base,
            &req.path,
            &query.pairs,
            &odata::encode_token(&Cursor { after }),
        )
    });
    let count = query.count.then_some(ids.len());
    Ok(collection(
        odata::context(
            &caller.base,
            &format!("directory/deletedItems/microsoft.graph.{cast}"),
            query.select.as_deref(),
            false,
        ),
        items,
        next,
        count,
    ))
}

/// `GET /directory/deletedItems/{id}`
pub(crate) async fn deleted_item(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    let shared = tenant_of(&emulator, &caller)?;
    let now = emulator.clock().now();
    shared.write().expire_recycle_bin(now);
    let t = shared.read();
    let item = t
        .deleted_item(&id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    caller.require_read(item.kind)?;
    let mut out = serde_json::Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(odata::context(
            &caller.base,
            "directory/deletedItems",
            None,
            true,
        )),
    );
    out.insert(
        "@odata.type".into(),
        Value::String(format!("#{}", item.kind.facts().odata_type)),
    );
    out.extend(item.object.clone());
    Ok(json_response(StatusCode::OK, Value::Object(out)))
}
