//! Sign-in, token refresh and sign-out.
//!
//! A session is one signed-in device and one refresh-token family. Each refresh spends the
//! presented refresh token and issues a new pair in the same session. Presenting a spent
//! token again means it was copied: the whole session is revoked (reuse detection). One
//! exception keeps real browsers working: a token spent less than
//! [`REUSE_GRACE_SECS`] ago (two tabs refreshing at once) gets a fresh pair instead.
//! Access tokens carry the session id, so revoking a session ends its access tokens too.

use chrono::{Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use crate::access::Actor;
use crate::audit::{Outcome, Who};
use crate::error::{DomainError, DomainResult};
use crate::schema::{refresh_tokens, sessions, users};
use crate::tokens::{Claims, TokenType};
use crate::users::User;
use crate::{password, with_conn, Services};

pub const REUSE_GRACE_SECS: i64 = 10;
const THROTTLE_WINDOW_SECS: u64 = 15 * 60;

/// What a successful sign-in or refresh returns.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_in: i64,
    pub refresh_expires_in: i64,
}

/// Where a request came from, recorded on the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The request's `x-request-id` (for the audit log).
    pub request_id: Option<String>,
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn bad_credentials() -> DomainError {
    DomainError::Unauthorized("Incorrect username or password".into())
}

fn invalid_token() -> DomainError {
    DomainError::Unauthorized("Could not validate credentials".into())
}

/// The throttle's keys of a sign-in: the account (as typed, any case) and the address.
fn throttle_keys(login: &str, client: &ClientInfo) -> (String, Option<String>) {
    let account = format!("u:{}", login.trim().to_lowercase());
    (account, client.ip.as_ref().map(|ip| format!("ip:{ip}")))
}

impl Services {
    /// Checks a username (or email) and password and opens a session. Every attempt is
    /// audited (`auth.login`): a failure with the login tried and the reason. A user with
    /// two-factor sign-in needs [`Services::login_with_code`].
    pub async fn login(
        &self,
        login: &str,
        password_text: &str,
        client: &ClientInfo,
    ) -> DomainResult<(User, TokenPair)> {
        self.login_with_code(login, password_text, None, client)
            .await
            .map(|(u, p, _)| (u, p))
    }

    /// [`Services::login`] with the second factor's code (a TOTP code or a recovery code;
    /// see `mfa`). The third value holds the recovery codes when this sign-in turned
    /// two-factor sign-in on (a role that requires it), to be shown once; else it is empty.
    pub async fn login_with_code(
        &self,
        login: &str,
        password_text: &str,
        mfa_code: Option<&str>,
        client: &ClientInfo,
    ) -> DomainResult<(User, TokenPair, Vec<String>)> {
        let result = self.try_login(login, password_text, mfa_code, client).await;
        let (who, target, detail) = match &result {
            Ok((u, ..)) => (
                Who {
                    user_id: Some(u.id),
                    name: Some(u.username.clone()),
                    client: client.clone(),
                    ..Default::default()
                },
                Some(("user", u.id.to_string())),
                None,
            ),
            Err(e) => (
                Who {
                    name: Some(login.trim().chars().take(254).collect()),
                    client: client.clone(),
                    ..Default::default()
                },
                None,
                Some(serde_json::json!({ "reason": e.to_string() })),
            ),
        };
        self.audit(&who, "auth.login", target, Outcome::of(&result), detail)
            .await;
        result
    }

    /// The password step of a sign-in, throttled: too many failures for the account (or
    /// from the address) refuse before checking.
    pub(crate) async fn check_password(
        &self,
        login: &str,
        password_text: &str,
        client: &ClientInfo,
    ) -> DomainResult<User> {
        if login.trim().is_empty() {
            return Err(DomainError::invalid("username", "must not be empty"));
        }
        if password_text.is_empty() {
            return Err(DomainError::invalid("password", "must not be empty"));
        }
        // NUL cannot be stored in PostgreSQL text; no account can have it either.
        if login.len() > 254 || password_text.len() > 1024 || login.contains('\0') {
            return Err(bad_credentials());
        }
        let (account_key, ip_key) = throttle_keys(login, client);
        let max = self.config.login_max_failures as usize;
        if self.throttle.exceeded(&account_key, max)
            || ip_key
                .as_ref()
                .is_some_and(|k| self.throttle.exceeded(k, max * 5))
        {
            return Err(DomainError::TooManyRequests(
                "Too many failed sign-in attempts; try again later".into(),
            ));
        }
        let user = self.find_user_by_login(login).await?;
        // Verify against a dummy hash for unknown users so timing does not reveal them.
        let stored = user
            .as_ref()
            .map(|u| u.hashed_password.clone())
            .unwrap_or_else(|| password::dummy_hash().to_string());
        let ok = password::verify(password_text.to_string(), stored).await?;
        let user = match user {
            Some(u) if ok => u,
            _ => {
                self.record_failed_sign_in(login, client);
                tracing::warn!(login = %login.trim(), ip = ?client.ip, "sign-in failed");
                return Err(bad_credentials());
            }
        };
        if !user.is_active {
            return Err(DomainError::invalid("username", "Inactive user"));
        }
        Ok(user)
    }

    /// Counts a failed sign-in against the account and the address.
    fn record_failed_sign_in(&self, login: &str, client: &ClientInfo) {
        let (account_key, ip_key) = throttle_keys(login, client);
        self.throttle.record(&account_key);
        if let Some(k) = &ip_key {
            self.throttle.record(k);
        }
    }

    async fn try_login(
        &self,
        login: &str,
        password_text: &str,
        mfa_code: Option<&str>,
        client: &ClientInfo,
    ) -> DomainResult<(User, TokenPair, Vec<String>)> {
        let user = self.check_password(login, password_text, client).await?;
        let recovery_codes = match self.mfa_gate(&user, mfa_code, client).await {
            Ok(crate::mfa::Gate::Passed) => Vec::new(),
            Ok(crate::mfa::Gate::Enrolled(codes)) => codes,
            Err(e) => {
                if matches!(&e, DomainError::Unauthorized(m) if m == crate::mfa::MFA_INVALID) {
                    // A wrong code counts like a wrong password.
                    self.record_failed_sign_in(login, client);
                    tracing::warn!(user_id = user.id, ip = ?client.ip, "sign-in failed: wrong two-factor code");
                }
                return Err(e);
            }
        };
        self.throttle.clear(&throttle_keys(login, client).0);
        let sid = uuid::Uuid::new_v4().to_string();
        let expires = now() + Duration::seconds(self.keys.refresh_ttl_secs);
        with_conn!(self.db, |conn| {
            diesel::insert_into(sessions::table)
                .values((
                    sessions::id.eq(&sid),
                    sessions::user_id.eq(user.id),
                    sessions::created_at.eq(now()),
                    sessions::expires_at.eq(expires),
                    sessions::user_agent.eq(client.user_agent.as_deref().map(|s| truncate(s, 256))),
                    sessions::ip.eq(client.ip.as_deref()),
                ))
                .execute(conn)
                .await?
        });
        let pair = self.issue_pair(user.id, &sid).await?;
        tracing::info!(user_id = user.id, ip = ?client.ip, "signed in");
        Ok((user, pair, recovery_codes))
    }

    /// Stores a new refresh token for `sid` and signs both tokens.
    async fn issue_pair(&self, user_id: i64, sid: &str) -> DomainResult<TokenPair> {
        let jti = uuid::Uuid::new_v4().to_string();
        let (refresh_token, rc) = self.keys.issue(TokenType::Refresh, user_id, sid, &jti)?;
        let (access_token, _) =
            self.keys
                .issue(TokenType::Access, user_id, sid, &uuid::Uuid::new_v4().to_string())?;
        let expires = chrono::DateTime::from_timestamp(rc.exp, 0)
            .map(|d| d.naive_utc())
            .unwrap_or_else(now);
        with_conn!(self.db, |conn| {
            diesel::insert_into(refresh_tokens::table)
                .values((
                    refresh_tokens::jti.eq(&jti),
                    refresh_tokens::session_id.eq(sid),
                    refresh_tokens::created_at.eq(now()),
                    refresh_tokens::expires_at.eq(expires),
                ))
                .execute(conn)
                .await?;
            diesel::update(sessions::table.find(sid))
                .set(sessions::expires_at.eq(expires))
                .execute(conn)
                .await?
        });
        Ok(TokenPair {
            access_token,
            refresh_token,
            access_expires_in: self.keys.access_ttl_secs,
            refresh_expires_in: self.keys.refresh_ttl_secs,
        })
    }

    /// Spends a refresh token and returns a new pair in the same session.
    pub async fn refresh(&self, refresh_token: &str) -> DomainResult<(User, TokenPair)> {
        let claims = self
            .keys
            .check(TokenType::Refresh, refresh_token)
            .ok_or_else(invalid_token)?;
        let t = now();
        // The conditional update is the lock: of two concurrent refreshes only one flips
        // `used_at` from NULL.
        let (won, row) = with_conn!(self.db, |conn| {
            let won = diesel::update(
                refresh_tokens::table
                    .find(&claims.jti)
                    .filter(refresh_tokens::used_at.is_null()),
            )
            .set(refresh_tokens::used_at.eq(t))
            .execute(conn)
            .await?;
            let row: Option<(String, Option<NaiveDateTime>)> = refresh_tokens::table
                .find(&claims.jti)
                .select((refresh_tokens::session_id, refresh_tokens::used_at))
                .first(conn)
                .await
                .optional()?;
            (won, row)
        });
        let Some((sid, used_at)) = row else {
            return Err(invalid_token());
        };
        if sid != claims.sid {
            return Err(invalid_token());
        }
        if won == 0 {
            let spent_ago = used_at.map(|u| (t - u).num_seconds()).unwrap_or(i64::MAX);
            if spent_ago > REUSE_GRACE_SECS {
                tracing::warn!(session = %sid, "refresh token reused; revoking its session");
                self.revoke_session(&sid).await?;
                return Err(invalid_token());
            }
        }
        let user = self.session_user(&claims).await?;
        let pair = self.issue_pair(user.id, &sid).await?;
        Ok((user, pair))
    }

    /// The active user behind a live (not revoked, not expired) session named by `claims`.
    async fn session_user(&self, claims: &Claims) -> DomainResult<User> {
        let user_id: i64 = claims.sub.parse().map_err(|_| invalid_token())?;
        let t = now();
        let user: Option<User> = with_conn!(self.db, |conn| {
            users::table
                .inner_join(sessions::table)
                .filter(sessions::id.eq(&claims.sid))
                .filter(users::id.eq(user_id))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(t))
                .select(User::as_select())
                .first(conn)
                .await
                .optional()?
        });
        match user {
            Some(u) if u.is_active => Ok(u),
            _ => Err(invalid_token()),
        }
    }

    /// Who a bearer credential stands for: a session's access token (valid, its session
    /// live) or an API key (`vk_…`, see [`crate::api_keys`]). `client` is recorded as a
    /// key's last use.
    pub async fn authenticate(&self, token: &str, client: &ClientInfo) -> DomainResult<Actor> {
        if crate::api_keys::looks_like_key(token) {
            return self.authenticate_key(token, client).await;
        }
        let claims = self
            .keys
            .check(TokenType::Access, token)
            .ok_or_else(invalid_token)?;
        Ok(Actor::session(self.session_user(&claims).await?).from(client))
    }

    /// Ends the session that an access or refresh token belongs to (audited).
    pub async fn logout(&self, token: &str, client: &ClientInfo) -> DomainResult<()> {
        let claims = self
            .keys
            .check(TokenType::Access, token)
            .or_else(|| self.keys.check(TokenType::Refresh, token))
            .ok_or_else(invalid_token)?;
        self.revoke_session(&claims.sid).await?;
        let user_id = claims.sub.parse::<i64>().ok();
        let name = match user_id {
            Some(id) => self.find_user(id).await.ok().flatten().map(|u| u.username),
            None => None,
        };
        let who = Who {
            user_id,
            name,
            client: client.clone(),
            ..Default::default()
        };
        let target = user_id.map(|id| ("user", id.to_string()));
        self.audit(&who, "auth.logout", target, Outcome::Success, None)
            .await;
        Ok(())
    }

    pub async fn revoke_session(&self, sid: &str) -> DomainResult<()> {
        let t = now();
        with_conn!(self.db, |conn| {
            diesel::update(sessions::table.find(sid).filter(sessions::revoked_at.is_null()))
                .set(sessions::revoked_at.eq(Some(t)))
                .execute(conn)
                .await?
        });
        Ok(())
    }

    /// Ends every session of a user (password change, deactivation).
    pub async fn revoke_user_sessions(&self, user_id: i64) -> DomainResult<()> {
        let t = now();
        with_conn!(self.db, |conn| {
            diesel::update(
                sessions::table
                    .filter(sessions::user_id.eq(user_id))
                    .filter(sessions::revoked_at.is_null()),
            )
            .set(sessions::revoked_at.eq(Some(t)))
            .execute(conn)
            .await?
        });
        Ok(())
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Failed sign-in counter per key (account or IP) over a sliding window, in memory.
/// Per process: with several nodes each counts its own, which still bounds guessing.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    fn prune(q: &mut VecDeque<Instant>) {
        while q
            .front()
            .is_some_and(|t| t.elapsed().as_secs() >= THROTTLE_WINDOW_SECS)
        {
            q.pop_front();
        }
    }
    pub fn exceeded(&self, key: &str, max: usize) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.get_mut(key).is_some_and(|q| {
            Self::prune(q);
            q.len() >= max
        })
    }
    pub fn record(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            // Bound memory under a spray of distinct keys: forget everything idle.
            map.retain(|_, q| {
                Self::prune(q);
                !q.is_empty()
            });
        }
        let q = map.entry(key.to_string()).or_default();
        Self::prune(q);
        q.push_back(Instant::now());
    }
    pub fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_counts_per_key() {
        let t = Throttle::default();
        for _ in 0..3 {
            assert!(!t.exceeded("a", 3));
            t.record("a");
        }
        assert!(t.exceeded("a", 3));
        assert!(!t.exceeded("b", 3));
        t.clear("a");
        assert!(!t.exceeded("a", 3));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("hi", 5), "hi");
    }
}
