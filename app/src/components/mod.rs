//! Reusable pieces of the UI. They display state and wire up controls; the only server
//! function called from here is sign-out, in the shell's user menu.

pub mod ansi;
pub mod forms;
pub mod live;
pub mod shell;
pub mod theme;
