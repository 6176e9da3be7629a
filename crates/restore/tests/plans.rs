//! The planner is pure: these plans come from hand-written states and are pinned, JSON and
//! text, so any change in what a restore would do shows up in review.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use chrono::{TimeZone, Utc};
use dirvault_model::{
    DirectoryObject, ObjectId, ObjectKind, Relationship, RelationshipDetails, RelationshipKind,
};
use dirvault_restore::{
    BackupState, CurrentState, Found, MatchedBy, PlanContext, RestoreOptions, RestorePlan,
};
use serde_json::{Value, json};

const ALICE: &str = "11111111-0000-4000-8000-000000000001"; // in the recycle bin
const BOB: &str = "11111111-0000-4000-8000-000000000002"; // gone for good
const CAROL: &str = "11111111-0000-4000-8000-000000000003"; // exists, changed
const SALES: &str = "22222222-0000-4000-8000-000000000001"; // exists
const FINANCE: &str = "22222222-0000-4000-8000-000000000002"; // gone for good
const POLICY: &str = "33333333-0000-4000-8000-000000000001"; // gone
const UNIT: &str = "44444444-0000-4000-8000-000000000001"; // exists
const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8"; // built-in role template

fn object(kind: ObjectKind, value: Value) -> DirectoryObject {
    DirectoryObject::from_graph(kind, value).unwrap()
}

fn id(s: &str) -> ObjectId {
    s.parse().unwrap()
}

fn user(id: &str, upn: &str, title: &str) -> DirectoryObject {
    object(
        ObjectKind::Users,
        json!({"id": id, "displayName": upn.split('@').next().unwrap(), "userPrincipalName": upn,
               "mailNickname": upn.split('@').next().unwrap(), "accountEnabled": true, "jobTitle": title,
               "mail": upn, "createdDateTime": "2025-01-01T00:00:00Z", "assignedLicenses": [],
               "onPremisesSyncEnabled": null, "userType": "Member"}),
    )
}

fn group(id: &str, name: &str) -> DirectoryObject {
    object(
        ObjectKind::Groups,
        json!({"id": id, "displayName": name, "mailNickname": name.to_lowercase(), "mailEnabled": false,
               "securityEnabled": true, "groupTypes": [], "mail": null, "createdDateTime": "2025-01-01T00:00:00Z"}),
    )
}

fn link(kind: RelationshipKind, source: &str, target: &str) -> Relationship {
    Relationship::link(kind, id(source), id(target))
}

fn backup() -> BackupState {
    let mut b = BackupState {
        tenant: Some("5f1c2d3e-0000-4000-8000-00000000000a".parse().unwrap()),
        snapshot: Some("20261101T020000Z-0a1b2c3d".parse().unwrap()),
        time: Utc.with_ymd_and_hms(2026, 11, 1, 2, 0, 0).unwrap(),
        selected: [ALICE, BOB, CAROL, FINANCE, POLICY].map(id).to_vec(),
        domains: vec!["contoso.com".into()],
        ..BackupState::default()
    };
    for o in [
        user(ALICE, "alice@contoso.com", "Engineer"),
        user(BOB, "bob@contoso.com", "Accountant"),
        user(CAROL, "carol@contoso.com", "Manager"),
        group(SALES, "Sales"),
        group(FINANCE, "Finance"),
        object(
            ObjectKind::ConditionalAccessPolicies,
            json!({"id": POLICY, "displayName": "Finance needs MFA", "state": "enabled",
                   "createdDateTime": "2025-01-01T00:00:00Z",
                   "conditions": {"users": {"includeGroups": [FINANCE], "excludeUsers": ["99999999-0000-4000-8000-000000000009"]}},
                   "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}),
        ),
        object(
            ObjectKind::AdministrativeUnits,
            json!({"id": UNIT, "displayName": "Finance unit"}),
        ),
    ] {
        b.objects.insert(o.id().clone(), o);
    }
    b.relationships = vec![
        link(RelationshipKind::GroupMember, SALES, ALICE),
        link(RelationshipKind::GroupMember, FINANCE, BOB),
        link(RelationshipKind::GroupMember, FINANCE, CAROL),
        link(RelationshipKind::GroupOwner, FINANCE, CAROL),
        link(RelationshipKind::UserManager, BOB, CAROL),
        link(RelationshipKind::AdministrativeUnitMember, UNIT, BOB),
        Relationship::with_details(
            RelationshipKind::RoleAssignment,
            id(HELPDESK),
            id(BOB),
            RelationshipDetails {
                directory_scope_id: Some(format!("/administrativeUnits/{UNIT}")),
                ..RelationshipDetails::default()
            },
        ),
    ];
    b.auth_methods.insert(
        id(CAROL),
        vec![
            json!({"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "id": "3179e48a-750b-4051-897c-87b9720928f7",
                   "phoneNumber": "+1 206 555 0100", "phoneType": "mobile"}),
            json!({"@odata.type": "#microsoft.graph.emailAuthenticationMethod", "id": "3ddfcfc8-9383-446f-83cc-3ab9be4be18f",
                   "emailAddress": "carol@outlook.com"}),
            json!({"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": "k1", "model": "YubiKey 5"}),
        ],
    );
    b
}

fn current(backup: &BackupState) -> CurrentState {
    let mut c = CurrentState {
        tenant: backup.tenant.clone(),
        domains: vec!["contoso.com".into()],
        ..CurrentState::default()
    };
    let mut carol = backup.objects[&id(CAROL)].raw().clone();
    carol.insert("jobTitle".into(), json!("Intern"));
    for (key, live) in [
        (CAROL, object(ObjectKind::Users, Value::Object(carol))),
        (SALES, backup.objects[&id(SALES)].clone()),
        (UNIT, backup.objects[&id(UNIT)].clone()),
    ] {
        c.found.insert(
            id(key),
            Found {
                object: live,
                matched_by: MatchedBy::Id,
            },
        );
    }
    c.recycle_bin
        .insert(id(ALICE), backup.objects[&id(ALICE)].clone());
    c.listed_sources
        .insert((RelationshipKind::GroupMember, SALES.into()));
    c.assignments_listed = true;
    c.auth_methods.insert(
        CAROL.into(),
        vec![json!({"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "id": "3179e48a-750b-4051-897c-87b9720928f7",
                    "phoneNumber": "+1 206 555 0199", "phoneType": "mobile"})],
    );
    c
}

fn context(cross: bool) -> PlanContext {
    PlanContext {
        id: "plan-1".into(),
        created: Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap(),
        cross_tenant: cross,
    }
}

fn all_options() -> RestoreOptions {
    RestoreOptions {
        ids: [ALICE, BOB, CAROL, FINANCE, POLICY]
            .map(String::from)
            .to_vec(),
        with_object: true,
        with_memberships: true,
        with_role_assignments: true,
        with_auth_methods: true,
        ..RestoreOptions::default()
    }
}

#[test]
fn restore_with_every_option_is_pinned() {
    let backup = backup();
    let plan =
        dirvault_restore::plan(&all_options(), &backup, &current(&backup), context(false)).unwrap();
    insta::assert_json_snapshot!("every_option", plan);
    insta::assert_snapshot!("every_option_text", plan.to_string());
}

#[test]
fn cross_tenant_restore_is_pinned() {
    let backup = backup();
    let mut target = CurrentState {
        tenant: Some("6f1c2d3e-0000-4000-8000-00000000000b".parse().unwrap()),
        domains: vec!["fabrikam.com".into()],
        ..CurrentState::default()
    };
    // Carol exists there under her moved UPN; nothing is matched by source id.
    let carol = user(
        "77777777-0000-4000-8000-000000000003",
        "carol@fabrikam.com",
        "Manager",
    );
    target.found.insert(
        id(CAROL),
        Found {
            object: carol,
            matched_by: MatchedBy::UserPrincipalName,
        },
    );
    let options = RestoreOptions {
        ids: [BOB, CAROL, FINANCE].map(String::from).to_vec(),
        with_object: true,
        with_memberships: true,
        domain: Some("fabrikam.com".into()),
        ..RestoreOptions::default()
    };
    let mut backup = backup;
    backup.selected = [BOB, CAROL, FINANCE].map(id).to_vec();
    let plan = dirvault_restore::plan(&options, &backup, &target, context(true)).unwrap();
    insta::assert_json_snapshot!("cross_tenant", plan);
    let body = plan.steps.iter().find(|s| s.object.id == id(BOB)).unwrap();
    assert_eq!(
        body.call.body.as_ref().unwrap()["userPrincipalName"],
        "bob@fabrikam.com"
    );
    // The domain must be one the target verified.
    let wrong = RestoreOptions {
        domain: Some("contoso.com".into()),
        ..options
    };
    let err = dirvault_restore::plan(&wrong, &backup, &target, context(true)).unwrap_err();
    assert!(err.to_string().contains("not a verified domain"), "{err}");
}

#[test]
fn ten_thousand_users_plan_binds_members_twenty_at_a_time() {
    let mut backup = BackupState {
        tenant: Some("5f1c2d3e-0000-4000-8000-00000000000a".parse().unwrap()),
        snapshot: Some("20261101T020000Z-0a1b2c3d".parse().unwrap()),
        ..BackupState::default()
    };
    let group = group(FINANCE, "Everyone");
    backup.objects.insert(group.id().clone(), group);
    for n in 0..10_000 {
        let uid = format!("11111111-0000-4000-8000-{n:012}");
        let u = user(&uid, &format!("user{n}@contoso.com"), "Staff");
        backup.selected.push(u.id().clone());
        backup.objects.insert(u.id().clone(), u);
        backup
            .relationships
            .push(link(RelationshipKind::GroupMember, FINANCE, &uid));
    }
    let mut current = CurrentState {
        tenant: backup.tenant.clone(),
        domains: vec!["contoso.com".into()],
        ..CurrentState::default()
    };
    current.found.insert(
        id(FINANCE),
        Found {
            object: backup.objects[&id(FINANCE)].clone(),
            matched_by: MatchedBy::Id,
        },
    );
    let options = RestoreOptions {
        kind: Some(ObjectKind::Users),
        all: true,
        with_object: true,
        with_memberships: true,
        ..RestoreOptions::default()
    };
    let plan: RestorePlan =
        dirvault_restore::plan(&options, &backup, &current, context(false)).unwrap();
    let summary = plan.summary();
    assert_eq!(summary.created, 10_000);
    assert_eq!(summary.relationships, 500, "10,000 members, 20 per request");
    assert!(
        plan.steps
            .iter()
            .skip(10_000)
            .all(|s| s.depends_on.len() == 20)
    );
}

/// The digest is the SHA-256 of the plan's JSON with an empty `digest`, whatever the plan
/// holds in `digest` now (sealed, empty, or edited to something odd).
#[test]
fn the_digest_is_the_hash_of_the_plan_without_its_digest() {
    use sha2::Digest;
    let backup = backup();
    let sealed =
        dirvault_restore::plan(&all_options(), &backup, &current(&backup), context(false)).unwrap();
    let reference = |plan: &RestorePlan| {
        let mut content = plan.clone();
        content.digest = String::new();
        hex::encode(sha2::Sha256::digest(serde_json::to_vec(&content).unwrap()))
    };
    assert_eq!(sealed.digest, reference(&sealed));
    for digest in ["", "\"},\"x\":\"", "ü\\\u{0}", &"f".repeat(20_000)] {
        let edited = RestorePlan {
            digest: digest.to_owned(),
            ..sealed.clone()
        };
        assert_eq!(edited.content_digest(), reference(&sealed), "{digest:?}");
    }
}
