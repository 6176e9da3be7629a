//! The REST API. Every handler calls the library functions the CLI calls; this module only
//! checks keys, parses requests and shapes answers. The OpenAPI document is generated from the
//! `#[utoipa::path]` annotations here (`GET /openapi.json`, checked into docs/openapi.json).

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

    fn not_found(code: &'static str, message: impl Into<String>) -> Self {
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
                dirvault_engine::Error::Browse(_) => Self::not_found("not_found", message),
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

type ApiResult<T> = Result<T, ApiError>;

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
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
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
fn tenant(app: &App, key: &Key, name: &str) -> ApiResult<TenantConfig> {
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
fn admin_only(key: &Key, what: &str) -> ApiResult<()> {
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

// ----- ops ---------------------------------------------------------------------------------

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "alive")))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the repository answers and the daemon is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, description = "ready"), (status = 503, body = ErrorBody)))]
async fn readyz(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    if app.is_shutting_down() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the daemon is shutting down",
        ));
    }
    app.repo.store().tenants().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "repository_unavailable",
            format!("the repository does not answer: {e}"),
        )
    })?;
    Ok(Json(json!({"status": "ready", "node": app.node})))
}

/// Prometheus metrics (a key for all tenants: the metrics name them).
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format"), (status = 403, body = ErrorBody)))]
async fn metrics(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
) -> ApiResult<Response> {
    admin_only(&key, "the metrics (they name every tenant)")?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
        .into_response())
}

/// Reloads the configuration file (as SIGHUP does).
#[utoipa::path(post, path = "/v1/config/reload", tag = "ops", responses((status = 204), (status = 400, body = ErrorBody)))]
async fn reload(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
) -> ApiResult<StatusCode> {
    admin_only(&key, "reloading the configuration")?;
    app.reload()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "config_error", format!("{e:#}")))?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- tenants -----------------------------------------------------------------------------

/// A tenant and its backup health.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TenantStatus {
    name: String,
    #[schema(value_type = String)]
    tenant_id: TenantId,
    schedule: String,
    next_run: Option<DateTime<Utc>>,
    /// The latest snapshot: id, time, and each kind's status.
    #[schema(value_type = Option<Object>)]
    last_snapshot: Option<Value>,
    /// A backup job of this replica, queued or running.
    running_job: Option<String>,
    consecutive_failures: u32,
    last_error: Option<String>,
}

async fn status(app: &App, name: &str, tenant: &TenantConfig) -> ApiResult<TenantStatus> {
    let config = app.config();
    let schedule = tenant
        .schedule
        .clone()
        .unwrap_or_else(|| config.daemon.default_schedule.clone());
    let snapshots = app.repo.snapshots(&tenant.tenant_id).await?;
    let last = snapshots.last().map(|s| {
        let kinds: BTreeMap<String, Value> = s
            .kinds
            .iter()
            .map(|(k, r)| (k.to_string(), json!({"status": r.status, "count": r.count})))
            .collect();
        json!({"id": s.id, "time": s.time, "kinds": kinds})
    });
    let run = app.runs.lock().get(name).cloned().unwrap_or_default();
    Ok(TenantStatus {
        name: name.to_owned(),
        tenant_id: tenant.tenant_id.clone(),
        next_run: crate::scheduler::next_run(&schedule, name, Utc::now()),
        schedule,
        last_snapshot: last,
        running_job: app
            .jobs
            .active(name, crate::jobs::JobKind::Backup)
            .map(|j| j.id),
        consecutive_failures: run.failures,
        last_error: run.last_error,
    })
}

/// The tenants this key may see, with their backup health.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", responses((status = 200, body = [TenantStatus])))]
async fn list_tenants(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
) -> ApiResult<Json<Vec<TenantStatus>>> {
    let mut out = Vec::new();
    for (name, t) in &app.config().tenants {
        if key.allows(&t.tenant_id) {
            out.push(status(&app, name, t).await?);
        }
    }
    Ok(Json(out))
}

/// One tenant's status: last backup, next run, per-kind health.
#[utoipa::path(get, path = "/v1/tenants/{name}", tag = "tenants", params(("name" = String, Path)), responses((status = 200, body = TenantStatus), (status = 404, body = ErrorBody)))]
async fn get_tenant(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<TenantStatus>> {
    let t = tenant(&app, &key, &name)?;
    Ok(Json(status(&app, &name, &t).await?))
}

/// A tenant to add (admin keys only). The app's client secret is sent as a value: the daemon
/// seals it at rest and never returns it. References to the daemon's environment or files
/// are not accepted here (only in the config file an operator writes).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddTenant {
    /// 1 to 64 letters, digits, `-`, `_` or `.` (not first).
    #[schema(pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")]
    name: String,
    /// The tenant's id (a GUID): what scoped API keys name.
    #[schema(value_type = String, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    tenant_id: TenantId,
    /// The app's client id (a GUID).
    #[schema(value_type = String, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    client_id: dirvault_model::ClientId,
    /// The app's client secret (write-only: sealed at rest, never returned or logged).
    #[schema(value_type = String, write_only, pattern = "\\S")]
    client_secret: secrecy::SecretString,
    /// `global` (default), `usgov`, `usgov-dod` or `china`.
    #[serde(default)]
    #[schema(value_type = String)]
    cloud: Cloud,
    /// With `loginUrl`: roots other than the cloud's, only as the config file's
    /// `[[daemon.api_endpoints]]` lists them.
    graph_url: Option<String>,
    /// See `graphUrl`.
    login_url: Option<String>,
    schedule: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    kinds: Vec<ObjectKind>,
    #[schema(value_type = Object)]
    retention: Option<RetentionConfig>,
}

/// Adds a tenant to the configuration; answers the admin-consent URL that onboards the
/// customer to the MSP's multi-tenant app.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = AddTenant, responses((status = 201, description = "added; body holds `tenant` and `adminConsentUrl`"), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn add_tenant(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiJson(body): ApiJson<AddTenant>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    admin_only(&key, "adding a tenant")?;
    dirvault_engine::config::check_tenant_name(&body.name).map_err(ApiError::bad_request)?;
    for (what, id) in [
        ("tenantId", body.tenant_id.as_str()),
        ("clientId", body.client_id.as_str()),
    ] {
        if !is_guid(id) {
            return Err(ApiError::bad_request(format!(
                "{what} {:?} is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
                id.chars().take(64).collect::<String>()
            )));
        }
    }
    if secrecy::ExposeSecret::expose_secret(&body.client_secret)
        .trim()
        .is_empty()
    {
        return Err(ApiError::bad_request("clientSecret is empty"));
    }
    if let Some(s) = &body.schedule {
        crate::schedule::Schedule::parse(s, &body.name).map_err(ApiError::bad_request)?;
    }
    if let Some(r) = &body.retention {
        r.policy().map_err(ApiError::bad_request)?;
    }
    match (&body.graph_url, &body.login_url) {
        (None, None) => {}
        (Some(g), Some(l)) => {
            if !app
                .config()
                .daemon
                .api_endpoints
                .iter()
                .any(|e| e.matches(g, l))
            {
                return Err(ApiError::bad_request(
                    "graphUrl and loginUrl: only the known clouds, or a pair the config file lists under [[daemon.api_endpoints]]",
                ));
            }
        }
        _ => {
            return Err(ApiError::bad_request("graphUrl and loginUrl go together"));
        }
    }
    let name = body.name.clone();
    let mut exists = false;
    let mut added = None;
    let config_path = app.config_path.clone();
    app.edit_config(|c| {
        if c.tenants.contains_key(&name) {
            exists = true;
            return Ok(());
        }
        // Sealed under the daemon's key, bound to this tenant id and client id.
        let key =
            dirvault_engine::sealed::SealingKey::load_or_create(&c.secrets_key_path(&config_path))?;
        let sealed = key.seal(&body.tenant_id, &body.client_id, &body.client_secret);
        let entry = TenantConfig {
            cloud: body.cloud,
            graph_url: body.graph_url.clone(),
            login_url: body.login_url.clone(),
            schedule: body.schedule.clone(),
            kinds: body.kinds.clone(),
            retention: body.retention.clone(),
            ..TenantConfig::new(
                body.tenant_id.clone(),
                body.client_id.clone(),
                SecretSource::Sealed { sealed },
            )
        };
        c.tenants.insert(name.clone(), entry.clone());
        added = Some(entry);
        Ok(())
    })
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "config_error",
            format!("{e:#}"),
        )
    })?;
    if exists {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("a tenant named {name:?} exists already: remove it first"),
        ));
    }
    let Some(entry) = added else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the tenant was not added",
        ));
    };
    let config = app.config();
    let consent = admin_consent_url(&config.daemon, &entry);
    let st = status(&app, &name, &entry).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"tenant": st, "adminConsentUrl": consent})),
    ))
}

/// docs/graph.md §8: `https://{login-host}/{tenant}/v2.0/adminconsent?client_id=…&scope=https://{graph-host}/.default&redirect_uri=…&state=…`.
fn admin_consent_url(
    daemon: &dirvault_engine::config::DaemonConfig,
    t: &TenantConfig,
) -> Option<String> {
    let client = daemon.consent_client_id.as_ref().unwrap_or(&t.client_id);
    let redirect = daemon.consent_redirect_uri.as_deref()?;
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, KEEP).to_string();
    Some(format!(
        "{}/{}/v2.0/adminconsent?client_id={}&scope={}&redirect_uri={}&state={}",
        t.login_url
            .as_deref()
            .unwrap_or(t.cloud.login_root())
            .trim_end_matches('/'),
        t.tenant_id,
        client,
        enc(&format!(
            "{}/.default",
            t.cloud.graph_root().trim_end_matches('/')
        )),
        enc(redirect),
        uuid::Uuid::new_v4()
    ))
}

/// Removes a tenant from the configuration (its snapshots stay in the repository).
#[utoipa::path(delete, path = "/v1/tenants/{name}", tag = "tenants", params(("name" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_tenant(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    admin_only(&key, "removing a tenant")?;
    tenant(&app, &key, &name)?;
    app.edit_config(|c| {
        c.tenants.remove(&name);
        Ok(())
    })
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "config_error",
            format!("{e:#}"),
        )
    })?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- jobs --------------------------------------------------------------------------------

/// Starts a backup now.
#[utoipa::path(post, path = "/v1/tenants/{name}/backups", tag = "backups", params(("name" = String, Path)), responses((status = 202, body = Job), (status = 409, body = ErrorBody)))]
async fn trigger_backup(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let t = tenant(&app, &key, &name)?;
    if app.is_shutting_down() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the daemon is shutting down",
        ));
    }
    match app.start_backup(&name, &t.tenant_id, "api", None) {
        Ok(job) => Ok((StatusCode::ACCEPTED, Json(job))),
        Err(active) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "a backup of {name} is queued or running already: job {}",
                active.id
            ),
        )),
    }
}

/// The jobs of this replica for the tenants this key may see, newest first.
#[utoipa::path(get, path = "/v1/jobs", tag = "backups", responses((status = 200, body = [Job])))]
async fn list_jobs(State(app): State<AppState>, Extension(key): Extension<Key>) -> Json<Vec<Job>> {
    Json(
        app.jobs
            .list()
            .into_iter()
            .filter(|j| key.allows(&j.tenant_id))
            .collect(),
    )
}

/// One job, with live progress (objects, requests, 429s) and, when finished, its report.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "backups", params(("id" = String, Path)), responses((status = 200, body = Job), (status = 404, body = ErrorBody)))]
async fn get_job(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Job>> {
    app.jobs
        .get(&id)
        .filter(|j| key.allows(&j.tenant_id))
        .map(Json)
        .ok_or_else(|| ApiError::not_found("job_not_found", format!("no job {id} on this replica")))
}

// ----- snapshots and browse ----------------------------------------------------------------

/// The tenant's snapshots, oldest first.
#[utoipa::path(get, path = "/v1/tenants/{name}/snapshots", tag = "snapshots", params(("name" = String, Path)), responses((status = 200, description = "snapshots"), (status = 404, body = ErrorBody)))]
async fn list_snapshots(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let t = tenant(&app, &key, &name)?;
    let list: Vec<Value> = app
        .repo
        .snapshots(&t.tenant_id)
        .await?
        .iter()
        .map(|s| {
            json!({"id": s.id, "time": s.time, "parent": s.parent,
                   "objects": s.kinds.values().map(|k| k.count).sum::<usize>(),
                   "relationships": s.relationship_count,
                   "kinds": s.kinds.iter().map(|(k, r)| (k.to_string(), json!({"status": r.status, "count": r.count}))).collect::<BTreeMap<_, _>>()})
        })
        .collect();
    Ok(Json(json!({"tenant": name, "snapshots": list})))
}

/// Objects query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct ObjectsQuery {
    /// Only objects whose name, id, UPN, appId or mail contains this.
    search: Option<String>,
    /// `name` (default), `id` or `modified` (most recently changed first).
    #[param(pattern = "^(name|id|modified)$")]
    sort: Option<String>,
    /// Objects deleted since the snapshot before.
    #[serde(default)]
    deleted: bool,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 4294967295_u64)]
    page: Option<u64>,
    /// Items per page (default 100, at most 1,000).
    #[param(minimum = 1, maximum = 1000)]
    page_size: Option<u64>,
}

/// A kind named in a query (`?kind=`, `?kinds=`): unknown is a bad request.
fn kind_of(s: &str) -> ApiResult<ObjectKind> {
    s.parse()
        .map_err(|e: dirvault_model::Error| ApiError::bad_request(e.to_string()))
}

/// A kind named in a path: no resource has an unknown kind (404).
fn path_kind(s: &str) -> ApiResult<ObjectKind> {
    s.parse()
        .map_err(|e: dirvault_model::Error| ApiError::not_found("not_found", e.to_string()))
}

/// An id named in a path: no object has an id that no Graph id looks like (404).
fn path_id(s: &str) -> ApiResult<ObjectId> {
    s.parse()
        .map_err(|e: dirvault_model::Error| ApiError::not_found("not_found", e.to_string()))
}

/// Objects of a kind at a snapshot (`latest`, an id, or a date-time): search, sort, page.
#[utoipa::path(get, path = "/v1/tenants/{name}/snapshots/{snapshot}/objects/{kind}", tag = "snapshots",
    params(("name" = String, Path), ("snapshot" = String, Path), ("kind" = String, Path), ObjectsQuery),
    responses((status = 200, description = "a page of objects"), (status = 404, body = ErrorBody)))]
async fn list_objects(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, snapshot, kind)): ApiPath<(String, String, String)>,
    ApiQuery(q): ApiQuery<ObjectsQuery>,
) -> ApiResult<Json<Value>> {
    let t = tenant(&app, &key, &name)?;
    let kind = path_kind(&kind)?;
    let snapshot = resolve_snapshot(&app.repo, &t.tenant_id, &snapshot).await?;
    let sort = match q.sort.as_deref() {
        None | Some("name") => SortBy::Name,
        Some("id") => SortBy::Id,
        Some("modified") => SortBy::Modified,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "sort {other:?}: use name, id or modified"
            )));
        }
    };
    let entries = browse::list(
        &app.repo,
        &snapshot,
        kind,
        &ListOptions {
            search: q.search,
            sort,
            deleted: q.deleted,
        },
    )
    .await?;
    let size = q.page_size.unwrap_or(100);
    let page = q.page.unwrap_or(1);
    if !(1..=1_000).contains(&size) || !(1..=u64::from(u32::MAX)).contains(&page) {
        return Err(ApiError::bad_request(
            "page is from 1 to 4294967295, pageSize from 1 to 1000",
        ));
    }
    let (size, page) = (
        usize::try_from(size).unwrap_or(1_000),
        usize::try_from(page).unwrap_or(usize::MAX),
    );
    let total = entries.len();
    let items: Vec<_> = entries
        .into_iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .collect();
    let status = snapshot.kinds.get(&kind).map(|k| k.status.clone());
    Ok(Json(
        json!({"snapshot": snapshot.id, "kind": kind, "status": status, "total": total, "page": page, "pageSize": size, "items": items}),
    ))
}

/// Which version.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct VersionQuery {
    /// `current` (default), `prev`, `next` or N (1 = the first backed up).
    #[param(pattern = "^(current|prev|previous|next|[1-9][0-9]{0,8})$")]
    version: Option<String>,
}

/// One object at a snapshot, with its attribute diff against its previous version, its
/// history (created, modified, deleted, restored) and its relationships' change log.
#[utoipa::path(get, path = "/v1/tenants/{name}/snapshots/{snapshot}/objects/{kind}/{id}", tag = "snapshots",
    params(("name" = String, Path), ("snapshot" = String, Path), ("kind" = String, Path), ("id" = String, Path), VersionQuery),
    responses((status = 200, description = "the object, its changes and its versions"), (status = 404, body = ErrorBody)))]
async fn get_object(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, snapshot, kind, id)): ApiPath<(String, String, String, String)>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<Json<Value>> {
    let t = tenant(&app, &key, &name)?;
    let (kind, id) = (path_kind(&kind)?, path_id(&id)?);
    let at = resolve_snapshot(&app.repo, &t.tenant_id, &snapshot).await?;
    let version = q.version.as_deref().unwrap_or("current");
    // As the document says: a keyword, or a number from 1 with no leading zero.
    let number = version.len() <= 9
        && !version.starts_with('0')
        && !version.is_empty()
        && version.bytes().all(|b| b.is_ascii_digit());
    if !number && !matches!(version, "current" | "prev" | "previous" | "next") {
        return Err(ApiError::bad_request(format!(
            "version {:?}: use current, prev, next or a version number (1 = the first)",
            version.chars().take(40).collect::<String>()
        )));
    }
    let which: VersionSelector = version.parse().map_err(ApiError::bad_request)?;
    let snapshot = browse::select_version(&app.repo, &at, kind, &id, which).await?;
    let view = browse::show(&app.repo, &snapshot, kind, &id).await?;
    let history = browse::history(&app.repo, &t.tenant_id, kind, &id).await?;
    let relationships = browse::relationship_history(&app.repo, &t.tenant_id, &id).await?;
    Ok(Json(
        json!({"view": view, "history": history, "relationships": relationships}),
    ))
}

/// Group and unit memberships, ownerships and manager of an object as of a snapshot.
#[utoipa::path(get, path = "/v1/tenants/{name}/snapshots/{snapshot}/memberships/{id}", tag = "snapshots",
    params(("name" = String, Path), ("snapshot" = String, Path), ("id" = String, Path)), responses((status = 200, description = "related objects")))]
async fn memberships(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, snapshot, id)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    related(&app, &key, (&name, &snapshot, &id), false).await
}

/// Directory roles (with scope, and PIM eligibility) of a principal as of a snapshot.
#[utoipa::path(get, path = "/v1/tenants/{name}/snapshots/{snapshot}/roles/{id}", tag = "snapshots",
    params(("name" = String, Path), ("snapshot" = String, Path), ("id" = String, Path)), responses((status = 200, description = "roles")))]
async fn roles(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, snapshot, id)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    related(&app, &key, (&name, &snapshot, &id), true).await
}

/// What a principal is related to as of a snapshot: its memberships and ownerships, or its
/// roles.
async fn related(
    app: &App,
    key: &Key,
    (name, snapshot, id): (&str, &str, &str),
    roles: bool,
) -> ApiResult<Json<Value>> {
    let snapshot = at_snapshot(app, key, name, snapshot).await?;
    let id = path_id(id)?;
    let related = if roles {
        browse::roles(&app.repo, &snapshot, &id).await?
    } else {
        browse::memberships(&app.repo, &snapshot, &id).await?
    };
    Ok(Json(json!({"snapshot": snapshot.id, "related": related})))
}

/// Authentication-method metadata of a user as of a snapshot.
#[utoipa::path(get, path = "/v1/tenants/{name}/snapshots/{snapshot}/auth-methods/{id}", tag = "snapshots",
    params(("name" = String, Path), ("snapshot" = String, Path), ("id" = String, Path)), responses((status = 200, description = "methods")))]
async fn auth_methods(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, snapshot, id)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let snapshot = at_snapshot(&app, &key, &name, &snapshot).await?;
    let methods = browse::auth_methods(&app.repo, &snapshot, &path_id(&id)?).await?;
    Ok(Json(json!({"snapshot": snapshot.id, "methods": methods})))
}

/// Diff query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct DiffQuery {
    /// The older snapshot (id, `latest` or a date-time).
    from: String,
    /// The newer snapshot, or `live`: the tenant as it is now.
    to: String,
    /// Only this kind.
    kind: Option<String>,
    /// Only deletions.
    #[serde(default)]
    deleted_only: bool,
    /// Leave out the kinds without changes (listed, empty, by default).
    #[serde(default)]
    only_changes: bool,
}

/// What was created, modified and deleted between two snapshots, or since a snapshot (`to=live`).
#[utoipa::path(get, path = "/v1/tenants/{name}/diff", tag = "snapshots", params(("name" = String, Path), DiffQuery), responses((status = 200, description = "changes by kind")))]
async fn diff(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> ApiResult<Json<Value>> {
    let t = tenant(&app, &key, &name)?;
    let filter = DiffFilter {
        kind: q.kind.as_deref().map(kind_of).transpose()?,
        deleted_only: q.deleted_only,
        only_changes: q.only_changes,
    };
    let client;
    let against = if q.to == "live" {
        client = app.client(&name)?;
        Against::Live(&client)
    } else {
        Against::Snapshot(&q.to)
    };
    let diff = app
        .vault
        .diff(&t.tenant_id, &q.from, against, &filter)
        .await?;
    Ok(Json(serde_json::to_value(diff).map_err(|e| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    })?))
}

/// Export query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct ExportQuery {
    /// Only these kinds (comma-separated).
    kinds: Option<String>,
    /// Only these objects (comma-separated ids).
    ids: Option<String>,
    /// Add `relationships/<kind>.json`.
    #[serde(default)]
    relationships: bool,
}

/// A zip of JSON (`<kind>/<id>.json`) for a snapshot, kinds or a selection, streamed.
#[utoipa::path(get, path = "/v1/tenants/{name}/snapshots/{snapshot}/export", tag = "snapshots",
    params(("name" = String, Path), ("snapshot" = String, Path), ExportQuery), responses((status = 200, content_type = "application/zip", description = "the zip")))]
async fn export(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, snapshot)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let snapshot = at_snapshot(&app, &key, &name, &snapshot).await?;
    let split = |s: &Option<String>| -> Vec<String> {
        s.as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let selection = dirvault_engine::Selection {
        kinds: split(&q.kinds)
            .iter()
            .map(|k| kind_of(k))
            .collect::<ApiResult<_>>()?,
        // An id no Graph id looks like names no object: it selects nothing (and `ids` that
        // name nothing export nothing, never everything).
        ids: q.ids.as_ref().map(|_| {
            split(&q.ids)
                .iter()
                .filter_map(|i| i.parse::<ObjectId>().ok())
                .collect()
        }),
    };
    let dir = tempfile::tempdir()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let path = dir.path().join("export.zip");
    dirvault_engine::export_selection(
        &app.repo,
        &snapshot,
        &path,
        true,
        q.relationships,
        &selection,
    )
    .await?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    // The open file streams out; the directory goes when the stream ends.
    let stream = futures::StreamExt::map(tokio_util::io::ReaderStream::new(file), move |chunk| {
        let _keep = &dir;
        chunk
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}-{}.zip\"", snapshot.id),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

// ----- restore -----------------------------------------------------------------------------

/// A restore to plan: the CLI's options, the snapshot, and optionally another tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CreatePlan {
    /// Snapshot id, `latest` (default) or a date-time.
    snapshot: Option<String>,
    /// Restore into another configured tenant (needs `domain` in the options).
    to_tenant: Option<String>,
    /// kind, ids, all, withObject, asNew, blockSignIn, withMemberships, withRoleAssignments,
    /// withAuthMethods, domain, onlyDeleted, rollbackRelationships (docs/restore.md).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    options: RestoreOptions,
}

/// Plans a restore (nothing is written to the tenant); the plan is kept for `apply`.
#[utoipa::path(post, path = "/v1/tenants/{name}/restore-plans", tag = "restore", params(("name" = String, Path)), request_body = CreatePlan,
    responses((status = 201, description = "the plan (docs/restore.md); `target` names where it writes"), (status = 400, body = ErrorBody)))]
async fn create_plan(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<CreatePlan>,
) -> ApiResult<(StatusCode, Json<RestorePlan>)> {
    let source = tenant(&app, &key, &name)?;
    let target_name = body.to_tenant.clone().unwrap_or_else(|| name.clone());
    // The key must reach the target too.
    tenant(&app, &key, &target_name)?;
    let client = app.client(&target_name)?;
    let request = RestoreRequest {
        source: &source.tenant_id,
        snapshot: body.snapshot.as_deref().unwrap_or("latest"),
        options: &body.options,
        target: &client,
    };
    Ok((
        StatusCode::CREATED,
        Json(app.vault.plan_restore(&request).await?),
    ))
}

async fn load_plan(app: &App, target: &TenantConfig, id: &str) -> ApiResult<RestorePlan> {
    app.vault
        .stored_plan(&target.tenant_id, id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "plan_not_found",
                format!(
                    "no restore plan {:?} for this tenant",
                    id.chars().take(64).collect::<String>()
                ),
            )
        })
}

/// A plan, as created.
#[utoipa::path(get, path = "/v1/tenants/{name}/restore-plans/{id}", tag = "restore", params(("name" = String, Path, description = "the plan's target tenant"), ("id" = String, Path)),
    responses((status = 200, description = "the plan"), (status = 404, body = ErrorBody)))]
async fn get_plan(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<RestorePlan>> {
    let target = tenant(&app, &key, &name)?;
    Ok(Json(load_plan(&app, &target, &id).await?))
}

/// How to apply a plan.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", default)]
struct ApplyPlan {
    /// The password re-created users get (they must change it at next sign-in). Never
    /// stored or logged.
    default_password: Option<String>,
}

impl std::fmt::Debug for ApplyPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyPlan")
            .field(
                "default_password",
                &self.default_password.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Applies a plan as a job; `GET /v1/jobs/{id}` gives its report. Re-applying an interrupted
/// plan finishes it.
#[utoipa::path(post, path = "/v1/tenants/{name}/restore-plans/{id}/apply", tag = "restore", params(("name" = String, Path, description = "the plan's target tenant"), ("id" = String, Path)),
    request_body = ApplyPlan, responses((status = 202, body = Job), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn apply_plan(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, id)): ApiPath<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let target = tenant(&app, &key, &name)?;
    let plan = load_plan(&app, &target, &id).await?;
    // The body is optional (`{}` or nothing when no password is needed).
    let body: ApplyPlan = if body.iter().all(u8::is_ascii_whitespace) {
        ApplyPlan::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "the request body is not what this endpoint takes: {e}"
            ))
        })?
    };
    if app.is_shutting_down() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the daemon is shutting down",
        ));
    }
    let options = ApplyOptions {
        default_password: body.default_password.map(Into::into),
        ..ApplyOptions::default()
    };
    // Checked before the job starts: a plan that cannot be applied is a bad request.
    dirvault_restore::ready_to_apply(&plan, &target.tenant_id, &options).map_err(|e| match e {
        dirvault_restore::Error::PasswordRequired { .. } => {
            ApiError::bad_request(format!("{e}: send {{\"defaultPassword\": \"…\"}}"))
        }
        other => other.into(),
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(app.start_restore(&name, &target.tenant_id, plan, options)),
    ))
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
        .with_state(app)
}

/// The OpenAPI document (`dirvaultd openapi`; checked into docs/openapi.json).
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = routes().split_for_parts().1;
    crate::openapi::document_errors(&mut doc);
    doc
}
