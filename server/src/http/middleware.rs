//! Cross-cutting request handling, applied to every route (REST, pages, server functions):
//! client info for the audit trail, CSRF refusal of cross-origin cookie writes, and the
//! transparent refresh of an expired browser session.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use vcore_app::types::AppError;
use vcore_domain::session_http::{self, ACCESS_COOKIE, REFRESH_COOKIE};
use vcore_domain::sessions::ClientInfo;
use vcore_domain::tokens::TokenType;
use vcore_domain::Services;

use super::error::detail;

/// Records the peer address and user agent as a [`ClientInfo`] extension.
pub async fn client_info(req: Request, next: Next) -> Response {
    let mut req = req;
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    req.extensions_mut().insert(ClientInfo {
        ip,
        user_agent,
        request_id,
    });
    next.run(req).await
}

/// Rate limits on `/api/…` (REST, the WebSocket's upgrade, server functions): one token
/// bucket per caller and one per address (`vcore_domain::rate_limit`). The caller is told
/// from the credentials without a database read: the user of a session's access token (its
/// signature checked), or an API key's prefix. A refusal is a 429 with `Retry-After`.
/// The probes, pages and files are not limited.
/// Counts every answer in `vcore_http_requests_total{method, route, status}` and times it in
/// `vcore_http_request_duration_seconds`. `route` is the matched route's template (ids do
/// not make new series); requests that matched no route are `unmatched`, and methods
/// outside the usual ones `other`.
pub async fn http_metrics(State(svc): State<Services>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let m = &svc.metrics;
    m.http_duration
        .with_label_values(&[method, &route])
        .observe(started.elapsed().as_secs_f64());
    m.http_requests
        .with_label_values(&[method, &route, resp.status().as_str()])
        .inc();
    resp
}

pub async fn rate_limit(State(svc): State<Services>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let caller = session_http::access_token(req.headers()).and_then(|t| {
        if vcore_domain::api_keys::looks_like_key(t) {
            Some(vcore_domain::rate_limit::key_bucket(t))
        } else {
            svc.keys
                .check(TokenType::Access, t)
                .map(|c| format!("u:{}", c.sub))
        }
    });
    let address = req.extensions().get::<ClientInfo>().and_then(|c| c.ip.clone());
    match svc
        .limiter
        .check(caller.as_deref(), address.as_deref(), std::time::Instant::now())
    {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            tracing::warn!(caller = ?caller, ip = ?address, retry_after = secs, "rate limited");
            let mut resp = detail(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too many requests; try again in {secs} s"),
            );
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
    }
}

/// Refuses state-changing requests that a browser reports as cross-origin (CSRF).
pub async fn csrf(State(svc): State<Services>, req: Request, next: Next) -> Response {
    if session_http::is_cross_origin_write(&svc.config, req.method(), req.headers()) {
        tracing::warn!(method = %req.method(), uri = %req.uri(), "cross-origin write refused");
        return detail(StatusCode::FORBIDDEN, "Cross-origin request refused");
    }
    next.run(req).await
}

/// Gives failed server-function calls the status their error stands for. server_fn
/// answers every error with 500; ours carry an [`AppError`] whose variant says whether it was
/// the client's fault (401, 403, 422 …), so a wrong password is not reported as a crash.
pub async fn server_fn_status(req: Request, next: Next) -> Response {
    // Applied to the Leptos router only, where `/api/…` are the server functions.
    let is_server_fn = req.uri().path().starts_with("/api/");
    let resp = next.run(req).await;
    if !is_server_fn || resp.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// When a request has session cookies but no valid access token, spends the refresh
/// cookie, rewrites the request's cookies so that handlers see the new access token, and
/// sets the new pair on the response. A dead session gets its cookies cleared.
pub async fn refresh_session(State(svc): State<Services>, mut req: Request, next: Next) -> Response {
    if session_http::bearer(req.headers()).is_some() {
        return next.run(req).await;
    }
    let access_ok = session_http::cookie(req.headers(), ACCESS_COOKIE)
        .is_some_and(|t| svc.keys.check(TokenType::Access, t).is_some());
    let refresh = session_http::cookie(req.headers(), REFRESH_COOKIE).map(str::to_string);
    let (Some(refresh), false) = (refresh, access_ok) else {
        return next.run(req).await;
    };
    let set_cookies: Vec<HeaderValue> = match svc.refresh(&refresh).await {
        Ok((_, pair)) => {
            let ours = format!(
                "{ACCESS_COOKIE}={}; {REFRESH_COOKIE}={}",
                pair.access_token, pair.refresh_token
            );
            replace_session_cookies(req.headers_mut(), Some(ours));
            session_http::session_cookies(&svc.config, &pair).into()
        }
        Err(_) => {
            replace_session_cookies(req.headers_mut(), None);
            session_http::clear_cookies(&svc.config).into()
        }
    };
    let mut resp = next.run(req).await;
    for v in set_cookies {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// Rewrites the `Cookie` header: other cookies (the theme, say) stay, ours are replaced.
fn replace_session_cookies(headers: &mut HeaderMap, ours: Option<String>) {
    let mut parts: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(|p| p.trim().to_string())
        .filter(|p| {
            !p.is_empty()
                && !p.starts_with(&format!("{ACCESS_COOKIE}="))
                && !p.starts_with(&format!("{REFRESH_COOKIE}="))
        })
        .collect();
    parts.extend(ours);
    headers.remove(header::COOKIE);
    if let Ok(v) = HeaderValue::from_str(&parts.join("; ")) {
        if !parts.is_empty() {
            headers.insert(header::COOKIE, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_replaced_and_others_kept() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("vcore_theme=dark; vcore_access=old; vcore_refresh=r1"),
        );
        replace_session_cookies(&mut h, Some("vcore_access=new; vcore_refresh=r2".into()));
        assert_eq!(
            h.get(header::COOKIE).unwrap(),
            "vcore_theme=dark; vcore_access=new; vcore_refresh=r2"
        );
        replace_session_cookies(&mut h, None);
        assert_eq!(h.get(header::COOKIE).unwrap(), "vcore_theme=dark");
    }
}
