//! Jobs: the backups and restores this replica runs, with live progress. Jobs live in memory;
//! what they produce (snapshots, restore journals) lives in the repository.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use utoipa::ToSchema;

/// Finished jobs kept for the API; older ones are dropped.
const KEEP_FINISHED: usize = 2_000;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) enum JobKind {
    /// A backup.
    Backup,
    /// A restore plan applied.
    Restore,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) enum JobState {
    /// Waiting for a free slot.
    Queued,
    /// Running.
    Running,
    /// Finished: every kind complete (or skipped as expected), or every restore step done.
    Complete,
    /// A backup wrote its snapshot but some kinds failed (they carry the previous data);
    /// `error` names them.
    Partial,
    /// Nothing to do (another replica backed this slot up).
    Skipped,
    /// Failed; `error` says why.
    Failed,
}

/// Live counters of a job.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobProgress {
    /// Objects read (backup) or steps done (restore).
    pub(crate) objects: u64,
    /// The kind being read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    /// Graph requests sent.
    pub(crate) requests: u64,
    /// 429 answers.
    pub(crate) throttled: u64,
    /// Retries.
    pub(crate) retries: u64,
}

/// A job, as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Job {
    /// Its id.
    pub(crate) id: String,
    /// The tenant (its name in the config).
    pub(crate) tenant: String,
    /// The tenant's id: what API keys are scoped by.
    #[schema(value_type = String)]
    pub(crate) tenant_id: dirvault_model::TenantId,
    /// Backup or restore.
    pub(crate) kind: JobKind,
    /// `schedule` or `api`.
    pub(crate) trigger: String,
    /// Where it is.
    pub(crate) state: JobState,
    /// The replica running it.
    pub(crate) node: String,
    /// When it was created.
    pub(crate) created: DateTime<Utc>,
    /// When it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) started: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) finished: Option<DateTime<Utc>>,
    /// Live counters.
    pub(crate) progress: JobProgress,
    /// The snapshot a backup wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) snapshot: Option<String>,
    /// The restore plan applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) plan: Option<String>,
    /// A restore's report (every step's outcome), or a backup's per-kind outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub(crate) report: Option<serde_json::Value>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

/// The jobs of this replica.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    jobs: Mutex<BTreeMap<String, Job>>,
}

impl Jobs {
    /// Registers a queued job.
    pub(crate) fn create(
        &self,
        tenant: &str,
        tenant_id: &dirvault_model::TenantId,
        kind: JobKind,
        trigger: &str,
        node: &str,
    ) -> Job {
        let job = Job {
            id: uuid::Uuid::new_v4().to_string(),
            tenant: tenant.to_owned(),
            tenant_id: tenant_id.clone(),
            kind,
            trigger: trigger.to_owned(),
            state: JobState::Queued,
            node: node.to_owned(),
            created: Utc::now(),
            started: None,
            finished: None,
            progress: JobProgress::default(),
            snapshot: None,
            plan: None,
            report: None,
            error: None,
        };
        let mut jobs = self.jobs.lock();
        jobs.insert(job.id.clone(), job.clone());
        let finished: Vec<String> = jobs
            .values()
            .filter(|j| j.finished.is_some())
            .map(|j| j.id.clone())
            .collect();
        if finished.len() > KEEP_FINISHED {
            let mut by_age: Vec<(DateTime<Utc>, String)> = finished
                .into_iter()
                .filter_map(|id| Some((jobs.get(&id)?.created, id)))
                .collect();
            by_age.sort();
            for (_, id) in by_age.iter().take(by_age.len() - KEEP_FINISHED) {
                jobs.remove(id);
            }
        }
        job
    }

    /// Changes a job.
    pub(crate) fn update(&self, id: &str, f: impl FnOnce(&mut Job)) {
        if let Some(job) = self.jobs.lock().get_mut(id) {
            f(job);
        }
    }

    /// Marks a job finished, in `state`, with why when it did not succeed.
    pub(crate) fn finish(&self, id: &str, state: JobState, error: Option<String>) {
        self.update(id, |j| {
            j.state = state;
            j.error = error;
            j.finished = Some(Utc::now());
        });
    }

    /// One job.
    pub(crate) fn get(&self, id: &str) -> Option<Job> {
        self.jobs.lock().get(id).cloned()
    }

    /// Every job, newest first.
    pub(crate) fn list(&self) -> Vec<Job> {
        let mut all: Vec<Job> = self.jobs.lock().values().cloned().collect();
        all.sort_by_key(|j| std::cmp::Reverse(j.created));
        all
    }

    /// The running or queued job of a tenant, if any.
    pub(crate) fn active(&self, tenant: &str, kind: JobKind) -> Option<Job> {
        self.jobs
            .lock()
            .values()
            .find(|j| {
                j.tenant == tenant
                    && j.kind == kind
                    && matches!(j.state, JobState::Queued | JobState::Running)
            })
            .cloned()
    }
}
