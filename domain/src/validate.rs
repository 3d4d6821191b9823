//! Parsed input types: once a value is one of these, it is valid. Each `parse` names the
//! field in its error so adapters can answer 422 with the field.

use crate::error::DomainError;

/// A login name: 3–64 characters from `a-z 0-9 _ . -`, stored lower-case so that
/// "Admin" and "admin" cannot be two accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(field: &str, raw: &str) -> Result<Self, DomainError> {
        let v = raw.trim().to_lowercase();
        if v.is_empty() {
            return Err(DomainError::invalid(field, "must not be empty"));
        }
        if v.chars().count() < 3 {
            return Err(DomainError::invalid(field, "must be at least 3 characters"));
        }
        if v.chars().count() > 64 {
            return Err(DomainError::invalid(field, "must be at most 64 characters"));
        }
        if !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(DomainError::invalid(
                field,
                "may contain only letters, digits, '_', '.' and '-'",
            ));
        }
        Ok(Username(v))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An e-mail address, lower-cased. The check is deliberately simple (one `@`, a dotted
/// domain, no spaces): the only real test of an address is sending mail to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, DomainError> {
        let v = raw.trim().to_lowercase();
        if v.is_empty() {
            return Err(DomainError::invalid(field, "must not be empty"));
        }
        if v.len() > 254 {
            return Err(DomainError::invalid(field, "must be at most 254 characters"));
        }
        let bad = || DomainError::invalid(field, "is not a valid email address");
        let (local, domain) = v.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.len() > 64
            || domain.contains('@')
            || v.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
        {
            return Err(bad());
        }
        Ok(Email(v))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A new password: 8–128 characters, not all whitespace. Length is what matters; we do not
/// impose composition rules (NIST SP 800-63B).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 128;
    pub fn parse(field: &str, raw: &str) -> Result<Self, DomainError> {
        let n = raw.chars().count();
        if raw.trim().is_empty() {
            return Err(DomainError::invalid(field, "must not be empty"));
        }
        if n < Self::MIN {
            return Err(DomainError::invalid(
                field,
                format!("must be at least {} characters", Self::MIN),
            ));
        }
        if n > Self::MAX {
            return Err(DomainError::invalid(
                field,
                format!("must be at most {} characters", Self::MAX),
            ));
        }
        Ok(Password(raw.to_string()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// An optional display name: trimmed, at most 128 characters; empty means none.
pub fn full_name(field: &str, raw: Option<&str>) -> Result<Option<String>, DomainError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > 128 => {
            Err(DomainError::invalid(field, "must be at most 128 characters"))
        }
        Some(v) if v.chars().any(char::is_control) => {
            Err(DomainError::invalid(field, "must not contain control characters"))
        }
        Some(v) => Ok(Some(v.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: DomainError) -> String {
        match e {
            DomainError::Invalid { field, .. } => field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(Username::parse("u", " Alice ").unwrap().as_str(), "alice");
        assert_eq!(field_of(Username::parse("username", "").unwrap_err()), "username");
        assert!(Username::parse("u", "ab").is_err());
        assert!(Username::parse("u", "has space").is_err());
        assert!(Username::parse("u", &"x".repeat(65)).is_err());
        assert!(Username::parse("u", "ok.name-1_2").is_ok());
    }

    #[test]
    fn emails_are_checked() {
        assert_eq!(
            Email::parse("e", "A@Example.COM").unwrap().as_str(),
            "a@example.com"
        );
        for bad in [
            "", "a", "a@", "@b.c", "a@b", "a@@b.c", "a b@c.d", "a@-b.c", "a@b..c",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn passwords_have_length_bounds() {
        assert!(Password::parse("p", "short").is_err());
        assert!(Password::parse("p", "        ").is_err());
        assert!(Password::parse("p", "long enough").is_ok());
        assert!(Password::parse("p", &"x".repeat(129)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("p", "secret123").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn full_names_are_optional_and_bounded() {
        assert_eq!(full_name("f", Some("  ")).unwrap(), None);
        assert_eq!(full_name("f", Some(" Ann ")).unwrap().as_deref(), Some("Ann"));
        assert!(full_name("f", Some(&"x".repeat(129))).is_err());
    }
}
