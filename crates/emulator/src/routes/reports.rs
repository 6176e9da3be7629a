//! The authentication-methods registration report:
//! `GET /reports/authenticationMethods/userRegistrationDetails`.
//!
//! Graph documents it at
//! <https://learn.microsoft.com/graph/api/authenticationmethodsroot-list-userregistrationdetails>
//! (permission `AuditLog.Read.All`; only `$filter` and `$orderBy`; "doesn't work for disabled
//! users") and the row at
//! <https://learn.microsoft.com/graph/api/resources/userregistrationdetails> (which properties
//! `$filter` accepts: not `lastUpdatedDateTime`). It is a reports API: 5 requests per 10 s per
//! app and tenant (docs/graph.md §5), charged by [`crate::throttle`]. Its page size is not
//! documented: the emulator answers [`PAGE`] rows a page and a nextLink, which clients follow.

use std::collections::BTreeSet;
use std::ops::Bound;

use axum::response::Response;
use serde_json::{Map, Value, json};

use super::collection;
use super::read::{Reading, Req, next_link_after, page_after};
use crate::error::{GraphError, GraphResult};
use crate::kinds::{Collection, LinkKind};
use crate::odata;
use crate::tenant::{Obj, ObjectMap, Tenant};

/// Rows a page.
pub(crate) const PAGE: usize = 1000;

/// The properties the resource page says `$filter` accepts.
const FILTERABLE: &[&str] = &[
    "isMfaCapable",
    "isMfaRegistered",
    "isPasswordlessCapable",
    "isSsprCapable",
    "isSsprEnabled",
    "isSsprRegistered",
    "isSystemPreferredAuthenticationMethodEnabled",
    "methodsRegistered",
    "systemPreferredAuthenticationMethods",
    "userDisplayName",
    "userPreferredMethodForSecondaryAuthentication",
    "userPrincipalName",
];

/// `GET /reports/authenticationMethods/userRegistrationDetails`
pub(crate) async fn user_registration_details(
    Reading { caller, tenant }: Reading,
    req: Req,
) -> GraphResult<Response> {
    caller.require(&["AuditLog.Read.All"])?;
    let Req { query, path } = req;
    if query.select.is_some() || query.top.is_some() || !query.expand.is_empty() {
        return Err(GraphError::bad_request(
            "userRegistrationDetails supports only the $filter and $orderBy query parameters.",
        ));
    }
    if let Some(filter) = &query.filter
        && let Some(p) = filter
            .properties()
            .into_iter()
            .find(|p| !FILTERABLE.contains(p))
    {
        return Err(GraphError::bad_request(format!(
            "Invalid filter clause: the property '{p}' does not support filtering."
        )));
    }
    let after = page_after(&query)?;
    let t = tenant.read();
    let admins: BTreeSet<String> = admins(&t);
    let empty = ObjectMap::new();
    let users = t.objects(Collection::Users).unwrap_or(&empty);
    let start = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    let range = users.range::<str, _>((start, Bound::Unbounded));
    let mut items = Vec::new();
    let mut last = None;
    let mut more = false;
    // Disabled users are not in the report.
    for (id, user) in range.filter(|(_, u)| u.get("accountEnabled") != Some(&Value::Bool(false))) {
        let row = row(&t, &user, admins.contains(id.as_str()));
        if query.filter.as_ref().is_some_and(|f| !f.matches(&row)) {
            continue;
        }
        if items.len() == PAGE {
            more = true;
            break;
        }
        items.push(Value::Object(row));
        last = Some(id.clone());
    }
    let next = next_link_after(&caller, &path, &query, more, last);
    let context = odata::context(
        &caller.base,
        "reports/authenticationMethods/userRegistrationDetails",
        None,
        false,
    );
    Ok(collection(context, items, next, None))
}

/// Users holding a directory role (members of an activated role, or principals of a role
/// assignment).
fn admins(t: &Tenant) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for a in t
        .objects(Collection::RoleAssignments)
        .into_iter()
        .flat_map(|m| m.values())
    {
        if let Some(Value::String(p)) = a.get("principalId") {
            out.insert(p.clone());
        }
    }
    for role in t
        .objects(Collection::DirectoryRoles)
        .into_iter()
        .flat_map(|m| m.keys())
    {
        for m in t
            .links(LinkKind::DirectoryRoleMember, role)
            .into_iter()
            .flatten()
        {
            out.insert(m.clone());
        }
    }
    out
}

/// One user's row, from the user and its methods.
fn row(t: &Tenant, user: &Obj, is_admin: bool) -> Obj {
    let id = user.get("id").and_then(Value::as_str).unwrap_or_default();
    let mut registered: Vec<&str> = Vec::new();
    for m in t.auth_methods.get(id).into_iter().flat_map(|m| m.values()) {
        let name = match m.get("@odata.type").and_then(Value::as_str).unwrap_or("") {
            "#microsoft.graph.phoneAuthenticationMethod" => {
                match m.get("phoneType").and_then(Value::as_str) {
                    Some("alternateMobile") => "alternateMobilePhone",
                    Some("office") => "officePhone",
                    _ => "mobilePhone",
                }
            }
            "#microsoft.graph.emailAuthenticationMethod" => "email",
            "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod" => {
                "microsoftAuthenticatorPush"
            }
            "#microsoft.graph.fido2AuthenticationMethod" => "fido2SecurityKey",
            "#microsoft.graph.softwareOathAuthenticationMethod" => "softwareOneTimePasscode",
            "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod" => {
                "windowsHelloForBusiness"
            }
            "#microsoft.graph.temporaryAccessPassAuthenticationMethod" => "temporaryAccessPass",
            _ => continue, // the password is not a registered method
        };
        if !registered.contains(&name) {
            registered.push(name);
        }
    }
    registered.sort_unstable();
    let has = |n: &str| registered.contains(&n);
    let mfa = registered.iter().any(|m| *m != "email");
    let sspr = has("mobilePhone") || has("email") || has("microsoftAuthenticatorPush");
    let passwordless = has("fido2SecurityKey") || has("windowsHelloForBusiness");
    let preferred = if has("microsoftAuthenticatorPush") {
        "push"
    } else if has("mobilePhone") {
        "sms"
    } else {
        "none"
    };
    let updated = t
        .methods_updated
        .get(id)
        .map(|when| Value::String(crate::clock::graph_time(*when)))
        .or_else(|| user.get("createdDateTime").cloned())
        .unwrap_or(Value::Null);
    let user_type = match user.get("userType").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case("guest") => "guest",
        _ => "member",
    };
    let value = json!({
        "id": id,
        "userPrincipalName": user.get("userPrincipalName").cloned().unwrap_or(Value::Null),
        "userDisplayName": user.get("displayName").cloned().unwrap_or(Value::Null),
        "isAdmin": is_admin,
        "isSsprRegistered": sspr,
        "isSsprEnabled": false,
        "isSsprCapable": false,
        "isMfaRegistered": mfa,
        "isMfaCapable": mfa,
        "isPasswordlessCapable": passwordless,
        "lastUpdatedDateTime": updated,
        "methodsRegistered": registered,
        "isSystemPreferredAuthenticationMethodEnabled": true,
        "systemPreferredAuthenticationMethods": if preferred == "none" { vec![] } else { vec![preferred] },
        "userPreferredMethodForSecondaryAuthentication": preferred,
        "userType": user_type,
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
