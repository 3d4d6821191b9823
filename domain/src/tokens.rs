//! JWT access and refresh tokens. Each kind has its own secret and a `typ` claim, so one can
//! never be used as the other; `exp` is always checked and only the configured HMAC
//! algorithm is accepted (no `none`, no algorithm switching by the token's header).

use chrono::Utc;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{Config, JwtAlgorithm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
    /// A password-recovery link. Its `sid` is a fingerprint of the password hash it was
    /// issued against, so the link stops working once the password changes (single use).
    Reset,
}

/// Claims of both token kinds. `sid` is the session (refresh family) the token belongs to;
/// `jti` identifies a refresh token (access tokens carry one too, unused).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub typ: TokenType,
    pub sid: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Clone)]
pub struct TokenKeys {
    alg: Algorithm,
    access_enc: EncodingKey,
    access_dec: DecodingKey,
    refresh_enc: EncodingKey,
    refresh_dec: DecodingKey,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    pub reset_ttl_secs: i64,
}

impl TokenKeys {
    pub fn new(cfg: &Config) -> Self {
        let alg = match cfg.algorithm {
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::HS384 => Algorithm::HS384,
            JwtAlgorithm::HS512 => Algorithm::HS512,
        };
        TokenKeys {
            alg,
            access_enc: EncodingKey::from_secret(cfg.jwt_access_secret.as_bytes()),
            access_dec: DecodingKey::from_secret(cfg.jwt_access_secret.as_bytes()),
            refresh_enc: EncodingKey::from_secret(cfg.jwt_refresh_secret.as_bytes()),
            refresh_dec: DecodingKey::from_secret(cfg.jwt_refresh_secret.as_bytes()),
            access_ttl_secs: cfg.access_token_expire_minutes * 60,
            refresh_ttl_secs: cfg.refresh_token_expire_minutes * 60,
            reset_ttl_secs: cfg.email_reset_token_expire_hours * 3600,
        }
    }

    /// Signs a token of kind `typ` for user `user_id` in session `sid`.
    pub fn issue(
        &self,
        typ: TokenType,
        user_id: i64,
        sid: &str,
        jti: &str,
    ) -> anyhow::Result<(String, Claims)> {
        let now = Utc::now().timestamp();
        let ttl = match typ {
            TokenType::Access => self.access_ttl_secs,
            TokenType::Refresh => self.refresh_ttl_secs,
            TokenType::Reset => self.reset_ttl_secs,
        };
        let claims = Claims {
            sub: user_id.to_string(),
            typ,
            sid: sid.to_string(),
            jti: jti.to_string(),
            iat: now,
            exp: now + ttl,
        };
        // Reset tokens share the refresh key; `typ` keeps the kinds apart.
        let key = match typ {
            TokenType::Access => &self.access_enc,
            TokenType::Refresh | TokenType::Reset => &self.refresh_enc,
        };
        let token = encode(&Header::new(self.alg), &claims, key)?;
        Ok((token, claims))
    }

    /// Checks signature, algorithm, expiry and kind. `None` for any failure: callers answer
    /// 401 without saying which check failed.
    pub fn check(&self, typ: TokenType, token: &str) -> Option<Claims> {
        let key = match typ {
            TokenType::Access => &self.access_dec,
            TokenType::Refresh | TokenType::Reset => &self.refresh_dec,
        };
        let mut v = Validation::new(self.alg);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "sub"]);
        let data = decode::<Claims>(token, key, &v).ok()?;
        (data.claims.typ == typ).then_some(data.claims)
    }
}

/// Whether two secrets are equal, in time that does not depend on where they differ: their
/// SHA-256 digests are compared, so a timing difference tells nothing about the secret.
pub fn same_secret(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn keys(pairs: &[(&str, &str)]) -> TokenKeys {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TokenKeys::new(&Config::from_map(&vars, false).unwrap())
    }

    #[test]
    fn access_and_refresh_tokens_are_not_interchangeable() {
        let k = keys(&[]);
        let (access, _) = k.issue(TokenType::Access, 7, "s", "j").unwrap();
        let (refresh, _) = k.issue(TokenType::Refresh, 7, "s", "j2").unwrap();
        assert_eq!(k.check(TokenType::Access, &access).unwrap().sub, "7");
        assert!(k.check(TokenType::Refresh, &access).is_none());
        assert!(k.check(TokenType::Access, &refresh).is_none());
        assert_eq!(k.check(TokenType::Refresh, &refresh).unwrap().jti, "j2");
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_rejected() {
        let k = keys(&[]);
        let mut short = k.clone();
        short.access_ttl_secs = -10;
        let (expired, _) = short.issue(TokenType::Access, 1, "s", "j").unwrap();
        assert!(k.check(TokenType::Access, &expired).is_none());

        let (good, _) = k.issue(TokenType::Access, 1, "s", "j").unwrap();
        let mut tampered = good.clone();
        tampered.pop();
        tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
        assert!(k.check(TokenType::Access, &tampered).is_none());

        let other = keys(&[]);
        assert!(other.check(TokenType::Access, &good).is_none(), "other secret");

        let hs512 = keys(&[("ALGORITHM", "HS512")]);
        let (t512, _) = hs512.issue(TokenType::Access, 1, "s", "j").unwrap();
        assert!(hs512.check(TokenType::Access, &t512).is_some());
        // An unsigned token with alg "none" is never accepted.
        let none = format!(
            "{}.{}.",
            base64_url(r#"{"alg":"none","typ":"JWT"}"#),
            base64_url(r#"{"sub":"1","typ":"access","sid":"s","jti":"j","iat":0,"exp":9999999999}"#)
        );
        assert!(k.check(TokenType::Access, &none).is_none());
    }

    fn base64_url(s: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }
}
