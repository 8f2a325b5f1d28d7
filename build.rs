//! Rebuilds when a file is added to `static/`: the embedding macro (see
//! `src/http/pages.rs`) notices edits to files it has seen, not new ones.

fn main() {
    println!("cargo::rerun-if-changed=static");
}
