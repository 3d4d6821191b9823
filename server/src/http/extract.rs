//! Request extractors that turn every malformed input into a 422 naming the field, instead
//! of axum's plain-text rejections: JSON and form bodies (with the path of the bad field,
//! via serde_path_to_error), query strings, numeric path ids, and the signed-in user.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use vcore_app::types::AppError;
use vcore_domain::access::Actor;
use vcore_domain::sessions::ClientInfo;
use vcore_domain::{session_http, Services};

use super::error::RestError;

/// Splits a serde error into (field, message). serde reports unknown and missing fields
/// at the parent's path with the field's name in backticks; use that name.
fn field_and_message(path: &str, err: &str) -> (String, String) {
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| err.strip_prefix(p).and_then(|rest| rest.split('`').next()));
    let message = err.split(" at line ").next().unwrap_or(err).to_string();
    let field = match (path, named) {
        (".", Some(n)) | ("", Some(n)) => n.to_string(),
        // serde_path_to_error already names an unknown field in the path.
        (p, Some(n)) if p == n || p.ends_with(&format!(".{n}")) => p.to_string(),
        (p, Some(n)) => format!("{p}.{n}"),
        (".", None) => String::new(),
        (p, None) => p.to_string(),
    };
    (field, message)
}

/// The body of a request whose `Content-Type` starts with `content_type`; else a 422 that
/// says what was expected (`what`).
async fn body_of<S: Send + Sync>(
    req: Request,
    state: &S,
    content_type: &str,
    what: &str,
) -> Result<axum::body::Bytes, RestError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with(content_type) {
        return Err(RestError::invalid(
            "body",
            "",
            format!("expected {what} (Content-Type: {content_type})"),
        ));
    }
    axum::body::Bytes::from_request(req, state)
        .await
        .map_err(|e| RestError::invalid("body", "", format!("could not read the body: {e}")))
}

/// A JSON body of type `T`; anything else (wrong content type included) is a 422.
pub struct ValidJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ValidJson<T> {
    type Rejection = RestError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_of(req, state, "application/json", "a JSON body").await?;
        // Every body of this API is an object. serde would also read a struct from an array
        // (`[]` fills an all-optional struct with defaults), so refuse anything else here.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(RestError::invalid("body", "", "expected a JSON object"));
        }
        let mut value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| RestError::invalid("body", "", format!("malformed JSON: {e}")))?;
        integral_floats_to_integers(&mut value);
        serde_path_to_error::deserialize::<_, T>(value)
            .map(ValidJson)
            .map_err(|e| {
                let path = e.path().to_string();
                let (field, msg) = field_and_message(&path, &e.into_inner().to_string());
                RestError::invalid("body", field, msg)
            })
    }
}

/// JSON (and JSON Schema) have one number type: `3.0` is the integer 3, and clients that
/// hold numbers as doubles send it so. serde would refuse it for an integer field, so
/// whole numbers written with a fraction or an exponent are made integers first.
fn integral_floats_to_integers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // Only where a double is exact (|f| ≤ 2^53): an integer literal too large for
            // i64 also reads as a double, and must stay refused, not be rounded.
            if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
                *v = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

fn from_urlencoded<T: DeserializeOwned>(location: &'static str, bytes: &[u8]) -> Result<T, RestError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
        let path = e.path().to_string();
        let (field, msg) = field_and_message(&path, &e.into_inner().to_string());
        RestError::invalid(location, field, msg)
    })
}

/// An `application/x-www-form-urlencoded` body (the OAuth2 password form).
pub struct ValidForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ValidForm<T> {
    type Rejection = RestError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_of(req, state, "application/x-www-form-urlencoded", "a form body").await?;
        from_urlencoded("body", &bytes).map(ValidForm)
    }
}

/// Query-string parameters.
pub struct ValidQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = RestError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        from_urlencoded("query", parts.uri.query().unwrap_or("").as_bytes()).map(ValidQuery)
    }
}

/// The route's only path parameter, percent-decoded: its name and value.
async fn only_path_param<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<(String, String), RestError> {
    let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| RestError::invalid("path", "id", "missing path parameter"))?;
    raw.iter()
        .next()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| RestError::invalid("path", "id", "missing path parameter"))
}

/// The numeric `{user_id}`-style path parameter (the route's only one).
pub struct IdPath(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = RestError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (name, value) = only_path_param(parts, state).await?;
        value
            .parse::<i64>()
            .map(IdPath)
            .map_err(|_| RestError::invalid("path", name, format!("expected an integer id, got {value:?}")))
    }
}

/// A text path parameter (the route's only one), e.g. `{email}`.
pub struct TextPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for TextPath {
    type Rejection = RestError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(TextPath(only_path_param(parts, state).await?.1))
    }
}

/// The caller's address and user agent, put in the request extensions by middleware.
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Client(
            parts.extensions.get::<ClientInfo>().cloned().unwrap_or_default(),
        ))
    }
}

/// Who is calling: a signed-in user (bearer token or session cookie) or an API key
/// (`Authorization: Bearer vk_…`); 401 otherwise.
pub struct CurrentUser(pub Actor);

impl<S> FromRequestParts<S> for CurrentUser
where
    S: Send + Sync,
    Services: axum::extract::FromRef<S>,
{
    type Rejection = RestError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let svc = <Services as axum::extract::FromRef<S>>::from_ref(state);
        let token = session_http::access_token(&parts.headers)
            .ok_or_else(|| RestError::from(AppError::Unauthorized("Not authenticated".into())))?;
        let client = parts.extensions.get::<ClientInfo>().cloned().unwrap_or_default();
        Ok(CurrentUser(svc.authenticate(token, &client).await?))
    }
}

/// The raw access token of the request (for sign-out).
pub struct AccessToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for AccessToken {
    type Rejection = RestError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        session_http::access_token(&parts.headers)
            .map(|t| AccessToken(t.to_string()))
            .ok_or_else(|| AppError::Unauthorized("Not authenticated".into()).into())
    }
}

/// Status for "created" answers.
pub const CREATED: StatusCode = StatusCode::CREATED;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_written_as_doubles_are_integers() {
        let mut v: serde_json::Value = serde_json::from_str(
            r#"{"a": 3.0, "b": [1e2, -0.0], "c": 2.5, "d": -9223372036854775809, "e": 7}"#,
        )
        .unwrap();
        integral_floats_to_integers(&mut v);
        assert_eq!(v["a"].as_i64(), Some(3));
        assert_eq!(v["b"], serde_json::json!([100, 0]));
        assert!(v["c"].is_f64(), "a fraction stays: an integer field refuses it");
        assert!(
            v["d"].is_f64(),
            "beyond i64 stays a double, not rounded into range"
        );
        assert_eq!(v["e"].as_i64(), Some(7));
        #[derive(serde::Deserialize)]
        struct T {
            a: i32,
        }
        assert!(serde_json::from_value::<T>(serde_json::json!({"a": 2.5})).is_err());
        assert_eq!(serde_json::from_value::<T>(v).map(|t| t.a).ok(), Some(3));
    }

    #[test]
    fn serde_errors_name_fields() {
        assert_eq!(
            field_and_message(".", "missing field `email` at line 1 column 2").0,
            "email"
        );
        assert_eq!(
            field_and_message(".", "unknown field `is_superuser`, expected one of `a`").0,
            "is_superuser"
        );
        assert_eq!(
            field_and_message("is_superuser", "unknown field `is_superuser`, expected `a`").0,
            "is_superuser"
        );
        assert_eq!(
            field_and_message(
                "email",
                "invalid type: integer `1`, expected a string at line 1 column 9"
            )
            .0,
            "email"
        );
        assert_eq!(
            field_and_message(
                "email",
                "invalid type: integer `1`, expected a string at line 1 column 9"
            )
            .1,
            "invalid type: integer `1`, expected a string"
        );
        assert_eq!(
            field_and_message(".", "invalid type: sequence, expected struct").0,
            ""
        );
    }
}
