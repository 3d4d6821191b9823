//! The notes example's server: [`app`] names every part it adds to vcore, and [`api`] is
//! its REST resource. `main.rs` runs vcore's command line with it; the tests build it.

pub mod api;

use vcore_server::App;

/// vcore plus the notes parts.
pub fn app() -> App {
    App::new("notes")
        .migrations(notes_app::server::MIGRATIONS)
        .script(notes_app::server::Digest)
        .scheduler(notes_app::server::nightly_digest())
        .api(api::router())
        .ui(notes_app::extension())
}
