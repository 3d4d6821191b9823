//! Password recovery by emailed token.
//!
//! `recover_password` answers the same whether or not the address belongs to an account, and
//! sends in the background, so neither the answer nor its timing tells who has an account.
//! The emailed link carries a signed token (`typ` reset) naming the user and a fingerprint
//! of the password hash it was issued against: setting a new password spends every link
//! issued before, and a link expires after `EMAIL_RESET_TOKEN_EXPIRE_HOURS`. A reset ends
//! all the user's sessions, like a password change.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use sha2::{Digest, Sha256};

use crate::error::{DomainError, DomainResult};
use crate::schema::users;
use crate::sessions::ClientInfo;
use crate::tokens::TokenType;
use crate::users::User;
use crate::validate::{Email, Password};
use crate::{password, with_conn, Services};

/// Recovery emails per address, and (times 10) per client IP, in the throttle window.
const MAX_PER_ADDRESS: usize = 3;

fn fingerprint(hashed_password: &str) -> String {
    hex::encode(&Sha256::digest(hashed_password.as_bytes())[..12])
}

fn bad_token() -> DomainError {
    DomainError::invalid("token", "is invalid or has expired; ask for a new recovery email")
}

impl Services {
    /// Emails a recovery link to `email` if it belongs to an active account. The result is
    /// the same either way; only a malformed address (422) or email being off (503) differ.
    pub async fn recover_password(&self, email: &str, client: &ClientInfo) -> DomainResult<()> {
        let notifier = self
            .notifier
            .as_ref()
            .filter(|n| n.email_enabled())
            .ok_or_else(|| {
                DomainError::Unavailable(
                    "Password recovery is not available: email is not configured on this server".into(),
                )
            })?;
        let email = Email::parse("email", email)?;
        let address_key = format!("recover:{}", email.as_str());
        let ip_key = client.ip.as_ref().map(|ip| format!("recover-ip:{ip}"));
        if self.throttle.exceeded(&address_key, MAX_PER_ADDRESS)
            || ip_key
                .as_ref()
                .is_some_and(|k| self.throttle.exceeded(k, MAX_PER_ADDRESS * 10))
        {
            return Err(DomainError::TooManyRequests(
                "Too many recovery requests; try again later".into(),
            ));
        }
        self.throttle.record(&address_key);
        if let Some(k) = &ip_key {
            self.throttle.record(k);
        }
        let Some(user) = self.find_user_by_login(email.as_str()).await? else {
            tracing::info!(ip = ?client.ip, "password recovery asked for an unknown address");
            return Ok(());
        };
        if !user.is_active {
            tracing::info!(user = user.id, "password recovery asked for an inactive account");
            return Ok(());
        }
        let (token, _) = self
            .keys
            .issue(
                TokenType::Reset,
                user.id,
                &fingerprint(&user.hashed_password),
                &uuid::Uuid::new_v4().to_string(),
            )
            .map_err(DomainError::Internal)?;
        let c = &self.config;
        let link = format!("{}/reset-password?token={token}", c.base_url);
        let subject = format!("{} - password recovery for {}", c.project_name, user.username);
        let body = format!(
            "Hello {name},\n\n\
             someone (hopefully you) asked to reset the password of your {project} account \
             \"{username}\". Open this link to choose a new one:\n\n{link}\n\n\
             The link works once and expires in {hours} hours. If you did not ask for it, \
             ignore this email: your password stays as it is.\n",
            name = user.full_name.as_deref().unwrap_or(&user.username),
            project = c.project_name,
            username = user.username,
            hours = c.email_reset_token_expire_hours,
        );
        if notifier.email(&user.email, &subject, &body) {
            tracing::info!(user = user.id, ip = ?client.ip, "password recovery email queued");
        }
        Ok(())
    }

    /// Sets a new password with a recovery token and ends the user's sessions.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        client: &ClientInfo,
    ) -> DomainResult<User> {
        let result = self.reset_password_with(token, new_password).await;
        if let Ok(user) = &result {
            let who = crate::audit::Who {
                user_id: Some(user.id),
                name: Some(user.username.clone()),
                client: client.clone(),
                ..Default::default()
            };
            let target = Some(("user", user.id.to_string()));
            self.audit(
                &who,
                "user.password_reset",
                target,
                crate::audit::Outcome::Success,
                None,
            )
            .await;
        }
        result
    }

    async fn reset_password_with(&self, token: &str, new_password: &str) -> DomainResult<User> {
        if token.trim().is_empty() {
            return Err(DomainError::invalid("token", "must not be empty"));
        }
        let pw = Password::parse("new_password", new_password)?;
        let claims = self
            .keys
            .check(TokenType::Reset, token.trim())
            .ok_or_else(bad_token)?;
        let id: i64 = claims.sub.parse().map_err(|_| bad_token())?;
        let user = self.find_user(id).await?.ok_or_else(bad_token)?;
        if !user.is_active || claims.sid != fingerprint(&user.hashed_password) {
            return Err(bad_token());
        }
        let hashed = password::hash(pw.expose().to_string()).await?;
        let old_hash = user.hashed_password.clone();
        // Compare-and-set on the old hash: two concurrent resets with one link, one wins.
        let updated = with_conn!(self.db, |conn| {
            diesel::update(users::table.find(id).filter(users::hashed_password.eq(&old_hash)))
                .set((
                    users::hashed_password.eq(&hashed),
                    users::updated_at.eq(Utc::now().naive_utc()),
                ))
                .returning(User::as_returning())
                .get_result(conn)
                .await
                .optional()?
        });
        let user = updated.ok_or_else(bad_token)?;
        self.revoke_user_sessions(id).await?;
        tracing::info!(user = id, "password reset with a recovery link");
        Ok(user)
    }
}
