//! The client's property tables for the types whose property sets change what Graph returns
//! or accepts: restore reads and the fallback `$select` when a tenant's `$metadata` cannot
//! be read. The emulator does not read them (its facts come from Microsoft's CSDL); a test
//! (engine `tests/client_tables.rs`) checks that every name here is one Microsoft declares.
//!
//! Sources: Microsoft Graph v1.0 `resources/user.md`, `resources/group.md`,
//! `resources/application.md`, `resources/serviceprincipal.md`, `resources/device.md`,
//! `resources/administrativeunit.md`, and `api/user-list.md` ("Certain properties cannot be
//! returned within a user collection…"). Kinds without a table here accept any `$select`
//! name and return every stored property.

use crate::ObjectKind;

/// What the client knows about one type's properties.
#[derive(Debug)]
pub struct TypeSchema {
    /// Every declared property.
    pub properties: &'static [&'static str],
    /// Returned by a list or get without `$select`; `None` = every property except the
    /// single-object-only ones.
    pub default_select: Option<&'static [&'static str]>,
    /// Only returned when reading one object (`GET /users/{id}?$select=…`); selecting them on
    /// a list gives 501 `NotImplemented` (seen in microsoft-graph-docs issue #7555).
    pub single_only: &'static [&'static str],
    /// Refused on create and update.
    pub read_only: &'static [&'static str],
    /// Required on create.
    pub required_on_create: &'static [&'static str],
    /// Settable on create only.
    pub create_only: &'static [&'static str],
    /// Owned by on-premises AD when `onPremisesSyncEnabled` is true: updates are refused.
    pub on_premises_owned: &'static [&'static str],
    /// Declared, but never returned by a read (only usable in `$filter`).
    pub never_returned: &'static [&'static str],
}

const USER_PROPERTIES: &[&str] = &[
    "aboutMe",
    "accountEnabled",
    "ageGroup",
    "assignedLicenses",
    "assignedPlans",
    "authorizationInfo",
    "birthday",
    "businessPhones",
    "city",
    "companyName",
    "consentProvidedForMinor",
    "country",
    "createdDateTime",
    "creationType",
    "customSecurityAttributes",
    "deletedDateTime",
    "department",
    "displayName",
    "employeeHireDate",
    "employeeId",
    "employeeLeaveDateTime",
    "employeeOrgData",
    "employeeType",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "faxNumber",
    "givenName",
    "hireDate",
    "id",
    "identities",
    "imAddresses",
    "interests",
    "isResourceAccount",
    "jobTitle",
    "lastPasswordChangeDateTime",
    "legalAgeGroupClassification",
    "licenseAssignmentStates",
    "mail",
    "mailboxSettings",
    "mailNickname",
    "mobilePhone",
    "mySite",
    "officeLocation",
    "onPremisesDistinguishedName",
    "onPremisesDomainName",
    "onPremisesExtensionAttributes",
    "onPremisesImmutableId",
    "onPremisesLastSyncDateTime",
    "onPremisesProvisioningErrors",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "onPremisesUserPrincipalName",
    "otherMails",
    "passwordPolicies",
    "passwordProfile",
    "pastProjects",
    "postalCode",
    "preferredDataLocation",
    "preferredLanguage",
    "preferredName",
    "provisionedPlans",
    "proxyAddresses",
    "responsibilities",
    "schools",
    "securityIdentifier",
    "serviceProvisioningErrors",
    "showInAddressList",
    "signInActivity",
    "signInSessionsValidFromDateTime",
    "skills",
    "state",
    "streetAddress",
    "surname",
    "usageLocation",
    "userPrincipalName",
    "userType",
];

// Graph: user-list.md, "By default, only a limited set of properties are returned".
const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

const USER_SINGLE_ONLY: &[&str] = &[
    "aboutMe",
    "birthday",
    "hireDate",
    "interests",
    "mySite",
    "pastProjects",
    "preferredName",
    "responsibilities",
    "schools",
    "skills",
    "mailboxSettings",
];

const USER_READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "creationType",
    "assignedLicenses",
    "assignedPlans",
    "provisionedPlans",
    "licenseAssignmentStates",
    "proxyAddresses",
    "imAddresses",
    "legalAgeGroupClassification",
    "deletedDateTime",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "lastPasswordChangeDateTime",
    "securityIdentifier",
    "signInActivity",
    "signInSessionsValidFromDateTime",
    "serviceProvisioningErrors",
    "onPremisesDistinguishedName",
    "onPremisesDomainName",
    "onPremisesLastSyncDateTime",
    "onPremisesProvisioningErrors",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "onPremisesUserPrincipalName",
];

const USER_ON_PREM_OWNED: &[&str] = &[
    "displayName",
    "givenName",
    "surname",
    "userPrincipalName",
    "mailNickname",
    "mail",
    "jobTitle",
    "department",
    "companyName",
    "city",
    "country",
    "state",
    "streetAddress",
    "postalCode",
    "officeLocation",
    "businessPhones",
    "mobilePhone",
    "faxNumber",
    "employeeId",
    "employeeType",
    "employeeHireDate",
    "employeeOrgData",
    "otherMails",
    "onPremisesExtensionAttributes",
    "onPremisesImmutableId",
];

const GROUP_PROPERTIES: &[&str] = &[
    "allowExternalSenders",
    "assignedLabels",
    "assignedLicenses",
    "autoSubscribeNewMembers",
    "classification",
    "createdDateTime",
    "deletedDateTime",
    "description",
    "displayName",
    "expirationDateTime",
    "groupTypes",
    "hasMembersWithLicenseErrors",
    "hideFromAddressLists",
    "hideFromOutlookClients",
    "id",
    "isAssignableToRole",
    "isSubscribedByMail",
    "licenseProcessingState",
    "mail",
    "mailEnabled",
    "mailNickname",
    "membershipRule",
    "membershipRuleProcessingState",
    "onPremisesDomainName",
    "onPremisesLastSyncDateTime",
    "onPremisesNetBiosName",
    "onPremisesProvisioningErrors",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "preferredDataLocation",
    "preferredLanguage",
    "proxyAddresses",
    "renewedDateTime",
    "securityEnabled",
    "securityIdentifier",
    "serviceProvisioningErrors",
    "theme",
    "uniqueName",
    "unseenCount",
    "visibility",
];

// Graph: group.md — Exchange-backed properties, returned only on a single-group GET.
const GROUP_SINGLE_ONLY: &[&str] = &[
    "allowExternalSenders",
    "autoSubscribeNewMembers",
    "hideFromAddressLists",
    "hideFromOutlookClients",
    "isSubscribedByMail",
    "unseenCount",
];

const GROUP_READ_ONLY: &[&str] = &[
    "id",
    "mail",
    "proxyAddresses",
    "createdDateTime",
    "renewedDateTime",
    "deletedDateTime",
    "expirationDateTime",
    "securityIdentifier",
    "hasMembersWithLicenseErrors",
    "licenseProcessingState",
    "assignedLicenses",
    "serviceProvisioningErrors",
    "onPremisesDomainName",
    "onPremisesLastSyncDateTime",
    "onPremisesNetBiosName",
    "onPremisesProvisioningErrors",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
];

const APPLICATION_PROPERTIES: &[&str] = &[
    "addIns",
    "api",
    "appId",
    "appRoles",
    "applicationTemplateId",
    "certification",
    "createdDateTime",
    "defaultRedirectUri",
    "deletedDateTime",
    "description",
    "disabledByMicrosoftStatus",
    "displayName",
    "groupMembershipClaims",
    "id",
    "identifierUris",
    "info",
    "isDeviceOnlyAuthSupported",
    "isFallbackPublicClient",
    "keyCredentials",
    "logo",
    "nativeAuthenticationApisEnabled",
    "notes",
    "oauth2RequirePostResponse",
    "optionalClaims",
    "parentalControlSettings",
    "passwordCredentials",
    "publicClient",
    "publisherDomain",
    "requestSignatureVerification",
    "requiredResourceAccess",
    "samlMetadataUrl",
    "serviceManagementReference",
    "servicePrincipalLockConfiguration",
    "signInAudience",
    "spa",
    "tags",
    "tokenEncryptionKeyId",
    "uniqueName",
    "verifiedPublisher",
    "web",
];

const APPLICATION_READ_ONLY: &[&str] = &[
    "id",
    "appId",
    "createdDateTime",
    "publisherDomain",
    "deletedDateTime",
    // Graph: application-update.md — passwordCredentials cannot be PATCHed; use addPassword.
    "passwordCredentials",
];

const SERVICE_PRINCIPAL_PROPERTIES: &[&str] = &[
    "accountEnabled",
    "addIns",
    "alternativeNames",
    "appDescription",
    "appDisplayName",
    "appId",
    "applicationTemplateId",
    "appOwnerOrganizationId",
    "appRoleAssignmentRequired",
    "appRoles",
    "deletedDateTime",
    "description",
    "disabledByMicrosoftStatus",
    "displayName",
    "homepage",
    "id",
    "info",
    "keyCredentials",
    "loginUrl",
    "logoutUrl",
    "notes",
    "notificationEmailAddresses",
    "oauth2PermissionScopes",
    "passwordCredentials",
    "preferredSingleSignOnMode",
    "preferredTokenSigningKeyThumbprint",
    "replyUrls",
    "resourceSpecificApplicationPermissions",
    "samlSingleSignOnSettings",
    "servicePrincipalNames",
    "servicePrincipalType",
    "signInAudience",
    "tags",
    "tokenEncryptionKeyId",
    "verifiedPublisher",
];

const SERVICE_PRINCIPAL_READ_ONLY: &[&str] = &[
    "id",
    "appDisplayName",
    "appOwnerOrganizationId",
    "deletedDateTime",
    "passwordCredentials",
];

const DEVICE_PROPERTIES: &[&str] = &[
    "accountEnabled",
    "alternativeSecurityIds",
    "approximateLastSignInDateTime",
    "complianceExpirationDateTime",
    "deletedDateTime",
    "deviceCategory",
    "deviceId",
    "deviceMetadata",
    "deviceOwnership",
    "deviceVersion",
    "displayName",
    "enrollmentProfileName",
    "enrollmentType",
    "extensionAttributes",
    "id",
    "isCompliant",
    "isManaged",
    "isManagementRestricted",
    "isRooted",
    "managementType",
    "manufacturer",
    "mdmAppId",
    "model",
    "onPremisesLastSyncDateTime",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "operatingSystem",
    "operatingSystemVersion",
    "physicalIds",
    "profileType",
    "registrationDateTime",
    "systemLabels",
    "trustType",
];

// Graph: device-update.md — the properties an app can PATCH.
const DEVICE_WRITABLE: &[&str] = &[
    "accountEnabled",
    "displayName",
    "operatingSystem",
    "operatingSystemVersion",
    "extensionAttributes",
];

const AU_PROPERTIES: &[&str] = &[
    "deletedDateTime",
    "description",
    "displayName",
    "id",
    "isMemberManagementRestricted",
    "membershipRule",
    "membershipRuleProcessingState",
    "membershipType",
    "visibility",
];

static USER: TypeSchema = TypeSchema {
    properties: USER_PROPERTIES,
    default_select: Some(USER_DEFAULT),
    single_only: USER_SINGLE_ONLY,
    read_only: USER_READ_ONLY,
    required_on_create: &[
        "accountEnabled",
        "displayName",
        "mailNickname",
        "passwordProfile",
        "userPrincipalName",
    ],
    create_only: &[],
    on_premises_owned: USER_ON_PREM_OWNED,
    never_returned: &[],
};

static GROUP: TypeSchema = TypeSchema {
    properties: GROUP_PROPERTIES,
    default_select: None,
    single_only: GROUP_SINGLE_ONLY,
    read_only: GROUP_READ_ONLY,
    required_on_create: &[
        "displayName",
        "mailEnabled",
        "mailNickname",
        "securityEnabled",
    ],
    // Graph: group.md — isAssignableToRole and visibility=Hiddenmembership only at creation.
    create_only: &["isAssignableToRole"],
    on_premises_owned: &[
        "displayName",
        "description",
        "mailNickname",
        "securityEnabled",
        "mailEnabled",
    ],
    // Graph: group.md — hasMembersWithLicenseErrors "is never returned on a GET operation";
    // group-get.md — hasMembersWithLicenseErrors and isArchived "aren't returned in the
    // $select query".
    never_returned: &["hasMembersWithLicenseErrors", "isArchived"],
};

static APPLICATION: TypeSchema = TypeSchema {
    properties: APPLICATION_PROPERTIES,
    default_select: None,
    single_only: &[],
    read_only: APPLICATION_READ_ONLY,
    required_on_create: &["displayName"],
    create_only: &[],
    on_premises_owned: &[],
    never_returned: &[],
};

static SERVICE_PRINCIPAL: TypeSchema = TypeSchema {
    properties: SERVICE_PRINCIPAL_PROPERTIES,
    default_select: None,
    single_only: &[],
    read_only: SERVICE_PRINCIPAL_READ_ONLY,
    required_on_create: &["appId"],
    create_only: &["appId"],
    on_premises_owned: &[],
    never_returned: &[],
};

static DEVICE: TypeSchema = TypeSchema {
    properties: DEVICE_PROPERTIES,
    default_select: None,
    single_only: &[],
    read_only: &["id", "createdDateTime", "deletedDateTime", "deviceId"],
    required_on_create: &[],
    create_only: &[],
    on_premises_owned: &[],
    never_returned: &[],
};

static ADMINISTRATIVE_UNIT: TypeSchema = TypeSchema {
    properties: AU_PROPERTIES,
    default_select: None,
    single_only: &[],
    read_only: &["id", "deletedDateTime"],
    required_on_create: &["displayName"],
    create_only: &[],
    on_premises_owned: &[],
    never_returned: &[],
};

/// The client's table for `kind`, where it has one.
pub fn schema(kind: ObjectKind) -> Option<&'static TypeSchema> {
    match kind {
        ObjectKind::Users => Some(&USER),
        ObjectKind::Groups => Some(&GROUP),
        ObjectKind::Applications => Some(&APPLICATION),
        ObjectKind::ServicePrincipals => Some(&SERVICE_PRINCIPAL),
        ObjectKind::Devices => Some(&DEVICE),
        ObjectKind::AdministrativeUnits => Some(&ADMINISTRATIVE_UNIT),
        _ => None,
    }
}

/// Properties an app can PATCH on a device.
pub fn device_writable() -> &'static [&'static str] {
    DEVICE_WRITABLE
}

impl TypeSchema {
    /// Whether `name` is a declared property.
    pub fn has(&self, name: &str) -> bool {
        self.properties.contains(&name)
    }

    /// The properties a collection or delta query can `$select`: everything but the
    /// single-object-only ones and `signInActivity` (which needs its own permission and a
    /// smaller page).
    pub fn list_select(&self) -> Vec<&'static str> {
        self.properties
            .iter()
            .copied()
            .filter(|p| self.listable(p))
            .collect()
    }

    /// Of `declared` (the service's own property names for the type, from its `$metadata`),
    /// those a collection or delta query can `$select`, in their order.
    pub fn list_select_from(&self, declared: Vec<String>) -> Vec<String> {
        declared.into_iter().filter(|p| self.listable(p)).collect()
    }

    fn listable(&self, name: &str) -> bool {
        !self.single_only.contains(&name)
            && !self.never_returned.contains(&name)
            && name != "signInActivity"
    }
}
