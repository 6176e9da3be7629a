//! Directory role assignments, PIM eligibilities and directory role members.

use super::*;

impl Planner<'_> {
    /// The role definition id to use in the target.
    pub(super) fn role_definition(&self, id: &ObjectId) -> Option<Target> {
        match self.backup.object(id) {
            Some(def) if def.get("isBuiltIn") == Some(&Value::Bool(false)) => self.target(id),
            // Built-in roles: the id is the template id, the same in every tenant.
            _ => Some((id.to_string(), None)),
        }
    }

    pub(super) fn scope(&self, scope: Option<&str>) -> Option<Target> {
        let scope = scope.unwrap_or("/");
        match scope.strip_prefix("/administrativeUnits/") {
            Some(au) => {
                let (id, step) = self.target(&ObjectId::new(au).ok()?)?;
                Some((format!("/administrativeUnits/{id}"), step))
            }
            None => Some((scope.to_owned(), None)),
        }
    }

    pub(super) fn assignment_exists(&self, kind: RelationshipKind, want: &Relationship) -> bool {
        self.current.assignments.iter().any(|a| {
            a.kind == kind
                && a.source == want.source
                && a.target == want.target
                && match kind {
                    RelationshipKind::RoleAssignment | RelationshipKind::RoleEligibility => {
                        a.directory_scope_id().unwrap_or("/")
                            == want.directory_scope_id().unwrap_or("/")
                    }
                    RelationshipKind::AppRoleAssignment => a.app_role_id() == want.app_role_id(),
                    RelationshipKind::Oauth2PermissionGrant => {
                        a.resource() == want.resource() && a.consent_type() == want.consent_type()
                    }
                    _ => true,
                }
        })
    }

    pub(super) fn roles(&mut self) {
        let relationships: Vec<Relationship> = self
            .backup
            .relationships
            .iter()
            .filter(|r| !is_membership(r.kind))
            .cloned()
            .collect();
        let mut wanted_ids = Vec::new();
        for r in &relationships {
            let about = [&r.target, &r.source]
                .into_iter()
                .find(|id| self.selected.contains(id))
                .and_then(|id| self.backup.object(id))
                .map(object_ref)
                .unwrap_or(ObjectRef {
                    kind: ObjectKind::DirectoryRoles,
                    id: r.source.clone(),
                    name: None,
                });
            let resolved = match r.kind {
                RelationshipKind::RoleAssignment | RelationshipKind::RoleEligibility => self
                    .target(&r.target)
                    .zip(self.role_definition(&r.source))
                    .zip(self.scope(r.directory_scope_id()))
                    .map(|((p, d), s)| (p, d, s)),
                RelationshipKind::AppRoleAssignment | RelationshipKind::Oauth2PermissionGrant => {
                    let resource = match r.kind {
                        RelationshipKind::AppRoleAssignment => Some(r.source.clone()),
                        _ => r.resource().cloned(),
                    };
                    self.target(&r.target)
                        .zip(self.target(&r.source))
                        .zip(resource.and_then(|res| self.target(&res)))
                        .map(|((p, s), res)| (p, s, res))
                }
                RelationshipKind::DirectoryRoleMember => {
                    self.directory_role_member(r, about);
                    continue;
                }
                _ => continue, // Scoped role members are AU-scoped role assignments.
            };
            let Some((a, b, c)) = resolved else {
                if let Some(missing) = r
                    .referenced_ids()
                    .into_iter()
                    .find(|id| self.target(id).is_none())
                {
                    self.unreachable(about, r.kind, missing);
                }
                continue;
            };
            let deps: Vec<u32> = [a.1, b.1, c.1].into_iter().flatten().collect();
            let (url, body, want) = match r.kind {
                RelationshipKind::RoleAssignment | RelationshipKind::RoleEligibility => {
                    let want = Relationship::with_details(
                        r.kind,
                        id_of(&b.0),
                        id_of(&a.0),
                        RelationshipDetails {
                            directory_scope_id: Some(c.0.clone()),
                            ..RelationshipDetails::default()
                        },
                    );
                    let mut body = json!({"principalId": a.0, "roleDefinitionId": b.0, "directoryScopeId": c.0});
                    let url = if r.kind == RelationshipKind::RoleAssignment {
                        "/roleManagement/directory/roleAssignments".to_owned()
                    } else {
                        body["action"] = json!("adminAssign");
                        body["justification"] = json!("Restored by dirvault");
                        body["scheduleInfo"] = json!({"startDateTime": self.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "expiration": {"type": "noExpiration"}});
                        "/roleManagement/directory/roleEligibilityScheduleRequests".to_owned()
                    };
                    (url, body, want)
                }
                RelationshipKind::AppRoleAssignment => {
                    let want = Relationship::with_details(
                        r.kind,
                        id_of(&b.0),
                        id_of(&a.0),
                        RelationshipDetails {
                            app_role_id: r.app_role_id().map(str::to_owned),
                            ..RelationshipDetails::default()
                        },
                    );
                    let body = json!({"principalId": a.0, "resourceId": c.0, "appRoleId": r.app_role_id()});
                    (
                        format!("/servicePrincipals/{}/appRoleAssignedTo", c.0),
                        body,
                        want,
                    )
                }
                _ => {
                    let want = Relationship::with_details(
                        r.kind,
                        id_of(&b.0),
                        id_of(&a.0),
                        RelationshipDetails {
                            resource: Some(id_of(&c.0)),
                            consent_type: r.consent_type().map(str::to_owned),
                            ..RelationshipDetails::default()
                        },
                    );
                    let mut body = json!({"clientId": b.0, "consentType": r.consent_type(), "resourceId": c.0, "scope": r.scope()});
                    if r.consent_type() == Some("Principal") {
                        body["principalId"] = json!(a.0);
                    }
                    ("/oauth2PermissionGrants".to_owned(), body, want)
                }
            };
            wanted_ids.push(want.clone());
            if deps.is_empty() && self.assignment_exists(r.kind, &want) {
                continue;
            }
            let why = match r.kind {
                RelationshipKind::RoleAssignment => {
                    format!(
                        "role {} at scope {} as of the snapshot",
                        self.role_name(&r.source),
                        c.0
                    )
                }
                RelationshipKind::RoleEligibility => format!(
                    "PIM eligibility for role {} at scope {} as of the snapshot (no expiration)",
                    self.role_name(&r.source),
                    c.0
                ),
                RelationshipKind::AppRoleAssignment => {
                    "app role assignment as of the snapshot".to_owned()
                }
                _ => format!(
                    "delegated permission grant ({}) as of the snapshot",
                    r.scope().unwrap_or("").trim()
                ),
            };
            self.push(
                Phase::Roles,
                Action::Assign,
                about,
                Call {
                    method: "POST".into(),
                    url,
                    body: Some(body),
                },
                why,
                deps,
                None,
            );
        }
        if self.options.rollback_relationships {
            self.rollback_role_assignments(&wanted_ids);
        }
    }

    pub(super) fn role_name(&self, id: &ObjectId) -> String {
        self.backup
            .object(id)
            .and_then(|d| d.display_name())
            .map(|n| format!("{n:?}"))
            .unwrap_or_else(|| id.to_string())
    }

    /// A member of an activated directory role that no role assignment in the snapshot
    /// covers: activate the role first if the target has not, then add the member.
    pub(super) fn directory_role_member(&mut self, r: &Relationship, about: ObjectRef) {
        let Some(template) = self
            .backup
            .object(&r.source)
            .and_then(|role| role.str("roleTemplateId"))
            .map(str::to_owned)
        else {
            return;
        };
        let covered = self.backup.relationships.iter().any(|a| {
            a.kind == RelationshipKind::RoleAssignment
                && a.target == r.target
                && a.source.as_str() == template
                && a.directory_scope_id().unwrap_or("/") == "/"
        });
        if covered {
            return;
        }
        let Some(member) = self.target(&r.target) else {
            return;
        };
        let mut deps: Vec<u32> = member.1.into_iter().collect();
        let role = match self.current.activated_roles.get(&template) {
            Some(id) => id.clone(),
            None => {
                let step = self.push(
                    Phase::Roles,
                    Action::ActivateRole,
                    ObjectRef {
                        kind: ObjectKind::DirectoryRoles,
                        id: r.source.clone(),
                        name: Some(self.role_name(&r.source)),
                    },
                    Call {
                        method: "POST".into(),
                        url: "/directoryRoles".into(),
                        body: Some(json!({"roleTemplateId": template})),
                    },
                    "built-in role not activated in the target: activate it first",
                    Vec::new(),
                    Some(format!("/directoryRoles(roleTemplateId='{template}')")),
                );
                self.id_map
                    .insert(r.source.clone(), Mapping::Created { step });
                deps.push(step);
                new_id(&r.source)
            }
        };
        self.push(
            Phase::Roles,
            Action::AddLink,
            about,
            Call {
                method: "POST".into(),
                url: format!("/directoryRoles/{role}/members/$ref"),
                body: Some(
                    json!({"@odata.id": format!("{GRAPH_ROOT}/directoryObjects/{}", member.0)}),
                ),
            },
            format!(
                "member of directory role {} as of the snapshot",
                self.role_name(&r.source)
            ),
            deps,
            None,
        );
    }

    pub(super) fn rollback_role_assignments(&mut self, wanted: &[Relationship]) {
        let selected: BTreeMap<&ObjectId, ObjectRef> = self
            .backup
            .selected
            .iter()
            .filter_map(|id| {
                Some((
                    self.current.target_id(id)?,
                    object_ref(self.backup.object(id)?),
                ))
            })
            .collect();
        let extra: Vec<(ObjectRef, Relationship)> = self
            .current
            .assignments
            .iter()
            .filter(|a| a.kind == RelationshipKind::RoleAssignment)
            .filter_map(|a| Some((selected.get(&a.target)?.clone(), a.clone())))
            .filter(|(_, a)| {
                !wanted.iter().any(|w| {
                    w.kind == a.kind
                        && w.source == a.source
                        && w.target == a.target
                        && w.directory_scope_id().unwrap_or("/")
                            == a.directory_scope_id().unwrap_or("/")
                })
            })
            .collect();
        for (about, a) in extra {
            let Some(id) = a.id() else { continue };
            self.push(
                Phase::Roles,
                Action::Unassign,
                about,
                Call {
                    method: "DELETE".into(),
                    url: format!("/roleManagement/directory/roleAssignments/{id}"),
                    body: None,
                },
                format!(
                    "role {} at scope {} is not in the snapshot (rollback)",
                    self.role_name(&a.source),
                    a.directory_scope_id().unwrap_or("/")
                ),
                Vec::new(),
                None,
            );
        }
    }

    // ----- authentication methods --------------------------------------------------------
}
