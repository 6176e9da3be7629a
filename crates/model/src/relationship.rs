//! Relationships between directory objects, as first-class values.
//!
//! Some relationships are links Graph lists under an object (`/groups/{id}/members`); others
//! are objects in their own right (role assignments, app role assignments, OAuth2 grants,
//! scoped role memberships) and are derived from those objects with
//! [`Relationship::from_object`]. Either way a backup stores them as edges so that a restore
//! can re-create them, remapping ids when an end was re-created.

use serde::{Deserialize, Serialize};

use crate::{DirectoryObject, Error, ObjectId, ObjectKind};

/// The kinds of relationship dirvault backs up and restores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum RelationshipKind {
    /// `/groups/{id}/members`
    GroupMember,
    /// `/groups/{id}/owners`
    GroupOwner,
    /// `/directoryRoles/{id}/members`
    DirectoryRoleMember,
    /// `/directory/administrativeUnits/{id}/members`
    AdministrativeUnitMember,
    /// `/directory/administrativeUnits/{id}/scopedRoleMembers`
    ScopedRoleMember,
    /// `/devices/{id}/registeredOwners`
    DeviceRegisteredOwner,
    /// `/devices/{id}/registeredUsers`
    DeviceRegisteredUser,
    /// `/users/{id}/manager`
    UserManager,
    /// `/applications/{id}/owners`
    ApplicationOwner,
    /// `/servicePrincipals/{id}/owners`
    ServicePrincipalOwner,
    /// A `unifiedRoleAssignment`.
    RoleAssignment,
    /// A `unifiedRoleEligibilitySchedule` (PIM).
    RoleEligibility,
    /// An `appRoleAssignment`.
    AppRoleAssignment,
    /// An `oAuth2PermissionGrant`.
    Oauth2PermissionGrant,
}

/// One relationship between directory objects.
///
/// `source` is the object the relationship is listed under (the group, role, unit, device,
/// user whose manager it is, role definition, resource service principal, client); `target`
/// is the member, owner, manager or principal.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    /// What kind of relationship.
    pub kind: RelationshipKind,
    /// The object it is listed under.
    pub source: ObjectId,
    /// The member / owner / manager / principal.
    pub target: ObjectId,
    /// The relationship's own object id, for relationships that are objects (role
    /// assignments, app role assignments, grants, scoped role memberships).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ObjectId>,
    /// Where a role assignment or eligibility applies: `/` or `/administrativeUnits/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_scope_id: Option<String>,
    /// The app role granted (app role assignments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_role_id: Option<String>,
    /// The administrative unit of a scoped role membership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administrative_unit_id: Option<ObjectId>,
    /// OAuth2 grants: `AllPrincipals` or `Principal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_type: Option<String>,
    /// OAuth2 grants: the resource service principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ObjectId>,
    /// OAuth2 grants: the space-separated delegated scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl Relationship {
    /// A plain link (member, owner, manager, registered owner/user): `source` → `target`.
    pub fn link(kind: RelationshipKind, source: ObjectId, target: ObjectId) -> Self {
        Self {
            kind,
            source,
            target,
            id: None,
            directory_scope_id: None,
            app_role_id: None,
            administrative_unit_id: None,
            consent_type: None,
            resource: None,
            scope: None,
        }
    }

    /// The relationship an object of a relationship kind stands for: role assignments,
    /// eligibility schedules, app role assignments and OAuth2 grants. `Ok(None)` for kinds
    /// that are not relationships.
    ///
    /// # Errors
    /// [`Error::MissingProperty`] when a property the relationship needs is absent.
    pub fn from_object(object: &DirectoryObject) -> Result<Option<Self>, Error> {
        let need = |property: &'static str| -> Result<ObjectId, Error> {
            let value = object.str(property).ok_or(Error::MissingProperty {
                kind: object.kind(),
                id: object.id().clone(),
                property,
            })?;
            ObjectId::new(value)
        };
        let own_id = Some(object.id().clone());
        let rel = match object.kind() {
            ObjectKind::RoleAssignments | ObjectKind::RoleEligibilitySchedules => {
                let kind = if object.kind() == ObjectKind::RoleAssignments {
                    RelationshipKind::RoleAssignment
                } else {
                    RelationshipKind::RoleEligibility
                };
                Self {
                    id: own_id,
                    directory_scope_id: Some(
                        object.str("directoryScopeId").unwrap_or("/").to_owned(),
                    ),
                    ..Self::link(kind, need("roleDefinitionId")?, need("principalId")?)
                }
            }
            ObjectKind::AppRoleAssignments => Self {
                id: own_id,
                app_role_id: Some(need("appRoleId")?.into_string()),
                ..Self::link(
                    RelationshipKind::AppRoleAssignment,
                    need("resourceId")?,
                    need("principalId")?,
                )
            },
            ObjectKind::Oauth2PermissionGrants => {
                // consentType AllPrincipals has no principal: the grant is tenant-wide, and its
                // target is the client itself.
                let client = need("clientId")?;
                let target = match object.str("principalId") {
                    Some(p) => ObjectId::new(p)?,
                    None => client.clone(),
                };
                Self {
                    id: own_id,
                    consent_type: object.str("consentType").map(str::to_owned),
                    resource: Some(need("resourceId")?),
                    scope: object.str("scope").map(str::to_owned),
                    ..Self::link(RelationshipKind::Oauth2PermissionGrant, client, target)
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(rel))
    }

    /// Every object id this relationship refers to (for reference remapping on restore).
    pub fn referenced_ids(&self) -> Vec<&ObjectId> {
        let mut ids = vec![&self.source, &self.target];
        ids.extend(self.administrative_unit_id.as_ref());
        ids.extend(self.resource.as_ref());
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn role_assignment_object_becomes_a_scoped_relationship() {
        let obj = DirectoryObject::from_graph(
            ObjectKind::RoleAssignments,
            json!({
                "id": "lAPpYvVpN0KRkAEhdxReEJC2sEqbR_9Hr48lds9SGHI-1",
                "principalId": "6e7b768e-07e2-4810-8459-485f84f8f204",
                "roleDefinitionId": "fe930be7-5e62-47db-91af-98c3a49a38b1",
                "directoryScopeId": "/administrativeUnits/5d107bba-d8e2-4e13-b6ae-884be90e5d1a"
            }),
        )
        .unwrap();
        let rel = Relationship::from_object(&obj).unwrap().unwrap();
        insta::assert_json_snapshot!(rel);
    }

    #[test]
    fn tenant_wide_oauth2_grant_targets_the_client() {
        let obj = DirectoryObject::from_graph(
            ObjectKind::Oauth2PermissionGrants,
            json!({"id": "g1", "clientId": "c1", "consentType": "AllPrincipals",
                   "principalId": null, "resourceId": "r1", "scope": "User.Read"}),
        )
        .unwrap();
        let rel = Relationship::from_object(&obj).unwrap().unwrap();
        assert_eq!(rel.target.as_str(), "c1");
        assert_eq!(
            rel.referenced_ids()
                .iter()
                .map(|i| i.as_str())
                .collect::<Vec<_>>(),
            ["c1", "c1", "r1"]
        );
    }

    #[test]
    fn app_role_assignment_without_role_id_is_an_error_naming_the_object() {
        let obj = DirectoryObject::from_graph(
            ObjectKind::AppRoleAssignments,
            json!({"id": "a1", "principalId": "p", "resourceId": "r"}),
        )
        .unwrap();
        let err = Relationship::from_object(&obj).unwrap_err();
        assert_eq!(
            err.to_string(),
            "appRoleAssignments object a1 has no \"appRoleId\" property"
        );
    }

    #[test]
    fn plain_objects_are_not_relationships() {
        let obj = DirectoryObject::from_graph(ObjectKind::Users, json!({"id": "u1"})).unwrap();
        assert!(Relationship::from_object(&obj).unwrap().is_none());
    }

    #[test]
    fn link_serialized_form_is_pinned() {
        let rel = Relationship::link(
            RelationshipKind::GroupMember,
            ObjectId::new("g").unwrap(),
            ObjectId::new("u").unwrap(),
        );
        insta::assert_json_snapshot!(rel, @r#"
        {
          "kind": "groupMember",
          "source": "g",
          "target": "u"
        }
        "#);
    }
}
