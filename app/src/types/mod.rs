//! Wire types: what the browser and the server exchange, over REST and server functions
//! alike. Browser-safe (no server crates); the server derives OpenAPI schemas for them.

use serde::{Deserialize, Serialize};

mod audit;
mod dashboard;
mod jobs;
mod keys;
mod schedulers;
#[cfg(feature = "ssr")]
pub mod schema;
mod users;

pub use audit::*;
pub use dashboard::*;
pub use jobs::*;
pub use keys::*;
pub use schedulers::*;
pub use users::*;

/// The error every server function (and, as JSON `detail`, every REST endpoint) ends with.
/// `Invalid` names the field so forms can show the message next to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// 422
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// 401
    #[error("{0}")]
    Unauthorized(String),
    /// 403
    #[error("{0}")]
    Forbidden(String),
    /// 404
    #[error("{0}")]
    NotFound(String),
    /// 409
    #[error("{0}")]
    Conflict(String),
    /// 429
    #[error("{0}")]
    TooManyRequests(String),
    /// 503: switched off, or needs a service that is not configured.
    #[error("{0}")]
    Unavailable(String),
    /// 500: details are in the server log only.
    #[error("Internal server error")]
    Internal,
    /// The call itself failed (network, decoding): raised on the client side.
    #[error("{0}")]
    Transport(String),
}

impl AppError {
    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid { .. } => 422,
            AppError::Unauthorized(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) => 409,
            AppError::TooManyRequests(_) => 429,
            AppError::Unavailable(_) => 503,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }

    /// The message for `field`, when this error is about it.
    /// The message for the field `name`, or for a field inside it (`meta.seconds` for `meta`,
    /// prefixed with `seconds: `).
    pub fn for_field(&self, name: &str) -> Option<String> {
        match self {
            AppError::Invalid { field, message } if field == name => Some(message.clone()),
            AppError::Invalid { field, message } => field
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('.'))
                .map(|inner| format!("{inner}: {message}")),
            _ => None,
        }
    }
}

impl server_fn::error::FromServerFnError for AppError {
    type Encoder = server_fn::codec::JsonEncoding;
    fn from_server_fn_error(value: server_fn::error::ServerFnErrorErr) -> Self {
        use server_fn::error::ServerFnErrorErr as E;
        match value {
            // Raised on the server for a malformed call: the client's fault, so a 422
            // naming the argument when serde names it ("missing field `password`").
            E::Args(msg) | E::MissingArg(msg) => {
                let field = msg
                    .split('`')
                    .nth(1)
                    .filter(|_| msg.contains("field `"))
                    .unwrap_or_default()
                    .to_string();
                AppError::Invalid { field, message: msg }
            }
            other => AppError::Transport(other.to_string()),
        }
    }
}

/// An API time (`2026-01-31T12:00:00.250Z`) to the second, for lists: `2026-01-31 12:00:00`.
pub fn short_time(t: &str) -> String {
    let t = t.trim_end_matches('Z');
    let t = t.split_once('.').map_or(t, |(whole, _)| whole);
    t.replacen('T', " ", 1)
}

/// A duration for people: `250 ms`, `4.2 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`.
pub fn human_duration(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..10_000 => format!("{}.{} s", s, (ms % 1000) / 100),
        10_000..60_000 => format!("{s} s"),
        60_000..3_600_000 => format!("{} min {} s", s / 60, s % 60),
        3_600_000..86_400_000 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use server_fn::error::{FromServerFnError, ServerFnErrorErr};

    #[test]
    fn malformed_server_fn_calls_are_the_clients_fault() {
        let e = AppError::from_server_fn_error(ServerFnErrorErr::Args("missing field `password`".into()));
        assert_eq!(e.status(), 422);
        assert_eq!(
            e.for_field("password").as_deref(),
            Some("missing field `password`")
        );
        let e = AppError::from_server_fn_error(ServerFnErrorErr::Request("offline".into()));
        assert!(matches!(e, AppError::Transport(_)));
    }

    #[test]
    fn list_times_stop_at_the_second() {
        assert_eq!(short_time("2026-01-31T12:00:00.250Z"), "2026-01-31 12:00:00");
        assert_eq!(short_time("2026-01-31T12:00:00Z"), "2026-01-31 12:00:00");
    }

    #[test]
    fn durations_read_naturally() {
        for (ms, text) in [
            (-5, "0 ms"),
            (250, "250 ms"),
            (999, "999 ms"),
            (1_000, "1.0 s"),
            (4_290, "4.2 s"),
            (59_999, "59 s"),
            (185_000, "3 min 5 s"),
            (7_800_000, "2 h 10 min"),
            (273_600_000, "3 d 4 h"),
        ] {
            assert_eq!(human_duration(ms), text, "{ms} ms");
        }
    }

    #[test]
    fn statuses_follow_the_variant() {
        assert_eq!(AppError::Unauthorized("x".into()).status(), 401);
        assert_eq!(AppError::Forbidden("x".into()).status(), 403);
        assert_eq!(AppError::Conflict("x".into()).status(), 409);
        assert_eq!(AppError::Internal.to_string(), "Internal server error");
    }
}
