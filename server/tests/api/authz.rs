//! Every authorisation rule from every side (S9), as one table: for each endpoint, the
//! status seen by an anonymous caller, by the resource's owner (a regular user), by another
//! regular user, by a viewer, by an operator and by a superuser, and by API keys of the
//! owner and of the superuser with and without the scope the endpoint needs.
//!
//! The key columns are derived from the row's [`Need`]: a key with the needed scope gets
//! what its owner gets; a key with every other scope gets 403; an endpoint that needs a
//! signed-in session (passwords, sign-out, keys) refuses every key with 403.
//!
//! A 2xx expectation is written `200` and means "any success" (creation answers 201).
//! Every refusal must carry a JSON `detail`; every 401 must challenge with `Bearer`.
//! Placeholders: in paths `{id}` is the owner's account, `{admin}` the superuser's,
//! `{missing}` an id nobody has, `{job}` the owner's long-lived pending job, `{fresh}` a new
//! pending job of the owner's per request, `{sched}` the owner's scheduler, `{fresh_sched}`
//! a new one per request, `{fresh_key}` a new key of the owner's per request; in bodies,
//! `{uniq}` is a fresh string, `{run_at}` an hour from now, `{id}` the owner's id.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

both_backends!(every_endpoint_from_every_side);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Owner,
    Other,
    Viewer,
    Operator,
    Superuser,
}

const PEOPLE: [Who; 6] = [
    Who::Anonymous,
    Who::Owner,
    Who::Other,
    Who::Viewer,
    Who::Operator,
    Who::Superuser,
];

const SCOPES: [&str; 4] = ["jobs:read", "jobs:write", "schedulers", "admin"];

/// What an API key needs for a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Any key: public endpoints, one's own account.
    Any,
    /// This scope.
    Scope(&'static str),
    /// A signed-in session: every key is refused.
    Session,
}

/// A column of the table: a person, or a key of the owner's or the superuser's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Person(Who),
    /// (whose key: Owner or Superuser, whether it has the needed scope)
    Key(Who, bool),
}

struct Row {
    method: Method,
    path: &'static str,
    body: Option<&'static str>,
    /// Anonymous, owner, other user, viewer, operator, superuser.
    expect: [u16; 6],
    /// What the owner's key needs and what the superuser's key needs.
    need: (Need, Need),
    /// Needs accounts of its own for each request (it signs out or deletes an account).
    fresh_world: bool,
}

fn row(method: Method, path: &'static str, body: Option<&'static str>, expect: [u16; 6], need: Need) -> Row {
    Row {
        method,
        path,
        body,
        expect,
        need: (need, need),
        fresh_world: false,
    }
}

impl Row {
    fn fresh_world(mut self) -> Row {
        self.fresh_world = true;
        self
    }
    fn superuser_key_needs(mut self, need: Need) -> Row {
        self.need.1 = need;
        self
    }
}

const JOBS_READ: Need = Need::Scope("jobs:read");
const JOBS_WRITE: Need = Need::Scope("jobs:write");
const SCHEDULERS: Need = Need::Scope("schedulers");
const ADMIN: Need = Need::Scope("admin");

fn table() -> Vec<Row> {
    use Method as M;
    const SCRIPT: &str = r#"{"name":"s {uniq}","type":"script","command":"noop","run_at":"{run_at}"}"#;
    const API_POST: &str =
        r#"{"name":"p {uniq}","type":"api_post","command":"http://example.invalid/x","run_at":"{run_at}"}"#;
    const COMMAND: &str = r#"{"name":"c {uniq}","type":"command","command":"true","run_at":"{run_at}"}"#;
    const PRUNE: &str = r#"{"name":"pr {uniq}","type":"script","command":"prune_jobs","run_at":"{run_at}"}"#;
    const SCHED_SCRIPT: &str = r#"{"name":"s {uniq}","trigger_type":"repeat","repeat_every_seconds":3600,"job_template":{"name":"t","type":"script","command":"noop"}}"#;
    const SCHED_COMMAND: &str = r#"{"name":"c {uniq}","trigger_type":"repeat","repeat_every_seconds":3600,"job_template":{"name":"t","type":"command","command":"true"}}"#;
    const SCHED_PRUNE: &str = r#"{"name":"p {uniq}","trigger_type":"repeat","repeat_every_seconds":3600,"job_template":{"name":"t","type":"script","command":"prune_jobs"}}"#;
    vec![
        // Public endpoints: the same for everyone.
        row(M::GET, "/healthz", None, [200; 6], Need::Any),
        row(M::GET, "/readyz", None, [200; 6], Need::Any),
        row(M::GET, "/api/v1/openapi.json", None, [200; 6], Need::Any),
        // Registration is closed on this app, for everyone.
        row(
            M::POST,
            "/api/v1/register",
            Some(r#"{"username":"reg{uniq}","email":"reg{uniq}@example.com","password":"register-pass-1"}"#),
            [403; 6],
            Need::Any,
        ),
        // Password recovery is public; this app has no email, so it says it is unavailable,
        // and a reset with a bad token is refused on its merits, for everyone alike.
        row(
            M::POST,
            "/api/v1/password-recovery/someone@example.com",
            None,
            [503; 6],
            Need::Any,
        ),
        row(
            M::POST,
            "/api/v1/reset-password",
            Some(r#"{"token":"not-a-token-{uniq}","new_password":"whatever-new-1"}"#),
            [422; 6],
            Need::Any,
        ),
        // One's own session and account.
        row(
            M::POST,
            "/api/v1/login/test-token",
            None,
            [401, 200, 200, 200, 200, 200],
            Need::Any,
        ),
        row(
            M::POST,
            "/api/v1/logout",
            None,
            [401, 200, 200, 200, 200, 200],
            Need::Session,
        )
        .fresh_world(),
        row(
            M::GET,
            "/api/v1/users/me",
            None,
            [401, 200, 200, 200, 200, 200],
            Need::Any,
        ),
        row(
            M::PUT,
            "/api/v1/users/me",
            Some(r#"{"full_name":"Changed {uniq}"}"#),
            [401, 200, 200, 200, 200, 200],
            ADMIN,
        ),
        // Authorised, then refused on its merits (wrong current password): proves the gate
        // without ending anyone's sessions.
        row(
            M::POST,
            "/api/v1/users/me/password",
            Some(r#"{"current_password":"not-the-password","new_password":"whatever-new-1"}"#),
            [401, 422, 422, 422, 422, 422],
            Need::Session,
        ),
        // One's own second factor: reading it with any key, changing it with a session.
        row(
            M::GET,
            "/api/v1/users/me/mfa",
            None,
            [401, 200, 200, 200, 200, 200],
            Need::Any,
        ),
        row(
            M::POST,
            "/api/v1/users/me/mfa/setup",
            None,
            [401, 200, 200, 200, 200, 200],
            Need::Session,
        ),
        row(
            M::POST,
            "/api/v1/users/me/mfa/enable",
            Some(r#"{"code":"abcdef"}"#),
            [401, 422, 422, 422, 422, 422],
            Need::Session,
        ),
        row(
            M::POST,
            "/api/v1/users/me/mfa/disable",
            Some(r#"{"code":"000000"}"#),
            [401, 409, 409, 409, 409, 409],
            Need::Session,
        ),
        // Another's second factor: a superuser's reset (of the set-up the owner began above,
        // still pending; then of nothing, which is not an error).
        row(
            M::DELETE,
            "/api/v1/users/{id}/mfa",
            None,
            [401, 403, 403, 403, 403, 200],
            Need::Scope("admin"),
        ),
        // The user list and creation: superuser only.
        row(
            M::GET,
            "/api/v1/users/",
            None,
            [401, 403, 403, 403, 403, 200],
            ADMIN,
        ),
        row(
            M::GET,
            "/api/v1/users/?offset=0&limit=10",
            None,
            [401, 403, 403, 403, 403, 200],
            ADMIN,
        ),
        row(
            M::POST,
            "/api/v1/users/",
            Some(
                r#"{"username":"new{uniq}","email":"new{uniq}@example.com","password":"new-user-pass-1","role":"operator"}"#,
            ),
            [401, 403, 403, 403, 403, 200],
            ADMIN,
        ),
        // One account: its owner or a superuser. Reading one's own needs no scope.
        row(
            M::GET,
            "/api/v1/users/{id}",
            None,
            [401, 200, 403, 403, 403, 200],
            Need::Any,
        )
        .superuser_key_needs(ADMIN),
        row(
            M::PUT,
            "/api/v1/users/{id}",
            Some(r#"{"full_name":"Changed {uniq}"}"#),
            [401, 200, 403, 403, 403, 200],
            ADMIN,
        ),
        // Privileges: a superuser only, even on one's own account. (The values keep the
        // account as it is, so the row can run from every side.)
        row(
            M::PUT,
            "/api/v1/users/{id}",
            Some(r#"{"is_active":true}"#),
            [401, 403, 403, 403, 403, 200],
            ADMIN,
        ),
        row(
            M::PUT,
            "/api/v1/users/{id}",
            Some(r#"{"is_superuser":false}"#),
            [401, 403, 403, 403, 403, 200],
            ADMIN,
        ),
        row(
            M::PUT,
            "/api/v1/users/{id}",
            Some(r#"{"role":"user"}"#),
            [401, 403, 403, 403, 403, 200],
            ADMIN,
        ),
        // Accounts that do not exist: only a superuser may learn that.
        row(
            M::GET,
            "/api/v1/users/{missing}",
            None,
            [401, 403, 403, 403, 403, 404],
            ADMIN,
        ),
        row(
            M::PUT,
            "/api/v1/users/{missing}",
            Some(r#"{"full_name":"x"}"#),
            [401, 403, 403, 403, 403, 404],
            ADMIN,
        ),
        row(
            M::DELETE,
            "/api/v1/users/{missing}",
            None,
            [401, 403, 403, 403, 403, 404],
            ADMIN,
        ),
        // Deletion: superuser only, never oneself.
        row(
            M::DELETE,
            "/api/v1/users/{admin}",
            None,
            [401, 403, 403, 403, 403, 403],
            ADMIN,
        ),
        row(
            M::DELETE,
            "/api/v1/users/{id}",
            None,
            [401, 403, 403, 403, 403, 200],
            ADMIN,
        )
        .fresh_world(),
        // API keys: one's own with a session, others' for a superuser.
        row(
            M::GET,
            "/api/v1/api-keys/",
            None,
            [401, 200, 200, 200, 200, 200],
            Need::Session,
        ),
        row(
            M::GET,
            "/api/v1/api-keys/?all=true",
            None,
            [401, 403, 403, 403, 403, 200],
            Need::Session,
        ),
        row(
            M::GET,
            "/api/v1/api-keys/?user_id={id}",
            None,
            [401, 200, 403, 403, 403, 200],
            Need::Session,
        ),
        row(
            M::POST,
            "/api/v1/api-keys/",
            Some(r#"{"name":"k {uniq}","scopes":["jobs:read"]}"#),
            [401, 200, 200, 200, 200, 200],
            Need::Session,
        ),
        row(
            M::POST,
            "/api/v1/api-keys/",
            Some(r#"{"name":"k {uniq}","scopes":["jobs:read"],"user_id":{id}}"#),
            [401, 200, 403, 403, 403, 200],
            Need::Session,
        ),
        // Another's key is not even found.
        row(
            M::DELETE,
            "/api/v1/api-keys/{fresh_key}",
            None,
            [401, 200, 404, 404, 404, 200],
            Need::Session,
        ),
        row(
            M::DELETE,
            "/api/v1/api-keys/{missing}",
            None,
            [401, 404, 404, 404, 404, 404],
            Need::Session,
        ),
        // The audit log: superusers, reading only.
        row(
            M::GET,
            "/api/v1/audit-log/",
            None,
            [401, 403, 403, 403, 403, 200],
            ADMIN,
        ),
        row(
            M::GET,
            "/api/v1/audit-log/?action=job.&limit=5",
            None,
            [401, 403, 403, 403, 403, 200],
            ADMIN,
        ),
        // The nodes sharing the database and the scripts.
        row(
            M::GET,
            "/api/v1/nodes/",
            None,
            [401, 403, 403, 200, 200, 200],
            JOBS_READ,
        ),
        row(
            M::GET,
            "/api/v1/scripts/",
            None,
            [401, 200, 200, 200, 200, 200],
            Need::Any,
        ),
        // Jobs: everyone signed in lists (their own, or all: checked below).
        row(
            M::GET,
            "/api/v1/jobs/",
            None,
            [401, 200, 200, 200, 200, 200],
            JOBS_READ,
        ),
        row(
            M::GET,
            "/api/v1/jobs/?status=pending&limit=10",
            None,
            [401, 200, 200, 200, 200, 200],
            JOBS_READ,
        ),
        // Creation: scripts and HTTP calls for all but viewers; commands and privileged
        // scripts for operators and superusers.
        row(
            M::POST,
            "/api/v1/jobs/",
            Some(SCRIPT),
            [401, 200, 200, 403, 200, 200],
            JOBS_WRITE,
        ),
        row(
            M::POST,
            "/api/v1/jobs/",
            Some(API_POST),
            [401, 200, 200, 403, 200, 200],
            JOBS_WRITE,
        ),
        row(
            M::POST,
            "/api/v1/jobs/",
            Some(COMMAND),
            [401, 403, 403, 403, 200, 200],
            JOBS_WRITE,
        ),
        row(
            M::POST,
            "/api/v1/jobs/",
            Some(PRUNE),
            [401, 403, 403, 403, 200, 200],
            JOBS_WRITE,
        ),
        // One job: its owner, and those who read or manage all.
        row(
            M::GET,
            "/api/v1/jobs/{job}",
            None,
            [401, 200, 403, 200, 200, 200],
            JOBS_READ,
        ),
        row(
            M::PUT,
            "/api/v1/jobs/{job}",
            Some(r#"{"name":"renamed {uniq}"}"#),
            [401, 200, 403, 403, 200, 200],
            JOBS_WRITE,
        ),
        row(
            M::GET,
            "/api/v1/jobs/{job}/log",
            None,
            [401, 200, 403, 200, 200, 200],
            JOBS_READ,
        ),
        row(
            M::GET,
            "/api/v1/jobs/{job}/log?offset=0",
            None,
            [401, 200, 403, 200, 200, 200],
            JOBS_READ,
        ),
        // The permission is checked before the state: another user learns nothing.
        row(
            M::PUT,
            "/api/v1/jobs/{job}/status",
            Some(r#"{"status":"done"}"#),
            [401, 409, 403, 403, 409, 409],
            JOBS_WRITE,
        ),
        row(
            M::PUT,
            "/api/v1/jobs/{fresh}/status",
            Some(r#"{"status":"cancelled"}"#),
            [401, 200, 403, 403, 200, 200],
            JOBS_WRITE,
        ),
        row(
            M::POST,
            "/api/v1/jobs/{fresh}/kill",
            None,
            [401, 200, 403, 403, 200, 200],
            JOBS_WRITE,
        ),
        row(
            M::DELETE,
            "/api/v1/jobs/{fresh}",
            None,
            [401, 200, 403, 403, 200, 200],
            JOBS_WRITE,
        ),
        // Bulk actions: one's own jobs; another's are skipped with the reason (a 200).
        row(
            M::POST,
            "/api/v1/jobs/bulk",
            Some(r#"{"action":"retry","ids":[{job}]}"#),
            [401, 200, 200, 403, 200, 200],
            JOBS_WRITE,
        ),
        // A job that does not exist.
        row(
            M::GET,
            "/api/v1/jobs/{missing}",
            None,
            [401, 404, 404, 404, 404, 404],
            JOBS_READ,
        ),
        row(
            M::PUT,
            "/api/v1/jobs/{missing}",
            Some(r#"{"name":"x"}"#),
            [401, 404, 404, 404, 404, 404],
            JOBS_WRITE,
        ),
        row(
            M::DELETE,
            "/api/v1/jobs/{missing}",
            None,
            [401, 404, 404, 404, 404, 404],
            JOBS_WRITE,
        ),
        row(
            M::POST,
            "/api/v1/jobs/{missing}/kill",
            None,
            [401, 404, 404, 404, 404, 404],
            JOBS_WRITE,
        ),
        row(
            M::GET,
            "/api/v1/jobs/{missing}/log",
            None,
            [401, 404, 404, 404, 404, 404],
            JOBS_READ,
        ),
        row(
            M::PUT,
            "/api/v1/jobs/{missing}/status",
            Some(r#"{"status":"queued"}"#),
            [401, 404, 404, 404, 404, 404],
            JOBS_WRITE,
        ),
        // Consumers: operators and superusers (stop, then start again: the queue ends as it
        // began).
        row(
            M::POST,
            "/api/v1/jobs/stop-consumer",
            Some(r#"{"queue_name":"reserved"}"#),
            [401, 403, 403, 403, 200, 200],
            ADMIN,
        ),
        row(
            M::POST,
            "/api/v1/jobs/start-consumer",
            Some(r#"{"queue_name":"reserved"}"#),
            [401, 403, 403, 403, 200, 200],
            ADMIN,
        ),
        // Schedulers: like jobs; their changes need the `schedulers` scope.
        row(
            M::GET,
            "/api/v1/job-schedulers/",
            None,
            [401, 200, 200, 200, 200, 200],
            JOBS_READ,
        ),
        row(
            M::POST,
            "/api/v1/job-schedulers/",
            Some(SCHED_SCRIPT),
            [401, 200, 200, 403, 200, 200],
            SCHEDULERS,
        ),
        row(
            M::POST,
            "/api/v1/job-schedulers/",
            Some(SCHED_COMMAND),
            [401, 403, 403, 403, 200, 200],
            SCHEDULERS,
        ),
        row(
            M::POST,
            "/api/v1/job-schedulers/",
            Some(SCHED_PRUNE),
            [401, 403, 403, 403, 200, 200],
            SCHEDULERS,
        ),
        row(
            M::GET,
            "/api/v1/job-schedulers/{sched}",
            None,
            [401, 200, 403, 200, 200, 200],
            JOBS_READ,
        ),
        row(
            M::PUT,
            "/api/v1/job-schedulers/{sched}",
            Some(r#"{"name":"renamed {uniq}"}"#),
            [401, 200, 403, 403, 200, 200],
            SCHEDULERS,
        ),
        row(
            M::POST,
            "/api/v1/job-schedulers/{sched}/toggle",
            None,
            [401, 200, 403, 403, 200, 200],
            SCHEDULERS,
        ),
        row(
            M::DELETE,
            "/api/v1/job-schedulers/{fresh_sched}",
            None,
            [401, 200, 403, 403, 200, 200],
            SCHEDULERS,
        ),
        row(
            M::GET,
            "/api/v1/job-schedulers/{missing}",
            None,
            [401, 404, 404, 404, 404, 404],
            JOBS_READ,
        ),
    ]
}

/// The accounts (and their keys) a row runs against.
struct World {
    /// Each person's id and access token (not the anonymous caller's).
    people: HashMap<&'static str, (i64, String)>,
    /// Keys made so far: (whose, scopes) → secret.
    keys: HashMap<(&'static str, String), String>,
    job: i64,
    sched: i64,
}

fn name_of(who: Who) -> &'static str {
    match who {
        Who::Anonymous => "anonymous",
        Who::Owner => "owner",
        Who::Other => "other",
        Who::Viewer => "viewer",
        Who::Operator => "operator",
        Who::Superuser => "superuser",
    }
}

impl World {
    async fn new(app: &TestApp, tag: &str) -> World {
        let mut people = HashMap::new();
        for (who, role) in [
            (Who::Owner, "user"),
            (Who::Other, "user"),
            (Who::Viewer, "viewer"),
            (Who::Operator, "operator"),
        ] {
            let username = format!("{}{tag}", name_of(who));
            let user = app
                .create_user_with(json!({
                    "username": username,
                    "email": format!("{username}@example.com"),
                    "password": USER_PASSWORD,
                    "role": role,
                }))
                .await;
            assert_eq!(user["role"], role, "{user}");
            let token = app.login(&username, USER_PASSWORD).await.access_token;
            people.insert(name_of(who), (id_of(&user), token));
        }
        // Its own admin session, so that a row signing the admin out spoils nothing else.
        let admin = app.login(ADMIN_USERNAME, ADMIN_PASSWORD).await.access_token;
        people.insert("superuser", (app.admin_id().await, admin));
        let owner = people["owner"].1.clone();
        let job = assert_status(
            app.post(
                "/jobs/",
                Some(&owner),
                &json!({"name": "owned", "type": "script", "command": "noop", "run_at": in_an_hour()}),
            )
            .await,
            201,
        )
        .await;
        let sched = assert_status(
            app.post(
                "/job-schedulers/",
                Some(&owner),
                &json!({"name": format!("owned{tag}"), "trigger_type": "repeat", "repeat_every_seconds": 3600,
                        "job_template": {"name": "t", "type": "script", "command": "noop"}}),
            )
            .await,
            201,
        )
        .await;
        World {
            people,
            keys: HashMap::new(),
            job: id_of(&job),
            sched: id_of(&sched),
        }
    }

    fn id(&self, who: Who) -> Option<i64> {
        self.people.get(name_of(who)).map(|p| p.0)
    }

    fn session(&self, who: Who) -> Option<String> {
        self.people.get(name_of(who)).map(|p| p.1.clone())
    }

    /// A key of `who`'s with exactly `scopes`, made through the REST API on first use.
    async fn key(&mut self, app: &TestApp, who: Who, scopes: Vec<&str>) -> String {
        let id = (name_of(who), scopes.join(" "));
        if let Some(k) = self.keys.get(&id) {
            return k.clone();
        }
        let made = assert_status(
            app.post(
                "/api-keys/",
                self.session(who).as_deref(),
                &json!({"name": format!("{} {}", id.0, id.1), "scopes": scopes}),
            )
            .await,
            201,
        )
        .await;
        let secret = made["secret"].as_str().expect("a secret").to_string();
        self.keys.insert(id, secret.clone());
        secret
    }

    /// The credentials of a column for `need`, and whom it acts as.
    async fn credentials(
        &mut self,
        app: &TestApp,
        caller: Caller,
        need: (Need, Need),
    ) -> (Option<String>, Who) {
        match caller {
            Caller::Person(who) => (self.session(who), who),
            Caller::Key(who, with) => {
                let need = if who == Who::Owner { need.0 } else { need.1 };
                let scopes: Vec<&str> = match (need, with) {
                    (Need::Scope(s), true) => vec![s],
                    (Need::Scope(s), false) => SCOPES.iter().copied().filter(|x| *x != s).collect(),
                    (Need::Any, true) => SCOPES.to_vec(),
                    (Need::Any, false) => vec!["jobs:read"],
                    (Need::Session, _) => SCOPES.to_vec(),
                };
                (Some(self.key(app, who, scopes).await), who)
            }
        }
    }
}

/// What a column should get: a person's own expectation; a key's follows from the row.
fn expected(row: &Row, caller: Caller) -> u16 {
    let person = |who: Who| row.expect[PEOPLE.iter().position(|p| *p == who).unwrap()];
    match caller {
        Caller::Person(who) => person(who),
        Caller::Key(who, with) => {
            let need = if who == Who::Owner { row.need.0 } else { row.need.1 };
            match (need, with) {
                (Need::Session, _) => 403,
                (Need::Scope(_), false) => 403,
                _ => person(who),
            }
        }
    }
}

fn uniq() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

fn columns() -> Vec<Caller> {
    let mut c: Vec<Caller> = PEOPLE.iter().map(|w| Caller::Person(*w)).collect();
    for who in [Who::Owner, Who::Superuser] {
        c.push(Caller::Key(who, true));
        c.push(Caller::Key(who, false));
    }
    c
}

async fn every_endpoint_from_every_side(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let mut shared = World::new(&app, "").await;
    let mut failures: Vec<String> = Vec::new();
    let mut checked = 0;
    let mut worlds = 0;

    for row in table() {
        for caller in columns() {
            let mut own_world;
            let world = if row.fresh_world {
                worlds += 1;
                own_world = World::new(&app, &format!("w{worlds}")).await;
                &mut own_world
            } else {
                &mut shared
            };
            let owner_token = world.session(Who::Owner).unwrap();
            let owner_id = world.id(Who::Owner).unwrap();
            let fresh = if row.path.contains("{fresh}") {
                let job = app
                    .post(
                        "/jobs/",
                        Some(&owner_token),
                        &json!({"name": "fresh", "type": "script", "command": "noop", "run_at": in_an_hour()}),
                    )
                    .await;
                Some(id_of(&assert_status(job, 201).await))
            } else {
                None
            };
            let fresh_sched = if row.path.contains("{fresh_sched}") {
                let s = app
                    .post(
                        "/job-schedulers/",
                        Some(&owner_token),
                        &json!({"name": format!("fresh {}", uniq()), "trigger_type": "repeat", "repeat_every_seconds": 3600,
                                "job_template": {"name": "t", "type": "script", "command": "noop"}}),
                    )
                    .await;
                id_of(&assert_status(s, 201).await)
            } else {
                0
            };
            let fresh_key = if row.path.contains("{fresh_key}") {
                let k = app
                    .post(
                        "/api-keys/",
                        Some(&owner_token),
                        &json!({"name": "fresh", "scopes": ["jobs:read"]}),
                    )
                    .await;
                assert_status(k, 201).await["key"]["id"].as_i64().unwrap()
            } else {
                0
            };
            let fill = |t: &str| {
                t.replace("{id}", &owner_id.to_string())
                    .replace("{admin}", &world.id(Who::Superuser).unwrap().to_string())
                    .replace("{missing}", "987654321")
                    .replace("{job}", &world.job.to_string())
                    .replace("{fresh}", &fresh.unwrap_or_default().to_string())
                    .replace("{sched}", &world.sched.to_string())
                    .replace("{fresh_sched}", &fresh_sched.to_string())
                    .replace("{fresh_key}", &fresh_key.to_string())
                    .replace("{uniq}", &uniq())
                    .replace("{run_at}", &in_an_hour())
            };
            let path = fill(row.path);
            let body = row.body.map(fill);
            let (token, acting) = world.credentials(&app, caller, row.need).await;
            let caller_id = world.id(acting);
            let mut req = app.client.request(row.method.clone(), app.url(&path));
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            if let Some(body) = body {
                req = req.header("content-type", "application/json").body(body);
            }
            let resp = req.send().await.expect("request failed to send");
            checked += 1;
            let want = expected(&row, caller);
            let label = format!("{} {} as {caller:?}", row.method, row.path);
            let Some((status, body)) = check_cell(resp, &label, want, &mut failures).await else {
                continue;
            };
            let success = (200..300).contains(&status);
            let reads_all = matches!(acting, Who::Viewer | Who::Operator | Who::Superuser);
            // Reads of the owner's things answer with those things.
            let answers_with = |what: &str, id: i64| {
                success && row.method == Method::GET && row.path.ends_with(what) && body["id"] != id
            };
            if answers_with("/users/{id}", owner_id) || answers_with("/jobs/{job}", world.job) {
                failures.push(format!("{label}: answered with something else: {body}"));
            }
            // A list holds only the caller's jobs, unless they read all (then the owner's too).
            let is_list = row.method == Method::GET
                && (row.path == "/api/v1/jobs/" || row.path.starts_with("/api/v1/jobs/?"));
            if success && is_list {
                let data = body["data"].as_array().cloned().unwrap_or_default();
                let sees_owners = data.iter().any(|j| j["id"] == world.job);
                let foreign = data.iter().find(|j| j["owner_id"] != caller_id.unwrap());
                // (The paged list may end before the owner's job.)
                if reads_all && row.path == "/api/v1/jobs/" && !sees_owners {
                    failures.push(format!("{label}: does not see the owner's job: {body}"));
                }
                if let (false, Some(j)) = (reads_all, foreign) {
                    failures.push(format!("{label}: lists a job of someone else: {j}"));
                }
            }
            // Jobs and schedulers are created for whoever acts (a key: its owner).
            let creates = row.method == Method::POST
                && (row.path == "/api/v1/jobs/" || row.path == "/api/v1/job-schedulers/");
            if success && creates && body["owner_id"] != caller_id.unwrap() {
                failures.push(format!("{label}: not owned by the caller: {body}"));
            }
            // What happened to the fresh job: refused calls left it alone, allowed ones acted.
            if let Some(id) = fresh {
                let admin = world.session(Who::Superuser).unwrap();
                let after = app.get(&format!("/jobs/{id}"), Some(&admin)).await;
                let after_status = after.status().as_u16();
                let after_body: Value = after.json().await.unwrap_or(Value::Null);
                let state = if after_status == 404 {
                    "deleted".to_string()
                } else {
                    after_body["status"].as_str().unwrap_or("?").to_string()
                };
                let wanted = if !success {
                    "pending"
                } else if row.method == Method::DELETE {
                    "deleted"
                } else {
                    "cancelled"
                };
                if state != wanted {
                    failures.push(format!(
                        "{label}: the job is {state} afterwards, expected {wanted}"
                    ));
                }
            }
        }
    }
    assert_eq!(checked, table().len() * columns().len());
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The privilege rows really changed nothing, and the shared accounts are intact.
    let owner = shared.session(Who::Owner).unwrap();
    let me = assert_status(app.get("/users/me", Some(&owner)).await, 200).await;
    assert_eq!(me["is_superuser"], false);
    assert_eq!(me["role"], "user");
    assert_eq!(me["is_active"], true);
    // The owner's job is still theirs, still waiting, renamed by the allowed updates only.
    let job = assert_status(app.get(&format!("/jobs/{}", shared.job), Some(&owner)).await, 200).await;
    assert_eq!(job["owner_id"], shared.id(Who::Owner).unwrap());
    assert_eq!(job["status"], "pending");
    assert!(job["name"].as_str().unwrap().starts_with("renamed "), "{job}");
}
