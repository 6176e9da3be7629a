//! Serving the API over TCP with the limits a daemon on a network needs: a client that sends
//! its request head too slowly, or opens connections and sends nothing, is disconnected after
//! `[daemon] header_timeout_seconds`; a request body must arrive within
//! `request_timeout_seconds` and a handler answer within it too; bodies are at most
//! [`MAX_BODY_BYTES`]; and at most [`MAX_CONNECTIONS`] connections are served at once
//! (more are closed at once rather than queued). `axum::serve` sets no timer, so hyper's
//! header timeout would never fire there.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt;

/// Largest request body: the API's bodies are small JSON documents.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 1024;

/// How long connections still open at shutdown may take to finish their requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Time to receive a request head (and the idle time of a kept-alive connection).
    pub(crate) header_timeout: Duration,
    /// Time to receive a request body, and for the handler to answer.
    pub(crate) request_timeout: Duration,
}

/// The router with the request-level limits: body size, body time, answer time.
pub(crate) fn limited(router: Router, limits: Limits) -> Router {
    router
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            limits.request_timeout,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        // Every error in the API's JSON shape (also those of the limits above, which are
        // plain text), with its request id; every request logged.
        .layer(axum::middleware::from_fn(crate::api::errors_and_log))
        // Outermost: every request gets an id (the caller's, when sane) and every answer
        // carries it.
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(
            tower_http::request_id::MakeRequestUuid,
        ))
        .layer(axum::middleware::map_request(
            crate::api::drop_insane_request_id,
        ))
}

/// Serves `router` on `listener` until `stop` turns true, then lets open requests finish (at
/// most [`SHUTDOWN_GRACE`]).
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let router = limited(router, limits);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    // HTTP/1.1 only: an HTTP/1-or-2 ("auto") connection first waits, with no timer, for the
    // bytes that tell the two apart, so a client that sends nothing was held forever (test
    // `slow_and_silent_clients_are_disconnected_and_oversized_bodies_refused`).
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted: the
                // listener stays; the next accept may succeed.
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(limit = MAX_CONNECTIONS, "too many connections: one closed");
            continue;
        };
        let service = TowerToHyperService::new(router.clone().map_request(
            move |r: hyper::Request<hyper::body::Incoming>| {
                // The client's address, for the console's sign-in limit.
                let mut r = r.map(axum::body::Body::new);
                r.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                r
            },
        ));
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(slot);
        });
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace: closed");
    }
}
