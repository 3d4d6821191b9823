//! SHA-2 digests of a text, in hex.

use super::Tool;

pub const TOOL: Tool = Tool {
    slug: "hash",
    title: "Hash",
    description: "The SHA-256 or SHA-512 digest of a text (UTF-8), in hex.",
    input_label: "Text",
    placeholder: "hello",
    multiline: true,
    option_label: "Algorithm",
    options: &[("sha256", "SHA-256"), ("sha512", "SHA-512")],
    #[cfg(feature = "ssr")]
    run,
};

#[cfg(feature = "ssr")]
fn run(input: &str, option: &str) -> Result<String, String> {
    use sha2::Digest;
    Ok(match option {
        "sha512" => hex::encode(sha2::Sha512::digest(input.as_bytes())),
        _ => hex::encode(sha2::Sha256::digest(input.as_bytes())),
    })
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    #[test]
    fn known_digests() {
        assert_eq!(
            super::run("hello", "sha256").unwrap(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(super::run("", "sha512").unwrap().len(), 128);
    }
}
