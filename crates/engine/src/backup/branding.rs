//! Branding localizations carry their images and CSS: Graph never puts an `Edm.Stream` in JSON
//! (organizationalbranding-get.md: "This method retrieves only non-Stream properties"), so
//! each stream a localization has set — its `{stream}RelativeUrl` is not null — is read from
//! `…/localizations/{id}/{stream}` and kept in the object under the stream's own name as a
//! `data:` URI (docs/graph.md §1 "branding"). A restore writes it back with `PUT`.

use dirvault_model::policy_writes::BRANDING_STREAMS;

use super::*;

impl Run<'_> {
    /// `items` (the localizations listed at `list_path`) with their streams added.
    pub(super) async fn with_branding_streams(
        &self,
        list_path: &str,
        mut items: Vec<Value>,
    ) -> Result<Vec<Value>> {
        for item in &mut items {
            let Some(object) = item.as_object_mut() else {
                continue;
            };
            let Some(id) = object.get("id").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            for stream in BRANDING_STREAMS {
                let set = object
                    .get(&format!("{stream}RelativeUrl"))
                    .is_some_and(|v| !v.is_null());
                if !set {
                    continue;
                }
                let url = format!("{list_path}/{}/{stream}", dirvault_graph::path_segment(&id));
                // An empty answer is a stream removed since the listing: nothing to keep.
                match self.client.get(&url).await? {
                    Value::String(data) => {
                        object.insert(stream.to_owned(), Value::String(data));
                    }
                    _ => continue,
                }
            }
        }
        Ok(items)
    }
}
