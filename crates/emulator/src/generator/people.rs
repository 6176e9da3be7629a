//! The organisation and its domains, users (members, guests, synced), groups, devices,
//! memberships, managers and authentication methods.

use super::*;

pub(super) fn organization_and_domains(g: &mut Gen, t: &mut Tenant, spec: &TenantSpec) {
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

pub(super) fn users(
    g: &mut Gen,
    t: &mut Tenant,
    spec: &TenantSpec,
    domain: &str,
    ext: &str,
) -> Vec<String> {
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

pub(super) fn groups(
    g: &mut Gen,
    t: &mut Tenant,
    spec: &TenantSpec,
    domain: &str,
    ext: &str,
) -> Vec<String> {
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

pub(super) fn devices(
    g: &mut Gen,
    t: &mut Tenant,
    spec: &TenantSpec,
    users: &[String],
) -> Vec<String> {
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

pub(super) fn memberships(
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

pub(super) fn managers(g: &mut Gen, t: &mut Tenant, users: &[String]) {
    for (i, u) in users.iter().enumerate().skip(1) {
        if g.chance(0.7) {
            // Managers come earlier in the list: no cycles.
            let m = users[g.rng.random_range(0..i)].clone();
            t.add_link_initial(LinkKind::UserManager, u, &m);
        }
    }
}

pub(super) fn auth_methods(g: &mut Gen, t: &mut Tenant, users: &[String]) {
    for u in users {
        let mut methods = Vec::new();
        let created = g.past(400);
        methods.push((method_ids::PASSWORD.to_owned(), obj(json!({"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": method_ids::PASSWORD, "password": null, "createdDateTime": created}))));
        if g.chance(0.6) {
            methods.push((method_ids::MOBILE.to_owned(), obj(json!({"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "id": method_ids::MOBILE, "phoneNumber": format!("+1 206{:07}", g.rng.random_range(0..10_000_000)), "phoneType": "mobile", "smsSignInState": "notAllowedByPolicy"}))));
        }
        if g.chance(0.3) {
            methods.push((method_ids::EMAIL.to_owned(), obj(json!({"@odata.type": "#microsoft.graph.emailAuthenticationMethod", "id": method_ids::EMAIL, "emailAddress": format!("personal{}@example.net", g.rng.random_range(0..1_000_000))}))));
        }
        if g.chance(0.5) {
            let id = g.uuid();
            methods.push((id.clone(), obj(json!({"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod", "id": id, "displayName": "iPhone 15", "deviceTag": "SoftwareTokenActivated", "phoneAppVersion": "6.8.14", "createdDateTime": created}))));
        }
        if g.chance(0.1) {
            let id = g.uuid();
            methods.push((id.clone(), obj(json!({"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": id, "displayName": "YubiKey 5", "aaGuid": "cb69481e-8ff7-4039-93ec-0a2729a154a8", "model": "YubiKey 5 NFC", "attestationCertificates": [], "attestationLevel": "attested", "createdDateTime": created}))));
        }
        if g.chance(0.05) {
            let id = g.uuid();
            methods.push((id.clone(), obj(json!({"@odata.type": "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod", "id": id, "displayName": "DESKTOP-HELLO", "createdDateTime": created, "keyStrength": "normal"}))));
        }
        if g.chance(0.03) {
            let id = g.uuid();
            methods.push((id.clone(), obj(json!({"@odata.type": "#microsoft.graph.softwareOathAuthenticationMethod", "id": id, "secretKey": null}))));
        }
        t.auth_methods
            .insert(u.clone(), methods.into_iter().collect());
    }
}
