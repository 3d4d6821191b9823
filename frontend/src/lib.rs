//! The WASM entry points, and nothing else: the UI itself is `vcore_app`.
//! - `hydrate` (default, built by `xtask/` or cargo-leptos): takes over the page the server rendered.
//! - `csr` (built by Trunk, see `Trunk.toml`): renders the whole app in the browser and
//!   calls the server functions over HTTP at the same origin.

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(vcore_app::App);
}

#[cfg(feature = "csr")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(vcore_app::App);
}
