//! What an application built on vcore may rely on, in one `use vcore_server::prelude::*;`
//! for its server crate, plus the crates it must use at vcore's versions (re-exported
//! below, so that a handler's `axum` types are vcore's). vcore keeps these names stable
//! within a minor version; anything else in vcore's crates may change.

pub use crate::http::error::{ApiResult, ErrorBody, RestError};
pub use crate::http::extract::{CurrentUser, IdPath, ValidJson, ValidQuery};
pub use crate::http::AppState;
pub use crate::App;
pub use vcore_domain::db::Db;
pub use vcore_domain::extend::AppMigrations;
pub use vcore_domain::jobs::scheduler_service::SchedulerInput;
pub use vcore_domain::jobs::scripts::{InputError, Script, ScriptCtx};
pub use vcore_domain::users::{Page, User};
pub use vcore_domain::{with_conn, Config, DomainError, Extensions, Services};

pub use vcore_domain::{diesel, diesel_async, diesel_migrations};
pub use {axum, leptos, leptos_axum, serde_json, tokio, utoipa, utoipa_axum};
