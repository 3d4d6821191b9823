//! Server-only plumbing the server functions share: the domain services and the request
//! from the Leptos context, who is calling, and the session cookies on the response.
//! This is HTTP glue only; whether a password is right or a user may act is decided in
//! `vcore_domain`.

use http::header::SET_COOKIE;
use http::request::Parts;
use http::HeaderValue;
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;
use vcore_domain::access::Actor;
use vcore_domain::session_http::{self, REFRESH_COOKIE};
use vcore_domain::sessions::ClientInfo;
use vcore_domain::users::User;
use vcore_domain::{DomainError, Services};

use crate::types::AppError;

/// A context value the server wiring should have provided. Its absence is our bug, not the
/// caller's: logged here, answered with a plain 500.
fn missing(what: &str) -> AppError {
    tracing::error!("{what} missing from the Leptos context");
    AppError::Internal
}

/// The domain services the server provides to every render and server function call.
pub fn services() -> Result<Services, AppError> {
    use_context::<Services>().ok_or_else(|| missing("vcore_domain::Services"))
}

/// The request being served (leptos_axum provides it, for pages and server functions alike).
fn parts() -> Result<Parts, AppError> {
    use_context::<Parts>().ok_or_else(|| missing("http::request::Parts"))
}

/// Where the request came from, as the server's middleware recorded it.
pub fn client_info() -> ClientInfo {
    use_context::<Parts>()
        .and_then(|p| p.extensions.get::<ClientInfo>().cloned())
        .unwrap_or_default()
}

/// The signed-in user (or an API key), or `None` when the request carries no live session.
/// Expired cookies were already refreshed by the server's middleware, so only the access
/// token is checked.
pub async fn current_user() -> Result<Option<Actor>, AppError> {
    let Some(token) = session_http::access_token(&parts()?.headers).map(str::to_owned) else {
        return Ok(None);
    };
    match services()?.authenticate(&token, &client_info()).await {
        Ok(actor) => Ok(Some(actor)),
        Err(DomainError::Unauthorized(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The signed-in user; 401 without one.
pub async fn user() -> Result<Actor, AppError> {
    current_user()
        .await?
        .ok_or_else(|| AppError::Unauthorized("Not authenticated".into()))
}

/// Opens a session for `login` and puts its cookies on the response.
pub async fn sign_in(svc: &Services, login: &str, password: &str) -> Result<User, AppError> {
    sign_in_with_code(svc, login, password, None)
        .await
        .map(|(u, _)| u)
}

/// [`sign_in`] with the second factor's code; also answers the recovery codes when this
/// sign-in turned two-factor sign-in on.
pub async fn sign_in_with_code(
    svc: &Services,
    login: &str,
    password: &str,
    code: Option<&str>,
) -> Result<(User, Vec<String>), AppError> {
    let (user, pair, codes) = svc.login_with_code(login, password, code, &client_info()).await?;
    set_cookies(session_http::session_cookies(&svc.config, &pair))?;
    Ok((user, codes))
}

/// Ends this browser's session, if it still has one, and removes its cookies either way.
pub async fn sign_out(svc: &Services) -> Result<(), AppError> {
    let parts = parts()?;
    // The refresh cookie outlives the access cookie; either one names the session.
    let token = session_http::access_token(&parts.headers)
        .or_else(|| session_http::cookie(&parts.headers, REFRESH_COOKIE));
    if let Some(token) = token {
        match svc.logout(token, &client_info()).await {
            // Expired or already revoked: nothing is left to end.
            Ok(()) | Err(DomainError::Unauthorized(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    set_cookies(session_http::clear_cookies(&svc.config))
}

fn set_cookies(values: [HeaderValue; 2]) -> Result<(), AppError> {
    let response = use_context::<ResponseOptions>().ok_or_else(|| missing("ResponseOptions"))?;
    for value in values {
        response.append_header(SET_COOKIE, value);
    }
    Ok(())
}

/// A form field's text, trimmed; `None` when it is empty.
pub fn filled(text: String) -> Option<String> {
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// A form field's optional whole number (`None` when empty); otherwise a 422 naming
/// `field`. `unit` completes "a whole number" in the message (e.g. " of seconds").
pub fn form_number<T: std::str::FromStr>(
    field: &str,
    text: String,
    unit: &str,
) -> Result<Option<T>, AppError> {
    filled(text)
        .map(|v| {
            v.parse::<T>().map_err(|_| AppError::Invalid {
                field: field.into(),
                message: format!("expected a whole number{unit}, got {v:?}"),
            })
        })
        .transpose()
}
