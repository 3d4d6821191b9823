//! Scripts: Rust handlers that jobs of type `script` run by name, with a typed input (the
//! job's `meta`, deserialised and checked when the job is stored and again before each
//! attempt) and a typed output (stored as the job's result as JSON).
//!
//! This is how applications built on vcore add work: implement [`Script`] for a type and
//! register it once (`vcore_server::App::script`, or [`ScriptRegistry::register`]); REST,
//! server functions, schedulers, the CLI and the new-job form then know it by name, with its
//! description and input shape (a JSON Schema made by `utoipa::ToSchema`). A script must
//! honour `ctx.cancel` at its await points so that kill, timeout and shutdown can stop it.

mod backup_sqlite;
mod echo;
mod noop;
mod prune_jobs;
mod sleep;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::db::Db;

/// What a running script may use.
#[derive(Clone)]
pub struct ScriptCtx {
    pub job_id: i64,
    /// Whose job it is (`None`: the operator's CLI or an application's scheduler). A script
    /// that reads users' data limits itself to the owner's, unless the owner is a superuser
    /// or the script is superuser-only.
    pub owner_id: Option<i64>,
    pub db: Db,
    /// Fires on kill, timeout or shutdown.
    pub cancel: CancellationToken,
    /// Where command jobs' logs are (`job-<id>.log`).
    pub log_dir: std::path::PathBuf,
    /// Where backups go unless the input names a file.
    pub backup_dir: std::path::PathBuf,
}

/// A refused script input: the field (a path inside the input, such as `seconds` or
/// `items[2].name`; empty for the input as a whole) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub field: String,
    pub message: String,
}

impl InputError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> InputError {
        InputError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.field.is_empty() {
            true => write!(f, "input: {}", self.message),
            false => write!(f, "input.{}: {}", self.field, self.message),
        }
    }
}

/// A unit of work runnable by name, with a typed input and output.
///
/// ```text
/// #[derive(serde::Deserialize, utoipa::ToSchema)]
/// struct Input { seconds: f64 }
///
/// impl Script for Sleep {
///     const NAME: &'static str = "sleep";
///     const DESCRIPTION: &'static str = "Waits a number of seconds";
///     type Input = Input;
///     type Output = serde_json::Value;
///     fn check(&self, input: &Input) -> Result<(), InputError> { … }
///     async fn run(&self, ctx: &ScriptCtx, input: Input) -> anyhow::Result<serde_json::Value> { … }
/// }
/// ```
pub trait Script: Send + Sync + 'static {
    /// The name jobs use in their `command` field: lower case, digits and `_`.
    const NAME: &'static str;
    /// One line for listings and the new-job form.
    const DESCRIPTION: &'static str;
    /// Whether only superusers (and the operator's CLI and the application's own
    /// schedulers) may run it: true for anything that reaches beyond the job owner's own
    /// data. Checked when a job is stored and again before it runs.
    const SUPERUSER_ONLY: bool = false;
    /// The job's `meta` (an absent or `null` meta is read as `{}`). Its JSON Schema is what
    /// the new-job form and `GET /scripts/` show.
    type Input: DeserializeOwned + utoipa::ToSchema + Send + 'static;
    /// Stored as the job's result.
    type Output: Serialize + Send;
    /// Checks beyond the types (ranges, lengths), naming the field: when the job is stored
    /// (a 422 naming `meta.<field>`) and before each attempt.
    fn check(&self, _input: &Self::Input) -> Result<(), InputError> {
        Ok(())
    }
    /// Runs once per attempt. An `Err` fails the attempt (and retries, while attempts remain).
    fn run(
        &self,
        ctx: &ScriptCtx,
        input: Self::Input,
    ) -> impl Future<Output = anyhow::Result<Self::Output>> + Send;
}

/// What listings show of a registered script.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptInfo {
    pub name: &'static str,
    pub description: &'static str,
    pub superuser_only: bool,
    /// The input's JSON Schema (OpenAPI 3.1 flavour, as `utoipa` writes it).
    pub input_schema: serde_json::Value,
}

/// A registered script, its types erased: what the registry holds.
pub trait AnyScript: Send + Sync {
    fn info(&self) -> &ScriptInfo;
    /// Deserialises and checks `input` (the job's meta) without running anything.
    fn check(&self, input: &serde_json::Value) -> Result<(), InputError>;
    /// Deserialises, checks and runs; the output as JSON.
    fn run<'a>(
        &'a self,
        ctx: &'a ScriptCtx,
        input: serde_json::Value,
    ) -> BoxFuture<'a, anyhow::Result<serde_json::Value>>;
}

struct Typed<S: Script> {
    script: S,
    info: ScriptInfo,
}

impl<S: Script> Typed<S> {
    /// `input` (taken: an attempt owns its copy, so nothing is cloned on the run path)
    /// deserialised and checked.
    fn parse(&self, input: serde_json::Value) -> Result<S::Input, InputError> {
        let input = match input {
            serde_json::Value::Null => serde_json::Value::Object(Default::default()),
            other => other,
        };
        let parsed = parse_input::<S::Input>(input)?;
        self.script.check(&parsed)?;
        Ok(parsed)
    }
}

/// `input` as a `T`, or the field that is wrong (serde's path, and for a missing field the
/// field itself) and why.
pub fn parse_input<T: DeserializeOwned>(input: serde_json::Value) -> Result<T, InputError> {
    serde_path_to_error::deserialize(input).map_err(|e| {
        let mut field = match e.path().to_string() {
            p if p == "." => String::new(),
            p => p,
        };
        let message = e.inner().to_string();
        // serde names a missing field in the message, at its parent's path.
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            field = match field.is_empty() {
                true => name.to_string(),
                false => format!("{field}.{name}"),
            };
        }
        InputError::new(field, message)
    })
}

impl<S: Script> AnyScript for Typed<S> {
    fn info(&self) -> &ScriptInfo {
        &self.info
    }

    fn check(&self, input: &serde_json::Value) -> Result<(), InputError> {
        self.parse(input.clone()).map(|_| ())
    }

    fn run<'a>(
        &'a self,
        ctx: &'a ScriptCtx,
        input: serde_json::Value,
    ) -> BoxFuture<'a, anyhow::Result<serde_json::Value>> {
        Box::pin(async move {
            let input = self.parse(input).map_err(|e| anyhow::anyhow!("{e}"))?;
            let output = self.script.run(ctx, input).await?;
            Ok(serde_json::to_value(output)?)
        })
    }
}

/// Whether `name` may name a script: 1 to 64 characters, lower-case ASCII letters, digits
/// and `_`, starting with a letter.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The scripts this process knows: what stored jobs may name, and what its runner runs.
#[derive(Clone, Default)]
pub struct ScriptRegistry {
    scripts: BTreeMap<&'static str, Arc<dyn AnyScript>>,
}

impl ScriptRegistry {
    /// The built-in scripts.
    pub fn with_builtins() -> Self {
        let mut r = ScriptRegistry::default();
        r.register(noop::Noop);
        r.register(echo::Echo);
        r.register(sleep::Sleep);
        r.register(prune_jobs::PruneJobs);
        r.register(backup_sqlite::BackupSqlite);
        r
    }

    /// Adds a script under its name, replacing one of the same name.
    ///
    /// # Panics
    /// When `S::NAME` is not a valid name (see [`valid_name`]): a programming error, found
    /// the first time the application starts.
    pub fn register<S: Script>(&mut self, script: S) {
        assert!(
            valid_name(S::NAME),
            "script name {:?}: use 1-64 lower-case letters, digits and _, starting with a letter",
            S::NAME
        );
        let schema = <S::Input as utoipa::PartialSchema>::schema();
        let info = ScriptInfo {
            name: S::NAME,
            description: S::DESCRIPTION,
            superuser_only: S::SUPERUSER_ONLY,
            input_schema: serde_json::to_value(schema).unwrap_or_default(),
        };
        self.scripts.insert(S::NAME, Arc::new(Typed { script, info }));
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn AnyScript>> {
        self.scripts.get(name).cloned()
    }

    /// Every script, by name.
    pub fn list(&self) -> Vec<&ScriptInfo> {
        self.scripts.values().map(|s| s.info()).collect()
    }

    /// The names, by name.
    pub fn names(&self) -> Vec<&'static str> {
        self.scripts.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_registered_by_name() {
        let r = ScriptRegistry::with_builtins();
        assert_eq!(
            r.names(),
            ["backup_sqlite", "echo", "noop", "prune_jobs", "sleep"]
        );
        assert!(r.get("noop").is_some() && r.get("missing").is_none());
        let sleep = r.get("sleep").unwrap();
        assert_eq!(
            sleep.info().input_schema["required"],
            serde_json::json!(["seconds"])
        );
    }

    #[test]
    fn inputs_are_checked_with_the_field_named() {
        let r = ScriptRegistry::with_builtins();
        let sleep = r.get("sleep").unwrap();
        assert_eq!(sleep.check(&serde_json::json!({"seconds": 1})), Ok(()));
        let e = sleep.check(&serde_json::json!({})).unwrap_err();
        assert_eq!(e.field, "seconds");
        let e = sleep.check(&serde_json::json!({"seconds": "soon"})).unwrap_err();
        assert_eq!(e.field, "seconds");
        assert!(e.message.contains("invalid type"), "{}", e.message);
        let e = sleep.check(&serde_json::json!({"seconds": 1e9})).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.to_string().contains("86400")),
            ("seconds", true)
        );
        // No meta is an empty object: fine for a script whose fields are all optional.
        assert_eq!(
            r.get("prune_jobs").unwrap().check(&serde_json::Value::Null),
            Ok(())
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("notes_digest") && valid_name("a1"));
        for bad in ["", "Notes", "1a", "a-b", "a b", &"a".repeat(65)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
