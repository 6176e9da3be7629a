//! Alert webhooks (docs/alerts.md): after a backup whose snapshot raises alerts, the replica
//! that wrote the snapshot POSTs them, signed, to `[daemon.webhook] url`, and retries with a
//! doubling wait until an answer in 2xx or the configured attempts are spent.
//!
//! One replica writes a given snapshot (under the tenant's lease), so one replica delivers its
//! alerts: replicas never send the same delivery twice. A retry after an answer that was lost
//! sends the same delivery again (same `X-Dirvault-Delivery`, the snapshot id): receivers
//! drop a delivery id they have seen. A replica that stops while retrying drops the delivery
//! (the alerts stay in the repository: `GET /v1/tenants/{name}/alerts`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use chrono::Utc;
use dirvault_engine::alerts::{Alert, webhook::sign};
use dirvault_store::Snapshot;
use serde_json::json;
use zeroize::Zeroizing;

use crate::app::App;
use crate::config::WebhookConfig;
use crate::metrics;

/// The longest wait between two attempts.
const MAX_WAIT: Duration = Duration::from_secs(600);
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The signing secret, from the variable or file the configuration names.
fn secret(config: &WebhookConfig) -> Result<Zeroizing<Vec<u8>>> {
    let line = crate::config::secret_by_reference(
        "webhook secret",
        config.secret_env.as_deref(),
        config.secret_file.as_deref(),
    )?;
    if line.is_empty() {
        bail!("webhook secret: it is empty");
    }
    Ok(Zeroizing::new(line.as_bytes().to_vec()))
}

impl App {
    /// The alerts of a snapshot this replica just wrote (for its job's report), counted in the
    /// metrics.
    pub(crate) async fn raise_alerts(&self, name: &str, snapshot: &Snapshot) -> Vec<Alert> {
        let config = self.config();
        let Ok(tenant) = config.tenant(name) else {
            return Vec::new();
        };
        let alerts = match self
            .vault
            .alerts(&snapshot.tenant, Some(snapshot.time), &tenant.alerts)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(tenant = name, error = %e, "alerts could not be evaluated");
                return Vec::new();
            }
        };
        let count = alerts.len();
        if count == 0 {
            return alerts;
        }
        self.metrics
            .alerts
            .get_or_create(&metrics::tenant(name))
            .inc_by(count as u64);
        tracing::warn!(tenant = name, snapshot = %snapshot.id, alerts = count, "risky changes");
        alerts
    }

    /// Starts the delivery of a snapshot's alerts when there are some and a webhook is
    /// configured; the job shows where it is.
    pub(crate) fn send_alerts(
        self: &Arc<Self>,
        job: &str,
        name: &str,
        snapshot: &Snapshot,
        alerts: &[Alert],
    ) {
        let Some(webhook) = self.config().sections.daemon.webhook.clone() else {
            return;
        };
        if alerts.is_empty() {
            return;
        }
        let body = json!({
            "tenant": name,
            "tenantId": snapshot.tenant,
            "snapshot": snapshot.id,
            "alerts": alerts,
        })
        .to_string();
        let (app, job, name, delivery) = (
            self.clone(),
            job.to_owned(),
            name.to_owned(),
            snapshot.id.to_string(),
        );
        let mut shutdown = self.shutdown.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                () = app.deliver(&webhook, &job, &name, &delivery, body) => {}
                _ = shutdown.changed() => {
                    tracing::warn!(tenant = name, delivery, "webhook delivery dropped: the daemon is stopping");
                }
            }
        });
    }

    /// Sends one delivery until it is taken or the attempts are spent; the job shows where
    /// it is.
    async fn deliver(
        &self,
        webhook: &WebhookConfig,
        job: &str,
        name: &str,
        delivery: &str,
        body: String,
    ) {
        let record = |attempts: u32, result: &str, last: String| {
            self.jobs.update(job, |j| {
                if let Some(report) = j.report.as_mut() {
                    report["webhook"] = json!({"delivery": delivery, "attempts": attempts, "result": result, "last": last});
                }
            });
        };
        let outcome = async {
            let secret = secret(webhook)?;
            let client = reqwest::Client::builder()
                .timeout(ATTEMPT_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()?;
            let mut wait = Duration::from_millis(webhook.first_retry_ms);
            let attempts = webhook.attempts.max(1);
            for attempt in 1..=attempts {
                let timestamp = Utc::now().timestamp();
                let sent = client
                    .post(&webhook.url)
                    .header("content-type", "application/json")
                    .header("x-dirvault-delivery", delivery)
                    .header("x-dirvault-timestamp", timestamp.to_string())
                    .header(
                        "x-dirvault-signature",
                        sign(&secret, timestamp, body.as_bytes()),
                    )
                    .body(body.clone())
                    .send()
                    .await;
                let last = match sent {
                    Ok(r) if r.status().is_success() => {
                        record(attempt, "delivered", r.status().to_string());
                        return Ok(());
                    }
                    Ok(r) => format!("HTTP {}", r.status()),
                    // Without the URL: it may hold a token of the receiver's.
                    Err(e) => format!("{}", e.without_url()),
                };
                tracing::warn!(
                    tenant = name,
                    delivery,
                    attempt,
                    last,
                    "webhook attempt failed"
                );
                let result = if attempt == attempts {
                    "failed"
                } else {
                    "retrying"
                };
                record(attempt, result, last);
                if attempt < attempts {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_WAIT);
                }
            }
            bail!("every attempt failed")
        }
        .await;
        let result = match outcome {
            Ok(()) => "delivered",
            Err(e) => {
                tracing::error!(tenant = name, delivery, error = %format!("{e:#}"), "webhook not delivered");
                if self.jobs.get(job).is_some_and(|j| {
                    j.report
                        .as_ref()
                        .is_some_and(|r| r.get("webhook").is_none())
                }) {
                    record(0, "failed", format!("{e:#}"));
                }
                "failed"
            }
        };
        self.metrics
            .webhooks
            .get_or_create(&metrics::result(name, result))
            .inc();
    }
}
