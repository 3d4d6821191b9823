# Sourced by the scripts: tool versions and the build environment for the toolchain route
# chosen by setup.sh. On the Debian route every cargo call uses Debian's rustc 1.96 (mixing
# compilers in one target dir forces rebuilds), std is built for wasm from source, and
# WASM_CARGO_ARGS adds -Zbuild-std to the WASM build only. Unstable flags stay out of files a
# laptop build reads.

# Every tool is pinned here (or in a lock file beside it); nothing is "latest" at install time.
TRUNK_VERSION=0.21.14        # cargo install --locked; its lock builds on rustc 1.81+
CARGO_LEPTOS_VERSION=0.3.11  # only for `cargo leptos watch` (setup.sh --dev); its lock needs rustc 1.96
# The build step (xtask/, wasm-bindgen as a library) has its own Cargo.lock, and wasm-opt
# comes from npm's binaryen pinned in xtask/package-lock.json.

# Tools that `cargo install` put in CARGO_HOME come first, then rustup's proxies.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
WASM_CARGO_ARGS=()
TRUNK_STD=""
if [ "$(cat target/.toolchain-route 2>/dev/null)" = debian ]; then
  export PATH="/usr/bin:$PATH"
  export RUSTC=/usr/bin/rustc
  export RUSTC_BOOTSTRAP=1
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22
  WASM_CARGO_ARGS=(--wasm-cargo-arg=-Zbuild-std=std,panic_abort)
  # Trunk builds only for wasm, so build-std can come from cargo's env config there.
  TRUNK_STD="std,panic_abort"
fi
