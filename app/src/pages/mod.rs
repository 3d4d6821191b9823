//! One file per route. A page composes components and runs server functions through
//! actions and resources; it holds no rule the server does not enforce again.

use leptos::prelude::*;

pub mod audit;
pub mod home;
pub mod job;
pub mod jobs;
pub mod login;
pub mod mfa;
pub mod not_found;
pub mod profile;
pub mod recover;
pub mod register;
pub mod schedulers;
pub mod tools;
pub mod users;

/// The date part of an RFC 3339 timestamp ("2026-11-24T02:56:00Z" → "2026-11-24").
pub(crate) fn day(rfc3339: &str) -> &str {
    rfc3339.split('T').next().unwrap_or(rfc3339)
}

/// A size for people: "812 bytes", "64.0 KiB", "3.2 MiB", "15.6 GiB".
pub(crate) fn bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let x = n as f64;
    match n {
        n if n < 1 << 10 => format!("{n} bytes"),
        n if n < 1 << 20 => format!("{:.1} KiB", x / K),
        n if n < 1 << 30 => format!("{:.1} MiB", x / (K * K)),
        _ => format!("{:.1} GiB", x / (K * K * K)),
    }
}

/// A loading line for `<Suspense>`/`<Transition>` fallbacks.
pub(crate) fn loading() -> impl IntoView {
    view! { <p class="loading">"Loading…"</p> }
}
