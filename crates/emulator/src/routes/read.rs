//! Graph reads: collections, single objects, the recycle bin and extension properties
//! (relationship lists are in `relationships`, authentication methods in `auth_method_reads`).

use std::ops::Bound;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::relationships::{member_of_ids, page_ids};
use super::{collection, json_response};
use crate::Emulator;
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::kinds::{Collection, LinkKind};
use crate::odata::{self, MAX_TOP, Query, project};
use crate::tenant::{Obj, ObjectMap, Tenant};

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

/// What every read starts from: the authenticated caller and its tenant (the request's query
/// and path are [`Req`]). Each handler then checks the caller's permission for what it reads.
pub(crate) struct Reading {
    pub(crate) caller: Caller,
    pub(crate) tenant: std::sync::Arc<parking_lot::RwLock<Tenant>>,
}

impl FromRequestParts<Emulator> for Reading {
    type Rejection = GraphError;
    async fn from_request_parts(parts: &mut Parts, emulator: &Emulator) -> GraphResult<Self> {
        let caller = Caller::from_request_parts(parts, emulator).await?;
        let tenant = tenant_of(emulator, &caller)?;
        Ok(Self { caller, tenant })
    }
}

/// A collection Graph returns in one page (no nextLink, no count).
pub(crate) fn unpaged(caller: &Caller, set: &str, items: Vec<Value>) -> Response {
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
        Collection::RoleManagementPolicies => &["rules"],
        _ => &[],
    }
}

pub(crate) fn matches_search(obj: &Obj, search: &str) -> bool {
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
    Reading { caller, tenant }: Reading,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(kind)?;
    let Req { mut query, path } = req;
    let t = tenant.read();
    query.check_select(&t.metadata, kind, &extension_names(&t, kind), false, &[])?;
    query.check_filter(&t.metadata, kind, &extension_names(&t, kind))?;
    check_required_scope(kind, &query)?;
    check_expand(kind, &query)?;
    let (default, max) = page_limits(kind);
    let size = query.page_size(default, max)?;
    check_special_selects(kind, &caller, &query, size)?;
    let after = page_after(&query)?;
    let empty = ObjectMap::new();
    let objects = t.objects(kind).unwrap_or(&empty);
    let wanted = |o: &Obj| {
        query.filter.as_ref().is_none_or(|f| f.matches(o))
            && query.search.as_deref().is_none_or(|s| matches_search(o, s))
    };
    let start = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    // Decode what the page shows and the filter reads; a search reads any property.
    let needed = odata::projected_properties(kind, query.select.as_deref())
        .filter(|_| query.search.is_none() && query.expand.is_empty())
        .map(|mut names| {
            if let Some(f) = &query.filter {
                names.extend(f.properties().iter().map(|p| top_level(p).to_owned()));
            }
            names
        });
    let keep = |p: &str| needed.as_ref().is_none_or(|names| odata::named(names, p));
    // `unique eq 'value'` (a user by UPN, an application by appId) reads the one object the
    // key's index names, not every object: a scan per lookup made a restore's 100k lookups
    // quadratic. The filter is still applied to it.
    let unique = query
        .filter
        .as_ref()
        .and_then(|f| f.equals())
        .filter(|(property, _)| Tenant::is_unique_key(kind, property))
        .map(|(property, value)| t.find_unique(kind, property, value).map(str::to_owned));
    let range: Box<dyn Iterator<Item = (&String, Obj)>> = match &unique {
        None => Box::new(objects.range_only::<str, _>((start, Bound::Unbounded), &keep)),
        Some(Some(id)) if after.as_deref().is_none_or(|a| a < id.as_str()) => {
            Box::new(objects.range_only::<str, _>(
                (Bound::Included(id.as_str()), Bound::Included(id.as_str())),
                &keep,
            ))
        }
        Some(_) => Box::new(std::iter::empty()),
    };
    let mut items = Vec::with_capacity(size.min(objects.len()));
    let mut last = None;
    let mut more = false;
    for (id, obj) in range {
        if !wanted(&obj) {
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
        .then(|| objects.iter_only(&keep).filter(|(_, o)| wanted(o)).count());
    let next = next_link_after(&caller, &path, &query, more, last);
    let context = odata::context(&caller.base, kind.name(), query.select.as_deref(), false);
    Ok(collection(context, items, next, count))
}

/// The stored property a filter path reads (`onPremisesExtensionAttributes/extensionAttribute1`
/// reads `onPremisesExtensionAttributes`).
fn top_level(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

/// PIM policies and their assignments are listed for one scope: "This method requires the
/// `$filter` (`eq`) query parameter to scope the request to a scopeId and a scopeType"
/// (policyroot-list-rolemanagementpolicies.md, policyroot-list-rolemanagementpolicyassignments.md).
fn check_required_scope(kind: Collection, q: &Query) -> GraphResult<()> {
    if !matches!(
        kind,
        Collection::RoleManagementPolicies | Collection::RoleManagementPolicyAssignments
    ) {
        return Ok(());
    }
    let named = q
        .filter
        .as_ref()
        .map(|f| f.properties())
        .unwrap_or_default();
    let names = |p: &str| named.iter().any(|n| n.eq_ignore_ascii_case(p));
    if names("scopeId") && names("scopeType") {
        return Ok(());
    }
    Err(GraphError::bad_request(
        "The filter on scopeId and scopeType is required.",
    ))
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
fn render(t: &Tenant, kind: Collection, obj: Obj, q: &Query) -> Value {
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let id = id.as_str();
    // Expansions read other properties (a role assignment's principalId…): keep the object
    // then; otherwise its values move into the answer.
    let (mut out, obj) = if q.expand.is_empty() {
        let out = odata::project_owned(&t.metadata, kind, obj, q.select.as_deref());
        (out, Obj::new())
    } else {
        (project(&t.metadata, kind, &obj, q.select.as_deref()), obj)
    };
    // A PIM policy's rules are held with it but, a navigation property, come back only
    // expanded (policyroot-list-rolemanagementpolicies.md, example 2).
    if kind == Collection::RoleManagementPolicies {
        out.remove("rules");
    }
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
            (Collection::RoleManagementPolicies, "rules") => obj
                .get("rules")
                .cloned()
                .unwrap_or(Value::Array(Vec::new())),
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
    let obj = stored_for(t, kind, id, select)?;
    let mut out = serde_json::Map::new();
    out.insert(
        "@odata.type".into(),
        Value::String(format!("#{}", kind.facts().odata_type)),
    );
    out.extend(odata::project_owned(&t.metadata, kind, obj, select));
    Some(Value::Object(out))
}

/// A live object with what projecting it for `select` reads (see
/// [`odata::projected_properties`]).
pub(crate) fn stored_for(
    t: &Tenant,
    kind: Collection,
    id: &str,
    select: Option<&[String]>,
) -> Option<Obj> {
    match odata::projected_properties(kind, select) {
        Some(names) => t.get_only(kind, id, &|p| odata::named(&names, p)),
        None => t.get(kind, id),
    }
}

/// `GET /{collection}/{id}`
pub(crate) async fn get_one(
    kind: Collection,
    Reading { caller, tenant }: Reading,
    Path(id): Path<String>,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(kind)?;
    let Req { mut query, .. } = req;
    let t = tenant.read();
    query.check_select(&t.metadata, kind, &extension_names(&t, kind), true, &[])?;
    check_expand(kind, &query)?;
    check_special_selects(kind, &caller, &query, 1)?;
    let obj = resolve_id(&t, kind, &id)
        .and_then(|id| match query.expand.is_empty() {
            true => stored_for(&t, kind, &id, query.select.as_deref()),
            // Expansions read other properties.
            false => t.get(kind, &id),
        })
        .ok_or_else(|| GraphError::not_found(&id))?;
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
pub(crate) fn lookup(t: &Tenant, kind: Collection, key: &str) -> Option<Obj> {
    t.get(kind, &resolve_id(t, kind, key)?)
}

/// The id of the object [`lookup`] finds, without decoding it.
pub(crate) fn resolve_id(t: &Tenant, kind: Collection, key: &str) -> Option<String> {
    if t.contains(kind, key) {
        return Some(key.to_owned());
    }
    match (kind, key.strip_prefix("roleTemplateId=")) {
        (Collection::Users, _) => t
            .find_unique(kind, "userPrincipalName", key)
            .map(str::to_owned),
        // A tenant activates a few dozen roles at most: a scan is cheap.
        (Collection::DirectoryRoles, Some(template)) => {
            let keep = |p: &str| p == "roleTemplateId";
            t.objects(kind)?
                .iter_only(&keep)
                .find(|(_, r)| {
                    r.get("roleTemplateId")
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.eq_ignore_ascii_case(template))
                })
                .map(|(id, _)| id.clone())
        }
        _ => None,
    }
}

/// An existing object by id (or a user by UPN): its canonical id and a copy of it.
///
/// # Errors
/// 404 `Request_ResourceNotFound`.
pub(crate) fn existing(t: &Tenant, kind: Collection, key: &str) -> GraphResult<(String, Obj)> {
    let obj = lookup(t, kind, key).ok_or_else(|| GraphError::not_found(key))?;
    let id = obj
        .get(kind.key())
        .and_then(Value::as_str)
        .unwrap_or(key)
        .to_owned();
    Ok((id, obj))
}

/// The application `id` (its object id or appId), once the caller may read applications.
fn readable_application(caller: &Caller, t: &Tenant, id: &str) -> GraphResult<Obj> {
    caller.require_read(Collection::Applications)?;
    Ok(existing(t, Collection::Applications, id)?.1)
}

/// `GET /applications/{id}/extensionProperties`
pub(crate) async fn extension_properties(
    Reading { caller, tenant }: Reading,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    let t = tenant.read();
    let app = readable_application(&caller, &t, &id)?;
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
    Reading { caller, tenant }: Reading,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    let t = tenant.read();
    let app = readable_application(&caller, &t, &id)?;
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
    Reading { caller, tenant }: Reading,
    body: Option<axum::Json<ExtensionQuery>>,
) -> GraphResult<Response> {
    caller.require(&["Directory.Read.All", "Application.Read.All"])?;
    let synced = body
        .map(|b| b.0)
        .unwrap_or_default()
        .is_synced_from_on_premises;
    let t = tenant.read();
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
    let next = next_link_after(&caller, &req.path, &query, true, next);
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
