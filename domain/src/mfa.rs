//! Two-factor sign-in: time-based one-time passwords (TOTP, RFC 6238: HMAC-SHA1, 6 digits,
//! 30 s steps, one step of clock drift either way) and ten single-use recovery codes.
//!
//! - **Set-up**: [`Services::mfa_setup`] makes a secret (160 random bits), shown as base32,
//!   as an `otpauth://` address and as a QR code drawn here (SVG; no external service). It
//!   is pending until [`Services::mfa_enable`] gets a right code from the app; that answers
//!   the recovery codes, shown once (only their SHA-256 is kept).
//! - **Sign-in**: the password, then the code, in one request (`mfa_code` beside username
//!   and password): without it the answer is a 401 [`MFA_REQUIRED`]. A code is accepted
//!   once (the step of the last one is kept); a recovery code in its place is spent. Wrong
//!   codes count as failed sign-ins (the same throttle as passwords).
//! - **Required** (`MFA_REQUIRED_FOR`): a user of such a role without a second factor gets
//!   [`MFA_ENROL`] after a right password; [`Services::mfa_setup_at_sign_in`] (password
//!   again) gives the secret, and signing in with a code from it turns it on and answers
//!   the recovery codes with the tokens.
//! - A superuser may remove another user's second factor ([`Services::mfa_reset`]); every
//!   change is audited (`mfa.enable`, `mfa.disable`, `mfa.reset`).
//!
//! The secret is stored as it is (the server must read it to check codes); like the
//! password hashes, it is as safe as the database.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::access::{Actor, Role};
use crate::audit::{Outcome, Who};
use crate::error::{DomainError, DomainResult};
use crate::schema::user_mfa;
use crate::sessions::ClientInfo;
use crate::users::User;
use crate::{with_conn, Services};

/// The 401 of a sign-in that needs the code from the authenticator app.
pub const MFA_REQUIRED: &str = "Two-factor code required";
/// The 401 of a sign-in whose code (or recovery code) is wrong or already used.
pub const MFA_INVALID: &str = "Invalid or already used two-factor code";
/// The 401 of a sign-in of a role that must use two-factor sign-in, by a user without it.
pub const MFA_ENROL: &str = "Two-factor sign-in is required for your account: set it up to continue";

const STEP_SECS: u64 = 30;
const DIGITS: u32 = 6;
const RECOVERY_CODES: usize = 10;

/// Who must sign in with a second factor (`MFA_REQUIRED_FOR`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MfaRequiredFor {
    #[default]
    None,
    Superuser,
    /// Operators and superusers.
    Operator,
    All,
}

impl MfaRequiredFor {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "" => Some(Self::None),
            "superuser" => Some(Self::Superuser),
            "operator" => Some(Self::Operator),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    pub fn applies(self, role: Role) -> bool {
        match self {
            Self::None => false,
            Self::Superuser => role == Role::Superuser,
            Self::Operator => matches!(role, Role::Superuser | Role::Operator),
            Self::All => true,
        }
    }
}

/// A secret being set up: to type into an authenticator app, or to scan.
#[derive(Debug, Clone)]
pub struct MfaSetup {
    /// Base32, without padding.
    pub secret: String,
    pub otpauth_uri: String,
    /// The URI as a QR code, an `<svg>` element.
    pub qr_svg: String,
}

/// A user's second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaStatus {
    pub enabled: bool,
    pub recovery_codes_left: usize,
    /// Whether `MFA_REQUIRED_FOR` covers the user's role.
    pub required: bool,
}

#[derive(Queryable, Debug, Clone)]
struct MfaRow {
    user_id: i64,
    secret: String,
    enabled: bool,
    last_step: i64,
    recovery: String,
    #[allow(dead_code)]
    created_at: NaiveDateTime,
    #[allow(dead_code)]
    enabled_at: Option<NaiveDateTime>,
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

fn unix_now() -> u64 {
    chrono::Utc::now().timestamp().max(0) as u64
}

/// The code of `secret` (raw bytes) for time step `step`.
fn hotp(secret: &[u8], step: u64) -> u32 {
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret) else {
        return u32::MAX;
    };
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let at = (h[h.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[at] & 0x7f, h[at + 1], h[at + 2], h[at + 3]]);
    bin % 10u32.pow(DIGITS)
}

fn decode_secret(b32: &str) -> Option<Vec<u8>> {
    data_encoding::BASE32_NOPAD
        .decode(b32.trim().to_ascii_uppercase().trim_end_matches('=').as_bytes())
        .ok()
}

/// The 6-digit code of a base32 `secret` at Unix time `unix` (what an authenticator app
/// shows; the tests compute codes with it).
pub fn code_at(secret: &str, unix: u64) -> Option<String> {
    let key = decode_secret(secret)?;
    Some(format!("{:06}", hotp(&key, unix / STEP_SECS)))
}

/// The step whose code `code` is, within one step of `unix`, and later than `after`.
fn accepted_step(secret: &str, code: &str, unix: u64, after: i64) -> Option<u64> {
    let key = decode_secret(secret)?;
    let code: u32 = code.parse().ok()?;
    let now = unix / STEP_SECS;
    [now.saturating_sub(1), now, now + 1]
        .into_iter()
        .filter(|s| *s as i64 > after)
        .find(|s| hotp(&key, *s) == code)
}

/// A typed code without the spaces and dashes people add: 6 digits (TOTP) or a recovery
/// code.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_ascii_lowercase()
}

fn hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

fn new_recovery_codes() -> (Vec<String>, String) {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let raw = crate::files::random_hex(5);
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect();
    let hashes: Vec<String> = codes.iter().map(|c| hash(&normalise(c))).collect();
    (
        codes,
        serde_json::to_string(&hashes).unwrap_or_else(|_| "[]".into()),
    )
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn setup_of(issuer: &str, account: &str, secret: String) -> DomainResult<MfaSetup> {
    let otpauth_uri = format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent(issuer),
        percent(account),
        percent(issuer),
    );
    let qr = qrcode::QrCode::new(otpauth_uri.as_bytes())
        .map_err(|e| DomainError::Internal(anyhow::anyhow!("QR code: {e}")))?;
    let svg = qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // The XML declaration is for files; the element goes into a page.
    let qr_svg = match svg.find("<svg") {
        Some(at) => svg[at..].to_string(),
        None => svg,
    };
    Ok(MfaSetup {
        secret,
        otpauth_uri,
        qr_svg,
    })
}

/// What the second factor said at sign-in.
pub(crate) enum Gate {
    /// Not needed (not enabled and not required), or passed.
    Passed,
    /// Turned on by this sign-in (required, and the code matched the pending secret): the
    /// recovery codes, to show once.
    Enrolled(Vec<String>),
}

impl Services {
    async fn mfa_row(&self, user_id: i64) -> DomainResult<Option<MfaRow>> {
        Ok(with_conn!(self.db, |conn| {
            user_mfa::table
                .find(user_id)
                .first::<MfaRow>(conn)
                .await
                .optional()?
        }))
    }

    fn mfa_required(&self, user: &User) -> bool {
        self.config
            .mfa_required_for
            .applies(Role::from_stored(&user.role))
    }

    /// A new pending secret for `user` (replacing a pending one), unless one is on.
    async fn new_pending_secret(&self, user: &User) -> DomainResult<MfaSetup> {
        if self.mfa_row(user.id).await?.is_some_and(|r| r.enabled) {
            return Err(DomainError::Conflict(
                "Two-factor sign-in is already on: turn it off first to set up another device".into(),
            ));
        }
        let mut raw = [0u8; 20];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
        let secret = data_encoding::BASE32_NOPAD.encode(&raw);
        with_conn!(self.db, |conn| {
            diesel::delete(user_mfa::table.find(user.id))
                .execute(conn)
                .await?;
            diesel::insert_into(user_mfa::table)
                .values((
                    user_mfa::user_id.eq(user.id),
                    user_mfa::secret.eq(&secret),
                    user_mfa::enabled.eq(false),
                    user_mfa::last_step.eq(0i64),
                    user_mfa::recovery.eq("[]"),
                    user_mfa::created_at.eq(now()),
                ))
                .execute(conn)
                .await?
        });
        setup_of(&self.config.project_name, &user.username, secret)
    }

    /// Turns the pending secret of `row` on if `code` is its current code: the recovery
    /// codes, or `None` for a wrong code.
    async fn enable_pending(&self, row: &MfaRow, code: &str) -> DomainResult<Option<Vec<String>>> {
        let Some(step) = accepted_step(&row.secret, &normalise(code), unix_now(), row.last_step) else {
            return Ok(None);
        };
        let (codes, hashes) = new_recovery_codes();
        let changed = with_conn!(self.db, |conn| {
            diesel::update(
                user_mfa::table
                    .find(row.user_id)
                    .filter(user_mfa::enabled.eq(false))
                    .filter(user_mfa::secret.eq(&row.secret)),
            )
            .set((
                user_mfa::enabled.eq(true),
                user_mfa::last_step.eq(step as i64),
                user_mfa::recovery.eq(&hashes),
                user_mfa::enabled_at.eq(Some(now())),
            ))
            .execute(conn)
            .await?
        });
        Ok((changed == 1).then_some(codes))
    }

    /// Checks `code` (a TOTP code or a recovery code) against an enabled factor and uses it
    /// up: a TOTP step is not accepted twice, a recovery code is spent.
    async fn spend_code(&self, row: &MfaRow, code: &str) -> DomainResult<bool> {
        let code = normalise(code);
        if code.len() == DIGITS as usize && code.chars().all(|c| c.is_ascii_digit()) {
            let Some(step) = accepted_step(&row.secret, &code, unix_now(), row.last_step) else {
                return Ok(false);
            };
            let changed = with_conn!(self.db, |conn| {
                diesel::update(
                    user_mfa::table
                        .find(row.user_id)
                        .filter(user_mfa::last_step.lt(step as i64)),
                )
                .set(user_mfa::last_step.eq(step as i64))
                .execute(conn)
                .await?
            });
            return Ok(changed == 1);
        }
        let mut left: Vec<String> = serde_json::from_str(&row.recovery).unwrap_or_default();
        let h = hash(&code);
        let Some(at) = left.iter().position(|x| *x == h) else {
            return Ok(false);
        };
        left.remove(at);
        let rest = serde_json::to_string(&left).unwrap_or_else(|_| "[]".into());
        // Only if no one spent a code in between (the same code twice at once spends once).
        let changed = with_conn!(self.db, |conn| {
            diesel::update(
                user_mfa::table
                    .find(row.user_id)
                    .filter(user_mfa::recovery.eq(&row.recovery)),
            )
            .set(user_mfa::recovery.eq(&rest))
            .execute(conn)
            .await?
        });
        Ok(changed == 1)
    }

    /// The second step of a sign-in whose password was right. A wrong code is an error the
    /// caller counts as a failed sign-in.
    pub(crate) async fn mfa_gate(
        &self,
        user: &User,
        code: Option<&str>,
        client: &ClientInfo,
    ) -> DomainResult<Gate> {
        let row = self.mfa_row(user.id).await?;
        let code = code.map(str::trim).filter(|c| !c.is_empty());
        match (&row, code) {
            (Some(r), None) if r.enabled => Err(DomainError::Unauthorized(MFA_REQUIRED.into())),
            (Some(r), Some(c)) if r.enabled => match self.spend_code(r, c).await? {
                true => Ok(Gate::Passed),
                false => Err(DomainError::Unauthorized(MFA_INVALID.into())),
            },
            _ if !self.mfa_required(user) => Ok(Gate::Passed),
            (Some(r), Some(c)) => match self.enable_pending(r, c).await? {
                Some(codes) => {
                    let who = Who {
                        user_id: Some(user.id),
                        name: Some(user.username.clone()),
                        client: client.clone(),
                        ..Default::default()
                    };
                    self.audit(
                        &who,
                        "mfa.enable",
                        Some(("user", user.id.to_string())),
                        Outcome::Success,
                        Some(serde_json::json!({ "at": "sign-in" })),
                    )
                    .await;
                    Ok(Gate::Enrolled(codes))
                }
                None => Err(DomainError::Unauthorized(MFA_INVALID.into())),
            },
            _ => Err(DomainError::Unauthorized(MFA_ENROL.into())),
        }
    }

    /// The actor's second factor.
    pub async fn mfa_status(&self, actor: &Actor) -> DomainResult<MfaStatus> {
        let row = self.mfa_row(actor.id).await?;
        let enabled = row.as_ref().is_some_and(|r| r.enabled);
        let left = row
            .filter(|r| r.enabled)
            .map(|r| {
                serde_json::from_str::<Vec<String>>(&r.recovery)
                    .map(|v| v.len())
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        Ok(MfaStatus {
            enabled,
            recovery_codes_left: left,
            required: self.mfa_required(&actor.user),
        })
    }

    /// Starts setting up a second factor (a signed-in session; not with an API key).
    pub async fn mfa_setup(&self, actor: &Actor) -> DomainResult<MfaSetup> {
        actor.need_session()?;
        self.new_pending_secret(&actor.user).await
    }

    /// Turns the pending secret on with a code from the app; answers the recovery codes.
    pub async fn mfa_enable(&self, actor: &Actor, code: &str) -> DomainResult<Vec<String>> {
        let result = self.mfa_enable_with(actor, code).await;
        let target = Some(("user", actor.id.to_string()));
        self.audited(actor, "mfa.enable", target, None, result).await
    }

    async fn mfa_enable_with(&self, actor: &Actor, code: &str) -> DomainResult<Vec<String>> {
        actor.need_session()?;
        let row = match self.mfa_row(actor.id).await? {
            Some(r) if r.enabled => {
                return Err(DomainError::Conflict("Two-factor sign-in is already on".into()))
            }
            Some(r) => r,
            None => {
                return Err(DomainError::invalid("code", "set up two-factor sign-in first"));
            }
        };
        self.enable_pending(&row, code)
            .await?
            .ok_or_else(|| DomainError::invalid("code", "is not the app's current code"))
    }

    /// Turns the actor's second factor off; needs a current code or a recovery code.
    pub async fn mfa_disable(&self, actor: &Actor, code: &str) -> DomainResult<()> {
        let result = self.mfa_disable_with(actor, code).await;
        let target = Some(("user", actor.id.to_string()));
        self.audited(actor, "mfa.disable", target, None, result).await
    }

    async fn mfa_disable_with(&self, actor: &Actor, code: &str) -> DomainResult<()> {
        actor.need_session()?;
        let row = self
            .mfa_row(actor.id)
            .await?
            .filter(|r| r.enabled)
            .ok_or_else(|| DomainError::Conflict("Two-factor sign-in is not on".into()))?;
        if !self.spend_code(&row, code).await? {
            return Err(DomainError::invalid("code", "is not a current or recovery code"));
        }
        with_conn!(self.db, |conn| {
            diesel::delete(user_mfa::table.find(actor.id))
                .execute(conn)
                .await?
        });
        Ok(())
    }

    /// Removes another user's second factor (superusers; a key needs `admin`), e.g. for a
    /// lost phone (a set-up they began is removed too). Their next sign-in needs the
    /// password only, or sets it up again when their role requires it. Whether there was
    /// anything to remove is the answer (and the audit entry's detail): a second reset
    /// changes nothing and is not an error.
    pub async fn mfa_reset(&self, actor: &Actor, user_id: i64) -> DomainResult<bool> {
        let result = self.mfa_reset_with(actor, user_id).await;
        let target = Some(("user", user_id.to_string()));
        let detail = result
            .as_ref()
            .ok()
            .map(|removed| serde_json::json!({ "removed": removed }));
        self.audited(actor, "mfa.reset", target, detail, result).await
    }

    async fn mfa_reset_with(&self, actor: &Actor, user_id: i64) -> DomainResult<bool> {
        actor.need_admin()?;
        if self.find_user(user_id).await?.is_none() {
            return Err(DomainError::NotFound("User not found".into()));
        }
        let removed = with_conn!(self.db, |conn| {
            diesel::delete(user_mfa::table.find(user_id))
                .execute(conn)
                .await?
        });
        Ok(removed > 0)
    }

    /// For a user whose role requires a second factor and who has none: checks the
    /// password (throttled like a sign-in) and starts the set-up.
    pub async fn mfa_setup_at_sign_in(
        &self,
        login: &str,
        password_text: &str,
        client: &ClientInfo,
    ) -> DomainResult<MfaSetup> {
        let user = self.check_password(login, password_text, client).await?;
        if !self.mfa_required(&user) {
            return Err(DomainError::Conflict(
                "Two-factor sign-in is not required for this account: set it up from the profile page".into(),
            ));
        }
        self.new_pending_secret(&user).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_test_vectors() {
        // RFC 6238, appendix B (SHA-1, key "12345678901234567890"), last 6 digits.
        let secret = data_encoding::BASE32_NOPAD.encode(b"12345678901234567890");
        for (t, code) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
        ] {
            assert_eq!(code_at(&secret, t).as_deref(), Some(code), "T = {t}");
        }
    }

    #[test]
    fn codes_are_accepted_within_one_step_and_once() {
        let secret = data_encoding::BASE32_NOPAD.encode(b"12345678901234567890");
        let t = 1_111_111_111;
        let now = code_at(&secret, t).unwrap();
        let before = code_at(&secret, t - 30).unwrap();
        let long_ago = code_at(&secret, t - 90).unwrap();
        assert_eq!(accepted_step(&secret, &now, t, 0), Some(t / 30));
        assert_eq!(accepted_step(&secret, &before, t, 0), Some(t / 30 - 1));
        assert_eq!(accepted_step(&secret, &long_ago, t, 0), None);
        assert_eq!(
            accepted_step(&secret, &now, t, (t / 30) as i64),
            None,
            "used once"
        );
        assert_eq!(accepted_step(&secret, "12345x", t, 0), None);
    }

    #[test]
    fn recovery_codes_are_typed_loosely_and_stored_hashed() {
        let (codes, hashes) = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let stored: Vec<String> = serde_json::from_str(&hashes).unwrap();
        let typed = format!(" {} ", codes[3].to_uppercase().replace('-', " "));
        assert_eq!(stored[3], hash(&normalise(&typed)));
        assert!(!hashes.contains(&codes[3]));
    }

    #[test]
    fn the_setup_has_a_scannable_address_and_an_svg() {
        let s = setup_of("My vcore", "ann", "JBSWY3DPEHPK3PXP".into()).unwrap();
        assert_eq!(
            s.otpauth_uri,
            "otpauth://totp/My%20vcore:ann?secret=JBSWY3DPEHPK3PXP&issuer=My%20vcore&algorithm=SHA1&digits=6&period=30"
        );
        assert!(
            s.qr_svg.starts_with("<svg") && s.qr_svg.contains("</svg>"),
            "{}",
            &s.qr_svg[..80]
        );
    }

    #[test]
    fn required_for_covers_the_roles_it_says() {
        let r = |s| MfaRequiredFor::parse(s).unwrap();
        assert!(!r("none").applies(Role::Superuser));
        assert!(r("superuser").applies(Role::Superuser) && !r("superuser").applies(Role::Operator));
        assert!(r("operator").applies(Role::Operator) && !r("operator").applies(Role::User));
        assert!(r("all").applies(Role::Viewer));
        assert_eq!(MfaRequiredFor::parse("admins"), None);
    }
}
