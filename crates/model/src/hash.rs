//! A stable, fast, non-cryptographic hash for spreading ids over buckets.

/// FNV-1a 64 of some bytes: the same on every platform and in every release (content-defined
/// chunk boundaries and id filters in the store depend on it never changing).
///
/// ```
/// assert_eq!(dirvault_model::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
/// assert_ne!(dirvault_model::fnv1a(b"a"), dirvault_model::fnv1a(b"b"));
/// ```
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}
