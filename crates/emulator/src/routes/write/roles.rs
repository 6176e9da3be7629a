//! Directory roles: role assignments (and the directory role members they keep in step),
//! activation of a role on first use, and PIM eligibility requests.

use super::*;

pub(super) fn check_role_assignment(t: &Tenant, obj: &Obj) -> GraphResult<()> {
    let get = |p: &str| required(obj, p);
    let principal = get("principalId")?;
    let definition = get("roleDefinitionId")?;
    let scope = get("directoryScopeId")?;
    if t.kind_of(principal).is_none() {
        return Err(GraphError::not_found(principal));
    }
    if !t.contains(Collection::RoleDefinitions, definition) {
        return Err(GraphError::not_found(definition));
    }
    if let Some(au) = scope.strip_prefix("/administrativeUnits/") {
        if !t.contains(Collection::AdministrativeUnits, au) {
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
pub(super) fn sync_directory_role_member(t: &mut Tenant, assignment: &Obj, added: bool) {
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

pub(super) fn activate_role(t: &mut Tenant, caller: &Caller, obj: Obj) -> GraphResult<Response> {
    let template = obj
        .get("roleTemplateId")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request("Property 'roleTemplateId' is required."))?
        .to_owned();
    let tpl = t
        .get(Collection::DirectoryRoleTemplates, &template)
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

/// `POST /roleManagement/directory/roleEligibilityScheduleRequests` (PIM; docs/graph.md §1).
pub(crate) async fn eligibility_request(w: Writing, body: Body) -> GraphResult<Response> {
    w.caller.require(&[
        "RoleEligibilitySchedule.ReadWrite.Directory",
        "RoleManagement.ReadWrite.Directory",
    ])?;
    let obj = object_body(body)?;
    let now = w.now;
    let mut t = w.tenant.write();
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
    if !t.contains(Collection::RoleDefinitions, definition) {
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
        "approvalId": null, "createdBy": {"application": {"id": w.caller.client_id, "displayName": null}, "user": null},
        "scheduleInfo": obj.get("scheduleInfo"), "ticketInfo": {"ticketNumber": null, "ticketSystem": null},
    });
    Ok(json_response(StatusCode::CREATED, request))
}
