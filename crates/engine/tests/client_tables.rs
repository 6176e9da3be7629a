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
