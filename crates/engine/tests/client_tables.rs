//! The client's own property tables (`dirvault_model::schema`, used by restore reads and as
//! the fallback `$select` when a tenant's `$metadata` cannot be read) name only properties
//! Microsoft's v1.0 metadata declares (the emulator's table, derived from Microsoft's CSDL
//! and checked against it), plus the few the reference pages document on open types. A
//! name Graph does not know is a 400 on every read that selects it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use dirvault_emulator::{Emulator, EmulatorConfig};
use dirvault_model::ObjectKind;
use dirvault_model::schema::schema;

#[test]
fn every_property_the_client_selects_is_one_microsoft_declares() {
    let metadata = Emulator::new(EmulatorConfig::default()).metadata();
    let mut checked = 0;
    for kind in ObjectKind::ALL {
        let Some(table) = schema(kind) else { continue };
        let odata_type = kind.info().odata_type;
        assert!(metadata.has_type(odata_type), "{odata_type}");
        for name in table.properties {
            assert!(
                metadata.find(odata_type, name).is_some(),
                "{odata_type}.{name} is in the client's table but not in Microsoft's metadata"
            );
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked}");
}

/// The client's kind table (`dirvault_model::ObjectKind`) and the emulator's collection table
/// (`dirvault_emulator::Collection`) are written separately, each from Microsoft's pages: where
/// they disagree on a path, a delta function, a type, the recycle bin or a permission, one of
/// them is wrong about Graph, and the other's tests would not catch it.
#[test]
fn the_clients_kind_table_and_the_emulators_collection_table_agree() {
    use dirvault_emulator::Collection;
    use dirvault_emulator::kinds::ListedAt;
    use dirvault_model::CollectionPath;

    assert_eq!(ObjectKind::ALL.len(), Collection::ALL.len());
    for kind in ObjectKind::ALL {
        let client = kind.info();
        let collection: Collection = client
            .name
            .parse()
            .unwrap_or_else(|_| panic!("the emulator serves no {kind}"));
        let emulator = collection.facts();
        assert_eq!(client.odata_type, emulator.odata_type, "{kind}");
        assert_eq!(client.delta_path, emulator.delta_path, "{kind}");
        assert_eq!(client.soft_delete, emulator.soft_delete, "{kind}");
        assert_eq!(client.read_permission, emulator.read_permission, "{kind}");
        assert_eq!(client.write_permission, emulator.write_permission, "{kind}");
        match (client.collection, emulator.listed_at) {
            (CollectionPath::Tenant(a), ListedAt::Tenant(b))
            | (CollectionPath::Singleton(a), ListedAt::Singleton(b)) => assert_eq!(a, b, "{kind}"),
            (
                CollectionPath::PerParent { parent, segment },
                ListedAt::PerParent {
                    parent: emulator_parent,
                    segment: emulator_segment,
                },
            ) => {
                assert_eq!(parent.name(), emulator_parent.name(), "{kind}");
                assert_eq!(segment, emulator_segment, "{kind}");
            }
            (a, b) => panic!("{kind}: client lists at {a:?}, emulator at {b:?}"),
        }
    }
}

/// What a restore sends to roll a tenant policy back (`dirvault_model::policy_writes`) is what
/// the emulator's rules, written separately from the same update pages, let an update change,
/// and every name is one Microsoft's metadata declares for the type.
#[test]
fn the_clients_policy_writes_match_the_emulators_update_rules() {
    use dirvault_model::policy_writes::policy_writes;
    use std::collections::BTreeSet;
    let metadata = Emulator::new(EmulatorConfig::default()).metadata();
    let mut compared = 0;
    for kind in ObjectKind::ALL {
        let Some(writes) = policy_writes(kind) else {
            continue;
        };
        let odata_type = kind.info().odata_type;
        for name in writes.update.iter().chain(writes.create_also) {
            assert!(
                metadata.find(odata_type, name).is_some(),
                "{odata_type}.{name} is not declared"
            );
        }
        if writes.update.is_empty() {
            continue; // changed through requests of their own (PIM rules)
        }
        let emulator: BTreeSet<&str> = dirvault_emulator::documented_writable(odata_type)
            .unwrap_or_else(|| panic!("the emulator documents no update of {odata_type}"))
            .into_iter()
            .collect();
        let client: BTreeSet<&str> = writes.update.iter().copied().collect();
        assert_eq!(client, emulator, "{kind}");
        compared += 1;
    }
    assert!(compared >= 13, "{compared}");
}

/// The images and CSS of a branding localization are written one by one, outside JSON
/// (organizationalbrandinglocalization-update.md): the client (`dirvault_model::policy_writes`)
/// and the emulator each list them from Microsoft's pages. Both lists must be the same, and
/// each be an `Edm.Stream` of the localization's type in Microsoft's metadata, and all of them: a name missing
/// from the client's list is an image a restore never puts back.
#[test]
fn the_branding_streams_of_the_client_and_the_emulator_are_microsofts() {
    let metadata = Emulator::new(EmulatorConfig::default()).metadata();
    let mut client = dirvault_model::policy_writes::BRANDING_STREAMS.to_vec();
    let mut emulator = dirvault_emulator::BRANDING_STREAMS.to_vec();
    client.sort_unstable();
    emulator.sort_unstable();
    assert_eq!(client, emulator);
    let odata_type = ObjectKind::BrandingLocalizations.info().odata_type;
    let mut declared: Vec<&str> = metadata
        .structural(odata_type)
        .into_iter()
        .filter(|p| p.type_name == "Edm.Stream")
        .map(|p| p.name.as_str())
        .collect();
    declared.sort_unstable();
    assert_eq!(
        client, declared,
        "every stream Microsoft declares, and only those"
    );
    for name in client {
        let property = metadata
            .find(odata_type, name)
            .unwrap_or_else(|| panic!("{odata_type}.{name} is not in Microsoft's metadata"));
        assert_eq!(property.type_name, "Edm.Stream", "{name}");
    }
}
