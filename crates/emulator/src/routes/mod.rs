//! The HTTP surface: the token endpoint, Graph v1.0 behind the gate middleware, and the
//! control API.

mod auth_method_reads;
mod batch;
mod branding;
mod condition_sets;
mod delta;
mod discovery;
mod nested_items;
pub(crate) mod read;
mod relationships;
mod reports;
mod settings;
mod url_forms;
mod write;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use futures::stream;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::auth::{self, Caller};
use crate::error::GraphError;
use crate::faults::FaultAction;
use crate::kinds::{Collection, LinkKind};
use crate::throttle;
use crate::{Emulator, control};

/// Marks a `$batch` sub-request: no connection-level faults or latency inside a batch.
#[derive(Clone, Copy)]
pub(crate) struct BatchInner;

pub(crate) fn router(emulator: Emulator) -> Router {
    use Collection as K;
    use LinkKind as R;
    let mut graph = Router::new();
    // Tenant-wide collections: list, create, get/update/delete by id.
    for kind in Collection::ALL {
        if let crate::kinds::ListedAt::Singleton(path) = kind.facts().listed_at {
            graph = graph.route(
                path,
                get(move |r, q| settings::get(kind, r, q))
                    .patch(move |w, b| settings::update(kind, w, b)),
            );
            continue;
        }
        let crate::kinds::ListedAt::Tenant(path) = kind.facts().listed_at else {
            continue;
        };
        graph = graph
            .route(
                path,
                get(move |r, q| read::list(kind, r, q)).post(move |w, b| write::create(kind, w, b)),
            )
            .route(
                &format!("{path}/{{id}}"),
                get(move |r, p, q| read::get_one(kind, r, p, q))
                    .patch(move |w, p, b| write::update(kind, w, p, b))
                    .delete(move |w, p| write::delete(kind, w, p)),
            );
        graph = graph.route(
            &format!("{path}/$count"),
            get(move |r, q| relationships::count(kind, r, q)),
        );
        if let Some(delta_path) = kind.facts().delta_path {
            graph = graph.route(delta_path, get(move |s, c, q| delta::delta(kind, s, c, q)));
        }
    }
    graph = graph
        .route(
            "/policies/permissionGrantPolicies/{id}/{which}",
            get(condition_sets::list).post(condition_sets::create),
        )
        .route(
            "/policies/permissionGrantPolicies/{id}/{which}/{set}",
            delete(condition_sets::delete),
        );
    graph = graph.route(
        "/policies/authenticationStrengthPolicies/{id}/updateAllowedCombinations",
        post(write::update_allowed_combinations),
    );
    {
        use axum::extract::Path;
        use nested_items::{METHOD_CONFIGURATIONS as M, PIM_RULES as R};
        graph = graph
            .route(
                "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/{id}",
                get(|r, Path(id): Path<String>| nested_items::get(M, r, None, id))
                    .patch(|w, Path(id): Path<String>, b| nested_items::update(M, w, None, id, b)),
            )
            .route(
                "/policies/roleManagementPolicies/{policy}/rules/{id}",
                get(|r, Path((p, id)): Path<(String, String)>| {
                    nested_items::get(R, r, Some(p), id)
                })
                .patch(|w, Path((p, id)): Path<(String, String)>, b| {
                    nested_items::update(R, w, Some(p), id, b)
                }),
            );
    }
    // Link relationships: list, add ($ref), remove ($ref).
    for (segment, rel, source) in [
        ("/groups/{id}/members", R::GroupMember, K::Groups),
        ("/groups/{id}/owners", R::GroupOwner, K::Groups),
        (
            "/directoryRoles/{id}/members",
            R::DirectoryRoleMember,
            K::DirectoryRoles,
        ),
        (
            "/directory/administrativeUnits/{id}/members",
            R::AdministrativeUnitMember,
            K::AdministrativeUnits,
        ),
        (
            "/applications/{id}/owners",
            R::ApplicationOwner,
            K::Applications,
        ),
        (
            "/servicePrincipals/{id}/owners",
            R::ServicePrincipalOwner,
            K::ServicePrincipals,
        ),
        (
            "/devices/{id}/registeredOwners",
            R::DeviceRegisteredOwner,
            K::Devices,
        ),
        (
            "/devices/{id}/registeredUsers",
            R::DeviceRegisteredUser,
            K::Devices,
        ),
    ] {
        graph = graph
            .route(
                segment,
                get(move |r, p, q| relationships::links(rel, source, r, p, q)),
            )
            // `/groups/{id}/members/microsoft.graph.user` (a type cast), `…/$count`, or one
            // member by id.
            .route(
                &format!("{segment}/{{member}}"),
                get(move |r, p, q| relationships::link(rel, source, r, p, q)),
            )
            .route(
                &format!("{segment}/$ref"),
                post(move |w, p, b| write::add_link(rel, source, w, p, b)),
            )
            .route(
                &format!("{segment}/{{member}}/$ref"),
                delete(move |w, p| write::remove_link(rel, source, w, p)),
            );
    }
    graph = graph
        .route(
            "/groups/{id}/transitiveMembers",
            get(relationships::transitive_members),
        )
        .route(
            "/users/{id}/memberOf",
            get(move |r, p, q| relationships::member_of(K::Users, r, p, q)),
        )
        .route(
            "/groups/{id}/memberOf",
            get(move |r, p, q| relationships::member_of(K::Groups, r, p, q)),
        )
        .route("/users/{id}/manager", get(relationships::manager))
        .route(
            "/users/{id}/manager/$ref",
            put(write::set_manager).delete(write::remove_manager),
        )
        .route(
            "/users/{id}/appRoleAssignments",
            get(move |r, p, q| relationships::app_role_assignments("principalId", r, p, q)),
        )
        .route(
            "/groups/{id}/appRoleAssignments",
            get(move |r, p, q| relationships::app_role_assignments("principalId", r, p, q)),
        )
        .route(
            "/servicePrincipals/{id}/appRoleAssignments",
            get(move |r, p, q| relationships::app_role_assignments("principalId", r, p, q)),
        )
        .route(
            "/servicePrincipals/{id}/appRoleAssignedTo",
            get(move |r, p, q| relationships::app_role_assignments("resourceId", r, p, q))
                .post(write::create_app_role_assignment),
        )
        .route(
            "/servicePrincipals/{id}/appRoleAssignedTo/{assignment}",
            delete(write::delete_app_role_assignment),
        )
        .route(
            "/servicePrincipals/{id}/oauth2PermissionGrants",
            get(relationships::sp_grants),
        )
        .route(
            "/directory/administrativeUnits/{id}/scopedRoleMembers",
            get(relationships::scoped_role_members),
        )
        .route(
            "/applications/{id}/extensionProperties",
            get(read::extension_properties),
        )
        .route(
            "/applications/{id}/federatedIdentityCredentials",
            get(read::federated_credentials),
        )
        .route(
            "/directoryObjects/getAvailableExtensionProperties",
            post(read::available_extension_properties),
        )
        .route(
            "/users/{id}/authentication/methods",
            get(auth_method_reads::auth_methods),
        )
        .route(
            "/users/{id}/authentication/{collection}",
            get(auth_method_reads::auth_method_collection).post(write::create_auth_method),
        )
        .route(
            "/users/{id}/authentication/{collection}/{method}",
            get(auth_method_reads::auth_method)
                .patch(write::update_auth_method)
                .delete(write::delete_auth_method),
        )
        .route(
            "/organization/{id}/branding",
            get(branding::get_by_language).patch(branding::update_by_language),
        )
        .route(
            "/organization/{id}/branding/localizations",
            get(branding::list).post(branding::create),
        )
        .route(
            "/organization/{id}/branding/localizations/{localization}",
            get(branding::get)
                .patch(branding::update)
                .delete(branding::delete),
        )
        .route(
            "/organization/{id}/branding/localizations/{localization}/{stream}",
            get(branding::get_stream)
                .put(branding::put_stream)
                .delete(branding::delete_stream),
        )
        .route(
            "/organization/{id}/branding/{stream}",
            get(branding::get_default_stream)
                .put(branding::put_default_stream)
                .delete(branding::delete_default_stream),
        )
        .route(
            "/reports/authenticationMethods/userRegistrationDetails",
            get(reports::user_registration_details),
        )
        .route("/directory/deletedItems", get(read::deleted_items_uncast))
        .route(
            "/directory/deletedItems/{id}",
            get(read::deleted_item).delete(write::purge_deleted),
        )
        .route(
            "/directory/deletedItems/{id}/restore",
            post(write::restore_deleted),
        )
        .route(
            "/roleManagement/directory/roleEligibilityScheduleRequests",
            post(write::eligibility_request),
        )
        .route("/$batch", post(batch::batch));
    for cast in [
        "user",
        "group",
        "application",
        "servicePrincipal",
        "administrativeUnit",
    ] {
        // The SDKs write the cast with the namespace's alias: `graph.user`.
        for namespace in ["microsoft.graph", "graph"] {
            graph = graph.route(
                &format!("/directory/deletedItems/{namespace}.{cast}"),
                get(move |s, c, q| read::deleted_items(cast, s, c, q)),
            );
        }
    }
    let graph = graph
        .fallback(graph_not_found)
        .layer(middleware::from_fn_with_state(emulator.clone(), gate))
        .layer(middleware::from_fn(correlate));
    let app = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(auth::token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::keys))
        // Graph serves its metadata without a token.
        .route("/v1.0/$metadata", get(metadata))
        .nest("/v1.0", graph)
        .nest("/_emulator", control::router())
        .with_state(emulator);
    // OData URL forms the SDKs send, written as the routes above expect them.
    Router::new().fallback_service(
        tower::ServiceBuilder::new()
            .map_request(url_forms::canonical)
            .service(app),
    )
}

/// `GET /v1.0/$metadata`: the service's CSDL (the entity types the emulator serves).
async fn metadata(State(emulator): State<Emulator>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        )],
        emulator.metadata().to_csdl(),
    )
        .into_response()
}

async fn graph_not_found(method: Method, uri: axum::http::Uri) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!(
            "Resource not found for the segment '{}' ({method}).",
            uri.path().rsplit('/').next().unwrap_or("")
        ),
    )
}

/// Every Graph request passes here: bearer token → caller; injected faults; throttling;
/// accounting; response headers.
async fn gate(State(emulator): State<Emulator>, mut req: Request, next: Next) -> Response {
    let issued = match auth::authenticate(&emulator, req.headers()) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let Some(tenant) = emulator.tenant(&issued.tenant_id) else {
        return GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        )
        .into_response();
    };
    let in_batch = req.extensions().get::<BatchInner>().is_some();
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let scheme = crate::tls::scheme_of(req.extensions());
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let is_batch = path == "/$batch";
    let (latency, fault, users) = {
        let mut t = tenant.write();
        let fault = if is_batch {
            None
        } else {
            t.faults.next_action(&path)
        };
        (t.faults.latency_ms(), fault, t.count(Collection::Users))
    };
    if latency > 0 && !in_batch {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let record = |status: StatusCode, ru: u32, write: bool| {
        if is_batch {
            return;
        }
        let mut t = tenant.write();
        t.stats.requests += 1;
        t.stats.resource_units += u64::from(ru);
        if write {
            t.stats.writes += 1;
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            t.stats.throttled += 1;
        }
        *t.stats.by_status.entry(status.as_u16()).or_default() += 1;
    };
    let charge = throttle::charge(req.method(), &path, &query);
    match fault {
        Some(FaultAction::Throttle { retry_after }) => {
            record(StatusCode::TOO_MANY_REQUESTS, 0, charge.write);
            return too_many_requests(
                Some(retry_after.clamp(0.0, 86_400.0)),
                "Tenant_Application/ReadWrite/injected".into(),
            )
            .into_response();
        }
        Some(FaultAction::Status { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            record(status, 0, charge.write);
            let mut e = GraphError::new(
                status,
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    "serviceNotAvailable"
                } else {
                    "generalException"
                },
                "Injected fault: the service is temporarily unavailable.",
            );
            if status == StatusCode::SERVICE_UNAVAILABLE {
                e.retry_after = Some(1.0);
            }
            return e.into_response();
        }
        Some(FaultAction::Reset) if !in_batch => {
            record(StatusCode::OK, 0, charge.write);
            return reset();
        }
        _ => {}
    }
    let admitted = if is_batch {
        None
    } else {
        let config = emulator.config().throttle;
        match emulator.throttler().lock().admit(
            config,
            &issued.tenant_id,
            &issued.client_id,
            users,
            &charge,
        ) {
            Ok(a) => Some(a),
            Err(refused) => {
                record(StatusCode::TOO_MANY_REQUESTS, 0, charge.write);
                return too_many_requests(refused.retry_after, refused.scope).into_response();
            }
        }
    };
    req.extensions_mut().insert(Caller {
        tenant_id: issued.tenant_id.clone(),
        client_id: issued.client_id.clone(),
        roles: issued.roles.clone(),
        base: format!("{scheme}://{host}/v1.0"),
    });
    let mut response = next.run(req).await;
    if let Some(a) = &admitted {
        record(response.status(), a.resource_units, charge.write);
        let headers = response.headers_mut();
        headers.insert("x-ms-resource-unit", HeaderValue::from(a.resource_units));
        if let Some(Ok(v)) = a
            .limit_percentage
            .map(|p| HeaderValue::from_str(&throttle::decimal_header(p)))
        {
            headers.insert("x-ms-throttle-limit-percentage", v);
        }
    }
    if matches!(fault, Some(FaultAction::Truncate)) && !in_batch {
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        // A complete HTTP response whose JSON stops half-way: the client must notice the
        // malformed body and retry.
        let mut broken = Response::new(Body::from(bytes.slice(..bytes.len() / 2)));
        *broken.status_mut() = parts.status;
        for (k, v) in &parts.headers {
            if k != "content-length" {
                broken.headers_mut().insert(k, v.clone());
            }
        }
        return broken;
    }
    response
}

/// Every Graph response carries a `request-id`, and echoes the caller's `client-request-id`
/// (the SDKs send one per request to correlate logs: overview of Graph's response headers in
/// `concepts/best-practices-concept.md`, "Reliability and support").
async fn correlate(req: Request, next: Next) -> Response {
    let client_request_id = req.headers().get("client-request-id").cloned();
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    if !headers.contains_key("request-id")
        && let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
    {
        headers.insert("request-id", v);
    }
    if let Some(v) = client_request_id {
        headers.insert("client-request-id", v);
    }
    response
}

/// A response whose body fails at once: the server drops the connection before a complete
/// response is written, which the client sees as a reset.
fn reset() -> Response {
    let chunks = stream::iter([Err::<Vec<u8>, _>(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "injected connection reset",
    ))]);
    Response::new(Body::from_stream(chunks))
}

/// Graph's 429 (docs/graph.md §5): `TooManyRequests`, `Retry-After` (absent for Conditional
/// Access), `x-ms-throttle-scope` and `x-ms-throttle-information`.
fn too_many_requests(retry_after: Option<f64>, scope: String) -> GraphError {
    let mut e = GraphError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests. Please retry after the time in the Retry-After header.",
    );
    e.retry_after = retry_after;
    e.headers.push(("x-ms-throttle-scope", scope));
    e.headers.push((
        "x-ms-throttle-information",
        "ResourceUnitLimitExceeded".into(),
    ));
    e
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, value: Value) -> Response {
    (status, Json(value)).into_response()
}

/// 204.
pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `{"@odata.context": …, "value": […], "@odata.nextLink"?, "@odata.count"?}`.
pub(crate) fn collection(
    context: String,
    items: Vec<Value>,
    next_link: Option<String>,
    count: Option<usize>,
) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("@odata.context".into(), Value::String(context));
    if let Some(c) = count {
        body.insert("@odata.count".into(), json!(c));
    }
    if let Some(next) = next_link {
        body.insert("@odata.nextLink".into(), Value::String(next));
    }
    body.insert("value".into(), Value::Array(items));
    json_response(StatusCode::OK, Value::Object(body))
}
