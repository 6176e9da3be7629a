//! Which properties to ask for (Graph's metadata, open extensions), and kinds listed whole.

use super::*;

impl<'a> Run<'a> {
    /// The properties a list or delta of `kind` asks for: every structural property the
    /// service's own `$metadata` declares for the kind's type (so a property Microsoft adds is
    /// captured without a new release), less the documented ones a list cannot return
    /// (read per object instead) and `signInActivity` (its own permission and page size).
    /// When the metadata cannot be read, dirvault's built-in list is used, with a warning.
    pub(super) async fn list_properties(&mut self, kind: ObjectKind) -> Vec<String> {
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
    pub(super) fn asked_for_everything(
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

    pub(super) async fn extension_names(&self, kind: ObjectKind) -> Result<Vec<String>> {
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
    pub(super) async fn full_kind(&mut self, kind: ObjectKind, path: &str) -> Result<Listed> {
        let client = self.client;
        let mut pages = std::pin::pin!(client.pages(path));
        let mut seen = 0u64;
        while let Some(page) = pages.try_next().await? {
            seen += page.items.len() as u64;
            self.add_page(kind, page.items).await?;
            self.report(kind, seen);
        }
        Ok(Listed::without_delta(false))
    }

    /// Reads a settings object (one per tenant, at a fixed path) as a kind of one object.
    pub(super) async fn settings_kind(&mut self, kind: ObjectKind, path: &str) -> Result<Listed> {
        let mut object = self.client.get(path).await?;
        // The response's own context URL names the host asked, not the object: a list's
        // items do not carry one either.
        if let Some(fields) = object.as_object_mut() {
            fields.remove("@odata.context");
        }
        self.add_page(kind, vec![object]).await?;
        self.report(kind, 1);
        Ok(Listed::without_delta(false))
    }
}
