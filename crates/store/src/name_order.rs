//! The order of a listing by name: names compared lower-cased (an absent name as the empty
//! one), then ids. The store keeps each base's entries in this order ("name chunks", see
//! docs/storage-format.md) and browsing sorts by it, so both use this one comparison.

use std::cmp::Ordering;

/// Compares two strings as their lower-cased forms (allocating only for text that is not
/// ASCII).
///
/// ```
/// use std::cmp::Ordering;
/// assert_eq!(dirvault_store::cmp_lowercase("adele", "Bob"), Ordering::Less);
/// assert_eq!(dirvault_store::cmp_lowercase("Émile", "émile"), Ordering::Equal);
/// ```
pub fn cmp_lowercase(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a
            .bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase()));
    }
    a.to_lowercase().cmp(&b.to_lowercase())
}

/// Name order of two `(name, id)` pairs: lower-cased names, then ids (which are unique, so
/// no two entries of a kind tie).
///
/// ```
/// use std::cmp::Ordering;
/// use dirvault_store::name_order;
/// assert_eq!(name_order(("Bob", "u2"), ("bob", "u1")), Ordering::Greater);
/// assert_eq!(name_order(("", "u9"), ("adele", "u1")), Ordering::Less);
/// ```
pub fn name_order(a: (&str, &str), b: (&str, &str)) -> Ordering {
    cmp_lowercase(a.0, b.0).then_with(|| a.1.cmp(b.1))
}
