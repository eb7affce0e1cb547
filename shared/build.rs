//! The migration runner embeds sql/ and policies/: rebuild when either changes.
fn main() {
    println!("cargo:rerun-if-changed=../sql");
    println!("cargo:rerun-if-changed=../policies");
}
