//! The quick tool `slugify`: a title into a URL slug (`Hello, World!` → `hello-world`).

use vcore_app::tools::Tool;

pub const TOOL: Tool = Tool {
    slug: "slugify",
    title: "Slugify",
    description: "Turns a title into a URL slug: lower case, ASCII letters and digits, dashes.",
    input_label: "Title",
    placeholder: "Hello, World!",
    multiline: false,
    option_label: "",
    options: &[],
    #[cfg(feature = "ssr")]
    run,
};

/// `input` as a slug, or why there is none.
pub fn slugify(input: &str) -> Result<String, String> {
    let mut slug = String::new();
    for c in input.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    match slug.is_empty() {
        true => Err("has no letters or digits to make a slug of".into()),
        false => Ok(slug),
    }
}

#[cfg(feature = "ssr")]
fn run(input: &str, _option: &str) -> Result<String, String> {
    slugify(input)
}

#[cfg(test)]
mod tests {
    #[test]
    fn makes_slugs() {
        assert_eq!(super::slugify("Hello, World!").unwrap(), "hello-world");
        assert_eq!(super::slugify("  Ünïcode  2026 ").unwrap(), "n-code-2026");
        assert!(super::slugify("?!").is_err());
    }
}
