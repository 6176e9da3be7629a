//! Restore: plans made (nothing written), read back, and applied as jobs.

use super::*;

/// A restore to plan: the CLI's options, the snapshot, and optionally another tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatePlan {
    /// Snapshot id, `latest` (default) or a date-time.
    pub(crate) snapshot: Option<String>,
    /// Restore into another configured tenant (needs `domain` in the options).
    pub(crate) to_tenant: Option<String>,
    /// kind, ids, all, withObject, asNew, blockSignIn, withMemberships, withRoleAssignments,
    /// withAuthMethods, domain, onlyDeleted, rollbackRelationships (docs/restore.md).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub(crate) options: RestoreOptions,
}

/// Plans a restore (nothing is written to the tenant); the plan is kept for `apply`.
#[utoipa::path(post, path = "/v1/tenants/{name}/restore-plans", tag = "restore", params(("name" = String, Path)), request_body = CreatePlan,
    responses((status = 201, description = "the plan (docs/restore.md); `target` names where it writes"), (status = 400, body = ErrorBody)))]
pub(super) async fn create_plan(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<CreatePlan>,
) -> ApiResult<(StatusCode, Json<RestorePlan>)> {
    Ok((
        StatusCode::CREATED,
        Json(plan(&app, &key, &name, body).await?),
    ))
}

/// Plans a restore from tenant `name`'s snapshot (into it, or `to_tenant`) and keeps the plan.
pub(crate) async fn plan(
    app: &App,
    key: &Key,
    name: &str,
    body: CreatePlan,
) -> ApiResult<RestorePlan> {
    let source = tenant(app, key, name)?;
    let target_name = body.to_tenant.clone().unwrap_or_else(|| name.to_owned());
    // The key must reach the target too.
    tenant(app, key, &target_name)?;
    let client = app.client(&target_name)?;
    let request = RestoreRequest {
        source: &source.tenant_id,
        snapshot: body.snapshot.as_deref().unwrap_or("latest"),
        options: &body.options,
        target: &client,
    };
    Ok(app.vault.plan_restore(&request).await?)
}

pub(crate) async fn load_plan(
    app: &App,
    target: &TenantConfig,
    id: &str,
) -> ApiResult<RestorePlan> {
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
pub(super) async fn get_plan(
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
pub(super) struct ApplyPlan {
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
pub(super) async fn apply_plan(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, id)): ApiPath<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Job>)> {
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
    let job = apply(&app, &key, (&name, &id), body.default_password).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// Starts applying plan `id` to its target tenant `name` as a job.
pub(crate) async fn apply(
    app: &Arc<App>,
    key: &Key,
    (name, id): (&str, &str),
    default_password: Option<String>,
) -> ApiResult<Job> {
    let target = tenant(app, key, name)?;
    let plan = load_plan(app, &target, id).await?;
    if app.is_shutting_down() {
        return Err(ApiError::shutting_down());
    }
    let options = ApplyOptions {
        default_password: default_password.map(Into::into),
        ..ApplyOptions::default()
    };
    // Checked before the job starts: a plan that cannot be applied is a bad request.
    dirvault_restore::ready_to_apply(&plan, &target.tenant_id, &options).map_err(|e| match e {
        dirvault_restore::Error::PasswordRequired { .. } => {
            ApiError::bad_request(format!("{e}: send {{\"defaultPassword\": \"…\"}}"))
        }
        other => other.into(),
    })?;
    Ok(app.start_restore(name, &target.tenant_id, plan, options))
}
