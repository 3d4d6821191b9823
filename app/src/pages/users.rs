//! `/users` (superusers): every account in a table with an Activate/Deactivate button and
//! a role picker per row, and a form to add one. A regular user gets a notice instead; the server functions
//! refuse them anyway (403), so this check only makes the page friendly.

use leptos::either::Either;
use leptos::html::Form;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{list_users, CreateUser, ResetUserMfa, SetUserActive, SetUserRole};
use crate::auth::use_auth;
use crate::components::forms::{action_error, refetch_after, reset_on_success, Field, FormError};
use crate::pages::{day, loading};
use crate::types::{AppError, UserRole, UsersPage as Page};

#[component]
pub fn UsersPage() -> impl IntoView {
    let auth = use_auth();
    let create = ServerAction::<CreateUser>::new();
    let toggle = ServerAction::<SetUserActive>::new();
    let set_role = ServerAction::<SetUserRole>::new();
    // Created once, here, and depending on no other resource: a resource made while the page
    // re-renders, or keyed on another resource, is serialised by the server with a value the
    // browser does not start from, and hydration fails. A regular user's 403 means "no list".
    // Its source is constant: keyed on the actions' versions, the server render of this page
    // sometimes never finished under load. The browser refetches after each action instead
    // (effects run only there).
    let users = Resource::new(
        || (),
        |_| async move {
            match list_users(None, None).await {
                Ok(page) => Ok(Some(page)),
                Err(AppError::Forbidden(_) | AppError::Unauthorized(_)) => Ok(None),
                Err(e) => Err(e),
            }
        },
    );
    refetch_after(
        [create.version(), toggle.version(), set_role.version()],
        move || users.refetch(),
    );
    view! {
        <Title text="Users" />
        <Transition fallback=loading>
            // Awaited, not read with `.get()`: a server render whose boundaries read the
            // same resources with `.get()` sometimes never finished (Leptos issue #4578;
            // seen here as /users hanging under load). Both are awaited before anything
            // below reads them.
            {move || Suspend::new(async move {
                let me = auth.user.await;
                users.track();
                let _ = users.await;
                me.ok().flatten().map(|me| {
                    if me.is_superuser {
                        Either::Left(view! { <UsersAdmin users create toggle set_role /> })
                    } else {
                        Either::Right(view! {
                            <h1>"Users"</h1>
                            <p class="notice" role="alert">"You don't have access to this page"</p>
                        })
                    }
                })
            })}
        </Transition>
    }
}

type UsersResource = Resource<Result<Option<Page>, AppError>>;

#[component]
fn UsersAdmin(
    users: UsersResource,
    create: ServerAction<CreateUser>,
    toggle: ServerAction<SetUserActive>,
    set_role: ServerAction<SetUserRole>,
) -> impl IntoView {
    let create_error = action_error(create);
    let toggle_error = action_error(toggle);
    let role_error = action_error(set_role);
    let form = NodeRef::<Form>::new();
    reset_on_success(create, form);
    let created = move || {
        create.value().with(|v| match v {
            Some(Ok(user)) => format!("Created {}", user.username),
            _ => String::new(),
        })
    };
    view! {
        <header class="page-head">
            <h1>"Users"</h1>
        </header>
        <section class="card">
            <FormError error=toggle_error fields=&[] />
            <FormError error=role_error fields=&[] />
            {move || {
                users
                    .get()
                    .map(|page| match page {
                        Ok(page) => Either::Left(page.map(|page| view! { <UserTable page toggle set_role /> })),
                        Err(e) => Either::Right(view! { <p class="form-error" role="alert">{e.to_string()}</p> }),
                    })
            }}
        </section>
        <section class="card" aria-labelledby="new-user-title">
            <h2 id="new-user-title">"Add a user"</h2>
            <ActionForm action=create node_ref=form>
                <div class="grid">
                    <Field label="Username" name="username" autocomplete="off" required=true error=create_error />
                    <Field label="Email" name="email" kind="email" autocomplete="off" required=true error=create_error />
                    <Field
                        label="Password"
                        name="password"
                        kind="password"
                        autocomplete="new-password"
                        required=true
                        error=create_error
                    />
                    <Field label="Full name" name="full_name" autocomplete="off" error=create_error />
                </div>
                <label class="field">
                    <span>"Role"</span>
                    <RoleOptions name="role" current=UserRole::User />
                </label>
                <FormError error=create_error fields=&["username", "email", "password", "full_name", "role"] />
                <button type="submit" class="button primary" disabled=move || create.pending().get()>
                    "Create user"
                </button>
            </ActionForm>
            <p class="form-status" role="status">{created}</p>
        </section>
    }
}

#[component]
fn UserTable(
    page: Page,
    toggle: ServerAction<SetUserActive>,
    set_role: ServerAction<SetUserRole>,
) -> impl IntoView {
    let count = page.count;
    // A superuser's reset of a user's second factor (e.g. a lost phone).
    let reset = ServerAction::<ResetUserMfa>::new();
    let reset_status = move || {
        reset.value().get().map(|r| match r {
            Ok(true) => "Second factor removed: the next sign-in needs the password only".to_string(),
            Ok(false) => "That user had no second factor".to_string(),
            Err(e) => e.to_string(),
        })
    };
    let rows = page
        .data
        .into_iter()
        .map(|u| {
            let verb = if u.is_active { "Deactivate" } else { "Activate" };
            let label = format!("{verb} {}", u.username);
            let role_label = format!("Role of {}", u.username);
            let set_label = format!("Set the role of {}", u.username);
            let reset_label = format!("Reset the second factor of {}", u.username);
            let created = day(&u.created_at).to_string();
            view! {
                <tr>
                    <th scope="row">{u.username}</th>
                    <td>{u.email}</td>
                    <td>{u.full_name.unwrap_or_default()}</td>
                    <td>{yes_no(u.is_active)}</td>
                    <td>
                        <ActionForm action=set_role>
                            <input type="hidden" name="id" value=u.id.to_string() />
                            <RoleOptions name="role" current=u.role label=role_label />
                            <button type="submit" class="button small" aria-label=set_label>"Set"</button>
                        </ActionForm>
                    </td>
                    <td><time datetime=u.created_at>{created}</time></td>
                    <td class="actions">
                        // One small form per row: works without JavaScript too.
                        <ActionForm action=toggle>
                            <input type="hidden" name="id" value=u.id.to_string() />
                            <input type="hidden" name="active" value=(!u.is_active).to_string() />
                            <button type="submit" class="button small" aria-label=label>{verb}</button>
                        </ActionForm>
                        <ActionForm action=reset>
                            <input type="hidden" name="user_id" value=u.id.to_string() />
                            <button type="submit" class="button small" aria-label=reset_label>"Reset 2FA"</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect::<Vec<_>>();
    view! {
        <p class="muted">{format!("{count} account(s)")}</p>
        <p class="form-status" role="status">{reset_status}</p>
        <div class="table-wrap">
            <table class="table">
                <thead>
                    <tr>
                        <th scope="col">"Username"</th>
                        <th scope="col">"Email"</th>
                        <th scope="col">"Full name"</th>
                        <th scope="col">"Active"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// A role picker; the roles' powers are in docs/security.md.
#[component]
fn RoleOptions(
    name: &'static str,
    current: UserRole,
    #[prop(optional, into)] label: Option<String>,
) -> impl IntoView {
    let options = UserRole::ALL
        .into_iter()
        .map(|r| view! { <option value=r.as_str() selected={r == current}>{role_name(r)}</option> })
        .collect_view();
    view! { <select name=name aria-label=label>{options}</select> }
}

/// How a role is named on pages.
pub fn role_name(r: UserRole) -> &'static str {
    match r {
        UserRole::Superuser => "Superuser",
        UserRole::Operator => "Operator",
        UserRole::User => "User",
        UserRole::Viewer => "Viewer",
    }
}

fn yes_no(flag: bool) -> &'static str {
    if flag {
        "Yes"
    } else {
        "No"
    }
}
