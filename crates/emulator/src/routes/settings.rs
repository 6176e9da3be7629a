//! A tenant's settings objects (`/policies/authorizationPolicy`, security defaults, the
//! authentication methods policy, cross-tenant access defaults, the admin consent request
//! policy): one per tenant at a fixed path, read with `GET` and changed with `PATCH`, never
//! listed, created or deleted (each one's get and update page, docs/graph.md §1 "Tenant
//! policies"). The authentication methods policy's configurations are changed one by one
//! ([`super::nested_items`]).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::read::{Reading, Req};
use super::write::{Body, Writing, check_update, object_body};
use super::{json_response, no_content};
use crate::auth::Caller;
use crate::clock::graph_time;
use crate::error::{GraphError, GraphResult};
use crate::kinds::{Collection, ListedAt};
use crate::odata;

/// The path a settings collection is served at.
fn path_of(kind: Collection) -> &'static str {
    match kind.facts().listed_at {
        ListedAt::Singleton(path) => path,
        _ => "",
    }
}

/// The `@odata.context` of a settings object: `$metadata#policies/authorizationPolicy/$entity`.
fn context(caller: &Caller, kind: Collection, select: Option<&[String]>) -> String {
    odata::context(
        &caller.base,
        path_of(kind).trim_start_matches('/'),
        select,
        true,
    )
}

/// `GET /policies/{settings}`
pub(crate) async fn get(
    kind: Collection,
    Reading { caller, tenant }: Reading,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(kind)?;
    let Req { mut query, .. } = req;
    let t = tenant.read();
    query.check_select(&t.metadata, kind, &[], true, &[])?;
    let (_, obj) = t
        .settings(kind)
        .ok_or_else(|| GraphError::not_found(kind.name()))?;
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(context(&caller, kind, query.select.as_deref())),
    );
    body.extend(odata::project(
        &t.metadata,
        kind,
        &obj,
        query.select.as_deref(),
    ));
    Ok(json_response(StatusCode::OK, Value::Object(body)))
}

/// `PATCH /policies/{settings}`: the writable properties of the update page only.
pub(crate) async fn update(kind: Collection, w: Writing, body: Body) -> GraphResult<Response> {
    w.caller.require_write(kind)?;
    let patch = object_body(body)?;
    let mut t = w.tenant.write();
    check_update(&t, kind, &patch)?;
    let mut patch = patch;
    patch.retain(|k, _| !k.starts_with('@'));
    if kind == Collection::AuthenticationMethodsPolicy {
        patch.insert("lastModifiedDateTime".into(), graph_time(w.now).into());
    }
    if kind == Collection::CrossTenantAccessDefault {
        // Changing the defaults makes them the tenant's own (resources/
        // crosstenantaccesspolicyconfigurationdefault.md: isServiceDefault).
        patch.insert("isServiceDefault".into(), Value::Bool(false));
    }
    let key = settings_key(&t, kind)?;
    t.update(kind, &key, patch)?;
    // identitysecuritydefaultsenforcementpolicy-update.md and
    // authenticationmethodspolicy-update.md answer with the object; the others with 204.
    if matches!(
        kind,
        Collection::SecurityDefaults | Collection::AuthenticationMethodsPolicy
    ) {
        let obj = t.settings(kind).map(|(_, o)| o.clone()).unwrap_or_default();
        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            Value::String(context(&w.caller, kind, None)),
        );
        body.extend(obj);
        return Ok(json_response(StatusCode::OK, Value::Object(body)));
    }
    Ok(no_content())
}

pub(super) fn settings_key(t: &crate::tenant::Tenant, kind: Collection) -> GraphResult<String> {
    t.settings(kind)
        .map(|(k, _)| k.to_owned())
        .ok_or_else(|| GraphError::not_found(kind.name()))
}
