//! Relationships: links listed with `$expand` or under each parent, shared ids, and the
//! previous snapshot's links kept where a listing failed.

use super::*;

impl<'a> Run<'a> {
    pub(super) fn add_links(&mut self, rel: RelationshipKind, links: BTreeSet<(String, String)>) {
        for (source, target) in links {
            self.links.insert_link(rel, &source, &target);
        }
    }

    pub(super) async fn role_members(&mut self) -> Result<()> {
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
    pub(super) async fn parent_links(
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
    pub(super) async fn insert_parent_links(
        &mut self,
        rel: RelationshipKind,
        repo: &Repository,
    ) -> Result<()> {
        let Some(parent) = self.parent.clone() else {
            return Ok(());
        };
        repo.relationships_of_each(&parent, rel, |part| {
            for link in part {
                self.links.insert(link);
            }
        })
        .await?;
        Ok(())
    }

    /// Keeps the parent's links of `rel` in place of whatever this run listed of them (their
    /// listing failed, or was not asked for).
    pub(super) async fn carry_links(
        &mut self,
        rel: RelationshipKind,
        repo: &Repository,
    ) -> Result<()> {
        self.links.remove_kind(rel);
        self.insert_parent_links(rel, repo).await
    }
}

/// Links listed with `$expand` on the source collection (at most 20 per object; a full list
/// is fetched for the objects that hit the cap), as (source, target) ids.
pub(super) async fn expanded_links(
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
