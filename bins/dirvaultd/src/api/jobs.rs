//! Jobs: backups started on demand, and every job's progress and report.

use super::*;

/// Starts a backup now.
#[utoipa::path(post, path = "/v1/tenants/{name}/backups", tag = "backups", params(("name" = String, Path)), responses((status = 202, body = Job), (status = 409, body = ErrorBody)))]
pub(super) async fn trigger_backup(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    Ok((StatusCode::ACCEPTED, Json(backup_now(&app, &key, &name)?)))
}

/// Starts a backup of tenant `name` now (`trigger`: who asked).
pub(crate) fn backup_now(app: &Arc<App>, key: &Key, name: &str) -> ApiResult<Job> {
    let t = tenant(app, key, name)?;
    if app.is_shutting_down() {
        return Err(ApiError::shutting_down());
    }
    match app.start_backup(name, &t.tenant_id, "api", None) {
        Ok(job) => Ok(job),
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
pub(super) async fn list_jobs(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
) -> Json<Vec<Job>> {
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
pub(super) async fn get_job(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Job>> {
    job(&app, &key, &id).map(Json)
}

/// Job `id`, if this key may see its tenant.
pub(crate) fn job(app: &App, key: &Key, id: &str) -> ApiResult<Job> {
    app.jobs
        .get(id)
        .filter(|j| key.allows(&j.tenant_id))
        .ok_or_else(|| {
            ApiError::not_found(
                "job_not_found",
                format!(
                    "no job {:?} on this replica",
                    id.chars().take(64).collect::<String>()
                ),
            )
        })
}
