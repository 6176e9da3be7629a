//! Manifest chunks in their binary form. Decoding takes hostile bytes: it says what is
//! wrong, never panics.

use super::*;

/// A manifest chunk: entries whose locations name their pack by its number in `packs`, so that
/// a chunk names each pack once ([`EntryChunk::encode`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct EntryChunk {
    entries: Vec<PackedEntry>,
    packs: Vec<std::sync::Arc<str>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct PackedEntry(
    ObjectId,
    BlobId,
    Option<Text>,
    Option<Text>,
    Option<(usize, u64, u64, Option<InGroup>)>,
);

impl EntryChunk {
    /// The chunk of some entries.
    pub(crate) fn new(entries: &[ManifestEntry]) -> Self {
        let mut packs: Vec<std::sync::Arc<str>> = Vec::new();
        let entries = entries
            .iter()
            .map(|e| {
                let at = e.at.as_ref().map(|at| {
                    let pack = match packs.iter().position(|p| *p == at.pack) {
                        Some(i) => i,
                        None => {
                            packs.push(at.pack.clone());
                            packs.len() - 1
                        }
                    };
                    (pack, at.offset, at.length, at.group)
                });
                PackedEntry(e.id.clone(), e.blob, e.name.clone(), e.key.clone(), at)
            })
            .collect();
        Self { entries, packs }
    }

    /// The chunk in its binary encoding (see docs/storage-format.md): the magic
    /// `DVM6`, the width of its blob ids, the packs, then each entry's id (16 bytes for a
    /// GUID), blob id (16 or 32 bytes), name, key and location. One entry is about half its size in JSON and decodes without a
    /// parser.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.entries.len() * 112);
        out.extend_from_slice(BINARY_CHUNK);
        let width = id_width(self.entries.iter().map(|e| &e.1));
        out.push(width as u8);
        put_varint(&mut out, self.packs.len() as u64);
        for pack in &self.packs {
            put_text(&mut out, pack);
        }
        put_varint(&mut out, self.entries.len() as u64);
        for PackedEntry(id, blob, name, key, at) in &self.entries {
            put_entry_id(&mut out, id.as_str());
            out.extend_from_slice(&blob.0[..width]);
            put_optional_text(&mut out, name.as_deref());
            put_optional_text(&mut out, key.as_deref());
            match at {
                None => put_varint(&mut out, 0),
                Some((pack, offset, length, group)) => {
                    put_varint(&mut out, *pack as u64 + 1);
                    put_varint(&mut out, *offset);
                    put_varint(&mut out, *length);
                    match group {
                        None => put_varint(&mut out, 0),
                        Some(g) => {
                            put_varint(&mut out, u64::from(g.start) + 1);
                            put_varint(&mut out, u64::from(g.length));
                        }
                    }
                }
            }
        }
        out
    }

    /// Decodes a binary chunk (after its magic). Its input comes from storage: no arithmetic or
    /// indexing that could panic on hostile bytes (the lints keep it so).
    #[deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
    fn decode_binary(
        bytes: &[u8],
        version: ChunkVersion,
        keep: &dyn Fn(EntryText<'_>) -> bool,
    ) -> Result<Vec<ManifestEntry>, String> {
        /// An entry whose texts are still spans of the chunk's text buffer.
        struct Spans {
            id: Range<usize>,
            blob: BlobId,
            name: Option<Range<usize>>,
            key: Option<Range<usize>>,
            at: Option<BlobLocation>,
        }
        let mut r = Reader { bytes, at: 0 };
        let width = match version {
            ChunkVersion::V6 => read_id_width(&mut r)?,
            ChunkVersion::V4 | ChunkVersion::V5 => 32,
        };
        let packs = (0..r.count()?)
            .map(|_| r.text().map(std::sync::Arc::<str>::from))
            .collect::<Result<Vec<_>, String>>()?;
        let count = r.count()?;
        // Ids, names and keys go into one buffer; each entry keeps where its own are.
        let mut texts = String::new();
        fn push(texts: &mut String, text: &str) -> Range<usize> {
            let start = texts.len();
            texts.push_str(text);
            start..texts.len()
        }
        let mut spans = Vec::with_capacity(count);
        let mut guid_text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        for _ in 0..count {
            let id_span = match version {
                ChunkVersion::V4 => push(&mut texts, r.text()?),
                ChunkVersion::V5 | ChunkVersion::V6 => {
                    push(&mut texts, r.entry_id(&mut guid_text)?)
                }
            };
            let blob = read_id(&mut r, width)?;
            let mut optional = |texts: &mut String| -> Result<Option<Range<usize>>, String> {
                Ok(r.optional_text()?.map(|text| push(texts, text)))
            };
            let name = optional(&mut texts)?;
            let key = optional(&mut texts)?;
            let text = |span: &Range<usize>| texts.get(span.clone()).unwrap_or_default();
            let id = text(&id_span);
            let kept = keep(EntryText {
                id,
                name: name.as_ref().map(text),
                key: key.as_ref().map(text),
            });
            let at = match r.varint()? {
                0 => None,
                n => {
                    let pack = usize::try_from(n.saturating_sub(1))
                        .ok()
                        .and_then(|i| packs.get(i))
                        .ok_or_else(|| format!("entry {id} names pack #{n}, not listed"))?;
                    let (offset, length) = (r.varint()?, r.varint()?);
                    let group = match version {
                        ChunkVersion::V4 => None,
                        ChunkVersion::V5 | ChunkVersion::V6 => match r.varint()? {
                            0 => None,
                            start => Some(InGroup {
                                start: u32::try_from(start.saturating_sub(1))
                                    .map_err(|_| format!("entry {id}: a group of 4 GiB or more"))?,
                                length: u32::try_from(r.varint()?)
                                    .map_err(|_| format!("entry {id}: a group of 4 GiB or more"))?,
                            }),
                        },
                    };
                    Some(BlobLocation {
                        pack: pack.clone(),
                        offset,
                        length,
                        group,
                    })
                }
            };
            if !kept {
                // Its texts were the last pushed: the buffer holds only kept entries'.
                texts.truncate(id_span.start);
                continue;
            }
            spans.push(Spans {
                id: id_span,
                blob,
                name,
                key,
                at,
            });
        }
        if r.at != bytes.len() {
            return Err(format!(
                "{} bytes after the last entry",
                bytes.len().saturating_sub(r.at)
            ));
        }
        let texts = arcstr::ArcStr::from(texts);
        spans
            .into_iter()
            .map(|e| {
                Ok(ManifestEntry {
                    id: ObjectId::new_shared(texts.substr(e.id)).map_err(|e| e.to_string())?,
                    blob: e.blob,
                    name: e.name.map(|span| texts.substr(span)),
                    key: e.key.map(|span| texts.substr(span)),
                    at: e.at,
                })
            })
            .collect()
    }

    /// Decodes a manifest chunk into its entries.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<ManifestEntry>, String> {
        Self::decode_matching(bytes, &|_| true)
    }

    /// Decodes the entries of a manifest chunk that `keep` keeps; the others are read as
    /// strictly (every byte, every pack they name) but never made into entries, so their ids
    /// are not checked as ids: a search over a million names makes only its hits.
    pub(crate) fn decode_matching(
        bytes: &[u8],
        keep: &dyn Fn(EntryText<'_>) -> bool,
    ) -> Result<Vec<ManifestEntry>, String> {
        for (magic, version) in [
            (BINARY_CHUNK, ChunkVersion::V6),
            (BINARY_CHUNK_V5, ChunkVersion::V5),
            (BINARY_CHUNK_V4, ChunkVersion::V4),
        ] {
            if let Some(rest) = bytes.strip_prefix(magic) {
                return Self::decode_binary(rest, version, keep);
            }
        }
        Err("not a manifest chunk (it starts with none of `DVM6`, `DVM5`, `DVM4`)".into())
    }
}

/// Manifest chunks start with these bytes (JSON never does): `DVM6` is written; `DVM5`
/// (32-byte blob ids), written in session 24 of dirvault's development, and `DVM4` (ids as
/// text, no groups), written before, are still read.
pub(super) const BINARY_CHUNK: &[u8; 4] = b"DVM6";
const BINARY_CHUNK_V5: &[u8; 4] = b"DVM5";
const BINARY_CHUNK_V4: &[u8; 4] = b"DVM4";

/// Which encoding a chunk is in.
#[derive(Clone, Copy)]
enum ChunkVersion {
    V4,
    V5,
    V6,
}

/// The 16 bytes of an id that is a GUID in its canonical form (lowercase, hyphenated: what
/// Graph sends for directory object ids), so that it decodes to the very same text; `None`
/// for any other id, which is stored as text.
fn guid_bytes(id: &str) -> Option<[u8; 16]> {
    let guid = uuid::Uuid::try_parse(id).ok()?;
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    (guid.hyphenated().encode_lower(&mut text) == id).then(|| *guid.as_bytes())
}

/// How many bytes the ids of a chunk or index take: 16 when every one is short (a tenant
/// keyed since session 25), else 32. One rule, so that a chunk has one encoding.
pub(super) fn id_width<'a>(ids: impl IntoIterator<Item = &'a BlobId>) -> usize {
    match ids.into_iter().all(BlobId::is_short) {
        true => SHORT_ID_BYTES,
        false => 32,
    }
}

/// Reads an id width byte (16 or 32).
pub(super) fn read_id_width(r: &mut Reader) -> Result<usize, String> {
    match r.take(1)? {
        [16] => Ok(SHORT_ID_BYTES),
        [32] => Ok(32),
        other => Err(format!("blob ids of {other:?} bytes (16 or 32 expected)")),
    }
}

/// Reads one blob id of `width` bytes.
pub(super) fn read_id(r: &mut Reader, width: usize) -> Result<BlobId, String> {
    BlobId::from_significant(r.take(width)?).ok_or_else(|| "a blob id of another length".into())
}

/// Appends an object id: 0 and its 16 bytes for a GUID in canonical form, else its length
/// + 1 and its text.
pub(super) fn put_entry_id(out: &mut Vec<u8>, id: &str) {
    match guid_bytes(id) {
        Some(guid) => {
            put_varint(out, 0);
            out.extend_from_slice(&guid);
        }
        None => put_optional_text(out, Some(id)),
    }
}

/// Appends an optional text: 0 for none, else its length + 1 and its bytes.
pub(super) fn put_optional_text(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => put_varint(out, 0),
        Some(t) => {
            put_varint(out, t.len() as u64 + 1);
            out.extend_from_slice(t.as_bytes());
        }
    }
}

/// Appends `n` as a LEB128 varint.
pub(super) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends a length-prefixed string.
pub(super) fn put_text(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Reads a binary chunk, saying what is wrong with a malformed one.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// Reads what storage holds: no arithmetic or indexing that could panic on hostile bytes.
#[deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// Whether every byte has been read.
    pub(super) fn is_done(&self) -> bool {
        self.at == self.bytes.len()
    }

    /// Bytes not read yet.
    pub(super) fn left(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }

    pub(super) fn varint(&mut self) -> Result<u64, String> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .bytes
                .get(self.at)
                .ok_or("truncated: a number runs past the end")?;
            self.at = self.at.saturating_add(1);
            n |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(format!("a number longer than 64 bits at byte {}", self.at))
    }

    /// A count of items that must each take at least a byte.
    pub(super) fn count(&mut self) -> Result<usize, String> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.bytes.len().saturating_sub(self.at))
            .ok_or_else(|| format!("{n} items cannot fit in what is left of the chunk"))
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| format!("truncated: {n} bytes wanted at byte {}", self.at))?;
        let out = self
            .bytes
            .get(self.at..end)
            .ok_or_else(|| format!("truncated: {n} bytes wanted at byte {}", self.at))?;
        self.at = end;
        Ok(out)
    }

    /// An object id as [`put_entry_id`] wrote it; a GUID is spelled out into `guid_text`.
    pub(super) fn entry_id<'s>(
        &mut self,
        guid_text: &'s mut [u8; uuid::fmt::Hyphenated::LENGTH],
    ) -> Result<&'s str, String>
    where
        'a: 's,
    {
        match self.varint()? {
            0 => {
                let bytes: [u8; 16] = self.take(16)?.try_into().map_err(|_| "a short GUID")?;
                Ok(uuid::Uuid::from_bytes(bytes)
                    .hyphenated()
                    .encode_lower(guid_text))
            }
            n => self.utf8(usize::try_from(n.saturating_sub(1)).map_err(|e| e.to_string())?),
        }
    }

    /// An optional text as [`put_optional_text`] wrote it.
    pub(super) fn optional_text(&mut self) -> Result<Option<&'a str>, String> {
        Ok(match self.varint()? {
            0 => None,
            n => Some(self.utf8(usize::try_from(n.saturating_sub(1)).map_err(|e| e.to_string())?)?),
        })
    }

    fn utf8(&mut self, n: usize) -> Result<&'a str, String> {
        std::str::from_utf8(self.take(n)?).map_err(|e| format!("not UTF-8: {e}"))
    }

    pub(super) fn text(&mut self) -> Result<&'a str, String> {
        let n = usize::try_from(self.varint()?).map_err(|e| e.to_string())?;
        self.utf8(n)
    }
}
