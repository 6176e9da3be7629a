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

impl RelationshipKind {
    /// Every kind, in their order (relationships sort by kind first).
    pub const ALL: [RelationshipKind; 14] = [
        RelationshipKind::GroupMember,
        RelationshipKind::GroupOwner,
        RelationshipKind::DirectoryRoleMember,
        RelationshipKind::AdministrativeUnitMember,
        RelationshipKind::ScopedRoleMember,
        RelationshipKind::DeviceRegisteredOwner,
        RelationshipKind::DeviceRegisteredUser,
        RelationshipKind::UserManager,
        RelationshipKind::ApplicationOwner,
        RelationshipKind::ServicePrincipalOwner,
        RelationshipKind::RoleAssignment,
        RelationshipKind::RoleEligibility,
        RelationshipKind::AppRoleAssignment,
        RelationshipKind::Oauth2PermissionGrant,
    ];
}

/// One relationship between directory objects.
///
/// `source` is the object the relationship is listed under (the group, role, unit, device,
/// user whose manager it is, role definition, resource service principal, client); `target`
/// is the member, owner, manager or principal.
///
/// Plain links (most of a tenant's relationships: a million memberships at 100k users) carry
/// nothing else and take no more than their two ids; relationships that are objects carry
/// [`RelationshipDetails`] behind one pointer. The JSON form is flat either way:
/// `{"kind", "source", "target", "id"?, "directoryScopeId"?, …}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(from = "Wire")]
pub struct Relationship {
    /// What kind of relationship.
    pub kind: RelationshipKind,
    /// The object it is listed under.
    pub source: ObjectId,
    /// The member / owner / manager / principal.
    pub target: ObjectId,
    /// What a relationship that is an object carries; `None` for plain links (and never
    /// `Some` of all-empty details, so that equal relationships compare equal).
    details: Option<Box<RelationshipDetails>>,
}

/// What a relationship that is an object (a role assignment or eligibility, an app role
/// assignment, an OAuth2 grant, a scoped role membership) carries besides its two ends.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelationshipDetails {
    /// The relationship's own object id.
    pub id: Option<ObjectId>,
    /// Where a role assignment or eligibility applies: `/` or `/administrativeUnits/{id}`.
    pub directory_scope_id: Option<String>,
    /// The app role granted (app role assignments).
    pub app_role_id: Option<String>,
    /// The administrative unit of a scoped role membership.
    pub administrative_unit_id: Option<ObjectId>,
    /// OAuth2 grants: `AllPrincipals` or `Principal`.
    pub consent_type: Option<String>,
    /// OAuth2 grants: the resource service principal.
    pub resource: Option<ObjectId>,
    /// OAuth2 grants: the space-separated delegated scopes.
    pub scope: Option<String>,
}

impl RelationshipDetails {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The flat JSON form, read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    kind: RelationshipKind,
    source: ObjectId,
    target: ObjectId,
    #[serde(default)]
    id: Option<ObjectId>,
    #[serde(default)]
    directory_scope_id: Option<String>,
    #[serde(default)]
    app_role_id: Option<String>,
    #[serde(default)]
    administrative_unit_id: Option<ObjectId>,
    #[serde(default)]
    consent_type: Option<String>,
    #[serde(default)]
    resource: Option<ObjectId>,
    #[serde(default)]
    scope: Option<String>,
}

impl From<Wire> for Relationship {
    fn from(w: Wire) -> Self {
        Self::with_details(
            w.kind,
            w.source,
            w.target,
            RelationshipDetails {
                id: w.id,
                directory_scope_id: w.directory_scope_id,
                app_role_id: w.app_role_id,
                administrative_unit_id: w.administrative_unit_id,
                consent_type: w.consent_type,
                resource: w.resource,
                scope: w.scope,
            },
        )
    }
}

/// The flat JSON form, written (borrowing: serializing allocates nothing).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireRef<'a> {
    kind: RelationshipKind,
    source: &'a ObjectId,
    target: &'a ObjectId,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a ObjectId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    directory_scope_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_role_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    administrative_unit_id: Option<&'a ObjectId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consent_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<&'a ObjectId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

impl Serialize for Relationship {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireRef {
            kind: self.kind,
            source: &self.source,
            target: &self.target,
            id: self.id(),
            directory_scope_id: self.directory_scope_id(),
            app_role_id: self.app_role_id(),
            administrative_unit_id: self.administrative_unit_id(),
            consent_type: self.consent_type(),
            resource: self.resource(),
            scope: self.scope(),
        }
        .serialize(serializer)
    }
}

impl Relationship {
    /// A plain link (member, owner, manager, registered owner/user): `source` → `target`.
    pub fn link(kind: RelationshipKind, source: ObjectId, target: ObjectId) -> Self {
        Self {
            kind,
            source,
            target,
            details: None,
        }
    }

    /// Whether this is a plain link (no details).
    pub fn is_plain(&self) -> bool {
        self.details.is_none()
    }

    /// A relationship with details (empty details make a plain link).
    pub fn with_details(
        kind: RelationshipKind,
        source: ObjectId,
        target: ObjectId,
        details: RelationshipDetails,
    ) -> Self {
        Self {
            kind,
            source,
            target,
            details: (!details.is_empty()).then(|| Box::new(details)),
        }
    }

    /// The details (empty for a plain link).
    pub fn details(&self) -> RelationshipDetails {
        self.details.as_deref().cloned().unwrap_or_default()
    }

    /// The relationship's own object id (relationships that are objects).
    pub fn id(&self) -> Option<&ObjectId> {
        self.details.as_ref()?.id.as_ref()
    }

    /// Where a role assignment or eligibility applies: `/` or `/administrativeUnits/{id}`.
    pub fn directory_scope_id(&self) -> Option<&str> {
        self.details.as_ref()?.directory_scope_id.as_deref()
    }

    /// The app role granted (app role assignments).
    pub fn app_role_id(&self) -> Option<&str> {
        self.details.as_ref()?.app_role_id.as_deref()
    }

    /// The administrative unit of a scoped role membership.
    pub fn administrative_unit_id(&self) -> Option<&ObjectId> {
        self.details.as_ref()?.administrative_unit_id.as_ref()
    }

    /// OAuth2 grants: `AllPrincipals` or `Principal`.
    pub fn consent_type(&self) -> Option<&str> {
        self.details.as_ref()?.consent_type.as_deref()
    }

    /// OAuth2 grants: the resource service principal.
    pub fn resource(&self) -> Option<&ObjectId> {
        self.details.as_ref()?.resource.as_ref()
    }

    /// OAuth2 grants: the space-separated delegated scopes.
    pub fn scope(&self) -> Option<&str> {
        self.details.as_ref()?.scope.as_deref()
    }

    /// The kind of relationship that each object of `kind` stands for (role assignments,
    /// eligibility schedules, app role assignments, OAuth2 grants), `None` for kinds whose
    /// objects are not relationships. A snapshot that keeps such a kind's objects must keep
    /// these links with them: they are derived from the objects, not listed on their own.
    pub fn derived_from(kind: ObjectKind) -> Option<RelationshipKind> {
        match kind {
            ObjectKind::RoleAssignments => Some(RelationshipKind::RoleAssignment),
            ObjectKind::RoleEligibilitySchedules => Some(RelationshipKind::RoleEligibility),
            ObjectKind::AppRoleAssignments => Some(RelationshipKind::AppRoleAssignment),
            ObjectKind::Oauth2PermissionGrants => Some(RelationshipKind::Oauth2PermissionGrant),
            _ => None,
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
        let Some(derived) = Self::derived_from(object.kind()) else {
            return Ok(None);
        };
        let rel = match object.kind() {
            ObjectKind::RoleAssignments | ObjectKind::RoleEligibilitySchedules => {
                Self::with_details(
                    derived,
                    need("roleDefinitionId")?,
                    need("principalId")?,
                    RelationshipDetails {
                        id: own_id,
                        directory_scope_id: Some(
                            object.str("directoryScopeId").unwrap_or("/").to_owned(),
                        ),
                        ..RelationshipDetails::default()
                    },
                )
            }
            ObjectKind::AppRoleAssignments => Self::with_details(
                derived,
                need("resourceId")?,
                need("principalId")?,
                RelationshipDetails {
                    id: own_id,
                    app_role_id: Some(need("appRoleId")?.into_string()),
                    ..RelationshipDetails::default()
                },
            ),
            ObjectKind::Oauth2PermissionGrants => {
                // consentType AllPrincipals has no principal: the grant is tenant-wide, and its
                // target is the client itself.
                let client = need("clientId")?;
                let target = match object.str("principalId") {
                    Some(p) => ObjectId::new(p)?,
                    None => client.clone(),
                };
                Self::with_details(
                    derived,
                    client,
                    target,
                    RelationshipDetails {
                        id: own_id,
                        consent_type: object.str("consentType").map(str::to_owned),
                        resource: Some(need("resourceId")?),
                        scope: object.str("scope").map(str::to_owned),
                        ..RelationshipDetails::default()
                    },
                )
            }
            _ => return Ok(None),
        };
        Ok(Some(rel))
    }

    /// Every object id this relationship refers to (for reference remapping on restore).
    pub fn referenced_ids(&self) -> Vec<&ObjectId> {
        let mut ids = vec![&self.source, &self.target];
        ids.extend(self.administrative_unit_id());
        ids.extend(self.resource());
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
    fn all_kinds_are_listed_in_their_order() {
        let mut sorted = RelationshipKind::ALL;
        sorted.sort();
        assert_eq!(sorted, RelationshipKind::ALL);
        let unique: std::collections::BTreeSet<_> = RelationshipKind::ALL.into_iter().collect();
        assert_eq!(unique.len(), RelationshipKind::ALL.len());
    }

    #[test]
    fn json_is_flat_and_round_trips_with_or_without_details() {
        let id = |s: &str| s.parse::<ObjectId>().unwrap();
        let link = Relationship::link(RelationshipKind::GroupMember, id("g1"), id("u1"));
        let text = serde_json::to_string(&link).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"groupMember","source":"g1","target":"u1"}"#
        );
        assert_eq!(serde_json::from_str::<Relationship>(&text).unwrap(), link);
        let grant = Relationship::with_details(
            RelationshipKind::Oauth2PermissionGrant,
            id("c1"),
            id("c1"),
            RelationshipDetails {
                id: Some(id("g1")),
                consent_type: Some("AllPrincipals".into()),
                resource: Some(id("r1")),
                scope: Some("User.Read".into()),
                ..RelationshipDetails::default()
            },
        );
        let text = serde_json::to_string(&grant).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"oauth2PermissionGrant","source":"c1","target":"c1","id":"g1","consentType":"AllPrincipals","resource":"r1","scope":"User.Read"}"#
        );
        assert_eq!(serde_json::from_str::<Relationship>(&text).unwrap(), grant);
        // Empty details are a plain link: equal, same order, same JSON.
        let empty = Relationship::with_details(
            RelationshipKind::GroupMember,
            id("g1"),
            id("u1"),
            RelationshipDetails::default(),
        );
        assert_eq!(empty, link);
        assert!(link < grant);
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
