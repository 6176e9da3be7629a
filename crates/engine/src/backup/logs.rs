//! Sign-in and audit logs: read since the last snapshot's newest entry.

use super::*;

impl<'a> Run<'a> {
    /// Sign-ins and audits: only entries newer than the previous backup (minus an overlap),
    /// added to the previous snapshot's.
    pub(super) async fn log_kind(&mut self, kind: ObjectKind, repo: &Repository) -> Result<Listed> {
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
        let parent_entries = parent.map(|(_, e)| e).unwrap_or_default();
        self.carry(
            kind,
            parent_entries
                .into_iter()
                .filter(|e| !fresh_ids.contains(e.id.as_str())),
        )
        .await;
        Ok(Listed::without_delta(incremental))
    }
}
