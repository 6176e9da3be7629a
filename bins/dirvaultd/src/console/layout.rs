//! The page every console view is drawn in (header, navigation, theme) and the small pieces
//! views share: the CSRF field, times, counts, pagers, error pages.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use super::Visitor;
use crate::api::ApiError;

/// The style sheet: light and dark following the system, no script.
pub(crate) const STYLE: &str = include_str!("style.css");

/// A whole page: `title` in the tab and as the heading, `crumbs` above it.
pub(crate) fn page(
    title: &str,
    visitor: Option<&Visitor>,
    crumbs: &[(&str, String)],
    body: Markup,
) -> Markup {
    shell(title, visitor, crumbs, body, false)
}

/// A page that reloads itself every second (a job's live progress, with no script).
pub(crate) fn live_page(
    title: &str,
    visitor: Option<&Visitor>,
    crumbs: &[(&str, String)],
    body: Markup,
) -> Markup {
    shell(title, visitor, crumbs, body, true)
}

fn shell(
    title: &str,
    visitor: Option<&Visitor>,
    crumbs: &[(&str, String)],
    body: Markup,
    refresh: bool,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                @if refresh { meta http-equiv="refresh" content="1"; }
                title { (title) " · dirvault" }
                link rel="stylesheet" href="/console/static/style.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    nav aria-label="Main" {
                        a.brand href="/console/tenants" { "dirvault" }
                        @if let Some(v) = visitor {
                            a href="/console/tenants" { "Tenants" }
                            a href="/console/jobs" { "Jobs" }
                            span.who { "Signed in with key " strong { (v.key.name) } }
                            form.inline method="post" action="/console/logout" {
                                (csrf_field(v))
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" {
                    @if !crumbs.is_empty() {
                        nav.crumbs aria-label="Breadcrumb" {
                            @for (label, href) in crumbs {
                                a href=(href) { (label) } " › "
                            }
                        }
                    }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden field every form of a session carries.
pub(crate) fn csrf_field(v: &Visitor) -> Markup {
    html! { input type="hidden" name="csrf" value=(v.csrf); }
}

/// A time as people read it, in UTC, with the machine-readable form for assistive tools.
pub(crate) fn time(t: &DateTime<Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M:%S UTC")) } }
}

/// A page that says what went wrong, with the status of the error.
pub(crate) fn error_page(visitor: Option<&Visitor>, status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    (
        status,
        page(
            title,
            visitor,
            &[],
            html! {
                p.error role="alert" { (message) }
                p { a href="/console/tenants" { "Back to the tenants" } }
            },
        ),
    )
        .into_response()
}

/// An API error as a console page.
pub(crate) fn api_error(visitor: &Visitor, e: &ApiError) -> Response {
    error_page(Some(visitor), e.status(), e.message())
}

/// The status word of a job or a snapshot kind, styled by what it means.
pub(crate) fn badge(word: &str) -> Markup {
    let class = match word {
        "complete" | "done" | "alreadyDone" => "ok",
        "partial" | "skipped" | "queued" | "running" => "warn",
        _ => "bad",
    };
    html! { span class={"badge " (class)} { (word) } }
}

/// Percent-encodes a path segment or query value.
pub(crate) fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A kind as people read it: `servicePrincipals` is "Service principals".
pub(crate) fn kind_label(kind: dirvault_model::ObjectKind) -> String {
    let name = kind.to_string();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if i == 0 {
            out.extend(c.to_uppercase());
        } else if c.is_ascii_uppercase() {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
