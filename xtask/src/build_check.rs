//! `cargo xtask build-check [--arm64] [<function>…]`: builds functions the way `sam build`
//! does — `cargo lambda build --release [--arm64] --bin <function>` run in the function's
//! package directory, its template.yaml `CodeUri` — and reads each artifact: its size, and its
//! panic strategy, which must be the release profile's (`[profile.release] panic` in
//! Cargo.toml). cargo-lambda once turned every release build into `panic = "abort"` behind the
//! profile's back; this is what would notice it happening again.
//!
//! Not part of `cargo xtask test`: even the smallest function is a fat-LTO release build,
//! ~4 minutes and ~350 MB of `target/` on a cold two-core machine, per architecture.
//! `tests/tests/deployment.rs` checks the settings that decide it on every test run.

use crate::{smoke::CARGO_LAMBDA, target_dir, tools::python_tool, without_xtask_env};
use anyhow::{bail, Context as _, Result};
use std::{path::Path, process::Command};

/// What is checked when no function is named: the smallest one.
const DEFAULT_FUNCTIONS: &[&str] = &["hold-cleanup"];

/// How a binary's panics end, as far as its bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanicStrategy {
    Unwind,
    Abort,
}

impl PanicStrategy {
    fn from_profile(value: &str) -> Result<Self> {
        match value {
            "unwind" => Ok(Self::Unwind),
            "abort" => Ok(Self::Abort),
            other => bail!("unknown panic strategy {other:?} in [profile.release]"),
        }
    }
}

/// A message of the panic_unwind crate (its check that a caught exception is a Rust panic),
/// linked only under `panic = "unwind"`. Symbol names are no evidence: the release profile
/// strips them, zig links libunwind statically, and `_Unwind_Resume` is linked under
/// `panic = "abort"` too (std is prebuilt with unwinding), as is std's own "failed to initiate
/// panic".
const UNWIND_MARKER: &[u8] = b"Rust panics must be rethrown";
/// The panic_abort crate's source path, in its panic location; linked only under
/// `panic = "abort"`.
const ABORT_MARKER: &[u8] = b"/library/panic_abort/src/";

/// The panic strategy `binary` was linked with.
pub fn panic_strategy(binary: &[u8]) -> Result<PanicStrategy> {
    let contains = |needle: &[u8]| binary.windows(needle.len()).any(|w| w == needle);
    let unwinds = contains(UNWIND_MARKER);
    let aborts = contains(ABORT_MARKER);
    match (unwinds, aborts) {
        (true, false) => Ok(PanicStrategy::Unwind),
        (false, true) => Ok(PanicStrategy::Abort),
        (unwinds, aborts) => bail!(
            "cannot tell the panic strategy (unwinding runtime: {unwinds}, panic_abort: {aborts}); \
             the markers in xtask/src/build_check.rs may need updating for this Rust"
        ),
    }
}

/// `[profile.release] panic` of the workspace's Cargo.toml (Rust's default, unwind, when
/// unset).
pub fn release_profile_panic(workspace: &Path) -> Result<PanicStrategy> {
    let manifest: toml::Value = std::fs::read_to_string(workspace.join("Cargo.toml"))?.parse()?;
    PanicStrategy::from_profile(
        manifest
            .get("profile")
            .and_then(|p| p.get("release"))
            .and_then(|r| r.get("panic"))
            .and_then(toml::Value::as_str)
            .unwrap_or("unwind"),
    )
}

pub fn run(args: &[String]) -> Result<()> {
    let arm64 = args.iter().any(|a| a == "--arm64");
    let named: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--arm64")
        .collect();
    let functions = if named.is_empty() {
        DEFAULT_FUNCTIONS.to_vec()
    } else {
        named
    };
    let root = crate::workspace_root();
    let expected = release_profile_panic(&root)?;
    let cargo_lambda = python_tool("cargo-lambda", CARGO_LAMBDA)?;
    let venv_bin = cargo_lambda
        .parent()
        .context("cargo-lambda has no directory")?;
    let path = std::env::join_paths(std::iter::once(venv_bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    let arch = if arm64 { "arm64" } else { "x86_64" };
    // A directory of its own rather than target/lambda, which sam build copies from: where
    // the bootstrap is copied to changes nothing in how it is built.
    let lambda_dir = target_dir().join("build-check").join(arch);
    let mut failures = Vec::new();
    for function in functions {
        let package = root.join("functions").join(function);
        if !package.join("Cargo.toml").exists() {
            bail!("no function {function} (functions/{function}/Cargo.toml)");
        }
        println!("build-check: cargo lambda build --release --bin {function} ({arch}) in functions/{function}");
        let mut build = Command::new(&cargo_lambda);
        without_xtask_env(&mut build)
            .args(["lambda", "build", "--release", "--bin", function])
            .args(arm64.then_some("--arm64"))
            .arg("--lambda-dir")
            .arg(&lambda_dir)
            .env("PATH", &path)
            .current_dir(&package);
        if !build
            .status()
            .context("running cargo lambda build")?
            .success()
        {
            bail!("cargo lambda build --release --bin {function} failed");
        }
        let bootstrap = lambda_dir.join(function).join("bootstrap");
        let bytes = std::fs::read(&bootstrap)
            .with_context(|| format!("reading {}", bootstrap.display()))?;
        let strategy = panic_strategy(&bytes)?;
        println!(
            "build-check: {function} {arch}: {:.2} MiB, panic = {strategy:?} ({})",
            bytes.len() as f64 / (1024.0 * 1024.0),
            bootstrap.display()
        );
        if strategy != expected {
            failures.push(format!(
                "{function} ({arch}) panics with {strategy:?}, the release profile says {expected:?}"
            ));
        }
    }
    if !failures.is_empty() {
        bail!("build-check: {}", failures.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small program built by rustc as the release profile builds (size-optimized,
    /// stripped) with `strategy`, read back. (Not this test's own binary: it holds the
    /// markers as constants.)
    fn built_with(strategy: &str) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("build-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("main.rs");
        std::fs::write(
            &source,
            "fn main() { let n = std::env::args().count(); \
             if n > 9 { panic!(\"{n} arguments\") } println!(\"{n}\") }",
        )
        .unwrap();
        let binary = dir.join(strategy);
        let status = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
            .args([
                "-C",
                "opt-level=s",
                "-C",
                "codegen-units=1",
                "-C",
                "strip=symbols",
            ])
            .arg("-C")
            .arg(format!("panic={strategy}"))
            .arg("-o")
            .arg(&binary)
            .arg(&source)
            .status()
            .unwrap();
        assert!(status.success());
        let bytes = std::fs::read(&binary).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        bytes
    }

    #[test]
    fn a_binary_tells_its_panic_strategy() {
        assert_eq!(
            panic_strategy(&built_with("unwind")).unwrap(),
            PanicStrategy::Unwind
        );
        assert_eq!(
            panic_strategy(&built_with("abort")).unwrap(),
            PanicStrategy::Abort
        );
    }

    #[test]
    fn panic_abort_source_path_means_abort_and_neither_marker_is_an_error() {
        let aborting = b"...\0/rustc/0123/library/panic_abort/src/lib.rs\0...";
        assert_eq!(panic_strategy(aborting).unwrap(), PanicStrategy::Abort);
        assert!(panic_strategy(b"nothing to go by").is_err());
    }

    #[test]
    fn the_workspace_release_profile_names_its_panic_strategy() {
        assert!(release_profile_panic(&crate::workspace_root()).is_ok());
    }
}
