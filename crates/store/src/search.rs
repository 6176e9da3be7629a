//! What a search of a manifest matches: a needle found, ignoring case, in an entry's id, name
//! or key. The store owns the rule because its name filters ([`crate::format::NameFilter`])
//! must agree with it exactly: a filter that said "no" where the rule says "yes" would lose
//! hits.

use crate::format::EntryText;

/// A search's needle: matches an entry whose id, name or key contains it, ignoring case (both
/// lower-cased with Rust's `str::to_lowercase`).
///
/// ```
/// use dirvault_store::{EntryText, Needle};
///
/// let needle = Needle::new("VANCE");
/// let adele = EntryText { id: "u1", name: Some("Adele Vance"), key: Some("adele@contoso.com") };
/// assert!(needle.matches(adele));
/// assert!(!Needle::new("megan").matches(adele));
/// ```
#[derive(Debug, Clone)]
pub struct Needle {
    lowered: String,
    finder: memchr::memmem::Finder<'static>,
    /// Its trigrams ([`trigrams_of`]), sorted and unique; none when it is shorter than three
    /// bytes.
    trigrams: Vec<u32>,
}

impl Needle {
    /// A needle (the empty one matches everything).
    pub fn new(needle: &str) -> Self {
        let lowered = needle.to_lowercase();
        let finder = memchr::memmem::Finder::new(lowered.as_bytes()).into_owned();
        let mut trigrams: Vec<u32> = trigrams_of(lowered.as_bytes()).collect();
        trigrams.sort_unstable();
        trigrams.dedup();
        Self {
            lowered,
            finder,
            trigrams,
        }
    }

    /// Whether an entry's id, name or key contains the needle, ignoring case.
    pub fn matches(&self, entry: EntryText<'_>) -> bool {
        thread_local! {
            // One lower-casing buffer per thread: chunks are searched on every core.
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUFFER.with_borrow_mut(|buf| {
            [Some(entry.id), entry.name, entry.key]
                .into_iter()
                .flatten()
                .any(|text| self.found_in(text, buf))
        })
    }

    /// Whether `haystack` contains the needle, ignoring case; allocates only for text that
    /// is not ASCII. ASCII text is lower-cased into `buf` and searched with a searcher made
    /// once: twice as fast as comparing each position in place (measured on 3M ids, names
    /// and UPNs: 66 ms against 140 ms).
    fn found_in(&self, haystack: &str, buf: &mut Vec<u8>) -> bool {
        if !haystack.is_ascii() {
            return haystack.to_lowercase().contains(&self.lowered);
        }
        buf.clear();
        buf.extend(haystack.bytes().map(|b| b.to_ascii_lowercase()));
        self.finder.find(buf).is_some()
    }

    /// The needle's trigrams, sorted and unique: a text that contains the needle contains
    /// each of them. None for a needle shorter than three bytes.
    pub(crate) fn trigrams(&self) -> &[u32] {
        &self.trigrams
    }

    /// Whether the needle could be found in an id made only of hex digits and hyphens (a
    /// GUID): name filters leave such ids out and answer "maybe" for these needles.
    pub(crate) fn may_be_in_hex_text(&self) -> bool {
        is_hex_text(&self.lowered)
    }
}

/// Each run of three bytes of `lowered` as a number (`b0 | b1 << 8 | b2 << 16`).
pub(crate) fn trigrams_of(lowered: &[u8]) -> impl Iterator<Item = u32> + '_ {
    lowered
        .windows(3)
        .map(|w| w.iter().rev().fold(0u32, |n, &b| (n << 8) | u32::from(b)))
}

/// Whether a text is made only of hex digits and hyphens (as GUIDs are), ignoring case.
pub(crate) fn is_hex_text(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Calls `each` with the trigrams of `text` lower-cased as [`Needle`] lower-cases.
pub(crate) fn lowered_trigrams(text: &str, buf: &mut Vec<u8>, each: &mut impl FnMut(u32)) {
    buf.clear();
    if text.is_ascii() {
        buf.extend(text.bytes().map(|b| b.to_ascii_lowercase()));
    } else {
        buf.extend_from_slice(text.to_lowercase().as_bytes());
    }
    trigrams_of(buf).for_each(each);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caseless_search_finds_ascii_and_unicode_text() {
        let mut buf = Vec::new();
        let adele = Needle::new("ADELE");
        for (text, found) in [
            ("Vance, Adele", true),
            ("adele", true),
            ("xADELEx", true),
            ("Adel Vance", false),
            ("Adel", false),
            ("", false),
        ] {
            assert_eq!(adele.found_in(text, &mut buf), found, "{text}");
        }
        assert!(Needle::new("émi").found_in("ÉMILE", &mut buf));
        assert!(!Needle::new("émi").found_in("emile", &mut buf));
        assert!(!Needle::new("émi").found_in("xemi", &mut buf));
        assert!(Needle::new("").found_in("anything", &mut buf));
        assert!(Needle::new("").found_in("", &mut buf));
        // Unicode lower-casing that lands in ASCII (the Kelvin sign is a `k`).
        assert!(Needle::new("k").found_in("\u{212A}elvin", &mut buf));
        assert!(Needle::new("2@CONTOSO").found_in("user2@contoso.com", &mut buf));
    }

    #[test]
    fn trigrams_are_the_runs_of_three_bytes() {
        assert_eq!(Needle::new("ab").trigrams(), &[] as &[u32]);
        let abc = u32::from(b'a') | u32::from(b'b') << 8 | u32::from(b'c') << 16;
        assert_eq!(Needle::new("ABC").trigrams(), &[abc]);
        assert_eq!(Needle::new("abcabc").trigrams().len(), 3);
        assert!(Needle::new("8AFC-02").may_be_in_hex_text());
        assert!(!Needle::new("adele").may_be_in_hex_text());
    }
}
