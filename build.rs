//! Tells cargo to rebuild the binary whenever anything in `flows/` changes.
//!
//! The `flows!` macro embeds every YAML file it reads with `include_bytes!`, which makes cargo
//! notice edits and deletions; only this `rerun-if-changed` on the folder also catches a newly
//! added file. The compilation itself happens in the proc macro (see `flow-compiler`).
fn main() {
    println!("cargo:rerun-if-changed=flows");
}
