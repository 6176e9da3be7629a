//! Blob compression: one zstd frame per blob (so that any blob is read alone), with the
//! tenant's dictionary for the blob's kind when it has one. Directory objects are small JSON
//! documents of one shape per kind: compressed alone they shrink about 2×, with a dictionary
//! trained on a couple of hundred of them about 10× (docs/storage-format.md, "Dictionaries").
//!
//! A frame names its dictionary by id (zstd writes the id in the frame header), so a reader
//! needs no other record of which dictionary a blob used.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;

use zstd::zstd_safe::{self, CCtx, CDict, DCtx, DDict};

/// The zstd level of blobs compressed alone (manifest chunks, changesets, relationship
/// chunks): mostly ids, which no level compresses, but the names and keys of manifest entries
/// gain from a closer search (0.4 MB of an L100k repository over level 1; level 9 gained
/// 0.03 MB more for 0.07 s more of the full snapshot: docs/benchmarks.md, session 25).
const LEVEL: i32 = 6;

/// The zstd level of groups of object versions (and of dictionaries, which only groups use).
/// Measured on L100k in docs/benchmarks.md (session 24).
pub(crate) const GROUP_LEVEL: i32 = 3;

/// The largest blob decompressed into a buffer sized from its frame header; larger or unsized
/// frames are streamed.
const MAX_SIZED_BLOB: u64 = 256 * 1024 * 1024;

/// The most a group's packed GUIDs may unpack to (a group is about 128 KB; any blob is
/// smaller than this).
pub(crate) const MAX_GROUP_BYTES: usize = MAX_SIZED_BLOB as usize;

/// Objects of a kind a dictionary is trained on; kinds with fewer new objects in a backup are
/// compressed without one (until a backup sees this many).
pub(crate) const DICTIONARY_SAMPLES: usize = 200;

/// The size of a trained dictionary.
const DICTIONARY_BYTES: usize = 32 * 1024;

thread_local! {
    // One zstd context per thread: creating one per blob cost more than compressing or
    // decompressing a small blob.
    static CCTX: RefCell<Option<CCtx<'static>>> = const { RefCell::new(None) };
    static DCTX: RefCell<Option<DCtx<'static>>> = const { RefCell::new(None) };
}

fn zstd_error(code: usize) -> io::Error {
    io::Error::other(zstd_safe::get_error_name(code))
}

/// A dictionary ready to compress one kind's blobs.
pub(crate) struct EncoderDictionary {
    id: u32,
    cdict: CDict<'static>,
}

impl EncoderDictionary {
    /// Prepares a stored dictionary; `None` if zstd cannot use it.
    pub(crate) fn new(bytes: &[u8]) -> Option<Self> {
        let id = dictionary_id(bytes)?;
        let cdict = CDict::try_create(bytes, GROUP_LEVEL)?;
        Some(Self { id, cdict })
    }
}

impl std::fmt::Debug for EncoderDictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncoderDictionary({:08x})", self.id)
    }
}

/// The dictionaries a tenant's blobs may name, by id.
#[derive(Default)]
pub(crate) struct DecoderDictionaries {
    by_id: HashMap<u32, DDict<'static>>,
}

impl DecoderDictionaries {
    /// Prepares stored dictionaries (ones zstd cannot read are left out: a blob naming one is
    /// then reported as unreadable).
    pub(crate) fn new<'a>(dictionaries: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let by_id = dictionaries
            .into_iter()
            .filter_map(|bytes| Some((dictionary_id(bytes)?, DDict::try_create(bytes)?)))
            .collect();
        Self { by_id }
    }

    /// Whether every dictionary the frame needs is here.
    pub(crate) fn can_read(&self, frame: &[u8]) -> bool {
        dictionary_of(frame).is_none_or(|id| self.by_id.contains_key(&id))
    }
}

impl std::fmt::Debug for DecoderDictionaries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DecoderDictionaries({} dictionaries)", self.by_id.len())
    }
}

/// A dictionary's id.
pub(crate) fn dictionary_id(dictionary: &[u8]) -> Option<u32> {
    zstd_safe::get_dict_id_from_dict(dictionary).map(std::num::NonZeroU32::get)
}

/// The dictionary a frame was compressed with, if any.
pub(crate) fn dictionary_of(frame: &[u8]) -> Option<u32> {
    zstd_safe::get_dict_id_from_frame(frame).map(std::num::NonZeroU32::get)
}

/// Trains a dictionary for a kind's groups on sample object versions, their GUIDs packed as
/// in a group ([`crate::guid_packing`]); `None` when zstd finds too little to learn from.
pub(crate) fn train(samples: &[Vec<u8>]) -> Option<Vec<u8>> {
    let packed: Vec<Vec<u8>> = samples
        .iter()
        .map(|sample| {
            let mut out = Vec::with_capacity(sample.len());
            match crate::guid_packing::pack_into(sample, &mut out) {
                true => out,
                false => sample.clone(),
            }
        })
        .collect();
    zstd::dict::from_samples(&packed, DICTIONARY_BYTES).ok()
}

/// The level dictionaries are stored at (a few per tenant, written once). Level 19 stored
/// L100k's 11 in 0.05 MB instead of 0.06 but took 0.1 s of a core, a twentieth of the full
/// snapshot (docs/benchmarks.md, session 25).
const DICTIONARY_STORAGE_LEVEL: i32 = 9;

/// How the first bytes of a zstd frame read.
const FRAME_MAGIC: [u8; 4] = 0xFD2F_B528u32.to_le_bytes();

/// A dictionary as stored: compressed (a trained dictionary is mostly sample text: L100k's
/// take 0.06 MB instead of 0.33: docs/benchmarks.md, session 25).
pub(crate) fn stored_dictionary(dictionary: &[u8]) -> Vec<u8> {
    compress_at(dictionary, None, DICTIONARY_STORAGE_LEVEL).unwrap_or_else(|_| dictionary.to_vec())
}

/// A stored dictionary's bytes: decompressed, or as they are when stored plain (as dirvault
/// did until session 25: a dictionary starts with its own magic, never a frame's).
pub(crate) fn dictionary_from_storage(stored: &[u8]) -> io::Result<Vec<u8>> {
    match stored.starts_with(&FRAME_MAGIC) {
        true => decompress(stored, &DecoderDictionaries::default()),
        false => Ok(stored.to_vec()),
    }
}

/// Compresses one blob into its own frame (which records its content size).
pub(crate) fn compress(
    bytes: &[u8],
    dictionary: Option<&EncoderDictionary>,
) -> io::Result<Vec<u8>> {
    compress_at(bytes, dictionary, LEVEL)
}

/// Compresses a group of object versions (their bytes back to back) into one frame.
pub(crate) fn compress_group(
    bytes: &[u8],
    dictionary: Option<&EncoderDictionary>,
) -> io::Result<Vec<u8>> {
    compress_at(bytes, dictionary, GROUP_LEVEL)
}

/// Compresses into one frame at `level` (a dictionary has its own: [`GROUP_LEVEL`]).
fn compress_at(
    bytes: &[u8],
    dictionary: Option<&EncoderDictionary>,
    level: i32,
) -> io::Result<Vec<u8>> {
    CCTX.with_borrow_mut(|slot| {
        let cctx = slot.get_or_insert_with(CCtx::create);
        let mut out = Vec::with_capacity(zstd_safe::compress_bound(bytes.len()));
        match dictionary {
            Some(d) => cctx.compress_using_cdict(&mut out, bytes, &d.cdict),
            None => cctx.compress(&mut out, bytes, level),
        }
        .map_err(zstd_error)?;
        // The bound is about the input's size, the frame a fifth of it: blobs wait in packs
        // being filled, so they keep only what they use.
        out.shrink_to_fit();
        Ok(out)
    })
}

thread_local! {
    /// Where [`with_decompressed`] decodes: one buffer per thread, reused.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Blobs this large are decoded into their own buffer rather than the thread's (which would
/// otherwise keep the largest blob ever read).
const SCRATCH_LIMIT: usize = 1 << 20;

/// Decompresses one frame into this thread's reused buffer and hands the bytes to `f`.
pub(crate) fn with_decompressed<R>(
    frame: &[u8],
    dictionaries: &DecoderDictionaries,
    f: impl FnOnce(&[u8]) -> R,
) -> io::Result<R> {
    let small = matches!(
        zstd_safe::get_frame_content_size(frame),
        Ok(Some(size)) if size <= SCRATCH_LIMIT as u64
    );
    if !small {
        return decompress(frame, dictionaries).map(|bytes| f(&bytes));
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            decompress_into(frame, dictionaries, &mut scratch)?;
            Ok(f(&scratch))
        }
        // Called again from within `f`: this one gets its own buffer.
        Err(_) => decompress(frame, dictionaries).map(|bytes| f(&bytes)),
    })
}

/// Decompresses one frame, with the dictionary it names.
pub(crate) fn decompress(frame: &[u8], dictionaries: &DecoderDictionaries) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    decompress_into(frame, dictionaries, &mut out)?;
    Ok(out)
}

/// Decompresses one frame into `out` (replacing what it held).
#[deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
fn decompress_into(
    frame: &[u8],
    dictionaries: &DecoderDictionaries,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let dictionary = match dictionary_of(frame) {
        None => None,
        Some(id) => Some(dictionaries.by_id.get(&id).ok_or_else(|| {
            io::Error::other(format!(
                "compressed with dictionary {id:08x}, which the repository does not have"
            ))
        })?),
    };
    let size = match zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) if size <= MAX_SIZED_BLOB => size,
        // Every frame is written with its size; one without (or claiming more than a blob
        // may hold: a few hostile bytes that would expand to gigabytes) is refused.
        Ok(Some(size)) => {
            return Err(io::Error::other(format!(
                "a blob that decompresses to {size} bytes, more than {MAX_SIZED_BLOB}"
            )));
        }
        _ => {
            return Err(io::Error::other(
                "a compressed blob that does not record its size",
            ));
        }
    };
    DCTX.with_borrow_mut(|slot| {
        let dctx = slot.get_or_insert_with(DCtx::create);
        out.clear();
        // `size` is at most MAX_SIZED_BLOB, which fits in usize.
        out.reserve(usize::try_from(size).unwrap_or(0));
        match dictionary {
            Some(d) => dctx.decompress_using_ddict(out, frame, d),
            None => dctx.decompress(out, frame),
        }
        .map_err(zstd_error)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(i: usize) -> Vec<u8> {
        format!(
            r#"{{"accountEnabled":true,"businessPhones":["+1 425 555 {i:04}"],"displayName":"User {i}","givenName":"User","id":"{i:08x}-0000-4000-8000-000000000000","jobTitle":"Engineer","mail":"user{i}@contoso.com","userPrincipalName":"user{i}@contoso.com"}}"#
        )
        .into_bytes()
    }

    #[test]
    fn dictionaries_are_stored_compressed_and_plain_ones_still_read() {
        let samples: Vec<Vec<u8>> = (0..DICTIONARY_SAMPLES).map(user).collect();
        let dict = train(&samples).unwrap();
        let stored = stored_dictionary(&dict);
        assert!(
            stored.len() * 2 < dict.len(),
            "{} of {}",
            stored.len(),
            dict.len()
        );
        assert_eq!(dictionary_from_storage(&stored).unwrap(), dict);
        // As stored until session 25.
        assert_eq!(dictionary_from_storage(&dict).unwrap(), dict);
        // A damaged frame is an error, not a dictionary.
        let mut damaged = stored.clone();
        damaged.truncate(stored.len() / 2);
        assert!(dictionary_from_storage(&damaged).is_err());
    }

    #[test]
    fn dictionaries_shrink_small_objects_and_frames_name_theirs() {
        let samples: Vec<Vec<u8>> = (0..DICTIONARY_SAMPLES).map(user).collect();
        let dict = train(&samples).unwrap();
        let encoder = EncoderDictionary::new(&dict).unwrap();
        let decoders = DecoderDictionaries::new([dict.as_slice()]);
        let blob = user(5000);
        let plain = compress(&blob, None).unwrap();
        let small = compress(&blob, Some(&encoder)).unwrap();
        assert!(
            small.len() * 2 < plain.len(),
            "{} vs {}",
            small.len(),
            plain.len()
        );
        assert_eq!(dictionary_of(&small), Some(dictionary_id(&dict).unwrap()));
        assert_eq!(dictionary_of(&plain), None);
        assert_eq!(decompress(&small, &decoders).unwrap(), blob);
        assert_eq!(
            decompress(&plain, &DecoderDictionaries::default()).unwrap(),
            blob
        );
        // Without its dictionary a frame is an error that names the dictionary.
        let err = decompress(&small, &DecoderDictionaries::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("{:08x}", dictionary_id(&dict).unwrap())),
            "{err}"
        );
        assert!(!DecoderDictionaries::default().can_read(&small));
        // A frame that does not record its size (a streaming encoder's) is refused.
        let unsized_frame = zstd::encode_all(blob.as_slice(), 3).unwrap();
        let err = decompress(&unsized_frame, &decoders).unwrap_err();
        assert!(err.to_string().contains("record its size"), "{err}");
    }
}

#[cfg(test)]
mod robustness {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Arbitrary bytes and mutations of real frames decompress or fail: never a panic.
        #[test]
        fn any_frame_decompresses_or_fails(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decompress(&bytes, &DecoderDictionaries::default());
        }

        #[test]
        fn mutated_frames_decompress_or_fail(
            seed in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..8),
            cut in any::<u16>(),
        ) {
            let plain = br#"{"id":"u1","displayName":"A user","mail":"a@contoso.com"}"#.repeat(20);
            let mut frame = compress(&plain, None).unwrap();
            for (at, byte) in seed {
                let i = usize::from(at) % frame.len();
                frame[i] ^= byte;
            }
            frame.truncate(usize::from(cut) % (frame.len() + 1));
            let _ = decompress(&frame, &DecoderDictionaries::default());
        }
    }

    // A frame that does not record its size and would expand past the bound is refused, not
    // decoded.
    #[test]
    fn an_unsized_frame_that_expands_past_the_bound_is_refused() {
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..(MAX_SIZED_BLOB / zeros.len() as u64 + 2) {
            std::io::Write::write_all(&mut encoder, &zeros).unwrap();
        }
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        let err = decompress(&bomb, &DecoderDictionaries::default()).unwrap_err();
        assert!(err.to_string().contains("record its size"), "{err}");
    }
}
