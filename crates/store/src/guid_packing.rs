//! GUIDs packed into their 16 bytes before a group of object versions is compressed.
//!
//! Directory objects are full of GUIDs written as text (ids, appIds, skuIds, request and
//! correlation ids: four to six in a user), and they are random: zstd finds no match in them
//! and spends on each of their 36 characters what the block's other text costs, about 20
//! bytes a GUID where its information is 16. A group's plain bytes (its members' canonical
//! JSON back to back) are therefore stored as [`PACKED`] then the same bytes with each
//! lowercase hyphenated GUID replaced by [`ESCAPE`] and its 16 bytes: on L100k, 1.6 MB less of
//! 36.7 (docs/benchmarks.md, session 25). Canonical JSON holds no byte below 0x20 (control
//! characters are escaped in strings), so neither mark can be mistaken for text; a group
//! that holds one anyway is stored as it is. Only the lowercase hyphenated form is packed, so
//! unpacking gives back the very bytes, which every read then re-hashes against the member's
//! content id.

/// The first byte of a group whose GUIDs are packed (a plain group starts with `{`).
pub(crate) const PACKED: u8 = 0x02;

/// Stands for a GUID: its 16 bytes follow.
const ESCAPE: u8 = 0x01;

/// The length of a GUID as text: 8-4-4-4-12 hex digits and hyphens.
const GUID_TEXT: usize = 36;

/// Where the hyphens of a GUID's text are.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];

/// Each byte's value as a lowercase hex digit, or 0xff.
const HEX: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// The 16 bytes of the GUID whose lowercase hyphenated text `text` (36 bytes) is, if it is one.
fn guid_of(text: &[u8]) -> Option<[u8; 16]> {
    let text: &[u8; GUID_TEXT] = text.try_into().ok()?;
    if HYPHENS.iter().any(|&at| text[at] != b'-') {
        return None;
    }
    let mut digits = text
        .iter()
        .enumerate()
        .filter(|(at, _)| !HYPHENS.contains(at))
        .map(|(_, &c)| HEX[usize::from(c)]);
    let mut out = [0u8; 16];
    for byte in &mut out {
        let (high, low) = (digits.next()?, digits.next()?);
        if (high | low) > 0x0f {
            return None;
        }
        *byte = (high << 4) | low;
    }
    Some(out)
}

/// Appends `plain` to `out` with each lowercase hyphenated GUID packed into [`ESCAPE`] and its
/// 16 bytes; `false` (and nothing appended) when `plain` holds an [`ESCAPE`] or [`PACKED`]
/// byte itself, which packing could not tell apart.
pub(crate) fn pack_into(plain: &[u8], out: &mut Vec<u8>) -> bool {
    if memchr::memchr2(ESCAPE, PACKED, plain).is_some() {
        return false;
    }
    out.reserve(plain.len());
    let mut copied = 0;
    // A GUID's first hyphen is 8 bytes in: look for hyphens, and at each, for a GUID
    // starting 8 bytes before it.
    let mut from = HYPHENS[0];
    while let Some(found) = plain
        .get(from..)
        .and_then(|rest| memchr::memchr(b'-', rest))
    {
        let hyphen = from + found;
        let start = hyphen - HYPHENS[0];
        match plain.get(start..start + GUID_TEXT).and_then(guid_of) {
            Some(guid) if start >= copied => {
                out.extend_from_slice(&plain[copied..start]);
                out.push(ESCAPE);
                out.extend_from_slice(&guid);
                copied = start + GUID_TEXT;
                from = copied + HYPHENS[0];
            }
            _ => from = hyphen + 1,
        }
    }
    out.extend_from_slice(&plain[copied..]);
    true
}

/// A group as stored before compression: [`PACKED`] and its members' canonical JSON back to
/// back, packed, or the plain bytes when they cannot be packed. Members are packed one by one
/// (no GUID spans two: a member ends with `}`), which is the same as packing their bytes
/// together.
pub(crate) fn pack_group(members: &[&[u8]]) -> Vec<u8> {
    let plain_length = members.iter().map(|m| m.len()).sum::<usize>();
    let mut stored = Vec::with_capacity(plain_length + 1);
    stored.push(PACKED);
    // `pack_into` appends nothing when it refuses.
    if members.iter().all(|member| pack_into(member, &mut stored)) {
        return stored;
    }
    stored.clear();
    for member in members {
        stored.extend_from_slice(member);
    }
    stored
}

/// Unpacks what [`pack_into`] made (after [`PACKED`]) into `out`, refusing to make more than
/// `limit` bytes. Takes hostile bytes: says what is wrong, never panics.
#[deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
pub(crate) fn unpack_into(packed: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), String> {
    out.clear();
    let mut rest = packed;
    let mut text = [0u8; GUID_TEXT];
    while let Some(at) = memchr::memchr(ESCAPE, rest) {
        let (before, after) = rest.split_at_checked(at).ok_or("a packed GUID misplaced")?;
        out.extend_from_slice(before);
        let guid = after
            .get(1..17)
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .ok_or("a packed GUID cut short")?;
        out.extend_from_slice(
            uuid::Uuid::from_bytes(guid)
                .hyphenated()
                .encode_lower(&mut text)
                .as_bytes(),
        );
        rest = after.get(17..).unwrap_or_default();
        if out.len() > limit {
            return Err(format!("a packed group of more than {limit} bytes"));
        }
    }
    out.extend_from_slice(rest);
    if out.len() > limit {
        return Err(format!("a packed group of more than {limit} bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn packed(plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(pack_into(plain, &mut out));
        out
    }

    fn unpacked(packed: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        unpack_into(packed, &mut out, 1 << 20).unwrap();
        out
    }

    #[test]
    fn lowercase_hyphenated_guids_pack_into_16_bytes_and_nothing_else_does() {
        let guid = "0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9";
        let plain = format!(
            r#"{{"id":"{guid}","skuId":"{guid}","upper":"{}","date":"2026-05-28","x":"-{guid}-","short":"0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f"}}"#,
            guid.to_uppercase()
        );
        let out = packed(plain.as_bytes());
        // Three packed (the two values and the one between hyphens), each 36 -> 17 bytes.
        assert_eq!(out.len(), plain.len() - 3 * 19);
        assert_eq!(out.iter().filter(|&&b| b == ESCAPE).count(), 3);
        assert_eq!(unpacked(&out), plain.as_bytes());
        // Back to back GUIDs, and a GUID at each end.
        let plain = format!("{guid}{guid}-{guid}");
        assert_eq!(packed(plain.as_bytes()).len(), 3 * 17 + 1);
        assert_eq!(unpacked(&packed(plain.as_bytes())), plain.as_bytes());
    }

    #[test]
    fn groups_that_hold_a_mark_are_stored_as_they_are() {
        assert_eq!(pack_group(&[b"{}", b"{\x01}"]), b"{}{\x01}");
        assert_eq!(pack_group(&[b"\x02{}"]), b"\x02{}");
        assert_eq!(pack_group(&[b"{}", b"{}"]), b"\x02{}{}");
    }

    #[test]
    fn hostile_packed_bytes_are_refused_not_panicked_on() {
        let mut out = Vec::new();
        let err = unpack_into(b"{\x01abc", &mut out, 100).unwrap_err();
        assert!(err.contains("cut short"), "{err}");
        // 17 packed bytes make 36: a limit keeps a small frame from making a huge group.
        let bomb = [[ESCAPE; 17]; 10].concat();
        let err = unpack_into(&bomb, &mut out, 100).unwrap_err();
        assert!(err.contains("more than 100"), "{err}");
    }

    proptest! {
        #[test]
        fn any_text_with_guids_round_trips(
            parts in proptest::collection::vec(("[ -~]{0,40}", any::<[u8; 16]>(), any::<bool>()), 0..20),
        ) {
            let mut plain = String::new();
            for (text, guid, upper) in parts {
                plain.push_str(&text);
                let guid = uuid::Uuid::from_bytes(guid).hyphenated().to_string();
                plain.push_str(&if upper { guid.to_uppercase() } else { guid });
            }
            let out = packed(plain.as_bytes());
            prop_assert!(out.len() <= plain.len());
            prop_assert_eq!(unpacked(&out), plain.as_bytes());
        }

        #[test]
        fn any_bytes_unpack_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            let _ = unpack_into(&bytes, &mut out, 4096);
        }
    }
}
