//! Reading Microsoft's CSDL into the emulator's table, and writing the table back as CSDL
//! (OData CSDL XML 4.0, the format of Graph's `$metadata`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::{EntityType, Metadata, NAMESPACE, Property};

/// Why a CSDL document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    /// Not XML.
    #[error("the metadata is not XML: {0}")]
    Xml(#[from] roxmltree::Error),
    /// No `microsoft.graph` schema, or a served type missing from it.
    #[error("the metadata has no entity type {0:?} in the microsoft.graph schema")]
    MissingType(String),
}

pub(super) fn derive(csdl: &str, roots: &[&str], source: &str) -> Result<Metadata, DeriveError> {
    let doc = roxmltree::Document::parse_with_options(
        csdl,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            ..roxmltree::ParsingOptions::default()
        },
    )?;
    let schema = doc
        .descendants()
        .find(|n| n.has_tag_name("Schema") && n.attribute("Namespace") == Some(NAMESPACE))
        .ok_or_else(|| DeriveError::MissingType(NAMESPACE.to_owned()))?;
    let mut all: BTreeMap<String, EntityType> = BTreeMap::new();
    for node in schema.children().filter(|n| n.has_tag_name("EntityType")) {
        let Some(name) = node.attribute("Name") else {
            continue;
        };
        let property = |n: roxmltree::Node<'_, '_>| {
            Some(Property {
                name: n.attribute("Name")?.to_owned(),
                type_name: n.attribute("Type")?.to_owned(),
                not_nullable: n.attribute("Nullable") == Some("false"),
            })
        };
        all.insert(
            name.to_owned(),
            EntityType {
                base_type: node.attribute("BaseType").map(str::to_owned),
                is_abstract: node.attribute("Abstract") == Some("true"),
                open_type: node.attribute("OpenType") == Some("true"),
                properties: node
                    .children()
                    .filter(|n| n.has_tag_name("Property"))
                    .filter_map(property)
                    .collect(),
                navigation_properties: node
                    .children()
                    .filter(|n| n.has_tag_name("NavigationProperty"))
                    .filter_map(property)
                    .collect(),
            },
        );
    }
    let everything = Metadata {
        source: String::new(),
        types: all,
    };
    let mut keep = BTreeSet::new();
    for root in roots {
        if !everything.types.contains_key(*root) {
            return Err(DeriveError::MissingType((*root).to_owned()));
        }
        let mut next = Some((*root).to_owned());
        while let Some(name) = next.take() {
            if !keep.insert(name.clone()) {
                break;
            }
            next = everything.types[&name]
                .base_type
                .as_deref()
                .map(|b| Metadata::local_name(b).to_owned())
                .filter(|b| everything.types.contains_key(b));
        }
        keep.extend(everything.derived(root).into_iter().map(str::to_owned));
    }
    Ok(Metadata {
        source: source.to_owned(),
        types: everything
            .types
            .into_iter()
            .filter(|(name, _)| keep.contains(name))
            .collect(),
    })
}

pub(super) fn render(metadata: &Metadata) -> String {
    let mut out = String::from(concat!(
        r#"<?xml version="1.0" encoding="utf-8"?>"#,
        "\n",
        r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">"#,
        "\n  <edmx:DataServices>\n",
        r#"    <Schema Namespace="microsoft.graph" Alias="graph" xmlns="http://docs.oasis-open.org/odata/ns/edm">"#,
        "\n"
    ));
    for (name, t) in &metadata.types {
        let _ = write!(out, r#"      <EntityType Name="{}""#, escape(name));
        if let Some(base) = &t.base_type {
            let _ = write!(out, r#" BaseType="{}""#, escape(base));
        }
        if t.is_abstract {
            out.push_str(r#" Abstract="true""#);
        }
        if t.open_type {
            out.push_str(r#" OpenType="true""#);
        }
        out.push_str(">\n");
        for (tag, props) in [
            ("Property", &t.properties),
            ("NavigationProperty", &t.navigation_properties),
        ] {
            for p in props {
                let _ = write!(
                    out,
                    r#"        <{tag} Name="{}" Type="{}""#,
                    escape(&p.name),
                    escape(&p.type_name)
                );
                if p.not_nullable {
                    out.push_str(r#" Nullable="false""#);
                }
                out.push_str(" />\n");
            }
        }
        out.push_str("      </EntityType>\n");
    }
    out.push_str("    </Schema>\n  </edmx:DataServices>\n</edmx:Edmx>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::super::{Metadata, SERVED_TYPES};

    #[test]
    fn what_the_emulator_serves_reads_back_as_the_same_table() {
        let m = Metadata::microsoft_v1();
        let again = super::derive(&m.to_csdl(), SERVED_TYPES, &m.source).unwrap();
        assert_eq!(again, *m);
    }

    #[test]
    fn hostile_documents_are_refused_not_expanded() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>"#;
        assert!(super::derive(bomb, SERVED_TYPES, "").is_err());
        assert!(super::derive("not xml", SERVED_TYPES, "").is_err());
        let empty = r#"<Schema Namespace="microsoft.graph"></Schema>"#;
        let err = super::derive(empty, SERVED_TYPES, "").unwrap_err();
        assert!(err.to_string().contains("user"), "{err}");
    }
}
