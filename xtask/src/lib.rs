//! vcore's own build step, used by `scripts/start.sh` and `scripts/test.sh` in place of
//! cargo-leptos (which takes ~26 minutes to compile on a 2-core machine and whose lock file
//! needs a newer compiler than rustup's stable). It does what `cargo leptos build` does for
//! this project and nothing more:
//!
//! 1. the hydrating WASM (`vcore-frontend`, feature `hydrate`) for `wasm32-unknown-unknown`,
//! 2. wasm-bindgen, as a library at the exact version of the app's `wasm-bindgen` crate,
//! 3. in release, `wasm-opt -Oz` (npm's `binaryen`, installed by `scripts/setup.sh`),
//! 4. the stylesheet and `public/` copied into the site root (`target/site`),
//! 5. in release, `.br` and `.gz` beside each static file (served by the server as they are),
//! 6. the server binary, built beside the WASM in release (different profile directories, so
//!    the two cargo processes do not wait for each other's lock).
//!
//! It must not grow into a second cargo-leptos: no watching, no reloading, no downloads.
//! `cargo leptos watch` stays the development loop (`scripts/setup.sh --dev` installs it).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// What the page asks for (`LEPTOS_OUTPUT_NAME` in `.cargo/config.toml`, `output_name` in
/// the server's `LeptosOptions`): `pkg/vcore.js`, `pkg/vcore.wasm`, `pkg/vcore.css`.
pub const OUTPUT_NAME: &str = "vcore";
/// The wasm-bindgen version this tool embeds; the app's `wasm-bindgen` crate must match it
/// exactly (checked against `Cargo.lock` before anything is built).
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";

/// Runs wasm-bindgen over `input` for the `web` target, writing `<out_name>.js` and
/// `<out_name>_bg.wasm` into `out_dir` (what Trunk and cargo-leptos both ask for).
pub fn bindgen(input: &Path, out_dir: &Path, out_name: &str, opts: &BindgenOptions) -> Result<()> {
    let mut b = wasm_bindgen_cli_support::Bindgen::new();
    b.input_path(input)
        .out_name(out_name)
        .web(true)?
        .typescript(opts.typescript)
        .debug(opts.debug)
        .keep_debug(opts.keep_debug)
        .demangle(opts.demangle);
    b.generate(out_dir)
        .with_context(|| format!("wasm-bindgen {WASM_BINDGEN_VERSION} on {}", input.display()))
}

/// The wasm-bindgen switches that either caller sets.
#[derive(Debug, Clone)]
pub struct BindgenOptions {
    pub typescript: bool,
    pub debug: bool,
    pub keep_debug: bool,
    pub demangle: bool,
}

impl Default for BindgenOptions {
    fn default() -> Self {
        Self {
            typescript: true,
            debug: false,
            keep_debug: false,
            demangle: true,
        }
    }
}

/// Prints one step's line and, when it ends, how long it took: every build doubles as a
/// build-time report.
pub struct Step {
    name: String,
    start: Instant,
}

impl Step {
    pub fn start(name: impl Into<String>) -> Step {
        let name = name.into();
        println!("\x1b[1;34m[build]\x1b[0m {name}");
        Step {
            name,
            start: Instant::now(),
        }
    }

    pub fn done(self) {
        println!(
            "\x1b[1;34m[build]\x1b[0m {} done in {:.1} s",
            self.name,
            self.start.elapsed().as_secs_f64()
        );
    }
}

/// Runs a command to its end; a failure names the command.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// Copies the files under `from` into `to` (directories created as needed).
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else {
            fs::copy(entry.path(), &dest)
                .with_context(|| format!("copying {} to {}", entry.path().display(), dest.display()))?;
        }
    }
    Ok(())
}

/// Writes `<file>.gz` (gzip -9) and `<file>.br` (brotli, quality 11) beside every file under
/// `dir`, as cargo-leptos's `--precompress` does. Returns the files it compressed.
pub fn precompress(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut done = Vec::new();
    for path in files_under(dir)? {
        let name = path.to_string_lossy();
        if name.ends_with(".gz") || name.ends_with(".br") {
            continue;
        }
        let data = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&data)?;
        fs::write(format!("{name}.gz"), gz.finish()?)?;
        let mut br = Vec::new();
        let params = brotli::enc::BrotliEncoderParams {
            quality: 11,
            lgwin: 22,
            ..Default::default()
        };
        brotli::BrotliCompress(&mut data.as_slice(), &mut br, &params)?;
        fs::write(format!("{name}.br"), br)?;
        done.push(path);
    }
    Ok(done)
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            out.extend(files_under(&entry.path())?);
        } else {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// The version of `name` recorded in a Cargo.lock's text (the first package of that name).
pub fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let version = lines.next()?.trim().strip_prefix("version = \"")?;
            return Some(version.trim_end_matches('"').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_locked_version() {
        let lock = "[[package]]\nname = \"wasm-bindgen-shared\"\nversion = \"0.2.1\"\n\n\
                    [[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n";
        assert_eq!(locked_version(lock, "wasm-bindgen").as_deref(), Some("0.2.130"));
        assert_eq!(locked_version(lock, "serde"), None);
    }

    #[test]
    fn the_app_uses_the_embedded_wasm_bindgen() {
        let lock = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
            .expect("the workspace lock file");
        assert_eq!(
            locked_version(&lock, "wasm-bindgen").as_deref(),
            Some(WASM_BINDGEN_VERSION)
        );
    }

    #[test]
    fn precompressed_files_decompress_to_the_original() {
        let dir = std::env::temp_dir().join(format!("vcore-xtask-{}", std::process::id()));
        fs::create_dir_all(dir.join("pkg")).unwrap();
        let text = "body { color: red; }\n".repeat(200);
        fs::write(dir.join("pkg/a.css"), &text).unwrap();
        let done = precompress(&dir).unwrap();
        assert_eq!(done, vec![dir.join("pkg/a.css")]);
        let mut gz = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&fs::read(dir.join("pkg/a.css.gz")).unwrap()[..]),
            &mut gz,
        )
        .unwrap();
        assert_eq!(gz, text);
        let mut br = Vec::new();
        brotli::BrotliDecompress(&mut &fs::read(dir.join("pkg/a.css.br")).unwrap()[..], &mut br).unwrap();
        assert_eq!(br, text.as_bytes());
        // A second run compresses the originals again, never the .gz/.br files.
        assert_eq!(precompress(&dir).unwrap().len(), 1);
        fs::remove_dir_all(dir).unwrap();
    }
}
