//! The organization's sign-in branding: its localizations are objects of
//! [`Collection::BrandingLocalizations`]; their images and CSS (`Edm.Stream`s) are bytes kept
//! beside them, each one's presence shown by its `{stream}RelativeUrl`
//! (resources/organizationalbrandinglocalization.md).

use serde_json::Value;

use super::Tenant;
use crate::error::{GraphError, GraphResult};
use crate::kinds::Collection;

/// The `Edm.Stream` properties of `organizationalBrandingProperties` in Microsoft's v1.0
/// metadata.
pub const BRANDING_STREAMS: [&str; 7] = [
    "backgroundImage",
    "bannerLogo",
    "customCSS",
    "favicon",
    "headerLogo",
    "squareLogo",
    "squareLogoDark",
];

impl Tenant {
    /// One stream of a localization: its media type and bytes, `None` when not set.
    pub fn branding_stream(&self, localization: &str, stream: &str) -> Option<(&str, &[u8])> {
        self.branding_streams
            .get(&(localization.to_owned(), stream.to_owned()))
            .map(|(t, b)| (t.as_str(), b.as_slice()))
    }

    /// Sets (or, with no bytes, removes) one stream of a localization, and its
    /// `{stream}RelativeUrl`, which changes with every upload (`?ts=`).
    ///
    /// # Errors
    /// 404 when the localization does not exist.
    pub fn set_branding_stream(
        &mut self,
        localization: &str,
        stream: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> GraphResult<()> {
        if self
            .get(Collection::BrandingLocalizations, localization)
            .is_none()
        {
            return Err(GraphError::not_found(localization));
        }
        let key = (localization.to_owned(), stream.to_owned());
        let url = if bytes.is_empty() {
            self.branding_streams.remove(&key);
            Value::Null
        } else {
            self.branding_streams
                .insert(key, (content_type.to_owned(), bytes));
            Value::String(format!(
                "{}/logintenantbranding/{localization}/{}?ts={}",
                self.id,
                stream.to_ascii_lowercase(),
                self.seq() + 1
            ))
        };
        let mut patch = super::Obj::new();
        patch.insert(format!("{stream}RelativeUrl"), url);
        self.update(Collection::BrandingLocalizations, localization, patch)
    }

    /// Whether a localization has any stream set (Graph deletes only those without:
    /// organizationalbrandinglocalization-delete.md).
    pub fn has_branding_streams(&self, localization: &str) -> bool {
        self.branding_streams.keys().any(|(l, _)| l == localization)
    }
}
