//! vcore's web UI, compiled three ways: with `ssr` into the server (rendering pages and
//! running server functions), with `hydrate` into the WASM bundle that takes over the
//! server-rendered page, and with `csr` into the client-only Trunk build. It holds no
//! business rules and no SQL: every server function hands its request to `vcore_domain`.
//!
//! A short tour:
//! - [`types`]: the wire types shared with the REST API, and [`types::AppError`].
//! - `convert` (server only): domain ⇄ wire conversions, shared with the REST handlers.
//! - [`api`]: the server functions, one file per area; the only code that reaches the domain.
//! - [`auth`]: the signed-in user and the site facts as app-wide reactive state.
//! - [`app`]: the root component, the route table and the HTML document shell.
//! - [`components`]: the app shell, the theme switch and form building blocks.
//! - [`pages`]: one file per route.
//! - [`ext`]: what an application built on vcore adds (pages, navigation, tools).
//! - [`tools`]: the quick tools (one file each) behind one page shell.

#[cfg(feature = "ssr")]
pub mod convert;
pub mod types;

pub mod api;
pub mod app;
pub mod auth;
pub mod components;
pub mod ext;
pub mod pages;
pub mod tools;

pub use app::{shell, App};
