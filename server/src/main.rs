//! The `vcore` binary: vcore alone, with no application parts (see [`vcore_server::App`]).

fn main() {
    vcore_server::App::new("vcore").main()
}
