//! Quick tools: small utilities that share one page shell (title, description, form,
//! loading, error, result) at `/tools/{slug}`, listed at `/tools`.
//!
//! Adding a tool to vcore is one file in this folder (a [`Tool`] named `TOOL`, with its
//! `run` function) and one line in [`TOOLS`]; an application adds its own with
//! [`crate::ext::Extension::tool`]. `run` executes on the server (a server function
//! dispatches by slug), so a tool may use anything the server has, and the forms work
//! without JavaScript.

use leptos::prelude::*;

use crate::types::AppError;

mod base64;
mod cron;
mod hash;
mod json;
mod timestamp;
mod token;

#[cfg(feature = "ssr")]
pub use cron::next_runs as cron_next_runs;

/// Every tool, in the order the index shows them. Register a new one here.
pub const TOOLS: &[Tool] = &[
    cron::TOOL,
    json::TOOL,
    token::TOOL,
    hash::TOOL,
    base64::TOOL,
    timestamp::TOOL,
];

/// A tool's description and its server-side function.
pub struct Tool {
    /// Its address: `/tools/{slug}`.
    pub slug: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// Label and placeholder of the main input.
    pub input_label: &'static str,
    pub placeholder: &'static str,
    /// A text area instead of a one-line input.
    pub multiline: bool,
    /// Label of the choice (empty: no choice) and its options (value, label); the first is
    /// the default.
    pub option_label: &'static str,
    pub options: &'static [(&'static str, &'static str)],
    /// Input and chosen option → the result text, or a message saying what is wrong.
    #[cfg(feature = "ssr")]
    pub run: fn(&str, &str) -> Result<String, String>,
}

/// vcore's tools, then the application's (see [`crate::ext`]).
pub fn all() -> impl Iterator<Item = &'static Tool> {
    TOOLS.iter().chain(crate::ext::installed().tools.iter().copied())
}

pub fn find(slug: &str) -> Option<&'static Tool> {
    all().find(|t| t.slug == slug)
}

/// Runs the tool `tool` (signed-in users). A tool's refusal is a 422 naming `input`.
#[server]
pub async fn run_tool(
    tool: String,
    #[server(default)] input: String,
    #[server(default)] option: String,
) -> Result<String, AppError> {
    crate::api::ctx::user().await?;
    let t = find(&tool).ok_or_else(|| AppError::NotFound(format!("no tool named {tool:?}")))?;
    if input.len() > 1_000_000 {
        return Err(AppError::Invalid {
            field: "input".into(),
            message: "is longer than 1 MB".into(),
        });
    }
    let option = match option.is_empty() {
        true => t.options.first().map(|o| o.0).unwrap_or_default().to_string(),
        false => option,
    };
    if !t.options.is_empty() && !t.options.iter().any(|o| o.0 == option) {
        return Err(AppError::Invalid {
            field: "option".into(),
            message: format!(
                "must be one of {}",
                t.options.iter().map(|o| o.0).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    (t.run)(&input, &option).map_err(|message| AppError::Invalid {
        field: "input".into(),
        message,
    })
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique_and_options_have_defaults() {
        let mut slugs: Vec<_> = TOOLS.iter().map(|t| t.slug).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), TOOLS.len());
        for t in TOOLS {
            assert_eq!(t.options.is_empty(), t.option_label.is_empty(), "{}", t.slug);
        }
    }
}
