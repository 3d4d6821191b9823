//! How errors leave the REST API: a status code and a JSON body with `detail`.
//! 422 bodies follow FastAPI's shape (`[{"loc": [...], "msg": ..., "type": ...}]`) so the
//! last `loc` element names the field. Internal errors were already logged (in
//! `vcore_app::convert`); the client only sees a generic message.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;
use vcore_app::types::AppError;
use vcore_domain::DomainError;

/// The body of every error answer (documented in the OpenAPI document).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A message, or for 422 a list of `{loc, msg, type}` objects.
    #[schema(schema_with = detail_schema)]
    pub detail: serde_json::Value,
}

/// `detail` as it is sent: a string, or (422) a list of `{loc, msg, type}` whose `loc` is
/// the location (`body`, `query`, `path`) and the field's path, all strings.
fn detail_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let entry = ObjectBuilder::new()
        .property("loc", ArrayBuilder::new().items(text()))
        .property("msg", text())
        .property("type", text())
        .required("loc")
        .required("msg")
        .required("type");
    OneOfBuilder::new()
        .item(text().description(Some("What went wrong")))
        .item(
            ArrayBuilder::new()
                .items(entry)
                .description(Some("The invalid fields (422)")),
        )
        .build()
        .into()
}

/// An error answer. `location` is where a 422's field lives: "body", "query" or "path".
#[derive(Debug)]
pub struct RestError {
    pub error: AppError,
    pub location: &'static str,
}

pub type ApiResult<T> = Result<T, RestError>;

impl RestError {
    pub fn invalid(location: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        RestError {
            error: AppError::Invalid {
                field: field.into(),
                message: message.into(),
            },
            location,
        }
    }
}

impl RestError {
    /// Puts a 422's field in `location` ("path", "query") instead of the body.
    pub fn at(mut self, location: &'static str) -> Self {
        self.location = location;
        self
    }
}

impl From<AppError> for RestError {
    fn from(error: AppError) -> Self {
        RestError {
            error,
            location: "body",
        }
    }
}

impl From<DomainError> for RestError {
    fn from(e: DomainError) -> Self {
        AppError::from(e).into()
    }
}

/// A 422 body: one entry naming the field (an empty field means the whole body).
pub fn invalid_body(location: &str, field: &str, message: &str) -> serde_json::Value {
    let mut loc = vec![location.to_string()];
    if !field.is_empty() {
        loc.extend(field.split('.').map(str::to_string));
    }
    json!([{ "loc": loc, "msg": message, "type": "value_error" }])
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let detail = match &self.error {
            AppError::Invalid { field, message } => invalid_body(self.location, field, message),
            other => json!(other.to_string()),
        };
        let mut resp = (status, Json(ErrorBody { detail })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// A plain `{"detail": message}` answer with any status.
pub fn detail(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(ErrorBody {
            detail: json!(message),
        }),
    )
        .into_response()
}
