//! Text put into a Graph URL: a key a caller names (a branding language, a permission grant
//! policy id, a UPN) as one path segment or query value.

/// `value` percent-encoded for a URL path segment or query value: RFC 3986 unreserved
/// characters stay, `@` too (UPNs read better, and Graph accepts it); everything else is
/// escaped.
pub fn path_segment(value: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'@');
    percent_encoding::utf8_percent_encode(value, KEEP).to_string()
}

#[cfg(test)]
mod tests {
    use super::path_segment;

    #[test]
    fn keys_stay_readable_and_everything_else_is_escaped() {
        assert_eq!(path_segment("fr-FR"), "fr-FR");
        assert_eq!(path_segment("adele@contoso.com"), "adele@contoso.com");
        assert_eq!(path_segment("a/b c?d#e"), "a%2Fb%20c%3Fd%23e");
    }
}
