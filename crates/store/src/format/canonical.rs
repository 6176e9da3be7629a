//! Canonical JSON: the bytes a blob is stored as and hashed to its id.

use super::*;

/// A JSON value's canonical form: object keys sorted, no whitespace. Blobs are stored this
/// way, so that a blob's bytes hash to its id and reading verifies without re-serializing.
pub(crate) fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

thread_local! {
    /// A buffer per thread for [`with_canonical_object`].
    static CANONICAL: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::default();
}

/// Calls `f` with a JSON object's canonical form, written into a buffer this thread reuses:
/// where most objects are stored already (an incremental), only the new ones need bytes of
/// their own.
pub(crate) fn with_canonical_object<T>(
    map: &serde_json::Map<String, Value>,
    f: impl FnOnce(&[u8]) -> T,
) -> T {
    CANONICAL.with_borrow_mut(|buf| {
        buf.clear();
        write_canonical_object(map, buf);
        let out = f(buf);
        // An unusually large object's buffer is not kept for the life of the thread.
        if buf.capacity() > KEPT_CANONICAL_BUFFER {
            *buf = Vec::new();
        }
        out
    })
}

/// The largest buffer [`with_canonical_object`] keeps for the next object.
pub(super) const KEPT_CANONICAL_BUFFER: usize = 1 << 20;

/// Maps with more keys than this are sorted every time (no remembered order).
pub(super) const REMEMBERED_ORDER_KEYS: usize = 256;

thread_local! {
    /// The last key order sorted for maps of each size on this thread (indexed by the number
    /// of keys): objects of one kind come with their keys in the same order, so one check of
    /// the remembered permutation (n − 1 comparisons) usually replaces a sort (a fifth of a
    /// snapshot's time otherwise).
    static KEY_ORDERS: std::cell::RefCell<Vec<Vec<u16>>> = std::cell::RefCell::default();
}

/// Calls `f` with a map's entries and the order of their keys in bytes (indexes into the
/// entries). The order is copied out of the thread's remembered ones before `f` runs, since
/// `f` writes nested maps, which look up theirs.
fn with_key_order<R>(
    map: &serde_json::Map<String, Value>,
    f: impl FnOnce(&[(&String, &Value)], &[u16]) -> R,
) -> R {
    let entries: Vec<(&String, &Value)> = map.iter().collect();
    let n = entries.len();
    let sort = |entries: &[(&String, &Value)]| {
        let mut order: Vec<u16> = (0..entries.len() as u16).collect();
        order.sort_unstable_by(|&a, &b| entries[usize::from(a)].0.cmp(entries[usize::from(b)].0));
        order
    };
    if n > REMEMBERED_ORDER_KEYS {
        // Too many keys to remember an order for (or to count in u16): `f` gets the entries
        // sorted, and no order.
        let order: Vec<usize> = {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_unstable_by(|&a, &b| entries[a].0.cmp(entries[b].0));
            order
        };
        let sorted: Vec<(&String, &Value)> = order.iter().map(|&i| entries[i]).collect();
        return f(&sorted, &[]);
    }
    let mut order = [0u16; REMEMBERED_ORDER_KEYS];
    if n >= 2 {
        KEY_ORDERS.with_borrow_mut(|orders| {
            if orders.len() <= n {
                orders.resize_with(n + 1, Vec::new);
            }
            let remembered = &mut orders[n];
            // Keys are unique: strictly increasing means this is the sorted order.
            let still = remembered.len() == n
                && remembered.windows(2).all(|w| {
                    entries[usize::from(w[0])].0.as_bytes()
                        < entries[usize::from(w[1])].0.as_bytes()
                });
            if !still {
                *remembered = sort(&entries);
            }
            order[..n].copy_from_slice(remembered);
        });
    }
    f(&entries, &order[..n])
}

pub(super) fn write_canonical_object(map: &serde_json::Map<String, Value>, out: &mut Vec<u8>) {
    out.push(b'{');
    with_key_order(map, |entries, order| {
        let mut write = |i: usize, (k, v): (&String, &Value)| {
            if i > 0 {
                out.push(b',');
            }
            write_string(k, out);
            out.push(b':');
            write_canonical(v, out);
        };
        match order.len() == entries.len() {
            true => {
                for (i, &at) in order.iter().enumerate() {
                    write(i, entries[usize::from(at)]);
                }
            }
            // No order: the entries come sorted (a map too large to remember an order for).
            false => {
                for (i, &entry) in entries.iter().enumerate() {
                    write(i, entry);
                }
            }
        }
    });
    out.push(b'}');
}

/// Writes a JSON string exactly as serde_json does. Most strings hold nothing to escape and
/// are copied whole; the check scans every byte without branching, which the compiler turns
/// into vector instructions (serde_json looks each byte up in a table, a quarter of the
/// time of making a canonical form).
pub(super) fn write_string(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    let plain = bytes.iter().fold(true, |plain, &b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    } else {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

pub(super) fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => write_canonical_object(map, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(s, out),
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            // Writing a number into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, n);
        }
    }
}
