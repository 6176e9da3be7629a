//! The target's sign-in branding: its localizations live under its organization
//! (`/organization/{id}/branding/localizations`, organizationalbranding-list-localizations.md),
//! so the organization's id is read first; a localization is matched by its language (the key
//! a caller names, the same in every tenant), and its images and CSS, which Graph never puts
//! in JSON, are read one by one so that the plan compares them with the snapshot's.

use dirvault_model::policy_writes::BRANDING_STREAMS;

use super::*;

/// Where an organization's branding localizations are.
pub(crate) fn branding_collection(organization: &str) -> String {
    format!("/organization/{organization}/branding/localizations")
}

/// How a snapshot localization is looked up in the target.
pub(crate) fn branding_lookup(object: &DirectoryObject, organization: &str) -> Lookup {
    Lookup {
        url: format!(
            "{}/{}",
            branding_collection(organization),
            dirvault_graph::path_segment(object.id().as_str())
        ),
        by: MatchedBy::Id,
        key: object.id().to_string(),
    }
}

impl CurrentState {
    /// The target organization's id, when the snapshot objects include branding.
    pub(super) async fn read_organization(
        client: &GraphClient,
        backup: &BackupState,
    ) -> Result<Option<String>> {
        if !backup
            .objects
            .values()
            .any(|o| o.kind() == ObjectKind::BrandingLocalizations)
        {
            return Ok(None);
        }
        let body = client.get("/organization?$select=id").await?;
        Ok(body["value"]
            .as_array()
            .and_then(|v| v.first())
            .and_then(|o| o["id"].as_str())
            .map(str::to_owned))
    }

    /// Adds to each found localization the streams it has set, as `data:` URIs under their
    /// names (as the backup keeps them).
    pub(super) async fn read_branding_streams(&mut self, client: &GraphClient) -> Result<()> {
        let Some(organization) = self.organization.clone() else {
            return Ok(());
        };
        for found in self.found.values_mut() {
            if found.object.kind() != ObjectKind::BrandingLocalizations {
                continue;
            }
            let mut raw = found.object.raw().clone();
            let base = branding_lookup(&found.object, &organization).url;
            for stream in BRANDING_STREAMS {
                if raw
                    .get(&format!("{stream}RelativeUrl"))
                    .is_none_or(Value::is_null)
                {
                    continue;
                }
                if let Value::String(data) = client.get(&format!("{base}/{stream}")).await? {
                    raw.insert(stream.to_owned(), Value::String(data));
                }
            }
            if let Ok(object) =
                DirectoryObject::from_graph(ObjectKind::BrandingLocalizations, Value::Object(raw))
            {
                found.object = object;
            }
        }
        Ok(())
    }
}
