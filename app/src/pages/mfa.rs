//! Two-factor sign-in in the web app: the set-up (QR code drawn by the server, and the
//! secret to type), the recovery codes shown once, and the profile page's section.

use leptos::either::Either;
use leptos::prelude::*;

use crate::api::{mfa_status, DisableMfa, EnableMfa, SetupMfa};
use crate::components::forms::{action_error, succeeded, Field, FormError};
use crate::pages::loading;
use crate::types::{MfaSetupPublic, MfaStatusPublic};

/// The QR code to scan and the secret to type.
#[component]
pub fn MfaSetupView(setup: MfaSetupPublic) -> impl IntoView {
    view! {
        <div class="mfa-setup">
            <div class="qr" role="img" aria-label="QR code for the authenticator app" inner_html=setup.qr_svg></div>
            <p>
                "Scan it with an authenticator app, or type this key: "
                <code class="secret" data-testid="mfa-secret">{setup.secret}</code>
            </p>
        </div>
    }
}

/// Recovery codes, shown once.
#[component]
pub fn RecoveryCodesView(codes: Vec<String>) -> impl IntoView {
    view! {
        <div class="notice" role="status">
            <p>"Two-factor sign-in is on. Keep these recovery codes somewhere safe: each one signs you in once without the app. They are not shown again."</p>
            <ul class="recovery-codes" data-testid="recovery-codes">
                {codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
            </ul>
        </div>
    }
}

/// The profile page's section: set up, or turn off.
#[component]
pub fn TwoFactorSection() -> impl IntoView {
    let setup = ServerAction::<SetupMfa>::new();
    let enable = ServerAction::<EnableMfa>::new();
    let disable = ServerAction::<DisableMfa>::new();
    let status = Resource::new(|| (), |_| mfa_status());
    // Only after a success: a refused code must leave the form (and what was typed) alone.
    let (enabled, disabled) = (succeeded(enable), succeeded(disable));
    Effect::new(move |seen: Option<(bool, bool)>| {
        let now = (enabled.get(), disabled.get());
        if seen.is_some_and(|seen| seen != now && (now.0 || now.1)) {
            status.refetch();
        }
        now
    });
    let setup_error = action_error(setup);
    let enable_error = action_error(enable);
    let disable_error = action_error(disable);
    let codes = move || {
        enable
            .value()
            .get()
            .and_then(Result::ok)
            .map(|codes| view! { <RecoveryCodesView codes /> })
    };
    let when_on = move |s: MfaStatusPublic| {
        view! {
            {s.required.then(|| view! { <p class="muted">"Your role requires it: you set it up when you signed in."</p> })}
            <p>
                {format!("On. {} recovery codes left.", s.recovery_codes_left)}
            </p>
            <ActionForm action=disable>
                <Field label="Code (or a recovery code) to turn it off" name="code" autocomplete="one-time-code" required=true error=disable_error />
                <FormError error=disable_error fields=&["code"] />
                <button type="submit" class="button danger" disabled=move || disable.pending().get()>
                    "Turn off two-factor sign-in"
                </button>
            </ActionForm>
        }
    };
    let when_off = move |s: MfaStatusPublic| {
        view! {
            <p class="muted">
                {if s.required { "Off, but your role requires it: set it up now." } else { "Off." }}
            </p>
            {move || match setup.value().get() {
                Some(Ok(made)) => Either::Left(view! {
                    <MfaSetupView setup=made />
                    <ActionForm action=enable>
                        <Field label="Code from the app" name="code" autocomplete="one-time-code" required=true error=enable_error />
                        <FormError error=enable_error fields=&["code"] />
                        <button type="submit" class="button primary" disabled=move || enable.pending().get()>
                            "Turn on"
                        </button>
                    </ActionForm>
                }),
                _ => Either::Right(view! {
                    <ActionForm action=setup>
                        <FormError error=setup_error fields=&[] />
                        <button type="submit" class="button primary" disabled=move || setup.pending().get()>
                            "Set up two-factor sign-in"
                        </button>
                    </ActionForm>
                }),
            }}
        }
    };
    view! {
        <section class="card" aria-labelledby="mfa-title">
            <h2 id="mfa-title">"Two-factor sign-in"</h2>
            <p class="muted">"A code from an authenticator app (TOTP), asked after the password."</p>
            {codes}
            <Transition fallback=loading>
                {move || {
                    status.get().map(|r| match r {
                        Ok(s) if s.enabled => Either::Left(Either::Left(when_on(s))),
                        Ok(s) => Either::Left(Either::Right(when_off(s))),
                        Err(e) => Either::Right(view! { <p class="form-error" role="alert">{e.to_string()}</p> }),
                    })
                }}
            </Transition>
        </section>
    }
}
