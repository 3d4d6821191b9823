//! Accounts and sign-in: users, tokens, passwords, and the generic message and paging.

use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
use utoipa::{IntoParams, ToSchema};

/// A user's role (see docs/security.md): `superuser` may do anything; `operator` sees and
/// manages every job and scheduler and runs shell commands, but manages no other account;
/// `user` runs and manages their own jobs; `viewer` reads every job, log and scheduler and
/// changes nothing. `is_superuser` is the same as `role == superuser`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub enum UserRole {
    Superuser,
    Operator,
    #[default]
    User,
    Viewer,
}

impl UserRole {
    pub const ALL: [UserRole; 4] = [
        UserRole::Superuser,
        UserRole::Operator,
        UserRole::User,
        UserRole::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Superuser => "superuser",
            UserRole::Operator => "operator",
            UserRole::User => "user",
            UserRole::Viewer => "viewer",
        }
    }

    /// A stored role's name; an unknown one reads as the least privileged.
    pub fn from_name(name: &str) -> UserRole {
        UserRole::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .unwrap_or(UserRole::Viewer)
    }

    /// Sees every job, log and scheduler.
    pub fn reads_all(self) -> bool {
        self != UserRole::User
    }

    /// Manages every job and scheduler and runs shell commands.
    pub fn operates(self) -> bool {
        matches!(self, UserRole::Superuser | UserRole::Operator)
    }
}

/// A user as clients see it (never the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UserPublic {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub is_active: bool,
    pub is_superuser: bool,
    pub role: UserRole,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

/// A page of users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UsersPage {
    pub data: Vec<UserPublic>,
    pub count: i64,
}

/// `POST /users/` (superuser).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UserCreate {
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::username))]
    pub username: String,
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::email))]
    pub email: String,
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::password))]
    pub password: String,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::full_name_or_null))]
    pub full_name: Option<String>,
    #[serde(default = "yes")]
    pub is_active: bool,
    #[serde(default)]
    pub is_superuser: bool,
    /// Defaults to `superuser` when `is_superuser` is true, else `user`.
    #[serde(default)]
    pub role: Option<UserRole>,
}

fn yes() -> bool {
    true
}

/// `POST /register` (when open registration is on).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UserRegister {
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::username))]
    pub username: String,
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::email))]
    pub email: String,
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::password))]
    pub password: String,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::full_name_or_null))]
    pub full_name: Option<String>,
}

/// `PUT /users/{id}`: every field optional; privileges only by a superuser.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UserUpdate {
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::username_or_null))]
    pub username: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::email_or_null))]
    pub email: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::password_or_null))]
    pub password: Option<String>,
    /// An empty string clears the name.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::full_name_or_null))]
    pub full_name: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    pub is_superuser: Option<bool>,
    /// Must agree with `is_superuser` when both are given.
    #[serde(default)]
    pub role: Option<UserRole>,
}

/// `PUT /users/me`: one's own profile (no privileges, no password: see [`PasswordChange`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UserUpdateMe {
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::username_or_null))]
    pub username: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::email_or_null))]
    pub email: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::full_name_or_null))]
    pub full_name: Option<String>,
}

/// `POST /users/me/password`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PasswordChange {
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::given))]
    pub current_password: String,
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::password))]
    pub new_password: String,
}

/// Answer of `POST /login/access-token` and `/login/refresh-token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Token {
    pub access_token: String,
    pub refresh_token: String,
    /// Always "bearer".
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Only on the sign-in that turned two-factor sign-in on (a role that requires it): the
    /// recovery codes, shown this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

/// `POST /login/refresh-token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RefreshRequest {
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::given))]
    pub refresh_token: String,
}

/// Body of `POST /reset-password`: the token from the recovery email and the new password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NewPassword {
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::given))]
    pub token: String,
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::password))]
    pub new_password: String,
}

/// OAuth2 password form of `POST /login/access-token` (`application/x-www-form-urlencoded`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct LoginForm {
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::given))]
    pub username: String,
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::given))]
    pub password: String,
    #[serde(default)]
    pub grant_type: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The second factor, for a user who has it: the authenticator app's 6-digit code, or
    /// a recovery code. Without it such a sign-in answers 401 "Two-factor code required".
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::mfa_code_or_null))]
    pub mfa_code: Option<String>,
}

/// A plain message answer, e.g. `{"message": "User deleted"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Message {
    pub message: String,
}

/// `?offset=&limit=` of list endpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(IntoParams), into_params(parameter_in = Query))]
pub struct PageQuery {
    /// Rows to skip (default 0).
    #[cfg_attr(feature = "ssr", param(minimum = 0))]
    pub offset: Option<i64>,
    /// Rows to return, 1–1000 (default 100).
    #[cfg_attr(feature = "ssr", param(minimum = 1, maximum = 1000))]
    pub limit: Option<i64>,
}

/// The messages of the 401s of a sign-in that needs its second factor (the same as
/// `vcore_domain::mfa`'s; a test holds them equal).
pub const MFA_REQUIRED: &str = "Two-factor code required";
pub const MFA_INVALID: &str = "Invalid or already used two-factor code";
pub const MFA_ENROL: &str = "Two-factor sign-in is required for your account: set it up to continue";

/// `GET /users/me/mfa`: the caller's second factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MfaStatusPublic {
    pub enabled: bool,
    /// Unspent recovery codes (0 when off).
    pub recovery_codes_left: i64,
    /// Whether `MFA_REQUIRED_FOR` covers the caller's role.
    pub required: bool,
}

/// A second factor being set up: type `secret` into an authenticator app, or scan the QR
/// code of `otpauth_uri`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MfaSetupPublic {
    /// Base32 (RFC 4648, no padding); TOTP with SHA-1, 6 digits, 30 s.
    pub secret: String,
    pub otpauth_uri: String,
    /// The address as a QR code: an `<svg>` element.
    pub qr_svg: String,
}

/// `POST /users/me/mfa/enable` and `/disable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MfaCode {
    /// A 6-digit code of the app (to disable: or a recovery code).
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::mfa_code))]
    pub code: String,
}

/// Recovery codes, shown once: each signs in once in place of a code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// The password form of `POST /login/mfa-setup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MfaSignInSetup {
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::given))]
    pub username: String,
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::given))]
    pub password: String,
}

/// What the web app's sign-in answers: the user, and the recovery codes when this sign-in
/// turned two-factor sign-in on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedIn {
    pub user: UserPublic,
    pub recovery_codes: Vec<String>,
}
