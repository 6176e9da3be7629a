//! The backup of one tenant.
//!
//! The run and its lanes are here; what to read is in [`options`]; how each sort of kind is
//! read is in its own file: [`delta`], [`per_parent`], [`logs`], [`properties`] (kinds listed
//! whole) and [`links`].

mod branding;
mod carried;
mod delta;
mod link_set;
mod links;
mod logs;
mod options;
mod per_parent;
mod properties;

use carried::Carried;
use delta::*;
use links::*;
pub use options::BackupOptions;
use per_parent::*;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dirvault_graph::metadata::ServiceMetadata;
use dirvault_graph::{BatchRequest, ClientStats, GraphClient};
use dirvault_model::{
    CollectionPath, DirectoryObject, ObjectId, ObjectKind, Relationship, RelationshipKind, schema,
};
use dirvault_store::{
    KindRecord, KindStatus, ManifestEntry, Repository, Snapshot, SnapshotWriter, WriteStats,
};
use futures::TryStreamExt;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::cadence::{UNREPORTED_RECHECK, due_in_window};
use crate::outcome::{BackupOutcome, status_reason, unread_because_of};
use crate::{Error, Result};

/// Progress, reported after every page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The kind being read.
    pub kind: ObjectKind,
    /// Objects of that kind so far.
    pub objects: u64,
    /// Graph requests, 429s and retries so far.
    pub graph: ClientStats,
}

/// How one kind's backup went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindOutcome {
    /// The kind.
    pub kind: ObjectKind,
    /// Complete, failed or skipped.
    pub status: KindStatus,
    /// Objects in the snapshot.
    pub count: usize,
    /// Read incrementally (delta or time window) rather than in full.
    pub incremental: bool,
}

/// What a backup did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupReport {
    /// The committed snapshot.
    pub snapshot: Snapshot,
    /// Bytes and blobs written.
    pub write: WriteStats,
    /// Graph requests, ResourceUnits, 429s and retries of this backup.
    pub graph: ClientStats,
    /// Each kind.
    pub kinds: Vec<KindOutcome>,
    /// Things an operator should know (a resync after an expired delta token, a shrink).
    pub warnings: Vec<String>,
    /// Complete or partial: see [`BackupOutcome`].
    pub outcome: BackupOutcome,
}

/// How far back of the previous backup the registration report is trusted: a row's
/// `lastUpdatedDateTime` is when the report's record was updated, which may trail the change
/// itself; users whose row changed within this margin are read again.
const REPORT_LAG: chrono::Duration = chrono::Duration::hours(24);

/// Incremental app role assignments read every service principal again at least once in this
/// many days of daily backups (a rotating slice each day), besides those the audit log names:
/// a safety net for a change the audit log did not show.
const APP_ROLE_RECHECK_DAYS: u64 = 30;

/// Per-parent requests (authentication methods per user, app role assignments per service
/// principal) are sent and processed this many at a time.
const PER_PARENT_SLICE: usize = 400;

/// Kinds listed under each object of another kind, and relationship-only listings, come
/// after the objects they hang from: `ObjectKind::ALL` is in that order.
struct Run<'a> {
    client: &'a GraphClient,
    /// Shared by the lanes that read kinds at once (see [`lanes`]).
    writer: &'a tokio::sync::Mutex<SnapshotWriter>,
    parent: Option<Snapshot>,
    options: &'a BackupOptions,
    now: DateTime<Utc>,
    progress: &'a (dyn Fn(&Progress) + Send + Sync),
    ids: BTreeMap<ObjectKind, Vec<ObjectId>>,
    changed_users: BTreeSet<String>,
    warnings: Vec<String>,
    /// The relationships found, and one shared copy of each id they name.
    links: link_set::LinkSet,
    /// The ids the directory audit log names in app role assignment events since the parent
    /// snapshot (less the log overlap): set when this run read that window in full.
    app_role_audits: Option<BTreeSet<String>>,
    /// How each kind of this lane ended (or the parent's status of a kind carried unread):
    /// a kind listed under each object of another is read only when that one is complete.
    statuses: BTreeMap<ObjectKind, KindStatus>,
    /// Objects Graph returned that could not be stored, by kind.
    unusable_objects: BTreeMap<ObjectKind, usize>,
    /// The service's `$metadata`, read once per backup (by the first lane that needs it);
    /// `None` inside when it could not be read.
    metadata: Arc<tokio::sync::OnceCell<Option<Arc<ServiceMetadata>>>>,
}

/// One kind's result before it is recorded.
struct Listed {
    incremental: bool,
    delta_link: Option<String>,
    /// The `$select` the delta round asked for (empty when none).
    selected: Vec<String>,
}

impl Listed {
    /// A kind read without delta (no link to continue from, no `$select` recorded);
    /// `incremental` when it kept entries of the parent snapshot.
    fn without_delta(incremental: bool) -> Listed {
        Listed {
            incremental,
            delta_link: None,
            selected: Vec::new(),
        }
    }

    /// The same result, recorded as asking for `select`.
    fn asking(self, select: &[String]) -> Listed {
        Listed {
            selected: select.to_vec(),
            ..self
        }
    }
}

impl<'a> Run<'a> {
    /// A run for one lane of kinds: the same client, writer and parent, its own ids and links
    /// (given back with [`Run::absorb`]).
    fn lane(&self) -> Run<'a> {
        let mut lane = Run::new(
            self.client,
            self.writer,
            self.parent.clone(),
            self.options,
            self.now,
            self.progress,
        );
        lane.metadata = self.metadata.clone();
        lane
    }

    /// Keeps these entries of the parent snapshot as they were (one lock for all of them).
    async fn carry(&self, kind: ObjectKind, entries: impl IntoIterator<Item = ManifestEntry>) {
        let mut writer = self.writer.lock().await;
        for entry in entries {
            writer.carry_entry(kind, entry);
        }
    }

    /// A run that has found nothing yet.
    fn new(
        client: &'a GraphClient,
        writer: &'a tokio::sync::Mutex<SnapshotWriter>,
        parent: Option<Snapshot>,
        options: &'a BackupOptions,
        now: DateTime<Utc>,
        progress: &'a (dyn Fn(&Progress) + Send + Sync),
    ) -> Run<'a> {
        Run {
            client,
            writer,
            parent,
            options,
            now,
            progress,
            ids: BTreeMap::new(),
            changed_users: BTreeSet::new(),
            warnings: Vec::new(),
            links: link_set::LinkSet::default(),
            app_role_audits: None,
            statuses: BTreeMap::new(),
            unusable_objects: BTreeMap::new(),
            metadata: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    /// Takes back what a lane found: its kinds' ids, its links and its warnings.
    fn absorb(&mut self, mut lane: Run<'a>) {
        self.ids.append(&mut lane.ids);
        self.changed_users.append(&mut lane.changed_users);
        self.warnings.append(&mut lane.warnings);
        self.links.append(lane.links);
        self.statuses.append(&mut lane.statuses);
    }

    fn report(&self, kind: ObjectKind, objects: u64) {
        (self.progress)(&Progress {
            kind,
            objects,
            graph: self.client.stats(),
        });
    }

    async fn parent_entries(
        &self,
        kind: ObjectKind,
        repo: &Repository,
    ) -> Result<Option<(KindRecord, Vec<ManifestEntry>)>> {
        let Some(parent) = &self.parent else {
            return Ok(None);
        };
        let Some(record) = parent.kinds.get(&kind) else {
            return Ok(None);
        };
        Ok(Some((record.clone(), repo.manifest(parent, kind).await?)))
    }

    /// Adds a full object and remembers its id.
    async fn add(&mut self, kind: ObjectKind, value: Value) -> Result<()> {
        self.add_page(kind, vec![value]).await
    }

    /// Adds a page of full objects (serialized and hashed on every core) and remembers their
    /// ids.
    async fn add_page(&mut self, kind: ObjectKind, values: Vec<Value>) -> Result<()> {
        let mut objects = Vec::with_capacity(values.len());
        for value in values {
            // One object Graph sends that cannot be stored (no id, an id no Graph id looks
            // like) is left out and named, rather than failing its whole kind on every run.
            let object = match DirectoryObject::from_graph(kind, value) {
                Ok(object) => object,
                Err(e) => {
                    self.unusable(kind, &e);
                    continue;
                }
            };
            match Relationship::from_object(&object) {
                Ok(Some(rel)) => self.links.insert(rel),
                Ok(None) => {}
                // The object is kept whole; only the link it stands for is missing.
                Err(e) => self.unusable(kind, &e),
            }
            let id = self.links.share(object.id().clone());
            self.ids.entry(kind).or_default().push(id);
            objects.push(object);
        }
        self.writer.lock().await.add_objects(&objects).await?;
        Ok(())
    }

    /// Notes an object of `kind` that could not be used: the first few are named in the
    /// report's warnings, the rest counted.
    fn unusable(&mut self, kind: ObjectKind, e: &dirvault_model::Error) {
        let seen = self.unusable_objects.entry(kind).or_default();
        *seen += 1;
        if *seen <= 3 {
            self.warnings.push(format!(
                "{kind}: an object Graph returned was left out: {e}"
            ));
        } else if *seen == 4 {
            self.warnings.push(format!(
                "{kind}: more objects Graph returned were left out (not named here)"
            ));
        }
        tracing::warn!(%kind, error = %e, "object left out");
    }

    /// Keeps the parent snapshot's objects of `kind`, and the links they stand for, in place
    /// of a reading that did not happen (not selected, or its parent kind not complete) or
    /// failed: such a kind is never recorded as "all deleted". Objects this run wrote before a
    /// failure stay; the rest come from the parent. `status` is what the kind is marked with
    /// (`None`: the parent snapshot's own status, for a kind carried because it was not
    /// selected; then nothing is recorded when the parent has no such kind).
    async fn carry_previous(
        &mut self,
        kind: ObjectKind,
        status: Option<KindStatus>,
        repo: &Repository,
    ) -> Result<()> {
        let status = match (self.parent_entries(kind, repo).await?, status) {
            (Some((record, entries)), status) => {
                let status = status.unwrap_or_else(|| record.status.clone());
                let written: std::collections::HashSet<ObjectId> = self
                    .ids
                    .get(&kind)
                    .map(|ids| ids.iter().cloned().collect())
                    .unwrap_or_default();
                let mut writer = self.writer.lock().await;
                for entry in entries.into_iter().filter(|e| !written.contains(&e.id)) {
                    let id = self.links.share(entry.id.clone());
                    self.ids.entry(kind).or_default().push(id);
                    writer.carry_entry(kind, entry);
                }
                writer.carry_kind(kind, record, status.clone());
                status
            }
            (None, Some(status)) => {
                self.writer
                    .lock()
                    .await
                    .finish_kind(kind, status.clone(), None);
                status
            }
            (None, None) => return Ok(()),
        };
        if let Some(rel) = Relationship::derived_from(kind) {
            self.carry_links(rel, repo).await?;
        }
        self.statuses.insert(kind, status);
        Ok(())
    }
}

/// The kinds in lanes that are read at once: users and the kinds listed under each user,
/// groups, and every other kind (directory audits first); each lane otherwise in
/// `ObjectKind::ALL` order (a kind listed under each object of another comes after it, in the
/// same lane). The long delta rounds (users,
/// groups with their members) are chains of round trips; side by side they take as long as
/// the longer, not the sum.
fn lanes() -> Vec<Vec<ObjectKind>> {
    let lane_of = |kind: ObjectKind| {
        let root = match kind.info().collection {
            CollectionPath::PerParent { parent, .. } => parent,
            CollectionPath::Tenant(_) | CollectionPath::Singleton(_) => kind,
        };
        match root {
            ObjectKind::Users => 0,
            ObjectKind::Groups => 1,
            _ => 2,
        }
    };
    let mut lanes = vec![Vec::new(); 3];
    for kind in ObjectKind::ALL {
        lanes[lane_of(kind)].push(kind);
    }
    // The audit log first: an incremental reads again only the service principals whose app
    // role assignments it names (`Run::app_role_assignments_since`).
    lanes[2].sort_by_key(|k| *k != ObjectKind::DirectoryAudits);
    lanes
}

/// Backs up one kind (or carries the parent's objects of a kind not asked for: `None`).
async fn back_up_kind(
    run: &mut Run<'_>,
    kind: ObjectKind,
    repo: &Repository,
) -> Result<Option<KindOutcome>> {
    let options = run.options;
    if !options.selects(kind) {
        run.carry_previous(kind, None, repo).await?;
        return Ok(None);
    }
    // A kind listed under each object of another (authentication methods under users, app
    // role assignments under service principals) is read only from a complete parent: a
    // failed or skipped one names no objects, and its children would all read as deleted.
    if let CollectionPath::PerParent { parent, .. } = kind.info().collection
        && let Some(status) = unread_because_of(kind, parent, run.statuses.get(&parent))
    {
        run.warnings
            .push(format!("{kind}: {}", status_reason(&status)));
        run.carry_previous(kind, Some(status.clone()), repo).await?;
        let count = run.writer.lock().await.count(kind);
        return Ok(Some(KindOutcome {
            kind,
            status,
            count,
            incremental: false,
        }));
    }
    let before = run.writer.lock().await.count(kind);
    let result = if kind.supports_delta() {
        run.delta_kind(kind, repo).await
    } else if matches!(kind, ObjectKind::SignIns | ObjectKind::DirectoryAudits) {
        run.log_kind(kind, repo).await
    } else {
        match kind.info().collection {
            CollectionPath::Tenant(path) => match kind.info().list_query {
                Some(query) => run.full_kind(kind, &format!("{path}?{query}")).await,
                None => run.full_kind(kind, path).await,
            },
            CollectionPath::Singleton(path) => run.settings_kind(kind, path).await,
            CollectionPath::PerParent { .. } => run.per_parent_kind(kind, repo).await,
        }
    };
    let count = run.writer.lock().await.count(kind) - before;
    let outcome = match result {
        Ok(listed) => {
            let previous = run
                .parent
                .as_ref()
                .and_then(|p| p.kinds.get(&kind))
                .filter(|r| r.status == KindStatus::Complete)
                .map(|r| r.count);
            let shrank = !listed.incremental
                && options.shrink_threshold > 0.0
                && previous.is_some_and(|p| {
                    p >= 10 && (count as f64) < p as f64 * options.shrink_threshold
                });
            if shrank {
                // Not trusted: the objects are kept but the kind is marked, and the next
                // run lists it in full again.
                let reason = format!(
                    "the listing shrank from {} to {count} objects: not trusted as deletions; check the tenant, then back up again",
                    previous.unwrap_or(0)
                );
                run.warnings.push(format!("{kind}: {reason}"));
                let status = KindStatus::Failed {
                    reason: reason.clone(),
                };
                run.writer
                    .lock()
                    .await
                    .finish_kind(kind, status.clone(), None);
                run.statuses.insert(kind, status);
                KindOutcome {
                    kind,
                    status: KindStatus::Failed { reason },
                    count,
                    incremental: false,
                }
            } else {
                let mut writer = run.writer.lock().await;
                writer.finish_kind(kind, KindStatus::Complete, listed.delta_link);
                writer.record_selection(kind, listed.selected);
                drop(writer);
                run.statuses.insert(kind, KindStatus::Complete);
                KindOutcome {
                    kind,
                    status: KindStatus::Complete,
                    count,
                    incremental: listed.incremental,
                }
            }
        }
        Err(e @ Error::Store(_)) => return Err(e),
        Err(e) => {
            let status = describe(kind, &e);
            tracing::warn!(tenant = %run.client.tenant(), %kind, error = %e, "kind not backed up");
            run.carry_previous(kind, Some(status.clone()), repo).await?;
            KindOutcome {
                kind,
                status,
                count,
                incremental: false,
            }
        }
    };
    Ok(Some(outcome))
}

fn describe(kind: ObjectKind, e: &Error) -> KindStatus {
    let forbidden = match e {
        Error::Graph(g) => g.status() == Some(403),
        Error::Refused { status, .. } => *status == 403,
        _ => false,
    };
    if forbidden {
        KindStatus::Skipped {
            reason: format!(
                "the app lacks the permission to read {kind} ({}): grant it and consent again",
                kind.info().read_permission
            ),
        }
    } else {
        KindStatus::Failed {
            reason: e.to_string(),
        }
    }
}

/// Backs up the client's tenant into `repo`, at `now`.
///
/// # Errors
/// [`Error::Store`] when the repository cannot be written (the lease is taken, a write
/// fails). Graph failures of one kind do not stop the others: they are recorded per kind.
pub async fn backup(
    client: &GraphClient,
    repo: &Repository,
    options: &BackupOptions,
    now: DateTime<Utc>,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<BackupReport> {
    crate::lease::under_lease(
        repo,
        client.tenant(),
        &options.owner,
        options.lease_ttl,
        now,
        async { run(client, repo, options, now, progress).await },
    )
    .await
}

/// [`backup`] for schedulers that several replicas share: under the tenant's lease, it does
/// nothing and returns `Ok(None)` when a snapshot taken at or after `since` (the start of the
/// schedule slot) exists already. Two replicas due at the same slot thus back the tenant up
/// once: one holds the lease ([`dirvault_store::Error::Locked`] for the other), and the one
/// that gets it afterwards finds the snapshot.
///
/// # Errors
/// As [`backup`].
pub async fn backup_unless_since(
    client: &GraphClient,
    repo: &Repository,
    options: &BackupOptions,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<Option<BackupReport>> {
    let tenant = client.tenant();
    // Replicas that come after the one that did this slot learn it from the listing, without
    // taking (writing, then deleting) the lease: that was one lease write, read and delete per
    // replica per tenant per slot. Checked again under the lease (another may be finishing).
    if repo
        .snapshot_at(tenant, None)
        .await?
        .is_some_and(|s| s.time >= since)
    {
        return Ok(None);
    }
    crate::lease::under_lease(
        repo,
        tenant,
        &options.owner,
        options.lease_ttl,
        now,
        async {
            // The latest from the listing and one record, not every record (hundreds of
            // reads a backup at a year of snapshots).
            let latest = repo.snapshot_at(tenant, None).await?;
            if latest.is_some_and(|s| s.time >= since) {
                return Ok(None);
            }
            run(client, repo, options, now, progress).await.map(Some)
        },
    )
    .await
}

async fn run(
    client: &GraphClient,
    repo: &Repository,
    options: &BackupOptions,
    now: DateTime<Utc>,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<BackupReport> {
    let tenant = client.tenant().clone();
    let started = client.stats();
    // Wrong credentials or an unknown tenant fail every kind alike: say so once, and write
    // nothing.
    client.authenticate().await?;
    let parent = repo.snapshot_at(&tenant, None).await?;
    let writer = tokio::sync::Mutex::new(
        repo.begin(&tenant, now, parent.as_ref().map(|p| p.id.clone()))
            .await?,
    );
    let mut run = Run::new(client, &writer, parent, options, now, progress);
    // Links listed on their own (with `$expand` on their source collection), while the kinds
    // are read: each listing is a chain of round trips, and the client bounds how many
    // requests are in flight.
    let links: [(RelationshipKind, ObjectKind, &str, &str); 5] = [
        (
            RelationshipKind::GroupOwner,
            ObjectKind::Groups,
            "/groups",
            "owners",
        ),
        (
            RelationshipKind::ApplicationOwner,
            ObjectKind::Applications,
            "/applications",
            "owners",
        ),
        (
            RelationshipKind::ServicePrincipalOwner,
            ObjectKind::ServicePrincipals,
            "/servicePrincipals",
            "owners",
        ),
        (
            RelationshipKind::DeviceRegisteredOwner,
            ObjectKind::Devices,
            "/devices",
            "registeredOwners",
        ),
        (
            RelationshipKind::DeviceRegisteredUser,
            ObjectKind::Devices,
            "/devices",
            "registeredUsers",
        ),
    ];
    let listing = futures::future::join_all(
        links
            .iter()
            .filter(|(_, kind, _, _)| options.selects(*kind))
            .map(|(rel, _, collection, nav)| async move {
                (*rel, expanded_links(client, collection, nav).await)
            }),
    );
    // Kinds are read in lanes that run at once, each a chain of round trips of its own:
    // users (and what hangs from them), groups, and the rest in `ObjectKind::ALL` order.
    let lanes = lanes();
    let kinds = async {
        let mut lane_runs: Vec<Run<'_>> = lanes.iter().map(|_| run.lane()).collect();
        let results = futures::future::join_all(lane_runs.iter_mut().zip(&lanes).map(
            |(lane_run, kinds)| async move {
                let mut outcomes = Vec::new();
                for kind in kinds {
                    outcomes.extend(back_up_kind(lane_run, *kind, repo).await?);
                }
                Ok::<_, Error>(outcomes)
            },
        ))
        .await;
        let mut outcomes = Vec::new();
        for result in results {
            outcomes.extend(result?);
        }
        for lane_run in lane_runs {
            run.absorb(lane_run);
        }
        outcomes.sort_by_key(|o: &KindOutcome| ObjectKind::ALL.iter().position(|k| *k == o.kind));
        Ok::<_, Error>(outcomes)
    };
    let (outcomes, listed) = tokio::join!(kinds, listing);
    let outcomes = outcomes?;
    if !outcomes.is_empty()
        && !outcomes
            .iter()
            .any(|o| matches!(o.status, KindStatus::Complete))
    {
        // The writer is dropped: packs it wrote are referenced by nothing, and prune frees them.
        return Err(Error::NothingRead {
            tenant,
            reasons: outcomes
                .iter()
                .map(|o| format!("{}: {}", o.kind, status_reason(&o.status)))
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    for (rel, kind, _, _) in links {
        if !options.selects(kind) {
            run.carry_links(rel, repo).await?;
        }
    }
    for (rel, result) in listed {
        match result {
            Ok(found) => run.add_links(rel, found),
            Err(e) => {
                run.warnings.push(format!(
                    "{rel:?} links could not be listed ({e}); the previous snapshot's are kept"
                ));
                run.carry_links(rel, repo).await?;
            }
        }
    }
    if options.selects(ObjectKind::DirectoryRoles) {
        if let Err(e) = run.role_members().await {
            run.warnings.push(format!(
                "directory role members could not be listed ({e}); the previous snapshot's are kept"
            ));
            run.carry_links(RelationshipKind::DirectoryRoleMember, repo)
                .await?;
        }
    } else {
        run.carry_links(RelationshipKind::DirectoryRoleMember, repo)
            .await?;
    }
    for source in [
        ObjectKind::Users,
        ObjectKind::Groups,
        ObjectKind::AdministrativeUnits,
    ] {
        let Some((kind_rel, _)) = delta_links(source) else {
            continue;
        };
        let failed = outcomes
            .iter()
            .any(|o| o.kind == source && !matches!(o.status, KindStatus::Complete));
        if failed || !options.selects(source) {
            run.carry_links(kind_rel, repo).await?;
        }
    }
    let Run {
        links,
        warnings,
        ids,
        ..
    } = run;
    // The rest of `run` lives to the end of this function; its id lists (2.7M at L1M) need not
    // last through the commit.
    drop(ids);
    let mut writer = writer.into_inner();
    writer.add_sorted_relationships(links.into_sorted());
    let (snapshot, write) = writer.commit().await?;
    // Skipped as expected (a permission or licence the tenant lacks) is allowed, and said.
    let mut warnings = warnings;
    for o in &outcomes {
        if let KindStatus::Skipped { reason } = &o.status {
            warnings.push(format!("{}: skipped: {reason}", o.kind));
        }
    }
    let outcome = if outcomes
        .iter()
        .any(|o| matches!(o.status, KindStatus::Failed { .. }))
    {
        BackupOutcome::Partial
    } else {
        BackupOutcome::Complete
    };
    Ok(BackupReport {
        snapshot,
        write,
        graph: client.stats().since(started),
        kinds: outcomes,
        warnings,
        outcome,
    })
}

/// A `GET` for each of `ids` (the request's id is the object's), to send in one `$batch`
/// slice: requests are made a slice at a time, as they are sent.
fn gets(ids: &[impl AsRef<str>], url_of: impl Fn(&str) -> String) -> Vec<BatchRequest> {
    ids.iter()
        .map(|id| BatchRequest::get(id.as_ref(), url_of(id.as_ref())))
        .collect()
}

/// An error for a request inside a `$batch` that Graph refused (after the client's retries).
fn check_answer(kind: ObjectKind, answer: &dirvault_graph::BatchResponse) -> Result<()> {
    if answer.status < 400 {
        return Ok(());
    }
    let error = &answer.body["error"];
    Err(Error::Refused {
        kind,
        request: answer.id.clone(),
        status: answer.status,
        code: error["code"].as_str().unwrap_or("").to_owned(),
        message: error["message"].as_str().unwrap_or("").to_owned(),
    })
}
