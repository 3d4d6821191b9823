//! vcore's server-only core: everything the REST handlers and the Leptos server functions
//! share, so that both stay thin adapters. It knows nothing about HTTP servers or Leptos.
//!
//! A short tour:
//! - [`config`]: settings from the environment and `.env`, generated secrets, validation.
//! - [`files`]: private files (0600/0700) and random secrets.
//! - [`db`]: the connection pool (SQLite or PostgreSQL behind one code path), migrations.
//! - [`schema`]: the Diesel table definitions, shared by both backends.
//! - [`validate`]: parsed input types (`Username`, `Email`, `Password`, …).
//! - [`password`]: Argon2id hashing, always off the async executor.
//! - [`tokens`]: JWT access/refresh encoding and checking.
//! - [`jobs`]: the job model and state machine, and (in `jobs::store`) all queue SQL.
//! - [`access`]: who is acting ([`access::Actor`]: a user's role, narrowed by a key's scopes).
//! - [`api_keys`]: API keys (created, listed, revoked, authenticated).
//! - [`audit`]: the append-only audit log (who, what, target, when, from where, outcome).
//! - [`users`]: the users service (create, list, update, delete, first superuser).
//! - [`notify`]: email (SMTP) and Telegram notifications, sent in the background with retries.
//! - [`rate_limit`]: token buckets per caller and per address for the API.
//! - [`recovery`]: password recovery by emailed, single-use tokens.
//! - [`sessions`]: sign-in, refresh rotation with reuse detection, sign-out.
//! - [`session_http`]: reading credentials (bearer header or cookies) from request headers.
//! - [`services`]: [`Services`], the one handle the adapters hold.
//! - [`extend`]: what an application built on vcore adds (scripts, migrations, schedulers).
//! - [`error`]: [`DomainError`], the one error type of this layer.

pub mod access;
pub mod api_keys;
pub mod audit;
pub mod cluster;
pub mod config;
pub mod db;
pub mod error;
pub mod extend;
pub mod files;
pub mod jobs;
pub mod metrics;
pub mod mfa;
pub mod notify;
pub mod password;
pub mod rate_limit;
pub mod recovery;
pub mod relay;
pub mod schema;
pub mod services;
pub mod session_http;
pub mod sessions;
pub mod tokens;
pub mod users;
pub mod validate;

pub use config::Config;
// The versions an application's own queries must use (see docs/extending.md).
pub use error::DomainError;
pub use extend::Extensions;
pub use services::Services;
pub use {diesel, diesel_async, diesel_migrations};
