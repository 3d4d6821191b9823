//! The frames pages render in, and the guards that put visitors on the right side of
//! sign-in. [`AppShell`] is the layout of every signed-in page (header, main navigation,
//! theme switch, user menu, `<Outlet/>`); [`AuthFrame`] frames the sign-in and registration
//! pages. They show the session and never change it, except through "Sign out".

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::{Style, Title};
use leptos_router::components::{Outlet, Redirect, A};

use crate::api::Logout;
use crate::auth::use_auth;
use crate::components::forms::{action_error, FormError};
use crate::components::theme::ThemeToggle;
use crate::types::{AppError, SiteInfo};

/// The site facts (name, accent, registration flag) for components inside a
/// [`SiteFrame`]. Read them inside a reactive closure: under `<Suspense>`/`<Transition>`
/// the server render waits for them.
#[derive(Clone, Copy)]
pub struct Site(Signal<SiteInfo>);

impl Site {
    pub fn get(&self) -> SiteInfo {
        self.0.get()
    }
}

/// The facts provided by the enclosing [`SiteFrame`].
pub fn use_site() -> Site {
    expect_context::<Site>()
}

/// Renders `children` inside the app's root element, with the site facts provided as
/// [`Site`]. The page is deliberately *not* inside a `<Transition>`: on the server Leptos
/// runs what is inside one two or three times, and a resource a page creates in there is
/// orphaned by the extra runs (its fetch loses the request context, and the render could
/// stall waiting on it). Only the readers of the facts wait for them: the title and the
/// accent here, the brand name and the registration links in their own small transitions.
#[component]
pub fn SiteFrame(class: &'static str, children: Children) -> impl IntoView {
    let auth = use_auth();
    let site = Site(Signal::derive(move || {
        auth.site
            .get()
            .and_then(Result::ok)
            // A failed fetch is already logged by the server; the defaults keep the page usable.
            .unwrap_or_else(|| SiteInfo {
                project_name: "vcore".into(),
                open_registration: false,
                accent: String::new(),
                password_recovery: false,
            })
    }));
    provide_context(site);
    view! {
        <Transition>
            {move || {
                let SiteInfo { project_name: name, accent, .. } = site.get();
                // The configured accent (validated as a colour at start-up) over the theme's.
                let accent = (!accent.is_empty())
                    .then(|| view! { <Style>{format!(".app {{ --accent: {accent}; }}")}</Style> });
                // The formatter gets a plain copy of the name: leptos_meta calls it when it
                // renders <head>, after this component's reactive values may be gone.
                view! {
                    <Title formatter=move |page: String| {
                        if page.is_empty() { name.clone() } else { format!("{page} · {name}") }
                    } />
                    {accent}
                }
            }}
        </Transition>
        <div class=format!("app {class}")>{children()}</div>
    }
}

/// Layout of every signed-in page; the page renders in the `<Outlet/>`.
#[component]
pub fn AppShell() -> impl IntoView {
    view! {
        <SiteFrame class="shell">
            <a class="skip-link" href="#main">"Skip to content"</a>
            <TopBar />
            <SignInGuard />
            <main id="main" class="content">
                <Outlet />
            </main>
        </SiteFrame>
    }
}

/// Frame of the sign-in and registration pages: a centred column, the theme switch, and a
/// guard that sends a signed-in user on to the dashboard.
#[component]
pub fn AuthFrame(children: Children) -> impl IntoView {
    view! {
        <SiteFrame class="auth">
            <RedirectIfSignedIn />
            <div class="auth-tools">
                <ThemeToggle />
            </div>
            <main id="main" class="auth-main">
                {children()}
            </main>
        </SiteFrame>
    }
}

#[component]
fn TopBar() -> impl IntoView {
    let auth = use_auth();
    let site = use_site();
    let is_superuser = move || auth.current().is_some_and(|u| u.is_superuser);
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true"></span>
                <Transition>{move || site.get().project_name}</Transition>
            </a>
            <nav aria-label="Main" class="main-nav">
                <A href="/" exact=true>"Home"</A>
                <A href="/jobs">"Jobs"</A>
                <A href="/schedulers">"Schedulers"</A>
                <A href="/tools">"Tools"</A>
                <Transition>
                    {move || is_superuser().then(|| view! { <A href="/users">"Users"</A> <A href="/audit">"Audit log"</A> })}
                </Transition>
                {crate::ext::installed()
                    .nav_items()
                    .iter()
                    .map(|item| {
                        let shown = move || !item.superuser_only || is_superuser();
                        view! { <Transition>{move || shown().then(|| view! { <A href=item.href>{item.label}</A> })}</Transition> }
                    })
                    .collect_view()}
                <A href="/profile">"Profile"</A>
                // Swagger UI is a server route, not one of ours: rel="external" makes the
                // router leave the click to the browser.
                <a href="/docs" rel="external">"API docs"</a>
            </nav>
            <div class="topbar-tools">
                <ThemeToggle />
                <UserMenu />
            </div>
        </header>
    }
}

/// The account button and its menu. A `<details>` opens without JavaScript, so signing
/// out works on a page that never hydrated.
#[component]
fn UserMenu() -> impl IntoView {
    let auth = use_auth();
    let logout = ServerAction::<Logout>::new();
    auth.refresh_after(logout);
    let error = action_error(logout);
    let username = move || auth.current().map(|u| u.username).unwrap_or_default();
    let initial = move || {
        username()
            .chars()
            .next()
            .map(|c| c.to_uppercase().to_string())
            .unwrap_or_default()
    };
    view! {
        <details class="user-menu">
            // role="button": tools and tests find the control by the role it plays.
            <summary role="button" aria-label="User menu">
                <Transition>
                    <span class="avatar" aria-hidden="true">{initial}</span>
                    <span class="who">{username}</span>
                </Transition>
            </summary>
            <div class="menu">
                <ActionForm action=logout>
                    <button type="submit" class="menu-item">"Sign out"</button>
                </ActionForm>
                <FormError error fields=&[] />
            </div>
        </details>
    }
}

/// Sends a visitor without a live session to the sign-in page (a 302 during server
/// rendering, a client-side navigation after sign-out).
#[component]
fn SignInGuard() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Transition>
            {move || {
                auth.user
                    .get()
                    .and_then(|user| match user {
                        Ok(Some(_)) => None,
                        Ok(None) | Err(AppError::Unauthorized(_)) => {
                            Some(Either::Left(view! { <Redirect path="/login" /> }))
                        }
                        Err(e) => Some(Either::Right(view! { <p class="notice error" role="alert">{e.to_string()}</p> })),
                    })
            }}
        </Transition>
    }
}

/// On the sign-in and registration pages, a signed-in user goes on to the dashboard. This
/// is also how those pages move on after success, with or without JavaScript.
#[component]
pub fn RedirectIfSignedIn() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Transition>
            {move || auth.current().map(|_| view! { <Redirect path="/" /> })}
        </Transition>
    }
}
