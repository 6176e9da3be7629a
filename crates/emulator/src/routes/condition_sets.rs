//! A permission grant policy's condition sets (`includes`, `excludes`): held with the policy
//! and returned with it (permissiongrantpolicy-list.md shows them inline), and changed one by
//! one — listed (permissiongrantpolicy-list-includes.md, -excludes.md), added
//! (permissiongrantpolicy-post-includes.md, -excludes.md: 201 with the set, every omitted
//! condition at its most inclusive default, resources/permissiongrantconditionset.md) and
//! removed (permissiongrantpolicy-delete-includes.md, -excludes.md). A condition set is never
//! updated in place.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::read::{Reading, existing, unpaged};
use super::write::{Body, Writing, object_body, read_only};
use super::{json_response, no_content};
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::kinds::Collection;
use crate::tenant::{Obj, Tenant};

const KIND: Collection = Collection::PermissionGrantPolicies;
const SET_TYPE: &str = "microsoft.graph.permissionGrantConditionSet";

/// `includes` or `excludes`; 404 for any other segment.
fn field(which: &str) -> GraphResult<&'static str> {
    match which {
        "includes" => Ok("includes"),
        "excludes" => Ok("excludes"),
        other => Err(GraphError::not_found(other)),
    }
}

fn sets(policy: &Obj, field: &str) -> Vec<Value> {
    policy
        .get(field)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The list page names `Directory.Read.All` beside the policy read permission.
fn require_read(caller: &Caller) -> GraphResult<()> {
    caller.require(&[KIND.facts().read_permission, "Directory.Read.All"])
}

/// `GET /policies/permissionGrantPolicies/{id}/{includes|excludes}`
pub(crate) async fn list(
    Reading { caller, tenant }: Reading,
    Path((policy, which)): Path<(String, String)>,
) -> GraphResult<Response> {
    require_read(&caller)?;
    let field = field(&which)?;
    let t = tenant.read();
    let (id, policy) = existing(&t, KIND, &policy)?;
    Ok(unpaged(
        &caller,
        &format!("policies/permissionGrantPolicies('{id}')/{field}"),
        sets(&policy, field),
    ))
}

/// The condition set a create makes of `body`: only the type's own properties, `id` read-only,
/// `permissionType` required (and `delegatedUserConsentable` for built-in policies only), each
/// omitted condition at its documented default.
fn condition_set(t: &Tenant, policy: &str, body: Obj) -> GraphResult<Obj> {
    let declared = t.metadata.structural(SET_TYPE);
    for key in body.keys() {
        if key == "id" {
            return Err(read_only(key));
        }
        if !key.starts_with('@') && !declared.iter().any(|p| p.name == *key) {
            return Err(GraphError::bad_request(format!(
                "Property '{key}' does not exist as a declared property or extension property."
            )));
        }
    }
    match body.get("permissionType").and_then(Value::as_str) {
        Some("application" | "delegated") => {}
        Some("delegatedUserConsentable") if policy.starts_with("microsoft-") => {}
        Some("delegatedUserConsentable") => {
            return Err(GraphError::bad_request(
                "The permission type 'delegatedUserConsentable' can't be used in a custom permission grant policy.",
            ));
        }
        _ => {
            return Err(GraphError::bad_request(
                "Property 'permissionType' is required: 'application' or 'delegated'.",
            ));
        }
    }
    let mut set = Map::new();
    set.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    for (name, default) in [
        ("permissionClassification", json!("all")),
        ("permissionType", Value::Null),
        ("resourceApplication", json!("any")),
        ("permissions", json!(["all"])),
        ("clientApplicationIds", json!(["all"])),
        ("clientApplicationTenantIds", json!(["all"])),
        ("clientApplicationPublisherIds", json!(["all"])),
        ("clientApplicationsFromVerifiedPublisherOnly", json!(false)),
    ] {
        let value = body.get(name).filter(|v| !v.is_null()).cloned();
        set.insert(name.into(), value.unwrap_or(default));
    }
    Ok(set)
}

/// `POST /policies/permissionGrantPolicies/{id}/{includes|excludes}`
pub(crate) async fn create(
    w: Writing,
    Path((policy, which)): Path<(String, String)>,
    body: Body,
) -> GraphResult<Response> {
    w.caller.require_write(KIND)?;
    let field = field(&which)?;
    let body = object_body(body)?;
    let mut t = w.tenant.write();
    let (id, current) = existing(&t, KIND, &policy)?;
    let set = condition_set(&t, &id, body)?;
    let mut all = sets(&current, field);
    all.push(Value::Object(set.clone()));
    let mut patch = Obj::new();
    patch.insert(field.into(), Value::Array(all));
    t.update(KIND, &id, patch)?;
    Ok(json_response(StatusCode::CREATED, Value::Object(set)))
}

/// `DELETE /policies/permissionGrantPolicies/{id}/{includes|excludes}/{set id}`
pub(crate) async fn delete(
    w: Writing,
    Path((policy, which, set)): Path<(String, String, String)>,
) -> GraphResult<Response> {
    w.caller.require_write(KIND)?;
    let field = field(&which)?;
    let mut t = w.tenant.write();
    let (id, current) = existing(&t, KIND, &policy)?;
    let mut all = sets(&current, field);
    let before = all.len();
    all.retain(|s| s.get("id").and_then(Value::as_str) != Some(set.as_str()));
    if all.len() == before {
        return Err(GraphError::not_found(&set));
    }
    let mut patch = Obj::new();
    patch.insert(field.into(), Value::Array(all));
    t.update(KIND, &id, patch)?;
    Ok(no_content())
}
