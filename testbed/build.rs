//! Rebuilds the binary whenever anything in `flows/` changes (as the root crate's build.rs).
fn main() {
    println!("cargo:rerun-if-changed=flows");
}
