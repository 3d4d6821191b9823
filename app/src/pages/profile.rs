//! `/profile`: one's own email and full name, and the password. Changing the password ends
//! every other session; the server signs this browser in again, so nothing changes here.

use leptos::html::Form;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{ChangePassword, UpdateProfile};
use crate::auth::use_auth;
use crate::components::forms::{action_error, reset_on_success, succeeded, Field, FormError};
use crate::pages::loading;

#[component]
pub fn ProfilePage() -> impl IntoView {
    let auth = use_auth();
    let update = ServerAction::<UpdateProfile>::new();
    let change = ServerAction::<ChangePassword>::new();
    // The shell and dashboard show these fields too.
    auth.refresh_after(update);
    let update_error = action_error(update);
    let change_error = action_error(change);
    let saved = succeeded(update);
    let changed = succeeded(change);
    let password_form = NodeRef::<Form>::new();
    reset_on_success(change, password_form);
    view! {
        <Title text="Profile" />
        <header class="page-head">
            <h1>"Profile"</h1>
        </header>
        <section class="card" aria-labelledby="account-title">
            <h2 id="account-title">"Account"</h2>
            // Rebuilt with fresh values after a save; the status line below stays.
            <Transition fallback=loading>
                {move || {
                    auth.current()
                        .map(|me| {
                            view! {
                                <p class="muted">"Signed in as " <strong>{me.username}</strong></p>
                                <ActionForm action=update>
                                    <Field
                                        label="Email"
                                        name="email"
                                        kind="email"
                                        autocomplete="email"
                                        required=true
                                        value=me.email
                                        error=update_error
                                    />
                                    <Field
                                        label="Full name"
                                        name="full_name"
                                        autocomplete="name"
                                        value=me.full_name.unwrap_or_default()
                                        error=update_error
                                    />
                                    <FormError error=update_error fields=&["email", "full_name"] />
                                    <button type="submit" class="button primary" disabled=move || update.pending().get()>
                                        "Save profile"
                                    </button>
                                </ActionForm>
                            }
                        })
                }}
            </Transition>
            <p class="form-status" role="status">{move || saved.get().then_some("Profile saved")}</p>
        </section>
        <section class="card" aria-labelledby="password-title">
            <h2 id="password-title">"Password"</h2>
            <p class="muted">"Changing it signs you out on every other device."</p>
            <ActionForm action=change node_ref=password_form>
                <Field
                    label="Current password"
                    name="current_password"
                    kind="password"
                    autocomplete="current-password"
                    required=true
                    error=change_error
                />
                <Field
                    label="New password"
                    name="new_password"
                    kind="password"
                    autocomplete="new-password"
                    required=true
                    error=change_error
                />
                <FormError error=change_error fields=&["current_password", "new_password"] />
                <button type="submit" class="button primary" disabled=move || change.pending().get()>
                    "Change password"
                </button>
            </ActionForm>
            <p class="form-status" role="status">{move || changed.get().then_some("Password changed")}</p>
        </section>
    }
}
