//! JSON formatter and validator: pretty-prints or minifies, or says where the text stops
//! being JSON (line and column).

use super::Tool;

pub const TOOL: Tool = Tool {
    slug: "json",
    title: "JSON formatter",
    description: "Check that a text is valid JSON, then indent it for reading or minify it.",
    input_label: "JSON",
    placeholder: "{\"name\": \"vcore\", \"tags\": [1, 2]}",
    multiline: true,
    option_label: "Output",
    options: &[("pretty", "Indented"), ("minify", "Minified")],
    #[cfg(feature = "ssr")]
    run,
};

#[cfg(feature = "ssr")]
fn run(input: &str, option: &str) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_str(input)
        .map_err(|e| format!("not valid JSON at line {}, column {}: {e}", e.line(), e.column()))?;
    Ok(match option {
        "minify" => value.to_string(),
        _ => serde_json::to_string_pretty(&value).unwrap_or_default(),
    })
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    #[test]
    fn formats_minifies_and_locates_errors() {
        assert_eq!(
            super::run(r#"{ "a" : [1,2] }"#, "minify").unwrap(),
            r#"{"a":[1,2]}"#
        );
        assert_eq!(super::run(r#"{"a":1}"#, "pretty").unwrap(), "{\n  \"a\": 1\n}");
        let e = super::run("{\n  \"a\": tru }", "pretty").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }
}
