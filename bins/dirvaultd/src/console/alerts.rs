//! The alerts page: the risky changes the tenant's snapshots brought (docs/alerts.md), each
//! with its object and the restore dialog that puts the object back as it was.

use axum::extract::{Path, Query};
use maud::html;
use serde::Deserialize;

use super::layout::{api_error, enc, kind_label, page};
use super::*;

#[derive(Debug, Deserialize)]
pub(super) struct AlertsQuery {
    /// A date (`YYYY-MM-DD`, from the date picker): every snapshot from that day on.
    #[serde(default)]
    since: String,
}

pub(super) async fn list(
    State(c): ConsoleState,
    Extension(v): Extension<Visitor>,
    Path(name): Path<String>,
    Query(q): Query<AlertsQuery>,
) -> Response {
    // The date picker gives a day; the API takes a date-time.
    let since = (!q.since.is_empty()).then(|| format!("{}T00:00:00Z", q.since));
    let alerts = match crate::api::alerts::alerts_of(&c.app, &v.key, &name, since.as_deref()).await
    {
        Ok(a) => a,
        Err(e) => return api_error(&v, &e),
    };
    let base = format!("/console/tenants/{}", enc(&name));
    page(
        &format!("{name}: alerts"),
        Some(&v),
        &[("Tenants", "/console/tenants".into()), ("Snapshots", base.clone())],
        html! {
            form.bar method="get" action=(format!("{base}/alerts")) {
                label { "Since" input type="date" name="since" value=(q.since); }
                button type="submit" { "Show" }
            }
            p.muted {
                @if since.is_none() { "What the latest snapshot brought. " }
                (alerts.len()) " alert(s). Rules and settings: docs/alerts.md."
            }
            @if !alerts.is_empty() {
                table {
                    thead { tr {
                        th scope="col" { "Snapshot" } th scope="col" { "Rule" } th scope="col" { "Object" }
                        th scope="col" { "What happened" } th scope="col" { "Undo" }
                    } }
                    tbody {
                        @for a in &alerts {
                            @let id = a.id.as_ref().map(ToString::to_string);
                            // A deleted object is shown where it last was.
                            @let at = if a.after.is_none() && a.before.is_some() { a.from.to_string() } else { a.to.to_string() };
                            tr {
                                td.mono { (a.to) }
                                td { span class="badge bad" { (a.rule) } }
                                td {
                                    (kind_label(a.kind))
                                    @if let Some(id) = &id {
                                        br;
                                        a href=(format!("{base}/objects/{}/{}/{}", enc(&at), a.kind, enc(id))) {
                                            (a.name.as_deref().unwrap_or(id))
                                        }
                                    }
                                }
                                td { (a.summary) }
                                td {
                                    @if let (Some(id), Some(_)) = (&id, &a.before) {
                                        a href=(format!("{base}/restore?snapshot={}&kind={}&ids={}", enc(a.from.as_ref()), a.kind, enc(id))) {
                                            "Restore as it was"
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}
