//! Light/dark theme. The choice lives in the non-HttpOnly cookie `vcore_theme` so that the
//! server can read it and render `<html data-theme=…>` right on the first paint (no flash);
//! the browser writes it when the toggle is pressed. Without the cookie there is no
//! `data-theme` and the stylesheet follows `prefers-color-scheme`. This module must not
//! touch any other cookie: the session cookies are HttpOnly and belong to the server.

use leptos::prelude::*;
use leptos_meta::Html;

/// Name of the cookie that remembers the choice.
pub const THEME_COOKIE: &str = "vcore_theme";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    Light,
    Dark,
}

impl Theme {
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    pub fn parse(s: &str) -> Option<Theme> {
        match s.trim() {
            "light" => Some(Theme::Light),
            "dark" => Some(Theme::Dark),
            _ => None,
        }
    }

    fn flipped(self) -> Theme {
        match self {
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::Light,
        }
    }
}

/// The explicit choice, `None` while the system setting applies.
#[derive(Clone, Copy)]
struct ThemeChoice(RwSignal<Option<Theme>>);

/// Reads the saved choice (from the request on the server, from `document.cookie` in the
/// browser, which agree, so hydration matches) and provides it as context.
pub fn provide_theme() {
    provide_context(ThemeChoice(RwSignal::new(platform::saved())));
}

/// Puts the choice on `<html data-theme>`.
#[component]
pub fn ThemeRoot() -> impl IntoView {
    let choice = expect_context::<ThemeChoice>().0;
    view! { <Html {..} data-theme=move || choice.get().map(Theme::as_str) /> }
}

/// The light/dark switch. From the system setting, the first press picks the opposite of
/// what is showing; after that it flips.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let choice = expect_context::<ThemeChoice>().0;
    let toggle = move |_: leptos::ev::MouseEvent| {
        let next = match choice.get_untracked() {
            Some(theme) => theme.flipped(),
            None if platform::prefers_dark() => Theme::Light,
            None => Theme::Dark,
        };
        platform::remember(next);
        choice.set(Some(next));
    };
    let icon = move || match choice.get() {
        Some(Theme::Dark) => "☾",
        Some(Theme::Light) => "☀",
        None => "◐",
    };
    view! {
        <button type="button" class="icon-button" aria-label="Toggle theme" title="Toggle theme" on:click=toggle>
            <span aria-hidden="true">{icon}</span>
        </button>
    }
}

#[cfg(feature = "ssr")]
mod platform {
    use super::{Theme, THEME_COOKIE};

    pub fn saved() -> Option<Theme> {
        let parts = leptos::prelude::use_context::<http::request::Parts>()?;
        vcore_domain::session_http::cookie(&parts.headers, THEME_COOKIE).and_then(Theme::parse)
    }

    // The toggle only runs in the browser.
    pub fn prefers_dark() -> bool {
        false
    }

    pub fn remember(_: Theme) {}
}

#[cfg(not(feature = "ssr"))]
mod platform {
    use super::{Theme, THEME_COOKIE};
    use leptos::prelude::{document, window};
    use leptos::wasm_bindgen::JsCast;
    use web_sys::HtmlDocument;

    // `document.cookie` is defined on HTMLDocument, which every page's document is.
    fn html_document() -> HtmlDocument {
        document().unchecked_into()
    }

    pub fn saved() -> Option<Theme> {
        let cookies = html_document().cookie().ok()?;
        cookies
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == THEME_COOKIE)
            .and_then(|(_, value)| Theme::parse(value))
    }

    pub fn prefers_dark() -> bool {
        window()
            .match_media("(prefers-color-scheme: dark)")
            .ok()
            .flatten()
            .is_some_and(|m| m.matches())
    }

    pub fn remember(theme: Theme) {
        let line = format!(
            "{THEME_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
            theme.as_str()
        );
        // Failing to remember only costs the choice on the next visit.
        let _ = html_document().set_cookie(&line);
    }
}
