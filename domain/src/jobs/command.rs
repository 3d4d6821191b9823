//! Runs one `command` job's shell command as a child process: its own process group, its
//! output captured line by line into the job's log file and broadcast to live viewers, and
//! a stop (kill request, shutdown, timeout) that takes down everything the command started.
//! It must not touch the database or decide what a job's status becomes: it reports how the
//! process ended ([`Ended`]) and the worker records that.

mod output;

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use output::{read_lines, Sink};

/// What to run, parsed from a job's `command` and `meta` ({"env": {"K": "V", ...}, "cwd": "/path"}).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSpec {
    pub command: String,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
}

impl CommandSpec {
    /// Err(message naming the meta field) when `meta.env` is not an object of strings, or `meta.cwd` is not a string.
    pub fn from_job(command: &str, meta: &Value) -> Result<CommandSpec, String> {
        let empty = serde_json::Map::new();
        let meta = match meta {
            Value::Object(m) => m,
            Value::Null => &empty,
            _ => return Err("meta must be a JSON object".into()),
        };
        let env = match meta.get("env") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(vars)) => vars
                .iter()
                .map(|(k, v)| {
                    let Value::String(v) = v else {
                        return Err(format!("meta.env.{k} must be a string"));
                    };
                    // Checked here rather than left to spawn, whose error would not say which variable.
                    if k.is_empty() || k.contains(['=', '\0']) {
                        return Err(format!("meta.env: {k:?} is not a valid variable name"));
                    }
                    if v.contains('\0') {
                        return Err(format!("meta.env.{k} must not contain NUL"));
                    }
                    Ok((k.clone(), v.clone()))
                })
                .collect::<Result<Vec<_>, String>>()?,
            Some(_) => return Err("meta.env must be an object of string values".into()),
        };
        let cwd = match meta.get("cwd") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() && !s.contains('\0') => Some(PathBuf::from(s)),
            Some(_) => return Err("meta.cwd must be a non-empty path string".into()),
        };
        Ok(CommandSpec {
            command: command.to_string(),
            env,
            cwd,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of output, as broadcast to live viewers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogLine {
    pub job_id: i64,
    pub stream: Stream,
    pub line: String,
    /// Where this line ends in the job's log file (the file's length once it is written),
    /// so a reader of the file can tell which live lines it already has. None when the
    /// line is not in the file (the log was truncated, or could not be written).
    pub end: Option<u64>,
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Exited by itself with this code.
    Exited(i32),
    /// Killed by a signal it did not expect (number).
    Signalled(i32),
    /// Stopped because `cancel` fired (a kill request or shutdown).
    Cancelled,
    /// Stopped because `timeout` elapsed.
    TimedOut,
}

/// Where output goes.
pub struct Output {
    pub job_id: i64,
    /// The job's log file; created (with parent dirs) or appended to. Stdout lines are
    /// written as they are, stderr lines prefixed with "[stderr] ".
    pub log_path: PathBuf,
    /// Stop writing to the file after this many bytes of this run's output (write one final
    /// line "[log truncated at N bytes]"); broadcasting continues.
    pub max_log_bytes: u64,
    /// Live viewers; a send error (no receivers) is ignored.
    pub lines: broadcast::Sender<LogLine>,
    /// On PostgreSQL: the output goes to the database instead of `log_path` (see
    /// [`super::logs`]), and offsets continue where earlier attempts' output ended there.
    pub ship: Option<super::logs::ShipTo>,
}

/// How long a stopped job's process group has between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// Lines queued between the pipe readers and the log writer; when full, the readers stop
/// reading and the command blocks on its pipe instead of us buffering without bound.
const LINE_QUEUE: usize = 256;
/// How long to wait for the pipes to close once the whole group is dead. Only a process
/// that left the group (`setsid`) can keep them open; we give up on it rather than hang.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
const GROUP_POLL: Duration = Duration::from_millis(20);

/// Runs the command (`sh -c <command>`, or the program directly when the shell would add
/// nothing: see [`plain_argv`]) in its own process group (so that killing the group takes
/// down grandchildren too), with `spec.env` added to the inherited environment and `spec.cwd`
/// as working directory, stdin from /dev/null, stdout and stderr read line by line
/// concurrently, each line written to the log file and broadcast. On `cancel` or timeout:
/// SIGTERM to the whole group, then SIGKILL to the group after `KILL_GRACE` if anything is
/// still alive; returns only after the child has been reaped and both output streams are
/// drained. Never leaves a process behind. Non-UTF-8 output is converted lossily; very long
/// lines are cut at 64 KiB.
///
/// A stop we asked for is reported as `Cancelled`/`TimedOut` however the process then
/// ended, even if it caught SIGTERM and exited 0: it did not finish its work. If `cancel`
/// has already fired, nothing is started. The log file is created at the first line (none
/// for a silent command). Err only when the shell cannot be started; a log file that cannot
/// be opened or written is logged and dropped, because the job's outcome matters more than
/// its log.
pub async fn run(
    spec: &CommandSpec,
    out: Output,
    cancel: CancellationToken,
    timeout: Option<Duration>,
) -> io::Result<Ended> {
    if cancel.is_cancelled() {
        return Ok(Ended::Cancelled);
    }
    let mut sink = Sink::new(out);
    let mut child = spawn(spec)?;
    // process_group(0) makes the child the leader of a new group, so its pid names the group.
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| io::Error::other("spawned shell has no pid"))?;
    let mut guard = GroupGuard(Some(pgid));

    let (tx, mut rx) = mpsc::channel(LINE_QUEUE);
    let mut readers = JoinSet::new();
    if let Some(pipe) = child.stdout.take() {
        readers.spawn(read_lines(pipe, Stream::Stdout, tx.clone()));
    }
    if let Some(pipe) = child.stderr.take() {
        readers.spawn(read_lines(pipe, Stream::Stderr, tx.clone()));
    }
    drop(tx); // rx ends once both readers have.

    let supervision = supervise(&mut child, pgid, &cancel, timeout);
    tokio::pin!(supervision);
    let (status, stopped) = loop {
        tokio::select! {
            result = &mut supervision => break result?,
            Some((stream, line)) = rx.recv() => {
                let idle = rx.is_empty();
                sink.emit(stream, line, idle).await;
            }
        }
    };
    // Reaped and the group killed: the pid may be reused from here on, so never signal it again.
    guard.0 = None;

    let drained = tokio::time::timeout(DRAIN_LIMIT, async {
        while let Some((stream, line)) = rx.recv().await {
            let idle = rx.is_empty();
            sink.emit(stream, line, idle).await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            job_id = sink.job_id,
            "output pipes still open after the job's process group died; closing them"
        );
        readers.abort_all();
        while readers.join_next().await.is_some() {}
        while let Ok((stream, line)) = rx.try_recv() {
            sink.emit(stream, line, false).await;
        }
    }
    sink.finish().await;

    Ok(match stopped {
        Some(reason) => reason,
        None => match (status.code(), status.signal()) {
            (Some(code), _) => Ended::Exited(code),
            (None, Some(signal)) => Ended::Signalled(signal),
            // wait() only reports terminated processes, which have one or the other.
            (None, None) => Ended::Exited(-1),
        },
    })
}

fn spawn(spec: &CommandSpec) -> io::Result<Child> {
    if let Some(argv) = plain_argv(&spec.command) {
        // Not found: the shell below says so the way users expect ("not found", exit 127).
        if let Some(program) = find_program(argv[0], spec) {
            return start(spec, &program, &argv[1..]).map_err(|e| match &spec.cwd {
                Some(dir) => io::Error::new(
                    e.kind(),
                    format!("cannot start {} in {}: {e}", argv[0], dir.display()),
                ),
                None => io::Error::new(e.kind(), format!("cannot start {}: {e}", argv[0])),
            });
        }
    }
    // Spawn's own error ("No such file or directory") would not say whether sh or cwd is missing.
    start(spec, Path::new("sh"), &["-c", &spec.command]).map_err(|e| match &spec.cwd {
        Some(dir) => io::Error::new(e.kind(), format!("cannot start sh in {}: {e}", dir.display())),
        None => io::Error::new(e.kind(), format!("cannot start sh: {e}")),
    })
}

/// Starts `program args` with the job's environment, directory and pipes, in a new process
/// group, and tied to vcore's life.
///
/// If vcore dies (SIGKILL, OOM, a crash), the command gets SIGKILL instead of running on
/// unsupervised beside the copy that the rescued job starts: at-least-once, never twice at
/// the same time. That is Linux's parent-death signal, which must be set in the child.
/// Setting it from a pre-exec hook would make the standard library fork our whole
/// (multi-threaded, tens of MB) process instead of using posix_spawn, which cost half the
/// command rate; so when util-linux's `setpriv` is there (it is on every mainstream
/// distribution) the child execs `setpriv --pdeathsig KILL -- program args`, which sets it
/// and execs the program in place (same pid, same group). Without `setpriv`: the hook.
fn start(spec: &CommandSpec, program: &Path, args: &[&str]) -> io::Result<Child> {
    let mut cmd = match pdeathsig_wrapper() {
        Some(setpriv) => {
            let mut c = Command::new(setpriv);
            c.args(["--pdeathsig", "KILL", "--"]).arg(program).args(args);
            c
        }
        None => {
            let mut c = Command::new(program);
            c.args(args);
            #[cfg(target_os = "linux")]
            // SAFETY: the closure runs in the forked child before exec and only makes one
            // async-signal-safe system call (prctl).
            unsafe {
                c.pre_exec(|| nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from));
            }
            c
        }
    };
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: one killpg reaches everything the command starts, and a Ctrl-C
        // meant for the server's terminal does not hit jobs behind the runner's back.
        // (The parent-death signal is Linux's and follows the spawning thread: the
        // runtime's workers live as long as the runner.)
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    cmd.spawn()
}

/// util-linux's `setpriv`, if installed (Linux only).
fn pdeathsig_wrapper() -> Option<&'static Path> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if !cfg!(target_os = "linux") {
                return None;
            }
            ["/usr/bin/setpriv", "/bin/setpriv"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| is_executable(p))
        })
        .as_deref()
}

/// The executable a plain command names: an absolute path, or a name looked up in `PATH`
/// (the job's own `PATH` when its env sets one). `None` sends the command to the shell.
fn find_program(name: &str, spec: &CommandSpec) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return (p.is_absolute() && is_executable(&p)).then_some(p);
    }
    let path = match spec.env.iter().rev().find(|(k, _)| k == "PATH") {
        Some((_, v)) => std::ffi::OsString::from(v),
        None => std::env::var_os("PATH")?,
    };
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Words of a command the shell would run as one plain program with literal arguments,
/// which is then executed directly, without `sh` in between (one process instead of two;
/// it roughly doubles the rate of short commands). Anything the shell would interpret (a
/// quote, `$`, a glob, a redirection, `;`, `=`, `~`, `#`, a backslash, …) or a shell
/// builtin or keyword as first word: `None`, and the command goes through `sh -c`.
pub(crate) fn plain_argv(command: &str) -> Option<Vec<&str>> {
    const SHELL_WORDS: &[&str] = &[
        ".", ":", "alias", "bg", "break", "case", "cd", "command", "continue", "do", "done", "elif", "else",
        "esac", "eval", "exec", "exit", "export", "fg", "fi", "for", "function", "getopts", "hash", "if",
        "in", "jobs", "local", "read", "readonly", "return", "select", "set", "shift", "source", "then",
        "time", "times", "trap", "type", "ulimit", "umask", "unalias", "unset", "until", "wait", "while",
    ];
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./,:@%+- \t".contains(c);
    if !command.chars().all(plain) {
        return None;
    }
    let words: Vec<&str> = command.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
    match words.first() {
        Some(first) if !SHELL_WORDS.contains(first) => Some(words),
        _ => None,
    }
}

/// Waits for the shell, stopping the group on `cancel` or timeout. Returns with the shell
/// reaped and SIGKILL sent to its group, and says which stop (if any) we caused.
async fn supervise(
    child: &mut Child,
    pgid: i32,
    cancel: &CancellationToken,
    timeout: Option<Duration>,
) -> io::Result<(ExitStatus, Option<Ended>)> {
    let expiry = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let reason = tokio::select! {
        status = child.wait() => {
            let status = status?;
            // The shell is done, but anything it started in the background is still in the
            // group and may hold our pipes open, so stdout EOF would never come. Leftovers of
            // a finished command are orphans nobody will stop: kill them now, then drain.
            signal_group(pgid, Signal::SIGKILL);
            return Ok((status, None));
        }
        () = cancel.cancelled() => Ended::Cancelled,
        () = expiry => Ended::TimedOut,
    };

    signal_group(pgid, Signal::SIGTERM);
    let deadline = Instant::now() + KILL_GRACE;
    let status = match tokio::time::timeout_at(deadline, child.wait()).await {
        Ok(status) => {
            let status = status?;
            // The shell went quickly; the rest of its group gets the same grace to clean up.
            // (Zombies count as present, so where nothing reaps orphans this waits it out.)
            while group_exists(pgid) && Instant::now() < deadline {
                tokio::time::sleep(GROUP_POLL).await;
            }
            status
        }
        Err(_elapsed) => {
            signal_group(pgid, Signal::SIGKILL);
            child.wait().await?
        }
    };
    signal_group(pgid, Signal::SIGKILL);
    Ok((status, Some(reason)))
}

fn signal_group(pgid: i32, signal: Signal) {
    match killpg(Pid::from_raw(pgid), signal) {
        // ESRCH: everyone is already gone, which is what we wanted.
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => {
            tracing::warn!(pgid, signal = signal.as_str(), error = %e, "cannot signal a job's process group")
        }
    }
}

fn group_exists(pgid: i32) -> bool {
    // Signal 0 only checks; EPERM still means someone is there.
    !matches!(killpg(Pid::from_raw(pgid), None), Err(Errno::ESRCH))
}

/// Kills the group if `run` is dropped before it finished (its task aborted), so an
/// abandoned job leaves nothing behind: `kill_on_drop` alone reaches only the shell.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            signal_group(pgid, Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests;
