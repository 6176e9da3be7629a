//! The tenants page (last backup, next run, "back up now") and onboarding a tenant (the
//! admin-consent link to send the customer).

use axum::extract::Path;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{api_error, badge, csrf_field, enc, page, time};
use super::*;
use crate::api::ApiError;
use crate::api::tenants::{AddTenant, TenantStatus};

/// How the last snapshot ended: `partial` when a kind failed (it kept the previous data).
fn outcome(last: &Value) -> &'static str {
    let failed = last["kinds"]
        .as_object()
        .is_some_and(|kinds| kinds.values().any(|k| k["status"]["status"] == "failed"));
    if failed { "partial" } else { "complete" }
}

fn objects(last: &Value) -> u64 {
    last["kinds"]
        .as_object()
        .map(|kinds| kinds.values().filter_map(|k| k["count"].as_u64()).sum())
        .unwrap_or(0)
}

fn row(v: &Visitor, t: &TenantStatus) -> Markup {
    let href = format!("/console/tenants/{}", enc(&t.name));
    html! {
        tr {
            td { a href=(href) { (t.name) } }
            td.mono { (t.tenant_id) }
            td {
                @match &t.last_snapshot {
                    Some(last) => {
                        @if let Some(when) = last["time"].as_str().and_then(|s| s.parse::<chrono::DateTime<chrono::Utc>>().ok()) {
                            (time(&when)) " "
                        }
                        (badge(outcome(last)))
                    }
                    None => span.muted { "never" },
                }
                @if t.consecutive_failures > 0 {
                    " " (badge("failed"))
                    @if let Some(e) = &t.last_error { div.error { (e) } }
                }
            }
            td.num { @if let Some(last) = &t.last_snapshot { (objects(last)) } }
            td {
                @if let Some(next) = &t.next_run { (time(next)) } @else { span.muted { "none" } }
                div.muted { (t.schedule) }
            }
            td {
                @if let Some(job) = &t.running_job {
                    a href=(format!("/console/jobs/{}", enc(job))) { "Backup running: progress" }
                } @else {
                    form.inline method="post" action=(format!("{href}/backup")) {
                        (csrf_field(v))
                        button type="submit" aria-label=(format!("Back up {} now", t.name)) { "Back up now" }
                    }
                }
            }
        }
    }
}

/// Every tenant the key may see.
pub(super) async fn list(State(c): ConsoleState, Extension(v): Extension<Visitor>) -> Response {
    let statuses = match crate::api::tenants::statuses(&c.app, &v.key).await {
        Ok(s) => s,
        Err(e) => return api_error(&v, &e),
    };
    page(
        "Tenants",
        Some(&v),
        &[],
        html! {
            @if v.key.is_admin() {
                p { a href="/console/tenants/new" { "Add a tenant" } }
            }
            @if statuses.is_empty() {
                p.muted { "No tenant for this key." }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { "Tenant" } th scope="col" { "Tenant id" }
                        th scope="col" { "Last backup" } th.num scope="col" { "Objects" }
                        th scope="col" { "Next run" } th scope="col" { "Back up" }
                    } }
                    tbody { @for t in &statuses { (row(&v, t)) } }
                }
            }
        },
    )
    .into_response()
}

/// Starts a backup now and shows its progress (or the one already running).
pub(super) async fn back_up_now(
    State(c): ConsoleState,
    Extension(v): Extension<Visitor>,
    Path(name): Path<String>,
) -> Response {
    if let Ok(t) = crate::api::tenant(&c.app, &v.key, &name)
        && let Some(active) = c.app.jobs.active(&name, crate::jobs::JobKind::Backup)
        && v.key.allows(&t.tenant_id)
    {
        return Redirect::to(&format!("/console/jobs/{}", enc(&active.id))).into_response();
    }
    match crate::api::jobs::backup_now(&c.app, &v.key, &name) {
        Ok(job) => Redirect::to(&format!("/console/jobs/{}", enc(&job.id))).into_response(),
        Err(e) => api_error(&v, &e),
    }
}

/// The onboarding form (keys for every tenant only).
pub(super) async fn new_form(State(c): ConsoleState, Extension(v): Extension<Visitor>) -> Response {
    if let Err(e) = crate::api::admin_only(&v.key, "adding a tenant") {
        return api_error(&v, &e);
    }
    let default_schedule = c.app.config().sections.daemon.default_schedule.clone();
    page(
        "Add a tenant",
        Some(&v),
        &[("Tenants", "/console/tenants".into())],
        html! {
            form.stack method="post" action="/console/tenants" {
                (csrf_field(&v))
                label { "Name (letters, digits, - _ .)" input name="name" required pattern="[A-Za-z0-9_\\-][A-Za-z0-9._\\-]{0,63}"; }
                label { "Tenant id" input name="tenant_id" required placeholder="xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"; }
                label { "Client id of the app" input name="client_id" required placeholder="xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"; }
                label { "Client secret (write-only: sealed at rest, never shown again)" input type="password" name="client_secret" required autocomplete="new-password"; }
                label { "Schedule (empty: " (default_schedule) ")" input name="schedule" placeholder=(default_schedule); }
                button type="submit" { "Add the tenant" }
            }
        },
    )
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct NewTenant {
    name: String,
    tenant_id: String,
    client_id: String,
    client_secret: String,
    #[serde(default)]
    schedule: String,
}

/// Adds the tenant, then shows the admin-consent link to send the customer.
pub(super) async fn add(
    State(c): ConsoleState,
    Extension(v): Extension<Visitor>,
    PageForm(form): PageForm<NewTenant>,
) -> Response {
    let parsed = (|| {
        Ok::<_, ApiError>(AddTenant {
            name: form.name.trim().to_owned(),
            tenant_id: form
                .tenant_id
                .trim()
                .parse()
                .map_err(|e: dirvault_model::Error| ApiError::bad_request(e.to_string()))?,
            client_id: form
                .client_id
                .trim()
                .parse()
                .map_err(|e: dirvault_model::Error| ApiError::bad_request(e.to_string()))?,
            client_secret: form.client_secret.into(),
            cloud: dirvault_model::Cloud::default(),
            graph_url: None,
            login_url: None,
            schedule: Some(form.schedule.trim().to_owned()).filter(|s| !s.is_empty()),
            kinds: Vec::new(),
            retention: None,
        })
    })();
    let added = match parsed {
        Ok(body) => crate::api::tenants::add(&c.app, &v.key, body).await,
        Err(e) => Err(e),
    };
    let (status, consent) = match added {
        Ok(a) => a,
        Err(e) => return api_error(&v, &e),
    };
    let href = format!("/console/tenants/{}", enc(&status.name));
    page(
        &format!("Tenant {} added", status.name),
        Some(&v),
        &[("Tenants", "/console/tenants".into())],
        html! {
            @match &consent {
                Some(url) => {
                    p { "Send this link to the customer's Global Administrator: signing in and accepting it grants the app its permissions in their tenant." }
                    p.consent.mono { a href=(url) rel="noreferrer" { (url) } }
                }
                None => p.muted { "No admin-consent link: set [daemon] consent_redirect_uri in the configuration (docs/daemon.md)." },
            }
            p { "Schedule: " (status.schedule) }
            form.inline method="post" action=(format!("{href}/backup")) {
                (csrf_field(&v))
                button type="submit" { "Back up now" }
            }
            " "
            a href=(href) { "Snapshots" }
        },
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_with_a_failed_kind_is_partial() {
        let last = serde_json::json!({"kinds": {
            "users": {"status": {"status": "complete"}, "count": 3},
            "groups": {"status": {"status": "failed", "reason": "403"}, "count": 2}}});
        assert_eq!(outcome(&last), "partial");
        assert_eq!(objects(&last), 5);
        let ok =
            serde_json::json!({"kinds": {"users": {"status": {"status": "complete"}, "count": 3}}});
        assert_eq!(outcome(&ok), "complete");
    }
}
