//! Graph writes used by restore, validated as Graph validates them (docs/graph.md §1 "Create /
//! update rules", §2, §7): required and read-only properties, unique keys with `ObjectConflict`,
//! verified UPN domains, on-premises-owned attributes of synced objects, `members@odata.bind`
//! (at most 20, all or nothing), duplicate member adds, missing references, no app-only device
//! create.
//!
//! The shared opening ([`Writing`]) and checks are here; the handlers are in a file per
//! resource.

mod auth_methods;
mod links;
mod objects;
mod recycle_bin;
mod roles;

pub(crate) use auth_methods::*;
pub(crate) use links::*;
pub(crate) use objects::*;
pub(crate) use recycle_bin::*;
pub(crate) use roles::*;

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::auth_method_reads::{method_type, user_id};
use super::read::{existing, extension_names, tenant_of};
use super::{json_response, no_content};
use crate::Emulator;
use crate::auth::Caller;
use crate::clock::graph_time;
use crate::error::{GraphError, GraphResult};
use crate::generator::{BUILT_IN_ROLES, method_ids};
use crate::kinds::{Collection, LinkKind};
use crate::odata;
use crate::rules::rules;
use crate::tenant::{Obj, Tenant};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::sync::Arc;

/// What every write starts from: the authenticated caller, its tenant, and the emulator's
/// time of the request. Each handler then checks the caller's permissions for what it writes.
pub(crate) struct Writing {
    pub(crate) caller: Caller,
    pub(crate) tenant: Arc<parking_lot::RwLock<Tenant>>,
    pub(crate) now: DateTime<Utc>,
}

impl FromRequestParts<Emulator> for Writing {
    type Rejection = GraphError;
    async fn from_request_parts(parts: &mut Parts, emulator: &Emulator) -> GraphResult<Self> {
        let caller = Caller::from_request_parts(parts, emulator).await?;
        let tenant = tenant_of(emulator, &caller)?;
        Ok(Self {
            caller,
            tenant,
            now: emulator.clock().now(),
        })
    }
}

/// At most this many references in one `members@odata.bind` (group-update.md).
pub(crate) const MAX_BIND: usize = 20;

pub(super) fn object_body(
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> GraphResult<Obj> {
    match body {
        Ok(Json(Value::Object(m))) => Ok(m),
        Ok(_) => Err(GraphError::bad_request(
            "Invalid request body: a JSON object is required.",
        )),
        Err(e) => Err(GraphError::bad_request(format!(
            "Invalid request body: {}",
            e.body_text()
        ))),
    }
}

pub(super) type Body = Result<Json<Value>, axum::extract::rejection::JsonRejection>;

fn method_not_allowed(kind: Collection) -> GraphError {
    GraphError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        format!(
            "The requested operation is not supported for {}.",
            kind.facts().odata_type
        ),
    )
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Property checks shared by create and update.
pub(super) fn check_properties(
    t: &Tenant,
    kind: Collection,
    obj: &Obj,
    creating: bool,
) -> GraphResult<()> {
    let odata_type = kind.facts().odata_type;
    let Some(s) = crate::rules::documented(odata_type) else {
        if let Some(bad) = ["id", "createdDateTime", "isBuiltIn"]
            .iter()
            .find(|p| obj.contains_key(**p))
        {
            return Err(read_only(bad));
        }
        return Ok(());
    };
    let extensions = extension_names(t, kind);
    for key in obj.keys() {
        if key.starts_with('@') || key.ends_with("@odata.bind") {
            continue;
        }
        if key.starts_with("extension_") {
            if !extensions.iter().any(|e| e == key) {
                return Err(GraphError::bad_request(format!(
                    "Property '{key}' does not exist as a declared property or extension property."
                )));
            }
            continue;
        }
        // Property names in a request body are case-sensitive.
        if !t
            .metadata
            .structural(odata_type)
            .iter()
            .any(|p| p.name == *key)
        {
            return Err(GraphError::bad_request(format!(
                "Property '{key}' does not exist as a declared property or extension property."
            )));
        }
        if s.read_only.contains(key)
            && !(creating && kind == Collection::ServicePrincipals && key == "appId")
        {
            return Err(read_only(key));
        }
        if !creating && s.create_only.contains(key) {
            return Err(GraphError::bad_request(format!(
                "Property '{key}' can only be set when the object is created."
            )));
        }
    }
    if creating {
        for required in s.required_on_create.iter() {
            if obj.get(required).is_none_or(Value::is_null) {
                return Err(GraphError::bad_request(format!(
                    "Invalid value specified for property '{required}' of resource '{}': the property is required.",
                    kind.facts().odata_type.trim_start_matches("microsoft.graph.")
                ))
                .with_detail("PropertyRequired", "A required property is missing.", required));
            }
        }
    }
    if kind == Collection::Users
        && let Some(Value::String(upn)) = obj.get("userPrincipalName")
    {
        let domain = upn.rsplit_once('@').map(|(_, d)| d.to_lowercase());
        if !domain.is_some_and(|d| t.domains.iter().any(|v| v.eq_ignore_ascii_case(&d))) {
            return Err(GraphError::bad_request(
                "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
            )
            .with_detail("InvalidValue", "Property userPrincipalName is invalid.", "userPrincipalName"));
        }
    }
    Ok(())
}

/// The checks of an update: [`check_properties`], then the type's writable list where its
/// update page gives one.
pub(super) fn check_update(t: &Tenant, kind: Collection, patch: &Obj) -> GraphResult<()> {
    check_properties(t, kind, patch, false)?;
    if let Some(writable) = &rules(kind.facts().odata_type).writable
        && let Some(bad) = patch
            .keys()
            .find(|k| !writable.contains(k) && !k.starts_with('@'))
    {
        return Err(read_only(bad));
    }
    Ok(())
}

/// A required string property of a request body.
fn required<'a>(obj: &'a Obj, property: &str) -> GraphResult<&'a str> {
    obj.get(property)
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request(format!("Property '{property}' is required.")))
}

pub(super) fn read_only(key: &str) -> GraphError {
    GraphError::bad_request(format!("Property '{key}' is read-only and cannot be set."))
        .with_detail("PropertyNotWritable", "The property is read-only.", key)
}

/// `collection@odata.bind` references, checked (≤ 20, all exist).
fn binds(t: &Tenant, obj: &mut Obj, property: &str) -> GraphResult<Vec<String>> {
    let Some(value) = obj.remove(&format!("{property}@odata.bind")) else {
        return Ok(Vec::new());
    };
    let urls = value.as_array().ok_or_else(|| {
        GraphError::bad_request(format!("{property}@odata.bind must be an array of URLs."))
    })?;
    if urls.len() > MAX_BIND {
        return Err(GraphError::bad_request(format!(
            "The number of references in {property}@odata.bind exceeds the limit of {MAX_BIND}."
        )));
    }
    let mut ids = Vec::new();
    for url in urls {
        let id = url
            .as_str()
            .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
            .ok_or_else(|| GraphError::bad_request("Invalid @odata.bind reference."))?;
        if t.kind_of(id).is_none() {
            return Err(GraphError::not_found(id));
        }
        ids.push(id.to_owned());
    }
    Ok(ids)
}

/// Fills the properties Graph sets itself.
fn complete(t: &Tenant, kind: Collection, obj: &mut Obj, now: DateTime<Utc>) {
    let created = graph_time(now);
    // A permission grant policy's id is the caller's
    // (permissiongrantpolicy-post-permissiongrantpolicies.md); every other id is Graph's.
    let given = obj.get("id").cloned();
    obj.insert("id".into(), Value::String(new_id()));
    // Unset declared properties are not stored: responses show them as null or [] from the
    // metadata (odata::project).
    let odata_type = kind.facts().odata_type;
    if t.metadata.find(odata_type, "createdDateTime").is_some()
        || crate::rules::documented(odata_type).is_none()
    {
        obj.insert("createdDateTime".into(), Value::String(created.clone()));
    }
    if kind == Collection::PermissionGrantPolicies {
        // Condition sets are added with requests of their own (routes::condition_sets).
        obj.insert("includes".into(), Value::Array(Vec::new()));
        obj.insert("excludes".into(), Value::Array(Vec::new()));
    }
    match kind {
        Collection::Users => {
            // Passwords are write-only: never stored, never returned.
            obj.insert("passwordProfile".into(), Value::Null);
            let upn = obj.get("userPrincipalName").cloned().unwrap_or(Value::Null);
            obj.insert("identities".into(), json!([{"signInType": "userPrincipalName", "issuer": t.default_domain(), "issuerAssignedId": upn}]));
            if obj.get("userType").is_none_or(Value::is_null) {
                obj.insert("userType".into(), json!("Member"));
            }
            obj.insert(
                "securityIdentifier".into(),
                json!(format!("S-1-12-1-{}", rand::random::<u32>())),
            );
        }
        Collection::Groups => {
            let nick = obj
                .get("mailNickname")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_lowercase();
            if obj.get("mailEnabled") == Some(&Value::Bool(true)) {
                let mail = format!(
                    "{nick}@{}",
                    t.domains.last().map(String::as_str).unwrap_or("")
                );
                obj.insert("proxyAddresses".into(), json!([format!("SMTP:{mail}")]));
                obj.insert("mail".into(), Value::String(mail));
            }
            obj.insert("renewedDateTime".into(), Value::String(created));
            obj.insert(
                "securityIdentifier".into(),
                json!(format!("S-1-12-1-{}", rand::random::<u32>())),
            );
        }
        Collection::Applications => {
            obj.insert("appId".into(), Value::String(new_id()));
            obj.insert(
                "publisherDomain".into(),
                Value::String(t.domains.last().cloned().unwrap_or_default()),
            );
            obj.entry("signInAudience").or_insert(json!("AzureADMyOrg"));
            if obj.get("signInAudience").is_some_and(Value::is_null) {
                obj.insert("signInAudience".into(), json!("AzureADMyOrg"));
            }
        }
        Collection::ServicePrincipals => {
            let app_id = obj.get("appId").cloned().unwrap_or(Value::Null);
            obj.insert("servicePrincipalNames".into(), json!([app_id]));
            obj.insert("appOwnerOrganizationId".into(), json!(t.id));
            if obj.get("accountEnabled").is_none_or(Value::is_null) {
                obj.insert("accountEnabled".into(), json!(true));
            }
            obj.entry("servicePrincipalType")
                .or_insert(json!("Application"));
        }
        Collection::RoleDefinitions => {
            let id = obj.get("id").cloned().unwrap_or(Value::Null);
            obj.insert("isBuiltIn".into(), json!(false));
            obj.insert("templateId".into(), id);
            obj.entry("isEnabled").or_insert(json!(true));
            obj.entry("resourceScopes").or_insert(json!(["/"]));
            obj.remove("createdDateTime");
        }
        Collection::ConditionalAccessPolicies | Collection::NamedLocations => {
            obj.insert("modifiedDateTime".into(), Value::Null);
        }
        Collection::RoleAssignments | Collection::Oauth2PermissionGrants => {
            obj.remove("createdDateTime");
            obj.insert("id".into(), Value::String(opaque_id()));
        }
        Collection::PermissionGrantPolicies => {
            obj.insert("id".into(), given.unwrap_or(Value::Null));
        }
        // Keyed by the partner's tenant id; the type has no id and no creation time
        // (resources/crosstenantaccesspolicyconfigurationpartner.md).
        Collection::CrossTenantAccessPolicyPartners => {
            obj.remove("id");
            obj.remove("createdDateTime");
        }
        Collection::AuthenticationStrengthPolicies => {
            obj.insert("modifiedDateTime".into(), Value::String(created.clone()));
            obj.insert("policyType".into(), json!("custom"));
            obj.insert("requirementsSatisfied".into(), json!("mfa"));
        }
        _ => {}
    }
}

/// Ids of role assignments, grants and app role assignments are not GUIDs.
fn opaque_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>())
}

fn write_permissions(kind: Collection, creating: bool) -> Vec<&'static str> {
    match (kind, creating) {
        (Collection::Groups, true) => vec!["Group.Create", "Group.ReadWrite.All"],
        (Collection::Users, false) => vec!["User.ReadWrite.All", "User.DeleteRestore.All"],
        _ => kind.facts().write_permission.into_iter().collect(),
    }
}

fn already_exists(property: &str) -> GraphError {
    // docs/graph.md §7.
    GraphError::bad_request(format!(
        "One or more added object references already exist for the following modified properties: '{property}'."
    ))
}

fn reference(body: Body) -> GraphResult<String> {
    let obj = object_body(body)?;
    obj.get("@odata.id")
        .and_then(Value::as_str)
        .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            GraphError::bad_request(
                "Invalid request body: '@odata.id' with a directoryObjects URL is required.",
            )
        })
}
