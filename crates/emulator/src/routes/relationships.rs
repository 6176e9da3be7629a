//! Relationship reads: members, owners and their type casts, one member by id, `$count`,
//! transitive members, memberOf, manager, app role assignments, OAuth2 grants of a service
//! principal, and an administrative unit's scoped role members.

use std::collections::{BTreeSet, VecDeque};
use std::ops::Bound;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::read::{
    Reading, Req, directory_object, extension_names, matches_search, next_link_after, page_after,
    resolve_id, stored_for, unpaged,
};
use super::{collection, json_response};
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::kinds::{Collection, LinkKind};
use crate::odata::{self, MAX_TOP, Query};
use crate::tenant::Tenant;

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
pub(crate) fn page_ids<'a>(
    ids: impl Iterator<Item = &'a String>,
    q: &Query,
    size: usize,
) -> GraphResult<(Vec<&'a String>, Option<String>)> {
    let after = page_after(q)?;
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
    let (page, next, total) = match &q.filter {
        // Without a filter a page starts where the last one stopped: walking the set from its
        // start on every page made reading a group of a million members quadratic.
        None => {
            let after = page_after(q)?;
            let from = after.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
            let (page, next) = page_ids(ids.range::<String, _>((from, Bound::Unbounded)), q, size)?;
            (page, next, ids.len())
        }
        Some(f) => {
            let filtered: Vec<&String> = ids
                .iter()
                .filter(|id| {
                    t.kind_of(id)
                        .and_then(|k| t.get(k, id))
                        .is_some_and(|o| f.matches(&o))
                })
                .collect();
            let (page, next) = page_ids(filtered.iter().copied(), q, size)?;
            (page, next, filtered.len())
        }
    };
    let items = page
        .iter()
        .filter_map(|id| directory_object(t, id, q.select.as_deref()))
        .collect();
    let next = next_link_after(caller, &req.path, q, true, next);
    let count = q.count.then_some(total);
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
    Reading { caller, tenant }: Reading,
    Path(id): Path<String>,
    req: Req,
) -> GraphResult<Response> {
    let t = tenant.read();
    let ids = linked(&caller, &t, rel, source, &id)?;
    directory_objects_response(&t, &caller, &req, ids, "directoryObjects")
}

/// The ids the source `key` (an id, UPN or role template) links to by `rel`, once the caller
/// is known to have a permission that reads them.
fn linked<'t>(
    caller: &Caller,
    t: &'t Tenant,
    rel: LinkKind,
    source: Collection,
    key: &str,
) -> GraphResult<&'t BTreeSet<String>> {
    static NONE: BTreeSet<String> = BTreeSet::new();
    caller.require(&link_read_permissions(rel, source))?;
    let id = resolve_id(t, source, key).ok_or_else(|| GraphError::not_found(key))?;
    Ok(t.links(rel, &id).unwrap_or(&NONE))
}

/// `GET /groups/{id}/members/{member}`: the list cast to one type
/// (`microsoft.graph.user`, or `graph.user` as the SDKs write it: group-list-members.md),
/// the list's size (`$count`, with `ConsistencyLevel: eventual`), or one member by id.
pub(crate) async fn link(
    rel: LinkKind,
    source: Collection,
    Reading { caller, tenant }: Reading,
    Path((id, member)): Path<(String, String)>,
    req: Req,
) -> GraphResult<Response> {
    let t = tenant.read();
    let ids = linked(&caller, &t, rel, source, &id)?;
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
    Reading { caller, tenant }: Reading,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(kind)?;
    let query = req.query;
    let t = tenant.read();
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
    Reading { caller, tenant }: Reading,
    Path(id): Path<String>,
    req: Req,
) -> GraphResult<Response> {
    caller.require(&["GroupMember.Read.All"])?;
    let t = tenant.read();
    if !t.contains(Collection::Groups, &id) {
        return Err(GraphError::not_found(&id));
    }
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([id.clone()]);
    let mut visited_groups = BTreeSet::from([id]);
    while let Some(group) = queue.pop_front() {
        for m in t.links(LinkKind::GroupMember, &group).into_iter().flatten() {
            seen.insert(m.clone());
            if t.contains(Collection::Groups, m) && visited_groups.insert(m.clone()) {
                queue.push_back(m.clone());
            }
        }
    }
    directory_objects_response(&t, &caller, &req, &seen, "directoryObjects")
}

pub(crate) fn member_of_ids(t: &Tenant, id: &str) -> BTreeSet<String> {
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
    Reading { caller, tenant }: Reading,
    Path(id): Path<String>,
    req: Req,
) -> GraphResult<Response> {
    caller.require(&[kind.facts().read_permission])?;
    caller.require(&["GroupMember.Read.All"])?;
    let t = tenant.read();
    let id = resolve_id(&t, kind, &id).ok_or_else(|| GraphError::not_found(&id))?;
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
    Reading { caller, tenant }: Reading,
    Path(id): Path<String>,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(Collection::Users)?;
    let t = tenant.read();
    let uid = resolve_id(&t, Collection::Users, &id).ok_or_else(|| GraphError::not_found(&id))?;
    let manager = t
        .links(LinkKind::UserManager, &uid)
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
        .filter_map(|id| stored_for(t, kind, id, q.select.as_deref()))
        .map(|o| {
            Value::Object(odata::project_owned(
                &t.metadata,
                kind,
                o,
                q.select.as_deref(),
            ))
        })
        .collect();
    let next = next_link_after(caller, &req.path, q, true, next);
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
    Reading { caller, tenant }: Reading,
    Path(id): Path<String>,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(Collection::AppRoleAssignments)?;
    let t = tenant.read();
    if t.kind_of(&id).is_none() {
        return Err(GraphError::not_found(&id));
    }
    let ids = t.referencing(Collection::AppRoleAssignments, field, &id);
    objects_response(&t, &caller, &req, Collection::AppRoleAssignments, ids)
}

/// `GET /servicePrincipals/{id}/oauth2PermissionGrants`
pub(crate) async fn sp_grants(
    Reading { caller, tenant }: Reading,
    Path(id): Path<String>,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(Collection::Oauth2PermissionGrants)?;
    let t = tenant.read();
    if !t.contains(Collection::ServicePrincipals, &id) {
        return Err(GraphError::not_found(&id));
    }
    let ids = t.referencing(Collection::Oauth2PermissionGrants, "clientId", &id);
    objects_response(&t, &caller, &req, Collection::Oauth2PermissionGrants, ids)
}

/// `GET /directory/administrativeUnits/{id}/scopedRoleMembers`: the role assignments scoped
/// to the unit, as `scopedRoleMembership` objects.
pub(crate) async fn scoped_role_members(
    Reading { caller, tenant }: Reading,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    caller.require_read(Collection::AdministrativeUnits)?;
    let t = tenant.read();
    if !t.contains(Collection::AdministrativeUnits, &id) {
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
                .and_then(|mut o| o.remove("displayName"))
                .unwrap_or(Value::Null);
            json!({"id": aid, "roleId": a.get("roleDefinitionId"), "administrativeUnitId": id,
                   "roleMemberInfo": {"id": principal, "displayName": name}})
        })
        .collect();
    Ok(unpaged(&caller, "scopedRoleMemberships", items))
}
