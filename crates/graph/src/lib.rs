//! Microsoft Graph client for dirvault.
//!
//! - Client-credentials auth per tenant with a client secret or a certificate
//!   ([`Credentials`]); tokens are cached, refreshed before expiry, and refreshed once more when
//!   Graph answers 401 (a long backup outlives its token).
//! - National clouds ([`Cloud`]) or explicit Graph and login roots (plain `http` only for
//!   loopback, for the emulator).
//! - Paging that follows `@odata.nextLink` exactly as given, as a stream of pages
//!   ([`GraphClient::pages`]) that fetches each page's successor while the caller works on it;
//!   delta rounds are the same stream, ending with a deltaLink.
//! - `$batch` ([`GraphClient::batch`]) in chunks of 20 sent side by side, retrying throttled
//!   requests inside; each inner request's ResourceUnits are counted.
//! - Throttling discipline: `Retry-After` honoured (never retried earlier), exponential backoff
//!   with jitter otherwise, retries only for 429/503/504, transport failures and malformed
//!   bodies, bounded concurrency per tenant, and pacing per throttling budget (directory
//!   ResourceUnits, identity reports, Conditional Access): a 429 or a budget above 80 % holds
//!   back the requests on that budget only. Every error carries tenant, URL, status, Graph
//!   code and request-id.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), dirvault_graph::Error> {
//! use dirvault_graph::{Credentials, GraphClient};
//! use futures::TryStreamExt;
//!
//! let client = GraphClient::builder("5f1c2d3e-0000-4000-8000-000000000001".parse().unwrap())
//!     .with_credentials(Credentials::secret("00000000-0000-0000-0000-0000000000aa".parse().unwrap(),
//!         std::env::var("GRAPH_SECRET").unwrap_or_default()))
//!     .build()?;
//! let mut pages = std::pin::pin!(client.pages("/users?$top=999&$select=id,displayName"));
//! while let Some(page) = pages.try_next().await? {
//!     println!("{} users", page.items.len());
//! }
//! # Ok(()) }
//! ```

// Errors carry what a user needs (tenant, URL, status, Graph code, request-id); they are rare,
// and boxing them would make matching on them clumsy.
#![allow(clippy::result_large_err)]

mod auth;
mod batch;
mod endpoints;
mod error;
mod escape;
pub mod metadata;
mod paging;
pub mod stream;
mod throttle;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
pub use escape::path_segment;
use futures::Stream;
pub use reqwest::Method;
use reqwest::header::HeaderMap;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::{Mutex, Semaphore};
use url::Url;

pub use auth::{ClientCertificate, Credentials};
pub use batch::{BatchRequest, BatchResponse, MAX_BATCH};
pub use dirvault_model::Cloud;
use dirvault_model::TenantId;
pub use endpoints::Endpoints;
pub use error::{Error, Result};
pub use paging::Page;
use throttle::*;

/// The longest `Retry-After` honoured: a longer one (a hostile or broken answer) is waited
/// this long, so that one answer cannot stall a backup for hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Retry settings (docs/graph.md §5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryOptions {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// First backoff delay when Graph gives no `Retry-After`.
    pub min_delay: Duration,
    /// Longest backoff delay.
    pub max_delay: Duration,
    /// How long a request inside a `$batch` that Graph keeps throttling (429 with a
    /// `Retry-After`) is retried in all, beyond `max_retries`: Graph's guidance is to wait as
    /// told and retry (learn.microsoft.com/graph/throttling), and a long restore under the
    /// write limit meets more 429s than any fixed count allows. Each round counts at least
    /// `min_delay`, so a `Retry-After: 0` that never ends is bounded too.
    pub max_throttled_wait: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        Self {
            max_retries: 8,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_throttled_wait: Duration::from_secs(15 * 60),
        }
    }
}

/// Counters of what a client did, for progress reporting.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    resource_units: AtomicU64,
}

/// A snapshot of a client's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientStats {
    /// HTTP requests sent to Graph (batch sub-requests not counted separately).
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// 429 answers received (including inside batches).
    pub throttled: u64,
    /// ResourceUnits Graph reported (`x-ms-resource-unit`).
    pub resource_units: u64,
}

impl ClientStats {
    /// What happened since `earlier` (a snapshot of the same client's counters).
    #[must_use]
    pub fn since(self, earlier: ClientStats) -> ClientStats {
        ClientStats {
            requests: self.requests.saturating_sub(earlier.requests),
            retries: self.retries.saturating_sub(earlier.retries),
            throttled: self.throttled.saturating_sub(earlier.throttled),
            resource_units: self.resource_units.saturating_sub(earlier.resource_units),
        }
    }
}

/// Builds a [`GraphClient`].
#[must_use]
#[derive(Debug)]
pub struct GraphClientBuilder {
    tenant: TenantId,
    credentials: Option<Credentials>,
    cloud: Cloud,
    roots: Option<(String, String)>,
    retry: RetryOptions,
    max_concurrency: usize,
    timeout: Duration,
}

impl GraphClientBuilder {
    /// The credentials (required).
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The national cloud (default: global).
    pub fn with_cloud(mut self, cloud: Cloud) -> Self {
        self.cloud = cloud;
        self
    }

    /// Explicit Graph and login roots (e.g. the emulator's URL for both).
    pub fn with_endpoints(mut self, graph_root: &str, login_root: &str) -> Self {
        self.roots = Some((graph_root.to_owned(), login_root.to_owned()));
        self
    }

    /// Retry settings.
    pub fn with_retry(mut self, retry: RetryOptions) -> Self {
        self.retry = retry;
        self
    }

    /// Requests in flight at once for this tenant ([`DEFAULT_MAX_CONCURRENCY`]).
    pub fn with_max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }

    /// Timeout of one HTTP request (default 100 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] without credentials or with invalid endpoints.
    pub fn build(self) -> Result<GraphClient> {
        let credentials = self.credentials.ok_or_else(|| {
            Error::Config(format!(
                "no credentials for tenant {}: call with_credentials",
                self.tenant
            ))
        })?;
        let endpoints = match &self.roots {
            Some((graph, login)) => Endpoints::custom(graph, login)?,
            None => Endpoints::cloud(self.cloud),
        };
        let scope = endpoints.scope(Some(self.cloud.graph_root()));
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .user_agent(concat!("dirvault/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(GraphClient {
            inner: Arc::new(Inner {
                token_url: endpoints.token_url(&self.tenant),
                tenant: self.tenant,
                credentials,
                endpoints,
                scope,
                http,
                retry: self.retry,
                limiter: Semaphore::new(self.max_concurrency),
                max_concurrency: self.max_concurrency,
                pace_until: std::sync::Mutex::new([None; Budget::COUNT]),
                token: Mutex::new(None),
                counters: Counters::default(),
            }),
        })
    }
}

/// Requests a client has in flight at once unless told otherwise
/// ([`GraphClientBuilder::with_max_concurrency`]). Entra ID limits an app in a tenant by
/// ResourceUnits per 10 seconds, not by requests in flight
/// (learn.microsoft.com/graph/throttling-limits, "Identity and access service limits"), and the
/// client paces itself by that budget; at 100 ms a round trip, 4 in flight would cap a backup at
/// 40 requests a second, below what the budget admits for cheap requests (docs/benchmarks.md).
pub const DEFAULT_MAX_CONCURRENCY: usize = 8;

struct Inner {
    tenant: TenantId,
    credentials: Credentials,
    endpoints: Endpoints,
    token_url: String,
    scope: String,
    http: reqwest::Client,
    retry: RetryOptions,
    limiter: Semaphore,
    /// The limiter's permits: how many requests may be in flight at once.
    max_concurrency: usize,
    /// Per [`Budget`], no request starts before this: set by a 429's Retry-After (for every
    /// request of the tenant that draws on the same budget, not just the throttled one) and
    /// by a budget nearly used up.
    pace_until: std::sync::Mutex<[Option<Instant>; Budget::COUNT]>,
    token: Mutex<Option<auth::CachedToken>>,
    counters: Counters,
}

/// A Microsoft Graph client for one tenant. Cheap to clone.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("tenant", &self.inner.tenant)
            .field("credentials", &self.inner.credentials)
            .field("endpoints", &self.inner.endpoints)
            .finish()
    }
}

/// A Graph answer.
#[derive(Debug, Clone)]
pub struct GraphResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The JSON body (`Null` when empty, e.g. 204).
    pub body: Value,
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: Option<GraphErrorInner>,
}

#[derive(Deserialize)]
struct GraphErrorInner {
    code: Option<String>,
    message: Option<String>,
}

impl GraphClient {
    /// A builder for `tenant`.
    pub fn builder(tenant: TenantId) -> GraphClientBuilder {
        GraphClientBuilder {
            tenant,
            credentials: None,
            cloud: Cloud::Global,
            roots: None,
            retry: RetryOptions::default(),
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            timeout: Duration::from_secs(100),
        }
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.inner.tenant
    }

    /// What the client has done so far.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        ClientStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            resource_units: c.resource_units.load(Ordering::Relaxed),
        }
    }

    /// An absolute URL for a path under `/v1.0` (absolute URLs pass through after a check that
    /// they point at the Graph root: a bearer token is never sent elsewhere).
    /// The versioned Graph root, e.g. `https://graph.microsoft.com/v1.0`: what
    /// `@odata.id` / `@odata.bind` references start with.
    pub fn base_url(&self) -> String {
        self.inner.endpoints.graph_base()
    }

    fn url(&self, path_or_url: &str) -> Result<String> {
        let base = self.inner.endpoints.graph_base();
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            if !path_or_url.starts_with(&format!("{base}/")) {
                return Err(Error::InvalidResponse {
                    tenant: self.inner.tenant.clone(),
                    url: path_or_url.to_owned(),
                    reason: format!("link outside the Graph root {base}: not followed"),
                });
            }
            return Ok(path_or_url.to_owned());
        }
        Ok(format!("{base}/{}", path_or_url.trim_start_matches('/')))
    }

    /// Gets an access token (or finds a fresh one cached): a backup checks its credentials
    /// once up front, so that a wrong secret or an unknown tenant fails the run as a whole
    /// instead of failing every kind one by one.
    ///
    /// # Errors
    /// [`Error::Token`] when the identity platform refuses the credentials;
    /// [`Error::Transport`] when it cannot be reached.
    pub async fn authenticate(&self) -> Result<()> {
        self.with_retries("token request", || self.token(false))
            .await
            .map(drop)
    }

    async fn token(&self, force: bool) -> Result<secrecy::SecretString> {
        let mut cached = self.inner.token.lock().await;
        if !force
            && let Some(t) = cached.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok(t.value.clone());
        }
        let fresh = auth::request_token(
            &self.inner.http,
            &self.inner.token_url,
            &self.inner.scope,
            &self.inner.tenant,
            &self.inner.credentials,
        )
        .await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Sends one request once (no retries), refreshing the token once on 401.
    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<GraphResponse> {
        let _permit = self
            .inner
            .limiter
            .acquire()
            .await
            .map_err(|_| Error::Config("client closed".into()))?;
        let mut refreshed = false;
        loop {
            let token = self.token(refreshed).await?;
            let mut req = self
                .inner
                .http
                .request(method.clone(), url)
                .bearer_auth(token.expose_secret());
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            match body.map(|b| (b, b.as_str().and_then(stream::from_data_uri))) {
                // A stream (a logo, CSS) goes as its bytes with its media type.
                Some((_, Some((content_type, bytes)))) => {
                    req = req.header("content-type", content_type).body(bytes);
                }
                Some((b, None)) => req = req.json(b),
                None => {}
            }
            let transport = |source| Error::Transport {
                tenant: self.inner.tenant.clone(),
                method: method.to_string(),
                url: url.to_owned(),
                source,
            };
            let budget = Budget::of(url);
            self.pace(budget).await;
            self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
            let resp = req.send().await.map_err(transport)?;
            let status = resp.status().as_u16();
            let resp_headers = resp.headers().clone();
            self.learn_pace(budget, status, &resp_headers);
            if let Some(ru) = resp_headers
                .get("x-ms-resource-unit")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
            {
                self.inner
                    .counters
                    .resource_units
                    .fetch_add(ru, Ordering::Relaxed);
            }
            let bytes = resp.bytes().await.map_err(transport)?;
            if status == 401 && !refreshed {
                // The token expired or was revoked early: get a new one, once.
                refreshed = true;
                continue;
            }
            if (200..300).contains(&status) {
                let content_type = resp_headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let xml = content_type.contains("xml");
                let stream = !content_type.is_empty() && !xml && !content_type.contains("json");
                let body = if bytes.is_empty() {
                    Value::Null
                } else if stream {
                    // An `Edm.Stream` (image, CSS): handed over as a `data:` URI.
                    Value::String(stream::to_data_uri(content_type, &bytes))
                } else if xml {
                    // `$metadata` is CSDL XML: handed over as text.
                    Value::String(String::from_utf8(bytes.to_vec()).map_err(|_| {
                        Error::InvalidResponse {
                            tenant: self.inner.tenant.clone(),
                            url: url.to_owned(),
                            reason: "an XML body is not UTF-8".into(),
                        }
                    })?)
                } else {
                    serde_json::from_slice(&bytes).map_err(|e| Error::InvalidResponse {
                        tenant: self.inner.tenant.clone(),
                        url: url.to_owned(),
                        reason: format!("malformed JSON ({e}) in a {} byte body", bytes.len()),
                    })?
                };
                return Ok(GraphResponse {
                    status,
                    headers: resp_headers,
                    body,
                });
            }
            if status == 429 {
                self.inner
                    .counters
                    .throttled
                    .fetch_add(1, Ordering::Relaxed);
            }
            let parsed: Option<GraphErrorInner> = serde_json::from_slice::<GraphErrorBody>(&bytes)
                .ok()
                .and_then(|b| b.error);
            let request_id = resp_headers
                .get("request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            return Err(Error::Graph {
                tenant: self.inner.tenant.clone(),
                method: method.to_string(),
                url: url.to_owned(),
                status,
                code: parsed
                    .as_ref()
                    .and_then(|e| e.code.clone())
                    .unwrap_or_else(|| format!("HTTP{status}")),
                message: parsed
                    .and_then(|e| e.message)
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect()),
                request_id,
                retry_after: retry_after(&resp_headers),
            });
        }
    }

    /// Sends a request with the retry discipline.
    ///
    /// # Errors
    /// [`Error::Graph`] for a Graph error that is not retryable (or still failing after the
    /// retries), [`Error::Transport`], [`Error::InvalidResponse`], [`Error::Token`].
    pub async fn send(
        &self,
        method: Method,
        path_or_url: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<GraphResponse> {
        let url = self.url(path_or_url)?;
        self.with_retries(&url, || self.attempt(&method, &url, body, headers))
            .await
    }

    /// `GET` returning the JSON body.
    ///
    /// # Errors
    /// As [`GraphClient::send`].
    pub async fn get(&self, path_or_url: &str) -> Result<Value> {
        Ok(self.send(Method::GET, path_or_url, None, &[]).await?.body)
    }

    /// The service's metadata (`GET /$metadata`, CSDL): the entity types and properties Graph
    /// declares today, so that a backup can ask for every one of them.
    ///
    /// # Errors
    /// As [`GraphClient::send`]; [`Error::InvalidResponse`] when the document is not CSDL.
    pub async fn service_metadata(&self) -> Result<metadata::ServiceMetadata> {
        let url = "/$metadata";
        let body = self
            .send(Method::GET, url, None, &[("accept", "application/xml")])
            .await?
            .body;
        let invalid = |reason: String| Error::InvalidResponse {
            tenant: self.inner.tenant.clone(),
            url: url.to_owned(),
            reason,
        };
        let Value::String(text) = body else {
            return Err(invalid("the metadata is not an XML document".into()));
        };
        metadata::ServiceMetadata::parse(&text).map_err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Budget, limit_pace, parse_retry_after};

    #[test]
    fn retry_after_is_read_in_the_decimal_form_graph_sends() {
        assert_eq!(
            parse_retry_after("2.128"),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("1e9"), Some(super::MAX_RETRY_AFTER));
        for bad in [
            "-1",
            "NaN",
            "inf",
            "soon",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "",
        ] {
            assert_eq!(parse_retry_after(bad), None, "{bad}");
        }
    }

    #[test]
    fn pacing_starts_above_the_documented_0_8() {
        assert_eq!(limit_pace("0.8"), None);
        assert_eq!(limit_pace("0.5"), None);
        assert_eq!(limit_pace("0.9"), Some(Duration::from_millis(500)));
        assert_eq!(limit_pace("1.8"), Some(Duration::from_secs(1)));
        assert_eq!(limit_pace("NaN"), None);
        assert_eq!(limit_pace("x"), None);
    }

    #[test]
    fn requests_draw_on_the_budget_graph_counts_them_against() {
        let of = |url| Budget::of(url);
        assert_eq!(
            of("https://graph.microsoft.com/v1.0/users?$top=999"),
            Budget::Directory
        );
        assert_eq!(of("http://127.0.0.1:1/v1.0/$batch"), Budget::Directory);
        assert_eq!(
            of("https://graph.microsoft.com/v1.0/auditLogs/signIns"),
            Budget::Reports
        );
        assert_eq!(
            of(
                "https://graph.microsoft.com/beta/reports/authenticationMethods/userRegistrationDetails"
            ),
            Budget::Reports
        );
        assert_eq!(of("/users/abc/authentication/methods"), Budget::Reports);
        assert_eq!(of("/users/abc/memberOf"), Budget::Directory);
        assert_eq!(
            of("https://graph.microsoft.com/v1.0/identity/conditionalAccess/policies"),
            Budget::ConditionalAccess
        );
    }
}
