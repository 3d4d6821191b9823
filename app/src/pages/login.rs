//! `/login`: the sign-in form. On success the session is refreshed and the frame's guard
//! moves on to the dashboard: a client-side navigation with JavaScript, a redirect chain
//! (back to `/login`, then 302 to `/`) without it.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::Login;
use crate::auth::use_auth;
use crate::components::forms::{action_error, Field, FormError};
use crate::components::shell::{use_site, AuthFrame};

#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = use_auth();
    let login = ServerAction::<Login>::new();
    auth.refresh_after(login);
    let error = action_error(login);
    view! {
        <Title text="Sign in" />
        <AuthFrame>
            <section class="card auth-card" aria-labelledby="sign-in-title">
                <h1 id="sign-in-title">"Sign in"</h1>
                <ActionForm action=login>
                    <Field label="Username" name="username" autocomplete="username" required=true error />
                    <Field
                        label="Password"
                        name="password"
                        kind="password"
                        autocomplete="current-password"
                        required=true
                        error
                    />
                    <FormError error fields=&["username", "password"] />
                    <button type="submit" class="button primary wide" disabled=move || login.pending().get()>
                        "Sign in"
                    </button>
                </ActionForm>
                <RecoveryHint />
                <RegisterHint />
            </section>
        </AuthFrame>
    }
}

/// A link to password recovery, when the server can send email.
#[component]
fn RecoveryHint() -> impl IntoView {
    let site = use_site();
    view! {
        <Transition>
            {move || {
                site.get().password_recovery.then(|| {
                    view! {
                        <p class="hint"><A href="/recover-password">"Forgot your password?"</A></p>
                    }
                })
            }}
        </Transition>
    }
}

/// A link to registration, when the server allows it.
#[component]
fn RegisterHint() -> impl IntoView {
    let site = use_site();
    view! {
        <Transition>
            {move || {
                site.get().open_registration.then(|| {
                    view! {
                        <p class="hint">"No account yet? " <A href="/register">"Create one"</A></p>
                    }
                })
            }}
        </Transition>
    }
}
