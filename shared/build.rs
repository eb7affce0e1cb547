//! The migration runner embeds db/: rebuild when it changes.
fn main() {
    println!("cargo:rerun-if-changed=../db");
}
