//! Throttling and retries: the budgets Graph counts requests against, `Retry-After` and the
//! pace learned from it, backoff for server errors.

use crate::*;

/// The throttling budgets Graph keeps apart for one app and tenant
/// (learn.microsoft.com/graph/throttling-limits): the directory's ResourceUnits; the identity
/// and access reports (sign-ins, audits, registration reports, authentication methods: 5
/// requests per 10 s); Conditional Access (1 request per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    Directory = 0,
    Reports = 1,
    ConditionalAccess = 2,
}

impl Budget {
    pub(crate) const COUNT: usize = 3;

    /// The budget a request URL draws on, from its path after the version segment.
    pub(crate) fn of(url: &str) -> Self {
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

pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// `Retry-After` in seconds: Graph writes decimals (`Retry-After: 2.128`, Microsoft Graph docs
/// `concepts/throttling.md`), HTTP allows whole seconds; a date or garbage is ignored (the
/// backoff applies).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<f64>().ok().and_then(seconds)
}

/// A finite, non-negative number of seconds, capped at [`MAX_RETRY_AFTER`] so that a hostile
/// value cannot overflow a `Duration`.
pub(crate) fn seconds(value: f64) -> Option<Duration> {
    // Whole milliseconds, rounded up: never earlier than asked.
    (value.is_finite() && value >= 0.0).then(|| {
        Duration::from_millis((value.min(MAX_RETRY_AFTER.as_secs_f64()) * 1000.0).ceil() as u64)
    })
}

/// How long to hold a budget back for an `x-ms-throttle-limit-percentage`: Graph sends it once
/// the app has used more than 0.8 of its limit, as a decimal from 0.8 to 1.8
/// (`concepts/throttling-limits.md`, "Regular responses"). 0.8 → no delay, 1.0 or more →
/// 1 s: back off in proportion to how close the budget is to its limit.
pub(crate) fn limit_pace(value: &str) -> Option<Duration> {
    let share = value.trim().parse::<f64>().ok().filter(|p| p.is_finite())?;
    (share > 0.8).then(|| Duration::from_millis(((share.min(1.0) - 0.8) * 5000.0).round() as u64))
}

impl GraphClient {
    pub(crate) fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.inner.retry.min_delay)
            .with_max_delay(self.inner.retry.max_delay)
            .with_max_times(self.inner.retry.max_retries)
            .with_jitter()
    }

    /// Runs `op` with the retry discipline: only retryable errors, `Retry-After` honoured.
    pub(crate) async fn with_retries<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
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

    /// Waits until the tenant's pacing of `budget` allows another request.
    pub(crate) async fn pace(&self, budget: Budget) {
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
    pub(crate) fn learn_pace(&self, budget: Budget, status: u16, headers: &HeaderMap) {
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
    pub(crate) fn hold_back(&self, budget: Budget, delay: Duration) {
        if let Ok(mut pace) = self.inner.pace_until.lock() {
            let until = Instant::now() + delay;
            let pace = &mut pace[budget as usize];
            if pace.is_none_or(|p| p < until) {
                *pace = Some(until);
            }
        }
    }
}
