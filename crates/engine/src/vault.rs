//! The facade: one repository and the workflows an embedder, the CLI and the daemon share —
//! back up, list, compare (with another snapshot or the live tenant), plan and apply a
//! restore, keep plans, forget and prune under a renewed lease, verify. The binaries only
//! parse, call these and print, so the two front ends cannot drift apart.
//!
//! Tenants are named by id here; mapping a configured name to an id and a Graph client is the
//! caller's (see [`crate::config`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dirvault_graph::GraphClient;
use dirvault_model::{ObjectKind, SnapshotId, TenantId};
use dirvault_restore::{
    ApplyOptions, BackupState, CurrentState, PlanContext, RestoreOptions, RestorePlan,
    RestoreReport,
};
use dirvault_store::{
    ForgetReport, KindStatus, PruneReport, Repository, RetentionPolicy, Snapshot, VerifyReport,
};
use serde::Serialize;

use crate::browse::resolve_snapshot;
use crate::lease::{MAINTENANCE_LEASE, under_lease};
use crate::{BackupOptions, BackupReport, Error, KindChanges, Progress, Result};

/// A repository and the workflows over it.
///
/// # Example
/// ```no_run
/// # async fn demo(client: dirvault_graph::GraphClient) -> Result<(), dirvault_engine::Error> {
/// use dirvault_engine::{BackupOptions, Vault, vault::{Against, DiffFilter}};
/// let vault = Vault::open("./dirvault-repo")?;
/// vault.backup(&client, &BackupOptions::default(), &|_| {}).await?;
/// // What changed in the tenant since its latest snapshot.
/// let diff = vault.diff(client.tenant(), "latest", Against::Live(&client), &DiffFilter::default()).await?;
/// for (kind, changes) in &diff.changes {
///     println!("{kind}: {} deleted", changes.deleted.len());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Vault {
    repo: Repository,
}

/// One tenant a repository holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantSummary {
    /// The tenant.
    pub tenant: TenantId,
    /// How many snapshots it has.
    pub snapshots: usize,
    /// Its newest snapshot.
    pub latest: Option<SnapshotRef>,
}

/// A snapshot's id and time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotRef {
    /// Its id.
    pub id: SnapshotId,
    /// When its backup started.
    pub time: DateTime<Utc>,
}

/// What a snapshot is compared with.
#[derive(Debug, Clone, Copy)]
pub enum Against<'a> {
    /// Another snapshot of the tenant: an id, `latest` or an RFC 3339 date-time.
    Snapshot(&'a str),
    /// The tenant as it is now, read through this client (only the filtered kind, if any).
    Live(&'a GraphClient),
}

/// Which changes a diff reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffFilter {
    /// Only this kind.
    pub kind: Option<ObjectKind>,
    /// Only deletions.
    pub deleted_only: bool,
    /// Leave out the kinds without changes (by default they are listed, empty, so that
    /// "nothing changed" is said rather than implied).
    pub only_changes: bool,
}

/// The other side of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum DiffEnd {
    /// A stored snapshot.
    Snapshot(SnapshotId),
    /// The live tenant (serialised as `"live"`).
    #[serde(serialize_with = "live")]
    Live,
}

fn live<S: serde::Serializer>(s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str("live")
}

/// What changed between a snapshot and another snapshot or the live tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// The snapshot compared from.
    pub from: SnapshotId,
    /// What it was compared with.
    pub to: DiffEnd,
    /// Created, modified and deleted objects per kind.
    pub changes: BTreeMap<ObjectKind, KindChanges>,
    /// Kinds that could not be compared (not read completely on one side), with the reason:
    /// their objects are not reported as deleted.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unavailable: BTreeMap<ObjectKind, String>,
}

/// A restore to plan.
#[derive(Debug, Clone, Copy)]
pub struct RestoreRequest<'a> {
    /// The tenant whose snapshot is restored.
    pub source: &'a TenantId,
    /// Its snapshot: an id, `latest` or an RFC 3339 date-time.
    pub snapshot: &'a str,
    /// What to restore and how.
    pub options: &'a RestoreOptions,
    /// The tenant written to (the source itself, or another for a cross-tenant restore).
    pub target: &'a GraphClient,
}

/// What [`Vault::maintain`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MaintenanceReport {
    /// The snapshots kept and removed.
    pub forgotten: ForgetReport,
    /// The space freed; `None` when no snapshot was removed (nothing to free).
    pub pruned: Option<PruneReport>,
}

impl Vault {
    /// Opens the repository at `url` (a path, `file://`, `s3://bucket/prefix`, `memory://`).
    ///
    /// # Errors
    /// [`Error::Store`] when the URL is not a repository this build can open.
    pub fn open(url: &str) -> Result<Self> {
        Ok(Self::new(Repository::open(url)?))
    }

    /// Opens the repository at `url` with a secret and rules for a new one (see
    /// [`crate::repository_access::Access`]).
    ///
    /// # Errors
    /// [`Error::Store`] for a URL that names no supported backend.
    pub fn open_with(url: &str, options: &dirvault_store::OpenOptions) -> Result<Self> {
        Ok(Self::new(Repository::open_with(url, options)?))
    }

    /// A vault over an open repository.
    pub fn new(repo: Repository) -> Self {
        Self { repo }
    }

    /// The repository, for what the facade does not wrap (browsing: [`crate::browse`]).
    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// The tenants the repository holds, with their snapshot counts.
    ///
    /// # Errors
    /// Store errors.
    pub async fn tenants(&self) -> Result<Vec<TenantSummary>> {
        let mut out = Vec::new();
        for tenant in self.repo.tenants().await? {
            // Counted from the listing, the latest from it and one record: not every record.
            let count = self.repo.snapshot_ids(&tenant).await?.len();
            let latest = self
                .repo
                .snapshot_at(&tenant, None)
                .await?
                .map(|s| SnapshotRef {
                    id: s.id,
                    time: s.time,
                });
            out.push(TenantSummary {
                tenant,
                snapshots: count,
                latest,
            });
        }
        Ok(out)
    }

    /// Whether the repository holds data of `tenant`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn holds(&self, tenant: &TenantId) -> Result<bool> {
        Ok(self.repo.tenants().await?.contains(tenant))
    }

    /// The tenant's snapshots, oldest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn snapshots(&self, tenant: &TenantId) -> Result<Vec<Snapshot>> {
        Ok(self.repo.snapshots(tenant).await?)
    }

    /// The snapshot meant by `at`: `latest`, an id, or an RFC 3339 date-time (the latest at
    /// or before it).
    ///
    /// # Errors
    /// [`Error::NotFound`] when nothing matches.
    pub async fn snapshot(&self, tenant: &TenantId, at: &str) -> Result<Snapshot> {
        resolve_snapshot(&self.repo, tenant, at).await
    }

    /// The alerts raised by each snapshot of `tenant` taken at or after `since`; with no
    /// `since`, by the latest snapshot alone. Oldest first.
    ///
    /// Each kind of a snapshot is compared with the latest earlier snapshot that read that
    /// kind completely: a kind that failed in between raises nothing while it fails (its
    /// objects were carried over, not deleted), and its changes are told once it is read again.
    ///
    /// # Errors
    /// Store errors.
    pub async fn alerts(
        &self,
        tenant: &TenantId,
        since: Option<DateTime<Utc>>,
        settings: &crate::alerts::AlertSettings,
    ) -> Result<Vec<crate::alerts::Alert>> {
        let (snapshots, first) = crate::alerts::alert_window(&self.repo, tenant, since).await?;
        let complete = crate::alerts::complete;
        let mut alerts = Vec::new();
        for (i, current) in snapshots.iter().enumerate().skip(first) {
            let mut by_base: BTreeMap<usize, std::collections::BTreeSet<ObjectKind>> =
                BTreeMap::new();
            for kind in current.kinds.keys().filter(|k| complete(current, k)) {
                if let Some(base) = (0..i).rev().find(|j| complete(&snapshots[*j], kind)) {
                    by_base.entry(base).or_default().insert(*kind);
                }
            }
            for (base, kinds) in by_base {
                let evidence = crate::alerts::evidence(
                    &self.repo,
                    (&snapshots[base], current),
                    &kinds,
                    settings,
                )
                .await?;
                alerts.extend(crate::alerts::evaluate(settings, &evidence));
            }
        }
        Ok(alerts)
    }

    /// Backs the client's tenant up ([`crate::backup`]).
    ///
    /// # Errors
    /// As [`crate::backup`].
    pub async fn backup(
        &self,
        client: &GraphClient,
        options: &BackupOptions,
        progress: &(dyn Fn(&Progress) + Send + Sync),
    ) -> Result<BackupReport> {
        crate::backup(client, &self.repo, options, Utc::now(), progress).await
    }

    /// What changed between the snapshot `from` of `tenant` and `against`.
    ///
    /// Against the live tenant, the tenant is read into memory now (only `filter.kind` when
    /// given); a kind that could not be read completely is listed in
    /// [`Diff::unavailable`], never as every object deleted.
    ///
    /// # Errors
    /// [`Error::NotFound`] for a snapshot that does not exist; Graph and store errors.
    pub async fn diff(
        &self,
        tenant: &TenantId,
        from: &str,
        against: Against<'_>,
        filter: &DiffFilter,
    ) -> Result<Diff> {
        let from = self.snapshot(tenant, from).await?;
        let (live_repo, to, end) = match against {
            Against::Snapshot(at) => {
                let to = self.snapshot(tenant, at).await?;
                let end = DiffEnd::Snapshot(to.id.clone());
                (None, to, end)
            }
            Against::Live(client) => {
                let kinds: Vec<ObjectKind> = filter.kind.into_iter().collect();
                let ids = self.repo.content_ids(tenant).await?;
                let (repo, snapshot) = crate::live(client, &kinds, ids).await?;
                (Some(repo), snapshot, DiffEnd::Live)
            }
        };
        let to_repo = live_repo.as_ref().unwrap_or(&self.repo);
        let mut changes = crate::changes_between((&self.repo, &from), (to_repo, &to)).await?;
        // A kind a side did not read completely holds partial, absent or carried-over objects:
        // compared, it would report everything missing as deleted, or nothing as changed.
        let mut unavailable = BTreeMap::new();
        for snapshot in [&from, &to] {
            for (kind, record) in &snapshot.kinds {
                if let Some(reason) = incomplete(&record.status) {
                    unavailable.entry(*kind).or_insert(reason);
                }
            }
        }
        changes.retain(|kind, _| !unavailable.contains_key(kind));
        crate::narrow(&mut changes, filter.kind, filter.deleted_only);
        unavailable.retain(|kind, _| filter.kind.is_none_or(|only| only == *kind));
        if !filter.only_changes && !filter.deleted_only {
            for kind in from.kinds.keys().chain(to.kinds.keys()) {
                if filter.kind.is_none_or(|only| only == *kind) && !unavailable.contains_key(kind) {
                    changes.entry(*kind).or_default();
                }
            }
        }
        Ok(Diff {
            from: from.id,
            to: end,
            changes,
            unavailable,
        })
    }

    /// Plans a restore and records the plan in the repository under its target tenant (as
    /// made: [`Vault::apply_restore`] refuses a plan of that id with other content). Nothing
    /// is written to the tenant.
    ///
    /// # Errors
    /// [`Error::Restore`] for options that do not fit (a domain mapping without another
    /// tenant); [`Error::NotFound`] for an unknown snapshot; Graph and store errors.
    pub async fn plan_restore(&self, request: &RestoreRequest<'_>) -> Result<RestorePlan> {
        let cross = request.target.tenant() != request.source;
        if !cross && request.options.domain.is_some() {
            return Err(Error::Restore(dirvault_restore::Error::Options(
                "a domain mapping is for a restore into another tenant; this one writes to the snapshot's own tenant"
                    .into(),
            )));
        }
        let snapshot = self.snapshot(request.source, request.snapshot).await?;
        let backup = BackupState::load(&self.repo, &snapshot, request.options).await?;
        let current = CurrentState::read(request.target, &backup, request.options, cross).await?;
        let plan =
            dirvault_restore::plan(request.options, &backup, &current, PlanContext::new(cross))?;
        dirvault_restore::propose(&self.repo, &plan).await?;
        Ok(plan)
    }

    /// A plan made for `target` by [`Vault::plan_restore`], by its id; `None` when there is
    /// none (an id not of the planner's form names none).
    ///
    /// # Errors
    /// [`Error::CorruptPlan`] when the stored plan cannot be read; store errors.
    pub async fn stored_plan(&self, target: &TenantId, id: &str) -> Result<Option<RestorePlan>> {
        // Plan ids name documents in the repository: only the planner's own form is looked up.
        if !is_plan_id(id) {
            return Ok(None);
        }
        let store = &self.repo;
        let mut bytes = store
            .get_document(target, &dirvault_restore::proposed_document(id))
            .await?;
        if bytes.is_none() {
            bytes = store
                .get_document(target, &dirvault_restore::plan_document(id))
                .await?;
        }
        let Some(bytes) = bytes else { return Ok(None) };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::CorruptPlan {
                plan: id.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Applies a plan to its target tenant through `client`; re-running an interrupted plan
    /// finishes it without duplicates. A report with failed steps is `Ok`: see
    /// [`RestoreReport::is_complete`].
    ///
    /// # Errors
    /// [`Error::Restore`] when the plan cannot be applied at all (see
    /// [`dirvault_restore::ready_to_apply`]; Graph or store failures outside a step).
    pub async fn apply_restore(
        &self,
        client: &GraphClient,
        plan: &RestorePlan,
        options: &ApplyOptions,
    ) -> Result<RestoreReport> {
        Ok(dirvault_restore::apply(client, &self.repo, plan, options).await?)
    }

    /// Verifies everything of `tenant`: re-reads and re-hashes every blob.
    ///
    /// # Errors
    /// Store errors that stop the check (problems found are in the report).
    pub async fn verify(&self, tenant: &TenantId) -> Result<VerifyReport> {
        Ok(self.repo.verify(tenant).await?)
    }

    /// Deletes the snapshots `policy` does not keep, under the tenant's lease (a backup
    /// running meanwhile keeps its parent). The space is freed by [`Vault::prune`].
    ///
    /// # Errors
    /// [`dirvault_store::Error::Locked`] (as [`Error::Store`]) when another holds the lease;
    /// an empty policy; store errors.
    pub async fn forget(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
        owner: &str,
    ) -> Result<ForgetReport> {
        let now = Utc::now();
        under_lease(&self.repo, tenant, owner, MAINTENANCE_LEASE, now, async {
            Ok(self.repo.forget(tenant, policy, now).await?)
        })
        .await
    }

    /// Frees the space no snapshot uses, under the tenant's lease, renewed however long it
    /// takes.
    ///
    /// # Errors
    /// As [`Vault::forget`].
    pub async fn prune(&self, tenant: &TenantId, owner: &str) -> Result<PruneReport> {
        under_lease(
            &self.repo,
            tenant,
            owner,
            MAINTENANCE_LEASE,
            Utc::now(),
            async { Ok(self.repo.prune(tenant).await?) },
        )
        .await
    }

    /// Forget then prune (when a snapshot was removed), under one renewed lease: what a
    /// retention schedule runs.
    ///
    /// # Errors
    /// As [`Vault::forget`].
    pub async fn maintain(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
        owner: &str,
    ) -> Result<MaintenanceReport> {
        let now = Utc::now();
        under_lease(&self.repo, tenant, owner, MAINTENANCE_LEASE, now, async {
            let forgotten = self.repo.forget(tenant, policy, now).await?;
            let pruned = if forgotten.removed.is_empty() {
                None
            } else {
                Some(self.repo.prune(tenant).await?)
            };
            Ok(MaintenanceReport { forgotten, pruned })
        })
        .await
    }
}

/// Whether `id` has the form of a plan id (what a stored plan can be named).
fn is_plan_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The reason a kind's data is not complete, `None` when it is.
fn incomplete(status: &KindStatus) -> Option<String> {
    match status {
        KindStatus::Complete => None,
        KindStatus::Failed { reason } => Some(format!("failed: {reason}")),
        KindStatus::Skipped { reason } => Some(format!("skipped: {reason}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_ids_are_of_the_planners_form_only() {
        assert!(is_plan_id("rp-20261204-abcdef"));
        for id in ["", "../x", "a/b", "a b", &"x".repeat(65), "plan.json"] {
            assert!(!is_plan_id(id), "{id:?}");
        }
    }

    #[test]
    fn live_serialises_as_the_word() {
        assert_eq!(
            serde_json::to_value(DiffEnd::Live).ok(),
            Some(serde_json::json!("live"))
        );
    }
}
