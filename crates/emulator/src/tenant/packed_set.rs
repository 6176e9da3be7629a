//! A handful of objects by key held as one packed JSON object: a user's authentication methods.
//!
//! An L1M tenant has a million users with two or three methods each. An [`ObjectMap`] per user
//! costs a B-tree node (eleven slots, about 450 bytes) plus a key and a box per method, more than
//! the methods themselves; one JSON text per user holds the same in about half the memory. Every
//! operation decodes the whole set, which is a few hundred bytes.
//!
//! [`ObjectMap`]: super::ObjectMap

use serde_json::Value;

use super::{Obj, PackedObject};

/// Objects by key, in key order, held as one JSON object.
#[derive(Debug, Clone, Default)]
pub struct PackedSet {
    objects: Option<PackedObject>,
    len: u32,
}

impl PackedSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    fn all(&self) -> Obj {
        self.objects
            .as_ref()
            .map(PackedObject::unpack)
            .unwrap_or_default()
    }

    fn store(&mut self, mut all: Obj) {
        // Key order, as a sorted map gives it: what lists of methods are answered in.
        all.sort_keys();
        self.len = u32::try_from(all.len()).unwrap_or(u32::MAX);
        self.objects = (!all.is_empty()).then(|| PackedObject::pack(&all));
    }

    /// How many objects.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `key` is held.
    pub fn contains_key(&self, key: &str) -> bool {
        self.all().contains_key(key)
    }

    /// One object, decoded.
    pub fn get(&self, key: &str) -> Option<Obj> {
        into_object(self.all().remove(key))
    }

    /// Stores an object under `key`; returns the one it replaces.
    pub fn insert(&mut self, key: String, obj: &Obj) -> Option<Obj> {
        let mut all = self.all();
        let old = all.insert(key, Value::Object(obj.clone()));
        self.store(all);
        into_object(old)
    }

    /// Removes an object; returns it.
    pub fn remove(&mut self, key: &str) -> Option<Obj> {
        let mut all = self.all();
        let old = all.remove(key);
        if old.is_some() {
            self.store(all);
        }
        into_object(old)
    }

    /// Keys and objects, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (String, Obj)> + use<> {
        self.all()
            .into_iter()
            .filter_map(|(k, v)| into_object(Some(v)).map(|o| (k, o)))
    }

    /// The objects, in key order.
    pub fn values(&self) -> impl Iterator<Item = Obj> + use<> {
        self.iter().map(|(_, o)| o)
    }
}

impl FromIterator<(String, Obj)> for PackedSet {
    fn from_iter<I: IntoIterator<Item = (String, Obj)>>(objects: I) -> Self {
        let mut set = Self::new();
        set.store(
            objects
                .into_iter()
                .map(|(k, o)| (k, Value::Object(o)))
                .collect(),
        );
        set
    }
}

fn into_object(value: Option<Value>) -> Option<Obj> {
    match value {
        Some(Value::Object(o)) => Some(o),
        _ => None,
    }
}

impl IntoIterator for &PackedSet {
    type Item = (String, Obj);
    type IntoIter = Box<dyn Iterator<Item = (String, Obj)>>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// As a JSON object of the decoded objects (the control API's export).
impl serde::Serialize for PackedSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.all().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::tenant::packed::tests::obj;
    use serde_json::json;

    #[test]
    fn a_set_keeps_key_order_whatever_the_insertion_order() {
        let mut s = PackedSet::new();
        assert!(s.is_empty() && s.get("a").is_none());
        s.insert("c".into(), &obj(json!({"id": "c"})));
        s.insert("a".into(), &obj(json!({"id": "a", "n": 1})));
        s.insert("b".into(), &obj(json!({"id": "b"})));
        let keys: Vec<String> = s.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(s.len(), 3);
        assert_eq!(
            s.insert("a".into(), &obj(json!({"id": "a", "n": 2}))),
            Some(obj(json!({"id": "a", "n": 1})))
        );
        assert_eq!(s.get("a").unwrap()["n"], 2);
        assert_eq!(s.remove("a"), Some(obj(json!({"id": "a", "n": 2}))));
        assert!(s.remove("a").is_none());
        let keys: Vec<String> = s.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "c"]);
        assert!(s.contains_key("c") && !s.contains_key("a"));
        s.remove("b");
        s.remove("c");
        assert!(s.is_empty() && s.iter().next().is_none());
        assert_eq!(serde_json::to_value(&s).unwrap(), json!({}));
    }
}
