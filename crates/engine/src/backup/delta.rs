//! Kinds read with a delta query: a full round the first time, then only the changes since
//! the stored deltaLink; changed objects' single-object properties read alongside.

use super::*;

impl<'a> Run<'a> {
    /// A kind with a delta query: a full round the first time, then only the changes.
    pub(super) async fn delta_kind(
        &mut self,
        kind: ObjectKind,
        repo: &Repository,
    ) -> Result<Listed> {
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
        let carried = Carried::new(entries);
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
                    self.links.remove_kind(rel);
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
    pub(super) async fn fresh_round(
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
        // The kind's ids, shared (a clone is a reference count, not a copy of the text).
        let ids: Vec<ObjectId> = self.ids.get(&kind).cloned().unwrap_or_default();
        let mut done = 0;
        for slice in ids.chunks(PER_PARENT_SLICE) {
            let requests = gets(slice, |id| {
                format!("{collection}/{id}/members?$select=id&$top=999")
            });
            for answer in self.client.batch(&requests).await? {
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
    pub(super) async fn delta_round(
        &mut self,
        kind: ObjectKind,
        start: &str,
        mut carried: Option<Carried>,
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
                        if m.get("@removed").is_some() {
                            self.links.remove_link(rel, &id, target);
                        } else if self.links.insert_link(rel, &id, target)
                            && nav == "manager"
                            && let (Some(source), Some(target)) =
                                (self.links.shared_id(&id), self.links.shared_id(target))
                        {
                            new_managers.insert(source, target);
                        }
                    }
                }
                // Only links changed (the id and `{nav}@delta`): the object is the parent's.
                let links_only = item.keys().all(|k| k == "id" || k.starts_with('@'))
                    && carried.as_ref().is_some_and(|c| c.contains(&id))
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
        let carried = carried.unwrap_or_else(|| Carried::new(Vec::new()));
        // Objects that stand for links (OAuth2 grants) keep their links when they are carried
        // unread: only changed ones come back through `add_page`, which derives theirs.
        if let Some(rel) = Relationship::derived_from(kind)
            && !carried.is_empty()
        {
            for link in self.parent_links(rel, repo).await? {
                if link.id().is_some_and(|id| carried.contains(id.as_str())) {
                    self.links.insert(link);
                }
            }
        }
        let left = carried.into_left();
        let ids = self.ids.entry(kind).or_default();
        ids.reserve(left.len());
        let mut writer = self.writer.lock().await;
        writer.carry_entries(kind, left.inspect(|entry| ids.push(entry.id.clone())));
        drop(writer);
        if let Some(rel) = member_rel {
            // Links of deleted groups, units and users go with them.
            self.links
                .retain(|kind, source, _| kind != rel || !removed.contains(source.as_str()));
        }
        if !new_managers.is_empty() {
            self.links.retain(|kind, source, target| {
                kind != RelationshipKind::UserManager
                    || new_managers.get(source).is_none_or(|m| m == target)
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
    pub(super) fn start_changed(
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
    pub(super) async fn finish_changed(
        &mut self,
        kind: ObjectKind,
        pending: PendingPage,
        mut carried: Option<&mut Carried>,
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
}

/// The links a kind's delta query carries as `{nav}@delta` when `nav` is selected: members of
/// groups and administrative units (group-delta.md, administrativeunit-delta.md), the manager
/// of users (user-delta.md, "Selecting the manager navigation property").
pub(super) fn delta_links(kind: ObjectKind) -> Option<(RelationshipKind, &'static str)> {
    match kind {
        ObjectKind::Users => Some((RelationshipKind::UserManager, "manager")),
        ObjectKind::Groups => Some((RelationshipKind::GroupMember, "members")),
        ObjectKind::AdministrativeUnits => {
            Some((RelationshipKind::AdministrativeUnitMember, "members"))
        }
        _ => None,
    }
}

/// Pages of a delta round whose single-object properties are read at once, besides the one
/// being received: the round's chain of pages does not wait for each page's reads.
pub(super) const PAGES_IN_FLIGHT: usize = 4;

/// A delta page's changed objects, waiting for their single-object properties.
pub(super) struct PendingPage {
    changed: Vec<(String, Map<String, Value>)>,
    extras: AbortOnDrop<dirvault_graph::Result<SingleObjectProperties>>,
}

/// Single-object properties by object id, and the objects whose properties could not be read.
pub(super) type SingleObjectProperties = (BTreeMap<String, Map<String, Value>>, Vec<String>);

/// A task that is stopped when its handle is dropped (a round that fails stops its reads).
pub(super) struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    pub(super) async fn join(mut self) -> T {
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
pub(super) async fn single_object_properties(
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
