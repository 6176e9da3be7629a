//! A tenant's snapshots (filtered by date), browsing a kind at a snapshot (search, sort,
//! "only deleted", pages), comparing two snapshots or a snapshot and the live tenant, and
//! downloading a zip.

use axum::extract::{Path, Query};
use chrono::NaiveDate;
use dirvault_model::ObjectKind;
use dirvault_store::{KindStatus, Snapshot};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{api_error, badge, enc, kind_label, page, time};
use super::*;
use crate::api::ApiError;
use crate::api::snapshots::{DiffQuery, ExportQuery, ObjectsQuery};

/// The kinds a snapshot holds, in the order Graph's collections are listed.
pub(super) fn kinds_of(s: &Snapshot) -> Vec<ObjectKind> {
    ObjectKind::ALL
        .into_iter()
        .filter(|k| s.kinds.contains_key(k))
        .collect()
}

/// A snapshot's per-kind outcome in a few words: `complete`, or the kinds that failed.
fn kinds_summary(s: &Snapshot) -> Markup {
    let failed: Vec<String> = s
        .kinds
        .iter()
        .filter(|(_, r)| matches!(r.status, KindStatus::Failed { .. }))
        .map(|(k, _)| kind_label(*k))
        .collect();
    html! {
        @if failed.is_empty() { (badge("complete")) }
        @else { (badge("partial")) " " span.error { "failed: " (failed.join(", ")) } }
    }
}

#[derive(Deserialize, Default)]
pub(super) struct DateRange {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

fn tenant_crumbs(name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Tenants", "/console/tenants".into()),
        ("Snapshots", format!("/console/tenants/{}", enc(name))),
    ]
}

/// The snapshots (oldest first) of a tenant the visitor's key may see; the error page
/// otherwise.
async fn tenant_snapshots(c: &Console, v: &Visitor, name: &str) -> Result<Vec<Snapshot>, Response> {
    let t = crate::api::tenant(&c.app, &v.key, name).map_err(|e| api_error(v, &e))?;
    let snapshots = c
        .app
        .repo
        .snapshots(&t.tenant_id)
        .await
        .map_err(|e| api_error(v, &ApiError::from(e)))?;
    Ok(snapshots)
}

/// The tenant's snapshots, newest first, filtered by a date range.
pub(super) async fn list(
    State(c): ConsoleState,
    Extension(v): Extension<Visitor>,
    Path(name): Path<String>,
    Query(range): Query<DateRange>,
) -> Response {
    let all = match tenant_snapshots(&c, &v, &name).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    let (from, to) = (day(&range.from), day(&range.to));
    let shown: Vec<&Snapshot> = all
        .iter()
        .rev()
        .filter(|s| from.is_none_or(|f| s.time.date_naive() >= f))
        .filter(|s| to.is_none_or(|t| s.time.date_naive() <= t))
        .collect();
    let base = format!("/console/tenants/{}", enc(&name));
    page(
        &format!("{name}: snapshots"),
        Some(&v),
        &[("Tenants", "/console/tenants".into())],
        html! {
            p {
                a href=(format!("{base}/compare")) { "Compare snapshots" } " · "
                a href=(format!("{base}/alerts")) { "Alerts" } " · "
                a href="/console/jobs" { "Backup and restore log" }
            }
            form.bar method="get" action=(base) {
                label { "From" input type="date" name="from" value=(range.from); }
                label { "To" input type="date" name="to" value=(range.to); }
                button type="submit" { "Filter" }
            }
            p.muted { (shown.len()) " of " (all.len()) " snapshots" }
            table {
                thead { tr {
                    th scope="col" { "Time" } th scope="col" { "Snapshot" } th.num scope="col" { "Objects" }
                    th scope="col" { "Kinds" } th scope="col" { "Actions" }
                } }
                tbody {
                    @for s in &shown {
                        @let id = s.id.to_string();
                        tr {
                            td { (time(&s.time)) }
                            td.mono { (id) }
                            td.num { (s.kinds.values().map(|k| k.count).sum::<usize>()) }
                            td { (kinds_summary(s)) }
                            td {
                                a href=(format!("{base}/browse/{}/users", enc(&id))) { "Browse" } " · "
                                a href=(format!("{base}/restore?snapshot={}", enc(&id))) { "Restore…" } " · "
                                a href=(format!("{base}/download/{}", enc(&id))) { "Download zip" } " ("
                                a href=(format!("{base}/download/{}?relationships=on", enc(&id))) { "with relationships" } ")"
                                @if let Some(parent) = &s.parent {
                                    " · " a href=(format!("{base}/compare?from={}&to={}", enc(parent.as_ref()), enc(&id))) { "Changes" }
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

#[derive(Deserialize, Default)]
pub(super) struct BrowseQuery {
    #[serde(default)]
    search: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    deleted: Option<String>,
    page: Option<u64>,
}

/// Objects of a kind at a snapshot: tabs per kind, search, sort, "only deleted", pages of 50.
pub(super) async fn browse(
    State(c): ConsoleState,
    Extension(v): Extension<Visitor>,
    Path((name, snapshot, kind)): Path<(String, String, String)>,
    Query(q): Query<BrowseQuery>,
) -> Response {
    const PAGE_SIZE: u64 = 50;
    let deleted = q.deleted.is_some();
    let query = ObjectsQuery {
        search: Some(q.search.clone()).filter(|s| !s.is_empty()),
        sort: Some(q.sort.clone()).filter(|s| !s.is_empty()),
        deleted,
        page: q.page,
        page_size: Some(PAGE_SIZE),
    };
    let listing =
        crate::api::snapshots::objects_page(&c.app, &v.key, (&name, &snapshot, &kind), query).await;
    let listing = match listing {
        Ok(l) => l,
        Err(e) => return api_error(&v, &e),
    };
    let snap = listing.snapshot.id.to_string();
    // Deleted objects are in the snapshot before: their pages and restores read them there.
    let holder = if deleted {
        match c.app.repo.snapshots(&listing.snapshot.tenant).await {
            Ok(all) => all
                .into_iter()
                .rfind(|s| s.time < listing.snapshot.time)
                .map(|s| s.id.to_string())
                .unwrap_or_else(|| snap.clone()),
            Err(e) => return api_error(&v, &ApiError::from(e)),
        }
    } else {
        snap.clone()
    };
    let base = format!("/console/tenants/{}", enc(&name));
    let here = format!("{base}/browse/{}/{}", enc(&snap), listing.kind);
    let keep = |page: usize| {
        format!(
            "{here}?search={}&sort={}{}&page={page}",
            enc(&q.search),
            enc(&q.sort),
            if deleted { "&deleted=on" } else { "" }
        )
    };
    let pages = listing.total.div_ceil(listing.page_size).max(1);
    let status = listing.snapshot.kinds.get(&listing.kind).map(|r| &r.status);
    page(
        &format!("{name}: {} at {}", kind_label(listing.kind), listing.snapshot.time.format("%Y-%m-%d %H:%M UTC")),
        Some(&v),
        &tenant_crumbs(&name),
        html! {
            nav.tabs aria-label="Kinds" {
                @for k in kinds_of(&listing.snapshot) {
                    a href=(format!("{base}/browse/{}/{k}", enc(&snap))) aria-current=[(k == listing.kind).then_some("page")] { (kind_label(k)) }
                }
            }
            @if let Some(KindStatus::Failed { reason }) = status {
                p.error role="status" { "This kind failed in this snapshot and shows the previous snapshot's objects: " (reason) }
            }
            form.bar method="get" action=(here) role="search" {
                label { "Search (name, id, UPN, appId, mail)" input type="search" name="search" value=(q.search); }
                label { "Sort by"
                    select name="sort" {
                        option value="name" selected[q.sort.is_empty() || q.sort == "name"] { "Name" }
                        option value="id" selected[q.sort == "id"] { "Id" }
                        option value="modified" selected[q.sort == "modified"] { "Last modified" }
                    }
                }
                label.check { input type="checkbox" name="deleted" checked[deleted]; "Only deleted (since the snapshot before)" }
                button type="submit" { "Search" }
            }
            form method="get" action=(format!("{base}/restore")) {
                input type="hidden" name="snapshot" value=(holder);
                input type="hidden" name="kind" value=(listing.kind.to_string());
                p.muted { (listing.total) " objects · page " (listing.page) " of " (pages) }
                table {
                    thead { tr {
                        th scope="col" { span.skip { "Select" } }
                        th scope="col" { "Name" } th scope="col" { "UPN / appId / mail" } th scope="col" { "Id" }
                    } }
                    tbody {
                        @for e in &listing.items {
                            @let id = e.id.to_string();
                            @let label = e.name.as_deref().unwrap_or(id.as_str());
                            tr {
                                td { input type="checkbox" name="ids" value=(id) aria-label=(format!("Select {label}")); }
                                td { a href=(format!("{base}/objects/{}/{}/{}", enc(&holder), listing.kind, enc(&id))) { (label) } }
                                td { (e.key.as_deref().unwrap_or("")) }
                                td.mono { (id) }
                            }
                        }
                    }
                }
                div.pager {
                    @if listing.page > 1 { a href=(keep(listing.page - 1)) rel="prev" { "← Previous" } }
                    @if listing.page < pages { a href=(keep(listing.page + 1)) rel="next" { "Next →" } }
                    button type="submit" { "Restore selected…" }
                    button.secondary type="submit" formaction=(format!("{base}/download/{}", enc(&holder))) name="kinds" value=(listing.kind.to_string()) { "Download selected (zip)" }
                    a href=(format!("{base}/download/{}?kinds={}", enc(&snap), listing.kind)) { "Download all " (kind_label(listing.kind)) " (zip)" }
                }
            }
        },
    )
    .into_response()
}

#[derive(Deserialize, Default)]
pub(super) struct CompareQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// At most this many objects are listed per kind and change; the counts are whole.
const LISTED: usize = 200;

/// Two snapshots compared, or a snapshot and the live tenant: only what differs, per kind.
pub(super) async fn compare(
    State(c): ConsoleState,
    Extension(v): Extension<Visitor>,
    Path(name): Path<String>,
    Query(q): Query<CompareQuery>,
) -> Response {
    let snapshots = match tenant_snapshots(&c, &v, &name).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let ids: Vec<String> = snapshots.iter().rev().map(|s| s.id.to_string()).collect();
    let from = Some(q.from.clone())
        .filter(|s| !s.is_empty())
        .or_else(|| ids.get(1).or(ids.first()).cloned());
    let to = Some(q.to.clone())
        .filter(|s| !s.is_empty())
        .or_else(|| ids.first().cloned());
    let base = format!("/console/tenants/{}", enc(&name));
    let diff = match (&from, &to) {
        (Some(from), Some(to)) => {
            let query = DiffQuery {
                from: from.clone(),
                to: to.clone(),
                kind: None,
                deleted_only: false,
                only_changes: true,
            };
            match crate::api::snapshots::diff_of(&c.app, &v.key, &name, &query).await {
                Ok(d) => Some(d),
                Err(e) => return api_error(&v, &e),
            }
        }
        _ => None,
    };
    let time_of = |id: &str| {
        snapshots
            .iter()
            .find(|s| s.id.to_string() == id)
            .map(|s| s.time.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| id.to_owned())
    };
    let options = |selected: &Option<String>, live: bool| {
        html! {
            @if live { option value="live" selected[selected.as_deref() == Some("live")] { "The live tenant (now)" } }
            @for id in &ids {
                option value=(id) selected[selected.as_deref() == Some(id.as_str())] { (time_of(id)) " · " (id) }
            }
        }
    };
    page(
        &format!("{name}: compare"),
        Some(&v),
        &tenant_crumbs(&name),
        html! {
            form.bar method="get" action=(format!("{base}/compare")) {
                label { "From" select name="from" { (options(&from, false)) } }
                label { "To" select name="to" { (options(&to, true)) } }
                button type="submit" { "Compare" }
            }
            @if let Some(diff) = &diff {
                @let to_snapshot = to.as_deref().filter(|t| *t != "live");
                @if diff.changes.is_empty() && diff.unavailable.is_empty() {
                    p { "No differences." }
                }
                @for (kind, why) in &diff.unavailable {
                    p.error { (kind_label(*kind)) " could not be compared: " (why) }
                }
                @if !diff.changes.is_empty() {
                    table {
                        thead { tr { th scope="col" { "Kind" } th.num scope="col" { "Created" } th.num scope="col" { "Modified" } th.num scope="col" { "Deleted" } } }
                        tbody {
                            @for (kind, ch) in &diff.changes {
                                tr { td { a href=(format!("#{kind}")) { (kind_label(*kind)) } } td.num { (ch.created.len()) } td.num { (ch.modified.len()) } td.num { (ch.deleted.len()) } }
                            }
                        }
                    }
                }
                @for (kind, ch) in &diff.changes {
                    h2 id=(kind.to_string()) { (kind_label(*kind)) }
                    @for (what, list, at) in [("Created", &ch.created, to_snapshot), ("Modified", &ch.modified, to_snapshot), ("Deleted", &ch.deleted, from.as_deref())] {
                        @if !list.is_empty() {
                            h3 { (what) " (" (list.len()) ")" }
                            ul {
                                @for o in list.iter().take(LISTED) {
                                    @let id = o.id.to_string();
                                    li {
                                        @match at {
                                            Some(at) => a href=(format!("{base}/objects/{}/{kind}/{}", enc(at), enc(&id))) { (o.name.as_deref().unwrap_or(&id)) },
                                            None => (o.name.as_deref().unwrap_or(&id)),
                                        }
                                        " " span.mono.muted { (id) }
                                    }
                                }
                                @if list.len() > LISTED { li.muted { "and " (list.len() - LISTED) " more" } }
                            }
                        }
                    }
                }
            } @else {
                p.muted { "No snapshot yet." }
            }
        },
    )
    .into_response()
}

/// A zip of a snapshot, kinds or a selection (`kinds`, `ids` may repeat; `relationships=on`).
pub(super) async fn download(
    State(c): ConsoleState,
    Extension(v): Extension<Visitor>,
    Path((name, snapshot)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let all = |field: &str| -> Option<String> {
        let values: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == field)
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    let query = ExportQuery {
        kinds: all("kinds"),
        ids: all("ids"),
        relationships: pairs.iter().any(|(k, _)| k == "relationships"),
    };
    match crate::api::snapshots::export_zip(&c.app, &v.key, (&name, &snapshot), &query).await {
        Ok(r) => r,
        Err(e) => api_error(&v, &e),
    }
}
