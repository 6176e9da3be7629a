//! Operations: liveness, readiness, metrics, configuration reload.

use super::*;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "alive")))]
pub(super) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the repository answers and the daemon is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, description = "ready"), (status = 503, body = ErrorBody)))]
pub(super) async fn readyz(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    if app.is_shutting_down() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the daemon is shutting down",
        ));
    }
    app.repo.tenants().await.map_err(|e| {
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
pub(super) async fn metrics(
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
pub(super) async fn reload(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
) -> ApiResult<StatusCode> {
    admin_only(&key, "reloading the configuration")?;
    app.reload()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "config_error", format!("{e:#}")))?;
    Ok(StatusCode::NO_CONTENT)
}
