//! `notes`: vcore's command line (`serve`, `worker`, `migrate`, …) with the notes parts.

fn main() {
    notes_server::app().main()
}
