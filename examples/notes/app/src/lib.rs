//! The notes example: an application built on vcore without editing it. This crate is its
//! UI and rules, compiled into both of its binaries (like `vcore_app`): with `ssr` into the
//! server, with `hydrate` into the WASM bundle.
//!
//! - [`extension`]: what it adds to vcore's web app (the page, its navigation entry, a tool).
//! - [`types`]: the wire types of its REST resource and server functions.
//! - [`api`]: its server functions.
//! - [`pages`]: the `/notes` page.
//! - [`slugify`]: its quick tool.
//! - `server` (ssr): its table, queries, script, scheduler and migrations.

pub mod api;
pub mod pages;
pub mod slugify;
pub mod types;

#[cfg(feature = "ssr")]
pub mod server;

use leptos::prelude::*;
use vcore_app::ext::Extension;

/// The UI parts: installed by the server (`App::ui`) and by the WASM entry point
/// (`vcore_app::ext::hydrate_with`), the same in both.
pub fn extension() -> Extension {
    Extension::new()
        .page("/notes", || view! { <pages::NotesPage /> }.into_any())
        .page("/notes/:id", || view! { <pages::NotePage /> }.into_any())
        .nav("Notes", "/notes")
        .tool(&slugify::TOOL)
}
