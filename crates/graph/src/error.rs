//! Errors from the Graph client. Each says what failed, on what, and what to do.

use std::time::Duration;

use dirvault_model::TenantId;

/// A Graph client error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The identity platform refused a token request.
    #[error("token request for tenant {tenant} was refused ({code}: {description}): {hint}")]
    Token {
        /// The tenant.
        tenant: TenantId,
        /// HTTP status.
        status: u16,
        /// The identity platform's error, e.g. `invalid_client`, with its AADSTS code.
        code: String,
        /// The error description, without trace ids.
        description: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// Graph answered with an error status.
    #[error(
        "{method} {url} for tenant {tenant} failed: HTTP {status} {code}: {message} (request-id {request_id})"
    )]
    Graph {
        /// The tenant.
        tenant: TenantId,
        /// HTTP method.
        method: String,
        /// The URL (no secrets: Graph URLs carry none).
        url: String,
        /// HTTP status.
        status: u16,
        /// Graph's error `code`.
        code: String,
        /// Graph's error message.
        message: String,
        /// Graph's `request-id`, for Microsoft support.
        request_id: String,
        /// `Retry-After`, when Graph sent one.
        retry_after: Option<Duration>,
    },
    /// The request did not complete (connection refused or reset, timeout, broken body).
    #[error("{method} {url} for tenant {tenant} failed in transport: {source}")]
    Transport {
        /// The tenant.
        tenant: TenantId,
        /// HTTP method.
        method: String,
        /// The URL.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// Graph answered 2xx with a body that is not what Graph documents (malformed or truncated
    /// JSON, a collection without `value`, a nextLink to another host).
    #[error("{url} for tenant {tenant} returned an invalid response: {reason}")]
    InvalidResponse {
        /// The tenant.
        tenant: TenantId,
        /// The URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The client was configured wrongly.
    #[error("invalid Graph client configuration: {0}")]
    Config(String),
    /// A certificate or private key could not be used.
    #[error("certificate for client {client_id}: {reason}")]
    Certificate {
        /// The client id.
        client_id: String,
        /// What was wrong.
        reason: String,
    },
}

impl Error {
    /// Whether retrying the same request may succeed: throttling (429), 503, 504, transport
    /// failures and malformed bodies. Nothing else is retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Graph { status, .. } => matches!(status, 429 | 503 | 504),
            Error::Transport { .. } => true,
            Error::InvalidResponse { reason, .. } => reason.starts_with("malformed JSON"),
            _ => false,
        }
    }

    /// The `Retry-After` Graph asked for.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Graph { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether a delta token expired (docs/graph.md §3: 410 Gone / `syncStateNotFound`; Microsoft's
    /// blog reports the same code with 400): the caller must resync that kind in full.
    pub fn is_delta_expired(&self) -> bool {
        matches!(self, Error::Graph { status, code, .. } if *status == 410 || code == "syncStateNotFound")
    }

    /// Graph's error code, if this is a Graph error.
    pub fn graph_code(&self) -> Option<&str> {
        match self {
            Error::Graph { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, if Graph answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Graph { status, .. } | Error::Token { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
