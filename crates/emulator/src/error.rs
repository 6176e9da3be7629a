//! Graph's error responses, and the emulator's own errors.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error response in Graph's documented shape (docs/graph.md §7):
/// `{"error":{"code","message","details":[…],"innerError":{"date","request-id","client-request-id"}}}`.
#[derive(Debug, Clone)]
pub struct GraphError {
    /// HTTP status.
    pub status: StatusCode,
    /// Graph's error `code` (what clients match on).
    pub code: String,
    /// Human message.
    pub message: String,
    /// `details` entries: `(code, message, target)`.
    pub details: Vec<(String, String, String)>,
    /// `Retry-After` seconds, for 429/503 (decimal, as Graph writes it).
    pub retry_after: Option<f64>,
    /// Extra headers (throttling scope and information).
    pub headers: Vec<(&'static str, String)>,
}

impl GraphError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
            headers: Vec::new(),
        }
    }

    /// 400 `Request_BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    /// 404 `Request_ResourceNotFound`, worded as Graph words it.
    pub fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// 403 `Authorization_RequestDenied`.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    /// 400 `Request_BadRequest` with an `ObjectConflict` detail on `target` (docs/graph.md §7).
    pub fn conflict(target: &str) -> Self {
        let mut e = Self::bad_request(format!(
            "Another object with the same value for property {target} already exists."
        ));
        e.details.push((
            "ObjectConflict".into(),
            format!("Another object with the same value for property {target} already exists."),
            target.to_owned(),
        ));
        e
    }

    /// 400 for an unsupported query.
    pub fn unsupported_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
    }

    /// Adds a `details` entry.
    #[must_use]
    pub fn with_detail(mut self, code: &str, message: &str, target: &str) -> Self {
        self.details
            .push((code.to_owned(), message.to_owned(), target.to_owned()));
        self
    }

    /// The JSON body.
    pub fn body(&self, request_id: &str, date: &str) -> Value {
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "innerError": {
                "date": date,
                "request-id": request_id,
                "client-request-id": request_id,
            }
        });
        if !self.details.is_empty() {
            error["details"] = self
                .details
                .iter()
                .map(|(code, message, target)| json!({"code": code, "message": message, "target": target}))
                .collect();
        }
        json!({ "error": error })
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let request_id = uuid::Uuid::new_v4().to_string();
        let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
        let body = self.body(&request_id, &date);
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            headers.insert("request-id", v.clone());
            headers.insert("client-request-id", v);
        }
        if let Some(seconds) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&crate::throttle::decimal_header(seconds))
        {
            headers.insert("retry-after", v);
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        response
    }
}

/// `Result` for Graph handlers.
pub type GraphResult<T> = Result<T, GraphError>;

/// Errors from the emulator's own API (control API, generator, configuration).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No tenant with that id or domain.
    #[error(
        "no tenant {tenant:?} in this emulator: create it first (control API POST /_emulator/tenants)"
    )]
    UnknownTenant {
        /// The tenant asked for.
        tenant: String,
    },
    /// A tenant size could not be understood.
    #[error(
        "invalid tenant size {value:?}: use a preset (tiny, small, medium, large, L100k) or a user count"
    )]
    InvalidSize {
        /// The rejected value.
        value: String,
    },
    /// A `--tenant name:size:seed` argument could not be understood.
    #[error("invalid tenant spec {value:?}: expected NAME[:SIZE[:SEED]], e.g. contoso:small:1")]
    InvalidTenantSpec {
        /// The rejected value.
        value: String,
    },
    /// A certificate could not be parsed.
    #[error("invalid certificate for app {client_id}: {reason}")]
    InvalidCertificate {
        /// The app.
        client_id: String,
        /// Why.
        reason: String,
    },
    /// A mutation was refused.
    #[error("mutation refused: {0}")]
    Mutation(String),
    /// A TLS certificate or a token-signing key could not be made or used.
    #[error("emulator TLS or signing key: {0}")]
    Tls(String),
    /// Binding or serving failed.
    #[error("emulator server on {addr}: {source}")]
    Serve {
        /// The address.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match self {
            Error::UnknownTenant { .. } => StatusCode::NOT_FOUND,
            Error::Serve { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        (
            status,
            axum::Json(json!({"error": {"code": "emulatorError", "message": self.to_string()}})),
        )
            .into_response()
    }
}
