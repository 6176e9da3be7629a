//! The backup of one tenant.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
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

/// What to back up, and how. With the `clap` feature, these are the CLI's options too.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct BackupOptions {
    /// Only these kinds (comma-separated Graph collection names, e.g. users,groups); all when
    /// empty. The other kinds keep the previous snapshot's data.
    #[cfg_attr(feature = "clap", arg(long, value_delimiter = ','))]
    pub kinds: Vec<ObjectKind>,
    /// Read everything, ignoring stored delta tokens.
    #[cfg_attr(feature = "clap", arg(long))]
    pub full: bool,
    /// A full listing with fewer than this fraction of the previous snapshot's objects is not
    /// trusted (the kind is marked failed and the previous data kept). 0 disables the check.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = BackupOptions::default().shrink_threshold, value_parser = parse_fraction))]
    pub shrink_threshold: f64,
    /// Sign-ins and audits overlap the previous backup by this much, so none is missed.
    #[cfg_attr(feature = "clap", arg(skip = BackupOptions::default().log_overlap))]
    pub log_overlap: Duration,
    /// Sign-ins and audits of the first backup reach back this far.
    #[cfg_attr(feature = "clap", arg(skip = BackupOptions::default().log_history))]
    pub log_history: Duration,
    /// Lease duration; renewed between kinds.
    #[cfg_attr(feature = "clap", arg(skip = BackupOptions::default().lease_ttl))]
    pub lease_ttl: Duration,
    /// Lease owner name (host and process by default).
    #[cfg_attr(feature = "clap", arg(skip = BackupOptions::default().owner))]
    pub owner: String,
}

/// Parses a fraction from 0 to 1 (`NaN`, infinities and anything outside are refused).
#[cfg(feature = "clap")]
fn parse_fraction(s: &str) -> std::result::Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| (0.0..=1.0).contains(f))
        .ok_or_else(|| format!("{s:?}: expected a fraction from 0 to 1, e.g. 0.5"))
}

impl BackupOptions {
    /// Whether `kind` is selected.
    pub fn selects(&self, kind: ObjectKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }
}

impl Default for BackupOptions {
    fn default() -> Self {
        Self {
            kinds: Vec::new(),
            full: false,
            shrink_threshold: 0.5,
            log_overlap: Duration::hours(1),
            log_history: Duration::days(7),
            lease_ttl: Duration::minutes(15),
            owner: format!(
                "{}-{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "dirvault".into()),
                std::process::id()
            ),
        }
    }
}

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
    relationships: BTreeSet<Relationship>,
    /// One shared copy of each id the relationships name (see [`Run::link`]).
    ids_named: std::collections::HashSet<ObjectId>,
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
            relationships: BTreeSet::new(),
            ids_named: std::collections::HashSet::new(),
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
        self.relationships.append(&mut lane.relationships);
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
                Ok(Some(rel)) => self.insert_link(rel),
                Ok(None) => {}
                // The object is kept whole; only the link it stands for is missing.
                Err(e) => self.unusable(kind, &e),
            }
            let id = self.share(object.id().clone());
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

    /// A kind with a delta query: a full round the first time, then only the changes.
    async fn delta_kind(&mut self, kind: ObjectKind, repo: &Repository) -> Result<Listed> {
        let info = kind.info();
        let delta_path = info.delta_path.unwrap_or_default();
        let member_rel = delta_links(kind).map(|(rel, _)| rel);
        // Users need every property named in $select (a list returns a default few:
        // api/user-list.md); groups and units name `members` to get members@delta
        // (api/group-delta.md), so they list their properties too. The other kinds are read
        // without $select: Graph returns every property.
        let mut select: Vec<String> = if matches!(
            kind,
            ObjectKind::Users | ObjectKind::Groups | ObjectKind::AdministrativeUnits
        ) {
            self.list_properties(kind).await
        } else {
            Vec::new()
        };
        if matches!(kind, ObjectKind::Users | ObjectKind::Groups) {
            select.extend(self.extension_names(kind).await?);
        }
        if let Some((_, nav)) = delta_links(kind) {
            select.push(nav.into());
        }
        let fresh = if select.is_empty() {
            delta_path.to_owned()
        } else {
            format!("{delta_path}?$select={}", select.join(","))
        };
        let parent = match self.parent_entries(kind, repo).await? {
            Some((record, entries))
                if !self.options.full
                    && record.status == KindStatus::Complete
                    && record.delta_link.is_some()
                    && self.asked_for_everything(kind, &record.selected, &select) =>
            {
                Some((record, entries))
            }
            _ => None,
        };
        let Some((record, entries)) = parent else {
            let listed = self.fresh_round(kind, &fresh, &select, repo).await;
            return listed.map(|l| l.asking(&select));
        };
        let carried: BTreeMap<String, ManifestEntry> =
            entries.into_iter().map(|e| (e.id.to_string(), e)).collect();
        let start = record.delta_link.clone().unwrap_or_else(|| fresh.clone());
        let written = self.writer.lock().await.count(kind);
        let result = self
            .delta_round(kind, &start, Some(carried), member_rel, repo)
            .await;
        let nothing_written = self.writer.lock().await.count(kind) == written;
        let listed = match result {
            // An expired token is refused on the first page, before anything is written.
            Err(Error::Graph(e)) if e.is_delta_expired() && nothing_written => {
                self.warnings.push(format!(
                    "{kind}: the delta token expired; read in full again"
                ));
                if let Some(rel) = member_rel {
                    // The parent's links came in with the refused round: a full one lists all.
                    self.relationships.retain(|r| r.kind != rel);
                }
                self.fresh_round(kind, &fresh, &select, repo).await
            }
            other => other,
        };
        listed.map(|l| l.asking(&select))
    }

    /// A first (or resynced) round of a delta kind. Groups and administrative units are read
    /// without their members in the delta: `$deltatoken=latest` first gives the deltaLink the
    /// next run continues from (docs/graph.md §3), then the collection is listed, 999 a page, and
    /// each object's members are read through `$batch`, many at once. A delta round with
    /// members is one chain of pages (a million memberships at 500 a page: thousands of round
    /// trips one after another); this is a short chain plus batches side by side. Changes made
    /// while it reads come again in the next round, which applies them once more.
    async fn fresh_round(
        &mut self,
        kind: ObjectKind,
        fresh: &str,
        select: &[String],
        repo: &Repository,
    ) -> Result<Listed> {
        let member_rel = delta_links(kind).map(|(rel, _)| rel);
        let (Some((rel, "members")), CollectionPath::Tenant(collection)) =
            (delta_links(kind), kind.info().collection)
        else {
            return self.delta_round(kind, fresh, None, member_rel, repo).await;
        };
        let sep = if fresh.contains('?') { '&' } else { '?' };
        let mut latest = std::pin::pin!(
            self.client
                .pages(&format!("{fresh}{sep}$deltatoken=latest"))
        );
        let mut delta_link = None;
        while let Some(page) = latest.try_next().await? {
            delta_link = page.delta_link.or(delta_link);
        }
        let Some(delta_link) = delta_link else {
            // No deltaLink without data: one delta round with members, then.
            return self.delta_round(kind, fresh, None, member_rel, repo).await;
        };
        let props: Vec<&str> = select
            .iter()
            .map(String::as_str)
            .filter(|p| *p != "members")
            .collect();
        let list = if props.is_empty() {
            format!("{collection}?$top=999")
        } else {
            format!("{collection}?$select={}&$top=999", props.join(","))
        };
        self.delta_round(kind, &list, None, None, repo).await?;
        let ids: Vec<String> = self
            .ids
            .get(&kind)
            .map(|ids| ids.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        let requests: Vec<BatchRequest> = ids
            .iter()
            .map(|id| {
                BatchRequest::get(
                    id.clone(),
                    format!("{collection}/{id}/members?$select=id&$top=999"),
                )
            })
            .collect();
        let mut done = 0;
        for slice in requests.chunks(PER_PARENT_SLICE) {
            for answer in self.client.batch(slice).await? {
                if answer.status == 404 {
                    continue; // deleted since it was listed
                }
                check_answer(kind, &answer)?;
                let links = self
                    .client
                    .rest_of(&answer.body)
                    .await?
                    .iter()
                    .filter_map(|m| m["id"].as_str().map(|t| (answer.id.clone(), t.to_owned())))
                    .collect();
                self.add_links(rel, links);
            }
            done += slice.len() as u64;
            self.report(kind, done);
        }
        Ok(Listed {
            incremental: false,
            delta_link: Some(delta_link),
            selected: Vec::new(),
        })
    }

    /// Streams a delta round into the snapshot: each page is written as it arrives (only its
    /// last object waits, since Graph may continue it at the top of the next page:
    /// group-delta.md). Incremental rounds (`carried` = the parent's manifest) merge changes
    /// into the parent's versions and carry every untouched object over unread.
    async fn delta_round(
        &mut self,
        kind: ObjectKind,
        start: &str,
        mut carried: Option<BTreeMap<String, ManifestEntry>>,
        member_rel: Option<RelationshipKind>,
        repo: &Repository,
    ) -> Result<Listed> {
        let incremental = carried.is_some();
        let client = self.client.clone();
        let mut pages = std::pin::pin!(client.delta_pages(start));
        let mut pending: Option<(String, Map<String, Value>)> = None;
        let mut removed: BTreeSet<String> = BTreeSet::new();
        // Member links go straight into the snapshot's relationship set: the parent's first
        // (incremental), then each change as it arrives.
        if let (Some(rel), true) = (member_rel, incremental) {
            self.insert_parent_links(rel, repo).await?;
        }
        let mut delta_link = None;
        let mut seen = 0u64;
        // A user has one manager: a new one replaces the parent's, said removed or not.
        let mut new_managers: BTreeMap<ObjectId, ObjectId> = BTreeMap::new();
        // Pages whose single-object properties are being read, oldest first.
        let mut in_flight: std::collections::VecDeque<PendingPage> = Default::default();
        while let Some(page) = pages.try_next().await? {
            let mut ready = Vec::new();
            for item in page.items {
                let Value::Object(mut item) = item else {
                    continue;
                };
                let Some(id) = item.get("id").and_then(Value::as_str).map(str::to_owned) else {
                    continue;
                };
                if item.contains_key("@removed") {
                    removed.insert(id.clone());
                    if let Some(c) = carried.as_mut() {
                        c.remove(&id);
                    }
                    continue;
                }
                // Graph: group-delta.md — members@delta, removed members marked @removed;
                // user-delta.md — manager@delta.
                if let Some((rel, nav)) = delta_links(kind)
                    && let Some(Value::Array(members)) = item.remove(&format!("{nav}@delta"))
                {
                    for m in members {
                        let Some(target) = m.get("id").and_then(Value::as_str) else {
                            continue;
                        };
                        let Some(link) = self.link(rel, &id, target) else {
                            continue;
                        };
                        if m.get("@removed").is_none() {
                            if nav == "manager" {
                                new_managers.insert(link.source.clone(), link.target.clone());
                            }
                            self.relationships.insert(link);
                        } else {
                            self.relationships.remove(&link);
                        }
                    }
                }
                // Only links changed (the id and `{nav}@delta`): the object is the parent's.
                let links_only = item.keys().all(|k| k == "id" || k.starts_with('@'))
                    && carried.as_ref().is_some_and(|c| c.contains_key(&id))
                    && pending.as_ref().is_none_or(|(pid, _)| *pid != id);
                if links_only {
                    seen += 1;
                    continue;
                }
                match &mut pending {
                    Some((pid, props)) if *pid == id => props.extend(item),
                    _ => {
                        ready.extend(pending.take());
                        pending = Some((id, item));
                    }
                }
                seen += 1;
            }
            if !ready.is_empty() {
                in_flight.push_back(self.start_changed(kind, ready));
            }
            while in_flight.len() > PAGES_IN_FLIGHT {
                if let Some(next) = in_flight.pop_front() {
                    self.finish_changed(kind, next, carried.as_mut()).await?;
                }
            }
            delta_link = page.delta_link;
            self.report(kind, seen);
        }
        in_flight.extend(pending.map(|p| self.start_changed(kind, vec![p])));
        while let Some(next) = in_flight.pop_front() {
            self.finish_changed(kind, next, carried.as_mut()).await?;
        }
        let carried = carried.unwrap_or_default();
        // Objects that stand for links (OAuth2 grants) keep their links when they are carried
        // unread: only changed ones come back through `add_page`, which derives theirs.
        if let Some(rel) = Relationship::derived_from(kind)
            && !carried.is_empty()
        {
            for link in self.parent_links(rel, repo).await? {
                if link
                    .id()
                    .is_some_and(|id| carried.contains_key(id.as_str()))
                {
                    self.insert_link(link);
                }
            }
        }
        let mut writer = self.writer.lock().await;
        for (_, entry) in carried {
            self.ids.entry(kind).or_default().push(entry.id.clone());
            writer.carry_entry(kind, entry);
        }
        drop(writer);
        if let Some(rel) = member_rel {
            // Links of deleted groups, units and users go with them.
            self.relationships
                .retain(|r| r.kind != rel || !removed.contains(r.source.as_str()));
        }
        if !new_managers.is_empty() {
            self.relationships.retain(|r| {
                r.kind != RelationshipKind::UserManager
                    || new_managers.get(&r.source).is_none_or(|m| *m == r.target)
            });
        }
        Ok(Listed {
            incremental,
            delta_link,
            selected: Vec::new(),
        })
    }

    /// Starts reading the single-object properties of a delta page's changed objects (on
    /// their own task: the round goes on to its next page meanwhile).
    fn start_changed(
        &self,
        kind: ObjectKind,
        changed: Vec<(String, Map<String, Value>)>,
    ) -> PendingPage {
        let ids: Vec<String> = changed.iter().map(|(id, _)| id.clone()).collect();
        let client = self.client.clone();
        let extras =
            tokio::spawn(async move { single_object_properties(&client, kind, &ids).await });
        PendingPage {
            changed,
            extras: AbortOnDrop(extras),
        }
    }

    /// Writes a delta page's objects once their single-object properties are in: merged into
    /// the parent's version when incremental.
    async fn finish_changed(
        &mut self,
        kind: ObjectKind,
        pending: PendingPage,
        mut carried: Option<&mut BTreeMap<String, ManifestEntry>>,
    ) -> Result<()> {
        let PendingPage { changed, extras } = pending;
        let (mut extras, failed) = extras.join().await?;
        if !failed.is_empty() {
            let props = schema::schema(kind)
                .map(|s| s.single_only)
                .unwrap_or_default();
            self.warnings.push(format!(
                "{kind}: {} object(s) stored without their single-object properties ({}): {}",
                failed.len(),
                props.join(", "),
                failed
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mut page = Vec::with_capacity(changed.len());
        for (id, props) in changed {
            let mut merged = match carried.as_mut().and_then(|c| c.remove(&id)) {
                Some(entry) => self
                    .writer
                    .lock()
                    .await
                    .read_object(kind, &entry.blob)
                    .await?
                    .into_raw(),
                None => Map::new(),
            };
            merged.extend(props);
            merged.extend(extras.remove(&id).unwrap_or_default());
            if kind == ObjectKind::Users {
                self.changed_users.insert(id);
            }
            page.push(Value::Object(merged));
        }
        self.add_page(kind, page).await
    }

    fn add_links(&mut self, rel: RelationshipKind, links: BTreeSet<(String, String)>) {
        for (source, target) in links {
            if let Some(link) = self.link(rel, &source, &target) {
                self.relationships.insert(link);
            }
        }
    }

    /// The shared copy of an id named by relationships (a tenant's million memberships name
    /// its hundred thousand users: each id is held once).
    fn share(&mut self, id: ObjectId) -> ObjectId {
        match self.ids_named.get(&id) {
            Some(known) => known.clone(),
            None => {
                self.ids_named.insert(id.clone());
                id
            }
        }
    }

    /// [`Run::share`] for text from Graph; `None` when it is not an id.
    fn shared_id(&mut self, id: &str) -> Option<ObjectId> {
        match self.ids_named.get(id) {
            Some(known) => Some(known.clone()),
            None => ObjectId::new(id).ok().map(|id| self.share(id)),
        }
    }

    /// A plain link between shared ids; `None` when an end is not an id.
    fn link(&mut self, rel: RelationshipKind, source: &str, target: &str) -> Option<Relationship> {
        Some(Relationship::link(
            rel,
            self.shared_id(source)?,
            self.shared_id(target)?,
        ))
    }

    /// Adds a relationship, its ends shared.
    fn insert_link(&mut self, mut rel: Relationship) {
        rel.source = self.share(rel.source.clone());
        rel.target = self.share(rel.target.clone());
        self.relationships.insert(rel);
    }

    /// The properties a list or delta of `kind` asks for: every structural property the
    /// service's own `$metadata` declares for the kind's type (so a property Microsoft adds is
    /// captured without a new release), less the documented ones a list cannot return
    /// (read per object instead) and `signInActivity` (its own permission and page size).
    /// When the metadata cannot be read, dirvault's built-in list is used, with a warning.
    async fn list_properties(&mut self, kind: ObjectKind) -> Vec<String> {
        let client = self.client;
        let mut failure = None;
        let metadata = self
            .metadata
            .get_or_init(|| async {
                match client.service_metadata().await {
                    Ok(m) => Some(Arc::new(m)),
                    Err(e) => {
                        failure = Some(e.to_string());
                        None
                    }
                }
            })
            .await
            .clone();
        if let Some(e) = failure {
            self.warnings.push(format!(
                "Graph's $metadata could not be read ({e}): users, groups and administrative \
                 units were read with dirvault's built-in property lists"
            ));
        }
        let Some(table) = schema::schema(kind) else {
            return Vec::new();
        };
        let declared = metadata
            .and_then(|m| m.properties(kind.info().odata_type))
            .unwrap_or_else(|| table.properties.iter().map(|p| (*p).to_owned()).collect());
        table.list_select_from(declared)
    }

    /// Whether the parent's delta round asked for every property of `select`: when the
    /// service declares properties (or the tenant registers extensions) the last round did
    /// not ask for, its deltaLink would never return them, so the kind is read in full again.
    fn asked_for_everything(
        &mut self,
        kind: ObjectKind,
        asked: &[String],
        select: &[String],
    ) -> bool {
        let missing: Vec<&str> = select
            .iter()
            .filter(|p| !asked.contains(p))
            .map(String::as_str)
            .collect();
        if missing.is_empty() || select.is_empty() {
            return true;
        }
        let shown: Vec<&str> = missing.iter().take(5).copied().collect();
        let more = missing.len().saturating_sub(shown.len());
        self.warnings.push(format!(
            "{kind}: Graph declares {} propert{} the last backup did not ask for ({}{}): read in full again",
            missing.len(),
            if missing.len() == 1 { "y" } else { "ies" },
            shown.join(", "),
            if more > 0 { format!(", and {more} more") } else { String::new() }
        ));
        false
    }

    async fn extension_names(&self, kind: ObjectKind) -> Result<Vec<String>> {
        let target = if kind == ObjectKind::Users {
            "User"
        } else {
            "Group"
        };
        let body = self
            .client
            .send(
                dirvault_graph::Method::POST,
                "/directoryObjects/getAvailableExtensionProperties",
                Some(&serde_json::json!({})),
                &[],
            )
            .await?
            .body;
        Ok(body["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| {
                e["targetObjects"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|x| x == target))
            })
            .filter_map(|e| e["name"].as_str().map(str::to_owned))
            .collect())
    }

    /// A kind Graph only lists in full.
    async fn full_kind(&mut self, kind: ObjectKind, path: &str) -> Result<Listed> {
        let client = self.client;
        let mut pages = std::pin::pin!(client.pages(path));
        let mut seen = 0u64;
        while let Some(page) = pages.try_next().await? {
            seen += page.items.len() as u64;
            self.add_page(kind, page.items).await?;
            self.report(kind, seen);
        }
        Ok(Listed {
            incremental: false,
            delta_link: None,
            selected: Vec::new(),
        })
    }

    /// Sign-ins and audits: only entries newer than the previous backup (minus an overlap),
    /// added to the previous snapshot's.
    async fn log_kind(&mut self, kind: ObjectKind, repo: &Repository) -> Result<Listed> {
        let (path, field) = match kind {
            ObjectKind::SignIns => ("/auditLogs/signIns", "createdDateTime"),
            _ => ("/auditLogs/directoryAudits", "activityDateTime"),
        };
        let parent = self
            .parent_entries(kind, repo)
            .await?
            .filter(|(r, _)| r.status == KindStatus::Complete);
        let since = match (&parent, &self.parent) {
            (Some(_), Some(p)) => p.time - self.options.log_overlap,
            _ => self.now - self.options.log_history,
        };
        let filter = format!("{field} ge {}", since.format("%Y-%m-%dT%H:%M:%SZ"));
        let mut pages = std::pin::pin!(
            self.client
                .pages(&format!("{path}?$filter={filter}&$top=999"))
        );
        // Each page is written as it arrives (a tenant's month of sign-ins is not held).
        let mut fresh_ids: BTreeSet<String> = BTreeSet::new();
        let mut app_role_targets = BTreeSet::new();
        while let Some(page) = pages.try_next().await? {
            fresh_ids.extend(
                page.items
                    .iter()
                    .filter_map(|item| item.get("id").and_then(Value::as_str).map(str::to_owned)),
            );
            if kind == ObjectKind::DirectoryAudits {
                app_role_targets.extend(page.items.iter().flat_map(app_role_audit_targets));
            }
            self.add_page(kind, page.items).await?;
            self.report(kind, fresh_ids.len() as u64);
        }
        let incremental = parent.is_some();
        if kind == ObjectKind::DirectoryAudits && incremental {
            self.app_role_audits = Some(app_role_targets);
        }
        let mut writer = self.writer.lock().await;
        for entry in parent.map(|(_, e)| e).unwrap_or_default() {
            if !fresh_ids.contains(entry.id.as_str()) {
                writer.carry_entry(kind, entry);
            }
        }
        drop(writer);
        Ok(Listed {
            incremental,
            delta_link: None,
            selected: Vec::new(),
        })
    }

    /// Per-parent collections through `$batch`: app role assignments of every service
    /// principal (only those the audit log names when incremental: see
    /// [`Run::app_role_assignments_since`]); authentication methods of every user (changed
    /// users only when incremental: the reports API allows 5 requests per 10 s, docs/graph.md §5).
    async fn per_parent_kind(&mut self, kind: ObjectKind, repo: &Repository) -> Result<Listed> {
        let CollectionPath::PerParent { parent, segment } = kind.info().collection else {
            return Ok(Listed {
                incremental: false,
                delta_link: None,
                selected: Vec::new(),
            });
        };
        let parent_path = match parent.info().collection {
            CollectionPath::Tenant(p) => p,
            CollectionPath::PerParent { .. } => {
                return Ok(Listed {
                    incremental: false,
                    delta_link: None,
                    selected: Vec::new(),
                });
            }
        };
        let owners: Vec<String> = self
            .ids
            .get(&parent)
            .map(|ids| ids.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        let previous = self
            .parent_entries(kind, repo)
            .await?
            .filter(|(r, _)| r.status == KindStatus::Complete);
        let audited = (kind == ObjectKind::AppRoleAssignments && !self.options.full)
            .then(|| self.app_role_audits.take())
            .flatten();
        let previous = match (previous, audited) {
            (Some((_, entries)), Some(audited)) => {
                return self
                    .app_role_assignments_since(
                        parent_path,
                        segment,
                        &owners,
                        entries,
                        audited,
                        repo,
                    )
                    .await;
            }
            (previous, _) => previous,
        };
        let incremental =
            kind == ObjectKind::AuthenticationMethods && previous.is_some() && !self.options.full;
        let mut carried: BTreeMap<String, ManifestEntry> = if incremental {
            previous
                .map(|(_, e)| e)
                .unwrap_or_default()
                .into_iter()
                .map(|e| (e.id.to_string(), e))
                .collect()
        } else {
            BTreeMap::new()
        };
        // Incremental: the registration report names the users whose methods changed.
        let registered_since = match (&self.parent, incremental) {
            (Some(parent), true) => self.registration_changes(parent.time).await,
            _ => None,
        };
        let wanted: Vec<&String> = owners
            .iter()
            .filter(|o| {
                !incremental
                    || !carried.contains_key(*o)
                    || match &registered_since {
                        Some(report) => match report.get(*o) {
                            Some(changed) => *changed,
                            // Not in the report (disabled users are not): when the user
                            // changed, and at least once every UNREPORTED_RECHECK.
                            None => {
                                self.changed_users.contains(*o)
                                    || self.parent.as_ref().is_some_and(|p| {
                                        due_in_window(o, UNREPORTED_RECHECK, p.time, self.now)
                                    })
                            }
                        },
                        None => self.changed_users.contains(*o),
                    }
            })
            .collect();
        for answered in self
            .read_per_parent(kind, parent_path, segment, &wanted)
            .await?
        {
            carried.remove(&answered);
        }
        let live: BTreeSet<&String> = owners.iter().collect();
        let mut writer = self.writer.lock().await;
        for (id, entry) in carried {
            if live.contains(&id) {
                writer.carry_entry(kind, entry);
            }
        }
        drop(writer);
        Ok(Listed {
            incremental,
            delta_link: None,
            selected: Vec::new(),
        })
    }

    /// Reads `{parent_path}/{owner}/{segment}` of each wanted owner through `$batch` and adds
    /// what came back; returns the owners that answered (a 404 is an owner deleted since it
    /// was listed).
    async fn read_per_parent(
        &mut self,
        kind: ObjectKind,
        parent_path: &str,
        segment: &str,
        wanted: &[&String],
    ) -> Result<Vec<String>> {
        let requests: Vec<BatchRequest> = wanted
            .iter()
            .map(|o| BatchRequest::get((*o).clone(), format!("{parent_path}/{o}/{segment}")))
            .collect();
        let client = self.client;
        let mut answered = Vec::new();
        // A slice at a time: holding every user's answer at once would cost hundreds of MB.
        for slice in requests.chunks(PER_PARENT_SLICE) {
            for answer in client.batch(slice).await? {
                if answer.status == 404 {
                    continue; // deleted since it was listed
                }
                check_answer(kind, &answer)?;
                let items = self.client.rest_of(&answer.body).await?;
                if kind == ObjectKind::AuthenticationMethods {
                    // One object per user: the methods collection as Graph returned it.
                    let mut envelope = Map::new();
                    envelope.insert("id".into(), Value::String(answer.id.clone()));
                    envelope.insert("value".into(), Value::Array(items));
                    self.add(kind, Value::Object(envelope)).await?;
                } else {
                    self.add_page(kind, items).await?;
                }
                answered.push(answer.id);
                self.report(kind, answered.len() as u64);
            }
        }
        Ok(answered)
    }

    /// Incremental app role assignments. Graph has no delta for them (docs/graph.md §1), but Entra
    /// audits every assignment made or removed ("Add app role assignment to service
    /// principal", "Add app role assignment grant to user", "Remove app role assignment from
    /// …": learn.microsoft.com/entra/identity/monitoring-health/reference-audit-activities),
    /// naming the resource service principal among its targets. So the service principals
    /// read again are: those the audit log named since the parent snapshot (`audited`, read
    /// with the log overlap, which also covers the log's own delay), those new since the
    /// parent, and a rotating slice of the rest, so that each is read at least once in
    /// [`APP_ROLE_RECHECK_DAYS`] of daily backups whatever the audit log missed. The others'
    /// assignments, and their links, are carried over from the parent.
    async fn app_role_assignments_since(
        &mut self,
        parent_path: &str,
        segment: &str,
        owners: &[String],
        entries: Vec<ManifestEntry>,
        audited: BTreeSet<String>,
        repo: &Repository,
    ) -> Result<Listed> {
        let kind = ObjectKind::AppRoleAssignments;
        let known: BTreeSet<String> = self
            .parent_entries(ObjectKind::ServicePrincipals, repo)
            .await?
            .map(|(_, e)| e.into_iter().map(|e| e.id.to_string()).collect())
            .unwrap_or_default();
        let day = u64::try_from(self.now.timestamp().max(0)).unwrap_or(0) / 86_400;
        let wanted: Vec<&String> = owners
            .iter()
            .filter(|o| {
                audited.contains(*o)
                    || !known.contains(*o)
                    || dirvault_model::fnv1a(o.as_bytes()) % APP_ROLE_RECHECK_DAYS
                        == day % APP_ROLE_RECHECK_DAYS
            })
            .collect();
        let reread: BTreeSet<&str> = wanted.iter().map(|o| o.as_str()).collect();
        let live: BTreeSet<&str> = owners.iter().map(String::as_str).collect();
        // The parent's assignments by id, with their links (source: the resource).
        let mut kept: BTreeMap<String, Relationship> = BTreeMap::new();
        for rel in self
            .parent_links(RelationshipKind::AppRoleAssignment, repo)
            .await?
        {
            let resource = rel.source.as_str();
            if live.contains(resource)
                && !reread.contains(resource)
                && let Some(id) = rel.id()
            {
                kept.insert(id.to_string(), rel);
            }
        }
        self.read_per_parent(kind, parent_path, segment, &wanted)
            .await?;
        for entry in entries {
            if let Some(rel) = kept.remove(entry.id.as_str()) {
                self.insert_link(rel);
                self.writer.lock().await.carry_entry(kind, entry);
            }
        }
        Ok(Listed {
            incremental: true,
            delta_link: None,
            selected: Vec::new(),
        })
    }

    /// The users in the authentication-methods registration report, each with whether its row
    /// changed since `since` (less [`REPORT_LAG`]): one listing of the report, at the reports
    /// API's 5 requests per 10 s, instead of one methods request per user. `None` when the
    /// report cannot be read (it needs `AuditLog.Read.All`): then only users that changed are
    /// read again, and a warning says so.
    async fn registration_changes(
        &mut self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Option<BTreeMap<String, bool>> {
        let since = since - REPORT_LAG;
        let mut out = BTreeMap::new();
        let mut pages = std::pin::pin!(
            self.client
                .pages("reports/authenticationMethods/userRegistrationDetails")
        );
        loop {
            match pages.try_next().await {
                Ok(Some(page)) => {
                    for row in page.items {
                        let Some(id) = row["id"].as_str() else {
                            continue;
                        };
                        let updated = row["lastUpdatedDateTime"]
                            .as_str()
                            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                        // A row without a readable time is treated as changed.
                        let changed = updated.is_none_or(|t| t >= since);
                        out.insert(id.to_owned(), changed);
                    }
                }
                Ok(None) => return Some(out),
                Err(e) => {
                    self.warnings.push(format!(
                        "authenticationMethods: the registration report could not be read ({e}); \
                         only users that changed were read again, so methods registered by \
                         unchanged users since the last backup are missing until a full backup \
                         (grant AuditLog.Read.All)"
                    ));
                    return None;
                }
            }
        }
    }

    async fn role_members(&mut self) -> Result<()> {
        let roles: Vec<String> = self
            .ids
            .get(&ObjectKind::DirectoryRoles)
            .map(|ids| ids.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        let requests: Vec<BatchRequest> = roles
            .iter()
            .map(|r| {
                BatchRequest::get(
                    r.clone(),
                    format!("/directoryRoles/{r}/members?$select=id&$top=999"),
                )
            })
            .collect();
        for answer in self.client.batch(&requests).await? {
            let targets = answer.body["value"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["id"].as_str().map(|t| (answer.id.clone(), t.to_owned())))
                .collect();
            self.add_links(RelationshipKind::DirectoryRoleMember, targets);
        }
        Ok(())
    }

    /// The parent snapshot's links of `rel`, read when needed (only the chunks holding them).
    async fn parent_links(
        &self,
        rel: RelationshipKind,
        repo: &Repository,
    ) -> Result<Vec<Relationship>> {
        match &self.parent {
            Some(parent) => Ok(repo.relationships_of(parent, rel).await?),
            None => Ok(Vec::new()),
        }
    }

    /// Puts the parent snapshot's links of `rel` into this run's set, a part at a time: each
    /// part's ids are replaced by the run's shared copies before the next part is read, so a
    /// large tenant's million memberships are held once.
    async fn insert_parent_links(
        &mut self,
        rel: RelationshipKind,
        repo: &Repository,
    ) -> Result<()> {
        let Some(parent) = self.parent.clone() else {
            return Ok(());
        };
        repo.relationships_of_each(&parent, rel, |part| {
            for link in part {
                self.insert_link(link);
            }
        })
        .await?;
        Ok(())
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
                    let id = self.share(entry.id.clone());
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

    /// Keeps the parent's links of `rel` in place of whatever this run listed of them (their
    /// listing failed, or was not asked for).
    async fn carry_links(&mut self, rel: RelationshipKind, repo: &Repository) -> Result<()> {
        self.relationships.retain(|r| r.kind != rel);
        self.insert_parent_links(rel, repo).await
    }
}

/// Links listed with `$expand` on the source collection (at most 20 per object; a full list
/// is fetched for the objects that hit the cap), as (source, target) ids.
async fn expanded_links(
    client: &GraphClient,
    collection: &str,
    nav: &str,
) -> Result<BTreeSet<(String, String)>> {
    let mut links = BTreeSet::new();
    let mut pages = std::pin::pin!(client.pages(&format!(
        "{collection}?$select=id&$expand={nav}($select=id)&$top=999"
    )));
    let mut capped = Vec::new();
    while let Some(page) = pages.try_next().await? {
        for item in page.items {
            let Some(source) = item["id"].as_str().map(str::to_owned) else {
                continue;
            };
            let targets: Vec<String> = match &item[nav] {
                Value::Array(list) => {
                    if list.len() >= 20 {
                        capped.push(source.clone());
                    }
                    list.iter()
                        .filter_map(|t| t["id"].as_str().map(str::to_owned))
                        .collect()
                }
                Value::Object(o) => o
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            };
            links.extend(targets.into_iter().map(|t| (source.clone(), t)));
        }
    }
    for source in capped {
        let mut pages = std::pin::pin!(
            client.pages(&format!("{collection}/{source}/{nav}?$select=id&$top=999"))
        );
        while let Some(page) = pages.try_next().await? {
            links.extend(
                page.items
                    .iter()
                    .filter_map(|t| t["id"].as_str().map(|t| (source.clone(), t.to_owned()))),
            );
        }
    }
    Ok(links)
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
            CollectionPath::Tenant(_) => kind,
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
            CollectionPath::Tenant(path) => run.full_kind(kind, path).await,
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
    crate::lease::under_lease(
        repo,
        tenant,
        &options.owner,
        options.lease_ttl,
        now,
        async {
            let snapshots = repo.snapshots(tenant).await?;
            if snapshots.last().is_some_and(|s| s.time >= since) {
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
    let parent = repo.snapshots(&tenant).await?.pop();
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
        relationships,
        warnings,
        ..
    } = run;
    let mut writer = writer.into_inner();
    writer.add_relationships(relationships);
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

/// The ids an audit event of an app role assignment made, changed or removed names among its
/// targets (the resource service principal and the principal); none for other events.
fn app_role_audit_targets(event: &Value) -> Vec<String> {
    let activity = event["activityDisplayName"]
        .as_str()
        .unwrap_or("")
        .to_ascii_lowercase();
    if !activity.contains("app role assignment") {
        return Vec::new();
    }
    event["targetResources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .collect()
}

/// The links a kind's delta query carries as `{nav}@delta` when `nav` is selected: members of
/// groups and administrative units (group-delta.md, administrativeunit-delta.md), the manager
/// of users (user-delta.md, "Selecting the manager navigation property").
fn delta_links(kind: ObjectKind) -> Option<(RelationshipKind, &'static str)> {
    match kind {
        ObjectKind::Users => Some((RelationshipKind::UserManager, "manager")),
        ObjectKind::Groups => Some((RelationshipKind::GroupMember, "members")),
        ObjectKind::AdministrativeUnits => {
            Some((RelationshipKind::AdministrativeUnitMember, "members"))
        }
        _ => None,
    }
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

/// Pages of a delta round whose single-object properties are read at once, besides the one
/// being received: the round's chain of pages does not wait for each page's reads.
const PAGES_IN_FLIGHT: usize = 4;

/// A delta page's changed objects, waiting for their single-object properties.
struct PendingPage {
    changed: Vec<(String, Map<String, Value>)>,
    extras: AbortOnDrop<dirvault_graph::Result<SingleObjectProperties>>,
}

/// Single-object properties by object id, and the objects whose properties could not be read.
type SingleObjectProperties = (BTreeMap<String, Map<String, Value>>, Vec<String>);

/// A task that is stopped when its handle is dropped (a round that fails stops its reads).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> T {
        match (&mut self.0).await {
            Ok(value) => value,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The properties Graph returns only when one object is read (docs/graph.md §6a: users'
/// `aboutMe`, `skills`, `mailboxSettings`…, groups' Exchange-backed settings), fetched with
/// `$batch` for the objects that changed. Objects whose properties cannot be read are named
/// (they are stored without them, with a warning); deleted ones are left out.
async fn single_object_properties(
    client: &GraphClient,
    kind: ObjectKind,
    ids: &[String],
) -> dirvault_graph::Result<SingleObjectProperties> {
    let Some(props) = schema::schema(kind)
        .map(|s| s.single_only)
        .filter(|p| !p.is_empty())
    else {
        return Ok(Default::default());
    };
    let CollectionPath::Tenant(collection) = kind.info().collection else {
        return Ok(Default::default());
    };
    let select = props.join(",");
    let requests: Vec<BatchRequest> = ids
        .iter()
        .map(|id| BatchRequest::get(id.clone(), format!("{collection}/{id}?$select={select}")))
        .collect();
    let mut out = BTreeMap::new();
    let mut failed = Vec::new();
    for answer in client.batch(&requests).await? {
        match answer.body {
            Value::Object(mut m) if answer.status == 200 => {
                m.retain(|k, _| props.contains(&k.as_str()));
                out.insert(answer.id, m);
            }
            _ if answer.status == 404 => {} // deleted meanwhile
            _ => failed.push(format!("{} (HTTP {})", answer.id, answer.status)),
        }
    }
    Ok((out, failed))
}
