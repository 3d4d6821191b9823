//! `/login`: the sign-in form. On success the session is refreshed and the frame's guard
//! moves on to the dashboard: a client-side navigation with JavaScript, a redirect chain
//! (back to `/login`, then 302 to `/`) without it.
//!
//! Two-factor sign-in: when the server answers that a code is needed, a code field joins
//! the form and the same form is sent again with it. When the account's role requires a
//! second factor it does not have yet, the page sets one up (the QR code and the secret);
//! signing in with its first code turns it on and shows the recovery codes, once, before
//! going on.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::{setup_mfa_at_sign_in, Login};
use crate::auth::use_auth;
use crate::components::forms::{action_error, Field, FormError};
use crate::components::shell::{use_site, AuthFrame};
use crate::pages::mfa::{MfaSetupView, RecoveryCodesView};
use crate::types::{AppError, MFA_ENROL, MFA_INVALID, MFA_REQUIRED};

#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = use_auth();
    let login = ServerAction::<Login>::new();
    // The last credentials sent: the set-up at sign-in needs them again.
    let sent = RwSignal::new(None::<(String, String)>);
    Effect::new(move |_| {
        if let Some(l) = login.input().get() {
            sent.set(Some((l.username, l.password)));
        }
    });
    // Signed in: go on, unless there are recovery codes to show first.
    let codes = Memo::new(move |_| {
        login.value().with(|v| match v {
            Some(Ok(s)) => Some(s.recovery_codes.clone()),
            _ => None,
        })
    });
    Effect::new(move |_| {
        if codes.get().is_some_and(|c| c.is_empty()) {
            auth.refresh();
        }
    });
    let error = action_error(login);
    let needs = move |msgs: &[&str]| {
        error.with(|e| matches!(e, Some(AppError::Unauthorized(m)) if msgs.contains(&m.as_str())))
    };
    // The code field stays once asked for (a wrong code is asked again).
    let asked = RwSignal::new(false);
    Effect::new(move |_| {
        if needs(&[MFA_REQUIRED, MFA_INVALID, MFA_ENROL]) {
            asked.set(true);
        }
    });
    let setup = Action::new(move |creds: &(String, String)| {
        let (u, p) = creds.clone();
        setup_mfa_at_sign_in(u, p)
    });
    let enrol = move || needs(&[MFA_ENROL]) || setup.value().with(Option::is_some);
    view! {
        <Title text="Sign in" />
        <AuthFrame>
            <section class="card auth-card" aria-labelledby="sign-in-title">
                <h1 id="sign-in-title">"Sign in"</h1>
                {move || match codes.get().filter(|c| !c.is_empty()) {
                    Some(c) => view! {
                        <RecoveryCodesView codes=c />
                        <button type="button" class="button primary wide" on:click=move |_| auth.refresh()>
                            "I have saved them: continue"
                        </button>
                    }
                    .into_any(),
                    None => ().into_any(),
                }}
                <div hidden=move || codes.get().is_some_and(|c| !c.is_empty())>
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
                        <Show when=move || enrol()>
                            <div class="notice" role="status">
                                <p>"Your account must use two-factor sign-in. Set it up with an authenticator app, then sign in with its code."</p>
                                <Show when=move || setup.value().with(Option::is_none)>
                                    <button
                                        type="button"
                                        class="button"
                                        disabled=move || setup.pending().get() || sent.with(Option::is_none)
                                        on:click=move |_| {
                                            if let Some(c) = sent.get_untracked() {
                                                setup.dispatch(c);
                                            }
                                        }
                                    >
                                        "Set up two-factor sign-in"
                                    </button>
                                </Show>
                                {move || setup.value().get().map(|r| match r {
                                    Ok(s) => view! { <MfaSetupView setup=s /> }.into_any(),
                                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                                })}
                            </div>
                        </Show>
                        <Show when=move || asked.get()>
                            <Field
                                label="Two-factor code (or a recovery code)"
                                name="mfa_code"
                                autocomplete="one-time-code"
                                required=true
                                error
                            />
                        </Show>
                        <FormError error fields=&["username", "password", "mfa_code"] />
                        <button type="submit" class="button primary wide" disabled=move || login.pending().get()>
                            "Sign in"
                        </button>
                    </ActionForm>
                    <RecoveryHint />
                    <RegisterHint />
                </div>
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
