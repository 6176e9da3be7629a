//! [`DirectoryObject`]: one object exactly as Graph returned it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, ObjectId, ObjectKind};

/// One directory object, **lossless**: the JSON object Graph returned, every property kept
/// (nulls, nested complex values, `@odata.type`, extension attributes
/// `extension_<appid>_<name>`, and properties Microsoft adds after this code was written).
///
/// Typed accessors are read-only views over the raw JSON; nothing is ever parsed into a
/// struct that could drop a field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredObject", into = "StoredObject")]
pub struct DirectoryObject {
    kind: ObjectKind,
    id: ObjectId,
    raw: Map<String, Value>,
}

/// The serialized form: the kind and the raw JSON. The id is read back out of the raw JSON
/// so that the two can never disagree.
#[derive(Serialize, Deserialize)]
struct StoredObject {
    kind: ObjectKind,
    raw: Map<String, Value>,
}

impl TryFrom<StoredObject> for DirectoryObject {
    type Error = Error;
    fn try_from(stored: StoredObject) -> Result<Self, Error> {
        DirectoryObject::from_graph(stored.kind, Value::Object(stored.raw))
    }
}

impl From<DirectoryObject> for StoredObject {
    fn from(object: DirectoryObject) -> Self {
        StoredObject {
            kind: object.kind,
            raw: object.raw,
        }
    }
}

impl DirectoryObject {
    /// Wraps a JSON value returned by Graph for an object of `kind`.
    ///
    /// # Errors
    /// [`Error::NotAnObject`] when `value` is not a JSON object, [`Error::MissingId`] when it
    /// has no string id field (a settings object without one is named by its kind), and [`Error::InvalidId`] when that id is malformed.
    pub fn from_graph(kind: ObjectKind, value: Value) -> Result<Self, Error> {
        let Value::Object(raw) = value else {
            return Err(Error::NotAnObject {
                kind,
                found: json_type_name(&value),
            });
        };
        let id_field = kind.info().id_field;
        let id = match raw.get(id_field) {
            Some(Value::String(id)) => ObjectId::new(id.clone())?,
            // A settings object has one instance per tenant; some have no id
            // (crosstenantaccesspolicyconfigurationdefault-get.md): its kind names it. The raw
            // JSON stays as Graph returned it.
            None | Some(Value::Null) if kind.is_singleton() => ObjectId::new(kind.name())?,
            _ => {
                return Err(Error::MissingId {
                    kind,
                    field: id_field,
                });
            }
        };
        Ok(Self { kind, id, raw })
    }

    /// The kind of object.
    pub fn kind(&self) -> ObjectKind {
        self.kind
    }

    /// The object id.
    pub fn id(&self) -> &ObjectId {
        &self.id
    }

    /// The raw JSON object, exactly as Graph returned it.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    /// The raw JSON object, consuming `self`.
    pub fn into_raw(self) -> Map<String, Value> {
        self.raw
    }

    /// The raw JSON as a [`Value`].
    pub fn to_value(&self) -> Value {
        Value::Object(self.raw.clone())
    }

    /// A top-level property, `None` when absent (a JSON `null` is `Some(Value::Null)`).
    pub fn get(&self, property: &str) -> Option<&Value> {
        self.raw.get(property)
    }

    /// A top-level string property; `None` when absent, null or not a string.
    pub fn str(&self, property: &str) -> Option<&str> {
        self.raw.get(property).and_then(Value::as_str)
    }

    /// The name Graph shows for the object (the kind's display-name field), if any.
    pub fn display_name(&self) -> Option<&str> {
        self.kind
            .info()
            .display_name_field
            .and_then(|field| self.str(field))
    }

    /// `userPrincipalName` (users).
    pub fn user_principal_name(&self) -> Option<&str> {
        self.str("userPrincipalName")
    }

    /// `mail` (users, groups).
    pub fn mail(&self) -> Option<&str> {
        self.str("mail")
    }

    /// `mailNickname` (users, groups).
    pub fn mail_nickname(&self) -> Option<&str> {
        self.str("mailNickname")
    }

    /// `appId` (applications, service principals).
    pub fn app_id(&self) -> Option<&str> {
        self.str("appId")
    }

    /// `@odata.type`, when Graph included it (it does for derived types such as
    /// `#microsoft.graph.ipNamedLocation` and every authentication method).
    pub fn odata_type(&self) -> Option<&str> {
        self.str("@odata.type")
    }

    /// `deletedDateTime`: set on objects read from the recycle bin.
    pub fn deleted_date_time(&self) -> Option<DateTime<Utc>> {
        self.datetime("deletedDateTime")
    }

    /// `createdDateTime`, when the kind has it.
    pub fn created_date_time(&self) -> Option<DateTime<Utc>> {
        self.datetime("createdDateTime")
    }

    /// Whether the object is synchronised from on-premises AD (`onPremisesSyncEnabled`):
    /// most of its attributes are then owned on-premises and cannot be written through Graph.
    pub fn is_synced_from_on_premises(&self) -> bool {
        self.raw
            .get("onPremisesSyncEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Directory extension attributes (`extension_<appIdWithoutDashes>_<name>`).
    pub fn extension_attributes(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.raw
            .iter()
            .filter(|(k, _)| k.starts_with("extension_"))
            .map(|(k, v)| (k.as_str(), v))
    }

    fn datetime(&self, property: &str) -> Option<DateTime<Utc>> {
        self.str(property)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
    }
}

pub(crate) fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "@odata.type": "#microsoft.graph.user",
            "id": "6e7b768e-07e2-4810-8459-485f84f8f204",
            "displayName": "Adele Vance",
            "userPrincipalName": "AdeleV@contoso.com",
            "mail": null,
            "businessPhones": ["+1 425 555 0109"],
            "employeeOrgData": {"division": "Sales", "costCenter": null},
            "extension_b7d8e648520f41d3b9c0fdeb91768a0a_costCenter": "K-42",
            "aNewPropertyMicrosoftAddsNextYear": {"nested": [1, 2, {"x": null}]},
            "deletedDateTime": "2026-10-01T08:30:00Z",
            "onPremisesSyncEnabled": true
        })
    }

    #[test]
    fn keeps_every_property_through_a_serde_round_trip() {
        let obj = DirectoryObject::from_graph(ObjectKind::Users, user()).unwrap();
        let text = serde_json::to_string(&obj).unwrap();
        let back: DirectoryObject = serde_json::from_str(&text).unwrap();
        assert_eq!(back, obj);
        assert_eq!(back.to_value(), user());
        // Key order is kept too: exports show properties in Graph's order.
        let keys: Vec<_> = back.raw().keys().cloned().collect();
        let expected: Vec<_> = user().as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, expected);
    }

    #[test]
    fn typed_views_read_the_raw_json() {
        let obj = DirectoryObject::from_graph(ObjectKind::Users, user()).unwrap();
        assert_eq!(obj.display_name(), Some("Adele Vance"));
        assert_eq!(obj.user_principal_name(), Some("AdeleV@contoso.com"));
        assert_eq!(obj.mail(), None);
        assert_eq!(obj.get("mail"), Some(&Value::Null));
        assert_eq!(obj.odata_type(), Some("#microsoft.graph.user"));
        assert!(obj.is_synced_from_on_premises());
        assert_eq!(
            obj.deleted_date_time().unwrap().to_rfc3339(),
            "2026-10-01T08:30:00+00:00"
        );
        let ext: Vec<_> = obj.extension_attributes().map(|(k, _)| k).collect();
        assert_eq!(
            ext,
            ["extension_b7d8e648520f41d3b9c0fdeb91768a0a_costCenter"]
        );
    }

    #[test]
    fn rejects_non_objects_and_missing_ids_with_a_clear_error() {
        let err = DirectoryObject::from_graph(ObjectKind::Groups, json!([1])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a groups object from Graph is an array, not a JSON object"
        );
        let err = DirectoryObject::from_graph(ObjectKind::Groups, json!({"displayName": "x"}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a groups object from Graph has no string \"id\" property"
        );
    }

    #[test]
    fn serialized_form_is_pinned() {
        let obj = DirectoryObject::from_graph(ObjectKind::Users, user()).unwrap();
        insta::assert_json_snapshot!(obj);
    }
}

#[cfg(test)]
mod robustness {
    use super::*;
    use crate::{ObjectKind, Relationship};
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    /// JSON values as Graph could send them, hostile ones included: ids of any type and
    /// length, properties of any shape.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,300}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,12}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn graph_object() -> impl Strategy<Value = Value> {
        let names = prop_oneof![
            Just("id".to_owned()),
            Just("principalId".to_owned()),
            Just("roleDefinitionId".to_owned()),
            Just("resourceId".to_owned()),
            Just("clientId".to_owned()),
            Just("appRoleId".to_owned()),
            Just("directoryScopeId".to_owned()),
            Just("displayName".to_owned()),
            Just("userPrincipalName".to_owned()),
            ".{0,12}",
        ];
        proptest::collection::vec((names, json()), 0..10)
            .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>()))
    }

    proptest! {
        // The backup's per-object decoder, for every kind: an object Graph sends is read or
        // refused with an error, and the link it stands for derived or refused; never a panic.
        #[test]
        fn any_graph_object_is_read_or_refused(value in graph_object(), kind in 0..ObjectKind::ALL.len()) {
            let kind = ObjectKind::ALL[kind];
            if let Ok(object) = DirectoryObject::from_graph(kind, value) {
                let _ = Relationship::from_object(&object);
                let _ = object.display_name();
                let _ = object.user_principal_name();
            }
        }
    }
}
