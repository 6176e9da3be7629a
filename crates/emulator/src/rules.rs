//! The documented rules about Graph's properties that the metadata does not carry: which
//! properties a list returns by default, which only a single-object read returns, which are
//! read-only, required or create-only on write, and which on-premises AD owns. Each list names
//! the Microsoft Graph v1.0 doc page it comes from (`api-reference/v1.0/...` in
//! microsoft-graph-docs); the property names themselves come from [`crate::metadata`].
//!
//! These are the emulator's own facts: it reads no client-side table.

/// The rules for one entity type.
#[derive(Debug)]
pub(crate) struct TypeRules {
    /// Returned by a list or get without `$select`; `None` = every declared property except
    /// the single-object-only ones.
    pub(crate) default_select: Option<&'static [&'static str]>,
    /// Returned only when one object is read with `$select`; selecting them on a list gives
    /// 501 `NotImplemented` (seen on Graph: microsoft-graph-docs issue #7555).
    pub(crate) single_only: &'static [&'static str],
    /// Refused on create and update.
    pub(crate) read_only: &'static [&'static str],
    /// Required on create.
    pub(crate) required_on_create: &'static [&'static str],
    /// Settable on create only.
    pub(crate) create_only: &'static [&'static str],
    /// Owned by on-premises AD when `onPremisesSyncEnabled` is true: updates are refused.
    pub(crate) on_premises_owned: &'static [&'static str],
    /// When set, the only properties an update may change.
    pub(crate) writable: Option<&'static [&'static str]>,
    /// Declared but never returned, not even with `$select` (usable in `$filter` only).
    pub(crate) never_returned: &'static [&'static str],
    /// Declared but not usable in `$filter` (the property tables say no "Supports $filter").
    pub(crate) not_filterable: &'static [&'static str],
}

const NONE: TypeRules = TypeRules {
    default_select: None,
    single_only: &[],
    read_only: &[],
    required_on_create: &[],
    create_only: &[],
    on_premises_owned: &[],
    writable: None,
    never_returned: &[],
    not_filterable: &[],
};

/// `resources/user.md`, `api/user-list.md` ("By default, only a limited set of properties are
/// returned"; "Certain properties cannot be returned within a user collection"),
/// `api/user-update.md` (read-only and on-premises-mastered properties), `api/user-post-users.md`
/// (required properties).
static USER: TypeRules = TypeRules {
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
    writable: None,
    never_returned: &[],
    // user.md: the single-object-only properties and passwordProfile have no "Supports
    // $filter".
    not_filterable: USER_NOT_FILTERABLE,
};

/// `resources/group.md` (Exchange-backed properties returned only on a single-group GET),
/// `api/group-post-groups.md` (required; `isAssignableToRole` only at creation),
/// `api/group-update.md`.
static GROUP: TypeRules = TypeRules {
    default_select: None,
    single_only: GROUP_SINGLE_ONLY,
    read_only: GROUP_READ_ONLY,
    required_on_create: &[
        "displayName",
        "mailEnabled",
        "mailNickname",
        "securityEnabled",
    ],
    create_only: &["isAssignableToRole"],
    on_premises_owned: &[
        "displayName",
        "description",
        "mailNickname",
        "securityEnabled",
        "mailEnabled",
    ],
    writable: None,
    // group.md: hasMembersWithLicenseErrors "is never returned on a GET operation";
    // group-get.md: it and isArchived "aren't returned in the $select query".
    never_returned: &["hasMembersWithLicenseErrors", "isArchived"],
    // group.md: the Exchange-backed settings have no "Supports $filter".
    not_filterable: GROUP_SINGLE_ONLY,
};

/// `resources/application.md`, `api/application-update.md` (`passwordCredentials` cannot be
/// PATCHed: `addPassword`), `api/application-post-applications.md`.
static APPLICATION: TypeRules = TypeRules {
    read_only: APPLICATION_READ_ONLY,
    required_on_create: &["displayName"],
    ..NONE
};

/// `resources/serviceprincipal.md`, `api/serviceprincipal-post-serviceprincipals.md` (`appId`
/// required, and only at creation).
static SERVICE_PRINCIPAL: TypeRules = TypeRules {
    read_only: SERVICE_PRINCIPAL_READ_ONLY,
    required_on_create: &["appId"],
    create_only: &["appId"],
    ..NONE
};

/// `api/device-update.md`: the properties an app can PATCH.
static DEVICE: TypeRules = TypeRules {
    read_only: &["id", "createdDateTime", "deletedDateTime", "deviceId"],
    writable: Some(DEVICE_WRITABLE),
    ..NONE
};

/// `resources/administrativeunit.md`, `api/directory-post-administrativeunits.md`.
static ADMINISTRATIVE_UNIT: TypeRules = TypeRules {
    read_only: &["id", "deletedDateTime"],
    required_on_create: &["displayName"],
    ..NONE
};

/// The rules for an OData type (`microsoft.graph.user`), where Microsoft documents some.
pub(crate) fn rules(odata_type: &str) -> Option<&'static TypeRules> {
    match crate::metadata::Metadata::local_name(odata_type) {
        "user" => Some(&USER),
        "group" => Some(&GROUP),
        "application" => Some(&APPLICATION),
        "servicePrincipal" => Some(&SERVICE_PRINCIPAL),
        "device" => Some(&DEVICE),
        "administrativeUnit" => Some(&ADMINISTRATIVE_UNIT),
        _ => None,
    }
}

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

const APPLICATION_READ_ONLY: &[&str] = &[
    "id",
    "appId",
    "createdDateTime",
    "publisherDomain",
    "deletedDateTime",
    "passwordCredentials",
];

const SERVICE_PRINCIPAL_READ_ONLY: &[&str] = &[
    "id",
    "appDisplayName",
    "appOwnerOrganizationId",
    "deletedDateTime",
    "passwordCredentials",
];

const DEVICE_WRITABLE: &[&str] = &[
    "accountEnabled",
    "displayName",
    "operatingSystem",
    "operatingSystemVersion",
    "extensionAttributes",
];
const USER_NOT_FILTERABLE: &[&str] = &[
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
    "passwordProfile",
];

/// Properties the v1.0 reference pages document on an open type (`OpenType="true"` in the
/// CSDL) that the published metadata does not declare; Graph returns and accepts them, so
/// the emulator's table has them too. `(entity type, property, type)`.
pub(crate) const DOCUMENTED_BEYOND_METADATA: &[(&str, &str, &str)] = &[
    // resources/device.md: extensionAttributes (onPremisesExtensionAttributes), "Returned
    // only on $select"; resources/onpremisesextensionattributes.md names the device's too.
    (
        "microsoft.graph.device",
        "extensionAttributes",
        "graph.onPremisesExtensionAttributes",
    ),
];
