//! The restore dialog (every option of the planner), the plan for review, applying it as a
//! job, and the jobs log: every backup and restore of this replica with its live progress and,
//! for restores, every step's result (done, skipped, failed with Graph's code and request id).

use axum::extract::{Path, Query};
use dirvault_restore::{Outcome, RestoreOptions, RestorePlan, RestoreReport};
use maud::{Markup, html};

use super::layout::{api_error, badge, csrf_field, enc, kind_label, live_page, page, time};
use super::*;
use crate::api::ApiError;
use crate::api::restore::CreatePlan;
use crate::jobs::{Job, JobKind, JobState};

/// A form's or query's fields, in order (checkboxes and selections repeat a name).
type Fields = Vec<(String, String)>;

fn first<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

fn every<'a>(fields: &'a Fields, name: &str) -> Vec<&'a str> {
    fields
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The planner's switches, each a checkbox of the dialog: (field, label, checked at first).
const SWITCHES: [(&str, &str, bool); 7] = [
    (
        "with_object",
        "The object itself (from the recycle bin with the same id, re-created, or its changed properties put back)",
        true,
    ),
    (
        "with_memberships",
        "Memberships, ownerships and manager",
        true,
    ),
    (
        "with_role_assignments",
        "Role assignments (also PIM eligibility and app role assignments)",
        false,
    ),
    (
        "with_auth_methods",
        "Authentication methods (phone and email)",
        false,
    ),
    ("block_sign_in", "Block sign-in of restored users", false),
    (
        "only_deleted",
        "Only objects that are deleted in the tenant now",
        false,
    ),
    (
        "rollback_relationships",
        "Also remove relationships that were not in the snapshot",
        false,
    ),
];

/// The restore dialog for a selection (`ids`, `kind`) or a whole snapshot.
pub(super) async fn dialog(
    State(c): ConsoleState,
    Extension(v): Extension<Visitor>,
    Path(name): Path<String>,
    Query(q): Query<Fields>,
) -> Response {
    if let Err(e) = crate::api::tenant(&c.app, &v.key, &name) {
        return api_error(&v, &e);
    }
    let snapshot = first(&q, "snapshot").unwrap_or("latest");
    let kind = first(&q, "kind");
    let ids = every(&q, "ids");
    let targets: Vec<String> = c
        .app
        .config()
        .tenants
        .iter()
        .filter(|(_, t)| v.key.allows(&t.tenant_id))
        .map(|(n, _)| n.clone())
        .collect();
    let base = format!("/console/tenants/{}", enc(&name));
    page(
        &format!("{name}: restore"),
        Some(&v),
        &[("Tenants", "/console/tenants".into()), ("Snapshots", base.clone())],
        html! {
            p {
                "From snapshot " span.mono { (snapshot) }
                @if let Some(k) = kind { ": " (kind_label(k.parse().unwrap_or(dirvault_model::ObjectKind::Users))) }
                @if ids.is_empty() { " (every object" @if kind.is_some() { " of this kind" } ")" }
                @else { ", " (ids.len()) " selected object(s)" }
            }
            form.stack method="post" action=(format!("{base}/restore")) {
                (csrf_field(&v))
                input type="hidden" name="snapshot" value=(snapshot);
                @if let Some(k) = kind { input type="hidden" name="kind" value=(k); }
                @for id in &ids { input type="hidden" name="ids" value=(id); }
                @if ids.is_empty() { input type="hidden" name="all" value="on"; }
                fieldset {
                    legend { "What to restore" }
                    @for (field, label, checked) in SWITCHES {
                        label.check { input type="checkbox" name=(field) checked[checked]; (label) }
                    }
                }
                @if ids.len() == 1 {
                    label { "As a new object with this name (a user's UPN, a group's or app's name): leave empty to restore in place"
                        input name="as_new"; }
                }
                fieldset {
                    legend { "Where" }
                    label { "Into tenant"
                        select name="to_tenant" {
                            @for t in &targets { option value=(t) selected[*t == name] { (t) } }
                        }
                    }
                    label { "Domain of the other tenant (for a restore into another tenant: UPNs and addresses move to it)"
                        input name="domain" placeholder="contoso.onmicrosoft.com"; }
                }
                button type="submit" { "Plan the restore (nothing is written yet)" }
            }
        },
    )
    .into_response()
}

/// Makes the plan from the dialog's form and shows it for review.
pub(super) async fn plan(
    State(c): ConsoleState,
    Extension(v): Extension<Visitor>,
    Path(name): Path<String>,
    PageForm(form): PageForm<Fields>,
) -> Response {
    let on = |field: &str| first(&form, field).is_some();
    let kind = match first(&form, "kind").map(str::parse).transpose() {
        Ok(k) => k,
        Err(e) => {
            let e: dirvault_model::Error = e;
            return api_error(&v, &ApiError::bad_request(e.to_string()));
        }
    };
    let to_tenant = first(&form, "to_tenant")
        .filter(|t| *t != name)
        .map(str::to_owned);
    let body = CreatePlan {
        snapshot: first(&form, "snapshot").map(str::to_owned),
        to_tenant: to_tenant.clone(),
        options: RestoreOptions {
            kind,
            ids: every(&form, "ids").into_iter().map(str::to_owned).collect(),
            all: on("all"),
            with_object: on("with_object"),
            as_new: first(&form, "as_new").map(str::to_owned),
            block_sign_in: on("block_sign_in"),
            with_memberships: on("with_memberships"),
            with_role_assignments: on("with_role_assignments"),
            with_auth_methods: on("with_auth_methods"),
            domain: first(&form, "domain").map(str::to_owned),
            only_deleted: on("only_deleted"),
            rollback_relationships: on("rollback_relationships"),
        },
    };
    match crate::api::restore::plan(&c.app, &v.key, &name, body).await {
        Ok(plan) => {
            let target = to_tenant.unwrap_or(name);
            Redirect::to(&format!(
                "/console/tenants/{}/plans/{}",
                enc(&target),
                enc(&plan.id)
            ))
            .into_response()
        }
        Err(e) => api_error(&v, &e),
    }
}

fn object_ref(o: &dirvault_restore::ObjectRef) -> Markup {
    html! { (o.name.as_deref().unwrap_or("")) " " span.muted { (kind_label(o.kind)) " " span.mono { (o.id) } } }
}

fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The plan: what will be restored, created, changed, skipped and why; and the apply form.
pub(super) async fn show_plan(
    State(c): ConsoleState,
    Extension(v): Extension<Visitor>,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let plan = async {
        let target = crate::api::tenant(&c.app, &v.key, &name)?;
        crate::api::restore::load_plan(&c.app, &target, &id).await
    }
    .await;
    let plan = match plan {
        Ok(p) => p,
        Err(e) => return api_error(&v, &e),
    };
    let s = plan.summary();
    let base = format!("/console/tenants/{}", enc(&name));
    page(
        "Restore plan",
        Some(&v),
        &[("Tenants", "/console/tenants".into()), ("Snapshots", base.clone())],
        html! {
            p { "Plan " span.mono { (plan.id) } " from the snapshot of " (time(&plan.source.time)) " into " strong { (name) }
                @if plan.cross_tenant { " (another tenant)" } }
            table {
                thead { tr { th.num scope="col" { "Restored" } th.num scope="col" { "Created" } th.num scope="col" { "Updated" } th.num scope="col" { "Relationships" } th.num scope="col" { "Removals" } th.num scope="col" { "Skipped" } th.num scope="col" { "Warnings" } } }
                tbody { tr { td.num { (s.restored) } td.num { (s.created) } td.num { (s.updated) } td.num { (s.relationships) } td.num { (s.removals) } td.num { (s.skipped) } td.num { (s.warnings) } } }
            }
            @if !plan.steps.is_empty() {
                form.stack method="post" action=(format!("{base}/plans/{}/apply", enc(&plan.id))) {
                    (csrf_field(&v))
                    @if plan.needs_default_password {
                        label { "Password for re-created users (write-only; they change it at next sign-in)"
                            input type="password" name="default_password" required autocomplete="new-password"; }
                    }
                    button type="submit" { "Apply the plan (" (plan.steps.len()) " steps)" }
                }
            } @else {
                p { "Nothing to do: the tenant already matches the snapshot for this selection." }
            }
            h2 { "Steps" }
            table {
                thead { tr { th.num scope="col" { "#" } th scope="col" { "Phase" } th scope="col" { "Action" } th scope="col" { "Object" } th scope="col" { "Why" } } }
                tbody {
                    @for step in &plan.steps {
                        tr { td.num { (step.id) } td { (word(&step.phase)) } td { (word(&step.action)) } td { (object_ref(&step.object)) } td { (step.why) } }
                    }
                }
            }
            @if !plan.skipped.is_empty() {
                h2 { "Skipped" }
                ul { @for sk in &plan.skipped { li { (object_ref(&sk.object)) ": " (sk.reason) } } }
            }
            @if !plan.warnings.is_empty() {
                h2 { "Warnings" }
                ul { @for w in &plan.warnings { li { (object_ref(&w.object)) ": " (w.message) } } }
            }
        },
    )
    .into_response()
}

/// Applies a plan as a job and shows its progress.
pub(super) async fn apply(
    State(c): ConsoleState,
    Extension(v): Extension<Visitor>,
    Path((name, id)): Path<(String, String)>,
    PageForm(form): PageForm<Fields>,
) -> Response {
    let password = form
        .iter()
        .find(|(k, _)| k == "default_password")
        .map(|(_, p)| p.clone())
        .filter(|p| !p.is_empty());
    match crate::api::restore::apply(&c.app, &v.key, (&name, &id), password).await {
        Ok(job) => Redirect::to(&format!("/console/jobs/{}", enc(&job.id))).into_response(),
        Err(e) => api_error(&v, &e),
    }
}

fn state_word(s: JobState) -> String {
    word(&s)
}

/// Every job of this replica for the tenants the key may see, newest first.
pub(super) async fn jobs(State(c): ConsoleState, Extension(v): Extension<Visitor>) -> Response {
    let jobs: Vec<Job> = c
        .app
        .jobs
        .list()
        .into_iter()
        .filter(|j| v.key.allows(&j.tenant_id))
        .collect();
    page(
        "Backup and restore log",
        Some(&v),
        &[("Tenants", "/console/tenants".into())],
        html! {
            @if jobs.is_empty() { p.muted { "No job on this replica since it started." } }
            @else {
                table {
                    thead { tr { th scope="col" { "Created" } th scope="col" { "Tenant" } th scope="col" { "Job" } th scope="col" { "State" } th scope="col" { "Trigger" } th scope="col" { "Details" } } }
                    tbody {
                        @for j in &jobs {
                            tr {
                                td { (time(&j.created)) }
                                td { (j.tenant) }
                                td { (word(&j.kind)) }
                                td { (badge(&state_word(j.state))) }
                                td { (j.trigger) }
                                td { a href=(format!("/console/jobs/{}", enc(&j.id))) { "Open" } }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

fn outcome(o: &Outcome) -> Markup {
    match o {
        Outcome::Done { new_id, .. } => html! {
            (badge("done")) @if let Some(id) = new_id { " new id " span.mono { (id) } }
        },
        Outcome::AlreadyDone { reason, .. } => html! { (badge("alreadyDone")) " " (reason) },
        Outcome::Failed {
            http_status,
            code,
            message,
            request_id,
        } => html! {
            (badge("failed")) " " (http_status) " " span.mono { (code) } ": " (message)
            @if let Some(r) = request_id { " (request id " span.mono { (r) } ")" }
        },
        Outcome::Skipped { reason } => html! { (badge("skipped")) " " (reason) },
    }
}

/// One job: live progress while it runs (the page reloads itself), then its result; for a
/// restore, every step's result beside what the step was.
pub(super) async fn job(
    State(c): ConsoleState,
    Extension(v): Extension<Visitor>,
    Path(id): Path<String>,
) -> Response {
    let job = match crate::api::jobs::job(&c.app, &v.key, &id) {
        Ok(j) => j,
        Err(e) => return api_error(&v, &e),
    };
    let running = matches!(job.state, JobState::Queued | JobState::Running);
    let plan: Option<RestorePlan> = match (&job.plan, job.kind) {
        (Some(plan), JobKind::Restore) if !running => {
            // The key may see the job's tenant (checked above), which is the plan's target.
            c.app
                .vault
                .stored_plan(&job.tenant_id, plan)
                .await
                .ok()
                .flatten()
        }
        _ => None,
    };
    let report: Option<RestoreReport> = (job.kind == JobKind::Restore)
        .then(|| job.report.clone())
        .flatten()
        .and_then(|r| serde_json::from_value(r).ok());
    let base = format!("/console/tenants/{}", enc(&job.tenant));
    let title = format!("{} of {}", kind_label_job(job.kind), job.tenant);
    let body = html! {
        p { (badge(&state_word(job.state))) " · job " span.mono { (job.id) } " · " (job.trigger) }
        table {
            tbody {
                tr { th scope="row" { "Created" } td { (time(&job.created)) } }
                @if let Some(t) = &job.started { tr { th scope="row" { "Started" } td { (time(t)) } } }
                @if let Some(t) = &job.finished { tr { th scope="row" { "Finished" } td { (time(t)) } } }
                @if let Some(k) = &job.progress.kind { tr { th scope="row" { "Reading" } td { (k) } } }
                tr { th scope="row" { @if job.kind == JobKind::Backup { "Objects read" } @else { "Steps done" } } td { (job.progress.objects) } }
                @if job.kind == JobKind::Backup {
                    tr { th scope="row" { "Graph requests" } td { (job.progress.requests) " (" (job.progress.throttled) " throttled, " (job.progress.retries) " retried)" } }
                }
            }
        }
        @if let Some(e) = &job.error { p.error role="alert" { (e) } }
        @if let Some(s) = &job.snapshot {
            p { a href=(format!("{base}/browse/{}/users", enc(s))) { "Browse the snapshot" } }
        }
        @if let Some(r) = &report {
            h2 { "Steps" }
            p { (r.summary.done) " done, " (r.summary.already_done) " already done, " (r.summary.failed) " failed, " (r.summary.skipped) " skipped" }
            table {
                thead { tr { th.num scope="col" { "#" } th scope="col" { "Action" } th scope="col" { "Object" } th scope="col" { "Result" } } }
                tbody {
                    @for step in &r.steps {
                        @let planned = plan.as_ref().and_then(|p| p.steps.iter().find(|s| s.id == step.step));
                        tr {
                            td.num { (step.step) }
                            td { @if let Some(p) = planned { (word(&p.action)) } }
                            td { @if let Some(p) = planned { (object_ref(&p.object)) } }
                            td { (outcome(&step.outcome)) }
                        }
                    }
                }
            }
            @if let Some(p) = &job.plan {
                p { a href=(format!("{base}/plans/{}", enc(p))) { "The plan" } " (applying it again finishes what is left)" }
            }
        }
    };
    let crumbs = [("Jobs", "/console/jobs".to_owned())];
    if running {
        live_page(&title, Some(&v), &crumbs, body).into_response()
    } else {
        page(&title, Some(&v), &crumbs, body).into_response()
    }
}

fn kind_label_job(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Backup => "Backup",
        JobKind::Restore => "Restore",
    }
}
