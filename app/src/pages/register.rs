//! `/register`: open registration, offered only when the server enables it (the domain
//! refuses it otherwise). A new account is signed in right away, then sent to `/`.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::Register;
use crate::auth::use_auth;
use crate::components::forms::{action_error, Field, FormError};
use crate::components::shell::{use_site, AuthFrame};

#[component]
pub fn RegisterPage() -> impl IntoView {
    view! {
        <Title text="Create account" />
        <AuthFrame>
            <RegisterCard />
        </AuthFrame>
    }
}

#[component]
fn RegisterCard() -> impl IntoView {
    let site = use_site();
    view! {
        <Transition>
            {move || {
                if site.get().open_registration {
                    Either::Left(view! { <RegisterForm /> })
                } else {
                    Either::Right(view! {
                        <section class="card auth-card">
                            <h1>"Registration is closed"</h1>
                            <p>"Ask an administrator to create an account for you."</p>
                            <p class="hint"><A href="/login">"Back to sign in"</A></p>
                        </section>
                    })
                }
            }}
        </Transition>
    }
}

#[component]
fn RegisterForm() -> impl IntoView {
    let register = ServerAction::<Register>::new();
    use_auth().refresh_after(register);
    let error = action_error(register);
    view! {
        <section class="card auth-card" aria-labelledby="register-title">
            <h1 id="register-title">"Create account"</h1>
            <ActionForm action=register>
                <Field label="Username" name="username" autocomplete="username" required=true error />
                <Field label="Email" name="email" kind="email" autocomplete="email" required=true error />
                <Field label="Password" name="password" kind="password" autocomplete="new-password" required=true error />
                <Field label="Full name" name="full_name" autocomplete="name" error />
                <FormError error fields=&["username", "email", "password", "full_name"] />
                <button type="submit" class="button primary wide" disabled=move || register.pending().get()>
                    "Create account"
                </button>
            </ActionForm>
            <p class="hint">"Already registered? " <A href="/login">"Sign in"</A></p>
        </section>
    }
}
