//! The notes example's WASM entry point: vcore's app, with the notes pages, navigation entry
//! and tool installed first (the same extension the server installs).

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    vcore_app::ext::hydrate_with(notes_app::extension());
}
