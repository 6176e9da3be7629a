//! The service's own metadata (`GET /v1.0/$metadata`, OData CSDL): which properties each
//! entity type has today. A backup builds its `$select` lists from it, so that a property
//! Microsoft adds to a type is captured without a new dirvault release.

use std::collections::HashMap;

/// The structural property names of every entity type in the `microsoft.graph` schema.
#[derive(Debug, Clone, Default)]
pub struct ServiceMetadata {
    /// Type name without namespace → (base type without namespace, declared properties).
    types: HashMap<String, (Option<String>, Vec<String>)>,
}

/// The most levels of base types followed: Graph's deepest chain is a handful; a cycle in a
/// hostile document stops here.
const MAX_DEPTH: usize = 32;

impl ServiceMetadata {
    /// Parses a CSDL document. Document type definitions are refused (no entity expansion).
    ///
    /// # Errors
    /// A message when the text is not XML or has no `microsoft.graph` schema.
    pub fn parse(csdl: &str) -> Result<ServiceMetadata, String> {
        let doc = roxmltree::Document::parse_with_options(
            csdl,
            roxmltree::ParsingOptions {
                allow_dtd: false,
                ..roxmltree::ParsingOptions::default()
            },
        )
        .map_err(|e| format!("the metadata is not XML: {e}"))?;
        let schema = doc
            .descendants()
            .find(|n| {
                n.has_tag_name("Schema") && n.attribute("Namespace") == Some("microsoft.graph")
            })
            .ok_or("the metadata has no microsoft.graph schema")?;
        let types = schema
            .children()
            .filter(|n| n.has_tag_name("EntityType"))
            .filter_map(|n| {
                let name = n.attribute("Name")?.to_owned();
                let base = n.attribute("BaseType").map(|b| local_name(b).to_owned());
                let properties = n
                    .children()
                    .filter(|p| p.has_tag_name("Property"))
                    .filter_map(|p| p.attribute("Name"))
                    .filter(|name| is_identifier(name))
                    .map(str::to_owned)
                    .collect();
                Some((name, (base, properties)))
            })
            .collect();
        Ok(ServiceMetadata { types })
    }

    /// Every structural property of `odata_type` (`microsoft.graph.user`), its base types'
    /// first; `None` when the service does not declare the type.
    pub fn properties(&self, odata_type: &str) -> Option<Vec<String>> {
        let mut chain = Vec::new();
        let mut next = Some(local_name(odata_type));
        while let Some(name) = next.take() {
            let (base, properties) = self.types.get(name)?;
            chain.push(properties);
            if chain.len() >= MAX_DEPTH {
                break;
            }
            next = base.as_deref();
        }
        let mut out: Vec<String> = Vec::new();
        for properties in chain.into_iter().rev() {
            for p in properties {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
        }
        Some(out)
    }
}

/// Whether `name` is an OData simple identifier (CSDL 4.0 §17.2: a letter or underscore, then
/// letters, digits and underscores, at most 128 characters). Graph's property names all are;
/// anything else would go into a `$select` URL as it is, so it is left out.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `microsoft.graph.user`, `graph.user`, `#microsoft.graph.user` → `user`.
fn local_name(name: &str) -> &str {
    let name = name.trim_start_matches('#');
    name.strip_prefix("microsoft.graph.")
        .or_else(|| name.strip_prefix("graph."))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::ServiceMetadata;

    const CSDL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="microsoft.graph" Alias="graph" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="entity" Abstract="true"><Property Name="id" Type="Edm.String" /></EntityType>
      <EntityType Name="directoryObject" BaseType="graph.entity"><Property Name="deletedDateTime" Type="Edm.DateTimeOffset" /></EntityType>
      <EntityType Name="group" BaseType="graph.directoryObject">
        <Property Name="displayName" Type="Edm.String" />
        <Property Name="resourceProvisioningOptions" Type="Collection(Edm.String)" Nullable="false" />
        <NavigationProperty Name="members" Type="Collection(graph.directoryObject)" />
      </EntityType>
      <EntityType Name="loop" BaseType="graph.loop"><Property Name="x" Type="Edm.String" /></EntityType>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>"#;

    #[test]
    fn properties_follow_base_types_and_leave_navigation_out() {
        let m = ServiceMetadata::parse(CSDL).unwrap();
        assert_eq!(
            m.properties("microsoft.graph.group").unwrap(),
            [
                "id",
                "deletedDateTime",
                "displayName",
                "resourceProvisioningOptions"
            ]
        );
        assert_eq!(m.properties("#microsoft.graph.user"), None);
        assert_eq!(m.properties("loop").unwrap(), ["x"], "a cycle ends");
    }

    proptest::proptest! {
        /// Whatever the service sends, parsing answers (no panic), and every property a backup
        /// would put in a `$select` is an identifier: nothing can add a query option.
        #[test]
        fn any_document_parses_or_is_refused_and_yields_only_identifiers(
            names in proptest::collection::vec(".{0,40}", 0..8),
            base in ".{0,20}",
            noise in ".{0,200}",
        ) {
            let _ = ServiceMetadata::parse(&noise);
            let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;");
            let props: String = names
                .iter()
                .map(|n| format!(r#"<Property Name="{}" Type="Edm.String"/>"#, escape(n)))
                .collect();
            let doc = format!(
                r#"<Edmx><Schema Namespace="microsoft.graph"><EntityType Name="t" BaseType="{}">{props}</EntityType></Schema></Edmx>"#,
                escape(&base)
            );
            if let Ok(m) = ServiceMetadata::parse(&doc) {
                for p in m.properties("t").unwrap_or_default() {
                    proptest::prop_assert!(super::is_identifier(&p), "{p:?}");
                }
            }
        }
    }

    #[test]
    fn property_names_that_are_not_identifiers_are_left_out() {
        let doc = r#"<Edmx><Schema Namespace="microsoft.graph"><EntityType Name="user">
            <Property Name="displayName" Type="Edm.String"/>
            <Property Name="id&amp;$expand=manager" Type="Edm.String"/>
            <Property Name="a,b" Type="Edm.String"/><Property Name="" Type="Edm.String"/>
            <Property Name="9lives" Type="Edm.String"/><Property Name="_ok_1" Type="Edm.String"/>
        </EntityType></Schema></Edmx>"#;
        let m = ServiceMetadata::parse(doc).unwrap();
        assert_eq!(m.properties("user").unwrap(), ["displayName", "_ok_1"]);
    }

    #[test]
    fn hostile_or_foreign_documents_are_refused() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>"#;
        assert!(ServiceMetadata::parse(bomb).is_err());
        assert!(ServiceMetadata::parse("{}").is_err());
        assert!(ServiceMetadata::parse("<Schema Namespace=\"other\"/>").is_err());
    }
}
