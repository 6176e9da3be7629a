//! Deterministic tenant generator: realistic objects of every kind, with the properties Graph
//! returns for each type (v1.0 resource docs), including nulls, nested complex values,
//! directory extension attributes and synced (on-premises) users.
//!
//! The spec, the generator's state and the order of generation are here; what it generates is
//! in [`people`], [`apps`] and [`directory`], from the words in [`data`].

mod apps;
mod data;
mod directory;
mod people;
mod policies;

use apps::*;
use data::*;
use directory::*;
use people::*;
use policies::*;

use std::collections::BTreeSet;
use std::hash::Hasher;

use chrono::{DateTime, Duration, Utc};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::auth::{AppRegistration, random_secret};
use crate::clock::graph_time;
use crate::error::Error;
use crate::kinds::{Collection, LinkKind};
use crate::tenant::{Obj, Tenant};

/// Microsoft Graph's appId (first-party, the same in every tenant).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// How big a tenant to generate. Counts are totals.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TenantSpec {
    /// Short name: the default domain is `<name>.onmicrosoft.com`, the custom one `<name>.com`.
    pub name: String,
    /// Seed: the same spec always generates the same tenant.
    pub seed: u64,
    /// Users.
    pub users: usize,
    /// Groups.
    pub groups: usize,
    /// Group memberships in total.
    pub memberships: usize,
    /// Applications.
    pub applications: usize,
    /// Service principals (one per application, then first-party and third-party ones).
    pub service_principals: usize,
    /// Devices.
    pub devices: usize,
    /// Administrative units.
    pub administrative_units: usize,
    /// Custom role definitions.
    pub custom_roles: usize,
    /// Role assignments.
    pub role_assignments: usize,
    /// Conditional Access policies.
    pub ca_policies: usize,
    /// Named locations.
    pub named_locations: usize,
    /// Sign-in log entries.
    pub sign_ins: usize,
    /// Directory audit entries.
    pub directory_audits: usize,
}

impl Default for TenantSpec {
    fn default() -> Self {
        Self::scaled("contoso", 10, 1)
    }
}

impl TenantSpec {
    /// A preset size: `tiny` (10 users), `small` (100), `medium` (1,000), `large` (10,000),
    /// `L100k` (the reference tenant: 100k users, 20k groups, 1M memberships, 2k apps, 4k
    /// service principals, 10k devices, 100 AUs, 50 custom roles, 500 role assignments, 200 CA
    /// policies), `L1M` (ten times L100k: issue #19's largest tenant), or a user count (`2500`), which scales the L100k proportions.
    ///
    /// # Errors
    /// [`Error::InvalidSize`].
    pub fn preset(name: &str, size: &str, seed: u64) -> Result<Self, Error> {
        let users = match size.to_ascii_lowercase().as_str() {
            "tiny" => 10,
            "small" => 100,
            "medium" => 1_000,
            "large" => 10_000,
            "l100k" => 100_000,
            "l1m" => 1_000_000,
            other => other.parse().map_err(|_| Error::InvalidSize {
                value: size.to_owned(),
            })?,
        };
        if users == 0 {
            return Err(Error::InvalidSize {
                value: size.to_owned(),
            });
        }
        Ok(Self::scaled(name, users, seed))
    }

    /// The L100k proportions scaled to `users`, with small floors so that every kind exists.
    pub fn scaled(name: &str, users: usize, seed: u64) -> Self {
        let r = |per_100k: usize, floor: usize| (per_100k * users / 100_000).max(floor);
        Self {
            name: name.to_owned(),
            seed,
            users,
            groups: r(20_000, 4),
            memberships: r(1_000_000, 20),
            applications: r(2_000, 3),
            service_principals: r(4_000, 6),
            devices: r(10_000, 3),
            administrative_units: r(100, 2),
            custom_roles: r(50, 2),
            role_assignments: r(500, 6),
            ca_policies: r(200, 3),
            named_locations: r(50, 2),
            sign_ins: r(20_000, 20),
            directory_audits: r(10_000, 10),
        }
    }

    /// Parses `NAME[:SIZE[:SEED]]` (the emulator binary's `--tenant`).
    ///
    /// # Errors
    /// [`Error::InvalidTenantSpec`], [`Error::InvalidSize`].
    pub fn parse_arg(arg: &str) -> Result<Self, Error> {
        let mut parts = arg.split(':');
        let name = parts
            .next()
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        let Some(name) = name else {
            return Err(Error::InvalidTenantSpec {
                value: arg.to_owned(),
            });
        };
        let size = parts.next().unwrap_or("small");
        let seed = match parts.next() {
            Some(s) => s.parse().map_err(|_| Error::InvalidTenantSpec {
                value: arg.to_owned(),
            })?,
            None => 1,
        };
        if parts.next().is_some() {
            return Err(Error::InvalidTenantSpec {
                value: arg.to_owned(),
            });
        }
        Self::preset(name, size, seed)
    }
}

/// Every application permission dirvault uses (read for backup, write for restore).
pub fn all_permissions() -> Vec<String> {
    FIRST_RELEASE_PERMISSIONS
        .iter()
        .chain(POLICY_WRITE_PERMISSIONS)
        .map(|s| (*s).to_owned())
        .collect()
}

/// The permissions of the first release. The generator draws the Graph app roles' ids for
/// these from the tenant's seed, so the list stays as it was: a seed keeps giving the same
/// tenant.
const FIRST_RELEASE_PERMISSIONS: &[&str] = &[
    "Directory.Read.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Device.ReadWrite.All",
    "AdministrativeUnit.ReadWrite.All",
    "RoleManagement.ReadWrite.Directory",
    "RoleEligibilitySchedule.ReadWrite.Directory",
    "Policy.Read.All",
    "Policy.ReadWrite.ConditionalAccess",
    "UserAuthenticationMethod.ReadWrite.All",
    "AuditLog.Read.All",
    "Organization.Read.All",
    "Domain.Read.All",
];

/// The reads and writes of tenant policies and branding (each one's get and update page).
const POLICY_WRITE_PERMISSIONS: &[&str] = &[
    "Policy.ReadWrite.Authorization",
    "Policy.ReadWrite.AuthenticationMethod",
    "Policy.ReadWrite.CrossTenantAccess",
    "Policy.ReadWrite.ConsentRequest",
    "Policy.ReadWrite.ApplicationConfiguration",
    "Policy.ReadWrite.PermissionGrant",
    "OnPremDirectorySynchronization.Read.All",
    "OrganizationalBranding.ReadWrite.All",
];

/// Built-in role templates: (template id, display name). Ids as Microsoft publishes them
/// (permissions-reference.md).
pub const BUILT_IN_ROLES: &[(&str, &str)] = &[
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
    ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
    ),
    (
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
    ),
    (
        "158c047a-c907-4556-b7ef-446551a6b5f7",
        "Cloud Application Administrator",
    ),
    (
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        "Groups Administrator",
    ),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
    ),
    ("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"),
    (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
    ),
    (
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
        "Conditional Access Administrator",
    ),
    (
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
    ),
    (
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        "SharePoint Administrator",
    ),
    (
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        "Authentication Administrator",
    ),
    (
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
        "Privileged Authentication Administrator",
    ),
    (
        "b0f54661-2d74-4c50-afa3-1ec803f12efe",
        "Billing Administrator",
    ),
    ("88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers"),
    (
        "3a2c62db-5318-420d-8d74-23affee5d9d5",
        "Intune Administrator",
    ),
    (
        "69091246-20e8-4a56-aa4d-066075b2a7a8",
        "Teams Administrator",
    ),
    ("4a5d8f65-41da-4de4-8968-e035b65339cf", "Reports Reader"),
    (
        "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
        "License Administrator",
    ),
];

/// Fixed ids of authentication methods (docs/graph.md §1; phoneauthenticationmethod.md,
/// emailauthenticationmethod.md, passwordauthenticationmethod.md).
pub mod method_ids {
    /// Mobile phone.
    pub const MOBILE: &str = "3179e48a-750b-4051-897c-87b9720928f7";
    /// Alternate mobile phone.
    pub const ALTERNATE_MOBILE: &str = "b6332ec1-7057-4abe-9331-3d72feddfe41";
    /// Office phone.
    pub const OFFICE: &str = "e37fc753-ff3b-4958-9484-eaa9425c82bc";
    /// Email.
    pub const EMAIL: &str = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f";
    /// Password.
    pub const PASSWORD: &str = "28c10230-6103-485e-b985-444c60001490";
}

struct Gen {
    rng: ChaCha8Rng,
    now: DateTime<Utc>,
}

impl Gen {
    fn uuid(&mut self) -> String {
        uuid::Builder::from_random_bytes(self.rng.random())
            .into_uuid()
            .to_string()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        // The slices are constants and never empty.
        items.choose(&mut self.rng).unwrap_or(&items[0])
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    fn past(&mut self, max_days: i64) -> String {
        let secs = self.rng.random_range(0..max_days.max(1) * 86_400);
        graph_time(self.now - Duration::seconds(secs))
    }
}

fn obj(v: Value) -> Obj {
    match v {
        Value::Object(m) => m,
        _ => Obj::new(),
    }
}

/// Generates a whole tenant from `spec` (objects are created "before" any sync: no change log).
pub fn generate(spec: &TenantSpec, now: DateTime<Utc>) -> Tenant {
    let mut seed_bytes = spec.seed.to_le_bytes().to_vec();
    seed_bytes.extend(spec.name.bytes());
    // FNV-1a, as tenants have been seeded since the first release: the same name, size and
    // seed must keep giving the same tenant.
    let seed = {
        let mut hasher = fnv::FnvHasher::default();
        hasher.write(&seed_bytes);
        hasher.finish()
    };
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        now,
    };
    let tenant_id = g.uuid();
    let mut t = Tenant::new(tenant_id.clone(), spec.name.clone());
    let custom_domain = format!("{}.com", spec.name.to_ascii_lowercase());
    t.domains.push(custom_domain.clone());

    organization_and_domains(&mut g, &mut t, spec);

    // Directory extension properties, owned by a schema app (docs/graph.md §6a).
    let ext_app_id = g.uuid();
    let ext_prefix = format!("extension_{}", ext_app_id.replace('-', ""));
    for (name, data_type, targets) in [
        ("costCenter", "String", vec!["User"]),
        ("employeeNumber", "Integer", vec!["User"]),
        ("projectCode", "String", vec!["User", "Group"]),
    ] {
        let id = g.uuid();
        t.extension_properties.push(obj(json!({
            "id": id,
            "deletedDateTime": null,
            "appDisplayName": "dirvault schema extensions",
            "dataType": data_type,
            "isMultiValued": false,
            "isSyncedFromOnPremises": false,
            "name": format!("{ext_prefix}_{name}"),
            "targetObjects": targets,
        })));
    }

    let users = users(&mut g, &mut t, spec, &custom_domain, &ext_prefix);
    let groups = groups(&mut g, &mut t, spec, &custom_domain, &ext_prefix);
    let devices = devices(&mut g, &mut t, spec, &users);
    memberships(&mut g, &mut t, spec, &users, &groups, &devices);
    managers(&mut g, &mut t, &users);
    let sps = applications(&mut g, &mut t, spec, &custom_domain, &ext_app_id, &users);
    let aus = administrative_units(&mut g, &mut t, spec, &users, &groups);
    roles(&mut g, &mut t, spec, &users, &groups, &sps, &aus);
    conditional_access(&mut g, &mut t, spec, &users, &groups);
    auth_methods(&mut g, &mut t, &users);
    logs(&mut g, &mut t, spec, &users);
    // Last: what the generator drew before stays the same for a given seed.
    policies(&mut g, &mut t);
    t
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn base64_id(g: &mut Gen) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(g.rng.random::<[u8; 16]>())
}

/// Registers a client app: an application and its service principal in the tenant, plus the
/// credentials and consented permissions the token endpoint checks. Returns the client id and,
/// with `with_secret`, the new secret.
pub(crate) fn register_app(
    t: &mut Tenant,
    display_name: &str,
    permissions: &[String],
    now: DateTime<Utc>,
    with_secret: bool,
) -> (String, Option<String>) {
    let client_id = uuid::Uuid::new_v4().to_string();
    let app_object = uuid::Uuid::new_v4().to_string();
    let sp_object = uuid::Uuid::new_v4().to_string();
    let created = graph_time(now);
    let domain = t.domains.last().cloned().unwrap_or_default();
    let tenant_id = t.id.clone();
    t.insert_initial(
        Collection::Applications,
        obj(json!({"id": app_object, "deletedDateTime": null, "appId": client_id, "displayName": display_name,
                   "createdDateTime": created, "publisherDomain": domain, "signInAudience": "AzureADMultipleOrgs",
                   "identifierUris": [], "keyCredentials": [], "passwordCredentials": [], "appRoles": [],
                   "requiredResourceAccess": [], "tags": [], "web": {"redirectUris": []}})),
    );
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(0),
        now,
    };
    t.insert_initial(
        Collection::ServicePrincipals,
        service_principal(
            &mut g,
            &sp_object,
            &client_id,
            display_name,
            &tenant_id,
            vec![],
            &[],
        ),
    );
    let mut app = AppRegistration::new(
        client_id.clone(),
        display_name.to_owned(),
        permissions.iter().cloned().collect(),
    );
    let secret = with_secret.then(random_secret);
    if let Some(s) = &secret {
        app.set_secret(s);
    }
    t.apps.insert(client_id.clone(), app);
    (client_id, secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_spec_same_tenant() {
        let now = Utc::now();
        let spec = TenantSpec::preset("contoso", "tiny", 7).unwrap();
        let a = generate(&spec, now);
        let b = generate(&spec, now);
        assert_eq!(a.id, b.id);
        assert_eq!(a.export(), b.export());
        let c = generate(&TenantSpec::preset("contoso", "tiny", 8).unwrap(), now);
        assert_ne!(a.id, c.id);
    }

    #[test]
    fn spec_arguments_parse_or_say_what_is_wrong() {
        let s = TenantSpec::parse_arg("fabrikam:500:3").unwrap();
        assert_eq!((s.name.as_str(), s.users, s.seed), ("fabrikam", 500, 3));
        assert_eq!(TenantSpec::parse_arg("x").unwrap().users, 100);
        assert!(TenantSpec::parse_arg("a:b:c:d").is_err());
        let err = TenantSpec::parse_arg("a:huge").unwrap_err().to_string();
        assert!(err.contains("huge"), "{err}");
        let l = TenantSpec::preset("big", "L100k", 1).unwrap();
        assert_eq!(
            (
                l.users,
                l.groups,
                l.memberships,
                l.applications,
                l.service_principals
            ),
            (100_000, 20_000, 1_000_000, 2_000, 4_000)
        );
        assert_eq!(
            (
                l.devices,
                l.administrative_units,
                l.custom_roles,
                l.role_assignments,
                l.ca_policies
            ),
            (10_000, 100, 50, 500, 200)
        );
    }

    #[test]
    fn generated_tenant_has_every_kind() {
        let t = generate(
            &TenantSpec::preset("contoso", "small", 1).unwrap(),
            Utc::now(),
        );
        for kind in Collection::ALL {
            if kind == Collection::AuthenticationMethods {
                assert_eq!(t.auth_methods.len(), 100);
                continue;
            }
            assert!(t.count(kind) > 0, "no {kind}");
        }
        let users = t.objects(Collection::Users).unwrap();
        assert!(
            users
                .values()
                .any(|u| u.keys().any(|k| k.starts_with("extension_")))
        );
        assert!(
            users
                .values()
                .any(|u| u.get("onPremisesSyncEnabled") == Some(&Value::Bool(true)))
        );
    }
}
