//! `vcore-xtask build [--release] [--wasm-cargo-arg=ARG]… [--frontend=PKG --server=PKG
//! --bin=NAME --site=DIR]`: builds the site (hydrating WASM, its JS, the stylesheet,
//! `public/`) into `target/site` and the `vcore` server binary; or, with the last four, an
//! application built on vcore (the example: `--frontend=notes-frontend --server=notes-server
//! --bin=notes --site=target/site-notes`). See the library's docs for the steps and why this
//! exists beside cargo-leptos.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use anyhow::{bail, Context, Result};
use vcore_xtask::{
    bindgen, copy_tree, locked_version, precompress, run, BindgenOptions, Step, OUTPUT_NAME,
    WASM_BINDGEN_VERSION,
};

const USAGE: &str = "usage: vcore-xtask build [--release] [--wasm-cargo-arg=ARG]... \
                     [--frontend=PKG] [--server=PKG] [--bin=NAME] [--site=DIR]";

struct Options {
    release: bool,
    wasm_cargo_args: Vec<String>,
    /// The WASM crate (hydrate entry point).
    frontend: String,
    /// The server crate and its binary.
    server: String,
    bin: String,
    /// Where the site goes, relative to the workspace (default `LEPTOS_SITE_ROOT` or
    /// `target/site`).
    site: Option<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let Some((cmd, rest)) = args.split_first() else {
        bail!("{USAGE}");
    };
    if cmd != "build" {
        bail!("unknown command {cmd:?}; {USAGE}");
    }
    let mut opts = Options {
        release: false,
        wasm_cargo_args: Vec::new(),
        frontend: "vcore-frontend".into(),
        server: "vcore-server".into(),
        bin: "vcore".into(),
        site: None,
    };
    for arg in rest {
        let named = |prefix: &str| {
            arg.strip_prefix(prefix)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        if arg == "--release" {
            opts.release = true;
        } else if let Some(a) = arg.strip_prefix("--wasm-cargo-arg=") {
            opts.wasm_cargo_args.push(a.to_string());
        } else if let Some(v) = named("--frontend=") {
            opts.frontend = v;
        } else if let Some(v) = named("--server=") {
            opts.server = v;
        } else if let Some(v) = named("--bin=") {
            opts.bin = v;
        } else if let Some(v) = named("--site=") {
            opts.site = Some(v);
        } else {
            bail!("unknown argument {arg:?}; {USAGE}");
        }
    }
    Ok(opts)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = parse(&args).and_then(|o| build(&o)) {
        eprintln!("\x1b[1;31m[build] error:\x1b[0m {e:#}");
        std::process::exit(1);
    }
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.arg("build").arg("--locked");
    c
}

fn server_build(root: &Path, opts: &Options, release: bool) -> Command {
    let mut c = cargo();
    c.current_dir(root).args(["-p", &opts.server, "--bin", &opts.bin]);
    if release {
        c.arg("--release");
    }
    c
}

fn build(opts: &Options) -> Result<()> {
    let total = Step::start(if opts.release {
        "release build (WASM and server side by side)"
    } else {
        "debug build"
    });
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf();
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    match locked_version(&lock, "wasm-bindgen") {
        Some(v) if v == WASM_BINDGEN_VERSION => {}
        other => bail!(
            "Cargo.lock has wasm-bindgen {other:?} but this tool embeds {WASM_BINDGEN_VERSION}: \
             pin the same version in xtask/Cargo.toml (wasm-bindgen-cli-support) and Trunk.toml"
        ),
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let site = root.join(match &opts.site {
        Some(dir) => dir.clone(),
        None => std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into()),
    });
    let pkg = site.join("pkg");

    // In release the server compiles while the WASM does: `target/release` and
    // `target/wasm-release` are separate cargo locks, and the WASM's single-unit LTO leaves a
    // core idle. Debug builds share `target/debug` (the WASM's build scripts live there), so
    // they run one after the other instead of waiting on each other's lock.
    let mut server: Option<Child> = None;
    if opts.release {
        println!("\x1b[1;34m[build]\x1b[0m server (release) started in the background");
        server = Some(
            server_build(&root, opts, true)
                .spawn()
                .context("could not start cargo for the server")?,
        );
    }

    let result = build_site(opts, &root, &target_dir, &site, &pkg);
    if let Some(mut child) = server {
        let s = Step::start("waiting for the server build");
        let status = child.wait()?;
        if !status.success() {
            bail!("server build failed ({status})");
        }
        s.done();
    }
    result?;
    if !opts.release {
        let s = Step::start(format!("server (cargo build -p {})", opts.server));
        run(&mut server_build(&root, opts, false))?;
        s.done();
    }
    total.done();
    Ok(())
}

fn build_site(opts: &Options, root: &Path, target_dir: &Path, site: &Path, pkg: &Path) -> Result<()> {
    let profile = if opts.release { "wasm-release" } else { "debug" };
    let s = Step::start(format!("WASM ({}, hydrate, profile {profile})", opts.frontend));
    let mut c = cargo();
    c.current_dir(root).args([
        "-p",
        &opts.frontend,
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "--no-default-features",
        "--features",
        "hydrate",
    ]);
    if opts.release {
        c.args(["--profile", "wasm-release"]);
    }
    c.args(&opts.wasm_cargo_args);
    run(&mut c)?;
    s.done();

    if site.exists() {
        std::fs::remove_dir_all(site).with_context(|| format!("clearing {}", site.display()))?;
    }
    std::fs::create_dir_all(pkg)?;

    let s = Step::start(format!("wasm-bindgen {WASM_BINDGEN_VERSION}"));
    let input = target_dir
        .join("wasm32-unknown-unknown")
        .join(profile)
        .join(format!("{}.wasm", opts.frontend.replace('-', "_")));
    let options = BindgenOptions {
        typescript: false,
        ..Default::default()
    };
    bindgen(&input, pkg, OUTPUT_NAME, &options)?;
    // Leptos's hydration script asks for `<name>.wasm`, as cargo-leptos names it.
    let wasm = pkg.join(format!("{OUTPUT_NAME}.wasm"));
    std::fs::rename(pkg.join(format!("{OUTPUT_NAME}_bg.wasm")), &wasm)?;
    s.done();

    if opts.release {
        let s = Step::start("wasm-opt -Oz");
        let wasm_opt = find_wasm_opt(root)?;
        run(Command::new(&wasm_opt)
            .args(["-Oz", "--enable-bulk-memory", "--enable-nontrapping-float-to-int"])
            .arg(&wasm)
            .arg("-o")
            .arg(&wasm))?;
        s.done();
    }

    let s = Step::start("stylesheet and public/");
    std::fs::copy(
        root.join("style/main.css"),
        pkg.join(format!("{OUTPUT_NAME}.css")),
    )
    .context("copying style/main.css")?;
    copy_tree(&root.join("public"), site)?;
    s.done();

    if opts.release {
        let s = Step::start("precompress (.br, .gz)");
        let n = precompress(site)?.len();
        println!("  {n} files");
        s.done();
    }
    Ok(())
}

/// npm's `binaryen` (installed by `scripts/setup.sh --release` into `xtask/node_modules`), a
/// `WASM_OPT` path, or one on `PATH`.
fn find_wasm_opt(root: &Path) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("WASM_OPT") {
        return Ok(p.into());
    }
    let local = root.join("xtask/node_modules/.bin/wasm-opt");
    if local.exists() {
        return Ok(local);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("wasm-opt"))
        .find(|p| p.exists());
    on_path.context(
        "wasm-opt not found: run scripts/setup.sh --release (it installs npm's binaryen into \
         xtask/node_modules), or set WASM_OPT",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_build_command() {
        let o = parse(&args(&["build", "--release", "--wasm-cargo-arg=-Zbuild-std=std"])).unwrap();
        assert!(o.release);
        assert_eq!(o.wasm_cargo_args, vec!["-Zbuild-std=std"]);
        assert!(!parse(&args(&["build"])).unwrap().release);
    }

    #[test]
    fn builds_an_application_when_told_which() {
        let o = parse(&args(&["build"])).unwrap();
        assert_eq!(
            (o.frontend.as_str(), o.server.as_str(), o.bin.as_str()),
            ("vcore-frontend", "vcore-server", "vcore")
        );
        assert!(o.site.is_none());
        let o = parse(&args(&[
            "build",
            "--frontend=notes-frontend",
            "--server=notes-server",
            "--bin=notes",
            "--site=target/site-notes",
        ]))
        .unwrap();
        assert_eq!(
            (o.frontend.as_str(), o.server.as_str(), o.bin.as_str()),
            ("notes-frontend", "notes-server", "notes")
        );
        assert_eq!(o.site.as_deref(), Some("target/site-notes"));
        assert!(
            parse(&args(&["build", "--bin="])).is_err(),
            "an empty value is refused"
        );
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert!(parse(&[]).is_err());
        let e = parse(&args(&["watch"])).err().unwrap().to_string();
        assert!(e.contains("unknown command \"watch\""), "{e}");
        let e = parse(&args(&["build", "--fast"])).err().unwrap().to_string();
        assert!(e.contains("unknown argument \"--fast\""), "{e}");
    }
}
