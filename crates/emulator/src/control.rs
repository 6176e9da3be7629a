//! The control API (`/_emulator/…`): not part of Graph. Tests and demos use it to create
//! tenants, register apps, mutate objects as an admin would in the portal (without Graph's
//! app-only restrictions), inject faults, change throttling, advance the clock and read
//! request accounting.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::Duration;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::graph_time;
use crate::error::Error;
use crate::faults::{FaultConfig, Faults};
use crate::generator::TenantSpec;
use crate::kinds::{Collection, LinkKind};
use crate::tenant::{Obj, Tenant};
use crate::throttle::ThrottleConfig;
use crate::{Emulator, GraphError};

pub(crate) fn router() -> Router<Emulator> {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/tenants", get(list_tenants).post(create_tenant))
        .route("/tenants/{tenant}", delete(remove_tenant))
        .route("/tenants/{tenant}/apps", post(register_app))
        .route("/tenants/{tenant}/mutations", post(mutate))
        .route("/tenants/{tenant}/churn", post(churn))
        .route("/tenants/{tenant}/export", get(export))
        .route("/tenants/{tenant}/stats", get(stats))
        .route("/tenants/{tenant}/stats/reset", post(reset_stats))
        .route("/tenants/{tenant}/faults", put(set_faults).get(get_faults))
        .route("/throttling", put(set_throttling))
        .route("/metadata/properties", post(add_property))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance_clock))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateTenant {
    name: String,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    seed: Option<u64>,
    /// A full spec overrides `size`.
    #[serde(default)]
    spec: Option<TenantSpec>,
}

async fn create_tenant(
    State(emulator): State<Emulator>,
    Json(body): Json<CreateTenant>,
) -> Result<Response, Error> {
    let spec = match body.spec {
        Some(mut spec) => {
            spec.name = body.name;
            spec
        }
        None => TenantSpec::preset(
            &body.name,
            body.size.as_deref().unwrap_or("small"),
            body.seed.unwrap_or(1),
        )?,
    };
    let info = emulator.create_tenant(&spec)?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

async fn list_tenants(State(emulator): State<Emulator>) -> Json<Value> {
    let tenants: Vec<Value> = emulator
        .tenant_ids()
        .iter()
        .filter_map(|id| emulator.tenant(id))
        .map(|t| {
            let t = t.read();
            json!({"tenantId": t.id, "name": t.name, "defaultDomain": t.default_domain(), "domains": t.domains,
                   "users": t.count(Collection::Users), "groups": t.count(Collection::Groups)})
        })
        .collect();
    Json(json!({ "tenants": tenants }))
}

async fn remove_tenant(
    State(emulator): State<Emulator>,
    Path(tenant): Path<String>,
) -> Result<StatusCode, Error> {
    emulator.remove_tenant(&tenant)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterApp {
    display_name: String,
    permissions: Vec<String>,
    #[serde(default = "yes")]
    secret: bool,
    #[serde(default)]
    certificate_pem: Option<String>,
}

fn yes() -> bool {
    true
}

async fn register_app(
    State(emulator): State<Emulator>,
    Path(tenant): Path<String>,
    Json(body): Json<RegisterApp>,
) -> Result<Response, Error> {
    let (client_id, secret) = emulator.register_app(
        &tenant,
        &body.display_name,
        &body.permissions,
        body.secret,
        body.certificate_pem.as_deref(),
    )?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"clientId": client_id, "clientSecret": secret})),
    )
        .into_response())
}

/// One admin action.
#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Mutation {
    /// Create an object (an `id` is assigned when absent).
    Create {
        /// Kind.
        kind: Collection,
        /// The object.
        object: Obj,
    },
    /// Set properties.
    Update {
        /// Kind.
        kind: Collection,
        /// Object id.
        id: String,
        /// Properties to set.
        set: Obj,
    },
    /// Delete (into the recycle bin where Graph does that).
    Delete {
        /// Kind.
        kind: Collection,
        /// Object id.
        id: String,
    },
    /// Delete for good (skipping or emptying the recycle bin).
    HardDelete {
        /// Kind.
        kind: Collection,
        /// Object id.
        id: String,
    },
    /// Restore from the recycle bin.
    Restore {
        /// Object id.
        id: String,
    },
    /// Add a relationship link.
    AddLink {
        /// Relationship.
        relationship: LinkKind,
        /// Source (group, role, unit, device, user for manager).
        source: String,
        /// Target.
        target: String,
    },
    /// Remove a relationship link.
    RemoveLink {
        /// Relationship.
        relationship: LinkKind,
        /// Source.
        source: String,
        /// Target.
        target: String,
    },
    /// Add or replace an authentication method of a user.
    SetAuthMethod {
        /// User id.
        user: String,
        /// The method (with `id` and `@odata.type`).
        method: Obj,
    },
    /// Remove an authentication method.
    RemoveAuthMethod {
        /// User id.
        user: String,
        /// Method id.
        id: String,
    },
}

fn apply(
    t: &mut Tenant,
    m: Mutation,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, GraphError> {
    Ok(match m {
        Mutation::Create { kind, mut object } => {
            let id = object
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            object.insert("id".into(), Value::String(id.clone()));
            t.insert(kind, object)?;
            json!({"id": id})
        }
        Mutation::Update { kind, id, set } => {
            t.update(kind, &id, set)?;
            json!({"id": id})
        }
        Mutation::Delete { kind, id } => {
            json!({"id": id, "softDeleted": t.delete(kind, &id, now)?})
        }
        Mutation::HardDelete { kind, id } => {
            if t.delete(kind, &id, now)? {
                t.purge(&id);
            }
            json!({"id": id})
        }
        Mutation::Restore { id } => {
            t.restore(&id, None)?;
            json!({"id": id})
        }
        Mutation::AddLink {
            relationship,
            source,
            target,
        } => json!({"added": t.add_link(relationship, &source, &target)?}),
        Mutation::RemoveLink {
            relationship,
            source,
            target,
        } => json!({"removed": t.remove_link(relationship, &source, &target)}),
        Mutation::SetAuthMethod { user, method } => {
            let id = method
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            t.methods_updated.insert(user.clone(), now);
            t.auth_methods
                .entry(user)
                .or_default()
                .insert(id.clone(), &method);
            json!({"id": id})
        }
        Mutation::RemoveAuthMethod { user, id } => {
            let removed = t.auth_methods.get_mut(&user).and_then(|m| m.remove(&id));
            if removed.is_some() {
                t.methods_updated.insert(user, now);
            }
            json!({"removed": removed.is_some()})
        }
    })
}

/// `POST /_emulator/metadata/properties {"entityType": "group", "name": "…", "type": "Edm.String"}`:
/// Graph grows a property, as Microsoft's metadata does between releases.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewProperty {
    entity_type: String,
    name: String,
    #[serde(rename = "type")]
    type_name: String,
}

async fn add_property(
    State(emulator): State<Emulator>,
    Json(p): Json<NewProperty>,
) -> Result<Response, Error> {
    emulator.add_property(
        &p.entity_type,
        crate::metadata::Property {
            name: p.name,
            type_name: p.type_name,
            not_nullable: false,
        },
    )?;
    Ok(StatusCode::CREATED.into_response())
}

async fn mutate(
    State(emulator): State<Emulator>,
    Path(tenant): Path<String>,
    Json(ops): Json<Vec<Mutation>>,
) -> Result<Response, Error> {
    let now = emulator.clock().now();
    let results = emulator.with_tenant(&tenant, |t| {
        let mut results = Vec::new();
        for (i, op) in ops.into_iter().enumerate() {
            match apply(t, op, now) {
                Ok(v) => results.push(v),
                Err(e) => {
                    return Err(Error::Mutation(format!(
                        "operation {i}: {} ({})",
                        e.message, e.code
                    )));
                }
            }
        }
        Ok(results)
    })??;
    Ok(Json(json!({ "results": results })).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Churn {
    /// Percent of users changed (updates; a tenth as many creations and soft deletions;
    /// as many membership changes).
    percent: f64,
    #[serde(default)]
    seed: u64,
}

/// Random admin activity, for incremental-backup tests and benchmarks.
async fn churn(
    State(emulator): State<Emulator>,
    Path(tenant): Path<String>,
    Json(body): Json<Churn>,
) -> Result<Response, Error> {
    let now = emulator.clock().now();
    let summary =
        emulator.with_tenant(&tenant, |t| churn_tenant(t, body.percent, body.seed, now))?;
    Ok(Json(summary).into_response())
}

/// Applies `percent` % churn to a tenant; returns what it did.
pub fn churn_tenant(
    t: &mut Tenant,
    percent: f64,
    seed: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Value {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let users: Vec<String> = t
        .objects(Collection::Users)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let groups: Vec<String> = t
        .objects(Collection::Groups)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    if users.is_empty() {
        return json!({});
    }
    let n = ((users.len() as f64) * percent / 100.0).ceil() as usize;
    let (mut updated, mut created, mut deleted, mut links) = (0, 0, 0, 0);
    for _ in 0..n {
        let u = &users[rng.random_range(0..users.len())];
        let mut set = Map::new();
        set.insert(
            "jobTitle".into(),
            json!(format!("Title {}", rng.random_range(0..1000))),
        );
        set.insert(
            "officeLocation".into(),
            json!(format!(
                "{}/{}",
                rng.random_range(1..40),
                rng.random_range(1000..3000)
            )),
        );
        if t.update(Collection::Users, u, set).is_ok() {
            updated += 1;
        }
        if !groups.is_empty() {
            let g = &groups[rng.random_range(0..groups.len())];
            let target = &users[rng.random_range(0..users.len())];
            let changed = if rng.random_bool(0.5) {
                t.add_link(LinkKind::GroupMember, g, target)
                    .unwrap_or(false)
            } else {
                t.remove_link(LinkKind::GroupMember, g, target)
            };
            links += usize::from(changed);
        }
    }
    let domain = t.domains.last().cloned().unwrap_or_default();
    for i in 0..n.div_ceil(10) {
        let id = uuid::Uuid::new_v4().to_string();
        let nick = format!("churn{seed}x{i}x{}", rng.random_range(0..1_000_000));
        let user = json!({"id": id, "accountEnabled": true, "displayName": format!("New hire {i}"), "mailNickname": nick,
                          "userPrincipalName": format!("{nick}@{domain}"), "createdDateTime": graph_time(now),
                          "businessPhones": [], "givenName": "New", "surname": format!("Hire {i}"), "jobTitle": null,
                          "mail": null, "mobilePhone": null, "officeLocation": null, "preferredLanguage": null,
                          "userType": "Member", "deletedDateTime": null});
        if t.insert(
            Collection::Users,
            user.as_object().cloned().unwrap_or_default(),
        )
        .is_ok()
        {
            created += 1;
        }
        let victim = &users[rng.random_range(1..users.len().max(2)).min(users.len() - 1)];
        if t.delete(Collection::Users, victim, now).is_ok() {
            deleted += 1;
        }
    }
    // A tenth as many users register or change an authentication method (an email address).
    let mut methods = 0;
    for i in 0..n.div_ceil(10) {
        let u = &users[rng.random_range(0..users.len())];
        if !t.contains(Collection::Users, u) {
            continue;
        }
        let id = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f";
        let email = json!({"@odata.type": "#microsoft.graph.emailAuthenticationMethod", "id": id,
                           "emailAddress": format!("churn{seed}x{i}@example.net")});
        t.auth_methods
            .entry(u.clone())
            .or_default()
            .insert(id.into(), &email.as_object().cloned().unwrap_or_default());
        t.methods_updated.insert(u.clone(), now);
        methods += 1;
    }
    // A hundredth as many app role assignments are made or removed (audited, as in Entra).
    let admin = json!({"user": {"id": users[0], "displayName": null, "userPrincipalName": null,
                                "ipAddress": null, "userType": null}, "app": null});
    let assignments: Vec<(String, String, String)> = t
        .objects(Collection::AppRoleAssignments)
        .into_iter()
        .flatten()
        .map(|(id, a)| {
            let text = |p: &str| a.get(p).and_then(Value::as_str).unwrap_or("").to_owned();
            (id.clone(), text("resourceId"), text("appRoleId"))
        })
        .collect();
    let mut app_roles = 0;
    for i in 0..n.div_ceil(100) {
        if assignments.is_empty() {
            break;
        }
        let (id, resource, role) = &assignments[rng.random_range(0..assignments.len())];
        let done = if i % 2 == 0 {
            let principal = &users[rng.random_range(0..users.len())];
            let new_id = uuid::Uuid::new_v4().to_string();
            t.assign_app_role(principal, resource, role, new_id, admin.clone(), now)
                .is_ok()
        } else {
            t.unassign_app_role(resource, id, admin.clone(), now)
                .is_ok()
        };
        app_roles += usize::from(done);
    }
    json!({"updated": updated, "created": created, "deleted": deleted, "membershipChanges": links,
           "methodChanges": methods, "appRoleAssignmentChanges": app_roles})
}

async fn export(
    State(emulator): State<Emulator>,
    Path(tenant): Path<String>,
) -> Result<Response, Error> {
    let body = emulator.with_tenant(&tenant, |t| {
        let mut links = Map::new();
        for (rel, _) in crate::tenant::LINK_SOURCES {
            if let Some(all) = t.all_links(*rel) {
                let mut by_source: Vec<(&String, &std::collections::BTreeSet<String>)> = all.iter().filter(|(_, v)| !v.is_empty()).collect();
                by_source.sort();
                let m: Map<String, Value> = by_source.into_iter().map(|(s, targets)| (s.clone(), json!(targets))).collect();
                links.insert(serde_json::to_value(rel).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(), Value::Object(m));
            }
        }
        let deleted: Vec<Value> = t.deleted_items(None).map(|d| json!({"kind": d.kind, "object": d.object})).collect();
        json!({"tenantId": t.id, "objects": t.export(), "links": links, "authenticationMethods": t.auth_methods, "deletedItems": deleted})
    })?;
    Ok(Json(body).into_response())
}

async fn stats(
    State(emulator): State<Emulator>,
    Path(tenant): Path<String>,
) -> Result<Response, Error> {
    let s = emulator.with_tenant(&tenant, |t| t.stats.clone())?;
    Ok(Json(s).into_response())
}

async fn reset_stats(
    State(emulator): State<Emulator>,
    Path(tenant): Path<String>,
) -> Result<StatusCode, Error> {
    emulator.with_tenant(&tenant, |t| t.stats = Default::default())?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_faults(
    State(emulator): State<Emulator>,
    Path(tenant): Path<String>,
    Json(config): Json<FaultConfig>,
) -> Result<StatusCode, Error> {
    emulator.with_tenant(&tenant, |t| t.faults = Faults::new(config))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_faults(
    State(emulator): State<Emulator>,
    Path(tenant): Path<String>,
) -> Result<Response, Error> {
    let config = emulator.with_tenant(&tenant, |t| t.faults.config().clone())?;
    Ok(Json(config).into_response())
}

#[derive(Deserialize)]
struct Throttling {
    scale: f64,
}

async fn set_throttling(
    State(emulator): State<Emulator>,
    Json(body): Json<Throttling>,
) -> StatusCode {
    emulator.set_throttle(ThrottleConfig {
        scale: body.scale.max(0.0),
    });
    StatusCode::NO_CONTENT
}

async fn clock(State(emulator): State<Emulator>) -> Json<Value> {
    Json(
        json!({"now": graph_time(emulator.clock().now()), "offsetSeconds": emulator.clock().offset().num_seconds()}),
    )
}

#[derive(Deserialize)]
struct Advance {
    seconds: i64,
}

async fn advance_clock(
    State(emulator): State<Emulator>,
    Json(body): Json<Advance>,
) -> Result<Json<Value>, Error> {
    if body.seconds < 0 {
        return Err(Error::Mutation("the clock only moves forward".into()));
    }
    emulator.clock().advance(Duration::seconds(body.seconds));
    Ok(clock(State(emulator)).await)
}
