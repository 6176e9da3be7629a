//! How `show` prints a stored value in text: as JSON, but a stream (a branding image or CSS,
//! kept as a `data:` URI) described ([`dirvault_graph::stream::describe`]) — its base64 would
//! fill the screen. `--json` prints the value whole.

use serde_json::Value;

/// `value` as text for a terminal.
pub(crate) fn shown(value: &Value) -> String {
    value
        .as_str()
        .and_then(dirvault_graph::stream::describe)
        .unwrap_or_else(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::shown;
    use serde_json::json;

    #[test]
    fn a_stream_is_described_and_anything_else_is_json() {
        let uri = dirvault_graph::stream::to_data_uri("image/png", b"logo");
        assert!(shown(&json!(uri)).starts_with("<image/png, 4 bytes"));
        assert_eq!(shown(&json!("Contoso")), "\"Contoso\"");
        assert_eq!(shown(&json!({"a": 1})), "{\"a\":1}");
    }
}
