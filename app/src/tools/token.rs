//! UUIDs and random tokens from the operating system's random source.

use super::Tool;

pub const TOOL: Tool = Tool {
    slug: "token",
    title: "UUID and token generator",
    description: "Random UUIDs (version 4) or URL-safe tokens, for ids, API keys and secrets.",
    input_label: "How many (1–100)",
    placeholder: "5",
    multiline: false,
    option_label: "Kind",
    options: &[
        ("uuid", "UUID v4"),
        ("token32", "Token, 32 bytes (base64url)"),
        ("hex32", "Hex, 32 bytes"),
    ],
    #[cfg(feature = "ssr")]
    run,
};

#[cfg(feature = "ssr")]
fn run(input: &str, option: &str) -> Result<String, String> {
    use base64::Engine;
    use rand::RngCore;
    let n: usize = match input.trim() {
        "" => 1,
        s => s
            .parse()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| format!("expected a number from 1 to 100, got {s:?}"))?,
    };
    let one = || {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        match option {
            "token32" => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
            "hex32" => hex::encode(bytes),
            _ => uuid::Uuid::new_v4().to_string(),
        }
    };
    Ok((0..n).map(|_| one()).collect::<Vec<_>>().join("\n"))
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    #[test]
    fn makes_as_many_as_asked() {
        let out = super::run("3", "uuid").unwrap();
        assert_eq!(out.lines().count(), 3);
        assert!(out.lines().all(|l| uuid::Uuid::parse_str(l).is_ok()));
        assert_eq!(super::run("", "hex32").unwrap().len(), 64);
        assert!(super::run("0", "uuid").is_err());
    }
}
