//! Fallback for unknown paths: a plain page, independent of data and session, served with
//! a 404 status so that nothing caches it as content.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    platform::mark_not_found();
    view! {
        <Title text="Page not found" />
        <main id="main" class="auth-main">
            <section class="card auth-card">
                <h1>"Page not found"</h1>
                <p>"There is nothing at this address."</p>
                <p><a class="button" href="/">"Go to the dashboard"</a></p>
            </section>
        </main>
    }
}

#[cfg(feature = "ssr")]
mod platform {
    pub fn mark_not_found() {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::NOT_FOUND);
        }
    }
}

#[cfg(not(feature = "ssr"))]
mod platform {
    pub fn mark_not_found() {}
}
