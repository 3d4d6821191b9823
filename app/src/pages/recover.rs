//! `/recover-password` (ask for a recovery email) and `/reset-password?token=…` (the link in
//! that email: choose a new password). Both work without JavaScript. The first answers the
//! same whether or not the address has an account; the server decides everything else.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::{RecoverPassword, ResetPassword};
use crate::components::forms::{action_error, succeeded, Field, FormError};
use crate::components::shell::AuthFrame;

#[component]
pub fn RecoverPasswordPage() -> impl IntoView {
    let recover = ServerAction::<RecoverPassword>::new();
    let error = action_error(recover);
    let sent = succeeded(recover);
    view! {
        <Title text="Recover password" />
        <AuthFrame>
            <section class="card auth-card" aria-labelledby="recover-title">
                <h1 id="recover-title">"Recover password"</h1>
                <Show
                    when=move || sent.get()
                    fallback=move || view! {
                        <p>"Enter your account's email address and we will send you a link to choose a new password."</p>
                        <ActionForm action=recover>
                            <Field label="Email" name="email" kind="email" autocomplete="email" required=true error />
                            <FormError error fields=&["email"] />
                            <button type="submit" class="button primary wide" disabled=move || recover.pending().get()>
                                "Send recovery email"
                            </button>
                        </ActionForm>
                    }
                >
                    <p role="status">
                        "If that address belongs to an account, a recovery email is on its way. "
                        "The link in it works once."
                    </p>
                </Show>
                <p class="hint"><A href="/login">"Back to sign in"</A></p>
            </section>
        </AuthFrame>
    }
}

#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.with(|q| q.get("token").unwrap_or_default());
    let reset = ServerAction::<ResetPassword>::new();
    let error = action_error(reset);
    let done = succeeded(reset);
    view! {
        <Title text="Choose a new password" />
        <AuthFrame>
            <section class="card auth-card" aria-labelledby="reset-title">
                <h1 id="reset-title">"Choose a new password"</h1>
                {move || match (done.get(), token().is_empty()) {
                    (true, _) => Either::Left(Either::Left(view! {
                        <p role="status">"Password updated. Sign in with the new one; other devices were signed out."</p>
                        <p class="hint"><A href="/login">"Sign in"</A></p>
                    })),
                    (false, true) => Either::Left(Either::Right(view! {
                        <p class="form-error" role="alert">
                            "This page needs the link from a recovery email. "
                            <A href="/recover-password">"Ask for one"</A>
                        </p>
                    })),
                    (false, false) => Either::Right(view! {
                        <ActionForm action=reset>
                            <input type="hidden" name="token" value=token />
                            <Field
                                label="New password"
                                name="new_password"
                                kind="password"
                                autocomplete="new-password"
                                required=true
                                error
                            />
                            <FormError error fields=&["new_password"] />
                            <button type="submit" class="button primary wide" disabled=move || reset.pending().get()>
                                "Set password"
                            </button>
                        </ActionForm>
                        <p class="hint"><A href="/recover-password">"Ask for a new link"</A></p>
                    }),
                }}
            </section>
        </AuthFrame>
    }
}
