//! Each rule on its change, and silent on changes next to it.

use serde_json::{Map, Value, json};

use super::*;

const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";
const REPORTS_READER: &str = "4a5d8f65-41da-4de4-8968-e035b65339cf";

fn object(v: Value) -> Option<Map<String, Value>> {
    v.as_object().cloned()
}

fn change(kind: ObjectKind, id: &str, before: Value, after: Value) -> ObjectChange {
    ObjectChange {
        kind,
        id: ObjectId::new(id).unwrap(),
        name: None,
        before: object(before),
        after: object(after),
    }
}

fn evidence(objects: Vec<ObjectChange>) -> ChangeEvidence {
    let mut e = ChangeEvidence::new(
        "20261205T000000Z-00000001".parse().unwrap(),
        "20261205T120000Z-00000002".parse().unwrap(),
    );
    e.objects = objects;
    e
}

fn rules_fired(e: &ChangeEvidence) -> Vec<Rule> {
    evaluate(&AlertSettings::default(), e)
        .into_iter()
        .map(|a| a.rule)
        .collect()
}

#[test]
fn a_privileged_role_assigned_or_made_eligible_fires_and_other_roles_do_not() {
    let assigned = |kind, role: &str| {
        change(
            kind,
            "a1",
            Value::Null,
            json!({"roleDefinitionId": role, "principalId": "u1", "directoryScopeId": "/"}),
        )
    };
    let e = evidence(vec![
        assigned(ObjectKind::RoleAssignments, GLOBAL_ADMIN),
        assigned(ObjectKind::RoleEligibilitySchedules, GLOBAL_ADMIN),
        assigned(ObjectKind::RoleAssignments, REPORTS_READER),
    ]);
    let alerts = evaluate(&AlertSettings::default(), &e);
    assert_eq!(
        alerts.iter().map(|a| a.rule).collect::<Vec<_>>(),
        [Rule::PrivilegedRoleAssigned, Rule::PrivilegedRoleEligible]
    );
    assert!(
        alerts[0].summary.contains("Global Administrator"),
        "{alerts:?}"
    );
    // An existing assignment that changed is not a new one.
    let e = evidence(vec![change(
        ObjectKind::RoleAssignments,
        "a1",
        json!({"roleDefinitionId": GLOBAL_ADMIN}),
        json!({"roleDefinitionId": GLOBAL_ADMIN, "condition": "x"}),
    )]);
    assert!(rules_fired(&e).is_empty());
}

#[test]
fn conditional_access_switched_off_report_only_or_deleted_fires_only_from_enabled() {
    let ca = |before: &str, after: Option<&str>| {
        change(
            ObjectKind::ConditionalAccessPolicies,
            "p1",
            json!({"state": before}),
            after.map_or(Value::Null, |a| json!({"state": a})),
        )
    };
    for weakened in [
        ca("enabled", Some("disabled")),
        ca("enabled", Some("enabledForReportingButNotEnforced")),
        ca("enabled", None),
    ] {
        assert_eq!(
            rules_fired(&evidence(vec![weakened])),
            [Rule::ConditionalAccessWeakened]
        );
    }
    for fine in [
        ca("disabled", Some("enabled")),
        ca("disabled", None),
        ca("enabledForReportingButNotEnforced", Some("disabled")),
        ca("enabled", Some("enabled")),
    ] {
        assert!(rules_fired(&evidence(vec![fine])).is_empty());
    }
}

#[test]
fn a_new_secret_or_certificate_fires_and_a_removed_one_does_not() {
    let app = |keys: &[&str], certs: &[&str]| {
        json!({
            "passwordCredentials": keys.iter().map(|k| json!({"keyId": k})).collect::<Vec<_>>(),
            "keyCredentials": certs.iter().map(|k| json!({"keyId": k})).collect::<Vec<_>>(),
        })
    };
    let added = change(
        ObjectKind::Applications,
        "app",
        app(&["k1"], &[]),
        app(&["k1", "k2"], &[]),
    );
    let cert = change(
        ObjectKind::ServicePrincipals,
        "sp",
        app(&[], &[]),
        app(&[], &["c1"]),
    );
    let removed = change(
        ObjectKind::Applications,
        "app2",
        app(&["k1", "k2"], &[]),
        app(&["k1"], &[]),
    );
    let renamed = change(
        ObjectKind::Applications,
        "app3",
        json!({"displayName": "a", "passwordCredentials": [{"keyId": "k"}]}),
        json!({"displayName": "b", "passwordCredentials": [{"keyId": "k"}]}),
    );
    let alerts = evaluate(
        &AlertSettings::default(),
        &evidence(vec![added, cert, removed, renamed]),
    );
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[0].after, Some(json!(["k2"])));
    assert_eq!(alerts[1].after, Some(json!(["c1"])));
}

#[test]
fn a_high_privilege_application_permission_fires_and_a_read_permission_does_not() {
    let grant = |id: &str, role: &str, to: &str| {
        change(
            ObjectKind::AppRoleAssignments,
            id,
            Value::Null,
            json!({"principalType": to, "resourceId": "graph", "appRoleId": role, "principalDisplayName": "app"}),
        )
    };
    let mut e = evidence(vec![
        grant("g1", "rw", "ServicePrincipal"),
        grant("g2", "read", "ServicePrincipal"),
        grant("g3", "rw", "User"),
        grant("g4", "unknown-role", "ServicePrincipal"),
    ]);
    e.app_roles.insert(
        ("graph".into(), "rw".into()),
        "Directory.ReadWrite.All".into(),
    );
    e.app_roles
        .insert(("graph".into(), "read".into()), "User.Read.All".into());
    let alerts = evaluate(&AlertSettings::default(), &e);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].rule, Rule::HighPrivilegeAppPermission);
    assert!(alerts[0].summary.contains("Directory.ReadWrite.All"));
}

#[test]
fn a_domain_added_or_federated_fires_and_a_verified_flag_does_not() {
    let e = evidence(vec![
        change(
            ObjectKind::Domains,
            "new.example",
            Value::Null,
            json!({"authenticationType": "Managed"}),
        ),
        change(
            ObjectKind::Domains,
            "old.example",
            json!({"authenticationType": "Managed"}),
            json!({"authenticationType": "Federated"}),
        ),
        change(
            ObjectKind::Domains,
            "other.example",
            json!({"authenticationType": "Managed", "isVerified": false}),
            json!({"authenticationType": "Managed", "isVerified": true}),
        ),
        change(
            ObjectKind::Domains,
            "gone.example",
            json!({"authenticationType": "Managed"}),
            Value::Null,
        ),
    ]);
    let alerts = evaluate(&AlertSettings::default(), &e);
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(alerts[1].summary.contains("from Managed to Federated"));
}

#[test]
fn mass_deletion_counts_over_the_threshold_and_never_logs() {
    let mut e = evidence(Vec::new());
    e.deleted.insert(ObjectKind::Users, 51);
    e.deleted.insert(ObjectKind::Groups, 50);
    e.deleted.insert(ObjectKind::SignIns, 10_000);
    assert_eq!(rules_fired(&e), [Rule::MassDeletion]);
    let strict = AlertSettings {
        mass_deletion_threshold: 10,
        ..AlertSettings::default()
    };
    assert_eq!(evaluate(&strict, &e).len(), 2);
}

#[test]
fn a_disabled_rule_never_fires_and_settings_spell_rules_as_alerts_do() {
    let e = evidence(vec![change(
        ObjectKind::ConditionalAccessPolicies,
        "p",
        json!({"state": "enabled"}),
        json!({"state": "disabled"}),
    )]);
    let settings: AlertSettings =
        toml::from_str("disabled = [\"conditional-access-weakened\"]").unwrap();
    assert!(evaluate(&settings, &e).is_empty());
    assert_eq!(
        Rule::ConditionalAccessWeakened.to_string(),
        "conditional-access-weakened"
    );
    assert!(toml::from_str::<AlertSettings>("disabled = [\"no-such-rule\"]").is_err());
    assert!(toml::from_str::<AlertSettings>("threshold = 3").is_err());
}

#[test]
fn security_defaults_turned_off_fires_and_turned_on_or_renamed_does_not() {
    let defaults = |before: Value, after: Value| {
        change(
            ObjectKind::SecurityDefaults,
            "00000000-0000-0000-0000-000000000005",
            before,
            after,
        )
    };
    let e = evidence(vec![defaults(
        json!({"isEnabled": true}),
        json!({"isEnabled": false}),
    )]);
    assert_eq!(rules_fired(&e), [Rule::SecurityDefaultsDisabled]);
    let e = evidence(vec![
        defaults(json!({"isEnabled": false}), json!({"isEnabled": true})),
        defaults(
            json!({"isEnabled": true, "displayName": "a"}),
            json!({"isEnabled": true, "displayName": "b"}),
        ),
    ]);
    assert!(rules_fired(&e).is_empty());
}

#[test]
fn an_authentication_method_disabled_or_removed_fires_and_other_changes_do_not() {
    let policy = |fido2: &str, sms: Option<&str>, length: u32| {
        let mut configurations = vec![
            json!({"id": "Fido2", "state": fido2}),
            json!({"id": "TemporaryAccessPass", "state": "enabled", "defaultLength": length}),
        ];
        if let Some(sms) = sms {
            configurations.push(json!({"id": "Sms", "state": sms}));
        }
        json!({"authenticationMethodConfigurations": configurations})
    };
    let methods = |before, after| {
        change(
            ObjectKind::AuthenticationMethodsPolicy,
            "authenticationMethodsPolicy",
            before,
            after,
        )
    };
    let e = evidence(vec![methods(
        policy("enabled", Some("enabled"), 8),
        policy("disabled", None, 8),
    )]);
    let alerts = evaluate(&AlertSettings::default(), &e);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].rule, Rule::AuthenticationMethodDisabled);
    assert_eq!(alerts[0].after, Some(json!(["Fido2", "Sms"])));
    // Enabling a method, or changing an enabled one's settings, is not disabling.
    let e = evidence(vec![methods(
        policy("disabled", Some("disabled"), 8),
        policy("enabled", Some("disabled"), 12),
    )]);
    assert!(rules_fired(&e).is_empty());
}

#[test]
fn cross_tenant_access_opened_fires_and_closing_it_does_not() {
    let access = |inbound: &str, outbound: &str, mfa: bool| {
        json!({
            "b2bDirectConnectInbound": {"usersAndGroups": {"accessType": inbound}, "applications": {"accessType": "blocked"}},
            "b2bCollaborationOutbound": {"usersAndGroups": {"accessType": outbound}, "applications": {"accessType": "allowed"}},
            "inboundTrust": {"isMfaAccepted": mfa}
        })
    };
    let defaults = |before, after| {
        change(
            ObjectKind::CrossTenantAccessDefault,
            "crossTenantAccessPolicyDefault",
            before,
            after,
        )
    };
    let e = evidence(vec![defaults(
        access("blocked", "allowed", false),
        access("allowed", "allowed", true),
    )]);
    let alerts = evaluate(&AlertSettings::default(), &e);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].rule, Rule::CrossTenantAccessOpened);
    assert!(
        alerts[0]
            .summary
            .contains("b2bDirectConnectInbound.usersAndGroups blocked → allowed")
            && alerts[0].summary.contains("inboundTrust.isMfaAccepted"),
        "{alerts:?}"
    );
    let e = evidence(vec![defaults(
        access("blocked", "allowed", true),
        access("blocked", "blocked", false),
    )]);
    assert!(rules_fired(&e).is_empty());
    // A new partner that allows anything opens access; one that allows nothing does not.
    let partner = |after| {
        change(
            ObjectKind::CrossTenantAccessPolicyPartners,
            "t2",
            Value::Null,
            after,
        )
    };
    let nothing_allowed = json!({
        "b2bDirectConnectInbound": {"usersAndGroups": {"accessType": "blocked"}},
        "inboundTrust": {"isMfaAccepted": false}
    });
    let e = evidence(vec![
        partner(access("allowed", "blocked", false)),
        partner(nothing_allowed),
    ]);
    assert_eq!(rules_fired(&e), [Rule::CrossTenantAccessOpened]);
}

#[test]
fn user_consent_widened_fires_and_narrowed_does_not() {
    let authorization = |assigned: Value, risky: bool| {
        json!({"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": assigned},
               "allowUserConsentForRiskyApps": risky})
    };
    let policy = |before, after| {
        change(
            ObjectKind::AuthorizationPolicy,
            "authorizationPolicy",
            before,
            after,
        )
    };
    let low = "ManagePermissionGrantsForSelf.microsoft-user-default-low";
    let legacy = "ManagePermissionGrantsForSelf.microsoft-user-default-legacy";
    let e = evidence(vec![policy(
        authorization(json!([]), false),
        authorization(json!([low]), true),
    )]);
    let alerts = evaluate(&AlertSettings::default(), &e);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].rule, Rule::UserConsentWidened);
    assert!(alerts[0].summary.contains("risky apps"), "{alerts:?}");
    let e = evidence(vec![policy(
        authorization(json!([low, legacy]), true),
        authorization(json!([low]), false),
    )]);
    assert!(rules_fired(&e).is_empty());
}

#[test]
fn pim_activation_of_a_privileged_role_without_mfa_or_approval_fires() {
    let policy = |mfa: bool, approval: bool| {
        let enabled = if mfa {
            json!(["MultiFactorAuthentication", "Justification"])
        } else {
            json!(["Justification"])
        };
        json!({"rules": [
            {"id": "Enablement_EndUser_Assignment", "enabledRules": enabled},
            {"id": "Approval_EndUser_Assignment", "setting": {"isApprovalRequired": approval}},
            {"id": "Expiration_EndUser_Assignment", "maximumDuration": "PT8H"}
        ]})
    };
    let pim =
        |id: &str, before, after| change(ObjectKind::RoleManagementPolicies, id, before, after);
    let mut e = evidence(vec![
        pim("p-global", policy(true, true), policy(false, false)),
        pim("p-reader", policy(true, true), policy(false, false)),
    ]);
    e.pim_roles.insert("p-global".into(), GLOBAL_ADMIN.into());
    e.pim_roles.insert("p-reader".into(), REPORTS_READER.into());
    let alerts = evaluate(&AlertSettings::default(), &e);
    assert_eq!(alerts.len(), 1, "a privileged role only: {alerts:?}");
    assert_eq!(alerts[0].rule, Rule::PimActivationWeakened);
    assert!(
        alerts[0].summary.contains("Global Administrator")
            && alerts[0].summary.contains("MFA or approval"),
        "{alerts:?}"
    );
    // Requiring more, or changing another rule, is not weakening.
    let mut e = evidence(vec![pim(
        "p-global",
        policy(false, false),
        policy(true, true),
    )]);
    e.pim_roles.insert("p-global".into(), GLOBAL_ADMIN.into());
    assert!(rules_fired(&e).is_empty());
}

#[test]
fn sync_deletion_protection_switched_off_fires_and_a_new_threshold_does_not() {
    let sync = |kind: &str, threshold: u32| json!({"configuration": {"accidentalDeletionPrevention": {"synchronizationPreventionType": kind, "alertThreshold": threshold}}});
    let s = |before, after| change(ObjectKind::OnPremisesSynchronization, "t1", before, after);
    let e = evidence(vec![s(sync("enabledForCount", 500), sync("disabled", 500))]);
    assert_eq!(rules_fired(&e), [Rule::SyncDeletionProtectionDisabled]);
    let e = evidence(vec![s(
        sync("enabledForCount", 500),
        sync("enabledForCount", 5000),
    )]);
    assert!(rules_fired(&e).is_empty());
}

mod hostile_versions {
    use super::*;
    use proptest::prelude::*;

    /// JSON built from the names and values the rules read, nested anyhow: what a changed
    /// Graph, a hand-edited snapshot or a hostile tenant could hold.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            prop::sample::select(vec![
                "enabled",
                "disabled",
                "allowed",
                "blocked",
                "builtIn",
                "MultiFactorAuthentication",
                "Enablement_EndUser_Assignment",
                "Approval_EndUser_Assignment",
                GLOBAL_ADMIN,
                "Fido2",
                "ServicePrincipal",
                "Federated",
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "id",
                        "state",
                        "isEnabled",
                        "rules",
                        "enabledRules",
                        "setting",
                        "isApprovalRequired",
                        "authenticationMethodConfigurations",
                        "b2bDirectConnectInbound",
                        "usersAndGroups",
                        "accessType",
                        "inboundTrust",
                        "isMfaAccepted",
                        "defaultUserRolePermissions",
                        "permissionGrantPoliciesAssigned",
                        "configuration",
                        "accidentalDeletionPrevention",
                        "synchronizationPreventionType",
                        "roleDefinitionId",
                        "passwordCredentials",
                        "keyId",
                        "authenticationType",
                    ])
                    .prop_map(str::to_owned),
                    inner,
                    0..6,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        // Whatever two versions hold, every rule answers (fires or not) without a panic.
        #[test]
        fn every_rule_reads_any_versions_without_a_panic(
            before in value(),
            after in value(),
            kind in prop::sample::select(
                Rule::ALL.iter().flat_map(|r| r.kinds().iter().copied()).collect::<Vec<_>>()
            ),
        ) {
            let mut e = evidence(vec![change(kind, "x1", before, after)]);
            e.pim_roles.insert("x1".into(), GLOBAL_ADMIN.into());
            let _ = evaluate(&AlertSettings::default(), &e);
        }
    }
}
