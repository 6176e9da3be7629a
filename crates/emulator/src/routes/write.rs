//! Graph writes used by restore, validated as Graph validates them (docs/graph.md §1 "Create /
//! update rules", §2, §7): required and read-only properties, unique keys with `ObjectConflict`,
//! verified UPN domains, on-premises-owned attributes of synced objects, `members@odata.bind`
//! (at most 20, all or nothing), duplicate member adds, missing references, no app-only device
//! create.

use axum::Json;
use axum::extract::{Path, State};
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

/// At most this many references in one `members@odata.bind` (group-update.md).
pub(crate) const MAX_BIND: usize = 20;

fn object_body(
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

type Body = Result<Json<Value>, axum::extract::rejection::JsonRejection>;

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
fn check_properties(t: &Tenant, kind: Collection, obj: &Obj, creating: bool) -> GraphResult<()> {
    let odata_type = kind.facts().odata_type;
    let Some(s) = rules(odata_type) else {
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
        if s.read_only.contains(&key.as_str())
            && !(creating && kind == Collection::ServicePrincipals && key == "appId")
        {
            return Err(read_only(key));
        }
        if !creating && s.create_only.contains(&key.as_str()) {
            return Err(GraphError::bad_request(format!(
                "Property '{key}' can only be set when the object is created."
            )));
        }
    }
    if creating {
        for required in s.required_on_create.iter() {
            if obj.get(*required).is_none_or(Value::is_null) {
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

/// A required string property of a request body.
fn required<'a>(obj: &'a Obj, property: &str) -> GraphResult<&'a str> {
    obj.get(property)
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request(format!("Property '{property}' is required.")))
}

fn read_only(key: &str) -> GraphError {
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
    obj.insert("id".into(), Value::String(new_id()));
    // Unset declared properties are not stored: responses show them as null or [] from the
    // metadata (odata::project).
    let odata_type = kind.facts().odata_type;
    if t.metadata.find(odata_type, "createdDateTime").is_some() || rules(odata_type).is_none() {
        obj.insert("createdDateTime".into(), Value::String(created.clone()));
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

/// Checks the principal ids a Conditional Access policy names: Graph refuses unknown users
/// and groups (which is why a restore must remap them).
fn check_ca_references(t: &Tenant, obj: &Obj) -> GraphResult<()> {
    let users = obj.get("conditions").and_then(|c| c.get("users"));
    for (field, kind) in [
        ("includeUsers", Collection::Users),
        ("excludeUsers", Collection::Users),
        ("includeGroups", Collection::Groups),
        ("excludeGroups", Collection::Groups),
    ] {
        for id in users
            .and_then(|u| u.get(field))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(id) = id.as_str() else { continue };
            if ["All", "None", "GuestsOrExternalUsers"].contains(&id) {
                continue;
            }
            if t.get(kind, id).is_none() {
                return Err(GraphError::bad_request(format!(
                    "1037: The policy contains invalid {field} '{id}': the object does not exist in the tenant."
                ))
                .with_detail("InvalidValue", "Unknown object id", field));
            }
        }
    }
    Ok(())
}

/// `POST /{collection}`
pub(crate) async fn create(
    kind: Collection,
    State(emulator): State<Emulator>,
    caller: Caller,
    body: Body,
) -> GraphResult<Response> {
    if kind == Collection::Devices {
        // docs/graph.md §1: POST /devices has no application permission.
        return Err(GraphError::forbidden());
    }
    if !kind.facts().app_create {
        return Err(method_not_allowed(kind));
    }
    caller.require(&write_permissions(kind, true))?;
    let mut obj = object_body(body)?;
    let now = emulator.clock().now();
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    if kind == Collection::DirectoryRoles {
        return activate_role(&mut t, &caller, obj);
    }
    check_properties(&t, kind, &obj, true)?;
    let members = binds(&t, &mut obj, "members")?;
    let owners = binds(&t, &mut obj, "owners")?;
    if members.len() + owners.len() > MAX_BIND {
        return Err(GraphError::bad_request(format!(
            "A group can be created with at most {MAX_BIND} members and owners."
        )));
    }
    match kind {
        Collection::Users => {
            let password = obj
                .get("passwordProfile")
                .and_then(|p| p.get("password"))
                .and_then(Value::as_str);
            if password.is_none_or(str::is_empty) {
                return Err(GraphError::bad_request(
                    "Invalid value specified for property 'passwordProfile' of resource 'User'.",
                )
                .with_detail(
                    "PropertyRequired",
                    "passwordProfile.password is required",
                    "passwordProfile",
                ));
            }
        }
        Collection::ServicePrincipals => {
            let app_id = obj.get("appId").and_then(Value::as_str).unwrap_or("");
            let app = t
                .find_unique(Collection::Applications, "appId", app_id)
                .and_then(|id| t.get(Collection::Applications, id))
                .ok_or_else(|| GraphError::bad_request(format!(
                    "The appId '{app_id}' of the service principal does not reference a valid application object."
                )).with_detail("InvalidValue", "Unknown appId", "appId"))?;
            let name = app.get("displayName").cloned().unwrap_or(Value::Null);
            // A service principal publishes its application's app roles and scopes.
            let roles = app.get("appRoles").cloned().unwrap_or(json!([]));
            let scopes = app
                .get("api")
                .and_then(|a| a.get("oauth2PermissionScopes"))
                .cloned()
                .unwrap_or(json!([]));
            obj.entry("displayName").or_insert(name.clone());
            obj.insert("appDisplayName".into(), name);
            obj.entry("appRoles").or_insert(roles);
            obj.entry("oauth2PermissionScopes").or_insert(scopes);
        }
        Collection::RoleDefinitions => {
            for p in ["displayName", "rolePermissions"] {
                if obj.get(p).is_none_or(Value::is_null) {
                    return Err(GraphError::bad_request(format!(
                        "Property '{p}' is required."
                    )));
                }
            }
        }
        Collection::RoleAssignments => check_role_assignment(&t, &obj)?,
        Collection::Oauth2PermissionGrants => check_grant(&t, &obj)?,
        Collection::ConditionalAccessPolicies => {
            for p in ["displayName", "conditions"] {
                if obj.get(p).is_none_or(Value::is_null) {
                    return Err(GraphError::bad_request(format!(
                        "Property '{p}' is required."
                    )));
                }
            }
            check_ca_references(&t, &obj)?;
        }
        Collection::NamedLocations => {
            let ty = obj.get("@odata.type").and_then(Value::as_str).unwrap_or("");
            if ![
                "#microsoft.graph.ipNamedLocation",
                "#microsoft.graph.countryNamedLocation",
            ]
            .contains(&ty)
            {
                return Err(GraphError::bad_request(
                    "A named location needs @odata.type #microsoft.graph.ipNamedLocation or #microsoft.graph.countryNamedLocation.",
                ));
            }
        }
        _ => {}
    }
    complete(&t, kind, &mut obj, now);
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    t.insert(kind, obj.clone())?;
    for m in members {
        t.add_link(LinkKind::GroupMember, &id, &m)?;
    }
    for o in owners {
        t.add_link(LinkKind::GroupOwner, &id, &o)?;
    }
    if kind == Collection::RoleAssignments {
        sync_directory_role_member(&mut t, &obj, true);
    }
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(odata::context(&caller.base, kind.name(), None, true)),
    );
    out.extend(obj);
    Ok(json_response(StatusCode::CREATED, Value::Object(out)))
}

fn check_role_assignment(t: &Tenant, obj: &Obj) -> GraphResult<()> {
    let get = |p: &str| required(obj, p);
    let principal = get("principalId")?;
    let definition = get("roleDefinitionId")?;
    let scope = get("directoryScopeId")?;
    if t.kind_of(principal).is_none() {
        return Err(GraphError::not_found(principal));
    }
    if t.get(Collection::RoleDefinitions, definition).is_none() {
        return Err(GraphError::not_found(definition));
    }
    if let Some(au) = scope.strip_prefix("/administrativeUnits/") {
        if t.get(Collection::AdministrativeUnits, au).is_none() {
            return Err(GraphError::not_found(au));
        }
    } else if scope != "/" {
        return Err(GraphError::bad_request(format!(
            "Invalid directoryScopeId '{scope}'."
        )));
    }
    let duplicate = t.has_object_with(
        Collection::RoleAssignments,
        &[
            ("principalId", principal),
            ("roleDefinitionId", definition),
            ("directoryScopeId", scope),
        ],
    );
    if duplicate {
        return Err(GraphError::bad_request("A conflicting object with one or more of the specified property values is present in the directory.")
            .with_detail("ObjectConflict", "The role assignment already exists.", "roleAssignment"));
    }
    Ok(())
}

/// Keeps `/directoryRoles/{id}/members` in step with tenant-wide assignments of built-in roles,
/// activating the role on first use as Entra does.
fn sync_directory_role_member(t: &mut Tenant, assignment: &Obj, added: bool) {
    let (Some(principal), Some(definition), Some("/")) = (
        assignment.get("principalId").and_then(Value::as_str),
        assignment.get("roleDefinitionId").and_then(Value::as_str),
        assignment.get("directoryScopeId").and_then(Value::as_str),
    ) else {
        return;
    };
    let Some((template, name)) = BUILT_IN_ROLES.iter().find(|(id, _)| *id == definition) else {
        return;
    };
    let role = t
        .objects(Collection::DirectoryRoles)
        .into_iter()
        .flatten()
        .find(|(_, r)| r.get("roleTemplateId").and_then(Value::as_str) == Some(template))
        .map(|(id, _)| id.clone());
    let role = match (role, added) {
        (Some(r), _) => r,
        (None, true) => {
            let id = new_id();
            let _ = t.insert(Collection::DirectoryRoles, json!({"id": id, "deletedDateTime": null, "description": format!("Can manage {name} tasks."), "displayName": name, "roleTemplateId": template}).as_object().cloned().unwrap_or_default());
            id
        }
        (None, false) => return,
    };
    if added {
        let _ = t.add_link(LinkKind::DirectoryRoleMember, &role, principal);
    } else {
        t.remove_link(LinkKind::DirectoryRoleMember, &role, principal);
    }
}

fn check_grant(t: &Tenant, obj: &Obj) -> GraphResult<()> {
    let get = |p: &str| obj.get(p).and_then(Value::as_str);
    let (Some(client), Some(consent), Some(resource)) =
        (get("clientId"), get("consentType"), get("resourceId"))
    else {
        return Err(GraphError::bad_request(
            "clientId, consentType and resourceId are required.",
        ));
    };
    for sp in [client, resource] {
        if t.get(Collection::ServicePrincipals, sp).is_none() {
            return Err(GraphError::not_found(sp));
        }
    }
    let principal = get("principalId");
    match (consent, principal) {
        ("AllPrincipals", None) => {}
        ("Principal", Some(p)) if t.get(Collection::Users, p).is_some() => {}
        ("Principal", Some(p)) => return Err(GraphError::not_found(p)),
        _ => {
            return Err(GraphError::bad_request(
                "consentType must be AllPrincipals (no principalId) or Principal (with principalId).",
            ));
        }
    }
    let duplicate = t
        .objects(Collection::Oauth2PermissionGrants)
        .into_iter()
        .flatten()
        .any(|(_, g)| {
            g.get("clientId").and_then(Value::as_str) == Some(client)
                && g.get("resourceId").and_then(Value::as_str) == Some(resource)
                && g.get("consentType").and_then(Value::as_str) == Some(consent)
                && g.get("principalId").and_then(Value::as_str) == principal
        });
    if duplicate {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            "Permission entry already exists.",
        ));
    }
    Ok(())
}

fn activate_role(t: &mut Tenant, caller: &Caller, obj: Obj) -> GraphResult<Response> {
    let template = obj
        .get("roleTemplateId")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request("Property 'roleTemplateId' is required."))?
        .to_owned();
    let tpl = t
        .get(Collection::DirectoryRoleTemplates, &template)
        .cloned()
        .ok_or_else(|| GraphError::not_found(&template))?;
    let active = t
        .objects(Collection::DirectoryRoles)
        .into_iter()
        .flatten()
        .any(|(_, r)| r.get("roleTemplateId").and_then(Value::as_str) == Some(template.as_str()));
    if active {
        return Err(GraphError::conflict("roleTemplateId"));
    }
    let role = json!({"id": new_id(), "deletedDateTime": null, "description": tpl.get("description"), "displayName": tpl.get("displayName"), "roleTemplateId": template});
    let role = role.as_object().cloned().unwrap_or_default();
    t.insert(Collection::DirectoryRoles, role.clone())?;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(odata::context(&caller.base, "directoryRoles", None, true)),
    );
    out.extend(role);
    Ok(json_response(StatusCode::CREATED, Value::Object(out)))
}

/// `PATCH /{collection}/{id}`
pub(crate) async fn update(
    kind: Collection,
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> GraphResult<Response> {
    if kind.facts().write_permission.is_none()
        || matches!(
            kind,
            Collection::RoleAssignments
                | Collection::RoleEligibilitySchedules
                | Collection::DirectoryRoles
        )
    {
        // docs/graph.md §1: role assignments are create/get/delete only.
        return Err(method_not_allowed(kind));
    }
    caller.require(&write_permissions(kind, false))?;
    let mut patch = object_body(body)?;
    let now = emulator.clock().now();
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    let (id, current) = existing(&t, kind, &id)?;
    check_properties(&t, kind, &patch, false)?;
    if let Some(writable) = rules(kind.facts().odata_type).and_then(|r| r.writable)
        && let Some(bad) = patch
            .keys()
            .find(|k| !writable.contains(&k.as_str()) && !k.starts_with('@'))
    {
        return Err(read_only(bad));
    }
    if kind == Collection::RoleDefinitions && current.get("isBuiltIn") == Some(&Value::Bool(true)) {
        return Err(GraphError::bad_request(
            "Built-in role definitions cannot be modified.",
        ));
    }
    let synced = current.get("onPremisesSyncEnabled") == Some(&Value::Bool(true));
    if synced
        && let Some(s) = rules(kind.facts().odata_type)
        && patch
            .keys()
            .any(|k| s.on_premises_owned.contains(&k.as_str()))
    {
        // Graph's answer for attributes owned by on-premises AD.
        return Err(GraphError::bad_request(
            "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.",
        ));
    }
    let members = binds(&t, &mut patch, "members")?;
    let owners = binds(&t, &mut patch, "owners")?;
    for (rel, ids, name) in [
        (LinkKind::GroupMember, &members, "members"),
        (LinkKind::GroupOwner, &owners, "owners"),
    ] {
        // All or nothing: any existing reference refuses the whole request.
        if ids
            .iter()
            .any(|m| t.links(rel, &id).is_some_and(|s| s.contains(m)))
        {
            return Err(already_exists(name));
        }
    }
    if kind == Collection::Users {
        patch.remove("passwordProfile");
    }
    if kind == Collection::ConditionalAccessPolicies {
        check_ca_references(&t, &patch)?;
        patch.insert("modifiedDateTime".into(), Value::String(graph_time(now)));
    }
    t.update(kind, &id, patch)?;
    for m in members {
        t.add_link(LinkKind::GroupMember, &id, &m)?;
    }
    for o in owners {
        t.add_link(LinkKind::GroupOwner, &id, &o)?;
    }
    Ok(no_content())
}

fn already_exists(property: &str) -> GraphError {
    // docs/graph.md §7.
    GraphError::bad_request(format!(
        "One or more added object references already exist for the following modified properties: '{property}'."
    ))
}

/// `DELETE /{collection}/{id}`
pub(crate) async fn delete(
    kind: Collection,
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    if kind.facts().write_permission.is_none()
        || matches!(
            kind,
            Collection::RoleEligibilitySchedules | Collection::DirectoryRoles
        )
    {
        return Err(method_not_allowed(kind));
    }
    caller.require(&write_permissions(kind, false))?;
    let now = emulator.clock().now();
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    let (id, current) = existing(&t, kind, &id)?;
    if kind == Collection::RoleDefinitions && current.get("isBuiltIn") == Some(&Value::Bool(true)) {
        return Err(GraphError::bad_request(
            "Built-in role definitions cannot be deleted.",
        ));
    }
    t.delete(kind, &id, now)?;
    if kind == Collection::RoleAssignments {
        sync_directory_role_member(&mut t, &current, false);
    }
    Ok(no_content())
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

fn link_write_permission(rel: LinkKind) -> &'static [&'static str] {
    match rel {
        LinkKind::GroupMember => &["GroupMember.ReadWrite.All"],
        LinkKind::GroupOwner => &["Group.ReadWrite.All"],
        LinkKind::DirectoryRoleMember => &["RoleManagement.ReadWrite.Directory"],
        LinkKind::AdministrativeUnitMember => &["AdministrativeUnit.ReadWrite.All"],
        LinkKind::ApplicationOwner | LinkKind::ServicePrincipalOwner => {
            &["Application.ReadWrite.All"]
        }
        _ => &["Device.ReadWrite.All"],
    }
}

fn link_property(rel: LinkKind) -> &'static str {
    match rel {
        LinkKind::GroupOwner | LinkKind::ApplicationOwner | LinkKind::ServicePrincipalOwner => {
            "owners"
        }
        LinkKind::DeviceRegisteredOwner => "registeredOwners",
        LinkKind::DeviceRegisteredUser => "registeredUsers",
        _ => "members",
    }
}

/// `POST /{source}/{id}/{members|owners|…}/$ref`
pub(crate) async fn add_link(
    rel: LinkKind,
    source: Collection,
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> GraphResult<Response> {
    caller.require(link_write_permission(rel))?;
    let target = reference(body)?;
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    if t.get(source, &id).is_none() {
        return Err(GraphError::not_found(&id));
    }
    if !t.add_link(rel, &id, &target)? {
        return Err(already_exists(link_property(rel)));
    }
    Ok(no_content())
}

/// `DELETE /{source}/{id}/{members|owners|…}/{member}/$ref`
pub(crate) async fn remove_link(
    rel: LinkKind,
    source: Collection,
    State(emulator): State<Emulator>,
    caller: Caller,
    Path((id, member)): Path<(String, String)>,
) -> GraphResult<Response> {
    caller.require(link_write_permission(rel))?;
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    if t.get(source, &id).is_none() {
        return Err(GraphError::not_found(&id));
    }
    if !t.remove_link(rel, &id, &member) {
        return Err(GraphError::not_found(&member));
    }
    Ok(no_content())
}

/// `PUT /users/{id}/manager/$ref`
pub(crate) async fn set_manager(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> GraphResult<Response> {
    caller.require(&["User.ReadWrite.All"])?;
    let manager = reference(body)?;
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    let user = user_id(&t, &id)?;
    if t.get(Collection::Users, &manager).is_none() {
        return Err(GraphError::not_found(&manager));
    }
    t.add_link(LinkKind::UserManager, &user, &manager)?;
    Ok(no_content())
}

/// `DELETE /users/{id}/manager/$ref`
pub(crate) async fn remove_manager(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    caller.require(&["User.ReadWrite.All"])?;
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    let user = user_id(&t, &id)?;
    let current = t
        .links(LinkKind::UserManager, &user)
        .and_then(|m| m.iter().next().cloned());
    match current {
        Some(m) => {
            t.remove_link(LinkKind::UserManager, &user, &m);
            Ok(no_content())
        }
        None => Err(GraphError::not_found("manager")),
    }
}

/// `POST /servicePrincipals/{id}/appRoleAssignedTo`
pub(crate) async fn create_app_role_assignment(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> GraphResult<Response> {
    caller.require(&["AppRoleAssignment.ReadWrite.All"])?;
    let obj = object_body(body)?;
    let now = emulator.clock().now();
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    let get = |p: &str| required(&obj, p);
    let (principal, resource, role) = (get("principalId")?, get("resourceId")?, get("appRoleId")?);
    if resource != id {
        return Err(GraphError::bad_request(
            "resourceId must be the service principal in the request URL.",
        ));
    }
    let assignment = t.assign_app_role(
        principal,
        resource,
        role,
        opaque_id(),
        caller.audit_initiator(),
        now,
    )?;
    Ok(json_response(
        StatusCode::CREATED,
        Value::Object(assignment),
    ))
}

/// `DELETE /servicePrincipals/{id}/appRoleAssignedTo/{assignment}`
pub(crate) async fn delete_app_role_assignment(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path((id, assignment)): Path<(String, String)>,
) -> GraphResult<Response> {
    caller.require(&["AppRoleAssignment.ReadWrite.All"])?;
    let now = emulator.clock().now();
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    t.unassign_app_role(&id, &assignment, caller.audit_initiator(), now)?;
    Ok(no_content())
}

/// Creatable authentication-method collections and their fixed ids (docs/graph.md §1).
fn creatable_method(collection: &str, body: &Obj) -> GraphResult<(String, Obj)> {
    let ty = method_type(collection)?;
    let mut obj = Map::new();
    obj.insert("@odata.type".into(), json!(ty));
    let id = match collection {
        "phoneMethods" => {
            let number = body
                .get("phoneNumber")
                .and_then(Value::as_str)
                .ok_or_else(|| GraphError::bad_request("phoneNumber is required."))?;
            let phone_type = body
                .get("phoneType")
                .and_then(Value::as_str)
                .unwrap_or("mobile");
            let id = match phone_type {
                "mobile" => method_ids::MOBILE,
                "alternateMobile" => method_ids::ALTERNATE_MOBILE,
                "office" => method_ids::OFFICE,
                other => {
                    return Err(GraphError::bad_request(format!(
                        "Invalid phoneType '{other}'."
                    )));
                }
            };
            obj.insert("phoneNumber".into(), json!(number));
            obj.insert("phoneType".into(), json!(phone_type));
            obj.insert("smsSignInState".into(), json!("notAllowedByPolicy"));
            id.to_owned()
        }
        "emailMethods" => {
            let address = body
                .get("emailAddress")
                .and_then(Value::as_str)
                .ok_or_else(|| GraphError::bad_request("emailAddress is required."))?;
            obj.insert("emailAddress".into(), json!(address));
            method_ids::EMAIL.to_owned()
        }
        "temporaryAccessPassMethods" => {
            obj.insert(
                "temporaryAccessPass".into(),
                json!(crate::auth::random_secret()[..12].to_owned()),
            );
            obj.insert(
                "lifetimeInMinutes".into(),
                body.get("lifetimeInMinutes").cloned().unwrap_or(json!(60)),
            );
            obj.insert(
                "isUsableOnce".into(),
                body.get("isUsableOnce").cloned().unwrap_or(json!(false)),
            );
            new_id()
        }
        _ => {
            return Err(GraphError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!(
                    "{collection} cannot be created through Graph: the user must register this method."
                ),
            ));
        }
    };
    obj.insert("id".into(), json!(id));
    Ok((id, obj))
}

/// `POST /users/{id}/authentication/{collection}`
pub(crate) async fn create_auth_method(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path((id, coll)): Path<(String, String)>,
    body: Body,
) -> GraphResult<Response> {
    caller.require(&["UserAuthenticationMethod.ReadWrite.All"])?;
    let body = object_body(body)?;
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    let user = user_id(&t, &id)?;
    let (method_id, obj) = creatable_method(&coll, &body)?;
    let methods = t.auth_methods.entry(user.clone()).or_default();
    let ty = obj.get("@odata.type").cloned();
    let one_per_user = coll != "phoneMethods";
    if methods.contains_key(&method_id)
        || (one_per_user
            && methods
                .values()
                .any(|m| m.get("@odata.type") == ty.as_ref()))
    {
        return Err(GraphError::bad_request(format!(
            "A method of this type already exists for the user ({coll})."
        ))
        .with_detail("ObjectConflict", "Method exists", &coll));
    }
    methods.insert(method_id, obj.clone());
    t.methods_updated.insert(user, emulator.clock().now());
    Ok(json_response(StatusCode::CREATED, Value::Object(obj)))
}

/// `PATCH /users/{id}/authentication/{collection}/{method}`
pub(crate) async fn update_auth_method(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path((id, coll, method)): Path<(String, String, String)>,
    body: Body,
) -> GraphResult<Response> {
    caller.require(&["UserAuthenticationMethod.ReadWrite.All"])?;
    let body = object_body(body)?;
    let allowed: &[&str] = match coll.as_str() {
        "phoneMethods" => &["phoneNumber", "phoneType"],
        "emailMethods" => &["emailAddress"],
        _ => {
            return Err(GraphError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("{coll} cannot be updated."),
            ));
        }
    };
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    let user = user_id(&t, &id)?;
    let m = t
        .auth_methods
        .get_mut(&user)
        .and_then(|ms| ms.get_mut(&method))
        .ok_or_else(|| GraphError::not_found(&method))?;
    for (k, v) in body {
        if !allowed.contains(&k.as_str()) {
            return Err(read_only(&k));
        }
        m.insert(k, v);
    }
    t.methods_updated.insert(user, emulator.clock().now());
    Ok(no_content())
}

/// `DELETE /users/{id}/authentication/{collection}/{method}`
pub(crate) async fn delete_auth_method(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path((id, coll, method)): Path<(String, String, String)>,
) -> GraphResult<Response> {
    caller.require(&["UserAuthenticationMethod.ReadWrite.All"])?;
    if coll == "passwordMethods" {
        return Err(GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The password method cannot be deleted.",
        ));
    }
    let ty = method_type(&coll)?;
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    let user = user_id(&t, &id)?;
    let methods = t
        .auth_methods
        .get_mut(&user)
        .ok_or_else(|| GraphError::not_found(&method))?;
    match methods.get(&method) {
        Some(m) if m.get("@odata.type").and_then(Value::as_str) == Some(ty) => {
            methods.remove(&method);
            t.methods_updated.insert(user, emulator.clock().now());
            Ok(no_content())
        }
        _ => Err(GraphError::not_found(&method)),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RestoreBody {
    new_user_principal_name: Option<String>,
    #[allow(dead_code)]
    auto_reconcile_proxy_conflict: Option<bool>,
}

/// `POST /directory/deletedItems/{id}/restore` → 200 with the object (docs/graph.md §2).
pub(crate) async fn restore_deleted(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    body: Option<Json<RestoreBody>>,
) -> GraphResult<Response> {
    let body = body.map(|b| b.0).unwrap_or_default();
    let now = emulator.clock().now();
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    t.expire_recycle_bin(now);
    let kind = t
        .deleted_item(&id)
        .map(|d| d.kind)
        .ok_or_else(|| GraphError::not_found(&id))?;
    caller.require(&write_permissions(kind, false))?;
    if let Some(upn) = &body.new_user_principal_name {
        let mut probe = Map::new();
        probe.insert("userPrincipalName".into(), json!(upn));
        check_properties(&t, Collection::Users, &probe, false)?;
    }
    let (kind, obj) = t.restore(&id, body.new_user_principal_name.as_deref())?;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(odata::context(&caller.base, "directoryObjects", None, true)),
    );
    out.insert(
        "@odata.type".into(),
        json!(format!("#{}", kind.facts().odata_type)),
    );
    out.extend(obj);
    Ok(json_response(StatusCode::OK, Value::Object(out)))
}

/// `DELETE /directory/deletedItems/{id}`: permanent deletion.
pub(crate) async fn purge_deleted(
    State(emulator): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    let kind = t
        .deleted_item(&id)
        .map(|d| d.kind)
        .ok_or_else(|| GraphError::not_found(&id))?;
    caller.require(&write_permissions(kind, false))?;
    t.purge(&id);
    Ok(no_content())
}

/// `POST /roleManagement/directory/roleEligibilityScheduleRequests` (PIM; docs/graph.md §1).
pub(crate) async fn eligibility_request(
    State(emulator): State<Emulator>,
    caller: Caller,
    body: Body,
) -> GraphResult<Response> {
    caller.require(&[
        "RoleEligibilitySchedule.ReadWrite.Directory",
        "RoleManagement.ReadWrite.Directory",
    ])?;
    let obj = object_body(body)?;
    let now = emulator.clock().now();
    let shared = tenant_of(&emulator, &caller)?;
    let mut t = shared.write();
    let get = |p: &str| required(&obj, p);
    let action = get("action")?;
    let (principal, definition) = (get("principalId")?, get("roleDefinitionId")?);
    let scope = obj
        .get("directoryScopeId")
        .and_then(Value::as_str)
        .unwrap_or("/");
    if t.kind_of(principal).is_none() {
        return Err(GraphError::not_found(principal));
    }
    if t.get(Collection::RoleDefinitions, definition).is_none() {
        return Err(GraphError::not_found(definition));
    }
    let existing = t
        .objects(Collection::RoleEligibilitySchedules)
        .into_iter()
        .flatten()
        .find(|(_, s)| {
            s.get("principalId").and_then(Value::as_str) == Some(principal)
                && s.get("roleDefinitionId").and_then(Value::as_str) == Some(definition)
                && s.get("directoryScopeId").and_then(Value::as_str) == Some(scope)
        })
        .map(|(id, _)| id.clone());
    let schedule_id = match (action, existing) {
        ("adminAssign", Some(_)) => {
            return Err(
                GraphError::bad_request("The Role assignment already exists.").with_detail(
                    "RoleAssignmentExists",
                    "The Role assignment already exists.",
                    "roleEligibilityScheduleRequest",
                ),
            );
        }
        ("adminAssign", None) => {
            let id = new_id();
            let schedule = json!({
                "id": id, "principalId": principal, "roleDefinitionId": definition, "directoryScopeId": scope,
                "appScopeId": null, "createdUsing": id, "createdDateTime": graph_time(now), "modifiedDateTime": null,
                "status": "Provisioned", "memberType": "Direct",
                "scheduleInfo": obj.get("scheduleInfo").cloned().unwrap_or(json!({"startDateTime": graph_time(now), "recurrence": null, "expiration": {"type": "noExpiration", "endDateTime": null, "duration": null}})),
            });
            t.insert(
                Collection::RoleEligibilitySchedules,
                schedule.as_object().cloned().unwrap_or_default(),
            )?;
            id
        }
        ("adminRemove", Some(id)) => {
            t.delete(Collection::RoleEligibilitySchedules, &id, now)?;
            id
        }
        ("adminRemove", None) => {
            return Err(
                GraphError::not_found("roleEligibilitySchedule").with_detail(
                    "RoleAssignmentDoesNotExist",
                    "The Role assignment does not exist.",
                    "roleEligibilityScheduleRequest",
                ),
            );
        }
        (other, _) => {
            return Err(GraphError::bad_request(format!(
                "Unsupported action '{other}': use adminAssign or adminRemove."
            )));
        }
    };
    let request = json!({
        "id": new_id(), "status": "Provisioned", "action": action, "principalId": principal, "roleDefinitionId": definition,
        "directoryScopeId": scope, "appScopeId": null, "isValidationOnly": false, "targetScheduleId": schedule_id,
        "justification": obj.get("justification"), "createdDateTime": graph_time(now), "completedDateTime": graph_time(now),
        "approvalId": null, "createdBy": {"application": {"id": caller.client_id, "displayName": null}, "user": null},
        "scheduleInfo": obj.get("scheduleInfo"), "ticketInfo": {"ticketNumber": null, "ticketSystem": null},
    });
    Ok(json_response(StatusCode::CREATED, request))
}
