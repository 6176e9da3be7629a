//! Snapshot record packs: many snapshot records in one object. A history reads every record
//! of a tenant (for its kinds' change filters), and so do the snapshot list, retention and
//! prune: at L1M a record is ~31 KB and 730 of them were 730 reads, most of their time spent
//! on the reads rather than the bytes. A pack holds each record exactly as it is stored on
//! its own (its plaintext, integrity hash included), so a record read from a pack is checked
//! the same way; the records on their own stay, and stay what says a snapshot exists.
//! Decoding takes hostile bytes: it says what is wrong, never panics.

use std::io::Read;

/// Record packs start with these bytes; a zstd frame of the records follows, each a
/// little-endian `u32` length and the record's bytes.
pub(crate) const RECORD_PACK: &[u8; 4] = b"DVR1";

/// The most a pack's records may take, decompressed: a bound for hostile frames (a pack holds
/// at most a few hundred records of ~100 KB).
const MAX_RECORDS_BYTES: u64 = 512 << 20;

/// The bytes of a pack of `records` (each a record's stored plaintext).
pub(crate) fn encode_record_pack(records: &[&[u8]]) -> Vec<u8> {
    let mut plain = Vec::with_capacity(records.iter().map(|r| r.len() + 4).sum());
    for record in records {
        // A record is far below 4 GiB (tens of KB); a larger one cannot be a record.
        let len = u32::try_from(record.len()).unwrap_or(u32::MAX);
        plain.extend_from_slice(&len.to_le_bytes());
        plain.extend_from_slice(record);
    }
    let mut out = RECORD_PACK.to_vec();
    // Level 3: the change filters (half a record at L1M) do not compress; the rest does.
    out.extend(zstd::encode_all(plain.as_slice(), 3).unwrap_or_default());
    out
}

/// The records of a pack's bytes, each its own buffer, in their order; `Err` says what is
/// wrong.
pub(crate) fn record_pack_records(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let frame = bytes
        .strip_prefix(RECORD_PACK.as_slice())
        .ok_or("not a snapshot record pack (its first bytes are not DVR1)")?;
    let mut plain = Vec::new();
    zstd::stream::read::Decoder::new(frame)
        .map_err(|e| format!("its records do not decompress: {e}"))?
        .take(MAX_RECORDS_BYTES + 1)
        .read_to_end(&mut plain)
        .map_err(|e| format!("its records do not decompress: {e}"))?;
    if plain.len() as u64 > MAX_RECORDS_BYTES {
        return Err(format!(
            "its records take more than {MAX_RECORDS_BYTES} bytes decompressed"
        ));
    }
    let mut records = Vec::new();
    let mut rest = plain.as_slice();
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or("it ends inside a record's length")?;
        let len = u32::from_le_bytes(*len) as usize;
        if len > tail.len() {
            return Err(format!(
                "record {} says it has {len} bytes; {} are left",
                records.len() + 1,
                tail.len()
            ));
        }
        let (record, tail) = tail.split_at(len);
        records.push(record.to_vec());
        rest = tail;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_pack_gives_back_its_records(records in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..300), 0..20)
        ) {
            let slices: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(record_pack_records(&encode_record_pack(&slices)).unwrap(), records);
        }

        #[test]
        fn any_bytes_decode_or_fail(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = record_pack_records(&bytes);
            let mut packed = RECORD_PACK.to_vec();
            packed.extend(&bytes);
            let _ = record_pack_records(&packed);
        }

        #[test]
        fn a_damaged_pack_fails_or_decodes(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 1..5),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let slices: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
            let mut packed = encode_record_pack(&slices);
            let at = at.index(packed.len());
            packed[at] ^= flip;
            let _ = record_pack_records(&packed);
        }
    }

    #[test]
    fn a_pack_whose_lengths_overrun_says_so() {
        let mut plain = 10u32.to_le_bytes().to_vec();
        plain.extend(b"short");
        let mut packed = RECORD_PACK.to_vec();
        packed.extend(zstd::encode_all(plain.as_slice(), 3).unwrap());
        let e = record_pack_records(&packed).unwrap_err();
        assert!(e.contains("says it has 10 bytes; 5 are left"), "{e}");
        assert!(
            record_pack_records(b"DVF1....")
                .unwrap_err()
                .contains("not a snapshot record pack")
        );
    }
}
