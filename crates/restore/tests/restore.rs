//! Restore end to end against the Graph emulator over real HTTP: back up, let an admin break
//! things through Graph, plan, apply, and check the tenant. One test per option.
//!
//! Longer than our ~800-line guide on purpose: each integration-test file is its own binary,
//! linked against the whole stack, and on CI's two cores a binary costs more to link than
//! these tests take to run; the tests share one setup and are grouped by feature below.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code

use std::collections::BTreeSet;
use std::time::Duration;

use dirvault_emulator::{
    Collection, Emulator, FaultAction, FaultConfig, LinkKind, RunningEmulator, TenantInfo,
    TenantSpec,
};
use dirvault_engine::{BackupOptions, backup};
use dirvault_graph::{Credentials, GraphClient, Method, RetryOptions};
use dirvault_model::{ObjectKind, RelationshipKind};
use dirvault_restore::{
    Action, ApplyOptions, BackupState, CurrentState, Mapping, Outcome, PlanContext, RestoreOptions,
    RestorePlan, RestoreReport,
};
use dirvault_store::{Repository, Snapshot};
use dirvault_testkit::EmulatedTenant;
use serde_json::{Value, json};

const PASSWORD: &str = "Rest0re!Default-Pass";

struct Env {
    emulator: Emulator,
    server: RunningEmulator,
    tenant: TenantInfo,
    repo: Repository,
}

async fn env(size: &str) -> Env {
    let EmulatedTenant {
        emulator,
        server,
        info,
    } = EmulatedTenant::start(size, 5).await;
    Env {
        emulator,
        server,
        tenant: info,
        repo: Repository::open("memory://").unwrap(),
    }
}

fn client_of(server: &RunningEmulator, tenant: &TenantInfo) -> GraphClient {
    GraphClient::builder(tenant.tenant_id.parse().unwrap())
        .with_credentials(Credentials::secret(
            tenant.client_id.parse().unwrap(),
            &tenant.client_secret,
        ))
        .with_endpoints(&server.url(), &server.url())
        .with_retry(RetryOptions {
            max_retries: 2,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            max_throttled_wait: Duration::from_secs(10),
        })
        .build()
        .unwrap()
}

impl Env {
    fn client(&self) -> GraphClient {
        client_of(&self.server, &self.tenant)
    }

    async fn backup(&self) -> Snapshot {
        backup(
            &self.client(),
            &self.repo,
            &BackupOptions::default(),
            chrono::Utc::now(),
            &|_| {},
        )
        .await
        .unwrap()
        .snapshot
    }

    /// An admin's Graph call; panics on an error status.
    async fn graph(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        self.client()
            .send(method, path, body.as_ref(), &[])
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .body
    }

    async fn status(&self, path: &str) -> u16 {
        match self.client().send(Method::GET, path, None, &[]).await {
            Ok(r) => r.status,
            Err(e) => e.status().unwrap(),
        }
    }

    async fn plan_into(
        &self,
        snapshot: &Snapshot,
        options: &RestoreOptions,
        target: &GraphClient,
        cross: bool,
    ) -> RestorePlan {
        let backup = BackupState::load(&self.repo, snapshot, options)
            .await
            .unwrap();
        let current = CurrentState::read(target, &backup, options, cross)
            .await
            .unwrap();
        dirvault_restore::plan(options, &backup, &current, PlanContext::new(cross)).unwrap()
    }

    async fn plan(&self, snapshot: &Snapshot, options: &RestoreOptions) -> RestorePlan {
        self.plan_into(snapshot, options, &self.client(), false)
            .await
    }

    async fn apply(&self, plan: &RestorePlan) -> RestoreReport {
        self.apply_with(plan, &self.client()).await
    }

    async fn apply_with(&self, plan: &RestorePlan, client: &GraphClient) -> RestoreReport {
        let report = dirvault_restore::apply(client, &self.repo, plan, &apply_options())
            .await
            .unwrap();
        assert!(
            report.is_complete(),
            "{}",
            serde_json::to_string_pretty(&report).unwrap()
        );
        report
    }

    /// An admin deletes, through Graph, the role assignments whose `property` is `value`.
    async fn delete_role_assignments(&self, property: &str, value: &str) {
        let ids: Vec<String> = self
            .emulator
            .with_tenant(&self.tenant.tenant_id, |t| {
                t.objects(Collection::RoleAssignments)
                    .unwrap()
                    .iter()
                    .filter(|(_, a)| a[property] == json!(value))
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap();
        for id in ids {
            let path = format!("/roleManagement/directory/roleAssignments/{id}");
            self.graph(Method::DELETE, &path, None).await;
        }
    }

    /// Ids linked from `source` by `rel`, in the emulator.
    fn links(&self, rel: LinkKind, source: &str) -> BTreeSet<String> {
        self.emulator
            .with_tenant(&self.tenant.tenant_id, |t| {
                t.links(rel, source).cloned().unwrap_or_default()
            })
            .unwrap()
    }

    /// Groups `member` is a direct member of.
    fn groups_of(&self, member: &str) -> BTreeSet<String> {
        self.emulator
            .with_tenant(&self.tenant.tenant_id, |t| {
                t.sources_of(LinkKind::GroupMember, member)
                    .into_iter()
                    .collect()
            })
            .unwrap()
    }

    /// Groups `member` is a direct member of whose members are assigned, not computed by a
    /// dynamic-membership rule.
    fn assigned_groups_of(&self, member: &str) -> BTreeSet<String> {
        self.groups_of(member)
            .into_iter()
            .filter(|g| {
                !self.object(Collection::Groups, g).unwrap()["groupTypes"]
                    .to_string()
                    .contains("DynamicMembership")
            })
            .collect()
    }

    /// A user who is a direct member of at least `n` groups.
    fn member_of_groups(&self, n: usize) -> String {
        self.emulator
            .with_tenant(&self.tenant.tenant_id, |t| {
                t.objects(Collection::Users)
                    .unwrap()
                    .keys()
                    .find(|u| t.sources_of(LinkKind::GroupMember, u).len() >= n)
                    .cloned()
                    .unwrap()
            })
            .unwrap()
    }

    fn object(&self, kind: Collection, id: &str) -> Option<Value> {
        self.emulator
            .with_tenant(&self.tenant.tenant_id, |t| {
                t.get(kind, id).map(|o| Value::Object(o.clone()))
            })
            .unwrap()
    }
}

fn apply_options() -> ApplyOptions {
    ApplyOptions {
        default_password: Some(PASSWORD.to_owned().into()),
        batches_in_flight: 1,
    }
}

fn select(kind: ObjectKind, ids: &[&str]) -> RestoreOptions {
    RestoreOptions {
        kind: Some(kind),
        ids: ids.iter().map(|s| (*s).to_owned()).collect(),
        ..RestoreOptions::default()
    }
}

fn actions(plan: &RestorePlan) -> Vec<Action> {
    plan.steps.iter().map(|s| s.action).collect()
}

#[tokio::test]
async fn deleted_user_comes_back_with_its_id_and_memberships() {
    let env = env("small").await;
    let user = env.member_of_groups(2);
    let groups = env.groups_of(&user);
    let snapshot = env.backup().await;
    env.graph(Method::DELETE, &format!("/users/{user}"), None)
        .await;
    assert_eq!(env.status(&format!("/users/{user}")).await, 404);

    let options = RestoreOptions {
        with_object: true,
        with_memberships: true,
        ..select(ObjectKind::Users, &[&user])
    };
    let plan = env.plan(&snapshot, &options).await;
    assert_eq!(plan.steps[0].action, Action::RestoreDeleted);
    assert_eq!(plan.id_map[user.as_str()], Mapping::Restored { step: 1 });
    assert!(
        !plan.needs_default_password,
        "a restored user keeps its password"
    );
    env.apply(&plan).await;

    assert_eq!(env.status(&format!("/users/{user}")).await, 200);
    assert_eq!(env.groups_of(&user), groups);
    // Safe to re-run: planning again finds nothing to do.
    let again = env.plan(&snapshot, &options).await;
    assert!(again.steps.is_empty(), "{again}");
}

/// From 1,000 objects of a kind on, the target is listed once instead of looked up object by
/// object: the answers (found by id, found by UPN under another id, in the recycle bin, gone)
/// are the same as the per-object lookups of small selections, in a fraction of the requests.
#[tokio::test]
async fn a_large_selection_is_matched_from_one_listing_with_the_same_answers() {
    let env = env("1500").await;
    let snapshot = env.backup().await;
    let users: Vec<String> = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Users)
                .unwrap()
                .keys()
                .cloned()
                .collect()
        })
        .unwrap();
    assert!(users.len() >= 1_200, "{}", users.len());
    // 200 in the recycle bin, 200 gone for good, 30 of those re-added under their UPN.
    let gone = &users[200..400];
    let now = chrono::Utc::now();
    let readded: Vec<(String, String)> = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            let upns = gone[..30]
                .iter()
                .map(|u| {
                    let user = t.get(Collection::Users, u).unwrap();
                    (
                        u.clone(),
                        user["userPrincipalName"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            t.delete_many(Collection::Users, &users[..400], now);
            for u in gone {
                t.purge(u);
            }
            upns
        })
        .unwrap();
    for (_, upn) in &readded {
        let nickname = upn.split('@').next().unwrap();
        env.graph(
            Method::POST,
            "/users",
            Some(json!({"accountEnabled": true, "displayName": nickname, "mailNickname": nickname,
                        "userPrincipalName": upn,
                        "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": true}})),
        )
        .await;
    }

    let read = |ids: Option<&[String]>| {
        let options = RestoreOptions {
            kind: Some(ObjectKind::Users),
            all: ids.is_none(),
            ids: ids.map(<[String]>::to_vec).unwrap_or_default(),
            with_object: true,
            ..RestoreOptions::default()
        };
        let client = env.client();
        let (repo, snapshot) = (&env.repo, &snapshot);
        async move {
            let backup = BackupState::load(repo, snapshot, &options).await.unwrap();
            let current = CurrentState::read(&client, &backup, &options, false)
                .await
                .unwrap();
            (current, client.stats().requests)
        }
    };
    let (listed, listing_requests) = read(None).await;
    let mut looked_up = CurrentState::default();
    let mut lookup_requests = 0;
    for chunk in users.chunks(500) {
        let (part, requests) = read(Some(chunk)).await;
        looked_up.found.extend(part.found);
        looked_up.recycle_bin.extend(part.recycle_bin);
        looked_up.ambiguous.extend(part.ambiguous);
        lookup_requests += requests;
    }
    assert_eq!(listed.found.len(), users.len() - 400 + 30);
    assert_eq!(listed.recycle_bin.len(), 200);
    for (source, upn) in &readded {
        let found = &listed.found[source.as_str()];
        assert_eq!(
            found.matched_by,
            dirvault_restore::MatchedBy::UserPrincipalName
        );
        assert_eq!(found.object.user_principal_name(), Some(upn.as_str()));
        assert_ne!(found.object.id().as_str(), source);
    }
    assert_eq!(listed.found, looked_up.found);
    assert_eq!(listed.recycle_bin, looked_up.recycle_bin);
    assert_eq!(listed.ambiguous, looked_up.ambiguous);
    // Found users are still read one by one (a list lacks single-object-only properties);
    // the 570 lookups by id and UPN of users not there, and the bin's 400, are gone.
    assert!(
        listing_requests * 3 < lookup_requests * 2,
        "{listing_requests} requests listing, {lookup_requests} looking up"
    );
}

#[tokio::test]
async fn hard_deleted_security_group_is_recreated_with_its_members_under_a_new_id() {
    let env = env("small").await;
    let group = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Groups)
                .unwrap()
                .iter()
                .find(|(id, g)| {
                    g["securityEnabled"] == json!(true)
                        && g["groupTypes"] == json!([])
                        && t.links(LinkKind::GroupMember, id)
                            .is_some_and(|m| m.len() >= 3)
                })
                .map(|(id, _)| id.clone())
                .unwrap()
        })
        .unwrap();
    let members = env.links(LinkKind::GroupMember, &group);
    let owners = env.links(LinkKind::GroupOwner, &group);
    let name = env.object(Collection::Groups, &group).unwrap()["displayName"].clone();
    let snapshot = env.backup().await;
    env.graph(Method::DELETE, &format!("/groups/{group}"), None)
        .await;
    assert_eq!(
        env.status(&format!("/directory/deletedItems/{group}"))
            .await,
        404,
        "security groups are hard-deleted"
    );

    let options = RestoreOptions {
        with_object: true,
        with_memberships: true,
        ..select(ObjectKind::Groups, &[&group])
    };
    let plan = env.plan(&snapshot, &options).await;
    assert_eq!(plan.steps[0].action, Action::Create);
    assert!(
        plan.steps[1..].iter().all(|s| s.depends_on == [1]),
        "{plan}"
    );
    let report = env.apply(&plan).await;
    let Outcome::Done {
        new_id: Some(new_id),
        ..
    } = &report.steps[0].outcome
    else {
        panic!("{report:?}")
    };
    assert_ne!(new_id, &group);
    assert_eq!(
        env.object(Collection::Groups, new_id).unwrap()["displayName"],
        name
    );
    assert_eq!(env.links(LinkKind::GroupMember, new_id), members);
    assert_eq!(env.links(LinkKind::GroupOwner, new_id), owners);
    // Members went in by 20 at a time.
    let binds = plan
        .steps
        .iter()
        .filter(|s| s.action == Action::AddMembers)
        .count();
    assert_eq!(binds, members.len().div_ceil(20));
}

#[tokio::test]
async fn overwritten_attributes_are_rolled_back_and_nothing_else_is_sent() {
    let env = env("tiny").await;
    let user = env.member_of_groups(1);
    let before = env.object(Collection::Users, &user).unwrap();
    let snapshot = env.backup().await;
    env.graph(
        Method::PATCH,
        &format!("/users/{user}"),
        Some(json!({"jobTitle": "Intruder", "department": "Nowhere", "employeeOrgData": {"division": "X", "costCenter": "1"}})),
    )
    .await;

    let options = RestoreOptions {
        with_object: true,
        ..select(ObjectKind::Users, &[&user])
    };
    let plan = env.plan(&snapshot, &options).await;
    assert_eq!(actions(&plan), [Action::Update]);
    let body = plan.steps[0]
        .call
        .body
        .as_ref()
        .unwrap()
        .as_object()
        .unwrap();
    let keys: BTreeSet<&str> = body.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["department", "employeeOrgData", "jobTitle"])
    );
    env.apply(&plan).await;
    let after = env.object(Collection::Users, &user).unwrap();
    for p in ["jobTitle", "department", "employeeOrgData"] {
        assert_eq!(after[p], before[p], "{p}");
    }
}

#[tokio::test]
async fn as_new_user_and_application_get_new_ids_and_the_given_names() {
    let env = env("tiny").await;
    let user = env.member_of_groups(1);
    let app = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Applications)
                .unwrap()
                .values()
                .next()
                .unwrap()
        })
        .unwrap();
    let snapshot = env.backup().await;

    let options = RestoreOptions {
        as_new: Some("alex.copy".into()),
        with_memberships: true,
        ..select(ObjectKind::Users, &[&user])
    };
    let plan = env.plan(&snapshot, &options).await;
    assert!(plan.needs_default_password);
    let report = env.apply(&plan).await;
    let Outcome::Done {
        new_id: Some(copy), ..
    } = &report.steps[0].outcome
    else {
        panic!()
    };
    let copy = env.object(Collection::Users, copy).unwrap();
    let upn = copy["userPrincipalName"].as_str().unwrap();
    let original = env.object(Collection::Users, &user).unwrap();
    let domain = original["userPrincipalName"]
        .as_str()
        .unwrap()
        .split('@')
        .nth(1)
        .unwrap();
    assert_eq!(upn, format!("alex.copy@{domain}"));
    assert_eq!(copy["mailNickname"], "alex.copy");
    assert_eq!(
        env.groups_of(copy["id"].as_str().unwrap()),
        env.assigned_groups_of(&user)
    );
    assert!(
        env.object(Collection::Users, &user).is_some(),
        "the original is untouched"
    );

    let options = RestoreOptions {
        as_new: Some("Payroll (restored)".into()),
        ..select(ObjectKind::Applications, &[app["id"].as_str().unwrap()])
    };
    let plan = env.plan(&snapshot, &options).await;
    let report = env.apply(&plan).await;
    let Outcome::Done {
        new_id: Some(id),
        app_id: Some(app_id),
    } = &report.steps[0].outcome
    else {
        panic!("{report:?}")
    };
    assert_ne!(id, app["id"].as_str().unwrap());
    assert_ne!(app_id, app["appId"].as_str().unwrap());
    assert_eq!(
        env.object(Collection::Applications, id).unwrap()["displayName"],
        "Payroll (restored)"
    );

    // More than one object cannot be restored as new.
    let options = RestoreOptions {
        as_new: Some("x".into()),
        all: true,
        ..select(ObjectKind::Users, &[])
    };
    let err = BackupState::load(&env.repo, &snapshot, &options)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exactly one object"), "{err}");
}

#[tokio::test]
async fn block_sign_in_disables_restored_users() {
    let env = env("tiny").await;
    let user = env.member_of_groups(1);
    let snapshot = env.backup().await;
    env.graph(Method::DELETE, &format!("/users/{user}"), None)
        .await;
    let options = RestoreOptions {
        with_object: true,
        block_sign_in: true,
        ..select(ObjectKind::Users, &[&user])
    };
    let plan = env.plan(&snapshot, &options).await;
    assert_eq!(actions(&plan), [Action::RestoreDeleted, Action::Update]);
    env.apply(&plan).await;
    assert_eq!(
        env.object(Collection::Users, &user).unwrap()["accountEnabled"],
        false
    );
}

#[tokio::test]
async fn memberships_only_re_adds_links_without_touching_the_object() {
    let env = env("small").await;
    let user = env.member_of_groups(2);
    let groups = env.groups_of(&user);
    let snapshot = env.backup().await;
    for g in &groups {
        env.graph(
            Method::DELETE,
            &format!("/groups/{g}/members/{user}/$ref"),
            None,
        )
        .await;
    }
    env.graph(
        Method::PATCH,
        &format!("/users/{user}"),
        Some(json!({"jobTitle": "Changed"})),
    )
    .await;
    let options = RestoreOptions {
        with_memberships: true,
        ..select(ObjectKind::Users, &[&user])
    };
    let plan = env.plan(&snapshot, &options).await;
    assert!(
        plan.steps.iter().all(|s| s.action == Action::AddMembers),
        "{plan}"
    );
    assert_eq!(plan.steps.len(), groups.len());
    env.apply(&plan).await;
    assert_eq!(env.groups_of(&user), groups);
    assert_eq!(
        env.object(Collection::Users, &user).unwrap()["jobTitle"],
        "Changed"
    );
}

#[tokio::test]
async fn rollback_removes_memberships_that_were_not_in_the_snapshot() {
    let env = env("small").await;
    let user = env.member_of_groups(1);
    let groups = env.groups_of(&user);
    let other = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Groups)
                .unwrap()
                .iter()
                .find(|(id, g)| {
                    !groups.contains(*id) && !g["groupTypes"].to_string().contains("Dynamic")
                })
                .map(|(id, _)| id.clone())
                .unwrap()
        })
        .unwrap();
    let snapshot = env.backup().await;
    env.graph(
        Method::POST,
        &format!("/groups/{other}/members/$ref"),
        Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user}")})),
    )
    .await;
    let add_only = RestoreOptions {
        with_memberships: true,
        ..select(ObjectKind::Users, &[&user])
    };
    assert!(env.plan(&snapshot, &add_only).await.steps.is_empty());
    let rollback = RestoreOptions {
        rollback_relationships: true,
        ..add_only
    };
    let plan = env.plan(&snapshot, &rollback).await;
    assert_eq!(actions(&plan), [Action::RemoveLink]);
    env.apply(&plan).await;
    assert_eq!(env.groups_of(&user), groups);
}

#[tokio::test]
async fn role_assignments_come_back_with_their_scope_and_pim_eligibility() {
    let env = env("tiny").await;
    let user = env.member_of_groups(1);
    let (au, role) = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            let au = t
                .objects(Collection::AdministrativeUnits)
                .unwrap()
                .keys()
                .next()
                .cloned()
                .unwrap();
            let role = t
                .objects(Collection::RoleDefinitions)
                .unwrap()
                .iter()
                .find(|(_, d)| d["isBuiltIn"] == json!(true))
                .map(|(id, _)| id.clone())
                .unwrap();
            (au, role)
        })
        .unwrap();
    for scope in ["/".to_owned(), format!("/administrativeUnits/{au}")] {
        env.graph(
            Method::POST,
            "/roleManagement/directory/roleAssignments",
            Some(json!({"principalId": user, "roleDefinitionId": role, "directoryScopeId": scope})),
        )
        .await;
    }
    env.graph(
        Method::POST,
        "/roleManagement/directory/roleEligibilityScheduleRequests",
        Some(json!({"action": "adminAssign", "principalId": user, "roleDefinitionId": role, "directoryScopeId": "/",
                    "justification": "on call", "scheduleInfo": {"startDateTime": "2026-01-01T00:00:00Z", "expiration": {"type": "noExpiration"}}})),
    )
    .await;
    let snapshot = env.backup().await;
    let assignments = |env: &Env| -> BTreeSet<(String, String)> {
        env.emulator
            .with_tenant(&env.tenant.tenant_id, |t| {
                t.objects(Collection::RoleAssignments)
                    .unwrap()
                    .values()
                    .filter(|a| a["principalId"] == json!(user))
                    .map(|a| {
                        (
                            a["roleDefinitionId"].as_str().unwrap().to_owned(),
                            a["directoryScopeId"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap()
    };
    let before = assignments(&env);
    assert_eq!(before.len(), 2.max(before.len()));
    env.delete_role_assignments("principalId", &user).await;
    env.emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            let ids: Vec<String> = t
                .objects(Collection::RoleEligibilitySchedules)
                .unwrap()
                .iter()
                .filter(|(_, s)| s["principalId"] == json!(user))
                .map(|(id, _)| id.clone())
                .collect();
            for id in ids {
                t.delete(
                    Collection::RoleEligibilitySchedules,
                    &id,
                    chrono::Utc::now(),
                )
                .unwrap();
            }
        })
        .unwrap();
    assert!(assignments(&env).is_empty());

    let options = RestoreOptions {
        with_role_assignments: true,
        ..select(ObjectKind::Users, &[&user])
    };
    let plan = env.plan(&snapshot, &options).await;
    assert!(
        plan.steps.iter().all(|s| s.action == Action::Assign),
        "{plan}"
    );
    assert!(
        plan.steps
            .iter()
            .any(|s| s.call.url.ends_with("roleEligibilityScheduleRequests"))
    );
    env.apply(&plan).await;
    assert_eq!(assignments(&env), before);
    let eligible = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::RoleEligibilitySchedules)
                .unwrap()
                .values()
                .any(|s| s["principalId"] == json!(user) && s["roleDefinitionId"] == json!(role))
        })
        .unwrap();
    assert!(eligible);
}

#[tokio::test]
async fn phone_and_email_methods_are_recreated_and_the_rest_reported() {
    let env = env("small").await;
    // A user with a phone, an email and a method Graph cannot create.
    let (user, methods) = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.auth_methods
                .iter()
                .find(|(_, m)| {
                    let types: Vec<String> = m
                        .values()
                        .filter_map(|v| v["@odata.type"].as_str().map(str::to_owned))
                        .collect();
                    let has = |ty: &str| types.iter().any(|t| t == ty);
                    has("#microsoft.graph.phoneAuthenticationMethod")
                        && has("#microsoft.graph.emailAuthenticationMethod")
                        && types.iter().any(|t| {
                            t.contains("fido2")
                                || t.contains("microsoftAuthenticator")
                                || t.contains("softwareOath")
                        })
                })
                .map(|(u, m)| (u.clone(), m.clone()))
                .expect("the generator gives some users phone, email and app methods")
        })
        .unwrap();
    let snapshot = env.backup().await;
    for (id, m) in &methods {
        let collection = match m["@odata.type"].as_str().unwrap() {
            "#microsoft.graph.phoneAuthenticationMethod" => "phoneMethods",
            "#microsoft.graph.emailAuthenticationMethod" => "emailMethods",
            _ => continue,
        };
        env.graph(
            Method::DELETE,
            &format!("/users/{user}/authentication/{collection}/{id}"),
            None,
        )
        .await;
    }
    let options = RestoreOptions {
        with_auth_methods: true,
        ..select(ObjectKind::Users, &[&user])
    };
    let plan = env.plan(&snapshot, &options).await;
    assert!(
        plan.steps.iter().all(|s| s.action == Action::AddMethod),
        "{plan}"
    );
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.message.contains("must register them again")),
        "{plan}"
    );
    assert_eq!(plan.password_resets.len(), 1);
    env.apply(&plan).await;
    let now = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| t.auth_methods[&user].clone())
        .unwrap();
    for (id, m) in &methods {
        assert_eq!(now.get(&id), Some(m), "method {id}");
    }
}

#[tokio::test]
async fn only_deleted_restores_the_deleted_and_leaves_changed_objects_alone() {
    let env = env("tiny").await;
    let users: Vec<String> = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Users)
                .unwrap()
                .keys()
                .take(3)
                .cloned()
                .collect()
        })
        .unwrap();
    let snapshot = env.backup().await;
    env.graph(Method::DELETE, &format!("/users/{}", users[0]), None)
        .await;
    env.graph(Method::DELETE, &format!("/users/{}", users[1]), None)
        .await;
    env.graph(
        Method::PATCH,
        &format!("/users/{}", users[2]),
        Some(json!({"jobTitle": "Changed"})),
    )
    .await;
    let options = RestoreOptions {
        kind: Some(ObjectKind::Users),
        all: true,
        with_object: true,
        only_deleted: true,
        ..RestoreOptions::default()
    };
    let plan = env.plan(&snapshot, &options).await;
    assert_eq!(
        actions(&plan),
        [Action::RestoreDeleted, Action::RestoreDeleted]
    );
    assert!(
        plan.skipped
            .iter()
            .any(|s| s.object.id.as_str() == users[2])
    );
    env.apply(&plan).await;
    assert!(env.object(Collection::Users, &users[0]).is_some());
    assert_eq!(
        env.object(Collection::Users, &users[2]).unwrap()["jobTitle"],
        "Changed"
    );
}

#[tokio::test]
async fn cross_tenant_restore_maps_domains_matches_by_name_and_never_writes_the_source() {
    let env = env("small").await;
    let target = env
        .emulator
        .create_tenant(&TenantSpec::preset("fabrikam", "tiny", 9).unwrap())
        .unwrap();
    let target_client = client_of(&env.server, &target);
    let group = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Groups)
                .unwrap()
                .iter()
                .find(|(id, g)| {
                    g["groupTypes"] == json!([])
                        && t.links(LinkKind::GroupMember, id)
                            .is_some_and(|m| m.len() >= 2)
                })
                .map(|(id, _)| id.clone())
                .unwrap()
        })
        .unwrap();
    let members = env.links(LinkKind::GroupMember, &group);
    let user_members = members
        .iter()
        .filter(|m| {
            env.object(Collection::Users, m)
                .is_some_and(|u| u["userType"] != "Guest")
        })
        .count();
    let snapshot = env.backup().await;
    let mut ids = vec![group.as_str()];
    ids.extend(members.iter().map(String::as_str));
    let options = RestoreOptions {
        ids: ids.iter().map(|s| (*s).to_owned()).collect(),
        with_object: true,
        with_memberships: true,
        domain: Some(target.default_domain.clone()),
        ..RestoreOptions::default()
    };
    let writes_before = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| t.stats.writes)
        .unwrap();
    let plan = env
        .plan_into(&snapshot, &options, &target_client, true)
        .await;
    assert!(plan.cross_tenant);
    let report = env.apply_with(&plan, &target_client).await;
    assert_eq!(report.target.to_string(), target.tenant_id);
    let writes_after = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| t.stats.writes)
        .unwrap();
    assert_eq!(
        writes_before, writes_after,
        "the source tenant is never written"
    );

    let (groups, users) = env
        .emulator
        .with_tenant(&target.tenant_id, |t| {
            let group = t
                .objects(Collection::Groups)
                .unwrap()
                .iter()
                .find(|(_, g)| {
                    g["displayName"]
                        == env.object(Collection::Groups, &group).unwrap()["displayName"]
                })
                .map(|(id, _)| id.clone())
                .unwrap();
            let members = t
                .links(LinkKind::GroupMember, &group)
                .cloned()
                .unwrap_or_default();
            let upns: BTreeSet<String> = members
                .iter()
                .filter_map(|m| t.get(Collection::Users, m))
                .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
                .collect();
            (group, upns)
        })
        .unwrap();
    assert!(!groups.is_empty());
    assert_eq!(users.len(), user_members);
    assert!(
        users
            .iter()
            .all(|u| u.ends_with(&format!("@{}", target.default_domain))),
        "{users:?}"
    );
    // A second plan into the target matches everything by name: nothing left to do.
    let again = env
        .plan_into(&snapshot, &options, &target_client, true)
        .await;
    assert!(again.steps.is_empty(), "{again}");
    // Without --domain, a cross-tenant plan is refused.
    let backup = BackupState::load(&env.repo, &snapshot, &options)
        .await
        .unwrap();
    let current = CurrentState::read(&target_client, &backup, &options, true)
        .await
        .unwrap();
    let no_domain = RestoreOptions {
        domain: None,
        ..options
    };
    let err =
        dirvault_restore::plan(&no_domain, &backup, &current, PlanContext::new(true)).unwrap_err();
    assert!(err.to_string().contains("--domain"), "{err}");
}

#[tokio::test]
async fn an_interrupted_plan_finishes_on_a_second_run_without_duplicates() {
    let env = env("small").await;
    let snapshot = env.backup().await;
    // 30 users deleted for good (purged from the recycle bin).
    let users: Vec<(String, String)> = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Users)
                .unwrap()
                .iter()
                .filter(|(_, u)| u["onPremisesSyncEnabled"] != true && u["userType"] != "Guest")
                .take(30)
                .map(|(id, u)| {
                    (
                        id.clone(),
                        u["userPrincipalName"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap();
    for (id, _) in &users {
        env.graph(Method::DELETE, &format!("/users/{id}"), None)
            .await;
        env.graph(
            Method::DELETE,
            &format!("/directory/deletedItems/{id}"),
            None,
        )
        .await;
    }
    let options = RestoreOptions {
        kind: Some(ObjectKind::Users),
        all: true,
        only_deleted: true,
        with_object: true,
        with_memberships: true,
        ..RestoreOptions::default()
    };
    let plan = env.plan(&snapshot, &options).await;
    assert_eq!(
        plan.steps
            .iter()
            .filter(|s| s.action == Action::Create)
            .count(),
        30
    );

    // In the first run Graph fails the 22nd creation: its dependents are skipped, everything
    // independent goes on (29 users are created).
    env.emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            let mut next = vec![FaultAction::Pass; 21];
            next.push(FaultAction::Status { status: 500 });
            t.faults = dirvault_emulator::faults::Faults::new(FaultConfig {
                next,
                ..FaultConfig::default()
            });
        })
        .unwrap();
    let first = dirvault_restore::apply(&env.client(), &env.repo, &plan, &apply_options())
        .await
        .unwrap();
    assert_eq!(first.summary.failed, 1, "{:?}", first.summary);
    assert!(
        first.summary.skipped > 0,
        "dependents of the failed step wait"
    );
    let Outcome::Failed {
        http_status,
        request_id,
        ..
    } = &first.steps[21].outcome
    else {
        panic!("{:?}", first.steps[21])
    };
    assert_eq!((*http_status, request_id.is_some()), (500, true));
    // Then the process dies before its journal is written: the repository keeps no record of
    // the 29 users Graph created.
    let store = &env.repo;
    for name in store
        .list_documents(&plan.target, &format!("restore/{}/journal", plan.id))
        .await
        .unwrap()
    {
        store
            .put_document(&plan.target, &name, bytes::Bytes::from_static(b"[]"))
            .await
            .unwrap();
    }

    let report = env.apply(&plan).await;
    assert_eq!(
        report
            .steps
            .iter()
            .filter(|s| plan.step(s.step).unwrap().action == Action::Create)
            .filter(|s| matches!(s.outcome, Outcome::AlreadyDone { .. }))
            .count(),
        29,
        "the users the first run created are adopted"
    );
    assert!(matches!(report.steps[21].outcome, Outcome::Done { .. }));
    let upns: Vec<String> = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Users)
                .unwrap()
                .values()
                .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap();
    for (_, upn) in &users {
        assert_eq!(upns.iter().filter(|u| *u == upn).count(), 1, "{upn}");
    }
    // Memberships were restored for the re-created users: every snapshot group link exists.
    let relationships = env.repo.relationships(&snapshot).await.unwrap();
    let new_id = |upn: &str| {
        env.emulator
            .with_tenant(&env.tenant.tenant_id, |t| {
                t.find_unique(Collection::Users, "userPrincipalName", upn)
                    .map(str::to_owned)
            })
            .unwrap()
            .unwrap()
    };
    for (old, upn) in &users {
        let expected: BTreeSet<String> = relationships
            .iter()
            .filter(|r| r.kind == RelationshipKind::GroupMember && r.target.as_str() == old)
            .map(|r| r.source.to_string())
            .collect();
        let dynamic: BTreeSet<String> = expected
            .iter()
            .filter(|g| {
                env.object(Collection::Groups, g).unwrap()["groupTypes"]
                    .to_string()
                    .contains("Dynamic")
            })
            .cloned()
            .collect();
        let actual = env.groups_of(&new_id(upn));
        assert_eq!(&actual | &dynamic, &expected | &dynamic, "{upn}");
    }
    // A third run writes nothing: every step is complete in the journal.
    let writes = || {
        env.emulator
            .with_tenant(&env.tenant.tenant_id, |t| t.stats.writes)
            .unwrap()
    };
    let before = writes();
    let third = env.apply(&plan).await;
    assert_eq!(third.summary, report.summary);
    assert_eq!(writes(), before);
}

#[tokio::test]
async fn a_plan_is_data_that_round_trips_through_json() {
    let env = env("tiny").await;
    let user = env.member_of_groups(1);
    let snapshot = env.backup().await;
    env.graph(Method::DELETE, &format!("/users/{user}"), None)
        .await;
    env.graph(
        Method::DELETE,
        &format!("/directory/deletedItems/{user}"),
        None,
    )
    .await;
    let options = RestoreOptions {
        with_object: true,
        with_memberships: true,
        ..select(ObjectKind::Users, &[&user])
    };
    let plan = env.plan(&snapshot, &options).await;
    let json = serde_json::to_string(&plan).unwrap();
    assert!(!json.contains(PASSWORD));
    assert!(json.contains("{{defaultPassword}}"));
    let back: RestorePlan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
    // Refused without a default password, before anything is written.
    let err = dirvault_restore::apply(&env.client(), &env.repo, &plan, &ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, dirvault_restore::Error::PasswordRequired { .. }),
        "{err}"
    );
    assert!(
        env.repo
            .list_documents(&plan.target, "restore")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn everything_deleted_for_good_is_recreated_with_every_reference_remapped() {
    let env = env("tiny").await;
    let user = env.member_of_groups(1);
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();
    let bind = |id: &str| {
        json!([format!(
            "https://graph.microsoft.com/v1.0/directoryObjects/{id}"
        )])
    };
    let group = id(env
        .graph(Method::POST, "/groups", Some(json!({"displayName": "Finance admins", "mailEnabled": false, "mailNickname": "financeadmins",
            "securityEnabled": true, "members@odata.bind": bind(&user)})))
        .await);
    let location = id(env
        .graph(Method::POST, "/identity/conditionalAccess/namedLocations", Some(json!({"@odata.type": "#microsoft.graph.ipNamedLocation",
            "displayName": "Head office", "isTrusted": true, "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "12.34.221.11/22"}]})))
        .await);
    let policy = id(env
        .graph(Method::POST, "/identity/conditionalAccess/policies", Some(json!({"displayName": "Finance admins need MFA", "state": "enabled",
            "conditions": {"applications": {"includeApplications": ["All"]}, "users": {"includeGroups": [group], "excludeUsers": [user]},
                           "locations": {"includeLocations": [location]}},
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}})))
        .await);
    let unit = id(env
        .graph(
            Method::POST,
            "/directory/administrativeUnits",
            Some(json!({"displayName": "Finance unit"})),
        )
        .await);
    env.graph(Method::POST, &format!("/directory/administrativeUnits/{unit}/members/$ref"),
        Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user}")}))).await;
    let role = id(env
        .graph(Method::POST, "/roleManagement/directory/roleDefinitions", Some(json!({"displayName": "Invoice approver", "isEnabled": true,
            "rolePermissions": [{"allowedResourceActions": ["microsoft.directory/users/basic/update"]}]})))
        .await);
    env.graph(Method::POST, "/roleManagement/directory/roleAssignments",
        Some(json!({"principalId": user, "roleDefinitionId": role, "directoryScopeId": format!("/administrativeUnits/{unit}")}))).await;
    let app = env
        .graph(
            Method::POST,
            "/applications",
            Some(json!({"displayName": "Invoice robot"})),
        )
        .await;
    let sp = id(env
        .graph(
            Method::POST,
            "/servicePrincipals",
            Some(json!({"appId": app["appId"]})),
        )
        .await);
    let app_id = id(app);
    let snapshot = env.backup().await;

    // Gone for good, in an order Graph accepts.
    for path in [
        format!("/identity/conditionalAccess/policies/{policy}"),
        format!("/identity/conditionalAccess/namedLocations/{location}"),
        format!("/groups/{group}"),
        format!("/servicePrincipals/{sp}"),
        format!("/applications/{app_id}"),
        format!("/directory/administrativeUnits/{unit}"),
    ] {
        env.graph(Method::DELETE, &path, None).await;
    }
    for purged in [&sp, &app_id, &unit] {
        env.graph(
            Method::DELETE,
            &format!("/directory/deletedItems/{purged}"),
            None,
        )
        .await;
    }
    env.delete_role_assignments("roleDefinitionId", &role).await;
    env.graph(
        Method::DELETE,
        &format!("/roleManagement/directory/roleDefinitions/{role}"),
        None,
    )
    .await;

    let options = RestoreOptions {
        all: true,
        only_deleted: true,
        with_object: true,
        with_memberships: true,
        with_role_assignments: true,
        ..RestoreOptions::default()
    };
    let plan = env.plan(&snapshot, &options).await;
    let created: BTreeSet<(ObjectKind, &str)> = plan
        .steps
        .iter()
        .filter(|s| s.action == Action::Create)
        .map(|s| (s.object.kind, s.object.id.as_str()))
        .collect();
    for (kind, old) in [
        (ObjectKind::Groups, &group),
        (ObjectKind::NamedLocations, &location),
        (ObjectKind::ConditionalAccessPolicies, &policy),
        (ObjectKind::AdministrativeUnits, &unit),
        (ObjectKind::RoleDefinitions, &role),
        (ObjectKind::Applications, &app_id),
        (ObjectKind::ServicePrincipals, &sp),
    ] {
        assert!(
            created.contains(&(kind, old.as_str())),
            "{kind} {old} not re-created:\n{plan}"
        );
    }
    let report = env.apply(&plan).await;
    let new = |old: &str| -> String {
        let Some(Mapping::Created { step }) = plan.id_map.get(old) else {
            panic!("{old}")
        };
        match &report.steps[*step as usize - 1].outcome {
            Outcome::Done {
                new_id: Some(id), ..
            } => id.clone(),
            other => panic!("{other:?}"),
        }
    };
    let (group2, location2, policy2, unit2, role2, app2, sp2) = (
        new(&group),
        new(&location),
        new(&policy),
        new(&unit),
        new(&role),
        new(&app_id),
        new(&sp),
    );
    assert_eq!(
        env.links(LinkKind::GroupMember, &group2),
        BTreeSet::from([user.clone()])
    );
    assert_eq!(
        env.links(LinkKind::AdministrativeUnitMember, &unit2),
        BTreeSet::from([user.clone()])
    );
    let policy2 = env
        .object(Collection::ConditionalAccessPolicies, &policy2)
        .unwrap();
    assert_eq!(
        policy2["conditions"]["users"]["includeGroups"],
        json!([group2])
    );
    assert_eq!(
        policy2["conditions"]["users"]["excludeUsers"],
        json!([user])
    );
    assert_eq!(
        policy2["conditions"]["locations"]["includeLocations"],
        json!([location2])
    );
    assert_eq!(policy2["state"], "enabled");
    let app2 = env.object(Collection::Applications, &app2).unwrap();
    assert_eq!(
        env.object(Collection::ServicePrincipals, &sp2).unwrap()["appId"],
        app2["appId"]
    );
    let scoped = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::RoleAssignments)
                .unwrap()
                .values()
                .any(|a| {
                    a["principalId"] == json!(user)
                        && a["roleDefinitionId"] == json!(role2)
                        && a["directoryScopeId"] == json!(format!("/administrativeUnits/{unit2}"))
                })
        })
        .unwrap();
    assert!(
        scoped,
        "the AU-scoped assignment of the custom role points at the new unit and role"
    );
}

#[tokio::test]
async fn the_executor_sends_twenty_steps_per_request() {
    let env = env("small").await;
    let snapshot = env.backup().await;
    env.emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            let now = chrono::Utc::now();
            let users: Vec<String> = t
                .objects(Collection::Users)
                .unwrap()
                .keys()
                .cloned()
                .collect();
            for u in users {
                t.delete(Collection::Users, &u, now).unwrap();
                t.purge(&u);
            }
        })
        .unwrap();
    let options = RestoreOptions {
        kind: Some(ObjectKind::Users),
        all: true,
        with_object: true,
        with_memberships: true,
        ..RestoreOptions::default()
    };
    let plan = env.plan(&snapshot, &options).await;
    assert!(plan.summary().created >= 80, "{:?}", plan.summary());
    let client = env.client();
    let before = client.stats();
    let report = env.apply_with(&plan, &client).await;
    let requests = client.stats().since(before).requests;
    // Steps run level by level; each level goes out 20 calls per $batch.
    let mut levels: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
    let mut level_of = std::collections::HashMap::new();
    for s in &plan.steps {
        let l = s
            .depends_on
            .iter()
            .map(|d| level_of[d] + 1)
            .max()
            .unwrap_or(0);
        level_of.insert(s.id, l);
        *levels.entry(l).or_default() += 1;
    }
    let batches: usize = levels.values().map(|n| n.div_ceil(20)).sum();
    assert_eq!(report.summary.done, plan.steps.len());
    assert!(
        requests as usize <= batches + 1,
        "{requests} requests for {} steps in {batches} batches",
        plan.steps.len()
    );
}

#[tokio::test]
async fn devices_are_overwritten_but_never_recreated() {
    let env = env("tiny").await;
    let devices: Vec<(String, Value)> = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Devices)
                .unwrap()
                .iter()
                .take(2)
                .map(|(id, d)| (id.clone(), Value::Object(d.clone())))
                .collect()
        })
        .unwrap();
    let snapshot = env.backup().await;
    let (changed, gone) = (&devices[0].0, &devices[1].0);
    env.graph(
        Method::PATCH,
        &format!("/devices/{changed}"),
        Some(json!({"displayName": "Renamed", "accountEnabled": false})),
    )
    .await;
    env.graph(Method::DELETE, &format!("/devices/{gone}"), None)
        .await;
    let options = RestoreOptions {
        with_object: true,
        ..select(ObjectKind::Devices, &[changed, gone])
    };
    let plan = env.plan(&snapshot, &options).await;
    assert_eq!(actions(&plan), [Action::Update]);
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.object.id.as_str() == gone && w.message.contains("no app-only create")),
        "{plan}"
    );
    env.apply(&plan).await;
    let now = env.object(Collection::Devices, changed).unwrap();
    assert_eq!(now["displayName"], devices[0].1["displayName"]);
    assert_eq!(now["accountEnabled"], devices[0].1["accountEnabled"]);
}

fn refusal(result: dirvault_restore::Result<RestoreReport>) -> String {
    match result {
        Err(e @ dirvault_restore::Error::PlanRefused { .. }) => e.to_string(),
        other => panic!("the plan should be refused: {other:?}"),
    }
}

// Regression: hand-edited restore plans were trusted. Changing only `target` ran a plan
// against another tenant while `crossTenant` stayed false; a `{{defaultPassword}}` put into
// another property wrote the password into the directory; a plan reusing an applied plan's id
// was skipped silently.
#[tokio::test]
async fn edited_plans_and_reused_plan_ids_are_refused() {
    let env = env("small").await;
    let user = env.member_of_groups(1);
    let snapshot = env.backup().await;
    env.graph(Method::DELETE, &format!("/users/{user}"), None)
        .await;
    env.graph(
        Method::DELETE,
        &format!("/directory/deletedItems/{user}"),
        None,
    )
    .await;
    let options = RestoreOptions {
        with_object: true,
        ..select(ObjectKind::Users, &[&user])
    };
    let plan = env.plan(&snapshot, &options).await;
    assert!(plan.needs_default_password, "{plan}");
    assert_eq!(plan.tampering(), None);
    dirvault_restore::propose(&env.repo, &plan).await.unwrap();
    let client = env.client();
    let env = &env;
    let apply = |p: RestorePlan| async move {
        dirvault_restore::apply(&env.client(), &env.repo, &p, &apply_options()).await
    };

    // An edit without a new digest.
    let mut edited = plan.clone();
    edited.steps[0].call.body.as_mut().unwrap()["displayName"] = json!("Edited");
    assert!(refusal(apply(edited.clone()).await).contains("digest"));
    // The same with its digest recomputed: the repository's record of the plan differs.
    let err = refusal(apply(edited.sealed()).await);
    assert!(err.contains("another plan under this id"), "{err}");
    // The password's placeholder moved into another property.
    let mut leaky = plan.clone();
    leaky.steps[0].call.body.as_mut().unwrap()["jobTitle"] = json!("{{defaultPassword}}");
    let err = refusal(apply(leaky.sealed()).await);
    assert!(err.contains("outside a password field"), "{err}");
    // Only the target changed: crossTenant no longer matches the tenants.
    let mut moved = plan.clone();
    moved.target = "0d0d0d0d-0000-4000-8000-0000000000aa".parse().unwrap();
    let err = refusal(apply(moved.sealed()).await);
    assert!(err.contains("crossTenant"), "{err}");
    assert_eq!(
        env.status(&format!("/users/{user}")).await,
        404,
        "nothing was written"
    );

    // The plan as made applies; another plan under its id is refused, not skipped.
    // (Re-created: the user comes back under a new id; apply_with checks every step is done.)
    env.apply_with(&plan, &client).await;
    let other = env.member_of_groups(2);
    let mut reused = env
        .plan(
            &snapshot,
            &RestoreOptions {
                with_memberships: true,
                ..select(ObjectKind::Users, &[&other])
            },
        )
        .await;
    reused.id = plan.id.clone();
    let err = refusal(apply(reused.sealed()).await);
    assert!(err.contains("another plan under this id"), "{err}");
}

// Regression: a lookup that found several objects read as "not found", and the planner
// re-created a duplicate. Restoring a group into another tenant where two groups bear its
// name: the plan neither creates nor changes it, and says why.
#[tokio::test]
async fn an_ambiguous_match_is_never_re_created_or_changed() {
    let env = env("small").await;
    let target = env
        .emulator
        .create_tenant(&TenantSpec::preset("fabrikam", "tiny", 9).unwrap())
        .unwrap();
    let target_client = client_of(&env.server, &target);
    let (group, name) = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::Groups)
                .unwrap()
                .iter()
                .find(|(_, g)| g["groupTypes"] == json!([]))
                .map(|(id, g)| (id.clone(), g["displayName"].as_str().unwrap().to_owned()))
                .unwrap()
        })
        .unwrap();
    let snapshot = env.backup().await;
    for n in 0..2 {
        let body = json!({"displayName": name, "mailEnabled": false, "mailNickname": format!("twin{n}"),
            "securityEnabled": true});
        target_client
            .send(Method::POST, "/groups", Some(&body), &[])
            .await
            .unwrap();
    }
    let options = RestoreOptions {
        with_object: true,
        domain: Some(target.default_domain.clone()),
        ..select(ObjectKind::Groups, &[&group])
    };
    let plan = env
        .plan_into(&snapshot, &options, &target_client, true)
        .await;
    assert!(
        plan.steps
            .iter()
            .all(|s| s.action != Action::Create && s.action != Action::Update),
        "{plan}"
    );
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.message.contains("2 objects")),
        "{plan}"
    );
}

/// A tenant's settings copied onto another (the MSP's "baseline" case): the target's own
/// settings objects are compared and patched; a partner configuration is matched by its tenant
/// id, the same in every tenant; the source is never written.
#[tokio::test]
async fn tenant_policies_restore_into_another_tenant_by_their_path_and_key() {
    let env = env("tiny").await;
    let target = env
        .emulator
        .create_tenant(&TenantSpec::preset("fabrikam", "tiny", 9).unwrap())
        .unwrap();
    let target_client = client_of(&env.server, &target);
    let snapshot = env.backup().await;
    let source_partner = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.objects(Collection::CrossTenantAccessPolicyPartners)
                .unwrap()
                .values()
                .next()
                .unwrap()
                .clone()
        })
        .unwrap();
    // The target turned security defaults off and trusts the same partner for nothing.
    env.emulator
        .with_tenant(&target.tenant_id, |t| {
            let key = t
                .settings(Collection::SecurityDefaults)
                .unwrap()
                .0
                .to_owned();
            t.update(
                Collection::SecurityDefaults,
                &key,
                json!({"isEnabled": false}).as_object().cloned().unwrap(),
            )
            .unwrap();
            let mut partner = source_partner.clone();
            partner["inboundTrust"]["isMfaAccepted"] = json!(false);
            t.insert(Collection::CrossTenantAccessPolicyPartners, partner)
                .unwrap();
        })
        .unwrap();
    let options = RestoreOptions {
        ids: vec![
            "00000000-0000-0000-0000-000000000005".into(),
            source_partner["tenantId"].as_str().unwrap().to_owned(),
            // The default sign-in branding: found under the target's own organization.
            "0".into(),
        ],
        domain: Some(target.default_domain.clone()),
        ..RestoreOptions::default()
    };
    let writes_before = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| t.stats.writes)
        .unwrap();
    let plan = env
        .plan_into(&snapshot, &options, &target_client, true)
        .await;
    let urls: Vec<&str> = plan.steps.iter().map(|s| s.call.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "/policies/identitySecurityDefaultsEnforcementPolicy".to_owned(),
            format!(
                "/policies/crossTenantAccessPolicy/partners/{}",
                source_partner["tenantId"].as_str().unwrap()
            ),
            // The same logo already: only the text differs.
            format!(
                "/organization/{}/branding/localizations/0",
                target.tenant_id
            ),
        ],
        "{plan}"
    );
    let report = env.apply_with(&plan, &target_client).await;
    assert_eq!(report.target.to_string(), target.tenant_id);
    assert_eq!(
        env.emulator
            .with_tenant(&env.tenant.tenant_id, |t| t.stats.writes)
            .unwrap(),
        writes_before,
        "the source tenant is never written"
    );
    env.emulator
        .with_tenant(&target.tenant_id, |t| {
            assert_eq!(
                t.settings(Collection::SecurityDefaults).unwrap().1["isEnabled"],
                true
            );
            let partner = t
                .get(
                    Collection::CrossTenantAccessPolicyPartners,
                    source_partner["tenantId"].as_str().unwrap(),
                )
                .unwrap();
            assert_eq!(partner["inboundTrust"]["isMfaAccepted"], true);
            assert_eq!(
                t.get(Collection::BrandingLocalizations, "0").unwrap()["signInPageText"],
                "Welcome to contoso"
            );
        })
        .unwrap();
    let again = env
        .plan_into(&snapshot, &options, &target_client, true)
        .await;
    assert!(again.steps.is_empty(), "{again}");
}

/// A branding image Graph refuses to take: its step fails with Graph's status and request id,
/// the text is still put back, and applying the plan again puts the image back too.
#[tokio::test]
async fn a_branding_image_graph_refuses_fails_alone_and_a_second_apply_finishes() {
    let env = env("tiny").await;
    let snapshot = env.backup().await;
    let original = env
        .emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            let logo = t
                .branding_stream("0", "bannerLogo")
                .map(|(m, b)| (m.to_owned(), b.to_vec()));
            t.update(
                Collection::BrandingLocalizations,
                "0",
                json!({"signInPageText": "Changed"})
                    .as_object()
                    .cloned()
                    .unwrap(),
            )
            .unwrap();
            t.set_branding_stream("0", "bannerLogo", "image/jpeg", b"another logo".to_vec())
                .unwrap();
            // An image the snapshot did not have: removed.
            t.set_branding_stream("0", "squareLogo", "image/png", b"added".to_vec())
                .unwrap();
            logo.unwrap()
        })
        .unwrap();
    let options = RestoreOptions {
        kind: Some(ObjectKind::BrandingLocalizations),
        all: true,
        ..RestoreOptions::default()
    };
    let plan = env.plan(&snapshot, &options).await;
    let mut calls: Vec<(&str, &str)> = plan
        .steps
        .iter()
        .map(|s| {
            (
                s.call.method.as_str(),
                s.call.url.rsplit('/').next().unwrap(),
            )
        })
        .collect();
    calls.sort_unstable();
    assert_eq!(
        calls,
        [
            ("DELETE", "squareLogo"),
            ("PATCH", "0"),
            ("PUT", "bannerLogo")
        ],
        "{plan}"
    );
    env.emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            t.faults = dirvault_emulator::faults::Faults::new(FaultConfig {
                next: vec![FaultAction::Status { status: 500 }],
                next_path: Some("/bannerLogo".into()),
                ..FaultConfig::default()
            });
        })
        .unwrap();
    let first = dirvault_restore::apply(&env.client(), &env.repo, &plan, &apply_options())
        .await
        .unwrap();
    assert_eq!(
        (first.summary.done, first.summary.failed),
        (2, 1),
        "{:?}",
        first.summary
    );
    let put = first
        .steps
        .iter()
        .find(|s| plan.step(s.step).unwrap().call.method == "PUT")
        .unwrap();
    let Outcome::Failed {
        http_status,
        request_id,
        ..
    } = &put.outcome
    else {
        panic!("{put:?}")
    };
    assert_eq!((*http_status, request_id.is_some()), (500, true));

    let second = env.apply(&plan).await;
    assert_eq!(second.summary.failed, 0);
    env.emulator
        .with_tenant(&env.tenant.tenant_id, |t| {
            assert_eq!(
                t.get(Collection::BrandingLocalizations, "0").unwrap()["signInPageText"],
                "Welcome to contoso"
            );
            assert_eq!(
                t.branding_stream("0", "bannerLogo"),
                Some((original.0.as_str(), original.1.as_slice()))
            );
            assert_eq!(t.branding_stream("0", "squareLogo"), None);
            assert!(
                t.get(Collection::BrandingLocalizations, "0").unwrap()["squareLogoRelativeUrl"]
                    .is_null()
            );
        })
        .unwrap();
}
