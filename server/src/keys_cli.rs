//! `vcore api-key create|list|revoke`: API keys from the server's command line, for the
//! person who runs the server (no sign-in: they hold the database already).

use clap::Subcommand;
use vcore_domain::api_keys::{ApiKey, NewApiKey};
use vcore_domain::{Config, Extensions, Services};

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key for a user and print it (it is shown this once).
    Create {
        /// Whose key: a username or email.
        #[arg(long)]
        user: String,
        /// What the key is for (1–100 characters).
        #[arg(long)]
        name: String,
        /// Scopes, repeated or comma-separated: jobs:read, jobs:write, schedulers, admin.
        #[arg(long = "scope", value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Days until it expires (1–3650); never when left out.
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// List keys (newest first), every user's or one user's.
    List {
        /// Only this user's keys (a username or email).
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a key at once, by id or prefix (`vk_…`, as `list` shows it).
    Revoke { key: String },
}

fn err(e: vcore_domain::DomainError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

pub async fn run(config: Config, ext: &Extensions, command: ApiKeyCommand) -> anyhow::Result<()> {
    let svc = Services::open(config, ext.clone()).await?;
    match command {
        ApiKeyCommand::Create {
            user,
            name,
            scopes,
            expires_in_days,
        } => {
            let input = NewApiKey {
                name,
                scopes,
                expires_in_days,
                user_id: None,
            };
            let (key, secret) = svc.create_api_key_as_operator(&user, input).await.map_err(err)?;
            eprintln!(
                "created API key {} (id {}) for user {user}; it is shown only now:",
                key.prefix, key.id
            );
            println!("{secret}");
        }
        ApiKeyCommand::List { user } => {
            let owner = match user {
                Some(u) => Some(
                    svc.find_user_by_login(&u)
                        .await
                        .map_err(err)?
                        .ok_or_else(|| anyhow::anyhow!("no user named {u:?}"))?
                        .id,
                ),
                None => None,
            };
            let keys = svc.load_api_keys(owner).await.map_err(err)?;
            println!(
                "{:>5}  {:<15}  {:>5}  {:<24}  {:<40}  {:<10}  LAST USED",
                "ID", "PREFIX", "USER", "NAME", "SCOPES", "STATE"
            );
            for k in &keys {
                println!("{}", line(k));
            }
        }
        ApiKeyCommand::Revoke { key } => {
            let k = svc.revoke_api_key_as_operator(&key).await.map_err(err)?;
            println!("revoked API key {} (id {})", k.prefix, k.id);
        }
    }
    Ok(())
}

fn line(k: &ApiKey) -> String {
    let now = chrono::Utc::now().naive_utc();
    let state = if k.revoked_at.is_some() {
        "revoked"
    } else if k.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    };
    let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
    let name: String = k.name.chars().take(24).collect();
    let used = k
        .last_used_at
        .map(|t| {
            format!(
                "{} from {}",
                t.format("%Y-%m-%d %H:%M:%S"),
                k.last_used_ip.as_deref().unwrap_or("?")
            )
        })
        .unwrap_or_else(|| "never".into());
    format!(
        "{:>5}  {:<15}  {:>5}  {:<24}  {:<40}  {:<10}  {used}",
        k.id,
        k.prefix,
        k.user_id,
        name,
        scopes.join(","),
        state
    )
}
