//! Who is acting, and what that allows: the [`Actor`] every service call is made as.
//!
//! An actor is a user (their [`Role`]) reached through a session (all the role allows) or
//! an API key (the role's rights narrowed to the key's [`Scope`]s: a key never exceeds its
//! owner). The services ask the actor, never `is_superuser` directly:
//!
//! | role | jobs and logs | schedulers | shell commands, privileged scripts | consumers, nodes | users, others' keys |
//! |---|---|---|---|---|---|
//! | superuser | all | all | yes | yes | yes |
//! | operator | all | all | yes | yes | no (own account only) |
//! | user | own | own | no | no | no (own account only) |
//! | viewer | read all | read all | no | read nodes | no (own account only) |

use crate::error::{DomainError, DomainResult};
use crate::sessions::ClientInfo;
use crate::users::User;

/// A user's role. Stored in `users.role`; `users.is_superuser` mirrors `Superuser`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Superuser,
    Operator,
    User,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Superuser, Role::Operator, Role::User, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Superuser => "superuser",
            Role::Operator => "operator",
            Role::User => "user",
            Role::Viewer => "viewer",
        }
    }

    /// A role by name; a 422 naming `field` that lists the roles otherwise.
    pub fn parse(field: &str, text: &str) -> DomainResult<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text).ok_or_else(|| {
            DomainError::invalid(
                field,
                format!("unknown role {text:?}; roles: superuser, operator, user, viewer"),
            )
        })
    }

    /// The stored text of a role; an unknown one (a database edited by hand) counts as the
    /// least privileged.
    pub fn from_stored(text: &str) -> Role {
        Role::parse("role", text).unwrap_or(Role::Viewer)
    }

    /// Sees every job, log, scheduler and node.
    pub fn reads_all(self) -> bool {
        !matches!(self, Role::User)
    }

    /// Changes every job and scheduler, runs shell commands and privileged scripts, starts
    /// and stops consumers.
    pub fn operates(self) -> bool {
        matches!(self, Role::Superuser | Role::Operator)
    }
}

/// What an API key may be used for. A session has every scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Read jobs, their logs and live events, schedulers, nodes.
    JobsRead,
    /// Enqueue, change, kill, retry, cancel and delete jobs.
    JobsWrite,
    /// Create, change, toggle and delete schedulers.
    Schedulers,
    /// Accounts (one's own, and everyone's for a superuser), consumers.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::JobsRead, Scope::JobsWrite, Scope::Schedulers, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::JobsRead => "jobs:read",
            Scope::JobsWrite => "jobs:write",
            Scope::Schedulers => "schedulers",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(field: &str, text: &str) -> DomainResult<Scope> {
        Scope::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                DomainError::invalid(
                    field,
                    format!("unknown scope {text:?}; scopes: jobs:read, jobs:write, schedulers, admin"),
                )
            })
    }
}

/// How the actor authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A signed-in session (browser cookie or bearer access token), or the server's own
    /// command line acting for a user.
    Session,
    /// An API key: its id, its visible prefix and its scopes.
    Key {
        id: i64,
        prefix: String,
        scopes: Vec<Scope>,
    },
}

/// A user acting through a session or a key, from somewhere (for the audit log).
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: User,
    pub via: Via,
    pub client: ClientInfo,
}

impl std::ops::Deref for Actor {
    type Target = User;
    fn deref(&self) -> &User {
        &self.user
    }
}

fn forbidden(message: impl Into<String>) -> DomainError {
    DomainError::Forbidden(message.into())
}

impl Actor {
    pub fn session(user: User) -> Actor {
        Actor {
            user,
            via: Via::Session,
            client: ClientInfo::default(),
        }
    }

    /// The same actor, acting from `client`.
    pub fn from(mut self, client: &ClientInfo) -> Actor {
        self.client = client.clone();
        self
    }

    pub fn role(&self) -> Role {
        Role::from_stored(&self.user.role)
    }

    pub fn key_id(&self) -> Option<i64> {
        match &self.via {
            Via::Key { id, .. } => Some(*id),
            Via::Session => None,
        }
    }

    /// Whether the credentials carry `scope` (a session carries every scope).
    pub fn has(&self, scope: Scope) -> bool {
        match &self.via {
            Via::Session => true,
            Via::Key { scopes, .. } => scopes.contains(&scope),
        }
    }

    /// 403 unless the credentials carry `scope`.
    pub fn need(&self, scope: Scope) -> DomainResult<()> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(forbidden(format!(
                "This API key lacks the scope {:?}",
                scope.as_str()
            )))
        }
    }

    /// 403 for an API key: signing out, passwords and keys need a signed-in session.
    pub fn need_session(&self) -> DomainResult<()> {
        match self.via {
            Via::Session => Ok(()),
            Via::Key { .. } => Err(forbidden("API keys cannot do this; sign in with a password")),
        }
    }

    /// A superuser acting with the `admin` scope: accounts of others, others' keys.
    pub fn is_admin(&self) -> bool {
        self.role() == Role::Superuser && self.has(Scope::Admin)
    }

    /// 403 unless [`Self::is_admin`].
    pub fn need_admin(&self) -> DomainResult<()> {
        self.need(Scope::Admin)?;
        if self.role() == Role::Superuser {
            Ok(())
        } else {
            Err(forbidden("The user doesn't have enough privileges"))
        }
    }

    /// Reads every job, log, scheduler and node (superuser, operator, viewer); otherwise
    /// only their own.
    pub fn reads_all(&self) -> bool {
        self.role().reads_all()
    }

    /// Changes every job and scheduler, runs shell commands (superuser, operator).
    pub fn operates(&self) -> bool {
        self.role().operates()
    }

    /// 403 for a viewer, who changes nothing.
    pub fn need_writer(&self) -> DomainResult<()> {
        if self.role() == Role::Viewer {
            Err(forbidden("Viewers can read but not change anything"))
        } else {
            Ok(())
        }
    }

    /// 403 unless the actor may read things owned by `owner` (`None`: the operator's).
    pub fn may_read(&self, owner: Option<i64>) -> bool {
        self.reads_all() || owner == Some(self.user.id)
    }

    /// Whether the actor may change things owned by `owner`.
    pub fn may_change(&self, owner: Option<i64>) -> bool {
        self.role() != Role::Viewer && (self.operates() || owner == Some(self.user.id))
    }

    /// The owner filter of a listing: `None` (everyone's) for those who read all.
    pub fn own_filter(&self) -> Option<i64> {
        (!self.reads_all()).then_some(self.user.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> User {
        let t = chrono::Utc::now().naive_utc();
        User {
            id: 7,
            username: "u".into(),
            email: "u@example.com".into(),
            full_name: None,
            hashed_password: String::new(),
            is_active: true,
            is_superuser: role == Role::Superuser,
            created_at: t,
            updated_at: t,
            role: role.as_str().into(),
        }
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for r in Role::ALL {
            assert_eq!(Role::parse("role", r.as_str()).unwrap(), r);
        }
        for s in Scope::ALL {
            assert_eq!(Scope::parse("scopes", s.as_str()).unwrap(), s);
        }
        assert!(
            matches!(Role::parse("role", "root"), Err(DomainError::Invalid { field, .. }) if field == "role")
        );
        assert!(Scope::parse("scopes", "jobs").is_err());
        assert_eq!(Role::from_stored("edited"), Role::Viewer);
    }

    #[test]
    fn each_role_reads_and_changes_what_the_table_says() {
        let mine = Some(7);
        let other = Some(8);
        let cases = [
            (Role::Superuser, true, true, true),
            (Role::Operator, true, true, true),
            (Role::User, false, false, true),
            (Role::Viewer, true, false, false),
        ];
        for (role, reads_others, changes_others, changes_own) in cases {
            let a = Actor::session(user(role));
            assert!(a.may_read(mine), "{role:?}");
            assert_eq!(a.may_read(other), reads_others, "{role:?}");
            assert_eq!(a.may_change(other), changes_others, "{role:?}");
            assert_eq!(a.may_change(mine), changes_own, "{role:?}");
            assert_eq!(a.is_admin(), role == Role::Superuser, "{role:?}");
        }
    }

    #[test]
    fn a_key_narrows_its_owner_to_its_scopes() {
        let key = |scopes: Vec<Scope>| Actor {
            user: user(Role::Superuser),
            via: Via::Key {
                id: 1,
                prefix: "vk_x".into(),
                scopes,
            },
            client: ClientInfo::default(),
        };
        let reader = key(vec![Scope::JobsRead]);
        assert!(reader.need(Scope::JobsRead).is_ok());
        assert!(reader.need(Scope::JobsWrite).is_err());
        assert!(!reader.is_admin());
        assert!(reader.need_admin().is_err());
        assert!(reader.need_session().is_err());
        assert!(key(vec![Scope::Admin]).is_admin());
        // The scope alone gives a regular user nothing more.
        let user_key = Actor {
            user: user(Role::User),
            via: Via::Key {
                id: 2,
                prefix: "vk_y".into(),
                scopes: Scope::ALL.to_vec(),
            },
            client: ClientInfo::default(),
        };
        assert!(!user_key.is_admin());
        assert!(!user_key.may_change(Some(8)));
    }
}
