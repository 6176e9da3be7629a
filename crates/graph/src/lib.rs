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
mod error;
pub mod metadata;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use futures::Stream;
pub use reqwest::Method;
use reqwest::header::HeaderMap;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::{Mutex, Semaphore};
use url::Url;

pub use auth::{ClientCertificate, Credentials};
pub use dirvault_model::Cloud;
use dirvault_model::TenantId;
pub use error::{Error, Result};

/// Graph's limit on requests in one `$batch` (docs/graph.md §4).
pub const MAX_BATCH: usize = 20;

/// Where the identity platform and Graph live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    login_root: Url,
    graph_root: Url,
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

impl Endpoints {
    /// The endpoints of a national cloud.
    pub fn cloud(cloud: Cloud) -> Self {
        let parse = |s: &str| Url::parse(s).expect("the cloud roots are valid URLs");
        Self {
            login_root: parse(cloud.login_root()),
            graph_root: parse(cloud.graph_root()),
        }
    }

    /// Explicit roots, e.g. `http://127.0.0.1:8080` for the emulator. Plain `http` is allowed
    /// only for loopback addresses: a token never crosses a network in clear.
    ///
    /// # Errors
    /// [`Error::Config`] for an unparsable URL or plain `http` to a non-loopback host.
    pub fn custom(graph_root: &str, login_root: &str) -> Result<Self> {
        let parse = |what: &str, s: &str| -> Result<Url> {
            let url = Url::parse(s.trim_end_matches('/'))
                .map_err(|e| Error::Config(format!("{what} {s:?} is not a URL: {e}")))?;
            match url.scheme() {
                "https" => Ok(url),
                "http" if is_loopback(&url) => Ok(url),
                "http" => Err(Error::Config(format!(
                    "{what} {s:?} uses plain http: allowed only for loopback addresses; use https"
                ))),
                other => Err(Error::Config(format!(
                    "{what} {s:?} has scheme {other:?}: use https"
                ))),
            }
        };
        Ok(Self {
            graph_root: parse("Graph root", graph_root)?,
            login_root: parse("login root", login_root)?,
        })
    }

    fn graph_base(&self) -> String {
        format!("{}/v1.0", self.graph_root.as_str().trim_end_matches('/'))
    }

    fn token_url(&self, tenant: &TenantId) -> String {
        format!(
            "{}/{tenant}/oauth2/v2.0/token",
            self.login_root.as_str().trim_end_matches('/')
        )
    }

    fn scope(&self, cloud_graph_root: Option<&str>) -> String {
        // The scope names Graph's resource: the cloud's Graph host even when the requests go
        // to an explicit root.
        format!(
            "{}/.default",
            cloud_graph_root
                .unwrap_or(self.graph_root.as_str())
                .trim_end_matches('/')
        )
    }
}

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
}

impl Default for RetryOptions {
    fn default() -> Self {
        Self {
            max_retries: 8,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
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

/// The throttling budgets Graph keeps apart for one app and tenant
/// (learn.microsoft.com/graph/throttling-limits): the directory's ResourceUnits; the identity
/// and access reports (sign-ins, audits, registration reports, authentication methods: 5
/// requests per 10 s); Conditional Access (1 request per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    Directory = 0,
    Reports = 1,
    ConditionalAccess = 2,
}

impl Budget {
    const COUNT: usize = 3;

    /// The budget a request URL draws on, from its path after the version segment.
    fn of(url: &str) -> Self {
        let path = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .to_ascii_lowercase();
        let after_version = ["/v1.0/", "/beta/"]
            .iter()
            .find_map(|v| path.split_once(v).map(|(_, rest)| rest))
            .unwrap_or(path.trim_start_matches('/'));
        let segments: Vec<&str> = after_version.split('/').collect();
        match segments.as_slice() {
            ["identity", "conditionalaccess", ..] => Self::ConditionalAccess,
            ["auditlogs" | "reports", ..] => Self::Reports,
            ["users", _, "authentication", ..] | ["me", "authentication", ..] => Self::Reports,
            _ => Self::Directory,
        }
    }
}

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

/// One page of a collection or delta round.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The page's items, as Graph returned them.
    pub items: Vec<Value>,
    /// `@odata.nextLink`: more pages follow.
    pub next_link: Option<String>,
    /// `@odata.deltaLink`: the last page of a delta round; store it for the next round.
    pub delta_link: Option<String>,
}

/// One request of a `$batch`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRequest {
    /// Unique within the batch.
    pub id: String,
    /// HTTP method.
    pub method: String,
    /// Relative URL, e.g. `/users/{id}/authentication/methods`.
    pub url: String,
    /// Headers.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub headers: Map<String, Value>,
    /// JSON body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

impl BatchRequest {
    /// A GET.
    pub fn get(id: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            method: "GET".into(),
            url: url.into(),
            headers: Map::new(),
            body: None,
        }
    }
}

/// One answer of a `$batch`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BatchResponse {
    /// The request's id.
    pub id: String,
    /// Its status.
    pub status: u16,
    /// Its headers.
    #[serde(default)]
    pub headers: Map<String, Value>,
    /// Its body.
    #[serde(default)]
    pub body: Value,
}

impl BatchResponse {
    /// A header holding a whole number (`x-ms-resource-unit`), by name in any case; Graph
    /// writes such values as strings or numbers.
    pub fn number_header(&self, name: &str) -> Option<u64> {
        self.header(name).and_then(|v| {
            v.as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .or_else(|| v.as_u64())
        })
    }

    /// The `Retry-After` of a sub-request, decimal seconds as Graph writes them.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after").and_then(|v| match v {
            Value::String(s) => parse_retry_after(s),
            Value::Number(n) => n.as_f64().and_then(seconds),
            _ => None,
        })
    }

    fn header(&self, name: &str) -> Option<&Value> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
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

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// `Retry-After` in seconds: Graph writes decimals (`Retry-After: 2.128`, Microsoft Graph docs
/// `concepts/throttling.md`), HTTP allows whole seconds; a date or garbage is ignored (the
/// backoff applies).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<f64>().ok().and_then(seconds)
}

/// A finite, non-negative number of seconds, capped at [`MAX_RETRY_AFTER`] so that a hostile
/// value cannot overflow a `Duration`.
fn seconds(value: f64) -> Option<Duration> {
    // Whole milliseconds, rounded up: never earlier than asked.
    (value.is_finite() && value >= 0.0).then(|| {
        Duration::from_millis((value.min(MAX_RETRY_AFTER.as_secs_f64()) * 1000.0).ceil() as u64)
    })
}

/// How long to hold a budget back for an `x-ms-throttle-limit-percentage`: Graph sends it once
/// the app has used more than 0.8 of its limit, as a decimal from 0.8 to 1.8
/// (`concepts/throttling-limits.md`, "Regular responses"). 0.8 → no delay, 1.0 or more →
/// 1 s: back off in proportion to how close the budget is to its limit.
fn limit_pace(value: &str) -> Option<Duration> {
    let share = value.trim().parse::<f64>().ok().filter(|p| p.is_finite())?;
    (share > 0.8).then(|| Duration::from_millis(((share.min(1.0) - 0.8) * 5000.0).round() as u64))
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

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.inner.retry.min_delay)
            .with_max_delay(self.inner.retry.max_delay)
            .with_max_times(self.inner.retry.max_retries)
            .with_jitter()
    }

    /// Runs `op` with the retry discipline: only retryable errors, `Retry-After` honoured.
    async fn with_retries<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        op.retry(self.backoff())
            .when(Error::is_retryable)
            // Graph's Retry-After wins over the backoff: never retry earlier than asked.
            .adjust(|e: &Error, delay| {
                delay.map(|d| e.retry_after().map_or(d, |a| a.min(MAX_RETRY_AFTER)))
            })
            .notify(|e: &Error, delay| {
                self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(tenant = %self.inner.tenant, what, ?delay, error = %e, "retrying Graph request");
            })
            .await
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
            if let Some(b) = body {
                req = req.json(b);
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
                let xml = resp_headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("xml"));
                let body = if bytes.is_empty() {
                    Value::Null
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

    /// Waits until the tenant's pacing of `budget` allows another request.
    async fn pace(&self, budget: Budget) {
        let until = self
            .inner
            .pace_until
            .lock()
            .ok()
            .and_then(|p| p[budget as usize]);
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                tokio::time::sleep(until - now).await;
            }
        }
    }

    /// Slows the client's requests on `budget` down when Graph says it is nearly used up
    /// (`x-ms-throttle-limit-percentage`, sent above 0.8) or exhausted (429 + `Retry-After`):
    /// the other requests on that budget wait too, instead of collecting 429s. Requests on
    /// other budgets go on (a throttled sign-in report does not hold up the users listing).
    fn learn_pace(&self, budget: Budget, status: u16, headers: &HeaderMap) {
        let delay = if status == 429 {
            retry_after(headers)
        } else {
            headers
                .get("x-ms-throttle-limit-percentage")
                .and_then(|v| v.to_str().ok())
                .and_then(limit_pace)
        };
        if let Some(delay) = delay {
            self.hold_back(budget, delay);
        }
    }

    /// No request on `budget` starts within `delay` from now.
    fn hold_back(&self, budget: Budget, delay: Duration) {
        if let Ok(mut pace) = self.inner.pace_until.lock() {
            let until = Instant::now() + delay;
            let pace = &mut pace[budget as usize];
            if pace.is_none_or(|p| p < until) {
                *pace = Some(until);
            }
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

    async fn page(&self, url: &str, headers: &[(&str, &str)]) -> Result<Page> {
        let body = self.send(Method::GET, url, None, headers).await?.body;
        let invalid = |reason: &str| Error::InvalidResponse {
            tenant: self.inner.tenant.clone(),
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let Value::Object(mut map) = body else {
            return Err(invalid("a collection response is not a JSON object"));
        };
        let items = match map.remove("value") {
            Some(Value::Array(items)) => items,
            _ => return Err(invalid("a collection response has no \"value\" array")),
        };
        let link = |map: &Map<String, Value>, name: &str| {
            map.get(name).and_then(Value::as_str).map(str::to_owned)
        };
        let page = Page {
            items,
            next_link: link(&map, "@odata.nextLink"),
            delta_link: link(&map, "@odata.deltaLink"),
        };
        if page.next_link.is_some() && page.delta_link.is_some() {
            return Err(invalid(
                "a page carries both @odata.nextLink and @odata.deltaLink",
            ));
        }
        Ok(page)
    }

    /// The pages of a collection (or a delta round), following `@odata.nextLink` exactly as
    /// given until a page has none. Each page's successor is fetched while the caller works on
    /// it (a listing is a chain of round trips: this keeps it moving), so the stream holds at
    /// most three pages: the caller's, one waiting, one arriving. Nothing is fetched before the
    /// first poll, and nothing more once the stream is dropped.
    pub fn pages(&self, path_or_url: &str) -> impl Stream<Item = Result<Page>> + Send + 'static {
        self.pages_with(path_or_url, &[])
    }

    /// The pages of a delta round, as [`GraphClient::pages`], asking with
    /// `Prefer: return=minimal` for only the changed properties of updated objects (without
    /// it Graph returns every selected property of each: api/user-delta.md,
    /// api/group-delta.md, "Optional request headers"). A service that ignores the header
    /// and answers in full is read right too, only with more bytes.
    pub fn delta_pages(
        &self,
        path_or_url: &str,
    ) -> impl Stream<Item = Result<Page>> + Send + 'static {
        self.pages_with(path_or_url, &[("prefer", "return=minimal")])
    }

    fn pages_with(
        &self,
        path_or_url: &str,
        headers: &'static [(&'static str, &'static str)],
    ) -> impl Stream<Item = Result<Page>> + Send + 'static {
        enum State {
            Start(GraphClient, Result<String>),
            Running(tokio::sync::mpsc::Receiver<Result<Page>>),
        }
        let start = State::Start(self.clone(), self.url(path_or_url));
        futures::stream::unfold(start, move |state| async move {
            let mut pages = match state {
                State::Running(pages) => pages,
                State::Start(client, first) => {
                    let (tx, pages) = tokio::sync::mpsc::channel(1);
                    tokio::spawn(async move {
                        let mut next = Some(first);
                        while let Some(url) = next.take() {
                            let page = match url {
                                Ok(url) => client.page(&url, headers).await,
                                Err(e) => Err(e),
                            };
                            if let Ok(page) = &page {
                                next = page.next_link.as_deref().map(|n| client.url(n));
                            }
                            if tx.send(page).await.is_err() {
                                break; // the caller stopped listening
                            }
                        }
                    });
                    pages
                }
            };
            pages.recv().await.map(|page| (page, State::Running(pages)))
        })
    }

    /// Every item of a collection whose first page came another way (e.g. inside a `$batch`
    /// answer): its `value`, then every further page by `@odata.nextLink`.
    ///
    /// # Errors
    /// As [`GraphClient::get`], for the further pages.
    pub async fn rest_of(&self, first_page: &Value) -> Result<Vec<Value>> {
        let mut items = first_page["value"].as_array().cloned().unwrap_or_default();
        let mut next = first_page["@odata.nextLink"].as_str().map(str::to_owned);
        while let Some(link) = next {
            let page = self.get(&link).await?;
            items.extend(page["value"].as_array().cloned().unwrap_or_default());
            next = page["@odata.nextLink"].as_str().map(str::to_owned);
        }
        Ok(items)
    }

    /// Runs requests through `$batch`, 20 at a time (as many batches at once as the client's
    /// concurrency allows), and retries the ones Graph throttled or could not serve
    /// (429/503/504 inside a 200 batch) after their own `Retry-After`. Answers come back in
    /// request order.
    ///
    /// # Errors
    /// [`Error::Config`] for duplicate ids; the errors of [`GraphClient::send`] for the batch
    /// requests themselves. Failed requests inside are answers, not errors.
    pub async fn batch(&self, requests: &[BatchRequest]) -> Result<Vec<BatchResponse>> {
        use futures::{StreamExt, TryStreamExt};
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = requests.iter().find(|r| !seen.insert(r.id.as_str())) {
            return Err(Error::Config(format!(
                "batch request id {:?} is used twice",
                dup.id
            )));
        }
        let mut answers = std::collections::HashMap::with_capacity(requests.len());
        // Collected first: a stream holding the closure that makes them would not be provably
        // `Send` (rust-lang/rust#64552), and backups run on spawned tasks.
        let batches: Vec<_> = requests
            .chunks(MAX_BATCH)
            .map(|chunk| self.batch_of_twenty(chunk))
            .collect();
        let mut batches =
            futures::stream::iter(batches).buffer_unordered(self.inner.max_concurrency);
        while let Some(part) = batches.try_next().await? {
            answers.extend(part.into_iter().map(|answer| (answer.id.clone(), answer)));
        }
        requests
            .iter()
            .map(|r| {
                answers.remove(&r.id).ok_or_else(|| Error::InvalidResponse {
                    tenant: self.inner.tenant.clone(),
                    url: "/$batch".into(),
                    reason: format!("no answer for batch request {:?}", r.id),
                })
            })
            .collect()
    }

    /// One `$batch` request of at most 20, with its throttled requests retried: the final
    /// answers, in any order.
    async fn batch_of_twenty(&self, chunk: &[BatchRequest]) -> Result<Vec<BatchResponse>> {
        let mut answers = Vec::with_capacity(chunk.len());
        let mut pending: Vec<&BatchRequest> = chunk.iter().collect();
        let mut round = 0;
        while !pending.is_empty() {
            // A batch waits for the pacing of every budget its requests draw on.
            for budget in [Budget::Reports, Budget::ConditionalAccess] {
                if pending.iter().any(|r| Budget::of(&r.url) == budget) {
                    self.pace(budget).await;
                }
            }
            let body = json!({ "requests": pending });
            let resp = self.send(Method::POST, "/$batch", Some(&body), &[]).await?;
            let responses: Vec<BatchResponse> =
                serde_json::from_value(resp.body.get("responses").cloned().unwrap_or(Value::Null))
                    .map_err(|e| Error::InvalidResponse {
                        tenant: self.inner.tenant.clone(),
                        url: "/$batch".into(),
                        reason: format!("a batch answer without a valid \"responses\" array: {e}"),
                    })?;
            let mut wait = Duration::ZERO;
            let mut retry_ids = Vec::new();
            for r in responses {
                // Each request inside a batch is charged on its own (learn.microsoft.com/graph/
                // throttling, "Throttling and batching": requests in a batch are evaluated
                // individually against throttling limits).
                if let Some(ru) = r.number_header("x-ms-resource-unit") {
                    self.inner
                        .counters
                        .resource_units
                        .fetch_add(ru, Ordering::Relaxed);
                }
                let retryable = matches!(r.status, 429 | 503 | 504);
                if r.status == 429 {
                    self.inner
                        .counters
                        .throttled
                        .fetch_add(1, Ordering::Relaxed);
                }
                if retryable && round < self.inner.retry.max_retries {
                    let after = r
                        .retry_after()
                        .unwrap_or(self.inner.retry.min_delay * 2u32.saturating_pow(round as u32));
                    // Graph's Retry-After is honoured, up to MAX_RETRY_AFTER (the old cap,
                    // `after.min(max_delay.max(after))`, was always `after`).
                    wait = wait.max(after.min(MAX_RETRY_AFTER));
                    if r.status == 429 {
                        // The other batches on that budget wait too.
                        if let Some(request) = pending.iter().find(|p| p.id == r.id) {
                            self.hold_back(Budget::of(&request.url), after);
                        }
                    }
                    retry_ids.push(r.id.clone());
                } else {
                    answers.push(r);
                }
            }
            pending.retain(|r| retry_ids.contains(&r.id));
            if !pending.is_empty() {
                self.inner
                    .counters
                    .retries
                    .fetch_add(pending.len() as u64, Ordering::Relaxed);
                tracing::warn!(tenant = %self.inner.tenant, ?wait, count = pending.len(), "retrying throttled batch requests");
                tokio::time::sleep(wait).await;
            }
            round += 1;
        }
        Ok(answers)
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
