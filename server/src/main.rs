//! The `vcore` binary: a shim over [`vcore_server::cli`].

#[tokio::main]
async fn main() {
    std::process::exit(vcore_server::cli::run().await);
}
