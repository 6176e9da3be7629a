//! The emulator's Graph type facts, derived from Microsoft's published v1.0 metadata (the CSDL
//! that `GET https://graph.microsoft.com/v1.0/$metadata` returns), never from a client's
//! tables.
//!
//! `v1.0-entity-types.json` beside this file is generated from Microsoft's CSDL by
//! `graph-emulator derive-metadata --csdl v1.0-Prod.csdl` (see `docs/emulator.md`): for every
//! entity type the emulator serves, with its base types and derived types, the structural and
//! navigation properties as Microsoft declares them. The emulator serves the same facts at
//! `/v1.0/$metadata`, and a test ([`Metadata::from_csdl`] against the CSDL in
//! `shared/graph-metadata`) fails when the checked-in table and Microsoft's file disagree.

mod csdl;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

pub use csdl::DeriveError;

/// The entity types the emulator serves (without the `microsoft.graph.` namespace); the
/// table also holds their base types and every type derived from them.
pub const SERVED_TYPES: &[&str] = &[
    "user",
    "group",
    "directoryRole",
    "directoryRoleTemplate",
    "unifiedRoleDefinition",
    "unifiedRoleAssignment",
    "unifiedRoleEligibilitySchedule",
    "application",
    "servicePrincipal",
    "oAuth2PermissionGrant",
    "appRoleAssignment",
    "device",
    "administrativeUnit",
    "conditionalAccessPolicy",
    "namedLocation",
    "authenticationMethod",
    "signIn",
    "directoryAudit",
    "organization",
    "domain",
    "userRegistrationDetails",
    "extensionProperty",
    "federatedIdentityCredential",
    "scopedRoleMembership",
    "authorizationPolicy",
    "identitySecurityDefaultsEnforcementPolicy",
    "authenticationMethodsPolicy",
    "authenticationMethodConfiguration",
    "crossTenantAccessPolicy",
    "crossTenantAccessPolicyConfigurationDefault",
    "crossTenantAccessPolicyConfigurationPartner",
    "adminConsentRequestPolicy",
    "tokenLifetimePolicy",
    "tokenIssuancePolicy",
    "claimsMappingPolicy",
    "homeRealmDiscoveryPolicy",
    "activityBasedTimeoutPolicy",
    "permissionGrantPolicy",
    "permissionGrantConditionSet",
    "authenticationStrengthPolicy",
    "unifiedRoleManagementPolicy",
    "unifiedRoleManagementPolicyRule",
    "unifiedRoleManagementPolicyAssignment",
    "onPremisesDirectorySynchronization",
    "organizationalBranding",
    "organizationalBrandingLocalization",
];

/// The namespace of every type in the table.
pub const NAMESPACE: &str = "microsoft.graph";

/// A declared property: structural (`Property`) or navigation (`NavigationProperty`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Property {
    /// Its name, as Graph spells it.
    pub name: String,
    /// Its type as the CSDL writes it: `Edm.String`, `graph.assignedLicense`,
    /// `Collection(Edm.String)`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// `Nullable="false"` in the CSDL.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_nullable: bool,
}

impl Property {
    /// Whether the property holds a collection.
    pub fn is_collection(&self) -> bool {
        self.type_name.starts_with("Collection(")
    }
}

/// One entity type, as declared (its base types' properties are not repeated here).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityType {
    /// The base type, as the CSDL writes it (`graph.directoryObject`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_type: Option<String>,
    /// `Abstract="true"`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_abstract: bool,
    /// `OpenType="true"` (directory extension properties may appear on it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open_type: bool,
    /// Structural properties declared on this type.
    pub properties: Vec<Property>,
    /// Navigation properties declared on this type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub navigation_properties: Vec<Property>,
}

/// The entity types the emulator knows, by name without namespace (`user`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Metadata {
    /// Where the facts come from.
    pub source: String,
    /// Every type, by name.
    pub types: BTreeMap<String, EntityType>,
}

/// The table generated from Microsoft's v1.0 CSDL.
const MICROSOFT_V1: &str = include_str!("v1.0-entity-types.json");

impl Metadata {
    /// The table exactly as generated from Microsoft's CSDL and checked in.
    pub fn checked_in() -> Metadata {
        // The table is generated and checked by a test; a broken one is a build bug.
        #[allow(clippy::expect_used)]
        serde_json::from_str(MICROSOFT_V1)
            .expect("metadata/v1.0-entity-types.json is the generator's output")
    }

    /// Microsoft's v1.0 facts as the emulator serves them: the checked-in table plus the
    /// properties Microsoft documents beyond it ([`crate::rules::DOCUMENTED_BEYOND_METADATA`]);
    /// parsed once per process.
    pub fn microsoft_v1() -> Arc<Metadata> {
        static TABLE: OnceLock<Arc<Metadata>> = OnceLock::new();
        TABLE
            .get_or_init(|| {
                let mut table = Metadata::checked_in();
                for (type_name, name, type_of) in crate::rules::DOCUMENTED_BEYOND_METADATA {
                    // Skipped when a newer CSDL declares it.
                    let _ = table.add_property(
                        type_name,
                        Property {
                            name: (*name).to_owned(),
                            type_name: (*type_of).to_owned(),
                            not_nullable: false,
                        },
                    );
                }
                Arc::new(table)
            })
            .clone()
    }

    /// Derives the table from a CSDL document: [`SERVED_TYPES`], their base types and
    /// every type derived from them, in the `microsoft.graph` schema.
    ///
    /// # Errors
    /// [`DeriveError`] when the document is not CSDL or lacks a served type.
    pub fn from_csdl(csdl: &str, source: &str) -> Result<Metadata, DeriveError> {
        csdl::derive(csdl, SERVED_TYPES, source)
    }

    /// The table as the checked-in file writes it (pretty JSON, one trailing newline).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The table as a CSDL document, as `GET /v1.0/$metadata` serves it.
    pub fn to_csdl(&self) -> String {
        csdl::render(self)
    }

    /// `name` without the namespace or alias (`microsoft.graph.user`, `graph.user` → `user`).
    pub fn local_name(name: &str) -> &str {
        let name = name.trim_start_matches('#');
        name.strip_prefix("microsoft.graph.")
            .or_else(|| name.strip_prefix("graph."))
            .unwrap_or(name)
    }

    /// The type and its base types, most derived first.
    fn chain<'a>(&'a self, type_name: &str) -> Vec<&'a EntityType> {
        let mut out = Vec::new();
        let mut next = Some(Self::local_name(type_name).to_owned());
        while let Some(name) = next.take() {
            let Some(t) = self.types.get(&name) else {
                break;
            };
            if out.len() > 16 {
                break; // a cycle in a hand-edited table
            }
            out.push(t);
            next = t
                .base_type
                .as_deref()
                .map(|b| Self::local_name(b).to_owned());
        }
        out
    }

    /// Every structural property of `type_name`, its base types' included (base first).
    pub fn structural(&self, type_name: &str) -> Vec<&Property> {
        let mut out: Vec<&Property> = Vec::new();
        for t in self.chain(type_name).into_iter().rev() {
            out.extend(&t.properties);
        }
        out
    }

    /// Every navigation property of `type_name`, its base types' included.
    pub fn navigation(&self, type_name: &str) -> Vec<&Property> {
        let mut out: Vec<&Property> = Vec::new();
        for t in self.chain(type_name).into_iter().rev() {
            out.extend(&t.navigation_properties);
        }
        out
    }

    /// The declared property of `type_name` whose name matches `name` case-insensitively
    /// (Graph matches names so), structural first.
    pub fn find(&self, type_name: &str, name: &str) -> Option<&Property> {
        self.structural(type_name)
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Whether the table knows `type_name`.
    pub fn has_type(&self, type_name: &str) -> bool {
        self.types.contains_key(Self::local_name(type_name))
    }

    /// Types derived (directly or not) from `type_name`, by local name.
    pub fn derived(&self, type_name: &str) -> Vec<&str> {
        let base = Self::local_name(type_name);
        self.types
            .keys()
            .filter(|name| self.extends(name, base))
            .map(String::as_str)
            .collect()
    }

    /// Whether `name` has `base` among its base types.
    fn extends(&self, name: &str, base: &str) -> bool {
        let mut next = self.types.get(name).and_then(|t| t.base_type.as_deref());
        for _ in 0..16 {
            let Some(b) = next.map(Self::local_name) else {
                return false;
            };
            if b == base {
                return true;
            }
            next = self.types.get(b).and_then(|t| t.base_type.as_deref());
        }
        false
    }

    /// Declares a new structural property on `type_name`, as Microsoft does when Graph grows:
    /// the emulator's `$metadata`, `$select` and objects know it from then on.
    ///
    /// # Errors
    /// A message when the type is unknown or the name is taken.
    pub fn add_property(&mut self, type_name: &str, property: Property) -> Result<(), String> {
        if self.find(type_name, &property.name).is_some() {
            return Err(format!(
                "{type_name} already declares a property named {:?}",
                property.name
            ));
        }
        let valid_name = !property.name.is_empty()
            && property.name.len() <= 120
            && property
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(format!("{:?} is not a property name", property.name));
        }
        let t = self
            .types
            .get_mut(Self::local_name(type_name))
            .ok_or_else(|| format!("no entity type named {type_name:?}"))?;
        t.properties.push(property);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_table_has_every_served_type_and_its_bases() {
        let m = Metadata::microsoft_v1();
        for t in SERVED_TYPES {
            assert!(m.has_type(t), "{t}");
            // Every type inherits its id from entity, but a partner configuration, keyed by
            // the partner's tenant id.
            let key = if *t == "crossTenantAccessPolicyConfigurationPartner" {
                "tenantId"
            } else {
                "id"
            };
            assert!(
                m.structural(t).iter().any(|p| p.name == key),
                "{t} has its key {key}"
            );
        }
        let group: Vec<&str> = m
            .structural("microsoft.graph.group")
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert!(group.contains(&"resourceProvisioningOptions"), "{group:?}");
        assert!(group.contains(&"deletedDateTime"), "from directoryObject");
        assert!(
            m.derived("authenticationMethod")
                .contains(&"fido2AuthenticationMethod")
        );
        assert!(m.navigation("group").iter().any(|p| p.name == "members"));
    }

    #[test]
    fn properties_can_be_added_at_runtime_but_not_twice() {
        let mut m = (*Metadata::microsoft_v1()).clone();
        let p = Property {
            name: "contosoNewSetting".into(),
            type_name: "Edm.String".into(),
            not_nullable: false,
        };
        m.add_property("group", p.clone()).unwrap();
        assert!(
            m.find("microsoft.graph.group", "CONTOSONEWSETTING")
                .is_some()
        );
        assert!(m.add_property("group", p).is_err());
        let bad = Property {
            name: "a b".into(),
            type_name: "Edm.String".into(),
            not_nullable: false,
        };
        assert!(m.add_property("group", bad).is_err());
        assert!(
            m.to_csdl()
                .contains(r#"<Property Name="contosoNewSetting" Type="Edm.String" />"#)
        );
    }
}
