//! OpenAPI schemas for the string fields whose rules `#[derive(ToSchema)]` cannot see: the
//! enumerations kept as strings on the wire, and the text rules of the domain's parsers
//! (`vcore_domain::validate`, `jobs::parse_name`). Each function is named by a field's
//! `schema_with`; `_or_null` variants are for optional fields, where `null` means "not
//! given". They state exactly what the server accepts, so that a client generated from the
//! document (and schemathesis, which tests the server against it) can trust them.

use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaFormat, SchemaType, Type};

/// Any character but a control one (Unicode category Cc).
const PRINTABLE: &str = r"[^\u0000-\u001f\u007f-\u009f]";

fn string(nullable: bool) -> ObjectBuilder {
    let t = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new().schema_type(t)
}

fn one_of(values: &[&str], nullable: bool) -> Object {
    let mut all: Vec<serde_json::Value> = values.iter().map(|v| (*v).into()).collect();
    if nullable {
        all.push(serde_json::Value::Null);
    }
    string(nullable).enum_values(Some(all)).build()
}

/// Printable text with something besides spaces, `min..=max` characters.
fn text(min: usize, max: usize, nullable: bool) -> Object {
    string(nullable)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(format!(
            r"^{PRINTABLE}*[^\s\u0000-\u001f\u007f-\u009f]{PRINTABLE}*$"
        )))
        .build()
}

macro_rules! schemas {
    ($($(#[$doc:meta])* $name:ident / $or_null:ident => $body:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name() -> Object {
            let build: fn(bool) -> Object = $body;
            build(false)
        }
        $(#[$doc])*
        pub fn $or_null() -> Object {
            let build: fn(bool) -> Object = $body;
            build(true)
        }
    )*};
}

schemas! {
    /// A job's state.
    job_status / job_status_or_null =>
        |n| one_of(&["pending", "queued", "running", "done", "failed", "cancelled"], n);
    /// A job's priority.
    priority / priority_or_null => |n| one_of(&["highest", "high", "normal", "low", "lowest"], n);
    /// What a job runs.
    job_type / job_type_or_null => |n| one_of(&["command", "script", "api_post"], n);
    /// What starts a scheduler's jobs.
    trigger / trigger_or_null => |n| one_of(&["on_start", "repeat", "cron"], n);
    /// What a bulk call does.
    bulk_action / bulk_action_or_null => |n| one_of(&["retry", "kill", "delete"], n);
    /// How an audited action ended.
    outcome / outcome_or_null => |n| one_of(&["success", "failure", "denied", "error"], n);
    /// A job's or a scheduler's name (trimmed).
    name / name_or_null => |n| text(1, 200, n);
    /// A job's command, script name or URL (trimmed; no NUL; lines allowed).
    command / command_or_null => |n| {
        string(n)
            .min_length(Some(1))
            .max_length(Some(16 * 1024))
            .pattern(Some(r"^[^\u0000]*\S[^\u0000]*$"))
            .build()
    };
    /// A login name, stored lower-case.
    username / username_or_null => |n| {
        string(n).min_length(Some(3)).max_length(Some(64)).pattern(Some("^[A-Za-z0-9_.-]+$")).build()
    };
    /// An e-mail address, stored lower-case.
    email / email_or_null => |n| {
        string(n).format(Some(SchemaFormat::Custom("email".into()))).max_length(Some(254)).build()
    };
    /// A new password: 8 to 128 characters, not only spaces.
    password / password_or_null => |n| {
        string(n).min_length(Some(8)).max_length(Some(128)).pattern(Some(r"\S")).build()
    };
    /// A job's uniqueness key (trimmed).
    unique_key / unique_key_or_null => |n| {
        string(n).min_length(Some(1)).max_length(Some(256)).pattern(Some(r"\S")).build()
    };
    /// A display name; empty means none.
    full_name / full_name_or_null => |n| {
        string(n).max_length(Some(128)).pattern(Some(format!("^{PRINTABLE}*$"))).build()
    };
    /// Something typed in a form that must not be empty (a login, a password, a token).
    given / given_or_null => |n| string(n).min_length(Some(1)).pattern(Some(r"\S")).build();
    /// A second factor's code: 6 digits, or a recovery code (dashes and spaces ignored).
    mfa_code / mfa_code_or_null => |n| string(n).max_length(Some(64)).build();
    /// An RFC 3339 time.
    time / time_or_null => |n| string(n).format(Some(SchemaFormat::Custom("date-time".into()))).build();
}

/// A list filter (`?name=` of jobs): printable, at most 200 characters; empty means none.
pub fn name_filter() -> Object {
    string(false)
        .max_length(Some(200))
        .pattern(Some(format!("^{PRINTABLE}*$")))
        .build()
}

/// A free-text filter of the audit log: at most 200 characters, no NUL; empty means none.
pub fn text_filter() -> Object {
    string(false)
        .max_length(Some(200))
        .pattern(Some(r"^[^\u0000]*$"))
        .build()
}

/// The audit log's `?outcome=`; empty means any.
pub fn outcome_filter() -> Object {
    one_of(&["success", "failure", "denied", "error", ""], false)
}

/// An RFC 3339 time filter; empty means none.
pub fn time_filter() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::Schema::AnyOf(
        utoipa::openapi::schema::AnyOfBuilder::new()
            .item(time())
            .item(string(false).max_length(Some(0)).build())
            .build(),
    )
}
