//! The typed TypeScript client (`clients/typescript/`) as `cargo xtask test` checks it: the
//! types generated again from `openapi.yaml` by openapi-typescript, then the example that
//! calls the API through openapi-fetch compiled with `tsc --noEmit` under `strict`, so a
//! breaking change of the contract is a compile error. Everything happens in a copy under
//! `target/tools/npm/typescript-client`; the source tree gets no `node_modules` or types.

use crate::{npm, pg::run_quiet, workspace_root};
use anyhow::{Context as _, Result};
use std::path::Path;

/// Generates the types and type-checks the example; fails with tsc's errors.
pub fn check() -> Result<()> {
    let source = workspace_root().join("clients").join("typescript");
    let dir = npm::install(&source, "typescript-client")?;
    let src = dir.join("src");
    // The sources as committed now: nothing left from an earlier run may be compiled.
    if src.exists() {
        std::fs::remove_dir_all(&src)?;
    }
    copy_dir(&source.join("src"), &src)?;
    std::fs::copy(source.join("tsconfig.json"), dir.join("tsconfig.json"))?;

    let mut generate = npm::bin(&dir, "openapi-typescript");
    generate
        .arg(workspace_root().join("openapi.yaml"))
        .arg("--output")
        .arg(src.join("schema.d.ts"));
    run_quiet(generate).context("openapi-typescript openapi.yaml")?;
    let mut tsc = npm::bin(&dir, "tsc");
    tsc.args(["--noEmit", "-p", "."]);
    run_quiet(tsc)
        .context("tsc --noEmit: the typed client no longer compiles against openapi.yaml")?;
    println!(
        "typed client: types regenerated from openapi.yaml, {} type-checked (strict)",
        source.join("src").display()
    );
    Ok(())
}

/// Copies the files of `from` into `to` (one level: the example has no subfolders), leaving
/// out a `schema.d.ts` generated there by `npm run generate`.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() && entry.file_name() != "schema.d.ts" {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}
