//! The server side of notes: its table, the rules and queries on it (used by both the REST
//! resource and the server functions), its script, its scheduler and its migrations.
//! Queries are written once for both backends with vcore's `with_conn!`.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use vcore_domain::extend::AppMigrations;
use vcore_domain::jobs::scheduler_service::SchedulerInput;
use vcore_domain::jobs::scripts::{InputError, Script, ScriptCtx};
use vcore_domain::users::User;
use vcore_domain::{with_conn, DomainError, Services};

use crate::types::{Note, NoteCreate};

/// Longest title and body accepted.
pub const MAX_TITLE: usize = 200;
pub const MAX_BODY: usize = 10_000;

const SQLITE: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("../migrations/sqlite");
const POSTGRES: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("../migrations/postgres");

/// The notes table, on SQLite and PostgreSQL; applied after vcore's migrations.
pub const MIGRATIONS: AppMigrations = AppMigrations {
    app: "notes",
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

pub mod schema {
    diesel::table! {
        notes (id) {
            id -> BigInt,
            owner_id -> BigInt,
            title -> Text,
            body -> Text,
            created_at -> Timestamp,
        }
    }
}

use schema::notes::dsl as n;

#[derive(Queryable, Selectable)]
#[diesel(table_name = schema::notes)]
struct Row {
    id: i64,
    owner_id: i64,
    title: String,
    body: String,
    created_at: NaiveDateTime,
}

impl From<Row> for Note {
    fn from(r: Row) -> Note {
        Note {
            id: r.id,
            owner_id: r.owner_id,
            title: r.title,
            body: r.body,
            created_at: r
                .created_at
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }
}

/// A note's fields, checked: the field named in a 422, nothing stored.
fn check(input: NoteCreate) -> Result<NoteCreate, DomainError> {
    let title = input.title.trim().to_string();
    if title.is_empty() || title.chars().count() > MAX_TITLE {
        return Err(DomainError::invalid(
            "title",
            format!("must be 1 to {MAX_TITLE} characters"),
        ));
    }
    if input.body.chars().count() > MAX_BODY {
        return Err(DomainError::invalid(
            "body",
            format!("must be at most {MAX_BODY} characters"),
        ));
    }
    if title.contains('\0') || input.body.contains('\0') {
        let field = if title.contains('\0') { "title" } else { "body" };
        return Err(DomainError::invalid(field, "must not contain NUL"));
    }
    Ok(NoteCreate {
        title,
        body: input.body,
    })
}

/// The caller's notes, newest first (everyone's keep to themselves: a superuser too).
pub async fn list(svc: &Services, me: &User) -> Result<Vec<Note>, DomainError> {
    let rows: Vec<Row> = with_conn!(svc.db, |conn| {
        n::notes
            .filter(n::owner_id.eq(me.id))
            .order(n::id.desc())
            .limit(500)
            .select(Row::as_select())
            .load(conn)
            .await?
    });
    Ok(rows.into_iter().map(Note::from).collect())
}

pub async fn create(svc: &Services, me: &User, input: NoteCreate) -> Result<Note, DomainError> {
    let input = check(input)?;
    let now = Utc::now().naive_utc();
    let row: Row = with_conn!(svc.db, |conn| {
        diesel::insert_into(n::notes)
            .values((
                n::owner_id.eq(me.id),
                n::title.eq(&input.title),
                n::body.eq(&input.body),
                n::created_at.eq(now),
            ))
            .returning(Row::as_returning())
            .get_result(conn)
            .await?
    });
    tracing::info!(note = row.id, by = me.id, "note created");
    Ok(row.into())
}

fn not_found() -> DomainError {
    DomainError::NotFound("Note not found".into())
}

/// One of the caller's notes; another user's is "not found", as if it did not exist.
pub async fn get(svc: &Services, me: &User, id: i64) -> Result<Note, DomainError> {
    let row: Option<Row> = with_conn!(svc.db, |conn| {
        n::notes
            .filter(n::id.eq(id).and(n::owner_id.eq(me.id)))
            .select(Row::as_select())
            .first(conn)
            .await
            .optional()?
    });
    row.map(Note::from).ok_or_else(not_found)
}

pub async fn delete(svc: &Services, me: &User, id: i64) -> Result<(), DomainError> {
    let deleted = with_conn!(svc.db, |conn| {
        diesel::delete(n::notes.filter(n::id.eq(id).and(n::owner_id.eq(me.id))))
            .execute(conn)
            .await?
    });
    match deleted {
        0 => Err(not_found()),
        _ => Ok(()),
    }
}

/// The script `notes_digest`: how many notes and words were written in the last `days`
/// days: the job owner's, or everyone's for the application's own scheduler (no owner).
pub struct Digest;

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestInput {
    /// How far back to look, 1 to 365 days (default 7).
    #[serde(default = "seven")]
    #[schema(default = 7)]
    pub days: i64,
}

fn seven() -> i64 {
    7
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
pub struct DigestOutput {
    pub notes: i64,
    pub words: i64,
    pub days: i64,
}

impl Script for Digest {
    const NAME: &'static str = "notes_digest";
    const DESCRIPTION: &'static str = "Counts the notes and words written in the last {\"days\": n} days";
    type Input = DigestInput;
    type Output = DigestOutput;

    fn check(&self, input: &DigestInput) -> Result<(), InputError> {
        match (1..=365).contains(&input.days) {
            true => Ok(()),
            false => Err(InputError::new("days", "expected a whole number from 1 to 365")),
        }
    }

    async fn run(&self, ctx: &ScriptCtx, input: DigestInput) -> anyhow::Result<DigestOutput> {
        let since = (Utc::now() - chrono::Duration::days(input.days)).naive_utc();
        let owner = ctx.owner_id;
        let bodies: Vec<(String, String)> = with_conn!(ctx.db, |conn| {
            let mut q = n::notes.filter(n::created_at.ge(since)).into_boxed();
            if let Some(owner) = owner {
                q = q.filter(n::owner_id.eq(owner));
            }
            q.select((n::title, n::body)).load(conn).await?
        });
        let words = bodies
            .iter()
            .map(|(t, b)| (t.split_whitespace().count() + b.split_whitespace().count()) as i64)
            .sum();
        Ok(DigestOutput {
            notes: bodies.len() as i64,
            words,
            days: input.days,
        })
    }
}

/// The application's scheduler: everyone's digest, every morning at 06:00 UTC.
pub fn nightly_digest() -> SchedulerInput {
    SchedulerInput {
        name: "notes digest".into(),
        description: Some("Counts yesterday's notes and words (the notes example)".into()),
        trigger_type: "cron".into(),
        repeat_every_seconds: None,
        cron: Some("0 6 * * *".into()),
        timezone: Some("UTC".into()),
        job_template: serde_json::json!({
            "name": "notes digest", "type": "script", "command": "notes_digest", "meta": { "days": 1 }
        }),
        enabled: true,
    }
}
