//! The `vcore` binary as a user runs it: `--help`, a bad variable stopping start-up with
//! one line naming it, the zero-config first start (generated secrets and first-superuser
//! password in private files, and a message saying where), `migrate` and
//! `create-superuser`, and a graceful stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::helpers::form_body;

const BIN: &str = env!("CARGO_BIN_EXE_vcore");

/// A command with a clean environment: only what the test sets reaches the binary.
fn vcore(data_dir: &Path, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATA_DIR", data_dir)
        .env("LOG_LEVEL", "warn")
        .current_dir(data_dir);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run vcore")
}

/// Kills the server if a test fails before stopping it.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn help_lists_the_commands() {
    let out = run(Command::new(BIN).arg("--help"));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "migrate", "create-superuser", "openapi"] {
        assert!(text.contains(cmd), "--help lacks {cmd}: {text}");
    }
}

#[test]
fn a_bad_variable_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("SERVER_PORT", "eighty")], "SERVER_PORT"),
        (
            &[("USERS_OPEN_REGISTRATION", "perhaps")],
            "USERS_OPEN_REGISTRATION",
        ),
        (&[("ENV_NAME", "production")], "JWT_ACCESS_SECRET_KEY"),
        (
            &[
                ("ENV_NAME", "production"),
                ("JWT_ACCESS_SECRET_KEY", "short"),
                ("JWT_REFRESH_SECRET_KEY", "x"),
            ],
            "JWT_ACCESS_SECRET_KEY",
        ),
    ];
    for (vars, name) in cases {
        let out = run(vcore(dir.path(), vars).arg("serve"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{vars:?}: {stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{vars:?}: one line expected: {stderr}"
        );
        assert!(stderr.contains(name), "{vars:?}: {stderr}");
    }
    assert!(
        !dir.path().join("vcore.db").exists(),
        "nothing is created before the config is valid"
    );
}

#[test]
fn zero_config_first_start_tells_how_to_sign_in_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let child = vcore(dir.path(), &[("SERVER_PORT", "0")])
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Running(child);
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let mut port = None;
    let mut password_file = None;
    for line in lines.by_ref().take(10) {
        let line = line.unwrap();
        if let Some(rest) = line.split("(port ").nth(1) {
            port = rest.trim_end_matches(')').parse::<u16>().ok();
        }
        if line.contains("Created the first superuser") {
            assert!(line.contains("'admin'"), "{line}");
            password_file = line.split("password in ").nth(1).map(|p| p.trim().to_string());
            break;
        }
    }
    let port = port.expect("the listening line names the port");
    let password_file = password_file.expect("the first start says where the password is");
    #[cfg(unix)]
    {
        assert_eq!(mode(Path::new(&password_file)), 0o600);
        assert_eq!(mode(&dir.path().join("secrets.env")), 0o600);
    }
    let password = std::fs::read_to_string(&password_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(password.len() >= 16, "generated password is long");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/api/v1/login/access-token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[("username", "admin"), ("password", &password)]))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200, "the printed credentials work");

    let pid = server.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let exit = server.0.wait().unwrap();
    assert!(exit.success(), "graceful stop exits 0, got {exit:?}");

    // A second start keeps the secrets and creates no second superuser.
    let secrets = std::fs::read_to_string(dir.path().join("secrets.env")).unwrap();
    let out = run(vcore(dir.path(), &[]).arg("migrate"));
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("secrets.env")).unwrap(),
        secrets
    );
}

#[test]
fn migrate_is_idempotent_and_create_superuser_works() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(vcore(dir.path(), &[]).arg("migrate"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("applied ") && stdout.contains("migration(s)"),
        "{stdout}"
    );
    let out = run(vcore(dir.path(), &[]).arg("migrate"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));

    let pw = [("FIRST_SUPERUSER_PASSWORD", "first-admin-password")];
    let out = run(vcore(dir.path(), &pw)
        .args([
            "create-superuser",
            "--username",
            "root2",
            "--email",
            "root2@example.com",
        ])
        .env("VCORE_PASSWORD", "root2-password"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created superuser 'root2'"));
    // Bad input: a clear error, exit code 1, nothing created.
    let out = run(vcore(dir.path(), &pw)
        .args(["create-superuser", "--username", "x", "--email", "bad"])
        .env("VCORE_PASSWORD", "root3-password"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("username"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Only the server bootstraps the first superuser: the operator's other commands on an
/// empty database create no account behind their back.
#[tokio::test]
async fn only_serve_creates_the_first_superuser() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        run(vcore(dir.path(), &[]).args(["enqueue", "--name", "n", "--type", "script", "--command", "noop"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(vcore(dir.path(), &[]).args(["jobs", "list"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(vcore(dir.path(), &[])
        .args([
            "create-superuser",
            "--username",
            "root",
            "--email",
            "root@example.com",
        ])
        .env("VCORE_PASSWORD", "root-password-1"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let url = format!("sqlite://{}", dir.path().join("vcore.db").display());
    let db = vcore_domain::db::Db::connect(&url, 1).await.unwrap();
    let first = vcore_domain::users::find_user(&db, 1)
        .await
        .unwrap()
        .map(|u| u.username);
    assert_eq!(
        first,
        Some("root".to_string()),
        "the only account is the one asked for"
    );
    assert_eq!(
        vcore_domain::users::find_user(&db, 2)
            .await
            .unwrap()
            .map(|u| u.username),
        None
    );
    assert!(!dir.path().join("first-superuser-password.txt").exists());
}
