//! `$batch`: requests in chunks of 20, sent side by side, each answer with its own status.

use crate::*;

/// Graph's limit on requests in one `$batch` (docs/graph.md §4).
pub const MAX_BATCH: usize = 20;

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

    pub(crate) fn header(&self, name: &str) -> Option<&Value> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

impl GraphClient {
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
    pub(crate) async fn batch_of_twenty(
        &self,
        chunk: &[BatchRequest],
    ) -> Result<Vec<BatchResponse>> {
        let mut answers = Vec::with_capacity(chunk.len());
        let mut pending: Vec<&BatchRequest> = chunk.iter().collect();
        let mut round = 0;
        // How long this batch has waited on 429s with a Retry-After (each round at least
        // `min_delay`): those are retried until it reaches `max_throttled_wait`.
        let mut throttled_wait = Duration::ZERO;
        let retry = self.inner.retry;
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
            let mut throttled = false;
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
                let told_to_wait = r.status == 429 && r.retry_after().is_some();
                if retryable
                    && (round < retry.max_retries
                        || (told_to_wait && throttled_wait < retry.max_throttled_wait))
                {
                    throttled |= told_to_wait;
                    let after = r
                        .retry_after()
                        .unwrap_or(retry.min_delay * 2u32.saturating_pow(round.min(16) as u32));
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
            if throttled {
                throttled_wait += wait.max(retry.min_delay);
            }
            round += 1;
        }
        Ok(answers)
    }
}
