//! Deterministic tenant generator: realistic objects of every kind, with the properties Graph
//! returns for each type (v1.0 resource docs), including nulls, nested complex values,
//! directory extension attributes and synced (on-premises) users.

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
    /// policies), or a user count (`2500`), which scales the L100k proportions.
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
    [
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
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

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

const FIRST: &[&str] = &[
    "Adele",
    "Alex",
    "Allan",
    "Bianca",
    "Christie",
    "Debra",
    "Diego",
    "Emily",
    "Enrico",
    "Grady",
    "Henrietta",
    "Irvin",
    "Isaiah",
    "Johanna",
    "Joni",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Patti",
    "Pradeep",
    "Raul",
    "Sanjay",
    "Tomás",
    "Zoë",
    "Ngozi",
    "Wei",
    "Aiko",
];
const LAST: &[&str] = &[
    "Vance",
    "Wilber",
    "Deyoung",
    "Pisani",
    "Cline",
    "Berger",
    "Siciliani",
    "Braun",
    "Bucci",
    "Archie",
    "Lawson",
    "Sink",
    "Rohan",
    "Gonzales",
    "Sherman",
    "Holloway",
    "Adams",
    "Robbins",
    "Bowen",
    "Wilson",
    "Patel",
    "Gupta",
    "O'Brien",
    "Müller",
    "Nakamura",
    "Okafor",
    "Chen",
];
const DEPARTMENTS: &[&str] = &[
    "Sales",
    "Marketing",
    "Engineering",
    "Finance",
    "HR",
    "Legal",
    "Operations",
    "Support",
];
const TITLES: &[&str] = &[
    "Engineer",
    "Manager",
    "Director",
    "Analyst",
    "Designer",
    "Consultant",
    "Specialist",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Redmond", "WA", "US"),
    ("Seattle", "WA", "US"),
    ("London", "", "GB"),
    ("Berlin", "", "DE"),
    ("Tokyo", "", "JP"),
    ("Lagos", "", "NG"),
    ("São Paulo", "SP", "BR"),
    ("Sydney", "NSW", "AU"),
];
const SKUS: &[&str] = &[
    "c7df2760-2c81-4ef7-b578-5b5392b571df",
    "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
];

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
    t
}

fn organization_and_domains(g: &mut Gen, t: &mut Tenant, spec: &TenantSpec) {
    let name = &spec.name;
    let verified: Vec<Value> = t
        .domains
        .iter()
        .enumerate()
        .map(|(i, d)| json!({"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": i == 1, "isInitial": i == 0, "name": d, "type": "Managed"}))
        .collect();
    let created = g.past(2000);
    t.insert_initial(
        Collection::Organization,
        obj(json!({
            "id": t.id,
            "deletedDateTime": null,
            "businessPhones": ["+1 425 555 0100"],
            "city": "Redmond",
            "country": null,
            "countryLetterCode": "US",
            "createdDateTime": created,
            "defaultUsageLocation": null,
            "displayName": format!("{} Ltd", capitalize(name)),
            "marketingNotificationEmails": [],
            "onPremisesLastSyncDateTime": null,
            "onPremisesSyncEnabled": null,
            "postalCode": "98052",
            "preferredLanguage": "en",
            "privacyProfile": null,
            "securityComplianceNotificationMails": [],
            "securityComplianceNotificationPhones": [],
            "state": "WA",
            "street": "One Microsoft Way",
            "technicalNotificationMails": [format!("admin@{}", t.domains[1])],
            "tenantType": "AAD",
            "directorySizeQuota": {"used": spec.users + spec.groups, "total": 300000},
            "assignedPlans": [{"assignedDateTime": created, "capabilityStatus": "Enabled", "service": "exchange", "servicePlanId": "efb87545-963c-4e0d-99df-69c6916d9eb0"}],
            "provisionedPlans": [{"capabilityStatus": "Enabled", "provisioningStatus": "Success", "service": "exchange"}],
            "verifiedDomains": verified,
        })),
    );
    let domains = t.domains.clone();
    for (i, d) in domains.iter().enumerate() {
        t.insert_initial(
            Collection::Domains,
            obj(json!({
                "id": d,
                "authenticationType": "Managed",
                "availabilityStatus": null,
                "isAdminManaged": true,
                "isDefault": i == 1,
                "isInitial": i == 0,
                "isRoot": true,
                "isVerified": true,
                "passwordNotificationWindowInDays": 14,
                "passwordValidityPeriodInDays": 2147483647,
                "supportedServices": ["Email", "OfficeCommunicationsOnline"],
                "state": null,
            })),
        );
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn users(g: &mut Gen, t: &mut Tenant, spec: &TenantSpec, domain: &str, ext: &str) -> Vec<String> {
    let mut ids = Vec::with_capacity(spec.users);
    for i in 0..spec.users {
        let id = g.uuid();
        let first = *g.pick(FIRST);
        let last = *g.pick(LAST);
        let nick: String = format!("{first}.{last}{i}")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let guest = i > 0 && g.chance(0.05);
        let synced = i > 0 && !guest && g.chance(0.1);
        let upn = if guest {
            format!("{}_fabrikam.com#EXT#@{}", nick.to_lowercase(), t.domains[0])
        } else {
            format!("{}@{domain}", nick.to_lowercase())
        };
        let mail = if guest {
            format!("{}@fabrikam.com", nick.to_lowercase())
        } else {
            upn.clone()
        };
        let (city, state, country) = *g.pick(CITIES);
        let department = *g.pick(DEPARTMENTS);
        let created = g.past(1500);
        let phone = format!("+1 425 555 {:04}", g.rng.random_range(0..10_000));
        let sku = *g.pick(SKUS);
        let last_sign_in = g.past(30);
        let mut u = obj(json!({
            "id": id,
            "deletedDateTime": null,
            "accountEnabled": !g.chance(0.05),
            "ageGroup": null,
            "assignedLicenses": if guest { json!([]) } else { json!([{"disabledPlans": [], "skuId": sku}]) },
            "assignedPlans": if guest { json!([]) } else { json!([{"assignedDateTime": created, "capabilityStatus": "Enabled", "service": "exchange", "servicePlanId": "efb87545-963c-4e0d-99df-69c6916d9eb0"}]) },
            "authorizationInfo": {"certificateUserIds": []},
            "businessPhones": if g.chance(0.7) { json!([phone]) } else { json!([]) },
            "city": city,
            "companyName": if guest { Value::Null } else { json!(format!("{} Ltd", capitalize(&spec.name))) },
            "consentProvidedForMinor": null,
            "country": country,
            "createdDateTime": created,
            "creationType": if guest { json!("Invitation") } else { Value::Null },
            "customSecurityAttributes": null,
            "department": department,
            "displayName": format!("{first} {last}"),
            "employeeHireDate": g.past(3000),
            "employeeId": if synced || g.chance(0.5) { json!(format!("E{:06}", i)) } else { Value::Null },
            "employeeLeaveDateTime": null,
            "employeeOrgData": {"division": department, "costCenter": if g.chance(0.5) { json!(format!("CC-{}", g.rng.random_range(100..999))) } else { Value::Null }},
            "employeeType": if guest { Value::Null } else { json!("Employee") },
            "externalUserState": if guest { json!("Accepted") } else { Value::Null },
            "externalUserStateChangeDateTime": if guest { json!(created) } else { Value::Null },
            "faxNumber": null,
            "givenName": first,
            "identities": [{"signInType": "userPrincipalName", "issuer": t.domains[0], "issuerAssignedId": upn}],
            "imAddresses": [],
            "isResourceAccount": null,
            "jobTitle": format!("{} {}", department, g.pick(TITLES)),
            "lastPasswordChangeDateTime": g.past(200),
            "legalAgeGroupClassification": null,
            "licenseAssignmentStates": if guest { json!([]) } else { json!([{"assignedByGroup": null, "disabledPlans": [], "error": "None", "lastUpdatedDateTime": created, "skuId": sku, "state": "Active"}]) },
            "mail": mail,
            "mailNickname": nick,
            "mobilePhone": if g.chance(0.6) { json!(format!("+1 206 555 {:04}", g.rng.random_range(0..10_000))) } else { Value::Null },
            "officeLocation": format!("{}/{}", g.rng.random_range(1..40), g.rng.random_range(1000..3000)),
            "onPremisesDistinguishedName": if synced { json!(format!("CN={first} {last},OU=Users,DC={},DC=local", spec.name)) } else { Value::Null },
            "onPremisesDomainName": if synced { json!(format!("{}.local", spec.name)) } else { Value::Null },
            "onPremisesExtensionAttributes": {
                "extensionAttribute1": if synced { json!("synced") } else { Value::Null },
                "extensionAttribute2": null, "extensionAttribute3": null, "extensionAttribute4": null,
                "extensionAttribute5": null, "extensionAttribute6": null, "extensionAttribute7": null,
                "extensionAttribute8": null, "extensionAttribute9": null, "extensionAttribute10": null,
                "extensionAttribute11": null, "extensionAttribute12": null, "extensionAttribute13": null,
                "extensionAttribute14": null, "extensionAttribute15": null
            },
            "onPremisesImmutableId": if synced { json!(base64_id(g)) } else { Value::Null },
            "onPremisesLastSyncDateTime": if synced { json!(g.past(1)) } else { Value::Null },
            "onPremisesProvisioningErrors": [],
            "onPremisesSamAccountName": if synced { json!(nick.to_lowercase()) } else { Value::Null },
            "onPremisesSecurityIdentifier": if synced { json!(format!("S-1-5-21-{}-{}", g.rng.random_range(1_000_000u32..9_999_999), 1000 + i)) } else { Value::Null },
            "onPremisesSyncEnabled": if synced { json!(true) } else { Value::Null },
            "onPremisesUserPrincipalName": if synced { json!(format!("{}@{}.local", nick.to_lowercase(), spec.name)) } else { Value::Null },
            "otherMails": if guest { json!([mail]) } else { json!([]) },
            "passwordPolicies": if g.chance(0.2) { json!("DisablePasswordExpiration") } else { Value::Null },
            "passwordProfile": null,
            "postalCode": format!("{:05}", g.rng.random_range(10000..99999)),
            "preferredDataLocation": null,
            "preferredLanguage": if g.chance(0.8) { json!("en-US") } else { Value::Null },
            "provisionedPlans": [],
            "proxyAddresses": if guest { json!([]) } else { json!([format!("SMTP:{upn}"), format!("smtp:{}@{}", nick.to_lowercase(), t.domains[0])]) },
            "securityIdentifier": format!("S-1-12-1-{}-{}", g.rng.random::<u32>(), g.rng.random::<u32>()),
            "serviceProvisioningErrors": [],
            "showInAddressList": null,
            "signInActivity": {
                "lastSignInDateTime": last_sign_in,
                "lastSignInRequestId": g.uuid(),
                "lastNonInteractiveSignInDateTime": last_sign_in,
                "lastNonInteractiveSignInRequestId": g.uuid(),
                "lastSuccessfulSignInDateTime": last_sign_in,
                "lastSuccessfulSignInRequestId": g.uuid()
            },
            "signInSessionsValidFromDateTime": created,
            "state": if state.is_empty() { Value::Null } else { json!(state) },
            "streetAddress": format!("{} Main Street", g.rng.random_range(1..999)),
            "surname": last,
            "usageLocation": country,
            "userPrincipalName": upn,
            "userType": if guest { "Guest" } else { "Member" },
            "aboutMe": null,
            "birthday": "0001-01-01T00:00:00Z",
            "hireDate": "0001-01-01T00:00:00Z",
            "interests": [],
            "mySite": null,
            "pastProjects": [],
            "preferredName": "",
            "responsibilities": [],
            "schools": [],
            "skills": if g.chance(0.3) { json!(["Rust", "Graph"]) } else { json!([]) },
            "mailboxSettings": {"timeZone": "Pacific Standard Time", "language": {"locale": "en-US", "displayName": "English (United States)"}},
        }));
        if g.chance(0.5) {
            u.insert(
                format!("{ext}_costCenter"),
                json!(format!("K-{}", g.rng.random_range(10..99))),
            );
            u.insert(
                format!("{ext}_employeeNumber"),
                json!(g.rng.random_range(1000..99999)),
            );
        }
        t.insert_initial(Collection::Users, u);
        ids.push(id);
    }
    ids
}

fn base64_id(g: &mut Gen) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(g.rng.random::<[u8; 16]>())
}

fn groups(g: &mut Gen, t: &mut Tenant, spec: &TenantSpec, domain: &str, ext: &str) -> Vec<String> {
    let mut ids = Vec::with_capacity(spec.groups);
    for i in 0..spec.groups {
        let id = g.uuid();
        let roll: f64 = g.rng.random();
        // 30% Microsoft 365, 60% security, 10% mail-enabled security.
        let (unified, mail_enabled, security) = if i == 0 || roll < 0.3 {
            (true, true, false)
        } else if roll < 0.9 {
            (false, false, true)
        } else {
            (false, true, true)
        };
        let dept = *g.pick(DEPARTMENTS);
        let name = if i == 0 {
            "All Employees".to_owned()
        } else {
            format!("{dept} team {i}")
        };
        let nick: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        let dynamic = !unified && g.chance(0.05);
        let created = g.past(1500);
        let mut group = obj(json!({
            "id": id,
            "deletedDateTime": null,
            "assignedLabels": [],
            "assignedLicenses": [],
            "classification": null,
            "createdDateTime": created,
            "description": format!("{name} ({dept})"),
            "displayName": name,
            "expirationDateTime": null,
            "groupTypes": if unified { json!(["Unified"]) } else if dynamic { json!(["DynamicMembership"]) } else { json!([]) },
            "hasMembersWithLicenseErrors": false,
            "isAssignableToRole": if !unified && g.chance(0.05) { json!(true) } else { Value::Null },
            "licenseProcessingState": null,
            "mail": if mail_enabled { json!(format!("{}@{domain}", nick.to_lowercase())) } else { Value::Null },
            "mailEnabled": mail_enabled,
            "mailNickname": nick,
            "membershipRule": if dynamic { json!(format!("(user.department -eq \"{dept}\")")) } else { Value::Null },
            "membershipRuleProcessingState": if dynamic { json!("On") } else { Value::Null },
            "onPremisesDomainName": null,
            "onPremisesLastSyncDateTime": null,
            "onPremisesNetBiosName": null,
            "onPremisesProvisioningErrors": [],
            "onPremisesSamAccountName": null,
            "onPremisesSecurityIdentifier": null,
            "onPremisesSyncEnabled": null,
            "preferredDataLocation": null,
            "preferredLanguage": null,
            "proxyAddresses": if mail_enabled { json!([format!("SMTP:{}@{domain}", nick.to_lowercase())]) } else { json!([]) },
            "renewedDateTime": created,
            "securityEnabled": security,
            "securityIdentifier": format!("S-1-12-1-{}-{}", g.rng.random::<u32>(), g.rng.random::<u32>()),
            "serviceProvisioningErrors": [],
            "theme": null,
            "uniqueName": null,
            "visibility": if unified { json!(if g.chance(0.7) { "Private" } else { "Public" }) } else { Value::Null },
            "allowExternalSenders": if unified { json!(false) } else { Value::Null },
            "autoSubscribeNewMembers": if unified { json!(false) } else { Value::Null },
            "hideFromAddressLists": if unified { json!(false) } else { Value::Null },
            "hideFromOutlookClients": if unified { json!(false) } else { Value::Null },
            "isSubscribedByMail": null,
            "unseenCount": null,
        }));
        if g.chance(0.2) {
            group.insert(
                format!("{ext}_projectCode"),
                json!(format!("P-{}", g.rng.random_range(100..999))),
            );
        }
        t.insert_initial(Collection::Groups, group);
        ids.push(id);
    }
    ids
}

fn devices(g: &mut Gen, t: &mut Tenant, spec: &TenantSpec, users: &[String]) -> Vec<String> {
    let mut ids = Vec::with_capacity(spec.devices);
    for i in 0..spec.devices {
        let id = g.uuid();
        let device_id = g.uuid();
        let (os, version, trust) = *g.pick(&[
            ("Windows", "10.0.22631.4460", "AzureAd"),
            ("Windows", "10.0.19045.5131", "ServerAd"),
            ("iOS", "18.1", "Workplace"),
            ("Android", "15.0", "Workplace"),
            ("MacMDM", "15.1", "Workplace"),
        ]);
        let name = if os == "Windows" {
            format!("DESKTOP-{:06X}", i)
        } else {
            format!("{os}-{:05}", i)
        };
        let last = g.past(60);
        t.insert_initial(
            Collection::Devices,
            obj(json!({
                "id": id,
                "deletedDateTime": null,
                "accountEnabled": !g.chance(0.03),
                "alternativeSecurityIds": [{"type": 2, "identityProvider": null, "key": base64_id(g)}],
                "approximateLastSignInDateTime": last,
                "complianceExpirationDateTime": null,
                "createdDateTime": g.past(900),
                "deviceCategory": null,
                "deviceId": device_id,
                "deviceMetadata": null,
                "deviceOwnership": if g.chance(0.8) { "Company" } else { "Personal" },
                "deviceVersion": 2,
                "displayName": name,
                "enrollmentProfileName": null,
                "enrollmentType": null,
                "extensionAttributes": {
                    "extensionAttribute1": if g.chance(0.3) { json!("kiosk") } else { Value::Null },
                    "extensionAttribute2": null, "extensionAttribute3": null, "extensionAttribute4": null,
                    "extensionAttribute5": null, "extensionAttribute6": null, "extensionAttribute7": null,
                    "extensionAttribute8": null, "extensionAttribute9": null, "extensionAttribute10": null,
                    "extensionAttribute11": null, "extensionAttribute12": null, "extensionAttribute13": null,
                    "extensionAttribute14": null, "extensionAttribute15": null
                },
                "isCompliant": g.chance(0.8),
                "isManaged": g.chance(0.8),
                "isRooted": false,
                "managementType": "MDM",
                "manufacturer": null,
                "mdmAppId": "0000000a-0000-0000-c000-000000000000",
                "model": null,
                "onPremisesLastSyncDateTime": null,
                "onPremisesSecurityIdentifier": null,
                "onPremisesSyncEnabled": null,
                "operatingSystem": os,
                "operatingSystemVersion": version,
                "physicalIds": [],
                "profileType": "RegisteredDevice",
                "registrationDateTime": last,
                "systemLabels": [],
                "trustType": trust,
            })),
        );
        if !users.is_empty() {
            let owner = g.pick(users).clone();
            t.add_link_initial(LinkKind::DeviceRegisteredOwner, &id, &owner);
            t.add_link_initial(LinkKind::DeviceRegisteredUser, &id, &owner);
        }
        ids.push(id);
    }
    ids
}

fn memberships(
    g: &mut Gen,
    t: &mut Tenant,
    spec: &TenantSpec,
    users: &[String],
    groups: &[String],
    devices: &[String],
) {
    if groups.is_empty() || users.is_empty() {
        return;
    }
    // "All Employees" holds a tenth of all memberships (capped by the user count): one
    // big group, large enough to be split across delta pages.
    let big = (spec.memberships / 10).min(users.len());
    for u in users.iter().take(big) {
        t.add_link_initial(LinkKind::GroupMember, &groups[0], u);
    }
    let mut remaining = spec.memberships.saturating_sub(big);
    while remaining > 0 {
        let group = &groups[g.rng.random_range(0..groups.len())];
        let roll: f64 = g.rng.random();
        let member = if roll < 0.01 && groups.len() > 1 {
            let other = g.pick(groups).clone();
            if other == *group {
                continue;
            }
            other
        } else if roll < 0.02 && !devices.is_empty() {
            g.pick(devices).clone()
        } else {
            g.pick(users).clone()
        };
        t.add_link_initial(LinkKind::GroupMember, group, &member);
        remaining -= 1;
    }
    for group in groups {
        let owners = g.rng.random_range(0..3usize);
        for _ in 0..owners {
            let owner = g.pick(users).clone();
            t.add_link_initial(LinkKind::GroupOwner, group, &owner);
        }
    }
}

fn managers(g: &mut Gen, t: &mut Tenant, users: &[String]) {
    for (i, u) in users.iter().enumerate().skip(1) {
        if g.chance(0.7) {
            // Managers come earlier in the list: no cycles.
            let m = users[g.rng.random_range(0..i)].clone();
            t.add_link_initial(LinkKind::UserManager, u, &m);
        }
    }
}

/// Graph's application permissions as app roles of the Microsoft Graph service principal.
fn graph_app_roles(g: &mut Gen) -> Vec<Value> {
    all_permissions()
        .into_iter()
        .chain(["User.Read.All", "Group.Read.All", "Application.Read.All", "Directory.ReadWrite.All"].map(String::from))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|p| {
            json!({"allowedMemberTypes": ["Application"], "description": format!("Allows the app to {p}"),
                   "displayName": p, "id": g.uuid(), "isEnabled": true, "origin": "Application", "value": p})
        })
        .collect()
}

fn applications(
    g: &mut Gen,
    t: &mut Tenant,
    spec: &TenantSpec,
    domain: &str,
    ext_app_id: &str,
    users: &[String],
) -> Vec<String> {
    let mut sps = Vec::new();
    // Microsoft Graph itself: the resource of every app role assignment for permissions.
    let graph_sp = g.uuid();
    let graph_roles = graph_app_roles(g);
    t.insert_initial(
        Collection::ServicePrincipals,
        service_principal(
            g,
            &graph_sp,
            GRAPH_APP_ID,
            "Microsoft Graph",
            "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
            graph_roles.clone(),
            &[],
        ),
    );
    sps.push(graph_sp.clone());
    for i in 0..spec.applications {
        let id = g.uuid();
        let app_id = if i == 0 {
            ext_app_id.to_owned()
        } else {
            g.uuid()
        };
        let name = if i == 0 {
            "dirvault schema extensions".to_owned()
        } else {
            format!("{} App {i}", g.pick(DEPARTMENTS))
        };
        let defines_roles = g.chance(0.3);
        let app_roles: Vec<Value> = if defines_roles {
            vec![
                json!({"allowedMemberTypes": ["User"], "description": "Readers", "displayName": "Reader", "id": g.uuid(), "isEnabled": true, "origin": "Application", "value": "Reader"}),
            ]
        } else {
            vec![]
        };
        let created = g.past(1000);
        let key_id = g.uuid();
        let hint: String = (0..3)
            .map(|_| (b'a' + g.rng.random_range(0..26u8)) as char)
            .collect();
        let permission = graph_roles[g.rng.random_range(0..graph_roles.len())]["id"].clone();
        t.insert_initial(
            Collection::Applications,
            obj(json!({
                "id": id,
                "deletedDateTime": null,
                "addIns": [],
                "api": {"acceptMappedClaims": null, "knownClientApplications": [], "oauth2PermissionScopes": [], "preAuthorizedApplications": [], "requestedAccessTokenVersion": null},
                "appId": app_id,
                "appRoles": app_roles,
                "applicationTemplateId": null,
                "certification": null,
                "createdDateTime": created,
                "defaultRedirectUri": null,
                "description": null,
                "disabledByMicrosoftStatus": null,
                "displayName": name,
                "groupMembershipClaims": if g.chance(0.2) { json!("SecurityGroup") } else { Value::Null },
                "identifierUris": [format!("api://{app_id}")],
                "info": {"logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null, "supportUrl": null, "termsOfServiceUrl": null},
                "isDeviceOnlyAuthSupported": null,
                "isFallbackPublicClient": null,
                "keyCredentials": [],
                "nativeAuthenticationApisEnabled": null,
                "notes": null,
                "oauth2RequirePostResponse": false,
                "optionalClaims": null,
                "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
                "passwordCredentials": [{"customKeyIdentifier": null, "displayName": "ci secret", "endDateTime": graph_time(g.now + Duration::days(365)), "hint": hint, "keyId": key_id, "secretText": null, "startDateTime": created}],
                "publicClient": {"redirectUris": []},
                "publisherDomain": domain,
                "requestSignatureVerification": null,
                "requiredResourceAccess": [{"resourceAppId": GRAPH_APP_ID, "resourceAccess": [{"id": permission, "type": "Role"}]}],
                "samlMetadataUrl": null,
                "serviceManagementReference": null,
                "servicePrincipalLockConfiguration": null,
                "signInAudience": if g.chance(0.1) { "AzureADMultipleOrgs" } else { "AzureADMyOrg" },
                "spa": {"redirectUris": []},
                "tags": [],
                "tokenEncryptionKeyId": null,
                "uniqueName": null,
                "verifiedPublisher": {"displayName": null, "verifiedPublisherId": null, "addedDateTime": null},
                "web": {"homePageUrl": null, "logoutUrl": null, "redirectUris": [format!("https://app{i}.{domain}/auth")], "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false}, "redirectUriSettings": []},
            })),
        );
        if !users.is_empty() {
            let owner = g.pick(users).clone();
            t.add_link_initial(LinkKind::ApplicationOwner, &id, &owner);
        }
        if sps.len() < spec.service_principals {
            let sp_id = g.uuid();
            let tenant_id = t.id.clone();
            t.insert_initial(
                Collection::ServicePrincipals,
                service_principal(
                    g,
                    &sp_id,
                    &app_id,
                    &name,
                    &tenant_id,
                    app_roles.clone(),
                    &[],
                ),
            );
            sps.push(sp_id.clone());
            // App permissions: an app role assignment of the app's SP to Microsoft Graph.
            if g.chance(0.5) {
                let role = graph_roles[g.rng.random_range(0..graph_roles.len())]["id"].clone();
                app_role_assignment(
                    g,
                    t,
                    &sp_id,
                    &name,
                    "ServicePrincipal",
                    &graph_sp,
                    "Microsoft Graph",
                    &role,
                );
            }
            if let (Some(role), false) = (app_roles.first(), users.is_empty()) {
                let user = g.pick(users).clone();
                let user_name = t
                    .get(Collection::Users, &user)
                    .and_then(|u| u.get("displayName"))
                    .cloned()
                    .unwrap_or(Value::Null);
                let role_id = role["id"].clone();
                app_role_assignment(
                    g,
                    t,
                    &user,
                    user_name.as_str().unwrap_or(""),
                    "User",
                    &sp_id,
                    &name,
                    &role_id,
                );
            }
            // Every tenant has at least one tenant-wide OAuth2 grant.
            if i == 1 || g.chance(0.3) {
                let grant_id = base64_id(g).replace(['+', '/', '='], "");
                t.insert_initial(
                    Collection::Oauth2PermissionGrants,
                    obj(json!({"id": grant_id, "clientId": sp_id, "consentType": "AllPrincipals", "principalId": null, "resourceId": graph_sp, "scope": "User.Read openid profile"})),
                );
            }
        }
    }
    // Third-party multi-tenant apps (no application object in this tenant).
    while sps.len() < spec.service_principals {
        let sp_id = g.uuid();
        let app_id = g.uuid();
        let owner_org = g.uuid();
        let name = format!("Vendor SaaS {}", sps.len());
        t.insert_initial(
            Collection::ServicePrincipals,
            service_principal(g, &sp_id, &app_id, &name, &owner_org, vec![], &[]),
        );
        sps.push(sp_id);
    }
    sps
}

fn service_principal(
    g: &mut Gen,
    id: &str,
    app_id: &str,
    name: &str,
    owner_org: &str,
    app_roles: Vec<Value>,
    tags: &[&str],
) -> Obj {
    obj(json!({
        "id": id,
        "deletedDateTime": null,
        "accountEnabled": true,
        "addIns": [],
        "alternativeNames": [],
        "appDescription": null,
        "appDisplayName": name,
        "appId": app_id,
        "applicationTemplateId": null,
        "appOwnerOrganizationId": owner_org,
        "appRoleAssignmentRequired": g.chance(0.2),
        "appRoles": app_roles,
        "description": null,
        "disabledByMicrosoftStatus": null,
        "displayName": name,
        "homepage": null,
        "info": {"logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null, "supportUrl": null, "termsOfServiceUrl": null},
        "keyCredentials": [],
        "loginUrl": null,
        "logoutUrl": null,
        "notes": null,
        "notificationEmailAddresses": [],
        "oauth2PermissionScopes": [],
        "passwordCredentials": [],
        "preferredSingleSignOnMode": null,
        "preferredTokenSigningKeyThumbprint": null,
        "replyUrls": [],
        "resourceSpecificApplicationPermissions": [],
        "samlSingleSignOnSettings": null,
        "servicePrincipalNames": [app_id],
        "servicePrincipalType": "Application",
        "signInAudience": "AzureADMyOrg",
        "tags": tags,
        "tokenEncryptionKeyId": null,
        "verifiedPublisher": {"displayName": null, "verifiedPublisherId": null, "addedDateTime": null},
    }))
}

#[allow(clippy::too_many_arguments)]
fn app_role_assignment(
    g: &mut Gen,
    t: &mut Tenant,
    principal: &str,
    principal_name: &str,
    principal_type: &str,
    resource: &str,
    resource_name: &str,
    role: &Value,
) {
    let id = base64_id(g).replace(['+', '/', '='], "");
    let created = g.past(500);
    t.insert_initial(
        Collection::AppRoleAssignments,
        obj(json!({
            "id": id,
            "deletedDateTime": null,
            "appRoleId": role,
            "createdDateTime": created,
            "principalDisplayName": principal_name,
            "principalId": principal,
            "principalType": principal_type,
            "resourceDisplayName": resource_name,
            "resourceId": resource,
        })),
    );
}

fn administrative_units(
    g: &mut Gen,
    t: &mut Tenant,
    spec: &TenantSpec,
    users: &[String],
    groups: &[String],
) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..spec.administrative_units {
        let id = g.uuid();
        let (city, _, _) = *g.pick(CITIES);
        t.insert_initial(
            Collection::AdministrativeUnits,
            obj(json!({
                "id": id,
                "deletedDateTime": null,
                "description": format!("Users in {city}"),
                "displayName": format!("{city} office {i}"),
                "isMemberManagementRestricted": null,
                "membershipRule": null,
                "membershipRuleProcessingState": null,
                "membershipType": null,
                "visibility": if g.chance(0.1) { json!("HiddenMembership") } else { Value::Null },
            })),
        );
        for _ in 0..(users.len() / spec.administrative_units.max(1)).min(200) {
            let u = g.pick(users).clone();
            t.add_link_initial(LinkKind::AdministrativeUnitMember, &id, &u);
        }
        if let Some(group) = groups.choose(&mut g.rng) {
            t.add_link_initial(LinkKind::AdministrativeUnitMember, &id, group);
        }
        ids.push(id);
    }
    ids
}

fn roles(
    g: &mut Gen,
    t: &mut Tenant,
    spec: &TenantSpec,
    users: &[String],
    groups: &[String],
    sps: &[String],
    aus: &[String],
) {
    for (template, name) in BUILT_IN_ROLES {
        t.insert_initial(
            Collection::DirectoryRoleTemplates,
            obj(json!({"id": template, "deletedDateTime": null, "description": format!("Can manage {name} tasks."), "displayName": name})),
        );
        t.insert_initial(
            Collection::RoleDefinitions,
            obj(json!({
                "id": template, "description": format!("Can manage {name} tasks."), "displayName": name,
                "isBuiltIn": true, "isEnabled": true, "resourceScopes": ["/"], "templateId": template,
                "version": "1", "inheritsPermissionsFrom": [],
                "rolePermissions": [{"allowedResourceActions": ["microsoft.directory/users/standard/read"], "condition": null}],
            })),
        );
    }
    let mut definitions: Vec<String> = BUILT_IN_ROLES
        .iter()
        .map(|(id, _)| (*id).to_owned())
        .collect();
    for i in 0..spec.custom_roles {
        let id = g.uuid();
        t.insert_initial(
            Collection::RoleDefinitions,
            obj(json!({
                "id": id, "description": format!("Custom helpdesk role {i}"), "displayName": format!("Custom role {i}"),
                "isBuiltIn": false, "isEnabled": true, "resourceScopes": ["/"], "templateId": id, "version": null,
                "inheritsPermissionsFrom": [],
                "rolePermissions": [{"allowedResourceActions": ["microsoft.directory/users/basic/update", "microsoft.directory/groups/members/update"], "condition": null}],
            })),
        );
        definitions.push(id);
    }
    let assignable: Vec<String> = groups
        .iter()
        .filter(|gid| {
            t.get(Collection::Groups, gid)
                .is_some_and(|o| o.get("isAssignableToRole") == Some(&Value::Bool(true)))
        })
        .cloned()
        .collect();
    let mut activated: std::collections::BTreeMap<String, String> =
        std::collections::BTreeMap::new();
    let mut seen = BTreeSet::new();
    for i in 0..spec.role_assignments {
        let principal = match g.rng.random_range(0..20) {
            0 if !assignable.is_empty() => g.pick(&assignable).clone(),
            1 if !sps.is_empty() => g.pick(sps).clone(),
            _ if !users.is_empty() => g.pick(users).clone(),
            _ => continue,
        };
        // The first assignment makes the first user a Global Administrator.
        let definition = if i == 0 {
            definitions[0].clone()
        } else {
            g.pick(&definitions).clone()
        };
        // The second assignment is always scoped to an administrative unit.
        let scope = if !aus.is_empty() && (i == 1 || g.chance(0.1)) {
            format!("/administrativeUnits/{}", g.pick(aus))
        } else {
            "/".to_owned()
        };
        if !seen.insert((principal.clone(), definition.clone(), scope.clone())) {
            continue;
        }
        let id = base64_id(g).replace(['+', '/', '='], "");
        t.insert_initial(
            Collection::RoleAssignments,
            obj(json!({"id": id, "principalId": principal, "roleDefinitionId": definition, "directoryScopeId": scope, "appScopeId": null, "condition": null})),
        );
        let built_in = BUILT_IN_ROLES.iter().find(|(tid, _)| *tid == definition);
        if let (Some((template, name)), "/") = (built_in, scope.as_str()) {
            let role_id = activated.entry((*template).to_owned()).or_insert_with(|| {
                let id = uuid::Builder::from_random_bytes(g.rng.random()).into_uuid().to_string();
                t.insert_initial(
                    Collection::DirectoryRoles,
                    obj(json!({"id": id, "deletedDateTime": null, "description": format!("Can manage {name} tasks."), "displayName": name, "roleTemplateId": template})),
                );
                id
            });
            let role_id = role_id.clone();
            t.add_link_initial(LinkKind::DirectoryRoleMember, &role_id, &principal);
        }
    }
    for _ in 0..(spec.role_assignments / 5).max(1) {
        if users.is_empty() {
            break;
        }
        let principal = g.pick(users).clone();
        let definition = g.pick(&definitions).clone();
        let id = g.uuid();
        let created = g.past(300);
        t.insert_initial(
            Collection::RoleEligibilitySchedules,
            obj(json!({
                "id": id, "principalId": principal, "roleDefinitionId": definition, "directoryScopeId": "/",
                "appScopeId": null, "createdUsing": id, "createdDateTime": created, "modifiedDateTime": null,
                "status": "Provisioned", "memberType": "Direct",
                "scheduleInfo": {"startDateTime": created, "recurrence": null, "expiration": {"type": "noExpiration", "endDateTime": null, "duration": null}},
            })),
        );
    }
}

fn conditional_access(
    g: &mut Gen,
    t: &mut Tenant,
    spec: &TenantSpec,
    users: &[String],
    groups: &[String],
) {
    let mut locations = Vec::new();
    for i in 0..spec.named_locations {
        let id = g.uuid();
        let created = g.past(700);
        let location = if i % 2 == 0 {
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "id": id, "displayName": format!("Office network {i}"),
                   "createdDateTime": created, "modifiedDateTime": created, "isTrusted": true,
                   "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": format!("203.0.{}.0/24", i % 250)}]})
        } else {
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "id": id, "displayName": format!("Blocked countries {i}"),
                   "createdDateTime": created, "modifiedDateTime": created, "countriesAndRegions": ["KP", "IR"],
                   "includeUnknownCountriesAndRegions": false, "countryLookupMethod": "clientIpAddress"})
        };
        t.insert_initial(Collection::NamedLocations, obj(location));
        locations.push(id);
    }
    for i in 0..spec.ca_policies {
        let id = g.uuid();
        let created = g.past(700);
        let include_groups: Vec<String> = groups.choose_multiple(&mut g.rng, 2).cloned().collect();
        let exclude_users: Vec<String> = users.choose_multiple(&mut g.rng, 1).cloned().collect();
        let exclude_locations: Vec<String> =
            locations.choose_multiple(&mut g.rng, 1).cloned().collect();
        t.insert_initial(
            Collection::ConditionalAccessPolicies,
            obj(json!({
                "id": id,
                "templateId": null,
                "displayName": format!("CA{i:03} Require MFA"),
                "createdDateTime": created,
                "modifiedDateTime": if g.chance(0.5) { json!(g.past(100)) } else { Value::Null },
                "state": *g.pick(&["enabled", "disabled", "enabledForReportingButNotEnforced"]),
                "sessionControls": null,
                "conditions": {
                    "userRiskLevels": [], "signInRiskLevels": [], "clientAppTypes": ["all"],
                    "servicePrincipalRiskLevels": [], "platforms": null, "devices": null, "clientApplications": null,
                    "locations": {"includeLocations": ["All"], "excludeLocations": exclude_locations},
                    "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": [], "includeAuthenticationContextClassReferences": [], "applicationFilter": null},
                    "users": {"includeUsers": if i == 0 { json!(["All"]) } else { json!([]) }, "excludeUsers": exclude_users,
                              "includeGroups": include_groups, "excludeGroups": [], "includeRoles": [], "excludeRoles": [BUILT_IN_ROLES[0].0],
                              "includeGuestsOrExternalUsers": null, "excludeGuestsOrExternalUsers": null}
                },
                "grantControls": {"operator": "OR", "builtInControls": ["mfa"], "customAuthenticationFactors": [], "termsOfUse": [], "authenticationStrength": null},
            })),
        );
    }
}

fn auth_methods(g: &mut Gen, t: &mut Tenant, users: &[String]) {
    for u in users {
        let mut methods = std::collections::BTreeMap::new();
        let created = g.past(400);
        methods.insert(method_ids::PASSWORD.to_owned(), obj(json!({"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": method_ids::PASSWORD, "password": null, "createdDateTime": created})));
        if g.chance(0.6) {
            methods.insert(method_ids::MOBILE.to_owned(), obj(json!({"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "id": method_ids::MOBILE, "phoneNumber": format!("+1 206{:07}", g.rng.random_range(0..10_000_000)), "phoneType": "mobile", "smsSignInState": "notAllowedByPolicy"})));
        }
        if g.chance(0.3) {
            methods.insert(method_ids::EMAIL.to_owned(), obj(json!({"@odata.type": "#microsoft.graph.emailAuthenticationMethod", "id": method_ids::EMAIL, "emailAddress": format!("personal{}@example.net", g.rng.random_range(0..1_000_000))})));
        }
        if g.chance(0.5) {
            let id = g.uuid();
            methods.insert(id.clone(), obj(json!({"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod", "id": id, "displayName": "iPhone 15", "deviceTag": "SoftwareTokenActivated", "phoneAppVersion": "6.8.14", "createdDateTime": created})));
        }
        if g.chance(0.1) {
            let id = g.uuid();
            methods.insert(id.clone(), obj(json!({"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": id, "displayName": "YubiKey 5", "aaGuid": "cb69481e-8ff7-4039-93ec-0a2729a154a8", "model": "YubiKey 5 NFC", "attestationCertificates": [], "attestationLevel": "attested", "createdDateTime": created})));
        }
        if g.chance(0.05) {
            let id = g.uuid();
            methods.insert(id.clone(), obj(json!({"@odata.type": "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod", "id": id, "displayName": "DESKTOP-HELLO", "createdDateTime": created, "keyStrength": "normal"})));
        }
        if g.chance(0.03) {
            let id = g.uuid();
            methods.insert(id.clone(), obj(json!({"@odata.type": "#microsoft.graph.softwareOathAuthenticationMethod", "id": id, "secretKey": null})));
        }
        t.auth_methods.insert(u.clone(), methods);
    }
}

fn logs(g: &mut Gen, t: &mut Tenant, spec: &TenantSpec, users: &[String]) {
    if users.is_empty() {
        return;
    }
    for _ in 0..spec.sign_ins {
        let user = g.pick(users).clone();
        let (name, upn) = t
            .get(Collection::Users, &user)
            .map(|u| {
                (
                    u.get("displayName").cloned().unwrap_or(Value::Null),
                    u.get("userPrincipalName").cloned().unwrap_or(Value::Null),
                )
            })
            .unwrap_or((Value::Null, Value::Null));
        let (city, state, country) = *g.pick(CITIES);
        let failed = g.chance(0.1);
        let id = g.uuid();
        t.insert_initial(
            Collection::SignIns,
            obj(json!({
                "id": id,
                "createdDateTime": g.past(7),
                "userDisplayName": name,
                "userPrincipalName": upn,
                "userId": user,
                "appId": "de8bc8b5-d9f9-48b1-a8ad-b748da725064",
                "appDisplayName": "Graph Explorer",
                "ipAddress": format!("198.51.100.{}", g.rng.random_range(1..255)),
                "clientAppUsed": "Browser",
                "correlationId": g.uuid(),
                "conditionalAccessStatus": if failed { "failure" } else { "success" },
                "isInteractive": true,
                "riskDetail": "none",
                "riskLevelAggregated": "none",
                "riskLevelDuringSignIn": "none",
                "riskState": "none",
                "riskEventTypes_v2": [],
                "resourceDisplayName": "Microsoft Graph",
                "resourceId": GRAPH_APP_ID,
                "status": {"errorCode": if failed { 50126 } else { 0 }, "failureReason": if failed { json!("Invalid username or password.") } else { json!("Other.") }, "additionalDetails": null},
                "deviceDetail": {"deviceId": "", "displayName": null, "operatingSystem": "Windows 10", "browser": "Edge 131.0.0", "isCompliant": null, "isManaged": null, "trustType": null},
                "location": {"city": city, "state": state, "countryOrRegion": country, "geoCoordinates": {"altitude": null, "latitude": 47.6, "longitude": -122.1}},
                "appliedConditionalAccessPolicies": [],
            })),
        );
    }
    for _ in 0..spec.directory_audits {
        let target = g.pick(users).clone();
        let actor = users[0].clone();
        let (activity, operation) = *g.pick(&[
            ("Update user", "Update"),
            ("Add member to group", "Assign"),
            ("Add user", "Add"),
            ("Reset password (by admin)", "Reset"),
        ]);
        let id = format!("Directory_{}", g.uuid());
        t.insert_initial(
            Collection::DirectoryAudits,
            obj(json!({
                "id": id,
                "category": "UserManagement",
                "correlationId": g.uuid(),
                "result": "success",
                "resultReason": "",
                "activityDisplayName": activity,
                "activityDateTime": g.past(7),
                "loggedByService": "Core Directory",
                "operationType": operation,
                "initiatedBy": {"app": null, "user": {"id": actor, "displayName": null, "userPrincipalName": null, "ipAddress": null, "userType": null}},
                "targetResources": [{"id": target, "displayName": null, "type": "User", "userPrincipalName": null, "groupType": null, "modifiedProperties": []}],
                "additionalDetails": [],
            })),
        );
    }
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
