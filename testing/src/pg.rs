//! A throwaway PostgreSQL for the tests: one cluster per test process, started on first use,
//! and one database (`t_<uuid>`) per test. It must never outlive the test process.
//!
//! Binaries: `$PG_BIN`, else the highest `/usr/lib/postgresql/<version>/bin` (Debian), else
//! `initdb` on `PATH`. None found: the PostgreSQL tests print a skip line and pass, unless
//! `VCORE_REQUIRE_POSTGRES=1` (CI), where that is a failure.
//!
//! The cluster lives under a temp dir, listens on 127.0.0.1 only (no Unix socket), at a
//! free port, with trust auth for user `postgres` and durability off (`fsync=off`…): a test
//! database is worth nothing after the run. PostgreSQL refuses to run as root, so as root
//! every `initdb`/`pg_ctl` runs through `runuser -u postgres --` on a dir chowned to it.
//!
//! Why no cluster leaks (statics are never dropped, so a `Drop` guard cannot do it):
//! 1. an `atexit` handler stops the cluster (`pg_ctl stop -m immediate`) and removes its dir
//!    when the process exits normally — libtest's `main` returns, or calls `process::exit`
//!    on failure; both run `atexit` handlers;
//! 2. a watchdog `sh` started with the cluster, in its own process group and deaf to
//!    SIGINT/SIGHUP/SIGTERM, polls the test process once a second and does the same cleanup
//!    once it is gone — this covers SIGKILL, aborts and Ctrl-C, which skip `atexit`.
//!
//! `pg_ctl` puts the postmaster in its own session, so it would otherwise survive us.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

/// A running cluster.
pub struct Cluster {
    pub port: u16,
}

impl Cluster {
    /// The URL of database `db` as the superuser `postgres`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

/// What the exit paths need to stop and remove the cluster.
struct Cleanup {
    bin: PathBuf,
    root: PathBuf,
    as_postgres_user: bool,
}

static BIN_DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static CLEANUP: OnceLock<Cleanup> = OnceLock::new();

/// The directory holding `initdb` and `pg_ctl`, if PostgreSQL is installed.
pub fn bin_dir() -> Option<&'static Path> {
    BIN_DIR.get_or_init(find_bin_dir).as_deref()
}

/// True when PostgreSQL tests can run. Otherwise prints the skip line for `test` (straight
/// to stderr, past libtest's capture, so it shows in a normal run) and returns false — or
/// panics when `VCORE_REQUIRE_POSTGRES=1`.
pub fn available_or_skip(test: &str) -> bool {
    if bin_dir().is_some() {
        return true;
    }
    if std::env::var("VCORE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        panic!(
            "{test}: PostgreSQL binaries not found (looked in $PG_BIN, /usr/lib/postgresql/*/bin \
             and PATH) and VCORE_REQUIRE_POSTGRES=1"
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "{test}: skipped: PostgreSQL binaries not found (set PG_BIN to the directory holding initdb and pg_ctl)"
    );
    false
}

fn has_tools(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        let dir = PathBuf::from(dir);
        if has_tools(&dir) {
            return Some(dir);
        }
    }
    // Debian/Ubuntu: /usr/lib/postgresql/<version>/bin; take the highest version.
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    let key: Vec<u32> = name.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
                    let bin = e.path().join("bin");
                    has_tools(&bin).then_some((key, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    // Anything else (Homebrew, Nix, a source build): whatever `initdb` is on PATH.
    std::env::var_os("PATH").and_then(|path| std::env::split_paths(&path).find(|dir| has_tools(dir)))
}

/// The cluster of this test process, started on first call. Blocks while starting (about a
/// second); call it from `spawn_blocking`. Panics with PostgreSQL's log if it cannot start.
pub fn cluster() -> &'static Cluster {
    let started = CLUSTER.get_or_init(|| {
        let bin = bin_dir().ok_or_else(|| "PostgreSQL binaries not found".to_string())?;
        start(bin)
    });
    match started {
        Ok(c) => c,
        Err(e) => panic!("could not start the test PostgreSQL cluster: {e}"),
    }
}

/// Creates an empty database for one test and returns its URL.
pub async fn create_database() -> String {
    let cluster = tokio::task::spawn_blocking(cluster)
        .await
        .expect("starting the PostgreSQL cluster panicked");
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = AsyncPgConnection::establish(&cluster.url("postgres"))
        .await
        .expect("connecting to the test cluster's `postgres` database");
    conn.batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    cluster.url(&name)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn runuser() -> PathBuf {
    ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("runuser"))
}

/// `bin/<tool>`, as user `postgres` when we are root.
fn tool(cleanup: &Cleanup, name: &str) -> Command {
    let exe = cleanup.bin.join(name);
    let mut cmd = if cleanup.as_postgres_user {
        let mut c = Command::new(runuser());
        c.arg("-u").arg("postgres").arg("--").arg(exe);
        c
    } else {
        Command::new(exe)
    };
    // A working directory the `postgres` user can enter (initdb warns otherwise).
    cmd.current_dir(&cleanup.root).stdin(Stdio::null());
    cmd
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

fn new_cleanup(bin: &Path) -> Result<Cleanup, String> {
    let root = std::env::temp_dir().join(format!(
        "vcore-pg-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    std::fs::create_dir_all(&root).map_err(|e| format!("creating {}: {e}", root.display()))?;
    Ok(Cleanup {
        bin: bin.to_path_buf(),
        root,
        as_postgres_user: running_as_root(),
    })
}

fn start(bin: &Path) -> Result<Cluster, String> {
    let cleanup = new_cleanup(bin)?;
    let cleanup = CLEANUP.get_or_init(|| cleanup);
    // From here on, every way out of the process removes `root`.
    register_atexit();
    spawn_watchdog(cleanup);
    start_in(cleanup)
}

/// A cluster of one test's own, for a test that restarts PostgreSQL under load. Stopped
/// and removed when dropped (and by its watchdog if the test process dies).
pub struct OwnCluster {
    cleanup: Cleanup,
    pub port: u16,
}

impl OwnCluster {
    /// Starts one (blocking: call it from `spawn_blocking`); panics with the log if it cannot.
    pub fn start() -> OwnCluster {
        let bin = bin_dir().expect("PostgreSQL binaries");
        let cleanup = new_cleanup(bin).expect("a directory for the cluster");
        spawn_watchdog(&cleanup);
        let cluster = start_in(&cleanup).unwrap_or_else(|e| panic!("starting a PostgreSQL cluster: {e}"));
        OwnCluster {
            cleanup,
            port: cluster.port,
        }
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` and returns its URL.
    pub async fn create_database(&self, name: &str) -> String {
        let mut conn = AsyncPgConnection::establish(&self.url("postgres"))
            .await
            .expect("connecting to the cluster");
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        self.url(name)
    }

    /// `pg_ctl restart -m fast`: every connection is cut, the server is back when it returns.
    pub fn restart(&self) {
        let data = self.cleanup.root.join("data");
        let log = self.cleanup.root.join("postgres.log");
        let status = tool(&self.cleanup, "pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-m", "fast", "-w", "-t", "60", "-o"])
            .arg(format!("-p {}", self.port))
            .arg("restart")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("running pg_ctl restart");
        assert!(
            status.success(),
            "pg_ctl restart failed: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        stop_and_remove(&self.cleanup);
    }
}

/// Initialises and starts a cluster in `cleanup.root`.
fn start_in(cleanup: &Cleanup) -> Result<Cluster, String> {
    let as_postgres_user = cleanup.as_postgres_user;
    let root = cleanup.root.clone();

    if as_postgres_user {
        let ok = Command::new("id")
            .args(["-u", "postgres"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !ok.is_ok_and(|s| s.success()) {
            return Err(
                "running as root, and there is no `postgres` OS user to run PostgreSQL as \
                        (PostgreSQL refuses to run as root)"
                    .into(),
            );
        }
        let out = Command::new("chown")
            .arg("-R")
            .arg("postgres")
            .arg(&root)
            .output()
            .map_err(|e| format!("chown: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "chown -R postgres {}: {}",
                root.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }

    let data = root.join("data");
    let out = tool(cleanup, "initdb")
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "-N"])
        .output()
        .map_err(|e| format!("running initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }

    // Appending keeps the file's owner (`postgres`) even when we write as root.
    let settings = "\n# vcore tests: throwaway data, TCP on loopback only.\n\
                    listen_addresses = '127.0.0.1'\n\
                    unix_socket_directories = ''\n\
                    max_connections = 200\n\
                    fsync = off\n\
                    synchronous_commit = off\n\
                    full_page_writes = off\n";
    std::fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .and_then(|mut f| f.write_all(settings.as_bytes()))
        .map_err(|e| format!("writing postgresql.conf: {e}"))?;

    // The port is free when we look, but another process may take it before PostgreSQL
    // binds it; try a few.
    let log = root.join("postgres.log");
    let mut last_error = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        // Output to /dev/null: the postmaster keeps inherited pipes open, which would make
        // a captured `output()` wait forever. Its own messages go to `log`.
        let status = tool(cleanup, "pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {port}"))
            .arg("start")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("running pg_ctl: {e}"))?;
        if status.success() {
            return Ok(Cluster { port });
        }
        last_error = std::fs::read_to_string(&log).unwrap_or_else(|e| format!("(no log: {e})"));
    }
    Err(format!(
        "pg_ctl start failed three times; server log:\n{last_error}"
    ))
}

/// Stops the cluster and removes its directory. Safe to call more than once.
fn stop_and_remove(cleanup: &Cleanup) {
    let data = cleanup.root.join("data");
    if data.join("postmaster.pid").exists() {
        let _ = tool(cleanup, "pg_ctl")
            .arg("-D")
            .arg(data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = std::fs::remove_dir_all(&cleanup.root);
}

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

extern "C" fn stop_at_exit() {
    if let Some(cleanup) = CLEANUP.get() {
        stop_and_remove(cleanup);
    }
}

fn register_atexit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `atexit` only stores the pointer; `stop_at_exit` is a plain function that
        // reads a `OnceLock` and runs commands, valid to call while the process exits.
        let rc = unsafe { atexit(stop_at_exit) };
        assert_eq!(rc, 0, "atexit registration failed");
    });
}

/// Quotes `s` for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Starts the `sh` loop that cleans up once this process is gone, however it ended.
// The watchdog must outlive us, so it is deliberately never waited for.
#[allow(clippy::zombie_processes)]
fn spawn_watchdog(cleanup: &Cleanup) {
    let root = cleanup.root.to_string_lossy().to_string();
    let data = cleanup.root.join("data").to_string_lossy().to_string();
    let pg_ctl = cleanup.bin.join("pg_ctl").to_string_lossy().to_string();
    let as_user = if cleanup.as_postgres_user {
        format!("{} -u postgres -- ", sh_quote(&runuser().to_string_lossy()))
    } else {
        String::new()
    };
    let script = format!(
        "trap '' INT HUP TERM\n\
         while kill -0 {pid} 2>/dev/null; do sleep 1; done\n\
         if [ -d {root} ]; then\n\
           if [ -f {data}/postmaster.pid ]; then\n\
             cd {root} && {as_user}{pg_ctl} -D {data} -m immediate -w stop\n\
           fi\n\
           cd / && rm -rf {root}\n\
         fi\n",
        pid = std::process::id(),
        root = sh_quote(&root),
        data = sh_quote(&data),
        pg_ctl = sh_quote(&pg_ctl),
    );
    let spawned = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a Ctrl-C aimed at `cargo test` does not reach it.
        .process_group(0)
        .spawn();
    if let Err(e) = spawned {
        // The atexit handler still covers normal exits; say that the abnormal ones are not.
        let _ = writeln!(
            std::io::stderr(),
            "warning: could not start the PostgreSQL cleanup watchdog: {e}"
        );
    }
}
