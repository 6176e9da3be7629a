//! The daemon's shared state and the jobs it runs. Every job calls the same library functions
//! the CLI does: `dirvault_engine::backup*` and the [`Vault`]'s `maintain` and
//! `apply_restore`.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{ApiKeyConfig, DaemonFile as Config};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use dirvault_engine::{BackupOptions, BackupOutcome, BackupReport, Vault};
use dirvault_model::TenantId;
use dirvault_restore::{ApplyOptions, RestorePlan};
use dirvault_store::Repository;
use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::jobs::{Job, JobKind, JobState, Jobs};
use crate::metrics::{self, Metrics};

/// An API key, resolved: its hash and the tenant ids it may see.
#[derive(Clone)]
pub(crate) struct Key {
    pub(crate) name: String,
    pub(crate) sha256: [u8; 32],
    /// `None`: an admin key.
    tenant_ids: Option<BTreeSet<TenantId>>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .field("tenant_ids", &self.tenant_ids)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Whether this key may see and touch the tenant `id` (its configuration entry and its
    /// data in the repository).
    pub(crate) fn allows(&self, id: &TenantId) -> bool {
        self.tenant_ids.as_ref().is_none_or(|t| t.contains(id))
    }

    /// Whether this key is for every tenant: only such a key adds, removes or re-points
    /// tenants, reloads the configuration or reads the metrics.
    pub(crate) fn is_admin(&self) -> bool {
        self.tenant_ids.is_none()
    }
}

/// Whether `a` and `b` are equal, comparing every byte whatever the first difference (secrets
/// and their hashes: the time taken tells nothing).
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The SHA-256 of a key, hex.
pub(crate) fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.trim().as_bytes()))
}

/// Every API key of the configuration, resolved.
fn resolve_keys(config: &Config) -> Result<Vec<Key>> {
    config
        .sections
        .daemon
        .api_keys
        .iter()
        .map(resolve_key)
        .collect()
}

fn resolve_key(k: &ApiKeyConfig) -> Result<Key> {
    let hex = match (&k.sha256, &k.env, &k.file) {
        (Some(h), None, None) => h.trim().to_lowercase(),
        (None, env, file) if env.is_some() != file.is_some() => {
            hash_key(&crate::config::secret_by_reference(
                &format!("API key {:?}", k.name),
                env.as_deref(),
                file.as_deref(),
            )?)
        }
        _ => bail!(
            "API key {:?}: give exactly one of sha256, env or file",
            k.name
        ),
    };
    let sha256: [u8; 32] = hex::decode(&hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("API key {:?}: sha256 must be 64 hex digits", k.name))?;
    Ok(Key {
        name: k.name.clone(),
        sha256,
        tenant_ids: k.tenant_ids.as_ref().map(|t| t.iter().cloned().collect()),
    })
}

/// The failed kinds of a partial backup, with their reasons; `None` when it is complete.
fn failed_kinds(report: &BackupReport) -> Option<String> {
    let failed: Vec<String> = report
        .kinds
        .iter()
        .filter_map(|k| match &k.status {
            dirvault_store::KindStatus::Failed { reason } => Some(format!("{}: {reason}", k.kind)),
            _ => None,
        })
        .collect();
    (!failed.is_empty()).then(|| {
        format!(
            "partial snapshot: {} kind(s) failed and kept the previous data: {}",
            failed.len(),
            failed.join("; ")
        )
    })
}

/// What the scheduler knows of a tenant between ticks.
#[derive(Debug, Clone, Default)]
pub(crate) struct TenantRun {
    /// The slot that has its snapshot (here or on another replica).
    pub(crate) slot_done: Option<DateTime<Utc>>,
    /// Consecutive failures.
    pub(crate) failures: u32,
    /// Not before this (within the slot of the last failure).
    pub(crate) retry_at: Option<DateTime<Utc>>,
    /// When the last failure happened.
    pub(crate) failed_at: Option<DateTime<Utc>>,
    /// The last error.
    pub(crate) last_error: Option<String>,
}

impl TenantRun {
    /// A failed backup at `now`: the next try waits `base_seconds`, doubling with each
    /// consecutive failure (up to 2^15 times the base).
    pub(crate) fn record_failure(
        &mut self,
        message: String,
        base_seconds: u64,
        now: DateTime<Utc>,
    ) {
        self.failures = self.failures.saturating_add(1);
        self.failed_at = Some(now);
        let base = i64::try_from(base_seconds.max(1)).unwrap_or(i64::MAX);
        let delay = base.saturating_mul(1i64 << self.failures.min(16).saturating_sub(1));
        self.retry_at = Duration::try_seconds(delay)
            .and_then(|d| now.checked_add_signed(d))
            .or(Some(DateTime::<Utc>::MAX_UTC));
        self.last_error = Some(message);
    }
}

/// The daemon.
pub(crate) struct App {
    pub(crate) config_path: PathBuf,
    config: RwLock<Arc<Config>>,
    keys: RwLock<Arc<Vec<Key>>>,
    pub(crate) repo: Repository,
    /// The workflows over `repo`.
    pub(crate) vault: Vault,
    pub(crate) node: String,
    pub(crate) jobs: Jobs,
    pub(crate) metrics: Metrics,
    pub(crate) runs: Mutex<HashMap<String, TenantRun>>,
    /// Held while the configuration file is changed or re-read: one writer at a time, and a
    /// reload never applies a file older than the last change.
    config_file: Mutex<()>,
    slots: Arc<Semaphore>,
    tasks: Mutex<JoinSet<()>>,
    pub(crate) shutdown: tokio::sync::watch::Sender<bool>,
}

impl App {
    pub(crate) fn new(config_path: PathBuf, config: Config, repo: Repository) -> Result<Arc<Self>> {
        let keys = resolve_keys(&config)?;
        let node = format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "dirvaultd".into()),
            std::process::id()
        );
        let slots = Arc::new(Semaphore::new(
            config.sections.daemon.max_concurrent_jobs.max(1),
        ));
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let metrics = Metrics::new(&repo);
        metrics.tenants.set(config.tenants.len() as i64);
        Ok(Arc::new(Self {
            config_path,
            config: RwLock::new(Arc::new(config)),
            keys: RwLock::new(Arc::new(keys)),
            vault: Vault::new(repo.clone()),
            repo,
            node,
            jobs: Jobs::default(),
            metrics,
            runs: Mutex::new(HashMap::new()),
            config_file: Mutex::new(()),
            slots,
            tasks: Mutex::new(JoinSet::new()),
            shutdown,
        }))
    }

    /// The configuration in force.
    pub(crate) fn config(&self) -> Arc<Config> {
        self.config.read().clone()
    }

    /// Re-reads the configuration file (SIGHUP, `POST /v1/config/reload`). A broken file
    /// changes nothing.
    pub(crate) fn reload(&self) -> Result<()> {
        let _writing = self.config_file.lock();
        self.reload_locked()
    }

    /// [`App::reload`], with the configuration file's lock held.
    fn reload_locked(&self) -> Result<()> {
        let config = Config::load(&self.config_path)?;
        let keys = resolve_keys(&config)?;
        self.metrics.tenants.set(config.tenants.len() as i64);
        *self.keys.write() = Arc::new(keys);
        *self.config.write() = Arc::new(config);
        tracing::info!(path = %self.config_path.display(), "configuration reloaded");
        Ok(())
    }

    /// Changes the configuration file and reloads it, one change at a time: the file is
    /// read, changed and written whole (`Config::save`) under a lock, so concurrent changes
    /// all land and a reload never sees half a file.
    pub(crate) fn edit_config(&self, f: impl FnOnce(&mut Config) -> Result<()>) -> Result<()> {
        let _writing = self.config_file.lock();
        let mut config = Config::load(&self.config_path)?;
        f(&mut config)?;
        config.save(&self.config_path)?;
        self.reload_locked()
    }

    /// The Graph client of tenant `name` as the configuration in force has it.
    pub(crate) fn client(&self, name: &str) -> Result<dirvault_graph::GraphClient> {
        Ok(crate::config::client(
            &self.config(),
            &self.config_path,
            name,
        )?)
    }

    /// The key whose hash is `SHA-256(bearer)`.
    pub(crate) fn key(&self, bearer: &str) -> Option<Key> {
        self.key_by_hash(&Sha256::digest(bearer.trim().as_bytes()).into())
    }

    /// The key with this SHA-256, as the configuration in force has it (a console session
    /// holds the hash, so that a key removed or re-scoped in the configuration applies to
    /// its sessions at once).
    pub(crate) fn key_by_hash(&self, digest: &[u8; 32]) -> Option<Key> {
        self.keys
            .read()
            .iter()
            .find(|k| same_bytes(&k.sha256, digest))
            .cloned()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    fn spawn(self: &Arc<Self>, job: Job, work: impl Future<Output = ()> + Send + 'static) {
        let app = self.clone();
        let mut shutdown = self.shutdown.subscribe();
        self.tasks.lock().spawn(async move {
            let permit = tokio::select! {
                p = app.slots.clone().acquire_owned() => p,
                _ = shutdown.changed() => {
                    app.jobs.finish(&job.id, JobState::Failed, Some("the daemon shut down before the job started".into()));
                    return;
                }
            };
            let Ok(_permit) = permit else { return };
            app.jobs.update(&job.id, |j| {
                j.state = JobState::Running;
                j.started = Some(Utc::now());
            });
            app.metrics.running_jobs.inc();
            work.await;
            app.metrics.running_jobs.dec();
        });
    }

    /// Starts a backup of `name`. With `since` (a schedule slot's start) nothing is written
    /// when the slot has its snapshot already.
    ///
    /// # Errors
    /// A backup of the tenant is queued or running here already.
    pub(crate) fn start_backup(
        self: &Arc<Self>,
        name: &str,
        tenant_id: &TenantId,
        trigger: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Job, Box<Job>> {
        if let Some(active) = self.jobs.active(name, JobKind::Backup) {
            return Err(Box::new(active));
        }
        let job = self
            .jobs
            .create(name, tenant_id, JobKind::Backup, trigger, &self.node);
        let app = self.clone();
        let (id, tenant) = (job.id.clone(), name.to_owned());
        self.spawn(job.clone(), async move {
            app.run_backup(&id, &tenant, since).await;
        });
        Ok(job)
    }

    async fn run_backup(self: &Arc<Self>, id: &str, name: &str, since: Option<DateTime<Utc>>) {
        let config = self.config();
        let started = std::time::Instant::now();
        let result = async {
            let tenant = config.tenant(name)?;
            let client = crate::config::client(&config, &self.config_path, name)?;
            let options = BackupOptions {
                kinds: tenant.kinds.clone(),
                lease_ttl: Duration::seconds(config.sections.daemon.lease_seconds as i64),
                owner: self.node.clone(),
                ..BackupOptions::default()
            };
            let progress = {
                let app = self.clone();
                let id = id.to_owned();
                move |p: &dirvault_engine::Progress| {
                    app.jobs.update(&id, |j| {
                        j.progress.kind = Some(p.kind.to_string());
                        j.progress.objects = p.objects;
                        j.progress.requests = p.graph.requests;
                        j.progress.throttled = p.graph.throttled;
                        j.progress.retries = p.graph.retries;
                    });
                }
            };
            let now = Utc::now();
            let report = match since {
                Some(slot) => {
                    dirvault_engine::backup_unless_since(
                        &client, &self.repo, &options, now, slot, &progress,
                    )
                    .await?
                }
                None => Some(
                    dirvault_engine::backup(&client, &self.repo, &options, now, &progress).await?,
                ),
            };
            if report.is_some()
                && let Some(retention) = &tenant.retention
            {
                self.apply_retention(name, tenant, retention).await;
            }
            anyhow::Ok(report)
        }
        .await;
        let seconds = started.elapsed().as_secs_f64();
        let label = metrics::tenant(name);
        let slot = since;
        match result {
            Ok(Some(report)) => {
                self.record_backup(name, &report, seconds);
                let alerts = self.raise_alerts(name, &report.snapshot).await;
                let failed = failed_kinds(&report);
                self.jobs.update(id, |j| {
                    j.state = match report.outcome {
                        BackupOutcome::Complete => JobState::Complete,
                        BackupOutcome::Partial => JobState::Partial,
                    };
                    j.error = failed.clone();
                    j.snapshot = Some(report.snapshot.id.to_string());
                    j.report = Some(serde_json::json!({
                        "outcome": report.outcome,
                        "kinds": report.kinds,
                        "warnings": report.warnings,
                        "alerts": alerts,
                    }));
                    j.finished = Some(Utc::now());
                });
                // The slot has its snapshot either way; a partial one still counts as a
                // failure for the tenant's health until a complete run.
                self.slot_done(name, slot, failed);
                self.send_alerts(id, name, &report.snapshot, &alerts);
            }
            Ok(None) => {
                self.metrics
                    .backups
                    .get_or_create(&metrics::result(name, "skipped"))
                    .inc();
                self.jobs.finish(
                    id,
                    JobState::Skipped,
                    Some("this slot has its snapshot already (another replica took it)".into()),
                );
                self.slot_done(name, slot, None);
            }
            Err(e) => {
                let locked = e.downcast_ref::<dirvault_engine::Error>().is_some_and(|e| {
                    matches!(
                        e,
                        dirvault_engine::Error::Store(dirvault_store::Error::Locked { .. })
                    )
                });
                let message = format!("{e:#}");
                if locked {
                    // Another replica is on it: look again next tick; if it dies, its lease
                    // expires and this replica takes over.
                    self.metrics
                        .backups
                        .get_or_create(&metrics::result(name, "locked"))
                        .inc();
                    self.jobs
                        .finish(id, JobState::Skipped, Some(message.clone()));
                } else {
                    tracing::warn!(tenant = name, error = %message, "backup failed");
                    self.metrics.errors.get_or_create(&label).inc();
                    self.metrics
                        .backups
                        .get_or_create(&metrics::result(name, "failed"))
                        .inc();
                    self.jobs
                        .finish(id, JobState::Failed, Some(message.clone()));
                    let base = self.config().sections.daemon.retry_seconds;
                    self.runs
                        .lock()
                        .entry(name.to_owned())
                        .or_default()
                        .record_failure(message, base, Utc::now());
                }
            }
        }
    }

    fn record_backup(&self, name: &str, report: &BackupReport, seconds: f64) {
        let label = metrics::tenant(name);
        self.metrics
            .backups
            .get_or_create(&metrics::result(name, report.outcome.as_str()))
            .inc();
        self.metrics
            .backup_seconds
            .get_or_create(&label)
            .observe(seconds);
        let objects: usize = report.kinds.iter().map(|k| k.count).sum();
        self.metrics
            .objects
            .get_or_create(&label)
            .set(objects as i64);
        self.metrics
            .graph_requests
            .get_or_create(&label)
            .inc_by(report.graph.requests);
        self.metrics
            .graph_throttled
            .get_or_create(&label)
            .inc_by(report.graph.throttled);
        tracing::info!(tenant = name, snapshot = %report.snapshot.id, seconds, objects, requests = report.graph.requests, "backup done");
    }

    /// Records that the slot has its snapshot; `failed` names the kinds of a partial one.
    fn slot_done(&self, name: &str, slot: Option<DateTime<Utc>>, failed: Option<String>) {
        let mut runs = self.runs.lock();
        let run = runs.entry(name.to_owned()).or_default();
        run.retry_at = None;
        match failed {
            Some(failed) => {
                run.failures = run.failures.saturating_add(1);
                run.last_error = Some(failed);
            }
            None => {
                run.failures = 0;
                run.last_error = None;
            }
        }
        if slot.is_some() {
            run.slot_done = slot;
        }
    }

    async fn apply_retention(
        &self,
        name: &str,
        tenant: &dirvault_engine::config::TenantConfig,
        retention: &dirvault_engine::config::RetentionConfig,
    ) {
        let result = async {
            let policy = retention.policy().map_err(anyhow::Error::msg)?;
            let report = self
                .vault
                .maintain(&tenant.tenant_id, &policy, &self.node)
                .await?;
            anyhow::Ok(report.forgotten.removed.len())
        }
        .await;
        match result {
            Ok(n) => tracing::info!(tenant = name, forgotten = n, "retention applied"),
            Err(e) => {
                tracing::warn!(tenant = name, error = %format!("{e:#}"), "retention not applied; the next backup tries again")
            }
        }
    }

    /// Applies a restore plan to the tenant `name` (the plan's target) as a job.
    pub(crate) fn start_restore(
        self: &Arc<Self>,
        name: &str,
        tenant_id: &TenantId,
        plan: RestorePlan,
        options: ApplyOptions,
    ) -> Job {
        let job = self
            .jobs
            .create(name, tenant_id, JobKind::Restore, "api", &self.node);
        self.jobs
            .update(&job.id, |j| j.plan = Some(plan.id.clone()));
        let app = self.clone();
        let (id, tenant) = (job.id.clone(), name.to_owned());
        self.spawn(job.clone(), async move {
            let result = async {
                let client = app.client(&tenant)?;
                anyhow::Ok(app.vault.apply_restore(&client, &plan, &options).await?)
            }
            .await;
            match result {
                Ok(report) => {
                    let complete = report.is_complete();
                    app.metrics
                        .restores
                        .get_or_create(&metrics::result(&tenant, if complete { "complete" } else { "failed" }))
                        .inc();
                    app.jobs.update(&id, |j| {
                        j.state = if complete { JobState::Complete } else { JobState::Failed };
                        j.progress.objects = (report.summary.done + report.summary.already_done) as u64;
                        if !complete {
                            j.error = Some(format!(
                                "{} step(s) failed and {} were skipped: fix the cause and apply the plan again",
                                report.summary.failed, report.summary.skipped
                            ));
                        }
                        j.report = serde_json::to_value(&report).ok();
                        j.finished = Some(Utc::now());
                    });
                }
                Err(e) => {
                    app.metrics.errors.get_or_create(&metrics::tenant(&tenant)).inc();
                    app.metrics.restores.get_or_create(&metrics::result(&tenant, "failed")).inc();
                    app.jobs.finish(&id, JobState::Failed, Some(format!("{e:#}")));
                }
            }
        });
        job
    }

    /// Forgets finished job tasks (their results are in `jobs`).
    pub(crate) fn reap(&self) {
        let mut tasks = self.tasks.lock();
        while tasks.try_join_next().is_some() {}
    }

    /// Waits for running jobs, at most `grace`; the rest are stopped where they are (the
    /// store is crash-safe; their leases expire and the next run resumes).
    pub(crate) async fn drain(&self, grace: std::time::Duration) {
        let mut tasks = std::mem::take(&mut *self.tasks.lock());
        let finished =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            tracing::warn!(
                jobs = tasks.len(),
                "shutdown grace over: stopping the jobs still running"
            );
            tasks.abort_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Regression: a non-ASCII `sha256` in the config panicked on slicing.
    #[test]
    fn key_hashes_that_are_not_64_hex_digits_are_refused_without_panic() {
        for sha256 in [
            "é".repeat(32),
            "zz".repeat(32),
            "ab".into(),
            "ab".repeat(33),
        ] {
            let key = ApiKeyConfig {
                name: "k".into(),
                sha256: Some(sha256.clone()),
                env: None,
                file: None,
                tenant_ids: None,
            };
            assert!(resolve_key(&key).is_err(), "{sha256}");
        }
        let good = ApiKeyConfig {
            name: "k".into(),
            sha256: Some(hash_key("secret")),
            env: None,
            file: None,
            tenant_ids: None,
        };
        assert!(resolve_key(&good).is_ok());
    }
}
