//! How the target tenant is searched for a backed-up object: by id, then by the keys Graph
//! keeps unique (userPrincipalName, mailNickname, appId, displayName…), through `$filter`.

use super::*;

/// Percent-encodes a value for a URL path segment or query value.
pub(crate) fn encode(value: &str) -> String {
    dirvault_graph::path_segment(value)
}

/// `$filter={property} eq '{value}'`, with the value's quotes doubled (OData string literal)
/// and the whole expression percent-encoded.
pub(crate) fn filter(property: &str, value: &str) -> String {
    format!(
        "$filter={}",
        encode(&format!("{property} eq '{}'", value.replace('\'', "''")))
    )
}

/// The tenant-wide collection of a kind.
pub(crate) fn collection(kind: ObjectKind) -> Option<&'static str> {
    match kind.info().collection {
        CollectionPath::Tenant(path) => Some(path),
        CollectionPath::PerParent { .. } | CollectionPath::Singleton(_) => None,
    }
}

/// The path of a settings object (read with GET, rolled back with PATCH on the same path).
pub(crate) fn singleton(kind: ObjectKind) -> Option<&'static str> {
    match kind.info().collection {
        CollectionPath::Singleton(path) => Some(path),
        _ => None,
    }
}

/// `$select` for reading one object (`one`) or a filtered list with every property Graph
/// returns there (a list cannot select the single-object-only ones: user-list.md).
pub(super) fn select(kind: ObjectKind, one: bool) -> String {
    match schema(kind) {
        Some(s) => {
            let names: Vec<&str> = if one {
                s.properties
                    .iter()
                    .copied()
                    .filter(|p| *p != "signInActivity")
                    .collect()
            } else {
                s.list_select()
            };
            format!("?$select={}", names.join(","))
        }
        None => String::new(),
    }
}

/// One place to look for a snapshot object in the target: a GET, how it matches, and the key
/// the answer must have.
pub(crate) struct Lookup {
    pub(super) url: String,
    pub(super) by: MatchedBy,
    pub(super) key: String,
}

/// Where to look for a snapshot object in the target, best match first (docs/graph.md §1; the
/// issue's matching rules: by id; users then by UPN; applications by appId; in another tenant
/// by name, never by source ids).
pub(crate) fn lookups(
    object: &DirectoryObject,
    cross_tenant: bool,
    domain: Option<&str>,
) -> Vec<Lookup> {
    let kind = object.kind();
    if let Some(path) = singleton(kind) {
        // One per tenant, the same path in every tenant: the target's is the one to compare.
        return vec![Lookup {
            url: path.to_owned(),
            by: MatchedBy::Singleton,
            key: kind.name().to_owned(),
        }];
    }
    let Some(path) = collection(kind) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if !cross_tenant {
        // A PIM policy's rules come only expanded (policyroot-list-rolemanagementpolicies.md).
        let expand = if kind == ObjectKind::RoleManagementPolicies {
            "?$expand=rules"
        } else {
            ""
        };
        out.push(Lookup {
            url: format!("{path}/{}{}{expand}", object.id(), select(kind, true)),
            by: MatchedBy::Id,
            key: object.id().to_string(),
        });
    }
    let and_sel = select(kind, false).replacen('?', "&", 1);
    match kind {
        ObjectKind::Users => {
            if let Some(upn) = object.user_principal_name() {
                let upn = match (cross_tenant, domain) {
                    (true, Some(d)) => crate::planner::move_domain(upn, d),
                    _ => upn.to_owned(),
                };
                out.push(Lookup {
                    url: format!("{path}?{}{and_sel}", filter("userPrincipalName", &upn)),
                    by: MatchedBy::UserPrincipalName,
                    key: upn,
                });
            }
        }
        ObjectKind::Applications | ObjectKind::ServicePrincipals => {
            if let Some(app_id) = object.app_id() {
                out.push(Lookup {
                    url: format!("{path}?{}{and_sel}", filter("appId", app_id)),
                    by: MatchedBy::AppId,
                    key: app_id.to_owned(),
                });
            }
            if cross_tenant && let Some(name) = object.display_name() {
                out.push(Lookup {
                    url: format!("{path}?{}{and_sel}", filter("displayName", name)),
                    by: MatchedBy::Name,
                    key: name.to_owned(),
                });
            }
        }
        ObjectKind::RoleDefinitions
            if cross_tenant && object.get("isBuiltIn") == Some(&Value::Bool(true)) =>
        {
            // Built-in role definitions have the same id (their template id) everywhere.
            out.push(Lookup {
                url: format!("{path}/{}", object.id()),
                by: MatchedBy::Id,
                key: object.id().to_string(),
            });
        }
        ObjectKind::RoleDefinitions if object.get("isBuiltIn") == Some(&Value::Bool(true)) => {}
        // Keys the caller names are the same in every tenant: a partner's tenant id, a
        // permission grant policy's id.
        ObjectKind::CrossTenantAccessPolicyPartners | ObjectKind::PermissionGrantPolicies
            if cross_tenant =>
        {
            out.push(Lookup {
                url: format!("{path}/{}", object.id()),
                by: MatchedBy::Id,
                key: object.id().to_string(),
            });
        }
        _ if cross_tenant => {
            if let Some(name) = object.display_name() {
                out.push(Lookup {
                    url: format!("{path}?{}{and_sel}", filter("displayName", name)),
                    by: MatchedBy::Name,
                    key: name.to_owned(),
                });
            }
        }
        _ => {}
    }
    out
}

/// The one object a lookup's answer holds: the body of an object read, or the single item
/// of a filtered collection. `Ok(None)`: no match. An answer that does not settle it (several
/// matches, an object that does not parse, or one whose key is not the one asked for) is an
/// error: the object is then neither changed nor re-created (a duplicate would follow).
pub(crate) fn matched(
    kind: ObjectKind,
    body: &Value,
    by: MatchedBy,
    key: &str,
) -> std::result::Result<Option<DirectoryObject>, String> {
    let value = match body.get("value") {
        Some(Value::Array(items)) => match items.as_slice() {
            [] => return Ok(None),
            [one] => one.clone(),
            several => {
                return Err(format!(
                    "{} objects in the target match {by:?} {key:?}",
                    several.len()
                ));
            }
        },
        Some(_) => return Err("the target's answer is not a collection".into()),
        None => body.clone(),
    };
    let live = DirectoryObject::from_graph(kind, value)
        .map_err(|e| format!("the target's object for {by:?} {key:?} cannot be read: {e}"))?;
    // Graph compares these case-insensitively (ids are GUIDs; UPNs, appIds and names as
    // `$filter` eq on strings does).
    let found = match by {
        MatchedBy::Singleton => Some(kind.name()),
        MatchedBy::Id => Some(live.id().as_str()),
        MatchedBy::UserPrincipalName => live.user_principal_name(),
        MatchedBy::AppId => live.app_id(),
        MatchedBy::Name => live.display_name(),
    };
    if !found.is_some_and(|f| f.eq_ignore_ascii_case(key)) {
        return Err(format!(
            "the target answered {found:?} for {by:?} {key:?}: not the object asked for"
        ));
    }
    Ok(Some(live))
}

#[cfg(test)]
mod lookup_tests {
    use super::*;
    use serde_json::json;

    fn user(id: &str, upn: &str) -> Value {
        json!({"id": id, "userPrincipalName": upn, "displayName": "A"})
    }

    // Regression: a lookup that found several objects, or one that did not parse, read as
    // "not found" (and the planner could re-create a duplicate); a lookup's answer was not
    // checked against the key it asked for.
    #[test]
    fn a_lookup_matches_one_object_with_the_key_asked_for_or_says_why_not() {
        let k = ObjectKind::Users;
        let by_upn = MatchedBy::UserPrincipalName;
        let none = json!({"value": []});
        assert_eq!(matched(k, &none, by_upn, "a@x.com"), Ok(None));
        let one = json!({"value": [user("u1", "A@X.com")]});
        let found = matched(k, &one, by_upn, "a@x.com").unwrap().unwrap();
        assert_eq!(found.id().as_str(), "u1", "UPNs compare case-insensitively");
        let two = json!({"value": [user("u1", "a@x.com"), user("u2", "a@x.com")]});
        assert!(
            matched(k, &two, by_upn, "a@x.com")
                .unwrap_err()
                .contains("2 objects")
        );
        let other = json!({"value": [user("u3", "b@x.com")]});
        assert!(
            matched(k, &other, by_upn, "a@x.com")
                .unwrap_err()
                .contains("not the object asked for")
        );
        let unreadable = json!({"value": [{"displayName": "no id"}]});
        assert!(
            matched(k, &unreadable, by_upn, "a@x.com")
                .unwrap_err()
                .contains("cannot be read")
        );
        assert!(matched(k, &json!({"value": 3}), by_upn, "a@x.com").is_err());
        // A read by id answers the object itself.
        assert!(
            matched(k, &user("u1", "a@x.com"), MatchedBy::Id, "u1")
                .unwrap()
                .is_some()
        );
        assert!(matched(k, &user("u9", "a@x.com"), MatchedBy::Id, "u1").is_err());
    }

    #[test]
    fn filter_values_are_odata_quoted_and_url_encoded() {
        let f = filter("displayName", "O'Brien & Co #1 + 100%");
        assert_eq!(
            f,
            "$filter=displayName%20eq%20%27O%27%27Brien%20%26%20Co%20%231%20%2B%20100%25%27"
        );
    }
}
