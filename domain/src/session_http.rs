//! Credentials in HTTP requests, shared by the REST layer and the server functions: the
//! bearer header, the session cookies and their attributes, and the cross-origin check that
//! protects cookie-authenticated writes from CSRF.
//!
//! Why an origin check rather than a token: the cookies are `SameSite=Strict`, and every
//! state-changing request that is not bearer-authenticated must come from our own origin,
//! as told by the browser's `Sec-Fetch-Site` header or, failing that, `Origin`. Browsers
//! always send one of them on cross-origin writes and pages cannot forge them, so this
//! blocks CSRF without a token round trip (the approach of Go's CrossOriginProtection).

use http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};
use http::{HeaderMap, HeaderValue, Method};

use crate::config::Config;
use crate::sessions::TokenPair;

pub const ACCESS_COOKIE: &str = "vcore_access";
pub const REFRESH_COOKIE: &str = "vcore_refresh";

/// The bearer token of an `Authorization: Bearer …` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The value of cookie `name`, from any `Cookie` header.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The access token to authenticate with: bearer header first, then the session cookie.
pub fn access_token(headers: &HeaderMap) -> Option<&str> {
    bearer(headers).or_else(|| cookie(headers, ACCESS_COOKIE))
}

fn cookie_line(cfg: &Config, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if cfg.secure_cookies() { "; Secure" } else { "" };
    let line = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&line).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` values that store a session in the browser.
pub fn session_cookies(cfg: &Config, pair: &TokenPair) -> [HeaderValue; 2] {
    [
        cookie_line(cfg, ACCESS_COOKIE, &pair.access_token, pair.access_expires_in),
        cookie_line(cfg, REFRESH_COOKIE, &pair.refresh_token, pair.refresh_expires_in),
    ]
}

/// `Set-Cookie` values that remove the session cookies.
pub fn clear_cookies(cfg: &Config) -> [HeaderValue; 2] {
    [
        cookie_line(cfg, ACCESS_COOKIE, "", 0),
        cookie_line(cfg, REFRESH_COOKIE, "", 0),
    ]
}

/// True when this request must be refused as a possible CSRF: a state-changing method,
/// no bearer token, and a browser saying it comes from another origin.
pub fn is_cross_origin_write(cfg: &Config, method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || bearer(headers).is_some() {
        return false;
    }
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
    if let Some(origin) = origin {
        if origin != "null" && trusted_origin(cfg, headers, origin) {
            return false;
        }
        return true;
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        // Same-origin requests and user-initiated navigations (typed URL, bookmark).
        Some("same-origin") | Some("none") => false,
        Some(_) => true,
        // Neither header: not a browser (curl, scripts). Nothing a page could have forged.
        None => false,
    }
}

fn trusted_origin(cfg: &Config, headers: &HeaderMap, origin: &str) -> bool {
    if origin == cfg.base_url || cfg.trusted_origins.iter().any(|o| o == origin) {
        return true;
    }
    // Same host as the request was addressed to (any scheme the server is reached by).
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    !host.is_empty() && (origin == format!("http://{host}") || origin == format!("https://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg() -> Config {
        Config::from_map(&HashMap::new(), false).unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn finds_bearer_and_cookies() {
        let h = headers(&[
            ("authorization", "Bearer abc"),
            ("cookie", "a=1; vcore_access=xyz; b=2"),
        ]);
        assert_eq!(bearer(&h), Some("abc"));
        assert_eq!(cookie(&h, ACCESS_COOKIE), Some("xyz"));
        assert_eq!(access_token(&h), Some("abc"));
        let h = headers(&[("cookie", "vcore_access=xyz")]);
        assert_eq!(access_token(&h), Some("xyz"));
        assert_eq!(bearer(&headers(&[("authorization", "Basic abc")])), None);
    }

    #[test]
    fn cross_origin_writes_are_detected() {
        let c = cfg();
        let post = Method::POST;
        assert!(!is_cross_origin_write(
            &c,
            &Method::GET,
            &headers(&[("origin", "https://evil.example")])
        ));
        assert!(is_cross_origin_write(
            &c,
            &post,
            &headers(&[("origin", "https://evil.example"), ("host", "127.0.0.1:3000")])
        ));
        assert!(!is_cross_origin_write(
            &c,
            &post,
            &headers(&[("origin", "http://127.0.0.1:3000"), ("host", "127.0.0.1:3000")])
        ));
        assert!(!is_cross_origin_write(
            &c,
            &post,
            &headers(&[("origin", "http://localhost:4000"), ("host", "localhost:4000")])
        ));
        assert!(is_cross_origin_write(
            &c,
            &post,
            &headers(&[("sec-fetch-site", "cross-site")])
        ));
        assert!(is_cross_origin_write(
            &c,
            &post,
            &headers(&[("sec-fetch-site", "same-site")])
        ));
        assert!(!is_cross_origin_write(
            &c,
            &post,
            &headers(&[("sec-fetch-site", "same-origin")])
        ));
        assert!(!is_cross_origin_write(&c, &post, &headers(&[])));
        assert!(!is_cross_origin_write(
            &c,
            &post,
            &headers(&[("origin", "https://evil.example"), ("authorization", "Bearer t")])
        ));
        assert!(is_cross_origin_write(&c, &post, &headers(&[("origin", "null")])));
    }
}
