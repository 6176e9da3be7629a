//! Name filters: for each name chunk of a base, the trigrams of its lower-cased names, keys and
//! ids as bits, so that a search reads only the name chunks that may hold its needle. A search
//! for one user among a million read 245 name chunks (90 MB of texts) to find nothing in 244
//! of them. Decoding takes hostile bytes: it says what is wrong, never panics.

use super::*;
use crate::search::{Needle, is_hex_text, lowered_trigrams};

/// Name filters start with these bytes.
pub(crate) const NAME_FILTER: &[u8; 4] = b"DVF1";

/// Bits a filter has for each distinct trigram (rounded up to a power of two): about one
/// trigram in ten to twenty that a chunk does not hold finds its bit set, so a needle of
/// three trigrams or more that a chunk does not hold passes its filter about once in a
/// thousand chunks.
const BITS_PER_TRIGRAM: usize = 10;

/// The smallest and largest filters, as powers of two of bits (8 bytes to 128 KB).
const LOG2_BITS: std::ops::RangeInclusive<u8> = 6..=20;

/// One name chunk's filter: a bit for each hashed trigram of its entries' lower-cased names,
/// keys and ids — except ids made only of hex digits and hyphens (GUIDs: their trigrams would
/// set a third of the bits), which `hex_ids` stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameFilter {
    hex_ids: bool,
    log2_bits: u8,
    bits: Vec<u8>,
}

impl NameFilter {
    /// The filter of a name chunk's entries.
    pub(crate) fn of(entries: &[EntryText<'_>]) -> Self {
        let (mut hashes, mut hex_ids, mut buf) = (Vec::new(), false, Vec::new());
        for e in entries {
            for text in [e.name, e.key].into_iter().flatten() {
                lowered_trigrams(text, &mut buf, &mut |t| hashes.push(t));
            }
            match is_hex_text(e.id) {
                true => hex_ids = true,
                false => lowered_trigrams(e.id, &mut buf, &mut |t| hashes.push(t)),
            }
        }
        hashes.sort_unstable();
        hashes.dedup();
        let wanted = hashes
            .len()
            .saturating_mul(BITS_PER_TRIGRAM)
            .next_power_of_two();
        let log2_bits = u8::try_from(wanted.trailing_zeros())
            .unwrap_or(u8::MAX)
            .clamp(*LOG2_BITS.start(), *LOG2_BITS.end());
        let mut bits = vec![0u8; (1usize << log2_bits) / 8];
        for t in hashes {
            let slot = slot(t, log2_bits);
            if let Some(byte) = bits.get_mut(slot / 8) {
                *byte |= 1 << (slot % 8);
            }
        }
        Self {
            hex_ids,
            log2_bits,
            bits,
        }
    }

    /// Whether the chunk may hold an entry that `needle` matches: `false` only when it
    /// certainly does not.
    pub(crate) fn may_hold(&self, needle: &Needle) -> bool {
        if needle.trigrams().is_empty() || (self.hex_ids && needle.may_be_in_hex_text()) {
            return true;
        }
        needle.trigrams().iter().all(|&t| {
            let slot = slot(t, self.log2_bits);
            self.bits
                .get(slot / 8)
                .is_some_and(|byte| byte & (1 << (slot % 8)) != 0)
        })
    }
}

/// A trigram's bit in a filter of `2^log2_bits` bits (Fibonacci hashing: the top bits of a
/// multiplication by 2^32 / φ).
fn slot(trigram: u32, log2_bits: u8) -> usize {
    (trigram.wrapping_mul(0x9E37_79B1) >> (32 - u32::from(log2_bits))) as usize
}

/// The name filters of a base's name chunks, in their order: `DVF1`, their number, then for
/// each a flags byte (1: ids of hex digits left out), the base-2 logarithm of its number of
/// bits, and its bits.
pub(crate) fn encode_name_filters(filters: &[NameFilter]) -> Vec<u8> {
    let mut out = NAME_FILTER.to_vec();
    put_varint(&mut out, filters.len() as u64);
    for f in filters {
        out.push(u8::from(f.hex_ids));
        out.push(f.log2_bits);
        out.extend_from_slice(&f.bits);
    }
    out
}

/// Decodes name filters, or says what is wrong with the bytes.
pub(crate) fn decode_name_filters(bytes: &[u8]) -> Result<Vec<NameFilter>, String> {
    let rest = bytes
        .strip_prefix(NAME_FILTER)
        .ok_or("not a name filter (it does not start with `DVF1`)")?;
    let mut r = Reader::new(rest);
    let count = r.count()?;
    let mut out = Vec::with_capacity(count.min(r.left() / 10));
    for _ in 0..count {
        let [flags, log2_bits] = r.take(2)?.try_into().map_err(|_| "a cut filter")?;
        let hex_ids = match flags {
            0 | 1 => flags == 1,
            other => return Err(format!("unknown filter flags {other}")),
        };
        if !LOG2_BITS.contains(&log2_bits) {
            return Err(format!("a filter of 2^{log2_bits} bits"));
        }
        let bits = r.take((1usize << log2_bits) / 8)?.to_vec();
        out.push(NameFilter {
            hex_ids,
            log2_bits,
            bits,
        });
    }
    if !r.is_done() {
        return Err(format!("{} bytes after the last filter", r.left()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A filter never says "no" to a needle one of its entries matches (whatever the
        /// case, the script or where in a name, key or id the needle is), and filters decode
        /// to what was encoded.
        #[test]
        fn a_filter_passes_every_needle_its_chunk_matches(
            entries in proptest::collection::vec(
                (prop_oneof![
                    any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).hyphenated().to_string().to_uppercase()),
                    "[a-zA-Z0-9-]{1,20}",
                ], proptest::option::of("\\PC{0,20}"), proptest::option::of("[a-zA-Z@.É]{0,20}")),
                1..30,
            ),
            pick in any::<prop::sample::Index>(),
            part in 0usize..3,
            from in 0usize..20,
            length in 0usize..8,
        ) {
            let texts: Vec<EntryText<'_>> = entries
                .iter()
                .map(|(id, name, key)| EntryText { id, name: name.as_deref(), key: key.as_deref() })
                .collect();
            let filter = NameFilter::of(&texts);
            let entry = pick.get(&texts);
            let text = [Some(entry.id), entry.name, entry.key][part].unwrap_or(entry.id);
            let chars: Vec<char> = text.chars().collect();
            let from = from.min(chars.len());
            let piece: String = chars[from..(from + length).min(chars.len())].iter().collect();
            let needle = Needle::new(&piece.to_uppercase());
            if needle.matches(*entry) {
                prop_assert!(filter.may_hold(&needle), "{piece:?} in {entry:?}");
            }
            let both = [filter.clone(), NameFilter::of(&[])];
            prop_assert_eq!(decode_name_filters(&encode_name_filters(&both)), Ok(both.to_vec()));
        }

        /// Arbitrary bytes, and valid filters cut short or added to, fail with a message.
        #[test]
        fn any_name_filter_decodes_or_fails(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            cut in 0usize..100,
        ) {
            let _ = decode_name_filters(&bytes);
            let mut prefixed = NAME_FILTER.to_vec();
            prefixed.extend_from_slice(&bytes);
            let _ = decode_name_filters(&prefixed);
            let valid = encode_name_filters(&[NameFilter::of(&[EntryText {
                id: "u1",
                name: Some("Adele Vance"),
                key: Some("adele@contoso.example"),
            }])]);
            if cut < valid.len() {
                prop_assert!(decode_name_filters(&valid[..cut]).is_err());
            }
            let mut longer = valid.clone();
            longer.extend_from_slice(&bytes);
            prop_assert_eq!(decode_name_filters(&longer).is_ok(), bytes.is_empty());
        }
    }

    /// The filter says "no" to what its chunk does not hold, and "maybe" to hex needles
    /// when the chunk's ids are GUIDs.
    #[test]
    fn a_filter_rules_out_needles_its_chunk_does_not_hold() {
        let filter = NameFilter::of(&[EntryText {
            id: "8afc02cb-4d62-4dba-b536-9f6d73e9be26",
            name: Some("Adele Vance"),
            key: Some("adele@contoso.example"),
        }]);
        assert!(filter.may_hold(&Needle::new("VANCE")));
        assert!(filter.may_hold(&Needle::new("4d62")));
        assert!(filter.may_hold(&Needle::new("zz")));
        assert!(!filter.may_hold(&Needle::new("megan")));
        assert!(!filter.may_hold(&Needle::new("qqqzz")));
    }
}
