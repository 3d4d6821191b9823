//! Every authorisation rule from every side (S9), as one table: for each endpoint, the
//! status seen by an anonymous caller, by the resource's owner (a regular user), by another
//! regular user, and by a superuser. The `{id}` in a path is always the owner's account.
//!
//! A 2xx expectation is written `200` and means "any success" (creation answers 201).
//! Every refusal must carry a JSON `detail`; every 401 must challenge with `Bearer`.
//! Rows that end sessions or delete accounts get a world of their own.

use reqwest::Method;

use crate::helpers::*;

both_backends!(every_endpoint_from_every_side);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Anonymous,
    Owner,
    Other,
    Superuser,
}

const ACTORS: [Actor; 4] = [Actor::Anonymous, Actor::Owner, Actor::Other, Actor::Superuser];

#[derive(Clone, Copy)]
enum Body {
    Empty,
    /// JSON with `{uniq}` replaced by a fresh hex string per request.
    Json(&'static str),
    /// The OAuth2 form for the shared owner's credentials.
    OwnerLoginForm,
}

struct Row {
    method: Method,
    path: &'static str,
    body: Body,
    /// Needs accounts and tokens of its own (it signs out or deletes).
    fresh: bool,
    /// Anonymous, owner, other user, superuser.
    expect: [u16; 4],
}

fn row(method: Method, path: &'static str, body: Body, expect: [u16; 4]) -> Row {
    Row {
        method,
        path,
        body,
        fresh: false,
        expect,
    }
}

fn fresh(method: Method, path: &'static str, body: Body, expect: [u16; 4]) -> Row {
    Row {
        method,
        path,
        body,
        fresh: true,
        expect,
    }
}

fn table() -> Vec<Row> {
    use Body::{Empty as NoBody, Json, OwnerLoginForm};
    vec![
        // Public endpoints: the same for everyone.
        row(Method::GET, "/healthz", NoBody, [200, 200, 200, 200]),
        row(Method::GET, "/readyz", NoBody, [200, 200, 200, 200]),
        row(Method::GET, "/api/v1/openapi.json", NoBody, [200, 200, 200, 200]),
        row(
            Method::POST,
            "/api/v1/login/access-token",
            OwnerLoginForm,
            [200, 200, 200, 200],
        ),
        // Registration is closed on this app, for everyone.
        row(
            Method::POST,
            "/api/v1/register",
            Json(r#"{"username":"reg{uniq}","email":"reg{uniq}@example.com","password":"register-pass-1"}"#),
            [403, 403, 403, 403],
        ),
        // Password recovery is public; this app has no email, so it says it is unavailable,
        // and a reset with a bad token is refused on its merits, for everyone alike.
        row(
            Method::POST,
            "/api/v1/password-recovery/someone@example.com",
            NoBody,
            [503, 503, 503, 503],
        ),
        row(
            Method::POST,
            "/api/v1/reset-password",
            Json(r#"{"token":"not-a-token-{uniq}","new_password":"whatever-new-1"}"#),
            [422, 422, 422, 422],
        ),
        // One's own session and account.
        row(
            Method::POST,
            "/api/v1/login/test-token",
            NoBody,
            [401, 200, 200, 200],
        ),
        fresh(Method::POST, "/api/v1/logout", NoBody, [401, 200, 200, 200]),
        row(Method::GET, "/api/v1/users/me", NoBody, [401, 200, 200, 200]),
        row(
            Method::PUT,
            "/api/v1/users/me",
            Json(r#"{"full_name":"Changed {uniq}"}"#),
            [401, 200, 200, 200],
        ),
        // Authorised, then refused on its merits (wrong current password): proves the gate
        // without ending anyone's sessions.
        row(
            Method::POST,
            "/api/v1/users/me/password",
            Json(r#"{"current_password":"not-the-password","new_password":"whatever-new-1"}"#),
            [401, 422, 422, 422],
        ),
        // The user list and creation: superuser only.
        row(Method::GET, "/api/v1/users/", NoBody, [401, 403, 403, 200]),
        // The nodes sharing the database: superusers only.
        row(Method::GET, "/api/v1/nodes/", NoBody, [401, 403, 403, 200]),
        row(
            Method::GET,
            "/api/v1/users/?offset=0&limit=10",
            NoBody,
            [401, 403, 403, 200],
        ),
        row(
            Method::POST,
            "/api/v1/users/",
            Json(r#"{"username":"new{uniq}","email":"new{uniq}@example.com","password":"new-user-pass-1"}"#),
            [401, 403, 403, 200],
        ),
        // One account: its owner or a superuser.
        row(Method::GET, "/api/v1/users/{id}", NoBody, [401, 200, 403, 200]),
        row(
            Method::PUT,
            "/api/v1/users/{id}",
            Json(r#"{"full_name":"Changed {uniq}"}"#),
            [401, 200, 403, 200],
        ),
        // Privileges: a superuser only, even on one's own account. (The values keep the
        // account as it is, so the row can run from every side.)
        row(
            Method::PUT,
            "/api/v1/users/{id}",
            Json(r#"{"is_active":true}"#),
            [401, 403, 403, 200],
        ),
        row(
            Method::PUT,
            "/api/v1/users/{id}",
            Json(r#"{"is_superuser":false}"#),
            [401, 403, 403, 200],
        ),
        // Accounts that do not exist: only a superuser may learn that.
        row(
            Method::GET,
            "/api/v1/users/{missing}",
            NoBody,
            [401, 403, 403, 404],
        ),
        row(
            Method::PUT,
            "/api/v1/users/{missing}",
            Json(r#"{"full_name":"x"}"#),
            [401, 403, 403, 404],
        ),
        row(
            Method::DELETE,
            "/api/v1/users/{missing}",
            NoBody,
            [401, 403, 403, 404],
        ),
        // Deletion: superuser only, never oneself.
        row(
            Method::DELETE,
            "/api/v1/users/{admin}",
            NoBody,
            [401, 403, 403, 403],
        ),
        fresh(Method::DELETE, "/api/v1/users/{id}", NoBody, [401, 403, 403, 200]),
    ]
}

/// The accounts a row runs against.
struct World {
    owner: TestUser,
    other: TestUser,
    admin_token: String,
    admin_id: i64,
}

impl World {
    async fn new(app: &TestApp, tag: &str) -> World {
        let owner = app.create_and_login(&format!("owner{tag}")).await;
        let other = app.create_and_login(&format!("other{tag}")).await;
        // Its own admin session, so that a row signing the admin out spoils nothing else.
        let admin_token = app.login(ADMIN_USERNAME, ADMIN_PASSWORD).await.access_token;
        World {
            owner,
            other,
            admin_token,
            admin_id: app.admin_id().await,
        }
    }

    fn token(&self, actor: Actor) -> Option<&str> {
        match actor {
            Actor::Anonymous => None,
            Actor::Owner => Some(self.owner.access()),
            Actor::Other => Some(self.other.access()),
            Actor::Superuser => Some(&self.admin_token),
        }
    }

    fn path(&self, template: &str) -> String {
        template
            .replace("{id}", &self.owner.id.to_string())
            .replace("{admin}", &self.admin_id.to_string())
            .replace("{missing}", "987654321")
    }
}

fn uniq() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

async fn every_endpoint_from_every_side(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let shared = World::new(&app, "").await;
    let mut failures: Vec<String> = Vec::new();
    let mut checked = 0;

    for (n, row) in table().iter().enumerate() {
        let own_world;
        let world = if row.fresh {
            own_world = World::new(&app, &n.to_string()).await;
            &own_world
        } else {
            &shared
        };
        let path = world.path(row.path);
        for (actor, &expected) in ACTORS.iter().zip(row.expect.iter()) {
            let mut req = app.client.request(row.method.clone(), app.url(&path));
            if let Some(t) = world.token(*actor) {
                req = req.bearer_auth(t);
            }
            req = match row.body {
                Body::Empty => req,
                Body::Json(template) => req
                    .header("content-type", "application/json")
                    .body(template.replace("{uniq}", &uniq())),
                Body::OwnerLoginForm => req
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form_body(&[
                        ("username", &shared.owner.username),
                        ("password", USER_PASSWORD),
                    ])),
            };
            let resp = req.send().await.expect("request failed to send");
            checked += 1;
            let label = format!("{} {} as {actor:?}", row.method, row.path);
            let Some((status, body)) = check_cell(resp, &label, expected, &mut failures).await else {
                continue;
            };
            // Successful reads of the owner's account return that account, not the caller's.
            if status == 200
                && row.method == Method::GET
                && row.path == "/api/v1/users/{id}"
                && body["id"] != world.owner.id
            {
                failures.push(format!("{label}: answered with another account: {body}"));
            }
        }
    }
    assert_eq!(checked, table().len() * ACTORS.len());
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The privilege rows really changed nothing, and the shared accounts are intact.
    let owner = assert_status(app.get("/users/me", Some(shared.owner.access())).await, 200).await;
    assert_eq!(owner["is_superuser"], false);
    assert_eq!(owner["is_active"], true);
    assert_status(app.get("/users/me", Some(shared.other.access())).await, 200).await;
}
