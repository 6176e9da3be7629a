//! Kinds listed under each object of another kind (authentication methods per user, app
//! role assignments per service principal), and which parents an incremental reads again.

use std::collections::HashSet;

use super::*;

impl<'a> Run<'a> {
    /// Per-parent collections through `$batch`: app role assignments of every service
    /// principal (only those the audit log names when incremental: see
    /// [`Run::app_role_assignments_since`]); authentication methods of every user (changed
    /// users only when incremental: the reports API allows 5 requests per 10 s, docs/graph.md §5).
    pub(super) async fn per_parent_kind(
        &mut self,
        kind: ObjectKind,
        repo: &Repository,
    ) -> Result<Listed> {
        let CollectionPath::PerParent { parent, segment } = kind.info().collection else {
            return Ok(Listed::without_delta(false));
        };
        let parent_path = match parent.info().collection {
            CollectionPath::Tenant(p) => p,
            CollectionPath::PerParent { .. } | CollectionPath::Singleton(_) => {
                return Ok(Listed::without_delta(false));
            }
        };
        // The parent kind's ids, shared (a clone is a reference count, not a copy of the text).
        let owners: Vec<ObjectId> = self.ids.get(&parent).cloned().unwrap_or_default();
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
        let mut carried: BTreeMap<ObjectId, ManifestEntry> = if incremental {
            previous
                .map(|(_, e)| e)
                .unwrap_or_default()
                .into_iter()
                .map(|e| (e.id.clone(), e))
                .collect()
        } else {
            BTreeMap::new()
        };
        // Incremental: the registration report names the users whose methods changed.
        let registered_since = match (&self.parent, incremental) {
            (Some(parent), true) => self.registration_changes(parent.time).await,
            _ => None,
        };
        let wanted: Vec<&ObjectId> = owners
            .iter()
            .filter(|o| {
                !incremental
                    || !carried.contains_key(*o)
                    || match &registered_since {
                        Some(report) => match report.get(o.as_str()) {
                            Some(changed) => *changed,
                            // Not in the report (disabled users are not): when the user
                            // changed, and at least once every UNREPORTED_RECHECK.
                            None => {
                                self.changed_users.contains(o.as_str())
                                    || self.parent.as_ref().is_some_and(|p| {
                                        due_in_window(
                                            o.as_str(),
                                            UNREPORTED_RECHECK,
                                            p.time,
                                            self.now,
                                        )
                                    })
                            }
                        },
                        None => self.changed_users.contains(o.as_str()),
                    }
            })
            .collect();
        drop(registered_since);
        self.read_per_parent(kind, parent_path, segment, &wanted, |answered| {
            carried.remove(answered);
        })
        .await?;
        if !carried.is_empty() {
            let live: HashSet<&str> = owners.iter().map(ObjectId::as_str).collect();
            carried.retain(|id, _| live.contains(id.as_str()));
        }
        self.carry(kind, carried.into_values()).await;
        Ok(Listed::without_delta(incremental))
    }

    /// Reads `{parent_path}/{owner}/{segment}` of each wanted owner through `$batch` and adds
    /// what came back; `answered` is told each owner that answered (a 404 is an owner deleted
    /// since it was listed).
    pub(super) async fn read_per_parent(
        &mut self,
        kind: ObjectKind,
        parent_path: &str,
        segment: &str,
        wanted: &[&ObjectId],
        mut answered: impl FnMut(&str),
    ) -> Result<()> {
        let client = self.client;
        let mut count = 0;
        // A slice at a time, requests and answers: a million users' requests made at once
        // would hold about 250 MB, and their answers hundreds more.
        for slice in wanted.chunks(PER_PARENT_SLICE) {
            let requests = gets(slice, |o| format!("{parent_path}/{o}/{segment}"));
            for answer in client.batch(&requests).await? {
                if answer.status == 404 {
                    continue; // deleted since it was listed
                }
                check_answer(kind, &answer)?;
                let items = self.client.rest_of(&answer.body).await?;
                answered(&answer.id);
                if kind == ObjectKind::AuthenticationMethods {
                    // One object per user: the methods collection as Graph returned it.
                    let mut envelope = Map::new();
                    envelope.insert("id".into(), Value::String(answer.id));
                    envelope.insert("value".into(), Value::Array(items));
                    self.add(kind, Value::Object(envelope)).await?;
                } else if kind == ObjectKind::BrandingLocalizations {
                    let list_path = format!("{parent_path}/{}/{segment}", answer.id);
                    let items = self.with_branding_streams(&list_path, items).await?;
                    self.add_page(kind, items).await?;
                } else {
                    self.add_page(kind, items).await?;
                }
                count += 1;
                self.report(kind, count);
            }
        }
        Ok(())
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
    pub(super) async fn app_role_assignments_since(
        &mut self,
        parent_path: &str,
        segment: &str,
        owners: &[ObjectId],
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
        let wanted: Vec<&ObjectId> = owners
            .iter()
            .filter(|o| {
                audited.contains(o.as_str())
                    || !known.contains(o.as_str())
                    || dirvault_model::fnv1a(o.as_str().as_bytes()) % APP_ROLE_RECHECK_DAYS
                        == day % APP_ROLE_RECHECK_DAYS
            })
            .collect();
        let reread: BTreeSet<&str> = wanted.iter().map(|o| o.as_str()).collect();
        let live: BTreeSet<&str> = owners.iter().map(ObjectId::as_str).collect();
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
        self.read_per_parent(kind, parent_path, segment, &wanted, |_| {})
            .await?;
        for entry in entries {
            if let Some(rel) = kept.remove(entry.id.as_str()) {
                self.links.insert(rel);
                self.writer.lock().await.carry_entry(kind, entry);
            }
        }
        Ok(Listed::without_delta(true))
    }

    /// The users in the authentication-methods registration report, each with whether its row
    /// changed since `since` (less [`REPORT_LAG`]): one listing of the report, at the reports
    /// API's 5 requests per 10 s, instead of one methods request per user. `None` when the
    /// report cannot be read (it needs `AuditLog.Read.All`): then only users that changed are
    /// read again, and a warning says so.
    pub(super) async fn registration_changes(
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
}

/// The ids an audit event of an app role assignment made, changed or removed names among its
/// targets (the resource service principal and the principal); none for other events.
pub(super) fn app_role_audit_targets(event: &Value) -> Vec<String> {
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
