//! The server's integration tests: one binary (faster to link than one per file), real HTTP
//! against a server started in-process on port 0 with a fresh database per test.
//!
//! A short tour:
//! - [`helpers`]: `spawn_app`, the HTTP client helpers and the assertions every test uses.
//! - `pg` (from `vcore-testing`): a throwaway PostgreSQL cluster (one per test process, one
//!   database per test).
//! - [`cli`]: the binary itself: --help, bad config, zero-config first start, SIGTERM.
//! - [`crash`]: the job engine across SIGKILL, SIGSTOP (fencing) and SIGTERM of the binary.
//! - [`cluster`]: many `serve`/`worker` processes on one PostgreSQL: hints, kills and stopped
//!   queues across nodes, the node list, one scheduler run per tick, a worker killed, the
//!   database restarted under load.
//! - [`auth`]: sign-in, refresh rotation and reuse detection, sign-out, registration.
//! - [`users`]: the users endpoints, their effects and their invariants.
//! - [`audit`]: one audit entry per audited action (actor, key, target, outcome, address,
//!   request id); filters, paging, read-only.
//! - [`authz`]: one table: every endpoint from every side (anonymous, owner, other user,
//!   viewer, operator, superuser, and API keys with and without the scope it needs).
//! - [`api_keys`]: keys shown once, stored hashed, last use, revocation, expiry, the
//!   owner's deactivation and role, the WebSocket, `vcore api-key`.
//! - [`validation`]: bad input gets a 422 naming the field and changes nothing; no 500s.
//! - [`ops`]: health, readiness, request ids, the OpenAPI document and the docs page.
//! - [`csrf`]: cookie-authenticated writes from other origins are refused.
//! - [`jobs_api`]: the jobs REST API: jobs end to end (exit code, log, result), ownership,
//!   validation, kill, retry and cancel, consumers, conflicts, filters.
//! - [`metrics`]: `GET /metrics`: who may read it, promtool accepts it, jobs move the
//!   counters, a real Prometheus server scrapes it.
//! - [`mfa`]: two-factor sign-in: set-up with codes computed from the secret, a code used
//!   once, recovery codes spent once, throttling, a role that requires it, the reset.
//! - [`rate_limit`]: token buckets per caller and per address, 429 with Retry-After.
//! - [`schedulers`]: due runs fire once (also with concurrent firers), missed runs coalesce.
//! - [`ssrf`]: a regular user's api_post jobs cannot reach this machine or private
//!   networks (literals, names, redirects); the allow-list.
//! - [`server_fns`]: the Leptos server functions: statuses, permissions, CSRF.
//! - [`notify`]: password recovery and job alerts through a real SMTP server and a Telegram
//!   stand-in.
//! - [`ws`]: the live job-queue WebSocket: refusals, per-user events, resume.
//! - [`openapi`]: the committed `openapi.json` matches what the code serves.
//! - [`framework`]: an application built with `vcore_server::App`: its migrations, REST
//!   resource, script and scheduler, on both backends.
//!
//! The job store's and the runner's own tests need no HTTP: they are in `domain/tests`.
//!
//! Every behaviour test is written once as `async fn name(b: Backend)` and runs on both
//! backends through [`both_backends!`]: `name_sqlite` and `name_postgres`. The PostgreSQL
//! variants skip (with a line on stderr) when no PostgreSQL binaries are installed, unless
//! `VCORE_REQUIRE_POSTGRES=1`, which CI sets so that a missing install cannot pass silently.
//!
//! Run one group: `cargo test -p vcore-server --test api auth::`; one backend: `… sqlite`.
//! Server logs: `TEST_LOG=debug cargo test … -- --nocapture`.

// `both_backends!` and the PostgreSQL cluster come from vcore-testing (shared with the
// domain's tests and the example application's).
use vcore_testing::pg;

mod api_keys;
mod audit;
mod auth;
mod authz;
mod cli;
mod cluster;
mod crash;
mod csrf;
mod framework;
mod helpers;
mod jobs_api;
mod metrics;
mod mfa;
mod notify;
mod openapi;
mod ops;
mod rate_limit;
mod schedulers;
mod server_fns;
mod ssrf;
mod users;
mod validation;
mod ws;
