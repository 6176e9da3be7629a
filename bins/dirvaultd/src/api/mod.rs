//! The REST API. Every handler calls the library functions the CLI calls; this module only
//! checks keys, parses requests and shapes answers. The OpenAPI document is generated from the
//! `#[utoipa::path]` annotations here (`GET /openapi.json`, checked into docs/openapi.json).
//!
//! Errors, middleware and the router are here; the handlers are in a file per resource.

pub(crate) mod alerts;
pub(crate) mod jobs;
mod ops;
pub(crate) mod restore;
pub(crate) mod snapshots;
pub(crate) mod tenants;

use alerts::*;
use jobs::*;
use ops::*;
use restore::*;
use snapshots::*;
use tenants::*;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use dirvault_engine::browse::{self, ListOptions, SortBy, VersionSelector, resolve_snapshot};
use dirvault_engine::config::{RetentionConfig, SecretSource, TenantConfig};
use dirvault_engine::vault::{Against, DiffFilter, RestoreRequest};
use dirvault_model::{Cloud, ObjectId, ObjectKind, TenantId};
use dirvault_restore::{ApplyOptions, RestoreOptions, RestorePlan};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{App, Key};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::jobs::Job;

type AppState = Arc<App>;

// ----- errors ------------------------------------------------------------------------------

/// An API error: a stable `code` for programs, a `message` for people.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

/// The error body every failing endpoint answers with.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// An error's details.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorDetail {
    /// Stable, e.g. `tenant_not_found`, `unauthorized`, `bad_request`, `conflict`.
    code: String,
    /// What failed and what to do.
    message: String,
    /// This request's id (also in the `x-request-id` header and the logs).
    request_id: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn shutting_down() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the daemon is shutting down",
        )
    }

    /// Its HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// What failed and what to do.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    fn tenant_not_found(name: &str) -> Self {
        Self::not_found(
            "tenant_not_found",
            format!("no tenant named {name:?} for this API key"),
        )
    }
}

/// Errors of the libraries become API errors by what they mean.
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        let message = format!("{e:#}");
        if let Some(engine) = e.downcast_ref::<dirvault_engine::Error>() {
            return match engine {
                dirvault_engine::Error::NotFound(_) => Self::not_found("not_found", message),
                dirvault_engine::Error::Restore(
                    dirvault_restore::Error::Selection(_)
                    | dirvault_restore::Error::Options(_)
                    | dirvault_restore::Error::PlanRefused { .. }
                    | dirvault_restore::Error::PasswordRequired { .. },
                ) => Self::bad_request(message),
                dirvault_engine::Error::Store(dirvault_store::Error::NoSnapshot { .. }) => {
                    Self::not_found("snapshot_not_found", message)
                }
                dirvault_engine::Error::Store(dirvault_store::Error::Locked { .. }) => {
                    Self::new(StatusCode::CONFLICT, "locked", message)
                }
                _ => Self::new(StatusCode::BAD_GATEWAY, "backend_error", message),
            };
        }
        if let Some(restore) = e.downcast_ref::<dirvault_restore::Error>() {
            return match restore {
                dirvault_restore::Error::Selection(_)
                | dirvault_restore::Error::Options(_)
                | dirvault_restore::Error::PlanRefused { .. }
                | dirvault_restore::Error::PasswordRequired { .. } => Self::bad_request(message),
                _ => Self::new(StatusCode::BAD_GATEWAY, "backend_error", message),
            };
        }
        if e.downcast_ref::<dirvault_engine::config::ConfigError>()
            .is_some()
        {
            return Self::new(StatusCode::BAD_REQUEST, "config_error", message);
        }
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

macro_rules! from_library_error {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> Self {
                anyhow::Error::from(e).into()
            }
        }
    )*};
}
from_library_error!(
    dirvault_engine::Error,
    dirvault_restore::Error,
    dirvault_store::Error,
    dirvault_engine::config::ConfigError
);

/// Marks an error response so that the request-id middleware can add the id to its body.
#[derive(Clone)]
struct ErrorMark(&'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response();
        r.extensions_mut()
            .insert(ErrorMark(self.code, self.message));
        r
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

// ----- middleware --------------------------------------------------------------------------

/// A caller's `x-request-id` is kept only when sane (1 to 64 letters, digits and `-`): it goes
/// into the logs and error bodies. Otherwise it is dropped, and one is made.
pub(crate) async fn drop_insane_request_id(mut req: Request) -> Request {
    let sane = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !sane {
        req.headers_mut().remove("x-request-id");
    }
    req
}

/// Errors in the API's JSON shape with the request's id; one log line per request.
pub(crate) async fn errors_and_log(req: Request, next: Next) -> Response {
    let id = req
        .extensions()
        .get::<tower_http::request_id::RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let started = std::time::Instant::now();
    let mut response = next.run(req).await;
    // JSON errors are the API's; HTML ones the console's pages.
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if (response.status().is_client_error() || response.status().is_server_error())
        && !json
        && response.extensions().get::<ErrorMark>().is_none()
    {
        let status = response.status();
        let text = axum::body::to_bytes(std::mem::take(response.body_mut()), 64 * 1024)
            .await
            .unwrap_or_default();
        response = crate::extract::error_for_status(status, &String::from_utf8_lossy(&text))
            .into_response();
    }
    if let Some(ErrorMark(code, message)) = response.extensions().get::<ErrorMark>().cloned() {
        let status = response.status();
        let body = json!({"error": {"code": code, "message": message, "requestId": id}});
        response = (status, Json(body)).into_response();
    }
    tracing::info!(request_id = %id, %method, %path, status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    response
}

/// Bearer API keys: no key, no access (except `/healthz`).
pub(crate) async fn authenticate(
    State(app): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Some(bearer) = bearer else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "no API key: send `Authorization: Bearer <key>` (keys are configured under [[daemon.api_keys]])",
        )
        .into_response();
    };
    match app.key(&bearer) {
        Some(key) => {
            req.extensions_mut().insert(key);
            next.run(req).await
        }
        None => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown API key")
            .into_response(),
    }
}

/// The tenant `name`, if this key may see it: the key's scope is tenant ids, so the name is
/// looked up first and its id checked. A tenant the key may not see is "not found", as one
/// that does not exist.
pub(crate) fn tenant(app: &App, key: &Key, name: &str) -> ApiResult<TenantConfig> {
    app.config()
        .tenants
        .get(name)
        .filter(|t| key.allows(&t.tenant_id))
        .cloned()
        .ok_or_else(|| ApiError::tenant_not_found(name))
}

/// Whether `s` is a GUID in its 8-4-4-4-12 hex form (Entra tenant and client ids).
fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Refuses a key scoped to some tenants: adding, removing or re-pointing tenants, reloading
/// the configuration and reading every tenant's metrics need a key for all tenants.
pub(crate) fn admin_only(key: &Key, what: &str) -> ApiResult<()> {
    if key.is_admin() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("{what} needs an API key for all tenants (this key is scoped to some)"),
    ))
}

/// The snapshot `at` (an id, `latest` or a date-time) of tenant `name`, if this key may see it.
async fn at_snapshot(
    app: &App,
    key: &Key,
    name: &str,
    at: &str,
) -> ApiResult<dirvault_store::Snapshot> {
    let t = tenant(app, key, name)?;
    Ok(resolve_snapshot(&app.repo, &t.tenant_id, at).await?)
}

// ----- router ------------------------------------------------------------------------------

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dirvaultd",
        description = "Back up, browse, compare and restore Microsoft Entra ID tenants. Every endpoint but /healthz needs `Authorization: Bearer <API key>`."
    ),
    components(schemas(ErrorBody, ErrorDetail, Job, TenantStatus))
)]
struct ApiDoc;

/// Every documented route, once: the router and the OpenAPI document both come from here.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(reload))
        .routes(routes!(list_tenants, add_tenant))
        .routes(routes!(get_tenant, delete_tenant))
        .routes(routes!(trigger_backup))
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(list_snapshots))
        .routes(routes!(list_objects))
        .routes(routes!(get_object))
        .routes(routes!(memberships))
        .routes(routes!(roles))
        .routes(routes!(auth_methods))
        .routes(routes!(diff))
        .routes(routes!(list_alerts))
        .routes(routes!(export))
        .routes(routes!(create_plan))
        .routes(routes!(get_plan))
        .routes(routes!(apply_plan))
}

/// The API's router.
pub(crate) fn router(app: AppState) -> axum::Router {
    let (router, mut doc) = routes().split_for_parts();
    crate::openapi::document_errors(&mut doc);
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { Json(doc) }),
        )
        .fallback(|| async {
            ApiError::not_found("not_found", "no such endpoint: see /openapi.json")
        })
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            authenticate,
        ))
        .with_state(app.clone())
        // The console signs in with a session of its own, not a bearer key.
        .nest("/console", crate::console::router(app))
}

/// The OpenAPI document (`dirvaultd openapi`; checked into docs/openapi.json).
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = routes().split_for_parts().1;
    crate::openapi::document_errors(&mut doc);
    doc
}
