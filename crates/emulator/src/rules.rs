//! The documented rules about Graph's properties that the metadata does not carry: which
//! properties a list returns by default, which only a single-object read returns, which are
//! read-only, required or create-only on write, and which on-premises AD owns.
//!
//! The rules are data, in `type_rules.json` beside this file: one entry per entity type, whose
//! `sources` names the Microsoft Graph v1.0 doc pages they come from (`api-reference/v1.0/...`
//! in microsoft-graph-docs); the property names themselves come from [`crate::metadata`].
//! These are the emulator's own facts: it reads no client-side table (the client's are in
//! `dirvault_model::schema`; crates/engine/tests/client_tables.rs compares the two).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// A list of property names.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub(crate) struct Names(Vec<String>);

impl Names {
    /// Whether `name` is in the list (exactly: Graph's property names are camelCase).
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// The rules for one entity type.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TypeRules {
    /// The doc pages (and the sentences in them) the rules come from.
    #[allow(dead_code)] // read by people and by the test that every entry has them
    pub(crate) sources: String,
    /// Returned by a list or get without `$select`; `None` = every declared property except
    /// the single-object-only ones.
    #[serde(default)]
    pub(crate) default_select: Option<Names>,
    /// Returned only when one object is read with `$select`; selecting them on a list gives
    /// 501 `NotImplemented` (seen on Graph: microsoft-graph-docs issue #7555).
    #[serde(default)]
    pub(crate) single_only: Names,
    /// Refused on create and update.
    #[serde(default)]
    pub(crate) read_only: Names,
    /// Required on create.
    #[serde(default)]
    pub(crate) required_on_create: Names,
    /// Settable on create only.
    #[serde(default)]
    pub(crate) create_only: Names,
    /// Owned by on-premises AD when `onPremisesSyncEnabled` is true: updates are refused.
    #[serde(default)]
    pub(crate) on_premises_owned: Names,
    /// When set, the only properties an update may change.
    #[serde(default)]
    pub(crate) writable: Option<Names>,
    /// Declared but never returned, not even with `$select` (usable in `$filter` only).
    #[serde(default)]
    pub(crate) never_returned: Names,
    /// Declared but not usable in `$filter` (the property tables say no "Supports $filter").
    #[serde(default)]
    pub(crate) not_filterable: Names,
}

/// Every entry of `type_rules.json`, by OData type (`microsoft.graph.user`).
fn all() -> &'static HashMap<String, TypeRules> {
    static RULES: OnceLock<HashMap<String, TypeRules>> = OnceLock::new();
    RULES.get_or_init(|| {
        // Checked in, and parsed by a unit test: it always parses.
        serde_json::from_str(include_str!("type_rules.json")).unwrap_or_default()
    })
}

/// The rules for an OData type (`microsoft.graph.user`), where Microsoft documents some.
pub(crate) fn documented(odata_type: &str) -> Option<&'static TypeRules> {
    let name = format!(
        "microsoft.graph.{}",
        crate::metadata::Metadata::local_name(odata_type)
    );
    all().get(&name)
}

/// The properties an update of `odata_type` may change, where its update page lists them
/// (for the client-table tests that compare the client's lists with the emulator's).
pub fn documented_writable(odata_type: &str) -> Option<Vec<&'static str>> {
    documented(odata_type)?
        .writable
        .as_ref()
        .map(|w| w.iter().collect())
}

/// The rules for an OData type: empty lists for a type Microsoft documents none for.
pub(crate) fn rules(odata_type: &str) -> &'static TypeRules {
    static NONE: OnceLock<TypeRules> = OnceLock::new();
    documented(odata_type).unwrap_or_else(|| NONE.get_or_init(TypeRules::default))
}

/// Properties the v1.0 reference pages document on an open type (`OpenType="true"` in the
/// CSDL) that the published metadata does not declare; Graph returns and accepts them, so
/// the emulator's table has them too. `(entity type, property, type)`.
pub(crate) const DOCUMENTED_BEYOND_METADATA: &[(&str, &str, &str)] = &[
    // resources/device.md: extensionAttributes (onPremisesExtensionAttributes), "Returned
    // only on $select"; resources/onpremisesextensionattributes.md names the device's too.
    (
        "microsoft.graph.device",
        "extensionAttributes",
        "graph.onPremisesExtensionAttributes",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry parses, cites its sources, and names only properties Microsoft's metadata
    /// declares for the type (or that the reference pages document beyond it).
    #[test]
    fn the_rules_file_parses_and_names_declared_properties() {
        let parsed: HashMap<String, TypeRules> =
            serde_json::from_str(include_str!("type_rules.json")).unwrap();
        assert_eq!(parsed.len(), all().len());
        assert!(parsed.len() >= 6);
        let metadata = crate::metadata::Metadata::microsoft_v1();
        for (odata_type, rules) in &parsed {
            assert!(
                rules.sources.contains(".md"),
                "{odata_type}: no source page"
            );
            let lists = [
                rules.default_select.as_ref(),
                Some(&rules.single_only),
                Some(&rules.read_only),
                Some(&rules.required_on_create),
                Some(&rules.create_only),
                Some(&rules.on_premises_owned),
                rules.writable.as_ref(),
                Some(&rules.never_returned),
                Some(&rules.not_filterable),
            ];
            for name in lists.into_iter().flatten().flat_map(Names::iter) {
                assert!(
                    metadata.find(odata_type, name).is_some(),
                    "{odata_type}.{name} is not declared"
                );
            }
        }
        assert!(rules("microsoft.graph.user").read_only.contains("id"));
        assert!(!rules("microsoft.graph.domain").read_only.contains("id"));
    }
}
