//! Alerts on risky changes between snapshots (docs/alerts.md): the library's evaluation, the
//! same as `dirvault alerts` and the console's alerts page.

use super::*;

/// Which snapshots' alerts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AlertsQuery {
    /// Every snapshot taken at or after this RFC 3339 date-time, each against the one before
    /// it; the latest snapshot only when absent.
    #[param(format = DateTime)]
    pub(crate) since: Option<String>,
}

/// The alerts the tenant's snapshots raised, oldest first.
#[utoipa::path(get, path = "/v1/tenants/{name}/alerts", tag = "snapshots",
    params(("name" = String, Path), AlertsQuery),
    responses((status = 200, description = "alerts, oldest first"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn list_alerts(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<AlertsQuery>,
) -> ApiResult<Json<Value>> {
    let alerts = alerts_of(&app, &key, &name, q.since.as_deref()).await?;
    Ok(Json(json!({ "alerts": alerts })))
}

/// The alerts of tenant `name` (with its configured settings) since `since`.
pub(crate) async fn alerts_of(
    app: &App,
    key: &Key,
    name: &str,
    since: Option<&str>,
) -> ApiResult<Vec<dirvault_engine::alerts::Alert>> {
    let t = tenant(app, key, name)?;
    let since = since
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::bad_request(format!(
                        "since {:?}: give an RFC 3339 date-time, e.g. 2026-12-01T00:00:00Z",
                        s.chars().take(40).collect::<String>()
                    ))
                })
        })
        .transpose()?;
    Ok(app.vault.alerts(&t.tenant_id, since, &t.alerts).await?)
}

#[cfg(test)]
mod tests {
    /// What an OpenAPI `date-time` may be (RFC 3339 §5.6): every form is taken.
    #[test]
    fn every_rfc_3339_form_is_taken() {
        for s in [
            "2026-12-01T00:00:00Z",
            "2026-12-01t00:00:00z",
            "2000-02-29T23:59:60+14:00",
            "0000-01-01T00:00:00.123456789-00:00",
            "9999-12-31T23:59:59.5-23:59",
        ] {
            assert!(chrono::DateTime::parse_from_rfc3339(s).is_ok(), "{s}");
        }
    }
}
