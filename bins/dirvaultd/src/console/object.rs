//! One object at a version: its attributes with the values changed since the previous version
//! in red and the previous value beside them, a version picker, and tabs for memberships and
//! ownerships, roles, authentication methods, history and relationship changes.

use axum::extract::{Path, Query};
use dirvault_model::ObjectKind;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{api_error, badge, enc, kind_label, page, time};
use super::*;
use crate::api::snapshots::ObjectPage;

#[derive(Deserialize, Default)]
pub(super) struct ObjectQuery {
    version: Option<String>,
    #[serde(default)]
    tab: String,
    /// A snapshot picked in the version picker: the page at that snapshot.
    at: Option<String>,
}

const TABS: [(&str, &str); 6] = [
    ("attributes", "Attributes"),
    ("memberships", "Memberships and ownerships"),
    ("roles", "Roles"),
    ("methods", "Authentication methods"),
    ("history", "History"),
    ("relationships", "Relationship changes"),
];

/// A JSON value as people read it: strings bare (a stream — a branding image — described, not
/// its base64), the rest compact JSON.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => dirvault_graph::stream::describe(s).unwrap_or_else(|| s.clone()),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .map(|v| shown(&v))
        .unwrap_or_default()
}

/// The attributes table: every property of the version, changed ones in red with the
/// previous value beside them, and properties the version no longer has.
fn attributes(o: &ObjectPage) -> Markup {
    let current = o.view.object.raw();
    let previous = o.view.previous.as_ref().map(|(_, p)| p.raw());
    let changed = |name: &str| {
        o.view.changes.iter().any(|c| {
            c.path == name
                || c.path
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    };
    let gone: Vec<&String> = previous
        .map(|p| p.keys().filter(|k| !current.contains_key(*k)).collect())
        .unwrap_or_default();
    html! {
        @if let Some((snap, _)) = &o.view.previous {
            p.muted { (o.view.changes.len()) " change(s) since the previous version (snapshot " span.mono { (snap) } ")" }
        } @else {
            p.muted { "The first version backed up." }
        }
        table {
            thead { tr { th scope="col" { "Attribute" } th scope="col" { "Value" } th scope="col" { "Previous value" } } }
            tbody {
                // Changed attributes first: what a technician looks for.
                @for (name, value) in current.iter().filter(|(n, _)| changed(n)).chain(current.iter().filter(|(n, _)| !changed(n))) {
                    @let is_changed = changed(name);
                    tr class=[is_changed.then_some("changed")] {
                        th scope="row" { (name) }
                        td.value { pre { (shown(value)) } }
                        @if is_changed {
                            td.old { pre { (previous.and_then(|p| p.get(name)).map(shown).unwrap_or_default()) } }
                        } @else { td {} }
                    }
                }
                @for name in gone {
                    tr.changed {
                        th scope="row" { (name) }
                        td.value { span.muted { "(removed)" } }
                        td.old { pre { (previous.and_then(|p| p.get(name)).map(shown).unwrap_or_default()) } }
                    }
                }
            }
        }
    }
}

fn related(list: &[dirvault_engine::browse::Related]) -> Markup {
    html! {
        @if list.is_empty() { p.muted { "None as of this snapshot." } }
        @else {
            table {
                thead { tr { th scope="col" { "Relationship" } th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Scope" } } }
                tbody {
                    @for r in list {
                        tr { td { (text(&r.relationship)) } td { (r.name.as_deref().unwrap_or("")) } td.mono { (r.id) } td.mono { (r.scope.as_deref().unwrap_or("")) } }
                    }
                }
            }
        }
    }
}

fn history(o: &ObjectPage, href: &dyn Fn(&str) -> String) -> Markup {
    html! {
        table {
            thead { tr { th scope="col" { "Time" } th scope="col" { "Event" } th scope="col" { "Changed" } } }
            tbody {
                @for h in o.history.iter().rev() {
                    tr {
                        td { a href=(href(h.snapshot.as_ref())) { (time(&h.time)) } }
                        td { (badge(&text(&h.event))) }
                        td { (h.changes.iter().map(|c| c.path.as_str()).collect::<Vec<_>>().join(", ")) }
                    }
                }
            }
        }
    }
}

fn relationship_changes(o: &ObjectPage) -> Markup {
    html! {
        @if o.relationships.is_empty() { p.muted { "No relationship of this object changed in the snapshots kept." } }
        @for e in o.relationships.iter().rev() {
            h3 { (time(&e.time)) }
            ul {
                @for r in &e.added { li.added { "added: " (text(&r.kind)) " " span.mono { (r.source) " → " (r.target) } } }
                @for r in &e.removed { li.removed { "removed: " (text(&r.kind)) " " span.mono { (r.source) " → " (r.target) } } }
            }
        }
    }
}

/// The object page.
pub(super) async fn show(
    State(c): ConsoleState,
    Extension(v): Extension<Visitor>,
    Path((name, snapshot, kind, id)): Path<(String, String, String, String)>,
    Query(q): Query<ObjectQuery>,
) -> Response {
    let base = format!("/console/tenants/{}", enc(&name));
    if let Some(at) = q.at.as_deref().filter(|a| !a.is_empty()) {
        return Redirect::to(&format!(
            "{base}/objects/{}/{}/{}?tab={}",
            enc(at),
            enc(&kind),
            enc(&id),
            enc(&q.tab)
        ))
        .into_response();
    }
    let o = match crate::api::snapshots::object_page(
        &c.app,
        &v.key,
        (&name, &snapshot, &kind, &id),
        q.version.as_deref(),
    )
    .await
    {
        Ok(o) => o,
        Err(e) => return api_error(&v, &e),
    };
    let kind = o.view.object.kind();
    let snap = o.view.snapshot.to_string();
    let object_id = o.view.object.id().to_string();
    let at = |s: &str| format!("{base}/objects/{}/{kind}/{}", enc(s), enc(&object_id));
    let tab = TABS
        .iter()
        .map(|(t, _)| *t)
        .find(|t| *t == q.tab)
        .unwrap_or("attributes");
    let tab_body = match tab {
        "memberships" | "roles" => {
            let roles = tab == "roles";
            match crate::api::snapshots::related_of(
                &c.app,
                &v.key,
                (&name, &snap, &object_id),
                roles,
            )
            .await
            {
                Ok((_, list)) => related(&list),
                Err(e) => return api_error(&v, &e),
            }
        }
        "methods" if kind == ObjectKind::Users => {
            match crate::api::snapshots::auth_methods_of(&c.app, &v.key, (&name, &snap, &object_id))
                .await
            {
                Ok((_, methods)) => html! {
                    @if methods.is_empty() { p.muted { "No method." } }
                    @for m in &methods { pre.mono { (serde_json::to_string_pretty(m).unwrap_or_default()) } }
                },
                Err(e) if e.status() == StatusCode::NOT_FOUND => {
                    html! { p.muted { "This snapshot holds no authentication methods for this user." } }
                }
                Err(e) => return api_error(&v, &e),
            }
        }
        "methods" => html! { p.muted { "Only users have authentication methods." } },
        "history" => history(&o, &at),
        "relationships" => relationship_changes(&o),
        _ => attributes(&o),
    };
    let title = o
        .view
        .object
        .display_name()
        .unwrap_or(object_id.as_str())
        .to_owned();
    let versions: Vec<_> = o
        .history
        .iter()
        .filter(|h| text(&h.event) != "deleted")
        .collect();
    page(
        &title,
        Some(&v),
        &[
            ("Tenants", "/console/tenants".into()),
            ("Snapshots", base.clone()),
            (
                "Browse",
                format!("{base}/browse/{}/{kind}", enc(&snap)),
            ),
        ],
        html! {
            p {
                (kind_label(kind)) " · " span.mono { (object_id) } " · version of snapshot " span.mono { (snap) }
            }
            form.bar method="get" action=(at(&snap)) {
                input type="hidden" name="tab" value=(tab);
                label { "Version"
                    select name="at" {
                        @for (n, h) in versions.iter().enumerate().rev() {
                            @let s = h.snapshot.to_string();
                            option value=(s) selected[s == snap] { "v" (n + 1) " · " (h.time.format("%Y-%m-%d %H:%M:%S UTC")) " · " (text(&h.event)) }
                        }
                    }
                }
                button type="submit" { "Show" }
                a href=(format!("{}?version=prev&tab={tab}", at(&snap))) rel="prev" { "← Older" }
                a href=(format!("{}?version=next&tab={tab}", at(&snap))) rel="next" { "Newer →" }
            }
            p {
                a href=(format!("{base}/restore?snapshot={}&kind={kind}&ids={}", enc(&snap), enc(&object_id))) { "Restore this object…" } " · "
                a href=(format!("{base}/download/{}?kinds={kind}&ids={}&relationships=on", enc(&snap), enc(&object_id))) { "Download (zip)" }
            }
            nav.tabs aria-label="Object" {
                @for (t, label) in TABS {
                    a href=(format!("{}?tab={t}", at(&snap))) aria-current=[(t == tab).then_some("page")] { (label) }
                }
            }
            (tab_body)
        },
    )
    .into_response()
}
