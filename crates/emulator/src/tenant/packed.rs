//! Objects held compactly: each one as its serialized JSON, decoded when a request reads it.
//!
//! A `serde_json::Map` costs about ten times its JSON text (every key and string its own
//! allocation, every map its own hash table): a 100k-user tenant took 3.7 GiB that way, and a
//! 1M-user one could not be built on a 24 GiB machine (issue #19). Holding the text instead
//! keeps an object's property order (the map preserves it both ways), so what the emulator
//! answers over HTTP does not change; a read pays one parse, about what the clone it replaces
//! cost.

use std::collections::BTreeMap;
use std::ops::RangeBounds;

use serde_json::Value;

use super::Obj;

/// One object as compact JSON text.
#[derive(Clone, PartialEq, Eq)]
pub struct PackedObject(Box<[u8]>);

impl PackedObject {
    /// Packs an object.
    pub fn pack(obj: &Obj) -> Self {
        // Serializing a map of JSON values cannot fail (keys are strings, no foreign types).
        Self(
            serde_json::to_vec(obj)
                .unwrap_or_default()
                .into_boxed_slice(),
        )
    }

    /// The object back. Text this type wrote always parses; should it not, the object reads as
    /// empty rather than taking the emulator down.
    pub fn unpack(&self) -> Obj {
        match serde_json::from_slice(&self.0) {
            Ok(Value::Object(o)) => o,
            _ => Obj::new(),
        }
    }

    /// Only the top-level properties `keep` accepts, the others skipped without being built:
    /// what a `$select`ed read or a lookup of one property needs, at a fraction of a whole
    /// decode's cost (a user is about ninety properties).
    pub fn unpack_only(&self, keep: &dyn Fn(&str) -> bool) -> Obj {
        let mut de = serde_json::Deserializer::from_slice(&self.0);
        serde::de::DeserializeSeed::deserialize(Selected(keep), &mut de).unwrap_or_default()
    }

    /// The bytes held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is held (never, for a packed object).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for PackedObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedObject({} bytes)", self.0.len())
    }
}

/// Deserializes a JSON object keeping the properties a predicate accepts.
struct Selected<'a>(&'a dyn Fn(&str) -> bool);

impl<'de> serde::de::DeserializeSeed<'de> for Selected<'_> {
    type Value = Obj;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Obj, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Selected<'_> {
    type Value = Obj;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Obj, A::Error> {
        let mut out = Obj::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if (self.0)(&key.0) {
                out.insert(key.0.into_owned(), map.next_value::<Value>()?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// A property name, borrowed from the text when it has no escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a property name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Objects by key, in key order (what paging needs), each held packed.
#[derive(Debug, Clone, Default)]
pub struct ObjectMap {
    objects: BTreeMap<String, PackedObject>,
}

impl ObjectMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Whether `key` is held.
    pub fn contains_key(&self, key: &str) -> bool {
        self.objects.contains_key(key)
    }

    /// One object, decoded.
    pub fn get(&self, key: &str) -> Option<Obj> {
        self.objects.get(key).map(PackedObject::unpack)
    }

    /// One object with only the properties `keep` accepts (see [`PackedObject::unpack_only`]).
    pub fn get_only(&self, key: &str, keep: &dyn Fn(&str) -> bool) -> Option<Obj> {
        self.objects.get(key).map(|o| o.unpack_only(keep))
    }

    /// Stores an object under `key`; returns the one it replaces.
    pub fn insert(&mut self, key: String, obj: &Obj) -> Option<Obj> {
        self.objects
            .insert(key, PackedObject::pack(obj))
            .map(|old| old.unpack())
    }

    /// Removes an object; returns it.
    pub fn remove(&mut self, key: &str) -> Option<Obj> {
        self.objects.remove(key).map(|old| old.unpack())
    }

    /// Removes every object.
    pub fn clear(&mut self) {
        self.objects.clear();
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> {
        self.objects.keys()
    }

    /// The objects, decoded one at a time, in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = Obj> + '_ {
        self.objects.values().map(PackedObject::unpack)
    }

    /// Keys and objects, in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&String, Obj)> {
        self.objects.iter().map(|(k, o)| (k, o.unpack()))
    }

    /// Keys and objects with only the properties `keep` accepts, in key order.
    pub fn iter_only<'a>(
        &'a self,
        keep: &'a dyn Fn(&str) -> bool,
    ) -> impl DoubleEndedIterator<Item = (&'a String, Obj)> + 'a {
        self.objects
            .iter()
            .map(move |(k, o)| (k, o.unpack_only(keep)))
    }

    /// Keys and objects in a key range with only the properties `keep` accepts.
    pub fn range_only<'a, Q, R>(
        &'a self,
        range: R,
        keep: &'a dyn Fn(&str) -> bool,
    ) -> impl DoubleEndedIterator<Item = (&'a String, Obj)> + 'a
    where
        Q: Ord + ?Sized,
        String: std::borrow::Borrow<Q>,
        R: RangeBounds<Q>,
    {
        self.objects
            .range(range)
            .map(move |(k, o)| (k, o.unpack_only(keep)))
    }

    /// Keys and objects in a key range, in order (paging, delta rounds).
    pub fn range<Q, R>(&self, range: R) -> impl DoubleEndedIterator<Item = (&String, Obj)>
    where
        Q: Ord + ?Sized,
        String: std::borrow::Borrow<Q>,
        R: RangeBounds<Q>,
    {
        self.objects.range(range).map(|(k, o)| (k, o.unpack()))
    }

    /// Bytes held by the packed objects (not counting the map's own nodes).
    pub fn packed_bytes(&self) -> usize {
        self.objects.values().map(PackedObject::len).sum()
    }
}

impl<'a> IntoIterator for &'a ObjectMap {
    type Item = (&'a String, Obj);
    type IntoIter = Box<dyn Iterator<Item = (&'a String, Obj)> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// As a JSON object of the decoded objects (the control API's export).
impl serde::Serialize for ObjectMap {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

#[cfg(test)]
pub(in crate::tenant) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    /// A JSON object literal as an [`Obj`] (the packed set's tests use it too).
    pub(in crate::tenant) fn obj(v: Value) -> Obj {
        match v {
            Value::Object(o) => o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn an_object_comes_back_as_it_went_in_property_order_included() {
        let o = obj(json!({"z": 1, "a": null, "m": [{"y": true, "b": "x"}], "n": 1.5}));
        let back = PackedObject::pack(&o).unpack();
        assert_eq!(back, o);
        let keys: Vec<&String> = back.keys().collect();
        assert_eq!(keys, ["z", "a", "m", "n"]);
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(&o).unwrap()
        );
    }

    #[test]
    fn a_selected_unpack_keeps_only_the_wanted_properties_whole() {
        // A name with a quote is escaped in the text: it comes back unescaped.
        let o =
            obj(json!({"id": "1", "big": {"deep": [1, 2, {"x": "y"}]}, "a\"b": "n", "mail": null}));
        let packed = PackedObject::pack(&o);
        let only = packed.unpack_only(&|k| k == "id" || k == "mail" || k == "a\"b");
        assert_eq!(only, obj(json!({"id": "1", "a\"b": "n", "mail": null})));
        assert_eq!(packed.unpack_only(&|_| true), o);
        assert!(packed.unpack_only(&|_| false).is_empty());
    }

    #[test]
    fn the_map_keeps_key_order_and_replaces_in_place() {
        let mut m = ObjectMap::new();
        assert!(m.insert("b".into(), &obj(json!({"id": "b"}))).is_none());
        m.insert("a".into(), &obj(json!({"id": "a"})));
        let old = m.insert("b".into(), &obj(json!({"id": "b", "v": 2})));
        assert_eq!(old, Some(obj(json!({"id": "b"}))));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.get("b").unwrap()["v"], 2);
        let after_a: Vec<&String> = m
            .range::<str, _>((std::ops::Bound::Excluded("a"), std::ops::Bound::Unbounded))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(after_a, ["b"]);
        assert_eq!(m.remove("a"), Some(obj(json!({"id": "a"}))));
        assert_eq!(m.len(), 1);
    }
}
