use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[test]
fn nested_sets_nulls_and_odata_are_compared_as_graph_means_them() {
    let old = obj(json!({
        "@odata.type": "#microsoft.graph.user", "id": "u1", "jobTitle": "Engineer", "mail": null,
        "employeeOrgData": {"division": "Sales", "costCenter": "K1"},
        "proxyAddresses": ["SMTP:a@x.com", "smtp:b@x.com"],
        "identities": [{"issuer": "x.com"}], "lastPasswordChangeDateTime": "2026-01-01T00:00:00Z",
    }));
    let new = obj(json!({
        "@odata.type": "#microsoft.graph.user.v2", "id": "u1", "jobTitle": "Director", "mail": "a@x.com",
        "employeeOrgData": {"division": "Sales", "costCenter": "K2"},
        "proxyAddresses": ["smtp:c@x.com", "SMTP:a@x.com"],
        "identities": [{"issuer": "y.com"}], "lastPasswordChangeDateTime": "2026-02-01T00:00:00Z",
        "extension_abc_costCenter": "new",
    }));
    let changes = diff_objects(
        &old,
        &new,
        &DiffOptions {
            ignore_server_maintained: true,
            ..DiffOptions::default()
        },
    );
    insta::assert_json_snapshot!(changes);
}

#[test]
fn relationship_and_version_diffs() {
    use dirvault_model::{ObjectId, RelationshipKind};
    let link = |g: &str, u: &str| {
        Relationship::link(
            RelationshipKind::GroupMember,
            ObjectId::new(g).unwrap(),
            ObjectId::new(u).unwrap(),
        )
    };
    let d = diff_relationships(
        &[link("g", "a"), link("g", "b")],
        &[link("g", "b"), link("g", "c")],
    );
    assert_eq!(
        (d.added, d.removed),
        (vec![link("g", "c")], vec![link("g", "a")])
    );
    let v = diff_versions(
        [("a", 1), ("b", 1), ("c", 1)],
        [("b", 2), ("c", 1), ("d", 1)],
    );
    assert_eq!(
        (v.created, v.modified, v.deleted),
        (vec!["d"], vec!["b"], vec!["a"])
    );
    let back = diff_versions(
        [("b", 2), ("c", 1), ("d", 1)],
        [("a", 1), ("b", 1), ("c", 1)],
    );
    assert_eq!(
        (back.created, back.deleted),
        (vec!["a"], vec!["d"]),
        "either order"
    );
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-e]{1,2}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    // Some keys are Graph set properties, so that set semantics are exercised.
    prop::collection::btree_map(
        prop_oneof![
            "[a-e]{1,2}",
            Just("proxyAddresses".to_owned()),
            Just("tags".to_owned())
        ],
        json_value(),
        0..6,
    )
    .prop_map(|m| m.into_iter().collect())
}

/// Sorts the arrays of set properties, so that objects equal as Graph means them compare equal.
fn normalized(m: &Map<String, Value>) -> Value {
    fn walk(v: &Value, set: bool) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), walk(v, SET_PROPERTIES.contains(&k.as_str()))))
                    .collect(),
            ),
            Value::Array(a) => {
                let mut items: Vec<Value> = a.iter().map(|x| walk(x, false)).collect();
                if set {
                    items.sort_by_key(Value::to_string);
                    items.dedup();
                }
                Value::Array(items)
            }
            other => other.clone(),
        }
    }
    walk(&Value::Object(m.clone()), false)
}

proptest! {
    #[test]
    fn applying_a_diff_gives_the_new_version(a in json_object(), b in json_object()) {
        let changes = diff_objects(&a, &b, &DiffOptions { ignore_odata: false, ignore_server_maintained: false });
        prop_assert_eq!(normalized(&apply(&a, &changes)), normalized(&b));
    }

    #[test]
    fn a_diff_read_back_from_json_applies_the_same(a in json_object(), b in json_object()) {
        let changes = diff_objects(&a, &b, &DiffOptions { ignore_odata: false, ignore_server_maintained: false });
        let stored: Vec<AttributeChange> = serde_json::from_str(&serde_json::to_string(&changes).unwrap()).unwrap();
        prop_assert_eq!(normalized(&apply(&a, &stored)), normalized(&b));
    }

    #[test]
    fn an_object_has_no_diff_with_itself(a in json_object()) {
        prop_assert!(diff_objects(&a, &a, &DiffOptions::default()).is_empty());
    }
}
