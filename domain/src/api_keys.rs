//! API keys for scripts and service accounts (S3).
//!
//! A key reads `vk_<12 hex>_<64 hex>`. The first part, the *prefix*, is stored and shown
//! (so a user can tell their keys apart and find one in a log); of the whole key only its
//! SHA-256 is kept, so a database leak gives no usable key. The secret has 256 random bits,
//! so a fast hash is enough: there is nothing to guess a dictionary against.
//!
//! A key acts as its owner narrowed to its scopes ([`crate::access`]): the owner's current
//! role and active flag count at every use, so demoting or deactivating a user limits or
//! stops their keys at once. Keys are created, listed and revoked by a signed-in session
//! (never by another key) or by the server's command line.

use chrono::{Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use sha2::{Digest, Sha256};

use crate::access::{Actor, Scope, Via};
use crate::audit::{Outcome, Who};
use crate::error::{DomainError, DomainResult};
use crate::schema::{api_keys, users};
use crate::sessions::ClientInfo;
use crate::users::User;
use crate::{with_conn, Services};

pub const KEY_PREFIX: &str = "vk_";
/// The longest name a key may have, in characters.
pub const MAX_NAME: usize = 100;
/// The longest life a key may be given, in days.
pub const MAX_DAYS: i64 = 3650;
/// How stale `last_used_at` may get before a use writes it again (one write per key per
/// minute at most, not one per request).
const LAST_USED_EVERY_SECS: i64 = 60;

/// A key as its owner sees it (never the secret, never the hash).
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys)]
struct Row {
    id: i64,
    user_id: i64,
    name: String,
    prefix: String,
    key_hash: String,
    scopes: String,
    created_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
    last_used_at: Option<NaiveDateTime>,
    last_used_ip: Option<String>,
    revoked_at: Option<NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = api_keys)]
struct NewRow {
    user_id: i64,
    name: String,
    prefix: String,
    key_hash: String,
    scopes: String,
    created_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
}

impl Row {
    fn into_key(self) -> ApiKey {
        ApiKey {
            id: self.id,
            user_id: self.user_id,
            name: self.name,
            prefix: self.prefix,
            scopes: parse_stored_scopes(&self.scopes),
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            last_used_ip: self.last_used_ip,
            revoked_at: self.revoked_at,
        }
    }
}

/// What a new key is to be; checked by [`Services::create_api_key`].
#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<String>,
    /// Days until it expires; `None`: never.
    pub expires_in_days: Option<i64>,
    /// Whose key it is; `None`: the actor's own. Another user's needs a superuser.
    pub user_id: Option<i64>,
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn parse_stored_scopes(text: &str) -> Vec<Scope> {
    text.split_whitespace()
        .filter_map(|s| Scope::parse("scopes", s).ok())
        .collect()
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Equal strings in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The prefix of a well-formed key (`vk_` and 12 hex digits, then `_` and 64 hex digits).
fn prefix_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 12) && hex(secret, 64)).then(|| &key[..KEY_PREFIX.len() + 12])
}

/// Whether a bearer credential is meant as an API key (rather than a session's JWT).
pub fn looks_like_key(token: &str) -> bool {
    token.starts_with(KEY_PREFIX)
}

fn parse_new(input: &NewApiKey) -> DomainResult<(String, Vec<Scope>, Option<NaiveDateTime>)> {
    let name = input.name.trim();
    if name.is_empty() {
        return Err(DomainError::invalid("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(DomainError::invalid(
            "name",
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    if input.scopes.is_empty() {
        return Err(DomainError::invalid(
            "scopes",
            "name at least one scope: jobs:read, jobs:write, schedulers, admin",
        ));
    }
    let mut scopes = Vec::new();
    for (i, s) in input.scopes.iter().enumerate() {
        let scope = Scope::parse(&format!("scopes.{i}"), s)?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let expires_at = match input.expires_in_days {
        None => None,
        Some(d) if (1..=MAX_DAYS).contains(&d) => Some(now() + Duration::days(d)),
        Some(_) => {
            return Err(DomainError::invalid(
                "expires_in_days",
                format!("must be from 1 to {MAX_DAYS}"),
            ))
        }
    };
    Ok((name.to_string(), scopes, expires_at))
}

/// What the audit log keeps about a key: its prefix and scopes, whose it is, its name.
fn key_detail(key: Option<&ApiKey>, owner: i64, name: &str) -> serde_json::Value {
    match key {
        Some(k) => serde_json::json!({
            "prefix": k.prefix,
            "user_id": k.user_id,
            "name": k.name,
            "scopes": k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        }),
        None => serde_json::json!({ "user_id": owner, "name": name }),
    }
}

fn not_found() -> DomainError {
    DomainError::NotFound("API key not found".into())
}

fn invalid_key() -> DomainError {
    DomainError::Unauthorized("Invalid, expired or revoked API key".into())
}

impl Services {
    /// Creates a key and returns it with its secret, which is shown this once. A user
    /// creates keys for themselves, a superuser also for others; only with a session.
    pub async fn create_api_key(&self, actor: &Actor, input: NewApiKey) -> DomainResult<(ApiKey, String)> {
        let owner = input.user_id.unwrap_or(actor.id);
        let result = async {
            actor.need_session()?;
            if owner != actor.id && !actor.is_admin() {
                return Err(DomainError::Forbidden(
                    "Only a superuser may create keys for other users".into(),
                ));
            }
            self.insert_api_key(owner, &input).await
        }
        .await;
        let target = result.as_ref().ok().map(|(k, _)| ("api_key", k.id.to_string()));
        let detail = key_detail(result.as_ref().ok().map(|(k, _)| k), owner, &input.name);
        self.audited(actor, "api_key.create", target, Some(detail), result)
            .await
    }

    /// Creates a key for `username` (the server's command line).
    pub async fn create_api_key_as_operator(
        &self,
        username: &str,
        input: NewApiKey,
    ) -> DomainResult<(ApiKey, String)> {
        let user = self
            .find_user_by_login(username)
            .await?
            .ok_or_else(|| DomainError::invalid("username", format!("no user named {username:?}")))?;
        let result = self.insert_api_key(user.id, &input).await;
        if let Ok((k, _)) = &result {
            let detail = key_detail(Some(k), user.id, &input.name);
            let target = Some(("api_key", k.id.to_string()));
            self.audit(
                &Who::command_line(),
                "api_key.create",
                target,
                Outcome::Success,
                Some(detail),
            )
            .await;
        }
        result
    }

    async fn insert_api_key(&self, owner: i64, input: &NewApiKey) -> DomainResult<(ApiKey, String)> {
        let (name, scopes, expires_at) = parse_new(input)?;
        let user = self
            .find_user(owner)
            .await?
            .ok_or_else(|| DomainError::invalid("user_id", format!("no user with id {owner}")))?;
        let prefix = format!("{KEY_PREFIX}{}", crate::files::random_hex(6));
        let secret = format!("{prefix}_{}", crate::files::random_hex(32));
        let row = NewRow {
            user_id: user.id,
            name,
            prefix,
            key_hash: hash(&secret),
            scopes: scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
            created_at: now(),
            expires_at,
        };
        let key = with_conn!(self.db, |conn| {
            diesel::insert_into(api_keys::table)
                .values(&row)
                .returning(Row::as_returning())
                .get_result(conn)
                .await?
        })
        .into_key();
        tracing::info!(key = %key.prefix, user_id = key.user_id, "API key created");
        Ok((key, secret))
    }

    /// Keys the actor may see: their own; a superuser names another user's with `user_id`,
    /// or everyone's with `all`. Newest first, revoked ones included.
    pub async fn list_api_keys(
        &self,
        actor: &Actor,
        user_id: Option<i64>,
        all: bool,
    ) -> DomainResult<Vec<ApiKey>> {
        actor.need_session()?;
        let owner = match (user_id, all) {
            (Some(id), _) if id == actor.id => Some(id),
            (None, false) => Some(actor.id),
            (id, _) => {
                if !actor.is_admin() {
                    return Err(DomainError::Forbidden(
                        "Only a superuser may see other users' keys".into(),
                    ));
                }
                id
            }
        };
        self.load_api_keys(owner).await
    }

    /// Every key, or one user's (the server's command line).
    pub async fn load_api_keys(&self, owner: Option<i64>) -> DomainResult<Vec<ApiKey>> {
        let rows: Vec<Row> = with_conn!(self.db, |conn| {
            let mut q = api_keys::table.select(Row::as_select()).into_boxed();
            if let Some(id) = owner {
                q = q.filter(api_keys::user_id.eq(id));
            }
            q.order(api_keys::id.desc()).load(conn).await?
        });
        Ok(rows.into_iter().map(Row::into_key).collect())
    }

    /// Revokes a key at once: its owner's, or any for a superuser. Revoking a revoked key
    /// changes nothing and answers the key as it is.
    pub async fn revoke_api_key(&self, actor: &Actor, id: i64) -> DomainResult<ApiKey> {
        let result = async {
            actor.need_session()?;
            let key = self.find_api_key(id).await?.ok_or_else(not_found)?;
            if key.user_id != actor.id && !actor.is_admin() {
                // Not even whether it exists.
                return Err(not_found());
            }
            self.revoke_key(&key.prefix).await
        }
        .await;
        let detail = result
            .as_ref()
            .ok()
            .map(|k| serde_json::json!({ "prefix": k.prefix, "user_id": k.user_id }));
        self.audited(
            actor,
            "api_key.revoke",
            Some(("api_key", id.to_string())),
            detail,
            result,
        )
        .await
    }

    /// Revokes a key by id or prefix (the server's command line).
    pub async fn revoke_api_key_as_operator(&self, id_or_prefix: &str) -> DomainResult<ApiKey> {
        let result = self.revoke_key(id_or_prefix).await;
        if let Ok(k) = &result {
            let detail = serde_json::json!({ "prefix": k.prefix, "user_id": k.user_id });
            let target = Some(("api_key", k.id.to_string()));
            self.audit(
                &Who::command_line(),
                "api_key.revoke",
                target,
                Outcome::Success,
                Some(detail),
            )
            .await;
        }
        result
    }

    async fn revoke_key(&self, id_or_prefix: &str) -> DomainResult<ApiKey> {
        let t = now();
        let by_id = id_or_prefix.parse::<i64>().ok();
        let rows: Vec<Row> = with_conn!(self.db, |conn| {
            let target = api_keys::table
                .filter(
                    api_keys::prefix
                        .eq(id_or_prefix)
                        .or(api_keys::id.eq(by_id.unwrap_or(-1))),
                )
                .select(api_keys::id)
                .first::<i64>(conn)
                .await
                .optional()?;
            let Some(id) = target else {
                return Err(not_found());
            };
            diesel::update(api_keys::table.find(id).filter(api_keys::revoked_at.is_null()))
                .set(api_keys::revoked_at.eq(Some(t)))
                .execute(conn)
                .await?;
            api_keys::table
                .find(id)
                .select(Row::as_select())
                .load(conn)
                .await?
        });
        let key = rows.into_iter().map(Row::into_key).next().ok_or_else(not_found)?;
        tracing::info!(key = %key.prefix, user_id = key.user_id, "API key revoked");
        Ok(key)
    }

    async fn find_api_key(&self, id: i64) -> DomainResult<Option<ApiKey>> {
        let rows: Vec<Row> = with_conn!(self.db, |conn| {
            api_keys::table
                .find(id)
                .select(Row::as_select())
                .load(conn)
                .await?
        });
        Ok(rows.into_iter().map(Row::into_key).next())
    }

    /// The actor a key stands for: a live key (not revoked, not expired) of an active user.
    /// Records when and from where it was last used.
    pub async fn authenticate_key(&self, key: &str, client: &ClientInfo) -> DomainResult<Actor> {
        let prefix = prefix_of(key).ok_or_else(invalid_key)?;
        let t = now();
        let found: Vec<(Row, User)> = with_conn!(self.db, |conn| {
            api_keys::table
                .inner_join(users::table)
                .filter(api_keys::prefix.eq(prefix))
                .select((Row::as_select(), User::as_select()))
                .load(conn)
                .await?
        });
        let Some((row, user)) = found.into_iter().next() else {
            return Err(invalid_key());
        };
        let live = row.revoked_at.is_none() && row.expires_at.is_none_or(|e| e > t);
        if !same(&row.key_hash, &hash(key)) || !live || !user.is_active {
            return Err(invalid_key());
        }
        let stale = row
            .last_used_at
            .is_none_or(|u| (t - u).num_seconds() >= LAST_USED_EVERY_SECS);
        if stale || row.last_used_ip != client.ip {
            let ip = client.ip.clone();
            with_conn!(self.db, |conn| {
                diesel::update(api_keys::table.find(row.id))
                    .set((api_keys::last_used_at.eq(Some(t)), api_keys::last_used_ip.eq(ip)))
                    .execute(conn)
                    .await?
            });
        }
        Ok(Actor {
            user,
            via: Via::Key {
                id: row.id,
                scopes: parse_stored_scopes(&row.scopes),
                prefix: row.prefix,
            },
            client: client.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_keys_have_a_prefix() {
        let key = format!("vk_{}_{}", "a1".repeat(6), "0f".repeat(32));
        assert_eq!(prefix_of(&key), Some(&key[..15]));
        assert_eq!(prefix_of("vk_short_x"), None);
        assert_eq!(prefix_of(&key.replace("vk_", "vx_")), None);
        assert_eq!(prefix_of(&format!("{key}0")), None);
        assert_eq!(prefix_of(&key.replacen('a', "g", 1)), None);
    }

    #[test]
    fn new_keys_are_checked_field_by_field() {
        let ok = NewApiKey {
            name: " ci ".into(),
            scopes: vec!["jobs:read".into(), "jobs:read".into()],
            expires_in_days: Some(30),
            user_id: None,
        };
        let (name, scopes, exp) = parse_new(&ok).unwrap();
        assert_eq!((name.as_str(), scopes), ("ci", vec![Scope::JobsRead]));
        assert!(exp.is_some());
        let field = |k: NewApiKey| match parse_new(&k) {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("expected a 422, got {other:?}"),
        };
        assert_eq!(
            field(NewApiKey {
                name: "".into(),
                ..ok.clone()
            }),
            "name"
        );
        assert_eq!(
            field(NewApiKey {
                scopes: vec![],
                ..ok.clone()
            }),
            "scopes"
        );
        assert_eq!(
            field(NewApiKey {
                scopes: vec!["jobs:read".into(), "root".into()],
                ..ok.clone()
            }),
            "scopes.1"
        );
        assert_eq!(
            field(NewApiKey {
                expires_in_days: Some(0),
                ..ok.clone()
            }),
            "expires_in_days"
        );
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
