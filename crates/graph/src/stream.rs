//! Stream bodies: the bytes of an `Edm.Stream` property (a branding logo, an image, CSS),
//! carried through the client as an RFC 2397 `data:` URI string, so that a stream travels
//! where JSON does — a backed-up object, a restore plan — and keeps its media type.
//!
//! A response whose `Content-Type` is neither JSON nor XML comes back from
//! [`crate::GraphClient::send`] as such a string; a request whose body is such a string is sent
//! as its bytes with its media type (organizationalbrandinglocalization-update.md: streams are
//! written with `PUT` and an `image/*` body).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The `data:` URI of `bytes` with media type `content_type`.
pub fn to_data_uri(content_type: &str, bytes: &[u8]) -> String {
    format!("data:{content_type};base64,{}", STANDARD.encode(bytes))
}

/// The media type and bytes of a `data:` URI; `None` for any other string or a malformed URI.
pub fn from_data_uri(text: &str) -> Option<(String, Vec<u8>)> {
    if !text.starts_with("data:") {
        return None;
    }
    let url = data_url::DataUrl::process(text).ok()?;
    let mime = url.mime_type().to_string();
    let (bytes, _) = url.decode_to_vec().ok()?;
    Some((mime, bytes))
}

/// How a `data:` URI is shown to people: its media type, size and the start of its SHA-256
/// (`<image/png, 67 bytes, sha256 3f1c…>`), rather than pages of base64; `None` for any other
/// string.
pub fn describe(text: &str) -> Option<String> {
    use sha2::Digest;
    let (media, bytes) = from_data_uri(text)?;
    let digest = hex::encode(sha2::Sha256::digest(&bytes));
    Some(format!(
        "<{media}, {} bytes, sha256 {}…>",
        bytes.len(),
        &digest[..12]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_stream_survives_the_round_trip_with_its_media_type() {
        let png = [0x89, b'P', b'N', b'G', 0, 1, 2, 255];
        let uri = to_data_uri("image/png", &png);
        assert!(uri.starts_with("data:image/png;base64,"));
        assert_eq!(
            from_data_uri(&uri),
            Some(("image/png".into(), png.to_vec()))
        );
    }

    #[test]
    fn a_stream_is_described_by_type_size_and_digest() {
        let text = describe(&to_data_uri("image/png", b"logo")).unwrap();
        assert!(text.starts_with("<image/png, 4 bytes, sha256 "), "{text}");
        assert_eq!(describe("Contoso"), None);
    }

    #[test]
    fn other_strings_are_not_streams() {
        assert_eq!(from_data_uri("Contoso"), None);
        assert_eq!(from_data_uri(""), None);
        assert_eq!(from_data_uri("https://example.com/logo.png"), None);
    }

    proptest! {
        #[test]
        fn any_string_decodes_without_a_panic(text in ".{0,200}") {
            let _ = from_data_uri(&format!("data:{text}"));
        }

        #[test]
        fn any_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let uri = to_data_uri("application/octet-stream", &bytes);
            prop_assert_eq!(from_data_uri(&uri).map(|(_, b)| b), Some(bytes));
        }
    }
}
