//! The signed-in user and the site facts as app-wide reactive state, provided once by
//! [`crate::App`]. Pages read it; they change it only by running an action and then asking
//! for a [`Auth::refresh`]. It never decides access: the server functions do that.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::api::{current_user, site_info};
use crate::types::{AppError, SiteInfo, UserPublic};

#[derive(Clone, Copy)]
pub struct Auth {
    /// Project name, accent and registration flag; loaded once.
    pub site: Resource<Result<SiteInfo, AppError>>,
    /// `Ok(None)` for a visitor; reloaded on every [`Auth::refresh`].
    pub user: Resource<Result<Option<UserPublic>, AppError>>,
    epoch: RwSignal<u64>,
}

impl Auth {
    /// Creates the state and provides it as context.
    pub fn provide() -> Auth {
        let epoch = RwSignal::new(0_u64);
        let auth = Auth {
            site: Resource::new(|| (), |_| site_info()),
            user: Resource::new(move || epoch.get(), |_| current_user()),
            epoch,
        };
        provide_context(auth);
        auth
    }

    /// The signed-in user, if known. Read it inside `<Suspense>`/`<Transition>` so that
    /// server rendering waits for it.
    pub fn current(&self) -> Option<UserPublic> {
        self.user.get().and_then(Result::ok).flatten()
    }

    /// Asks the server again who is signed in (after sign-in, sign-out, profile changes).
    pub fn refresh(&self) {
        self.epoch.update(|n| *n += 1);
    }

    /// Refreshes the session each time `action` succeeds.
    pub fn refresh_after<S>(self, action: ServerAction<S>)
    where
        S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
        S::Output: Send + Sync + 'static,
    {
        Effect::new(move |_| {
            if action.value().with(|v| matches!(v, Some(Ok(_)))) {
                self.refresh();
            }
        });
    }
}

/// The [`Auth`] provided by the root component.
pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}
