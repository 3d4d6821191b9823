//! Base64 encoding and decoding (standard and URL-safe alphabets).

use super::Tool;

pub const TOOL: Tool = Tool {
    slug: "base64",
    title: "Base64",
    description: "Encode a text as Base64, or decode Base64 back to text.",
    input_label: "Text or Base64",
    placeholder: "aGVsbG8=",
    multiline: true,
    option_label: "Direction",
    options: &[
        ("encode", "Encode"),
        ("decode", "Decode"),
        ("encode-url", "Encode (URL-safe)"),
    ],
    #[cfg(feature = "ssr")]
    run,
};

#[cfg(feature = "ssr")]
fn run(input: &str, option: &str) -> Result<String, String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine;
    match option {
        "encode-url" => Ok(URL_SAFE_NO_PAD.encode(input.as_bytes())),
        "decode" => {
            let cleaned: String = input.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = STANDARD
                .decode(&cleaned)
                .or_else(|_| URL_SAFE.decode(&cleaned))
                .or_else(|_| URL_SAFE_NO_PAD.decode(cleaned.trim_end_matches('=')))
                .map_err(|e| format!("not Base64: {e}"))?;
            String::from_utf8(bytes).map_err(|_| "decodes to bytes that are not UTF-8 text".to_string())
        }
        _ => Ok(STANDARD.encode(input.as_bytes())),
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    #[test]
    fn round_trips() {
        assert_eq!(super::run("hello", "encode").unwrap(), "aGVsbG8=");
        assert_eq!(super::run("aGVsbG8=", "decode").unwrap(), "hello");
        assert_eq!(super::run("aGVsbG8", "decode").unwrap(), "hello");
        assert!(super::run("!!", "decode").is_err());
    }
}
