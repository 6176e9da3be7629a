//! `POST`, `PATCH` and `DELETE` on a collection's objects, with Graph's checks (docs/graph.md
//! §1): Conditional Access references, OAuth2 grants.

use super::*;

/// `POST /{collection}`
pub(crate) async fn create(kind: Collection, w: Writing, body: Body) -> GraphResult<Response> {
    if kind == Collection::Devices {
        // docs/graph.md §1: POST /devices has no application permission.
        return Err(GraphError::forbidden());
    }
    if !kind.facts().app_create {
        return Err(method_not_allowed(kind));
    }
    w.caller.require(&write_permissions(kind, true))?;
    let mut obj = object_body(body)?;
    let now = w.now;
    let mut t = w.tenant.write();
    if kind == Collection::DirectoryRoles {
        return activate_role(&mut t, &w.caller, obj);
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
        .get(kind.key())
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if t.contains(kind, &id) {
        // Only a caller-named key can be taken (a permission grant policy's id, a partner's
        // tenant id).
        return Err(GraphError::conflict(kind.key()));
    }
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
        Value::String(odata::context(&w.caller.base, kind.name(), None, true)),
    );
    out.extend(obj);
    Ok(json_response(StatusCode::CREATED, Value::Object(out)))
}

/// `PATCH /{collection}/{id}`
pub(crate) async fn update(
    kind: Collection,
    w: Writing,
    Path(id): Path<String>,
    body: Body,
) -> GraphResult<Response> {
    if kind.facts().write_permission.is_none()
        || matches!(
            kind,
            Collection::RoleAssignments
                | Collection::RoleEligibilitySchedules
                | Collection::DirectoryRoles
                | Collection::RoleManagementPolicies
        )
    {
        // docs/graph.md §1: role assignments are create/get/delete only; a PIM policy is
        // changed rule by rule (unifiedrolemanagementpolicyrule-update.md).
        return Err(method_not_allowed(kind));
    }
    w.caller.require(&write_permissions(kind, false))?;
    let mut patch = object_body(body)?;
    let now = w.now;
    let mut t = w.tenant.write();
    let (id, current) = existing(&t, kind, &id)?;
    check_update(&t, kind, &patch)?;
    if kind == Collection::RoleDefinitions && current.get("isBuiltIn") == Some(&Value::Bool(true)) {
        return Err(GraphError::bad_request(
            "Built-in role definitions cannot be modified.",
        ));
    }
    refuse_built_in_strength(kind, &current, "updated")?;
    let synced = current.get("onPremisesSyncEnabled") == Some(&Value::Bool(true));
    if synced
        && patch
            .keys()
            .any(|k| rules(kind.facts().odata_type).on_premises_owned.contains(k))
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
    if kind == Collection::AuthenticationStrengthPolicies {
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

/// `DELETE /{collection}/{id}`
pub(crate) async fn delete(
    kind: Collection,
    w: Writing,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    if kind.facts().write_permission.is_none()
        || matches!(
            kind,
            Collection::RoleEligibilitySchedules
                | Collection::DirectoryRoles
                | Collection::RoleManagementPolicies
        )
    {
        return Err(method_not_allowed(kind));
    }
    w.caller.require(&write_permissions(kind, false))?;
    let now = w.now;
    let mut t = w.tenant.write();
    let (id, current) = existing(&t, kind, &id)?;
    if kind == Collection::RoleDefinitions && current.get("isBuiltIn") == Some(&Value::Bool(true)) {
        return Err(GraphError::bad_request(
            "Built-in role definitions cannot be deleted.",
        ));
    }
    refuse_built_in_strength(kind, &current, "deleted")?;
    t.delete(kind, &id, now)?;
    if kind == Collection::RoleAssignments {
        sync_directory_role_member(&mut t, &current, false);
    }
    Ok(no_content())
}

/// Microsoft's authentication strengths cannot be changed or deleted
/// (authenticationstrengthpolicy-update.md, authenticationstrengthpolicy-delete.md).
fn refuse_built_in_strength(kind: Collection, current: &Obj, what: &str) -> GraphResult<()> {
    if kind == Collection::AuthenticationStrengthPolicies
        && current.get("policyType").and_then(Value::as_str) == Some("builtIn")
    {
        return Err(GraphError::bad_request(format!(
            "Built-in authentication strength policies cannot be {what}."
        )));
    }
    Ok(())
}

/// `POST /policies/authenticationStrengthPolicies/{id}/updateAllowedCombinations`: the one way
/// to change which method combinations a custom strength allows
/// (authenticationstrengthpolicy-updateallowedcombinations.md).
pub(crate) async fn update_allowed_combinations(
    w: Writing,
    Path(id): Path<String>,
    body: Body,
) -> GraphResult<Response> {
    let kind = Collection::AuthenticationStrengthPolicies;
    w.caller.require(&write_permissions(kind, false))?;
    let body = object_body(body)?;
    let now = w.now;
    let mut t = w.tenant.write();
    let (id, current) = existing(&t, kind, &id)?;
    refuse_built_in_strength(kind, &current, "updated")?;
    let combinations = match body.get("allowedCombinations") {
        Some(Value::Array(c)) if !c.is_empty() && c.iter().all(Value::is_string) => c.clone(),
        _ => {
            return Err(GraphError::bad_request(
                "Property 'allowedCombinations' is required: a non-empty list of method combinations.",
            ));
        }
    };
    let mut patch = Obj::new();
    patch.insert(
        "allowedCombinations".into(),
        Value::Array(combinations.clone()),
    );
    patch.insert("modifiedDateTime".into(), Value::String(graph_time(now)));
    t.update(kind, &id, patch)?;
    Ok(json_response(
        StatusCode::OK,
        json!({"policyId": id, "currentCombinations": combinations}),
    ))
}

/// Checks the principal ids a Conditional Access policy names: Graph refuses unknown users
/// and groups (which is why a restore must remap them).
pub(super) fn check_ca_references(t: &Tenant, obj: &Obj) -> GraphResult<()> {
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
            if !t.contains(kind, id) {
                return Err(GraphError::bad_request(format!(
                    "1037: The policy contains invalid {field} '{id}': the object does not exist in the tenant."
                ))
                .with_detail("InvalidValue", "Unknown object id", field));
            }
        }
    }
    Ok(())
}

pub(super) fn check_grant(t: &Tenant, obj: &Obj) -> GraphResult<()> {
    let get = |p: &str| obj.get(p).and_then(Value::as_str);
    let (Some(client), Some(consent), Some(resource)) =
        (get("clientId"), get("consentType"), get("resourceId"))
    else {
        return Err(GraphError::bad_request(
            "clientId, consentType and resourceId are required.",
        ));
    };
    for sp in [client, resource] {
        if !t.contains(Collection::ServicePrincipals, sp) {
            return Err(GraphError::not_found(sp));
        }
    }
    let principal = get("principalId");
    match (consent, principal) {
        ("AllPrincipals", None) => {}
        ("Principal", Some(p)) if t.contains(Collection::Users, p) => {}
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
