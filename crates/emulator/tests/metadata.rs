//! The emulator's Graph facts are Microsoft's: its type table is derived from the v1.0 CSDL
//! Microsoft publishes, and `GET /v1.0/$metadata` serves it.

use std::path::PathBuf;

use dirvault_emulator::metadata::Metadata;
use dirvault_emulator::{Emulator, EmulatorConfig, TenantSpec};

/// Microsoft's CSDL: `DIRVAULT_GRAPH_CSDL`, else `shared/graph-metadata/v1.0-Prod.csdl` beside
/// the repository.
fn microsoft_csdl() -> Option<PathBuf> {
    let path = std::env::var_os("DIRVAULT_GRAPH_CSDL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/graph-metadata/v1.0-Prod.csdl")
        });
    path.exists().then_some(path)
}

#[test]
fn the_checked_in_type_table_is_what_microsofts_csdl_declares() {
    let Some(path) = microsoft_csdl() else {
        // CI sets DIRVAULT_REQUIRE_GRAPH_CSDL: there the file must be present.
        assert!(
            std::env::var_os("DIRVAULT_REQUIRE_GRAPH_CSDL").is_none(),
            "Microsoft's CSDL is required here: set DIRVAULT_GRAPH_CSDL to v1.0-Prod.csdl"
        );
        eprintln!(
            "skipped: Microsoft's v1.0 CSDL is not here (set DIRVAULT_GRAPH_CSDL to compare the table with it)"
        );
        return;
    };
    let csdl = std::fs::read_to_string(&path).unwrap();
    let checked_in = Metadata::checked_in();
    let derived = Metadata::from_csdl(&csdl, &checked_in.source).unwrap();
    for (name, t) in &derived.types {
        assert_eq!(
            checked_in.types.get(name),
            Some(t),
            "entity type {name} differs from {}; regenerate with `cargo run -p graph-emulator -- \
             derive-metadata --csdl {} --out crates/emulator/src/metadata/v1.0-entity-types.json`",
            path.display(),
            path.display()
        );
    }
    assert_eq!(
        derived.types.keys().collect::<Vec<_>>(),
        checked_in.types.keys().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_emulator_serves_its_metadata_and_every_object_has_every_declared_property() {
    let emulator = Emulator::new(EmulatorConfig::default());
    let tenant = emulator
        .create_tenant(&TenantSpec::preset("contoso", "tiny", 1).unwrap())
        .unwrap();
    let server = emulator.start("127.0.0.1:0").await.unwrap();
    let http = reqwest::Client::new();
    let csdl = http
        .get(format!("{}/v1.0/$metadata", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(csdl.status(), 200);
    let served = Metadata::from_csdl(&csdl.text().await.unwrap(), "served").unwrap();
    assert_eq!(served.types, Metadata::microsoft_v1().types);

    let token: serde_json::Value = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            server.url(),
            tenant.tenant_id
        ))
        .form(&[
            ("client_id", tenant.client_id.as_str()),
            ("client_secret", tenant.client_secret.as_str()),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let groups: serde_json::Value = http
        .get(format!("{}/v1.0/groups", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let group = &groups["value"][0];
    // Declared in Microsoft's metadata and returned by default: present, [] when unset.
    assert_eq!(
        group["resourceProvisioningOptions"],
        serde_json::json!([]),
        "{group}"
    );
    assert!(group.get("deletedDateTime").is_some(), "{group}");
}
