//! Authentication-method reads: a user's methods, one collection per method type, and one
//! method by id (authentication-list-methods.md and each method type's list and get pages).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::read::{Reading, resolve_id};
use super::{collection, json_response};
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::kinds::Collection;
use crate::odata;
use crate::tenant::Tenant;

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
    resolve_id(t, Collection::Users, key).ok_or_else(|| GraphError::not_found(key))
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
                &m,
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
    Reading { caller, tenant }: Reading,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    caller.require_read(Collection::AuthenticationMethods)?;
    let t = tenant.read();
    let user = user_id(&t, &id)?;
    Ok(methods_response(&t, &caller, &user, None))
}

/// `GET /users/{id}/authentication/{type}Methods`
pub(crate) async fn auth_method_collection(
    Reading { caller, tenant }: Reading,
    Path((id, coll)): Path<(String, String)>,
) -> GraphResult<Response> {
    caller.require_read(Collection::AuthenticationMethods)?;
    let ty = method_type(&coll)?;
    let t = tenant.read();
    let user = user_id(&t, &id)?;
    Ok(methods_response(&t, &caller, &user, Some(ty)))
}

/// `GET /users/{id}/authentication/{type}Methods/{method}`
pub(crate) async fn auth_method(
    Reading { caller, tenant }: Reading,
    Path((id, coll, method)): Path<(String, String, String)>,
) -> GraphResult<Response> {
    caller.require_read(Collection::AuthenticationMethods)?;
    let ty = method_type(&coll)?;
    let t = tenant.read();
    let user = user_id(&t, &id)?;
    let m = t
        .auth_methods
        .get(&user)
        .and_then(|ms| ms.get(&method))
        .filter(|m| m.get("@odata.type").and_then(Value::as_str) == Some(ty))
        .ok_or_else(|| GraphError::not_found(&method))?;
    let m = odata::project(&t.metadata, Collection::AuthenticationMethods, &m, None);
    Ok(json_response(StatusCode::OK, Value::Object(m)))
}
