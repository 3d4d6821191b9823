//! What an application built on vcore adds to the web app: pages (routes inside the signed-in
//! shell), entries in the main navigation, and quick tools. The application builds one
//! [`Extension`] in its own `app` crate and installs it in both of its binaries, before
//! anything renders: the server (`vcore_server::App::ui`) and the WASM bundle
//! ([`hydrate_with`]). Both must install the same one, or hydration would find other routes
//! than the server rendered. See `docs/extending.md`.
//!
//! ```text
//! pub fn extension() -> vcore_app::ext::Extension {
//!     Extension::new()
//!         .page("/notes", || view! { <NotesPage /> }.into_any())
//!         .nav("Notes", "/notes")
//!         .tool(&slugify::TOOL)
//! }
//! ```

use std::borrow::Cow;
use std::sync::OnceLock;

use leptos::prelude::*;
use leptos_router::{ParamSegment, PartialPathMatch, PathSegment, PossibleRouteMatch, StaticSegment};

use crate::tools::Tool;

/// A page of the application, shown inside vcore's shell (header, navigation, the signed-in
/// user; visitors without a session are sent to sign in).
#[derive(Clone)]
pub struct Page {
    /// `/notes`, or with parameters `/notes/:id` (read with `use_params_map`).
    pub path: &'static str,
    pub view: fn() -> AnyView,
    /// `path`, parsed once when the page is added (the route table is built on every render).
    matcher: ExtPath,
}

/// An entry of the main navigation, after vcore's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    /// Shown to superusers only (the page itself must still check: hiding a link is not a
    /// permission).
    pub superuser_only: bool,
}

/// Everything an application adds to the UI.
#[derive(Clone, Default)]
pub struct Extension {
    pub(crate) pages: Vec<Page>,
    pub(crate) nav: Vec<NavItem>,
    pub(crate) tools: Vec<&'static Tool>,
}

impl Extension {
    pub fn new() -> Extension {
        Extension::default()
    }

    /// Adds a page at `path`. vcore's own routes come first: a page cannot replace one.
    ///
    /// # Panics
    /// When `path` does not start with `/` or has an empty segment: a programming error,
    /// found the first time the application starts.
    pub fn page(mut self, path: &'static str, view: fn() -> AnyView) -> Self {
        let matcher = parse_path(path);
        self.pages.push(Page { path, view, matcher });
        self
    }

    /// Adds a navigation entry for every signed-in user.
    pub fn nav(mut self, label: &'static str, href: &'static str) -> Self {
        self.nav.push(NavItem {
            label,
            href,
            superuser_only: false,
        });
        self
    }

    /// Adds a navigation entry shown to superusers only.
    pub fn superuser_nav(mut self, label: &'static str, href: &'static str) -> Self {
        self.nav.push(NavItem {
            label,
            href,
            superuser_only: true,
        });
        self
    }

    /// Adds a quick tool, listed after vcore's at `/tools`.
    pub fn tool(mut self, tool: &'static Tool) -> Self {
        self.tools.push(tool);
        self
    }

    pub fn nav_items(&self) -> &[NavItem] {
        &self.nav
    }
}

static INSTALLED: OnceLock<Extension> = OnceLock::new();

/// Makes `ext` the application's extension for this process. The first call wins; later
/// calls (a test that builds the server twice) change nothing.
pub fn install(ext: Extension) {
    let _ = INSTALLED.set(ext);
}

/// The installed extension (empty for vcore alone).
pub fn installed() -> &'static Extension {
    static NONE: OnceLock<Extension> = OnceLock::new();
    INSTALLED
        .get()
        .unwrap_or_else(|| NONE.get_or_init(Extension::default))
}

/// The WASM entry point of an application: installs `ext`, then hydrates vcore's app.
#[cfg(feature = "hydrate")]
pub fn hydrate_with(ext: Extension) {
    install(ext);
    leptos::mount::hydrate_body(crate::App);
}

#[derive(Clone, Debug)]
enum Segment {
    Static(StaticSegment<&'static str>),
    Param(ParamSegment),
}

/// An application page's path, parsed from its text when the extension is built.
#[derive(Clone, Debug)]
pub struct ExtPath(Vec<Segment>);

fn parse_path(path: &'static str) -> ExtPath {
    let rest = path
        .strip_prefix('/')
        .unwrap_or_else(|| panic!("page path {path:?} must start with /"));
    let segments = rest
        .split('/')
        .map(|s| match s.strip_prefix(':') {
            _ if s.is_empty() => panic!("page path {path:?} has an empty segment"),
            Some(name) => Segment::Param(ParamSegment(name)),
            None => Segment::Static(StaticSegment(s)),
        })
        .collect();
    ExtPath(segments)
}

impl PossibleRouteMatch for ExtPath {
    fn optional(&self) -> bool {
        false
    }

    fn test<'a>(&self, path: &'a str) -> Option<PartialPathMatch<'a>> {
        let mut remaining = path;
        let mut params: Vec<(Cow<'static, str>, String)> = Vec::new();
        for segment in &self.0 {
            let m = match segment {
                Segment::Static(s) => s.test(remaining)?,
                Segment::Param(p) => p.test(remaining)?,
            };
            remaining = m.remaining();
            params.extend(m.params());
        }
        let matched = &path[..path.len() - remaining.len()];
        Some(PartialPathMatch::new(remaining, params, matched))
    }

    fn generate_path(&self, path: &mut Vec<PathSegment>) {
        for segment in &self.0 {
            match segment {
                Segment::Static(s) => s.generate_path(path),
                Segment::Param(p) => p.generate_path(path),
            }
        }
    }
}

type ExtRoute = leptos_router::NestedRoute<
    ExtPath,
    (),
    (),
    <fn() -> AnyView as leptos_router::IntoChooseViewMaybeErased>::Output,
>;

/// The installed pages as routes, for the shell's route table (after vcore's own).
#[derive(Clone)]
pub struct ExtRoutes(leptos::tachys::view::iterators::StaticVec<ExtRoute>);

pub(crate) fn routes() -> ExtRoutes {
    let routes: Vec<ExtRoute> = installed()
        .pages
        .iter()
        .map(|p| {
            leptos_router::NestedRoute::new(p.matcher.clone(), p.view).ssr_mode(leptos_router::SsrMode::Async)
        })
        .collect();
    ExtRoutes(routes.into())
}

impl leptos_router::MatchNestedRoutes for ExtRoutes {
    type Data =
        <leptos::tachys::view::iterators::StaticVec<ExtRoute> as leptos_router::MatchNestedRoutes>::Data;
    type Match =
        <leptos::tachys::view::iterators::StaticVec<ExtRoute> as leptos_router::MatchNestedRoutes>::Match;

    fn match_nested<'a>(
        &'a self,
        path: &'a str,
    ) -> (Option<(leptos_router::RouteMatchId, Self::Match)>, &'a str) {
        self.0.match_nested(path)
    }

    fn generate_routes(&self) -> impl IntoIterator<Item = leptos_router::GeneratedRouteData> + '_ {
        self.0.generate_routes()
    }

    fn optional(&self) -> bool {
        self.0.optional()
    }
}

/// The `view!` macro hands a `{block}` among a route's children to `into_render` and then
/// (type-erased builds, `--cfg erase_components`, as vcore builds) to `into_maybe_erased`:
/// the routes go through, as one erased route where the others are erased.
impl leptos::tachys::view::any_view::IntoMaybeErased for ExtRoutes {
    #[cfg(erase_components)]
    type Output = leptos_router::any_nested_route::AnyNestedRoute;
    #[cfg(not(erase_components))]
    type Output = ExtRoutes;

    fn into_maybe_erased(self) -> Self::Output {
        #[cfg(erase_components)]
        {
            use leptos_router::any_nested_route::IntoAnyNestedRoute;
            self.into_any_nested_route()
        }
        #[cfg(not(erase_components))]
        self
    }
}

impl leptos::tachys::view::IntoRender for ExtRoutes {
    type Output = ExtRoutes;

    fn into_render(self) -> ExtRoutes {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_with_their_parameters() {
        let p = parse_path("/notes/:id");
        let m = p.test("/notes/42").expect("matches");
        assert_eq!(m.remaining(), "");
        assert_eq!(m.params(), vec![(Cow::Borrowed("id"), "42".to_string())]);
        assert!(p.test("/other/42").is_none());
        assert!(parse_path("/notes").test("/notes").is_some());
    }

    #[test]
    #[should_panic(expected = "must start with /")]
    fn a_path_without_a_slash_is_refused() {
        parse_path("notes");
    }
}
