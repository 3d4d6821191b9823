//! The vcore server: HTTP in front of `vcore_domain`, and the Leptos app served from it.
//!
//! - [`App`]: the builder an application's `main.rs` calls (vcore's own included), and
//!   [`prelude`], what an application's crates may rely on.
//! - [`cli`]: the `vcore` command line (serve, worker, migrate, create-superuser, enqueue,
//!   jobs list, nodes, openapi, bench); [`jobs_cli`] holds the job and node commands,
//!   [`bench`], [`bench_ws`] and [`bench_nodes`] the benchmarks.
//! - [`startup`]: [`startup::Application`]: build (migrate, bind) then serve; shutdown.
//! - [`http`]: state, REST API (one module per resource), OpenAPI + docs, probes, middleware.
//! - [`web`]: server-side rendering, server functions and static files.
//! - [`telemetry`]: tracing setup.

// Leptos view types nest deeply; the release build needs more than the default 128.
#![recursion_limit = "512"]

mod app;
pub mod bench;
pub mod bench_nodes;
pub mod bench_ws;
pub mod cli;
pub mod http;
pub mod jobs_cli;
pub mod keys_cli;
pub mod prelude;
pub mod pwa;
pub mod startup;
pub mod telemetry;
pub mod web;

pub use app::App;
