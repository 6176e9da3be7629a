//! Links: members, owners and other `$ref` relationships, managers, app role assignments.

use super::*;

pub(super) fn link_write_permission(rel: LinkKind) -> &'static [&'static str] {
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

pub(super) fn link_property(rel: LinkKind) -> &'static str {
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
    w: Writing,
    Path(id): Path<String>,
    body: Body,
) -> GraphResult<Response> {
    w.caller.require(link_write_permission(rel))?;
    let target = reference(body)?;
    let mut t = w.tenant.write();
    if !t.contains(source, &id) {
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
    w: Writing,
    Path((id, member)): Path<(String, String)>,
) -> GraphResult<Response> {
    w.caller.require(link_write_permission(rel))?;
    let mut t = w.tenant.write();
    if !t.contains(source, &id) {
        return Err(GraphError::not_found(&id));
    }
    if !t.remove_link(rel, &id, &member) {
        return Err(GraphError::not_found(&member));
    }
    Ok(no_content())
}

/// `PUT /users/{id}/manager/$ref`
pub(crate) async fn set_manager(
    w: Writing,
    Path(id): Path<String>,
    body: Body,
) -> GraphResult<Response> {
    w.caller.require(&["User.ReadWrite.All"])?;
    let manager = reference(body)?;
    let mut t = w.tenant.write();
    let user = user_id(&t, &id)?;
    if !t.contains(Collection::Users, &manager) {
        return Err(GraphError::not_found(&manager));
    }
    t.add_link(LinkKind::UserManager, &user, &manager)?;
    Ok(no_content())
}

/// `DELETE /users/{id}/manager/$ref`
pub(crate) async fn remove_manager(w: Writing, Path(id): Path<String>) -> GraphResult<Response> {
    w.caller.require(&["User.ReadWrite.All"])?;
    let mut t = w.tenant.write();
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
    w: Writing,
    Path(id): Path<String>,
    body: Body,
) -> GraphResult<Response> {
    w.caller.require(&["AppRoleAssignment.ReadWrite.All"])?;
    let obj = object_body(body)?;
    let now = w.now;
    let mut t = w.tenant.write();
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
        w.caller.audit_initiator(),
        now,
    )?;
    Ok(json_response(
        StatusCode::CREATED,
        Value::Object(assignment),
    ))
}

/// `DELETE /servicePrincipals/{id}/appRoleAssignedTo/{assignment}`
pub(crate) async fn delete_app_role_assignment(
    w: Writing,
    Path((id, assignment)): Path<(String, String)>,
) -> GraphResult<Response> {
    w.caller.require(&["AppRoleAssignment.ReadWrite.All"])?;
    let now = w.now;
    let mut t = w.tenant.write();
    t.unassign_app_role(&id, &assignment, w.caller.audit_initiator(), now)?;
    Ok(no_content())
}
