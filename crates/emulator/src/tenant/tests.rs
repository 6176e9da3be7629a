//! The tenant's indexes and batch deletes against what a plain scan or one-by-one deletes give.

#![allow(clippy::unwrap_used)]

use super::packed::tests::obj;
use super::*;
use serde_json::json;

fn assignment(id: &str, principal: &str, resource: &str) -> Obj {
    obj(json!({"id": id, "principalId": principal, "resourceId": resource, "appRoleId": "r"}))
}

/// What the index answers is what a scan of every object answers, after inserts, an update
/// that moves an object to another value, and a delete.
#[test]
fn the_reference_index_follows_inserts_updates_and_deletes() {
    let mut t = Tenant::new("t".into(), "t".into());
    let kind = Collection::AppRoleAssignments;
    t.insert(kind, assignment("a1", "p1", "r1")).unwrap();
    t.insert(kind, assignment("a2", "p1", "r2")).unwrap();
    t.insert_initial(kind, assignment("a3", "p2", "r1"));
    t.update(kind, "a2", obj(json!({"principalId": "p2"})))
        .unwrap();
    t.delete(kind, "a1", Utc::now()).unwrap();
    let scan = |property: &str, value: &str| -> BTreeSet<String> {
        t.objects(kind)
            .into_iter()
            .flatten()
            .filter(|(_, o)| o.get(property).and_then(Value::as_str) == Some(value))
            .map(|(k, _)| k.clone())
            .collect()
    };
    for (property, value) in [
        ("principalId", "p1"),
        ("principalId", "p2"),
        ("resourceId", "r1"),
        ("resourceId", "r2"),
    ] {
        assert_eq!(
            t.referencing(kind, property, value),
            &scan(property, value),
            "{property} = {value}"
        );
    }
    assert!(t.referencing(kind, "principalId", "p1").is_empty());
    assert!(t.has_object_with(kind, &[("principalId", "p2"), ("resourceId", "r2")]));
    assert!(!t.has_object_with(kind, &[("principalId", "p1"), ("resourceId", "r1")]));
    // A property without an index answers nothing rather than a wrong set.
    assert!(t.referencing(kind, "appRoleId", "r").is_empty());
}

/// Users in groups, and a manager chain: u0 → u1 → u2 → u3 (each user's manager is the next).
fn tenant_with_links(users: usize) -> Tenant {
    let mut t = Tenant::new("t".into(), "t".into());
    for n in 0..users {
        let upn = format!("u{n}@t.onmicrosoft.com");
        t.insert_initial(
            Collection::Users,
            obj(json!({"id": format!("u{n}"), "userPrincipalName": upn})),
        );
    }
    for g in 0..3 {
        t.insert_initial(
            Collection::Groups,
            obj(json!({"id": format!("g{g}"), "groupTypes": []})),
        );
        for n in (g..users).step_by(2) {
            t.add_link_initial(LinkKind::GroupMember, &format!("g{g}"), &format!("u{n}"));
        }
    }
    for n in 0..users - 1 {
        t.add_link_initial(
            LinkKind::UserManager,
            &format!("u{n}"),
            &format!("u{}", n + 1),
        );
    }
    t
}

/// Deleting many users at once leaves the tenant, its links and each recycle-bin item as
/// deleting them one by one does (links between two deleted users go with their source).
#[test]
fn deleting_many_is_deleting_each() {
    let now = Utc::now();
    // More than the few ids that are looked up one by one, so that the link sets are walked.
    let users = 60;
    let gone: Vec<String> = (0..users).step_by(3).map(|n| format!("u{n}")).collect();
    let mut one_by_one = tenant_with_links(users);
    for id in &gone {
        one_by_one.delete(Collection::Users, id, now).unwrap();
    }
    let mut at_once = tenant_with_links(users);
    assert_eq!(
        at_once.delete_many(Collection::Users, &gone, now),
        gone.len()
    );
    for rel in [LinkKind::GroupMember, LinkKind::UserManager] {
        let live = |t: &Tenant| -> BTreeMap<String, BTreeSet<String>> {
            t.all_links(rel)
                .unwrap()
                .iter()
                .filter(|(_, targets)| !targets.is_empty())
                .map(|(s, targets)| (s.clone(), targets.clone()))
                .collect()
        };
        assert_eq!(live(&at_once), live(&one_by_one), "{rel:?}");
    }
    for id in &gone {
        let links = |t: &Tenant| -> BTreeSet<(LinkKind, String, String)> {
            t.deleted_item(id).unwrap().links.iter().cloned().collect()
        };
        // No two deleted users here are manager and employee, so no link is shared.
        assert_eq!(links(&at_once), links(&one_by_one), "{id}");
        assert!(!links(&at_once).is_empty(), "{id} was in a group");
    }
    assert!(
        at_once.delete(Collection::Users, "u0", now).is_err(),
        "gone already"
    );
}
