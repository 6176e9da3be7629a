//! Tenants: their backup health, and adding (with the admin-consent URL) and removing them.

use super::*;

/// A tenant and its backup health.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TenantStatus {
    pub(crate) name: String,
    #[schema(value_type = String)]
    pub(crate) tenant_id: TenantId,
    pub(crate) schedule: String,
    pub(crate) next_run: Option<DateTime<Utc>>,
    /// The latest snapshot: id, time, and each kind's status.
    #[schema(value_type = Option<Object>)]
    pub(crate) last_snapshot: Option<Value>,
    /// A backup job of this replica, queued or running.
    pub(crate) running_job: Option<String>,
    pub(crate) consecutive_failures: u32,
    pub(crate) last_error: Option<String>,
}

pub(crate) async fn status(
    app: &App,
    name: &str,
    tenant: &TenantConfig,
) -> ApiResult<TenantStatus> {
    let config = app.config();
    let schedule = tenant
        .schedule
        .clone()
        .unwrap_or_else(|| config.sections.daemon.default_schedule.clone());
    let latest = app.repo.snapshot_at(&tenant.tenant_id, None).await?;
    let last = latest.map(|s| {
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
pub(super) async fn list_tenants(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
) -> ApiResult<Json<Vec<TenantStatus>>> {
    Ok(Json(statuses(&app, &key).await?))
}

/// The tenants `key` may see, with their backup health, by name.
pub(crate) async fn statuses(app: &App, key: &Key) -> ApiResult<Vec<TenantStatus>> {
    let mut out = Vec::new();
    for (name, t) in &app.config().tenants {
        if key.allows(&t.tenant_id) {
            out.push(status(app, name, t).await?);
        }
    }
    Ok(out)
}

/// One tenant's status: last backup, next run, per-kind health.
#[utoipa::path(get, path = "/v1/tenants/{name}", tag = "tenants", params(("name" = String, Path)), responses((status = 200, body = TenantStatus), (status = 404, body = ErrorBody)))]
pub(super) async fn get_tenant(
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
pub(crate) struct AddTenant {
    /// 1 to 64 letters, digits, `-`, `_` or `.` (not first).
    #[schema(pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")]
    pub(crate) name: String,
    /// The tenant's id (a GUID): what scoped API keys name.
    #[schema(value_type = String, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub(crate) tenant_id: TenantId,
    /// The app's client id (a GUID).
    #[schema(value_type = String, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub(crate) client_id: dirvault_model::ClientId,
    /// The app's client secret (write-only: sealed at rest, never returned or logged).
    #[schema(value_type = String, write_only, pattern = "\\S")]
    pub(crate) client_secret: secrecy::SecretString,
    /// `global` (default), `usgov`, `usgov-dod` or `china`.
    #[serde(default)]
    #[schema(value_type = String)]
    pub(crate) cloud: Cloud,
    /// With `loginUrl`: roots other than the cloud's, only as the config file's
    /// `[[daemon.api_endpoints]]` lists them.
    pub(crate) graph_url: Option<String>,
    /// See `graphUrl`.
    pub(crate) login_url: Option<String>,
    pub(crate) schedule: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub(crate) kinds: Vec<ObjectKind>,
    #[schema(value_type = Object)]
    pub(crate) retention: Option<RetentionConfig>,
}

/// Adds a tenant to the configuration; answers the admin-consent URL that onboards the
/// customer to the MSP's multi-tenant app.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = AddTenant, responses((status = 201, description = "added; body holds `tenant` and `adminConsentUrl`"), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn add_tenant(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiJson(body): ApiJson<AddTenant>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (st, consent) = add(&app, &key, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"tenant": st, "adminConsentUrl": consent})),
    ))
}

/// Adds a tenant (admin keys only): its status, and the admin-consent URL to send the
/// customer when the configuration names a redirect URI.
pub(crate) async fn add(
    app: &App,
    key: &Key,
    body: AddTenant,
) -> ApiResult<(TenantStatus, Option<String>)> {
    admin_only(key, "adding a tenant")?;
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
                .sections
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
        let key = dirvault_engine::sealed::SealingKey::load_or_create(
            &crate::config::secrets_key_path(c, &config_path),
        )?;
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
    .map_err(config_not_written)?;
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
    let consent = admin_consent_url(&config.sections.daemon, &entry);
    let st = status(app, &name, &entry).await?;
    Ok((st, consent))
}

/// The configuration file could not be read back or written: the daemon's fault, not the
/// request's.
fn config_not_written(e: anyhow::Error) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "config_error",
        format!("{e:#}"),
    )
}

/// docs/graph.md §8: `https://{login-host}/{tenant}/v2.0/adminconsent?client_id=…&scope=https://{graph-host}/.default&redirect_uri=…&state=…`.
pub(super) fn admin_consent_url(
    daemon: &crate::config::DaemonConfig,
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
pub(super) async fn delete_tenant(
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
    .map_err(config_not_written)?;
    Ok(StatusCode::NO_CONTENT)
}
