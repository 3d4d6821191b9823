//! The users service: who may see, create, change and delete accounts, and how.
//!
//! Rules (S3): a superuser may do anything; everyone else (operator, user, viewer) may read
//! and update only their own account and never their own `is_active`/`role`; only a
//! superuser deletes, and never themselves. The last active superuser cannot be demoted,
//! deactivated or deleted, so an installation can always be administered. Through an API
//! key, reading one's own account needs no scope, changing it needs `admin`, and changing
//! a password is refused (see [`crate::access`]).

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::access::{Actor, Role, Scope};
use crate::audit::{Outcome, Who};
use crate::error::{DomainError, DomainResult};
use crate::schema::{api_keys, jobs, sessions, users};
use crate::validate::{full_name, Email, Password, Username};
use crate::{password, with_conn, Services};

/// A stored account. `hashed_password` never leaves the server: adapters map this to a
/// public wire type without it.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub hashed_password: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The stored role; read it as an [`Actor::role`] or with [`Role::from_stored`].
    pub role: String,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow {
    username: String,
    email: String,
    full_name: Option<String>,
    hashed_password: String,
    is_active: bool,
    is_superuser: bool,
    role: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
struct UserChangeRow {
    username: Option<String>,
    email: Option<String>,
    full_name: Option<Option<String>>,
    hashed_password: Option<String>,
    is_active: Option<bool>,
    is_superuser: Option<bool>,
    role: Option<String>,
    updated_at: Option<NaiveDateTime>,
}

/// Raw input for a new account; validated by the service.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password: String,
    pub full_name: Option<String>,
    pub is_active: bool,
    pub is_superuser: bool,
    /// superuser, operator, user or viewer; `None`: from `is_superuser`.
    pub role: Option<String>,
}

/// Raw input for a change; `None` leaves a field as it is. `full_name: Some("")` clears it.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub full_name: Option<String>,
    pub is_active: Option<bool>,
    pub is_superuser: Option<bool>,
    pub role: Option<String>,
}

/// The role that `role` and `is_superuser` say together (they must agree when both are
/// given); `current` when neither changes it.
fn resolve_role(role: Option<&str>, is_superuser: Option<bool>, current: Role) -> DomainResult<Role> {
    let role = role.map(|r| Role::parse("role", r)).transpose()?;
    match (role, is_superuser) {
        (Some(r), Some(s)) if (r == Role::Superuser) != s => Err(DomainError::invalid(
            "is_superuser",
            format!("contradicts role {:?}", r.as_str()),
        )),
        (Some(r), _) => Ok(r),
        (None, Some(true)) => Ok(Role::Superuser),
        (None, Some(false)) if current == Role::Superuser => Ok(Role::User),
        (None, _) => Ok(current),
    }
}

/// Listing window.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

impl Page {
    pub const MAX_LIMIT: i64 = 1000;
    pub fn parse(offset: Option<i64>, limit: Option<i64>) -> DomainResult<Page> {
        let offset = offset.unwrap_or(0);
        let limit = limit.unwrap_or(100);
        if offset < 0 {
            return Err(DomainError::invalid("offset", "must be 0 or more"));
        }
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(DomainError::invalid(
                "limit",
                format!("must be from 1 to {}", Self::MAX_LIMIT),
            ));
        }
        Ok(Page { offset, limit })
    }
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn require_superuser(actor: &Actor) -> DomainResult<()> {
    actor.need_admin()
}

impl Services {
    /// Creates an account (superuser only, or `actor = None` for registration and bootstrap;
    /// registration callers must force `is_superuser = false` themselves via [`Self::register`]).
    pub async fn create_user(&self, actor: Option<&Actor>, input: NewUser) -> DomainResult<User> {
        let username = input.username.clone();
        let result = self.create_user_with(actor, input).await;
        if let (None, Ok(u)) = (actor, &result) {
            // Open registration (the first superuser and the CLI's are audited by their callers).
            if !u.is_superuser {
                let who = Who {
                    user_id: Some(u.id),
                    name: Some(u.username.clone()),
                    ..Default::default()
                };
                let detail =
                    serde_json::json!({ "username": u.username, "role": u.role, "registered": true });
                self.audit(
                    &who,
                    "user.create",
                    Some(("user", u.id.to_string())),
                    Outcome::Success,
                    Some(detail),
                )
                .await;
            }
        }
        if let Some(a) = actor {
            let target = result.as_ref().ok().map(|u| ("user", u.id.to_string()));
            let detail = match &result {
                Ok(u) => serde_json::json!({ "username": u.username, "role": u.role }),
                Err(_) => serde_json::json!({ "username": username }),
            };
            return self.audited(a, "user.create", target, Some(detail), result).await;
        }
        result
    }

    async fn create_user_with(&self, actor: Option<&Actor>, input: NewUser) -> DomainResult<User> {
        if let Some(a) = actor {
            require_superuser(a)?;
        }
        // `is_superuser` defaults to false, so only `true` can contradict a role.
        let role = resolve_role(
            input.role.as_deref(),
            input.is_superuser.then_some(true),
            Role::User,
        )?;
        let username = Username::parse("username", &input.username)?;
        let email = Email::parse("email", &input.email)?;
        let pw = Password::parse("password", &input.password)?;
        let full_name = full_name("full_name", input.full_name.as_deref())?;
        self.ensure_unique(username.as_str(), email.as_str(), None)
            .await?;
        let hashed_password = password::hash(pw.expose().to_string()).await?;
        let row = NewUserRow {
            username: username.into_inner(),
            email: email.into_inner(),
            full_name,
            hashed_password,
            is_active: input.is_active,
            is_superuser: role == Role::Superuser,
            role: role.as_str().into(),
            created_at: now(),
            updated_at: now(),
        };
        let user = with_conn!(self.db, |conn| {
            diesel::insert_into(users::table)
                .values(&row)
                .returning(User::as_returning())
                .get_result(conn)
                .await
                .map_err(user_conflict)?
        });
        tracing::info!(user_id = user.id, username = %user.username, "user created");
        Ok(user)
    }

    /// Open registration (when `USERS_OPEN_REGISTRATION` is on): always a regular, active user.
    pub async fn register(
        &self,
        username: String,
        email: String,
        password: String,
        full_name: Option<String>,
    ) -> DomainResult<User> {
        if !self.config.users_open_registration {
            return Err(DomainError::Forbidden(
                "Open user registration is forbidden on this server".into(),
            ));
        }
        self.create_user(
            None,
            NewUser {
                username,
                email,
                password,
                full_name,
                is_active: true,
                is_superuser: false,
                role: None,
            },
        )
        .await
    }

    /// 409 when another account already has this username or email. The unique indexes
    /// catch races; this gives the common case a precise message.
    async fn ensure_unique(&self, username: &str, email: &str, except: Option<i64>) -> DomainResult<()> {
        let clash: Vec<(i64, String, String)> = with_conn!(self.db, |conn| {
            users::table
                .filter(users::username.eq(username).or(users::email.eq(email)))
                .select((users::id, users::username, users::email))
                .load(conn)
                .await?
        });
        for (id, u, e) in clash {
            if Some(id) == except {
                continue;
            }
            let field = if u == username {
                "username"
            } else if e == email {
                "email"
            } else {
                continue;
            };
            return Err(DomainError::Conflict(format!(
                "a user with this {field} already exists"
            )));
        }
        Ok(())
    }

    pub async fn find_user(&self, id: i64) -> DomainResult<Option<User>> {
        find_user(&self.db, id).await
    }

    /// Looks up by username or (when it contains '@') by email, case-insensitively.
    pub async fn find_user_by_login(&self, login: &str) -> DomainResult<Option<User>> {
        let login = login.trim().to_lowercase();
        Ok(with_conn!(self.db, |conn| {
            let q = users::table.select(User::as_select()).into_boxed();
            let q = if login.contains('@') {
                q.filter(users::email.eq(&login))
            } else {
                q.filter(users::username.eq(&login))
            };
            q.first(conn).await.optional()?
        }))
    }

    /// One account: self or superuser.
    pub async fn get_user(&self, actor: &Actor, id: i64) -> DomainResult<User> {
        if actor.id != id {
            require_superuser(actor)?;
        }
        self.find_user(id)
            .await?
            .ok_or_else(|| DomainError::NotFound("User not found".into()))
    }

    /// All accounts, oldest first (superuser only). Returns the page and the total count.
    pub async fn list_users(&self, actor: &Actor, page: Page) -> DomainResult<(Vec<User>, i64)> {
        require_superuser(actor)?;
        Ok(with_conn!(self.db, |conn| {
            let total: i64 = users::table.count().get_result(conn).await?;
            let rows = users::table
                .order(users::id.asc())
                .offset(page.offset)
                .limit(page.limit)
                .select(User::as_select())
                .load(conn)
                .await?;
            (rows, total)
        }))
    }

    async fn count_active_superusers(&self) -> DomainResult<i64> {
        Ok(with_conn!(self.db, |conn| {
            users::table
                .filter(users::is_superuser.eq(true).and(users::is_active.eq(true)))
                .count()
                .get_result(conn)
                .await?
        }))
    }

    /// Changes an account: self (not privileges) or superuser. A password change, or a
    /// deactivation, ends the account's sessions.
    pub async fn update_user(&self, actor: &Actor, id: i64, changes: UserChanges) -> DomainResult<User> {
        let before = self.find_user(id).await.ok().flatten();
        let fields: Vec<&str> = [
            ("username", changes.username.is_some()),
            ("email", changes.email.is_some()),
            ("full_name", changes.full_name.is_some()),
            ("password", changes.password.is_some()),
            ("is_active", changes.is_active.is_some()),
            ("is_superuser", changes.is_superuser.is_some()),
            ("role", changes.role.is_some()),
        ]
        .into_iter()
        .filter_map(|(f, set)| set.then_some(f))
        .collect();
        let mut detail = serde_json::json!({ "fields": fields });
        if let Some(active) = changes.is_active {
            detail["is_active"] = active.into();
        }
        let result = self.update_user_with(actor, id, changes).await;
        let target = || Some(("user", id.to_string()));
        if let (Ok(after), Some(before)) = (&result, &before) {
            if after.role != before.role {
                let change = serde_json::json!({ "from": before.role, "to": after.role });
                self.audit(
                    &Who::of(actor),
                    "user.role_change",
                    target(),
                    Outcome::Success,
                    Some(change),
                )
                .await;
            }
        }
        self.audited(actor, "user.update", target(), Some(detail), result)
            .await
    }

    async fn update_user_with(&self, actor: &Actor, id: i64, changes: UserChanges) -> DomainResult<User> {
        actor.need(Scope::Admin)?;
        let target = self.get_user(actor, id).await?;
        let privileges =
            changes.is_active.is_some() || changes.is_superuser.is_some() || changes.role.is_some();
        if !actor.is_admin() && privileges {
            return Err(DomainError::Forbidden(
                "Only a superuser may change is_active, is_superuser or role".into(),
            ));
        }
        // A password is never set with an API key: a stolen key must not become a session.
        if changes.password.is_some() {
            actor.need_session()?;
        }
        // Users change their own password only with the current one (change_password), so
        // that a stolen access token alone cannot take over the account.
        if !actor.is_admin() && changes.password.is_some() {
            return Err(DomainError::Forbidden(
                "Change your own password with POST /users/me/password (the current password is required)"
                    .into(),
            ));
        }
        let mut row = UserChangeRow {
            updated_at: Some(now()),
            ..Default::default()
        };
        if let Some(u) = &changes.username {
            row.username = Some(Username::parse("username", u)?.into_inner());
        }
        if let Some(e) = &changes.email {
            row.email = Some(Email::parse("email", e)?.into_inner());
        }
        if let Some(f) = &changes.full_name {
            row.full_name = Some(full_name("full_name", Some(f))?);
        }
        let new_password = match &changes.password {
            Some(p) => Some(Password::parse("password", p)?),
            None => None,
        };
        row.is_active = changes.is_active;
        let old_role = Role::from_stored(&target.role);
        let new_role = resolve_role(changes.role.as_deref(), changes.is_superuser, old_role)?;
        if new_role != old_role {
            row.role = Some(new_role.as_str().into());
            row.is_superuser = Some(new_role == Role::Superuser);
        }
        let loses_admin = target.is_superuser
            && target.is_active
            && (changes.is_active == Some(false) || new_role != Role::Superuser);
        if loses_admin && self.count_active_superusers().await? <= 1 {
            return Err(DomainError::Conflict(
                "cannot demote or deactivate the last active superuser".into(),
            ));
        }
        self.ensure_unique(
            row.username.as_deref().unwrap_or(&target.username),
            row.email.as_deref().unwrap_or(&target.email),
            Some(id),
        )
        .await?;
        if let Some(p) = new_password {
            row.hashed_password = Some(password::hash(p.expose().to_string()).await?);
        }
        let revoke = row.hashed_password.is_some() || changes.is_active == Some(false);
        let user = with_conn!(self.db, |conn| {
            diesel::update(users::table.find(id))
                .set(&row)
                .returning(User::as_returning())
                .get_result(conn)
                .await
                .map_err(user_conflict)?
        });
        if revoke {
            self.revoke_user_sessions(id).await?;
        }
        Ok(user)
    }

    /// Changes the caller's own password after checking the current one. Ends all the
    /// user's sessions; the caller signs in again (the web UI does so transparently).
    pub async fn change_password(&self, actor: &Actor, current: &str, new: &str) -> DomainResult<()> {
        let result = self.change_password_with(actor, current, new).await;
        let target = Some(("user", actor.id.to_string()));
        self.audited(actor, "user.password_change", target, None, result)
            .await
    }

    async fn change_password_with(&self, actor: &Actor, current: &str, new: &str) -> DomainResult<()> {
        actor.need_session()?;
        if !password::verify(current.to_string(), actor.hashed_password.clone()).await? {
            return Err(DomainError::invalid("current_password", "is incorrect"));
        }
        let pw = Password::parse("new_password", new)?;
        if pw.expose() == current {
            return Err(DomainError::invalid(
                "new_password",
                "must differ from the current password",
            ));
        }
        let hashed = password::hash(pw.expose().to_string()).await?;
        let row = UserChangeRow {
            hashed_password: Some(hashed),
            updated_at: Some(now()),
            ..Default::default()
        };
        with_conn!(self.db, |conn| {
            diesel::update(users::table.find(actor.id))
                .set(&row)
                .execute(conn)
                .await?
        });
        self.revoke_user_sessions(actor.id).await?;
        Ok(())
    }

    /// Deletes an account (superuser only, never oneself). Its sessions go with it.
    pub async fn delete_user(&self, actor: &Actor, id: i64) -> DomainResult<()> {
        let name = self.find_user(id).await.ok().flatten().map(|u| u.username);
        let result = self.delete_user_with(actor, id).await;
        let detail = name.map(|n| serde_json::json!({ "username": n }));
        self.audited(
            actor,
            "user.delete",
            Some(("user", id.to_string())),
            detail,
            result,
        )
        .await
    }

    async fn delete_user_with(&self, actor: &Actor, id: i64) -> DomainResult<()> {
        require_superuser(actor)?;
        if actor.id == id {
            return Err(DomainError::Forbidden(
                "Super users are not allowed to delete themselves".into(),
            ));
        }
        let target = self
            .find_user(id)
            .await?
            .ok_or_else(|| DomainError::NotFound("User not found".into()))?;
        if target.is_superuser && target.is_active && self.count_active_superusers().await? <= 1 {
            return Err(DomainError::Conflict(
                "cannot delete the last active superuser".into(),
            ));
        }
        with_conn!(self.db, |conn| {
            diesel::delete(sessions::table.filter(sessions::user_id.eq(id)))
                .execute(conn)
                .await?;
            diesel::delete(api_keys::table.filter(api_keys::user_id.eq(id)))
                .execute(conn)
                .await?;
            // Their waiting jobs would run with no owner, i.e. as the server's own (an
            // api_post no longer held to the SSRF rules): they end here instead.
            diesel::update(
                jobs::table
                    .filter(jobs::owner_id.eq(id))
                    .filter(jobs::status.eq_any(["pending", "queued"])),
            )
            .set((
                jobs::status.eq("cancelled"),
                jobs::error.eq(Some("cancelled: its owner was deleted")),
                jobs::finished_at.eq(Some(now())),
            ))
            .execute(conn)
            .await?;
            diesel::delete(users::table.find(id)).execute(conn).await?
        });
        tracing::info!(user_id = id, by = actor.id, "user deleted");
        Ok(())
    }

    /// Creates the first superuser when the database has no users. Returns the account and,
    /// when the password was generated, where it was written.
    pub async fn ensure_first_superuser(&self) -> DomainResult<Option<(User, Option<std::path::PathBuf>)>> {
        let count: i64 = with_conn!(self.db, |conn| users::table.count().get_result(conn).await?);
        if count > 0 {
            return Ok(None);
        }
        let cfg = &self.config;
        let (password, written) = match &cfg.first_superuser_password {
            Some(p) => (p.clone(), None),
            None => {
                let p = crate::files::random_hex(12);
                let path = cfg.first_superuser_password_file();
                crate::files::write_private(&path, &format!("{p}\n"))
                    .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
                (p, Some(path))
            }
        };
        let user = self
            .create_user(
                None,
                NewUser {
                    username: cfg.first_superuser_username.clone(),
                    email: cfg.first_superuser_email.clone(),
                    password,
                    full_name: None,
                    is_active: true,
                    is_superuser: true,
                    role: None,
                },
            )
            .await?;
        Ok(Some((user, written)))
    }
}

/// A user by id, without any permission check (for the runner and the services above).
pub async fn find_user(db: &crate::db::Db, id: i64) -> DomainResult<Option<User>> {
    Ok(with_conn!(db, |conn| {
        users::table
            .find(id)
            .select(User::as_select())
            .first(conn)
            .await
            .optional()?
    }))
}

/// A unique username or email broken by an insert or update that raced the check before it
/// (both SQLite's "UNIQUE constraint failed: users.email" and PostgreSQL's
/// "users_email_key" name the column): the same 409 the check gives.
fn user_conflict(e: diesel::result::Error) -> DomainError {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            let text = format!(
                "{} {}",
                info.message(),
                info.constraint_name().unwrap_or_default()
            );
            let field = if text.contains("username") {
                "username"
            } else {
                "email"
            };
            DomainError::Conflict(format!("a user with this {field} already exists"))
        }
        e => e.into(),
    }
}
