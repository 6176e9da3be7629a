//! App role assignments of a resource service principal to users, groups and service
//! principals, each audited.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Obj, Tenant};
use crate::clock::graph_time;
use crate::error::{GraphError, GraphResult};
use crate::kinds::Collection;

impl Tenant {
    /// Assigns an app role of `resource` (a service principal) to a user, group or service
    /// principal, and audits it (Graph: `POST /servicePrincipals/{id}/appRoleAssignedTo`).
    ///
    /// # Errors
    /// 404 when either end does not exist; 400 for an unknown role or an existing assignment.
    pub fn assign_app_role(
        &mut self,
        principal: &str,
        resource: &str,
        role: &str,
        id: String,
        initiated_by: Value,
        now: DateTime<Utc>,
    ) -> GraphResult<Obj> {
        let resource_sp = self
            .get(Collection::ServicePrincipals, resource)
            .ok_or_else(|| GraphError::not_found(resource))?;
        let principal_kind = self
            .kind_of(principal)
            .ok_or_else(|| GraphError::not_found(principal))?;
        let default_role = "00000000-0000-0000-0000-000000000000";
        let role_exists = role == default_role
            || resource_sp
                .get("appRoles")
                .and_then(Value::as_array)
                .is_some_and(|r| {
                    r.iter()
                        .any(|x| x.get("id").and_then(Value::as_str) == Some(role))
                });
        if !role_exists {
            return Err(GraphError::bad_request(
                "Permission being assigned was not found on application.",
            )
            .with_detail("InvalidValue", "Unknown appRoleId", "appRoleId"));
        }
        let duplicate = self.has_object_with(
            Collection::AppRoleAssignments,
            &[
                ("principalId", principal),
                ("resourceId", resource),
                ("appRoleId", role),
            ],
        );
        if duplicate {
            return Err(GraphError::bad_request(
                "Permission being assigned already exists on the object.",
            )
            .with_detail(
                "ObjectConflict",
                "Permission being assigned already exists on the object.",
                "appRoleId",
            ));
        }
        let principal_name = self
            .get(principal_kind, principal)
            .and_then(|mut o| o.remove("displayName"))
            .unwrap_or(Value::Null);
        let principal_type = principal_type(principal_kind);
        let assignment = serde_json::json!({
            "id": id, "deletedDateTime": null, "appRoleId": role, "createdDateTime": graph_time(now),
            "principalDisplayName": principal_name, "principalId": principal, "principalType": principal_type,
            "resourceDisplayName": resource_sp.get("displayName"), "resourceId": resource,
        });
        let assignment = assignment.as_object().cloned().unwrap_or_default();
        self.insert(Collection::AppRoleAssignments, assignment.clone())?;
        self.audit_app_role(&assignment, true, initiated_by, now);
        Ok(assignment)
    }

    /// Removes an app role assignment of `resource` and audits it (Graph:
    /// `DELETE /servicePrincipals/{id}/appRoleAssignedTo/{assignment}`).
    ///
    /// # Errors
    /// 404 when `resource` has no such assignment.
    pub fn unassign_app_role(
        &mut self,
        resource: &str,
        assignment: &str,
        initiated_by: Value,
        now: DateTime<Utc>,
    ) -> GraphResult<()> {
        let found = self
            .get(Collection::AppRoleAssignments, assignment)
            .filter(|a| a.get("resourceId").and_then(Value::as_str) == Some(resource))
            .ok_or_else(|| GraphError::not_found(assignment))?;
        self.delete(Collection::AppRoleAssignments, assignment, now)?;
        self.audit_app_role(&found, false, initiated_by, now);
        Ok(())
    }

    /// The audit event of an app role assignment made or removed: the activity depends on the
    /// principal's type; the targets are the resource service principal and the principal.
    fn audit_app_role(&mut self, assignment: &Obj, added: bool, by: Value, now: DateTime<Utc>) {
        let text = |p: &str| {
            assignment
                .get(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let principal_type = text("principalType");
        let (category, to) = match principal_type.as_str() {
            "User" => ("UserManagement", "user"),
            "Group" => ("GroupManagement", "group"),
            _ => ("ApplicationManagement", "service principal"),
        };
        let activity = match (added, principal_type.as_str()) {
            (true, "User") => "Add app role assignment grant to user".to_owned(),
            (true, _) => format!("Add app role assignment to {to}"),
            (false, _) => format!("Remove app role assignment from {to}"),
        };
        let (resource, principal) = (text("resourceId"), text("principalId"));
        let resource_name = assignment
            .get("resourceDisplayName")
            .cloned()
            .unwrap_or(Value::Null);
        let principal_name = assignment
            .get("principalDisplayName")
            .cloned()
            .unwrap_or(Value::Null);
        self.audit(
            category,
            &activity,
            if added { "Assign" } else { "Unassign" },
            by,
            &[
                (&resource, resource_name, "ServicePrincipal"),
                (&principal, principal_name, &principal_type),
            ],
            now,
        );
    }
}

/// The `principalType` of an app role assignment to an object of `kind`.
pub fn principal_type(kind: Collection) -> &'static str {
    match kind {
        Collection::Users => "User",
        Collection::Groups => "Group",
        _ => "ServicePrincipal",
    }
}
