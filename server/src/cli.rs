//! The command line of the `vcore` binary, and of every application built on vcore (with
//! its own name and parts, see [`crate::App`]). Every sub-command loads the configuration
//! first, so a bad variable stops it with one line naming the variable.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use vcore_domain::{Config, Services};

use crate::App;

#[derive(Parser)]
#[command(name = "vcore", version, about = "vcore: web app core with a REST API and job runner", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app and the REST API (the default). Applies migrations first.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a superuser account.
    CreateSuperuser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// The password; read from VCORE_PASSWORD when not given here.
        #[arg(long, env = "VCORE_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Run jobs only (no HTTP), until SIGINT/SIGTERM; then finish or hand back running jobs.
    Worker,
    /// Add a job to the queue.
    Enqueue(crate::jobs_cli::JobArgs),
    /// Inspect jobs.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// List the live nodes (serve and worker processes) sharing the database.
    Nodes,
    /// List the scripts jobs of type `script` can run.
    Scripts,
    /// Create, list and revoke API keys.
    ApiKey {
        #[command(subcommand)]
        command: crate::keys_cli::ApiKeyCommand,
    },
    /// Print the OpenAPI document of the REST API.
    Openapi,
    /// Measure the job engine on this machine (use a release build) and print a table.
    Bench(crate::bench::BenchArgs),
    /// Measure live updates: WebSocket viewers while the runner completes jobs (release build).
    BenchWs(crate::bench_ws::WsBenchArgs),
    /// Measure the job engine across worker processes on one PostgreSQL database (release build).
    BenchNodes(crate::bench_nodes::NodesBenchArgs),
}

#[derive(Subcommand)]
enum JobsCommand {
    /// List jobs, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long = "queue")]
        queue_name: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

/// Runs the command line of `app`; returns the process exit code.
pub async fn run(app: App) -> i32 {
    let name = app.name;
    let mut command = Cli::command().name(name).bin_name(name);
    if name != "vcore" {
        command = command.about(format!("{name}: an application built on vcore"));
    }
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: {e}");
            return 2;
        }
    };
    crate::telemetry::init(&config.log_level, config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config, app).await,
        Command::Migrate => migrate(config, &app).await,
        Command::CreateSuperuser {
            username,
            email,
            password,
        } => create_superuser(config, &app, username, email, password).await,
        Command::Worker => worker(config, &app).await,
        Command::Enqueue(job) => crate::jobs_cli::enqueue(config, &app.domain, job).await,
        Command::Jobs {
            command:
                JobsCommand::List {
                    status,
                    queue_name,
                    limit,
                },
        } => crate::jobs_cli::list(config, &app.domain, status, queue_name, limit).await,
        Command::Nodes => crate::jobs_cli::nodes(config, &app.domain).await,
        Command::ApiKey { command } => crate::keys_cli::run(config, &app.domain, command).await,
        Command::Scripts => {
            crate::jobs_cli::scripts(&app.domain);
            Ok(())
        }
        Command::Bench(args) => crate::bench::run(args).await,
        Command::BenchWs(args) => crate::bench_ws::run(args).await,
        Command::BenchNodes(args) => crate::bench_nodes::run(args).await,
        Command::Openapi => {
            let doc = app.openapi(&config.api_v1_prefix);
            println!("{}", doc.to_pretty_json().unwrap_or_default());
            Ok(())
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{name}: {e:#}");
            1
        }
    }
}

/// What the start-up line tells a person about signing in (printed on every start, the last
/// line `scripts/start.sh` shows).
struct SignIn {
    base_url: String,
    username: String,
    password_file: std::path::PathBuf,
    password_from_env: bool,
}

fn sign_in_line(s: &SignIn, created_now: bool) -> String {
    let who = if created_now {
        "Created the first superuser. Sign in"
    } else {
        "Sign in"
    };
    let password = if s.password_file.exists() {
        format!("the password in {}", s.password_file.display())
    } else if s.password_from_env {
        "the password from FIRST_SUPERUSER_PASSWORD".to_string()
    } else {
        "its password (vcore create-superuser makes another superuser)".to_string()
    };
    format!(
        "{who} at {}/login as superuser '{}' with {password}",
        s.base_url, s.username
    )
}

async fn serve(config: Config, app: App) -> anyhow::Result<()> {
    let name = app.name;
    let base_url = config.base_url.clone();
    let config_summary = SignIn {
        base_url: base_url.clone(),
        username: config.first_superuser_username.clone(),
        password_file: config.first_superuser_password_file(),
        password_from_env: config.first_superuser_password.is_some(),
    };
    tracing::info!(db = %vcore_domain::config::redact_url(&config.db_url), env = %config.env_name, "starting");
    // Before the runner starts: a SIGTERM from then on is a graceful stop.
    let stop = crate::startup::shutdown_signal();
    let app = app.build(config).await?;
    if !app.applied_migrations.is_empty() {
        tracing::info!(migrations = ?app.applied_migrations, "applied migrations");
    }
    println!("{name} is listening on {base_url} (port {})", app.port());
    println!("{}", sign_in_line(&config_summary, app.first_superuser.is_some()));
    app.run_until(stop).await
}

async fn worker(config: Config, app: &App) -> anyhow::Result<()> {
    let grace = std::time::Duration::from_secs(config.job_shutdown_grace_secs);
    let stop = crate::startup::shutdown_signal();
    let mut services = Services::open(config, app.domain.clone()).await?.with_runner();
    let runner = services.runner.clone().expect("with_runner starts one");
    services.announce_start("worker");
    let membership = services.join_cluster(vcore_domain::cluster::NodeKind::Worker);
    println!(
        "{} worker running queues: {}",
        app.name,
        runner.queue_names().join(", ")
    );
    stop.await;
    let handed_back = runner.shutdown(grace).await;
    membership.leave().await;
    println!("worker stopped; {handed_back} unfinished job(s) handed back to the queue");
    Ok(())
}

async fn migrate(config: Config, app: &App) -> anyhow::Result<()> {
    let applied = vcore_domain::db::Db::migrate(&config.db_url, &app.domain.migrations).await?;
    if applied.is_empty() {
        println!("database is up to date");
    } else {
        println!("applied {} migration(s): {}", applied.len(), applied.join(", "));
    }
    Ok(())
}

async fn create_superuser(
    config: Config,
    app: &App,
    username: String,
    email: String,
    password: String,
) -> anyhow::Result<()> {
    let svc = Services::open(config, app.domain.clone()).await?;
    let user = svc
        .create_user(
            None,
            vcore_domain::users::NewUser {
                username,
                email,
                password,
                full_name: None,
                is_active: true,
                is_superuser: true,
                role: None,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let detail = serde_json::json!({ "username": user.username, "role": user.role });
    svc.audit(
        &vcore_domain::audit::Who::command_line(),
        "user.create",
        Some(("user", user.id.to_string())),
        vcore_domain::audit::Outcome::Success,
        Some(detail),
    )
    .await;
    println!("created superuser '{}' (id {})", user.username, user.id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_line_says_where_the_password_is() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SignIn {
            base_url: "http://127.0.0.1:3000".into(),
            username: "admin".into(),
            password_file: dir.path().join("first-superuser-password.txt"),
            password_from_env: false,
        };
        let line = sign_in_line(&s, false);
        assert!(
            line.starts_with("Sign in at http://127.0.0.1:3000/login as superuser 'admin'"),
            "{line}"
        );
        assert!(line.contains("vcore create-superuser"), "{line}");
        s.password_from_env = true;
        assert!(sign_in_line(&s, false).ends_with("the password from FIRST_SUPERUSER_PASSWORD"));
        std::fs::write(&s.password_file, "x\n").unwrap();
        let line = sign_in_line(&s, true);
        assert!(line.starts_with("Created the first superuser. Sign in"), "{line}");
        assert!(
            line.ends_with(&format!("the password in {}", s.password_file.display())),
            "{line}"
        );
    }
}
