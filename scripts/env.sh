# Sourced by the scripts: the build environment for the toolchain route chosen by setup.sh.
# On the Debian route every cargo call uses Debian's rustc 1.96 (mixing compilers in one
# target dir forces rebuilds), std is built for wasm from source, and LEPTOS_LIB_ARGS adds
# -Zbuild-std to the WASM build only. Unstable flags stay out of files a laptop build reads.
CARGO_LEPTOS_VERSION=0.3.11
TRUNK_VERSION=0.21.14
WASM_OPT_VERSION=0.116.1
export PATH="$HOME/.cargo/bin:$PATH"
LEPTOS_LIB_ARGS=()
TRUNK_STD=""
if [ "$(cat target/.toolchain-route 2>/dev/null)" = debian ]; then
  export PATH="/usr/bin:$PATH"
  export RUSTC_BOOTSTRAP=1
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22
  LEPTOS_LIB_ARGS=(--lib-cargo-args=-Zbuild-std=std,panic_abort)
  # Trunk builds only for wasm, so build-std can come from cargo's env config there.
  TRUNK_STD="std,panic_abort"
fi
