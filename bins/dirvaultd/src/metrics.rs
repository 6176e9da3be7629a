//! Prometheus metrics (`GET /metrics`): backups, durations, objects, Graph requests, 429s and
//! errors by tenant; the replica's requests to its object store by operation.

use dirvault_store::Repository;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TenantLabel {
    pub(crate) tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: &'static str,
}

/// The repository's object-store requests, read at each scrape (the store counts them; a
/// shared bucket's load and an S3 bill are per request, not per tenant).
#[derive(Debug)]
struct StoreRequestsCollector(Repository);

impl Collector for StoreRequestsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(requests) = self.0.store_requests() else {
            return Ok(());
        };
        let mut family = encoder.encode_descriptor(
            "dirvault_store_requests",
            "Requests this replica sent to the repository's object store, by operation (a listing counts one per 1,000 keys)",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (operation, count) in requests.by_operation() {
            let label = OperationLabel { operation };
            ConstCounter::new(count).encode(family.encode_family(&label)?)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabel {
    pub(crate) tenant: String,
    pub(crate) result: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 14))
}

/// The daemon's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) backups: Family<ResultLabel, Counter>,
    pub(crate) restores: Family<ResultLabel, Counter>,
    pub(crate) backup_seconds: Family<TenantLabel, Histogram, fn() -> Histogram>,
    pub(crate) objects: Family<TenantLabel, Gauge>,
    pub(crate) graph_requests: Family<TenantLabel, Counter>,
    pub(crate) graph_throttled: Family<TenantLabel, Counter>,
    pub(crate) errors: Family<TenantLabel, Counter>,
    pub(crate) alerts: Family<TenantLabel, Counter>,
    pub(crate) webhooks: Family<ResultLabel, Counter>,
    pub(crate) running_jobs: Gauge,
    pub(crate) tenants: Gauge,
}

impl Metrics {
    pub(crate) fn new(repo: &Repository) -> Self {
        let mut registry = Registry::default();
        let m = Self {
            backups: Family::default(),
            restores: Family::default(),
            backup_seconds: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
            objects: Family::default(),
            graph_requests: Family::default(),
            graph_throttled: Family::default(),
            errors: Family::default(),
            alerts: Family::default(),
            webhooks: Family::default(),
            running_jobs: Gauge::default(),
            tenants: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "dirvault_backups",
            "Backups by tenant and result: complete, partial (snapshot written, some kinds failed), failed (no snapshot), skipped (another replica had the slot), locked",
            m.backups.clone(),
        );
        registry.register(
            "dirvault_restores",
            "Restore plans applied, by tenant and result",
            m.restores.clone(),
        );
        registry.register(
            "dirvault_backup_duration_seconds",
            "Wall time of backups",
            m.backup_seconds.clone(),
        );
        registry.register(
            "dirvault_snapshot_objects",
            "Objects in the tenant's latest snapshot written here",
            m.objects.clone(),
        );
        registry.register(
            "dirvault_graph_requests",
            "Graph HTTP requests sent",
            m.graph_requests.clone(),
        );
        registry.register(
            "dirvault_graph_throttled",
            "Graph 429 answers received",
            m.graph_throttled.clone(),
        );
        registry.register(
            "dirvault_errors",
            "Failed backups and restores",
            m.errors.clone(),
        );
        registry.register(
            "dirvault_alerts",
            "Alerts raised by the snapshots written here (docs/alerts.md)",
            m.alerts.clone(),
        );
        registry.register(
            "dirvault_webhook_deliveries",
            "Alert webhook deliveries by tenant and result: delivered, failed (every attempt failed)",
            m.webhooks.clone(),
        );
        registry.register(
            "dirvault_running_jobs",
            "Jobs running on this replica",
            m.running_jobs.clone(),
        );
        registry.register(
            "dirvault_tenants",
            "Tenants in the configuration",
            m.tenants.clone(),
        );
        registry.register_collector(Box::new(StoreRequestsCollector(repo.clone())));
        Self { registry, ..m }
    }

    /// The text exposition format.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

pub(crate) fn tenant(name: &str) -> TenantLabel {
    TenantLabel {
        tenant: name.to_owned(),
    }
}

pub(crate) fn result(name: &str, result: &str) -> ResultLabel {
    ResultLabel {
        tenant: name.to_owned(),
        result: result.to_owned(),
    }
}
