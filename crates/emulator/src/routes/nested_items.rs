//! Items a policy holds inline and that Graph changes one by one, each `PATCH` naming the
//! item's own `@odata.type` and only properties that type declares: the authentication methods
//! policy's method configurations (`authenticationmethodconfiguration-update.md`) and a PIM
//! policy's rules (`unifiedrolemanagementpolicyrule-update.md`).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::read::{Reading, existing};
use super::settings::settings_key;
use super::write::{Body, Writing, object_body, read_only};
use super::{json_response, no_content};
use crate::clock::graph_time;
use crate::error::{GraphError, GraphResult};
use crate::kinds::Collection;
use crate::tenant::Tenant;

/// Where a kind of item lives.
#[derive(Clone, Copy)]
pub(crate) struct Nested {
    /// The policy kind that holds the items.
    kind: Collection,
    /// The property holding them.
    field: &'static str,
    /// The property the policy's modification time is kept in.
    modified: &'static str,
    /// The `$metadata#…` entity set of one item, `{parent}` for the policy's id.
    context: &'static str,
}

/// The methods policy's configurations.
pub(crate) const METHOD_CONFIGURATIONS: Nested = Nested {
    kind: Collection::AuthenticationMethodsPolicy,
    field: "authenticationMethodConfigurations",
    modified: "lastModifiedDateTime",
    context: "policies/authenticationMethodsPolicy/authenticationMethodConfigurations",
};

/// A PIM policy's rules.
pub(crate) const PIM_RULES: Nested = Nested {
    kind: Collection::RoleManagementPolicies,
    field: "rules",
    modified: "lastModifiedDateTime",
    context: "policies/roleManagementPolicies('{parent}')/rules",
};

/// The stored key of the policy that holds the items: the settings object, or the policy of
/// that id.
fn parent_key(t: &Tenant, nested: Nested, parent: Option<&str>) -> GraphResult<String> {
    match parent {
        None => settings_key(t, nested.kind),
        Some(id) => existing(t, nested.kind, id).map(|(id, _)| id),
    }
}

fn items(t: &Tenant, nested: Nested, key: &str) -> Vec<Value> {
    match t
        .get(nested.kind, key)
        .and_then(|mut p| p.remove(nested.field))
    {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

fn same_id(item: &Value, id: &str) -> bool {
    item.get("id")
        .and_then(Value::as_str)
        .is_some_and(|c| c.eq_ignore_ascii_case(id))
}

/// `GET …/{item}`
pub(crate) async fn get(
    nested: Nested,
    Reading { caller, tenant }: Reading,
    parent: Option<String>,
    id: String,
) -> GraphResult<Response> {
    caller.require_read(nested.kind)?;
    let t = tenant.read();
    let key = parent_key(&t, nested, parent.as_deref())?;
    let item = items(&t, nested, &key)
        .into_iter()
        .find(|c| same_id(c, &id))
        .ok_or_else(|| GraphError::not_found(&id))?;
    let mut body = Map::new();
    let set = nested.context.replace("{parent}", &key);
    body.insert(
        "@odata.context".into(),
        Value::String(format!("{}/$metadata#{set}/$entity", caller.base)),
    );
    if let Value::Object(c) = item {
        body.extend(c.clone());
    }
    Ok(json_response(StatusCode::OK, Value::Object(body)))
}

/// `PATCH …/{item}`: the body names the item's own `@odata.type` and only properties that
/// type declares (an `id`, if given, is the item's own).
pub(crate) async fn update(
    nested: Nested,
    w: Writing,
    parent: Option<String>,
    id: String,
    body: Body,
) -> GraphResult<Response> {
    w.caller.require_write(nested.kind)?;
    let patch = object_body(body)?;
    let mut t = w.tenant.write();
    let key = parent_key(&t, nested, parent.as_deref())?;
    let mut all = items(&t, nested, &key);
    let item = all
        .iter_mut()
        .find(|c| same_id(c, &id))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| GraphError::not_found(&id))?;
    let own_type = item
        .get("@odata.type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    // Both update pages: "@odata.type … is required".
    match patch.get("@odata.type").and_then(Value::as_str) {
        Some(t) if t == own_type => {}
        Some(t) => {
            return Err(GraphError::bad_request(format!(
                "The @odata.type '{t}' does not match '{id}' ({own_type})."
            )));
        }
        None => {
            return Err(GraphError::bad_request(format!(
                "Property '@odata.type' is required to update '{id}'."
            )));
        }
    }
    let own = own_type.trim_start_matches('#');
    for (name, value) in patch.iter().filter(|(k, _)| !k.starts_with('@')) {
        if name == "id" {
            if value.as_str().is_some_and(|v| v.eq_ignore_ascii_case(&id)) {
                continue;
            }
            return Err(read_only(name));
        }
        // includeTargets is a navigation property the update pages write inline.
        let declared = t.metadata.find(own, name).is_some()
            || t.metadata.navigation(own).iter().any(|p| p.name == *name);
        if !declared {
            return Err(GraphError::bad_request(format!(
                "Property '{name}' does not exist as a declared property or extension property."
            )));
        }
    }
    for (k, v) in patch {
        if !k.starts_with('@') && k != "id" {
            item.insert(k, v);
        }
    }
    let mut change = Map::new();
    change.insert(nested.field.into(), Value::Array(all));
    change.insert(nested.modified.into(), graph_time(w.now).into());
    t.update(nested.kind, &key, change)?;
    Ok(no_content())
}
