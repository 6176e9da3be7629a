//! The web console (`/console/`): the restore workflows of the commercial products, as
//! server-rendered pages over the same calls the REST API makes (`crate::api`'s shared
//! functions); no logic of its own and no script.
//!
//! Signing in takes an API key and gives a session cookie; the key's tenant scope applies to
//! every page, as it does to the API. Every form carries the session's CSRF token, checked
//! here before any handler runs, and every page is sent with a strict Content-Security-Policy.
//! docs/console.md shows the pages.

mod alerts;
mod form;
mod layout;
mod object;
mod restore;
mod session;
mod sign_in_limit;
mod snapshots;
mod tenants;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::html;
use serde::Deserialize;

use crate::app::{App, Key, same_bytes};
use form::PageForm;
use layout::{error_page, page};
pub(crate) use session::Sessions;

/// The console's state: the daemon and the signed-in sessions.
pub(crate) struct Console {
    app: Arc<App>,
    sessions: Sessions,
    sign_in_limit: sign_in_limit::SignInLimit,
}

type ConsoleState = State<Arc<Console>>;

/// Who is asking: the key the session signed in with (as the configuration has it now) and
/// the session's CSRF token.
#[derive(Clone)]
pub(crate) struct Visitor {
    pub(crate) key: Key,
    pub(crate) csrf: String,
}

/// The largest form the console takes (the sign-in and restore forms are a few hundred bytes).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The console's router, to be nested under `/console`.
pub(crate) fn router(app: Arc<App>) -> Router {
    let console = Arc::new(Console {
        app,
        sessions: Sessions::default(),
        sign_in_limit: sign_in_limit::SignInLimit::default(),
    });
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/tenants") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/static/style.css", get(style))
        .route("/tenants", get(tenants::list).post(tenants::add))
        .route("/tenants/new", get(tenants::new_form))
        .route("/tenants/{name}/backup", post(tenants::back_up_now))
        .route("/tenants/{name}", get(snapshots::list))
        .route(
            "/tenants/{name}/browse/{snapshot}/{kind}",
            get(snapshots::browse),
        )
        .route(
            "/tenants/{name}/objects/{snapshot}/{kind}/{id}",
            get(object::show),
        )
        .route("/tenants/{name}/compare", get(snapshots::compare))
        .route("/tenants/{name}/alerts", get(alerts::list))
        .route(
            "/tenants/{name}/download/{snapshot}",
            get(snapshots::download),
        )
        .route(
            "/tenants/{name}/restore",
            get(restore::dialog).post(restore::plan),
        )
        .route("/tenants/{name}/plans/{id}", get(restore::show_plan))
        .route("/tenants/{name}/plans/{id}/apply", post(restore::apply))
        .route("/jobs", get(restore::jobs))
        .route("/jobs/{id}", get(restore::job))
        .fallback(|v: Option<Extension<Visitor>>| async move {
            error_page(
                v.as_ref().map(|Extension(v)| v),
                StatusCode::NOT_FOUND,
                "There is no such page.",
            )
        })
        .layer(axum::middleware::from_fn_with_state(console.clone(), guard))
        .with_state(console)
}

/// Security headers on every console answer; the session and CSRF checks before every
/// handler but the sign-in page and the style sheet.
async fn guard(State(console): ConsoleState, req: Request, next: Next) -> Response {
    let mut response = check(&console, req, next).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn check(console: &Console, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let post = req.method() == Method::POST;
    // A form posted from another site is refused before anything else (the session cookie is
    // SameSite=Strict and never sent then; this covers the sign-in form, which has no session).
    let cross_site = req
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site");
    if post && cross_site {
        return error_page(
            None,
            StatusCode::FORBIDDEN,
            "A form from another site was refused.",
        );
    }
    if path.ends_with("/login") || path.ends_with("/static/style.css") {
        return next.run(req).await;
    }
    let session = session::token_in(req.headers()).and_then(|t| console.sessions.get(&t));
    let visitor = session.and_then(|s| {
        Some(Visitor {
            key: console.app.key_by_hash(&s.key_sha256)?,
            csrf: s.csrf,
        })
    });
    let Some(visitor) = visitor else {
        if post {
            return error_page(
                None,
                StatusCode::FORBIDDEN,
                "Your session has ended: sign in again.",
            );
        }
        return Redirect::to("/console/login").into_response();
    };
    let req = if post {
        match with_checked_csrf(req, &visitor).await {
            Ok(req) => req,
            Err(response) => return response,
        }
    } else {
        req
    };
    let mut req = req;
    req.extensions_mut().insert(visitor);
    next.run(req).await
}

/// The request with its form body read back in, when the form carries the session's CSRF
/// token; otherwise the page that refuses it.
async fn with_checked_csrf(req: Request, visitor: &Visitor) -> Result<Request, Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            error_page(
                Some(visitor),
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form is too large.",
            )
        })?;
    let token = form_urlencoded_value(&bytes, "csrf");
    if !token.is_some_and(|t| same_bytes(t.as_bytes(), visitor.csrf.as_bytes())) {
        return Err(error_page(
            Some(visitor),
            StatusCode::FORBIDDEN,
            "The form was refused: it does not carry this session's token. Reload the page and try again.",
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The first value of `name` in an `application/x-www-form-urlencoded` body.
fn form_urlencoded_value(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        layout::STYLE,
    )
        .into_response()
}

async fn login_page() -> Response {
    sign_in_form(StatusCode::OK, None)
}

fn sign_in_form(status: StatusCode, error: Option<&str>) -> Response {
    (
        status,
        page(
            "Sign in",
            None,
            &[],
            html! {
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form.stack method="post" action="/console/login" {
                    label {
                        "API key"
                        input type="password" name="key" required autocomplete="off" autofocus;
                    }
                    button type="submit" { "Sign in" }
                }
                p.muted { "The key's tenant scope applies to every page. Keys are configured under [[daemon.api_keys]] (docs/daemon.md)." }
            },
        ),
    )
        .into_response()
}

#[derive(Deserialize)]
struct SignIn {
    key: String,
}

async fn login(
    State(console): ConsoleState,
    peer: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: axum::http::HeaderMap,
    PageForm(form): PageForm<SignIn>,
) -> Response {
    // The connection's address (set by the server for every connection).
    let address = peer.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |Extension(p)| {
        p.0.ip()
    });
    let now = std::time::Instant::now();
    if let Some(wait) = console.sign_in_limit.wait(address, now) {
        tracing::warn!(%address, "console sign-in refused: too many failed sign-ins");
        let seconds = wait.as_secs().max(1);
        let mut response = sign_in_form(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many failed sign-ins from this address: try again in {seconds} s."
            )),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    let Some(key) = console.app.key(&form.key) else {
        console.sign_in_limit.failed(address, now);
        tracing::info!(%address, "console sign-in refused: unknown API key");
        return sign_in_form(StatusCode::UNAUTHORIZED, Some("Unknown API key."));
    };
    console.sign_in_limit.succeeded(address);
    tracing::info!(key = %key.name, "console sign-in");
    let token = console.sessions.start(key.sha256);
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    (
        [(header::SET_COOKIE, session::cookie(&token, secure))],
        Redirect::to("/console/tenants"),
    )
        .into_response()
}

async fn logout(State(console): ConsoleState, headers: axum::http::HeaderMap) -> Response {
    if let Some(token) = session::token_in(&headers) {
        console.sessions.end(&token);
    }
    (
        [(header::SET_COOKIE, session::cleared_cookie())],
        Redirect::to("/console/login"),
    )
        .into_response()
}
