//! `/profile`: one's own email and full name, the password, and API keys. Changing the
//! password ends every other session; the server signs this browser in again, so nothing
//! changes here. A new key's secret is shown once, right after it is created.

use leptos::html::Form;
use leptos::prelude::*;
use leptos_meta::Title;

use leptos::either::Either;

use crate::api::{list_api_keys, ChangePassword, CreateApiKey, RevokeApiKey, UpdateProfile};
use crate::auth::use_auth;
use crate::components::forms::{action_error, refetch_after, reset_on_success, succeeded, Field, FormError};
use crate::pages::{day, loading};
use crate::types::{ApiKeyPublic, ApiKeysPage};

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
        <crate::pages::mfa::TwoFactorSection />
        <ApiKeys />
    }
}

/// The caller's API keys: a table with a Revoke button per live key, and a form that
/// creates one and shows its secret once.
#[component]
fn ApiKeys() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    // A constant source, refetched after each action (see the users page for why).
    let keys = Resource::new(|| (), |_| list_api_keys());
    refetch_after([create.version(), revoke.version()], move || keys.refetch());
    let create_error = action_error(create);
    let revoke_error = action_error(revoke);
    let form = NodeRef::<Form>::new();
    reset_on_success(create, form);
    let secret = move || {
        create.value().with(|v| match v {
            Some(Ok(made)) => Some(view! {
                <div class="notice" role="status">
                    <p>{format!("Key {} created. Copy it now: it is not shown again.", made.key.prefix)}</p>
                    <code class="secret" data-testid="new-api-key">{made.secret.clone()}</code>
                </div>
            }),
            _ => None,
        })
    };
    view! {
        <section class="card" aria-labelledby="keys-title">
            <h2 id="keys-title">"API keys"</h2>
            <p class="muted">
                "For scripts and services: send a key as " <code>"Authorization: Bearer vk_…"</code>
                ". A key can do only what its scopes and your role allow."
            </p>
            <FormError error=revoke_error fields=&[] />
            <Transition fallback=loading>
                {move || {
                    keys.get().map(|page| match page {
                        Ok(page) => Either::Left(view! { <KeyTable page revoke /> }),
                        Err(e) => Either::Right(view! { <p class="form-error" role="alert">{e.to_string()}</p> }),
                    })
                }}
            </Transition>
            <h3>"New key"</h3>
            <ActionForm action=create node_ref=form>
                <div class="grid">
                    <Field label="Key name" name="name" autocomplete="off" required=true error=create_error />
                    <Field label="Expires in days (empty: never)" name="expires_in_days" kind="number" autocomplete="off" error=create_error />
                </div>
                <fieldset class="checks">
                    <legend>"Scopes"</legend>
                    <label class="check"><input type="checkbox" name="jobs_read" value="true" /><span>"jobs:read (jobs, logs, schedulers)"</span></label>
                    <label class="check"><input type="checkbox" name="jobs_write" value="true" /><span>"jobs:write (enqueue, kill, retry, delete)"</span></label>
                    <label class="check"><input type="checkbox" name="schedulers" value="true" /><span>"schedulers (create, change, delete)"</span></label>
                    <label class="check"><input type="checkbox" name="admin" value="true" /><span>"admin (accounts, consumers)"</span></label>
                </fieldset>
                <FormError error=create_error fields=&["name", "expires_in_days"] />
                <button type="submit" class="button primary" disabled=move || create.pending().get()>
                    "Create key"
                </button>
            </ActionForm>
            {secret}
        </section>
    }
}

#[component]
fn KeyTable(page: ApiKeysPage, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    if page.data.is_empty() {
        return Either::Left(view! { <p class="muted">"No API keys yet."</p> });
    }
    let rows = page
        .data
        .into_iter()
        .map(|k| view! { <KeyRow k revoke /> })
        .collect_view();
    Either::Right(view! {
        <div class="table-wrap">
            <table class="table">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Key"</th>
                        <th scope="col">"Scopes"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Expires"</th>
                        <th scope="col">"Last used"</th>
                        <th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    })
}

#[component]
fn KeyRow(k: ApiKeyPublic, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    let scopes = k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    let created = day(&k.created_at).to_string();
    let expires = k.expires_at.as_deref().map(day).unwrap_or("never").to_string();
    let used = match (&k.last_used_at, &k.last_used_ip) {
        (Some(t), ip) => format!("{} from {}", day(t), ip.as_deref().unwrap_or("?")),
        (None, _) => "never".into(),
    };
    let label = format!("Revoke {}", k.name);
    let action = match k.revoked_at {
        Some(_) => Either::Left(view! { <span class="muted">"revoked"</span> }),
        None => Either::Right(view! {
            <ActionForm action=revoke>
                <input type="hidden" name="id" value=k.id.to_string() />
                <button type="submit" class="button small" aria-label=label>"Revoke"</button>
            </ActionForm>
        }),
    };
    view! {
        <tr>
            <th scope="row">{k.name}</th>
            <td><code>{k.prefix}</code></td>
            <td>{scopes}</td>
            <td>{created}</td>
            <td>{expires}</td>
            <td>{used}</td>
            <td class="actions">{action}</td>
        </tr>
    }
}
