//! `/`: the dashboard. For now a greeting, the account's facts and the ways onward; system
//! status, queues and jobs arrive with the job engine (see the spec, S4–S7).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::auth::use_auth;
use crate::pages::{day, loading};
use crate::types::UserPublic;

#[component]
pub fn HomePage() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Title text="Home" />
        <Transition fallback=loading>
            {move || auth.current().map(|me| view! { <Dashboard me /> })}
        </Transition>
    }
}

#[component]
fn Dashboard(me: UserPublic) -> impl IntoView {
    let name = me
        .full_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| me.username.clone());
    let role = if me.is_superuser { "Superuser" } else { "User" };
    let since = day(&me.created_at).to_string();
    view! {
        <header class="page-head">
            <h1>{format!("Welcome, {name}")}</h1>
            <p class="muted">"Your workspace at a glance."</p>
        </header>
        <section class="card" aria-labelledby="account-title">
            <h2 id="account-title">"Your account"</h2>
            <dl class="facts">
                <div>
                    <dt>"Username"</dt>
                    <dd>{me.username}</dd>
                </div>
                <div>
                    <dt>"Email"</dt>
                    <dd>{me.email}</dd>
                </div>
                <div>
                    <dt>"Role"</dt>
                    <dd>{role}</dd>
                </div>
                <div>
                    <dt>"Member since"</dt>
                    <dd><time datetime=me.created_at>{since}</time></dd>
                </div>
            </dl>
        </section>
        // Link names differ from the main navigation's ("Users", "Profile", "API docs") so
        // that each accessible name on the page is unique.
        <section aria-labelledby="onward-title">
            <h2 id="onward-title">"Where to next"</h2>
            <ul class="tiles">
                {me.is_superuser.then(|| view! {
                    <li>
                        <A href="/users">
                            <strong>"Manage accounts"</strong>
                            <span>"Create, activate and deactivate accounts"</span>
                        </A>
                    </li>
                })}
                <li>
                    <A href="/profile">
                        <strong>"Account settings"</strong>
                        <span>"Email, name and password"</span>
                    </A>
                </li>
                <li>
                    <a href="/docs" rel="external">
                        <strong>"REST reference"</strong>
                        <span>"OpenAPI documentation for scripts and integrations"</span>
                    </a>
                </li>
            </ul>
        </section>
        <p class="muted">"Jobs, schedulers and live system status will appear here in a later release."</p>
    }
}
