//! Administrative units, directory roles and their assignments (and PIM eligibilities),
//! Conditional Access, and the sign-in and audit logs.

use super::*;

pub(super) fn administrative_units(
    g: &mut Gen,
    t: &mut Tenant,
    spec: &TenantSpec,
    users: &[String],
    groups: &[String],
) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..spec.administrative_units {
        let id = g.uuid();
        let (city, _, _) = *g.pick(CITIES);
        t.insert_initial(
            Collection::AdministrativeUnits,
            obj(json!({
                "id": id,
                "deletedDateTime": null,
                "description": format!("Users in {city}"),
                "displayName": format!("{city} office {i}"),
                "isMemberManagementRestricted": null,
                "membershipRule": null,
                "membershipRuleProcessingState": null,
                "membershipType": null,
                "visibility": if g.chance(0.1) { json!("HiddenMembership") } else { Value::Null },
            })),
        );
        for _ in 0..(users.len() / spec.administrative_units.max(1)).min(200) {
            let u = g.pick(users).clone();
            t.add_link_initial(LinkKind::AdministrativeUnitMember, &id, &u);
        }
        if let Some(group) = groups.choose(&mut g.rng) {
            t.add_link_initial(LinkKind::AdministrativeUnitMember, &id, group);
        }
        ids.push(id);
    }
    ids
}

pub(super) fn roles(
    g: &mut Gen,
    t: &mut Tenant,
    spec: &TenantSpec,
    users: &[String],
    groups: &[String],
    sps: &[String],
    aus: &[String],
) {
    for (template, name) in BUILT_IN_ROLES {
        t.insert_initial(
            Collection::DirectoryRoleTemplates,
            obj(json!({"id": template, "deletedDateTime": null, "description": format!("Can manage {name} tasks."), "displayName": name})),
        );
        t.insert_initial(
            Collection::RoleDefinitions,
            obj(json!({
                "id": template, "description": format!("Can manage {name} tasks."), "displayName": name,
                "isBuiltIn": true, "isEnabled": true, "resourceScopes": ["/"], "templateId": template,
                "version": "1", "inheritsPermissionsFrom": [],
                "rolePermissions": [{"allowedResourceActions": ["microsoft.directory/users/standard/read"], "condition": null}],
            })),
        );
    }
    let mut definitions: Vec<String> = BUILT_IN_ROLES
        .iter()
        .map(|(id, _)| (*id).to_owned())
        .collect();
    for i in 0..spec.custom_roles {
        let id = g.uuid();
        t.insert_initial(
            Collection::RoleDefinitions,
            obj(json!({
                "id": id, "description": format!("Custom helpdesk role {i}"), "displayName": format!("Custom role {i}"),
                "isBuiltIn": false, "isEnabled": true, "resourceScopes": ["/"], "templateId": id, "version": null,
                "inheritsPermissionsFrom": [],
                "rolePermissions": [{"allowedResourceActions": ["microsoft.directory/users/basic/update", "microsoft.directory/groups/members/update"], "condition": null}],
            })),
        );
        definitions.push(id);
    }
    let assignable: Vec<String> = groups
        .iter()
        .filter(|gid| {
            t.get(Collection::Groups, gid)
                .is_some_and(|o| o.get("isAssignableToRole") == Some(&Value::Bool(true)))
        })
        .cloned()
        .collect();
    let mut activated: std::collections::BTreeMap<String, String> =
        std::collections::BTreeMap::new();
    let mut seen = BTreeSet::new();
    for i in 0..spec.role_assignments {
        let principal = match g.rng.random_range(0..20) {
            0 if !assignable.is_empty() => g.pick(&assignable).clone(),
            1 if !sps.is_empty() => g.pick(sps).clone(),
            _ if !users.is_empty() => g.pick(users).clone(),
            _ => continue,
        };
        // The first assignment makes the first user a Global Administrator.
        let definition = if i == 0 {
            definitions[0].clone()
        } else {
            g.pick(&definitions).clone()
        };
        // The second assignment is always scoped to an administrative unit.
        let scope = if !aus.is_empty() && (i == 1 || g.chance(0.1)) {
            format!("/administrativeUnits/{}", g.pick(aus))
        } else {
            "/".to_owned()
        };
        if !seen.insert((principal.clone(), definition.clone(), scope.clone())) {
            continue;
        }
        let id = base64_id(g).replace(['+', '/', '='], "");
        t.insert_initial(
            Collection::RoleAssignments,
            obj(json!({"id": id, "principalId": principal, "roleDefinitionId": definition, "directoryScopeId": scope, "appScopeId": null, "condition": null})),
        );
        let built_in = BUILT_IN_ROLES.iter().find(|(tid, _)| *tid == definition);
        if let (Some((template, name)), "/") = (built_in, scope.as_str()) {
            let role_id = activated.entry((*template).to_owned()).or_insert_with(|| {
                let id = uuid::Builder::from_random_bytes(g.rng.random()).into_uuid().to_string();
                t.insert_initial(
                    Collection::DirectoryRoles,
                    obj(json!({"id": id, "deletedDateTime": null, "description": format!("Can manage {name} tasks."), "displayName": name, "roleTemplateId": template})),
                );
                id
            });
            let role_id = role_id.clone();
            t.add_link_initial(LinkKind::DirectoryRoleMember, &role_id, &principal);
        }
    }
    for _ in 0..(spec.role_assignments / 5).max(1) {
        if users.is_empty() {
            break;
        }
        let principal = g.pick(users).clone();
        let definition = g.pick(&definitions).clone();
        let id = g.uuid();
        let created = g.past(300);
        t.insert_initial(
            Collection::RoleEligibilitySchedules,
            obj(json!({
                "id": id, "principalId": principal, "roleDefinitionId": definition, "directoryScopeId": "/",
                "appScopeId": null, "createdUsing": id, "createdDateTime": created, "modifiedDateTime": null,
                "status": "Provisioned", "memberType": "Direct",
                "scheduleInfo": {"startDateTime": created, "recurrence": null, "expiration": {"type": "noExpiration", "endDateTime": null, "duration": null}},
            })),
        );
    }
}

pub(super) fn conditional_access(
    g: &mut Gen,
    t: &mut Tenant,
    spec: &TenantSpec,
    users: &[String],
    groups: &[String],
) {
    let mut locations = Vec::new();
    for i in 0..spec.named_locations {
        let id = g.uuid();
        let created = g.past(700);
        let location = if i % 2 == 0 {
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "id": id, "displayName": format!("Office network {i}"),
                   "createdDateTime": created, "modifiedDateTime": created, "isTrusted": true,
                   "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": format!("203.0.{}.0/24", i % 250)}]})
        } else {
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "id": id, "displayName": format!("Blocked countries {i}"),
                   "createdDateTime": created, "modifiedDateTime": created, "countriesAndRegions": ["KP", "IR"],
                   "includeUnknownCountriesAndRegions": false, "countryLookupMethod": "clientIpAddress"})
        };
        t.insert_initial(Collection::NamedLocations, obj(location));
        locations.push(id);
    }
    for i in 0..spec.ca_policies {
        let id = g.uuid();
        let created = g.past(700);
        let include_groups: Vec<String> = groups.choose_multiple(&mut g.rng, 2).cloned().collect();
        let exclude_users: Vec<String> = users.choose_multiple(&mut g.rng, 1).cloned().collect();
        let exclude_locations: Vec<String> =
            locations.choose_multiple(&mut g.rng, 1).cloned().collect();
        t.insert_initial(
            Collection::ConditionalAccessPolicies,
            obj(json!({
                "id": id,
                "templateId": null,
                "displayName": format!("CA{i:03} Require MFA"),
                "createdDateTime": created,
                "modifiedDateTime": if g.chance(0.5) { json!(g.past(100)) } else { Value::Null },
                "state": *g.pick(&["enabled", "disabled", "enabledForReportingButNotEnforced"]),
                "sessionControls": null,
                "conditions": {
                    "userRiskLevels": [], "signInRiskLevels": [], "clientAppTypes": ["all"],
                    "servicePrincipalRiskLevels": [], "platforms": null, "devices": null, "clientApplications": null,
                    "locations": {"includeLocations": ["All"], "excludeLocations": exclude_locations},
                    "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": [], "includeAuthenticationContextClassReferences": [], "applicationFilter": null},
                    "users": {"includeUsers": if i == 0 { json!(["All"]) } else { json!([]) }, "excludeUsers": exclude_users,
                              "includeGroups": include_groups, "excludeGroups": [], "includeRoles": [], "excludeRoles": [BUILT_IN_ROLES[0].0],
                              "includeGuestsOrExternalUsers": null, "excludeGuestsOrExternalUsers": null}
                },
                "grantControls": {"operator": "OR", "builtInControls": ["mfa"], "customAuthenticationFactors": [], "termsOfUse": [], "authenticationStrength": null},
            })),
        );
    }
}

pub(super) fn logs(g: &mut Gen, t: &mut Tenant, spec: &TenantSpec, users: &[String]) {
    if users.is_empty() {
        return;
    }
    for _ in 0..spec.sign_ins {
        let user = g.pick(users).clone();
        let (name, upn) = t
            .get(Collection::Users, &user)
            .map(|u| {
                (
                    u.get("displayName").cloned().unwrap_or(Value::Null),
                    u.get("userPrincipalName").cloned().unwrap_or(Value::Null),
                )
            })
            .unwrap_or((Value::Null, Value::Null));
        let (city, state, country) = *g.pick(CITIES);
        let failed = g.chance(0.1);
        let id = g.uuid();
        t.insert_initial(
            Collection::SignIns,
            obj(json!({
                "id": id,
                "createdDateTime": g.past(7),
                "userDisplayName": name,
                "userPrincipalName": upn,
                "userId": user,
                "appId": "de8bc8b5-d9f9-48b1-a8ad-b748da725064",
                "appDisplayName": "Graph Explorer",
                "ipAddress": format!("198.51.100.{}", g.rng.random_range(1..255)),
                "clientAppUsed": "Browser",
                "correlationId": g.uuid(),
                "conditionalAccessStatus": if failed { "failure" } else { "success" },
                "isInteractive": true,
                "riskDetail": "none",
                "riskLevelAggregated": "none",
                "riskLevelDuringSignIn": "none",
                "riskState": "none",
                "riskEventTypes_v2": [],
                "resourceDisplayName": "Microsoft Graph",
                "resourceId": GRAPH_APP_ID,
                "status": {"errorCode": if failed { 50126 } else { 0 }, "failureReason": if failed { json!("Invalid username or password.") } else { json!("Other.") }, "additionalDetails": null},
                "deviceDetail": {"deviceId": "", "displayName": null, "operatingSystem": "Windows 10", "browser": "Edge 131.0.0", "isCompliant": null, "isManaged": null, "trustType": null},
                "location": {"city": city, "state": state, "countryOrRegion": country, "geoCoordinates": {"altitude": null, "latitude": 47.6, "longitude": -122.1}},
                "appliedConditionalAccessPolicies": [],
            })),
        );
    }
    for _ in 0..spec.directory_audits {
        let target = g.pick(users).clone();
        let actor = users[0].clone();
        let (activity, operation) = *g.pick(&[
            ("Update user", "Update"),
            ("Add member to group", "Assign"),
            ("Add user", "Add"),
            ("Reset password (by admin)", "Reset"),
        ]);
        let id = format!("Directory_{}", g.uuid());
        t.insert_initial(
            Collection::DirectoryAudits,
            obj(json!({
                "id": id,
                "category": "UserManagement",
                "correlationId": g.uuid(),
                "result": "success",
                "resultReason": "",
                "activityDisplayName": activity,
                "activityDateTime": g.past(7),
                "loggedByService": "Core Directory",
                "operationType": operation,
                "initiatedBy": {"app": null, "user": {"id": actor, "displayName": null, "userPrincipalName": null, "ipAddress": null, "userType": null}},
                "targetResources": [{"id": target, "displayName": null, "type": "User", "userPrincipalName": null, "groupType": null, "modifiedProperties": []}],
                "additionalDetails": [],
            })),
        );
    }
}
