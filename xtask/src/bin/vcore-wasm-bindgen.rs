//! A `wasm-bindgen` command for Trunk (`scripts/setup.sh` links it as `wasm-bindgen` in
//! `target/xtask/bin`: rustc refuses a crate named `wasm_bindgen` at version 0.1), built from the same library and version as the real
//! CLI (`wasm-bindgen-cli` cannot be installed `--locked` from crates.io here: its lock file
//! names a crate version the registry no longer serves). It takes the arguments Trunk 0.21
//! passes (`--target=web --out-dir=… --out-name=… [--keep-debug] [--no-demangle]
//! [--reference-types] [--weak-refs] [--no-typescript] <input>`) and `--version`, and refuses
//! anything else by name rather than guess.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use vcore_xtask::{bindgen, BindgenOptions, WASM_BINDGEN_VERSION};

struct Args {
    input: PathBuf,
    out_dir: PathBuf,
    out_name: String,
    options: BindgenOptions,
}

/// `None` for `--version`.
fn parse(raw: &[String]) -> Result<Option<Args>> {
    let mut input = None;
    let mut out_dir = None;
    let mut out_name = None;
    let mut options = BindgenOptions::default();
    let mut it = raw.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .cloned()
                    .with_context(|| format!("{flag} needs a value")),
            }
        };
        match flag {
            "--version" | "-V" => return Ok(None),
            "--target" => {
                let t = value()?;
                if t != "web" {
                    bail!("--target {t:?}: only `web` is supported by this wasm-bindgen");
                }
            }
            "--out-dir" => out_dir = Some(PathBuf::from(value()?)),
            "--out-name" => out_name = Some(value()?),
            "--keep-debug" => options.keep_debug = true,
            "--debug" => options.debug = true,
            "--no-demangle" => options.demangle = false,
            "--no-typescript" => options.typescript = false,
            // Deprecated upstream: reference types are read from the module's target
            // features, weak references detected at run time.
            "--reference-types" | "--weak-refs" => {}
            f if f.starts_with('-') => bail!("unsupported argument {f:?}"),
            _ if input.is_none() => input = Some(PathBuf::from(arg)),
            _ => bail!("more than one input file ({arg:?})"),
        }
    }
    let input = input.context("no input .wasm file given")?;
    let out_name = match out_name {
        Some(n) => n,
        None => input
            .file_stem()
            .and_then(|s| s.to_str())
            .context("the input has no file name")?
            .to_string(),
    };
    Ok(Some(Args {
        input,
        out_dir: out_dir.context("--out-dir is required")?,
        out_name,
        options,
    }))
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let result = parse(&raw).and_then(|args| match args {
        None => {
            println!("wasm-bindgen {WASM_BINDGEN_VERSION}");
            Ok(())
        }
        Some(a) => bindgen(&a.input, &a.out_dir, &a.out_name, &a.options),
    });
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Option<Args>> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn takes_what_trunk_passes() {
        let a = parse_str("--target=web --out-dir=t/wb --out-name=app app.wasm --no-typescript --keep-debug")
            .unwrap()
            .unwrap();
        assert_eq!(a.input, PathBuf::from("app.wasm"));
        assert_eq!(a.out_dir, PathBuf::from("t/wb"));
        assert_eq!(a.out_name, "app");
        assert!(!a.options.typescript && a.options.keep_debug && a.options.demangle);
        let b = parse_str("--out-dir out x/y.wasm").unwrap().unwrap();
        assert_eq!(b.out_name, "y");
        assert!(parse_str("--version").unwrap().is_none());
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        let e = |s: &str| parse_str(s).err().unwrap().to_string();
        assert!(e("--target=bundler --out-dir=o a.wasm").contains("only `web`"));
        assert!(e("--out-dir=o --split-linked-modules a.wasm").contains("--split-linked-modules"));
        assert!(e("--out-dir=o a.wasm b.wasm").contains("more than one input"));
        assert!(e("a.wasm").contains("--out-dir is required"));
        assert!(e("--out-dir").contains("needs a value"));
    }
}
