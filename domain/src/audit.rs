//! The audit log (S3): an append-only record of who did what to what, when, from where
//! (address, user agent, request id) and how it ended (`success`, `failure`, `denied`,
//! `error`). Nothing updates an entry; only retention (`AUDIT_RETENTION_DAYS`, on the
//! maintenance node) deletes old ones. Entries outlive their actors: the actor's name is
//! kept as it was.
//!
//! Actions recorded (the `action` column):
//! - `auth.login` (a failure names the login tried), `auth.logout`
//! - `user.create`, `user.update`, `user.role_change`, `user.delete`,
//!   `user.password_change`, `user.password_reset`
//! - `api_key.create`, `api_key.revoke`
//! - `job.kill`, `job.delete`, `job.retry`, `job.cancel`, `job.bulk`
//! - `scheduler.create`, `scheduler.update`, `scheduler.toggle`, `scheduler.delete`
//! - `queue.stop`, `queue.start`
//!
//! Only superusers read it (`GET /audit-log/`, the Audit log page); through a key, with the
//! `admin` scope.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::access::Actor;
use crate::error::{DomainError, DomainResult};
use crate::schema::audit_log;
use crate::sessions::ClientInfo;
use crate::users::Page;
use crate::{with_conn, Services};

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Refused on its merits (bad input, wrong password, not found, a conflict).
    Failure,
    /// Refused for want of rights (403), or throttled.
    Denied,
    /// An outage or a bug.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }

    pub fn of<T>(result: &DomainResult<T>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(DomainError::Forbidden(_) | DomainError::TooManyRequests(_)) => Outcome::Denied,
            Err(DomainError::Internal(_)) => Outcome::Error,
            Err(_) => Outcome::Failure,
        }
    }
}

/// Who acted and from where.
#[derive(Debug, Clone, Default)]
pub struct Who {
    pub user_id: Option<i64>,
    pub key_id: Option<i64>,
    /// The username (or, for a failed sign-in, the login tried; `command line` for the CLI).
    pub name: Option<String>,
    pub client: ClientInfo,
}

impl Who {
    pub fn of(actor: &Actor) -> Who {
        Who {
            user_id: Some(actor.user.id),
            key_id: actor.key_id(),
            name: Some(actor.user.username.clone()),
            client: actor.client.clone(),
        }
    }

    /// The server's command line (the person who runs the server).
    pub fn command_line() -> Who {
        Who {
            name: Some("command line".into()),
            ..Default::default()
        }
    }
}

/// What was acted on: a type (`user`, `job`, `api_key`, `scheduler`, `queue`) and an id.
pub type Target<'a> = Option<(&'a str, String)>;

/// One entry.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i64,
    pub at: NaiveDateTime,
    pub actor_id: Option<i64>,
    pub actor_key_id: Option<i64>,
    pub actor_name: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// JSON.
    pub detail: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewEntry {
    at: NaiveDateTime,
    actor_id: Option<i64>,
    actor_key_id: Option<i64>,
    actor_name: Option<String>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    outcome: String,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    detail: Option<String>,
}

/// Filters of [`Services::list_audit`]; raw text, checked there.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// A user id, or a name (username, the login tried, `command line`).
    pub actor: Option<String>,
    /// An action (`job.kill`), or a family ending in a dot (`job.`).
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub outcome: Option<String>,
    /// RFC 3339; entries at or after.
    pub since: Option<String>,
    /// RFC 3339; entries before.
    pub until: Option<String>,
}

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn text_filter(field: &str, v: Option<String>) -> DomainResult<Option<String>> {
    let v = v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if v.as_ref()
        .is_some_and(|s| s.chars().count() > 200 || s.contains('\0'))
    {
        return Err(DomainError::invalid(
            field,
            "must be at most 200 characters, without NUL",
        ));
    }
    Ok(v)
}

impl Services {
    /// Appends an entry. A failed write is logged, never raised: the action has happened.
    pub async fn audit(
        &self,
        who: &Who,
        action: &str,
        target: Target<'_>,
        outcome: Outcome,
        detail: Option<serde_json::Value>,
    ) {
        let (target_type, target_id) = match target {
            Some((t, id)) => (Some(t.to_string()), Some(id)),
            None => (None, None),
        };
        let row = NewEntry {
            at: Utc::now().naive_utc(),
            actor_id: who.user_id,
            actor_key_id: who.key_id,
            actor_name: who.name.as_deref().map(|n| cut(n, 254)),
            action: action.to_string(),
            target_type,
            target_id,
            outcome: outcome.as_str().to_string(),
            ip: who.client.ip.clone(),
            user_agent: who.client.user_agent.as_deref().map(|u| cut(u, 256)),
            request_id: who.client.request_id.as_deref().map(|r| cut(r, 100)),
            detail: detail.map(|d| d.to_string()),
        };
        let written: DomainResult<usize> = async {
            Ok(with_conn!(self.db, |conn| {
                diesel::insert_into(audit_log::table)
                    .values(&row)
                    .execute(conn)
                    .await?
            }))
        }
        .await;
        if let Err(e) = written {
            tracing::error!(action, error = %e, "writing the audit log failed");
        }
    }

    /// Records `result` of an action by `actor` and hands it back.
    pub(crate) async fn audited<T>(
        &self,
        actor: &Actor,
        action: &str,
        target: Target<'_>,
        detail: Option<serde_json::Value>,
        result: DomainResult<T>,
    ) -> DomainResult<T> {
        let detail = match (&result, detail) {
            (Err(e), d) => {
                let mut d = d.unwrap_or_else(|| serde_json::json!({}));
                if let Some(map) = d.as_object_mut() {
                    let reason = match e {
                        DomainError::Internal(_) => "internal error".to_string(),
                        e => e.to_string(),
                    };
                    map.insert("reason".into(), reason.into());
                }
                Some(d)
            }
            (Ok(_), d) => d,
        };
        self.audit(&Who::of(actor), action, target, Outcome::of(&result), detail)
            .await;
        result
    }

    /// Entries, newest first, filtered (superusers; a key needs `admin`).
    pub async fn list_audit(
        &self,
        actor: &Actor,
        f: AuditFilter,
        page: Page,
    ) -> DomainResult<(Vec<AuditEntry>, i64)> {
        actor.need_admin()?;
        let actor_f = text_filter("actor", f.actor)?;
        let action = text_filter("action", f.action)?;
        let target_type = text_filter("target_type", f.target_type)?;
        let target_id = text_filter("target_id", f.target_id)?;
        let outcome = text_filter("outcome", f.outcome)?;
        if let Some(o) = &outcome {
            if !["success", "failure", "denied", "error"].contains(&o.as_str()) {
                return Err(DomainError::invalid(
                    "outcome",
                    "must be one of success, failure, denied, error",
                ));
            }
        }
        let time = |field: &str, v: Option<String>| -> DomainResult<Option<NaiveDateTime>> {
            text_filter(field, v)?
                .map(|t| crate::jobs::service::parse_time(field, &t).map(|d| d.naive_utc()))
                .transpose()
        };
        let since = time("since", f.since)?;
        let until = time("until", f.until)?;
        // A macro, not a closure: a boxed query is of one backend, and each arm of
        // `with_conn!` needs its own.
        macro_rules! build {
            () => {{
                let mut q = audit_log::table.into_boxed();
                if let Some(a) = &actor_f {
                    q = match a.parse::<i64>() {
                        Ok(id) => q.filter(audit_log::actor_id.eq(id)),
                        Err(_) => q.filter(audit_log::actor_name.eq(a.clone())),
                    };
                }
                if let Some(a) = &action {
                    q = match a.strip_suffix('.') {
                        Some(family) => q.filter(audit_log::action.like(format!("{family}.%"))),
                        None => q.filter(audit_log::action.eq(a.clone())),
                    };
                }
                if let Some(t) = &target_type {
                    q = q.filter(audit_log::target_type.eq(t.clone()));
                }
                if let Some(t) = &target_id {
                    q = q.filter(audit_log::target_id.eq(t.clone()));
                }
                if let Some(o) = &outcome {
                    q = q.filter(audit_log::outcome.eq(o.clone()));
                }
                if let Some(t) = since {
                    q = q.filter(audit_log::at.ge(t));
                }
                if let Some(t) = until {
                    q = q.filter(audit_log::at.lt(t));
                }
                q
            }};
        }
        Ok(with_conn!(self.db, |conn| {
            let total: i64 = build!().count().get_result(conn).await?;
            let rows = build!()
                .order(audit_log::id.desc())
                .offset(page.offset)
                .limit(page.limit)
                .select(AuditEntry::as_select())
                .load(conn)
                .await?;
            (rows, total)
        }))
    }
}

/// Deletes entries older than `before` (retention); returns how many.
pub async fn prune(db: &crate::db::Db, before: NaiveDateTime) -> DomainResult<usize> {
    Ok(with_conn!(db, |conn| {
        diesel::delete(audit_log::table.filter(audit_log::at.lt(before)))
            .execute(conn)
            .await?
    }))
}
