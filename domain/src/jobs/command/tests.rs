//! Unit tests of [`super::run`] and [`super::CommandSpec`] with real processes (`sh`,
//! coreutils); each run is bounded by [`LIMIT`]. Kept out of `command.rs` for its length.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::output::MAX_LINE;
use super::{run, CommandSpec, Ended, LogLine, Output, Stream, KILL_GRACE};

/// No test run may take longer than this, whatever goes wrong.
const LIMIT: Duration = Duration::from_secs(10);

struct Outcome {
    ended: Ended,
    elapsed: Duration,
    log: String,
    lines: Vec<LogLine>,
}

impl Outcome {
    fn of(&self, stream: Stream) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|l| l.stream == stream)
            .map(|l| l.line.as_str())
            .collect()
    }
}

fn spec(command: &str) -> CommandSpec {
    CommandSpec {
        command: command.into(),
        env: Vec::new(),
        cwd: None,
    }
}

/// Runs `spec` with its log under `dir`, firing the cancel token after `cancel_after`.
async fn run_in(
    dir: &Path,
    spec: &CommandSpec,
    cancel_after: Option<Duration>,
    timeout: Option<Duration>,
    max_log_bytes: u64,
) -> Outcome {
    // Large enough that no test loses lines to lagging.
    let (tx, mut rx) = broadcast::channel(16_384);
    let log_path = dir.join("logs").join("job.log");
    let out = Output {
        job_id: 7,
        log_path: log_path.clone(),
        max_log_bytes,
        lines: tx,
        ship: None,
    };
    let cancel = CancellationToken::new();
    let canceller = {
        let cancel = cancel.clone();
        async move {
            if let Some(after) = cancel_after {
                tokio::time::sleep(after).await;
                cancel.cancel();
            }
        }
    };
    let started = Instant::now();
    let (ended, ()) = tokio::join!(
        tokio::time::timeout(LIMIT, run(spec, out, cancel, timeout)),
        canceller
    );
    let ended = ended.expect("run did not return in time").expect("run failed");
    let elapsed = started.elapsed();
    let mut lines = Vec::new();
    while let Ok(line) = rx.try_recv() {
        lines.push(line);
    }
    assert!(lines.iter().all(|l| l.job_id == 7));
    // A silent command leaves no log file.
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    Outcome {
        ended,
        elapsed,
        log,
        lines,
    }
}

/// Pids in process group `pgid` that are still alive. Zombies are dead: they only wait
/// for init to reap them, which a container's init may never do.
fn live_members(pgid: i32) -> Vec<i32> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the parenthesised command name: state, ppid, pgrp, ...
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let in_group = fields.get(2).and_then(|f| f.parse::<i32>().ok()) == Some(pgid);
        if in_group && !matches!(fields.first(), Some(&"Z") | Some(&"X")) {
            live.push(pid);
        }
    }
    live
}

/// Asserts that the group written to `pid_file` (the shell's `$$`) is empty, allowing a
/// moment for SIGKILLed processes to finish dying.
async fn assert_group_gone(pid_file: &Path) {
    let pgid: i32 = std::fs::read_to_string(pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let deadline = Instant::now() + Duration::from_secs(1);
    while !live_members(pgid).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        live_members(pgid),
        Vec::<i32>::new(),
        "processes left in group {pgid}"
    );
}

#[tokio::test]
async fn exit_code_log_and_broadcast() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = spec("echo out; echo more; echo err >&2; exit 3");
    let o = run_in(dir.path(), &cmd, None, None, 1 << 20).await;
    assert_eq!(o.ended, Ended::Exited(3));
    assert_eq!(o.of(Stream::Stdout), ["out", "more"]);
    assert_eq!(o.of(Stream::Stderr), ["err"]);
    let mut log: Vec<&str> = o.log.lines().collect();
    log.sort_unstable();
    assert_eq!(log, ["[stderr] err", "more", "out"]);
    assert!(o.log.find("out").unwrap() < o.log.find("more").unwrap());
}

#[tokio::test]
async fn env_and_cwd_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let meta = json!({"env": {"FOO": "bar baz"}, "cwd": dir.path()});
    let cmd = CommandSpec::from_job("echo \"$FOO\"; pwd", &meta).unwrap();
    let o = run_in(dir.path(), &cmd, None, None, 1 << 20).await;
    assert_eq!(o.ended, Ended::Exited(0));
    let cwd = dir.path().canonicalize().unwrap();
    assert_eq!(o.of(Stream::Stdout), ["bar baz", cwd.to_str().unwrap()]);
}

#[tokio::test]
async fn cancel_kills_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pgid");
    // The backgrounded sleep is a grandchild that outlives the shell unless the group dies.
    let cmd = spec(&format!(
        "echo $$ > '{}'; sleep 30 & sleep 30; wait",
        pid_file.display()
    ));
    let o = run_in(dir.path(), &cmd, Some(Duration::from_millis(200)), None, 1 << 20).await;
    assert_eq!(o.ended, Ended::Cancelled);
    assert!(o.elapsed < Duration::from_secs(3), "took {:?}", o.elapsed);
    assert_group_gone(&pid_file).await;
}

#[tokio::test]
async fn timeout_stops_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(
        dir.path(),
        &spec("sleep 10"),
        None,
        Some(Duration::from_millis(300)),
        1 << 20,
    )
    .await;
    assert_eq!(o.ended, Ended::TimedOut);
    assert!(o.elapsed < Duration::from_secs(3), "took {:?}", o.elapsed);
}

#[tokio::test]
async fn sigterm_ignored_means_sigkill_after_grace() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pgid");
    let cmd = spec(&format!(
        "echo $$ > '{}'; trap '' TERM; sleep 30",
        pid_file.display()
    ));
    let cancel_after = Duration::from_millis(200);
    let o = run_in(dir.path(), &cmd, Some(cancel_after), None, 1 << 20).await;
    assert_eq!(o.ended, Ended::Cancelled);
    assert!(
        o.elapsed >= cancel_after + KILL_GRACE,
        "SIGKILL came early: {:?}",
        o.elapsed
    );
    assert!(
        o.elapsed < cancel_after + KILL_GRACE + Duration::from_secs(1),
        "took {:?}",
        o.elapsed
    );
    assert_group_gone(&pid_file).await;
}

#[tokio::test]
async fn background_leftovers_do_not_hold_a_finished_job() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pgid");
    // The shell exits at once; the orphan keeps stdout open and must be killed, not awaited.
    let cmd = spec(&format!(
        "echo $$ > '{}'; sleep 30 & echo done",
        pid_file.display()
    ));
    let o = run_in(dir.path(), &cmd, None, None, 1 << 20).await;
    assert_eq!(o.ended, Ended::Exited(0));
    assert_eq!(o.of(Stream::Stdout), ["done"]);
    assert!(o.elapsed < Duration::from_secs(2), "took {:?}", o.elapsed);
    assert_group_gone(&pid_file).await;
}

/// Each broadcast line says where it ends in the log file, counting the output of earlier
/// attempts that the file already holds; a line cut off by the cap says it is not there.
#[tokio::test]
async fn broadcast_lines_know_where_they_end_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = spec("echo a; echo bb; echo ccc >&2; sleep 0.1; echo dddd");
    let first = run_in(dir.path(), &cmd, None, None, 1 << 20).await;
    let second = run_in(dir.path(), &cmd, None, None, 1 << 20).await;
    let file = std::fs::read(dir.path().join("logs").join("job.log")).unwrap();
    assert_eq!(file.len(), 2 * first.log.len());
    for (o, base) in [(&first, 0), (&second, first.log.len())] {
        assert_eq!(o.lines.len(), 4);
        for l in &o.lines {
            let end = l.end.expect("the line is in the file") as usize;
            assert!(end > base && end <= file.len(), "{l:?}");
            // The file up to `end` finishes with this line (stderr lines carry a prefix).
            let want = match l.stream {
                Stream::Stdout => format!("{}\n", l.line),
                Stream::Stderr => format!("[stderr] {}\n", l.line),
            };
            assert!(file[..end].ends_with(want.as_bytes()), "{l:?}");
        }
        let last = o.lines.iter().find(|l| l.line == "dddd").unwrap();
        assert_eq!(last.end, Some((base + first.log.len()) as u64));
    }
    // Past the cap: broadcast, but not in the file.
    let capped = tempfile::tempdir().unwrap();
    let o = run_in(capped.path(), &spec("echo 12345; echo 67890"), None, None, 8).await;
    assert_eq!(o.lines.iter().map(|l| l.end).collect::<Vec<_>>(), [Some(6), None]);
}

#[tokio::test]
async fn log_file_is_capped_but_broadcast_is_not() {
    let dir = tempfile::tempdir().unwrap();
    // 10,000 lines of 11 bytes: 110 KB.
    let o = run_in(
        dir.path(),
        &spec("yes abcdefghij | head -n 10000"),
        None,
        None,
        1000,
    )
    .await;
    assert_eq!(o.ended, Ended::Exited(0));
    assert!(o.log.len() <= 1100, "log is {} bytes", o.log.len());
    assert!(
        o.log.ends_with("abcdefghij\n[log truncated at 1000 bytes]\n"),
        "{:?}",
        o.log
    );
    assert_eq!(o.of(Stream::Stdout).len(), 10_000);
}

#[tokio::test]
async fn long_lines_are_cut_and_bad_utf8_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = spec(r"head -c 100000 /dev/zero | tr '\0' a; echo; printf 'caf\351\n'; echo next");
    let o = run_in(dir.path(), &cmd, None, None, 1 << 20).await;
    assert_eq!(o.ended, Ended::Exited(0));
    let out = o.of(Stream::Stdout);
    assert_eq!(
        out.len(),
        3,
        "{:?}",
        out.iter().map(|l| l.len()).collect::<Vec<_>>()
    );
    assert_eq!(out[0], "a".repeat(MAX_LINE));
    assert_eq!(out[1..], ["caf\u{FFFD}", "next"]);
}

#[tokio::test]
async fn signal_death_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(dir.path(), &spec("kill -USR1 $$"), None, None, 1 << 20).await;
    assert_eq!(
        o.ended,
        Ended::Signalled(nix::sys::signal::Signal::SIGUSR1 as i32)
    );
}

#[test]
fn from_job_parses_and_names_bad_fields() {
    let ok = CommandSpec::from_job("true", &json!({"env": {"A": "1"}, "cwd": "/tmp", "other": 5})).unwrap();
    assert_eq!(ok.env, [("A".to_string(), "1".to_string())]);
    assert_eq!(ok.cwd.as_deref(), Some(Path::new("/tmp")));
    assert_eq!(CommandSpec::from_job("true", &json!({})).unwrap(), spec("true"));
    for (meta, field) in [
        (json!({"env": ["A=1"]}), "meta.env"),
        (json!({"env": {"A": 1}}), "meta.env"),
        (json!({"env": {"A=B": "1"}}), "meta.env"),
        (json!({"cwd": 5}), "meta.cwd"),
        (json!({"cwd": ""}), "meta.cwd"),
    ] {
        let err = CommandSpec::from_job("true", &meta).unwrap_err();
        assert!(err.contains(field), "{meta}: {err}");
    }
}

#[test]
fn stream_serializes_lowercase() {
    assert_eq!(serde_json::to_string(&Stream::Stderr).unwrap(), "\"stderr\"");
}

#[test]
fn only_plain_commands_skip_the_shell() {
    assert_eq!(super::plain_argv("true"), Some(vec!["true"]));
    assert_eq!(
        super::plain_argv("  /usr/bin/printf %s:%d  a,b 3 "),
        Some(vec!["/usr/bin/printf", "%s:%d", "a,b", "3"])
    );
    for shell in [
        "echo $HOME",
        "echo 'a b'",
        "ls *.rs",
        "true; false",
        "a=1 env",
        "echo hi > f",
        "cd /tmp",
        "exit 3",
        "if true",
        "echo ~",
        "echo a\\ b",
        "echo # comment",
        "",
        "   ",
    ] {
        assert_eq!(super::plain_argv(shell), None, "{shell:?} needs the shell");
    }
}

#[tokio::test]
async fn a_missing_program_fails_like_the_shell_says() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(dir.path(), &spec("no-such-program-xyz"), None, None, 1 << 20).await;
    assert_eq!(o.ended, Ended::Exited(127));
    assert!(o.log.contains("not found"), "{}", o.log);
}

#[test]
fn plain_programs_are_found_on_the_jobs_own_path() {
    let mut s = spec("sh");
    assert!(super::find_program("sh", &s).is_some());
    assert!(super::find_program("/bin/sh", &s).is_some());
    assert_eq!(
        super::find_program("./sh", &s),
        None,
        "relative paths go to the shell"
    );
    assert_eq!(super::find_program("no-such-program-xyz", &s), None);
    s.env.push(("PATH".into(), "/nonexistent".into()));
    assert_eq!(super::find_program("sh", &s), None, "the job's PATH wins");
}
