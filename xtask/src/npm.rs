//! Packages from the npm registry for the developer tools (the typed client's compiler, the
//! API reference page): each committed `package.json` + `package-lock.json` is installed with
//! `npm ci` into its own folder under `target/tools/npm/`, never into the source tree. Node.js
//! and npm come from Debian (`nodejs npm`) when the machine has no npm.

use crate::{pg::run_quiet, target_dir, tools::apt_install};
use anyhow::{Context as _, Result};
use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Makes sure `npm` (and so `node`) is on the PATH, installing Debian's packages if not.
fn ensure_npm() -> Result<()> {
    let works = |program: &str| {
        Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works("npm") && works("node") {
        return Ok(());
    }
    apt_install(&["nodejs", "npm"])?;
    anyhow::ensure!(works("npm"), "npm was installed but does not run");
    Ok(())
}

/// `target/tools/npm/<name>` with the packages of `source` (a folder holding `package.json`
/// and `package-lock.json`) installed as its lockfile pins them. A second call with the same
/// lockfile installs nothing. Install scripts are not run (none of these packages needs one,
/// and one would phone home). Safe to call from several processes at once.
pub fn install(source: &Path, name: &str) -> Result<PathBuf> {
    let dir = target_dir().join("tools").join("npm").join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let _lock = crate::tools::exclusive_lock(&dir.with_extension("lock"))?;
    let read =
        |path: PathBuf| std::fs::read(&path).with_context(|| format!("reading {}", path.display()));
    let (manifest, lockfile) = (
        read(source.join("package.json"))?,
        read(source.join("package-lock.json"))?,
    );
    // What was installed last: the lockfile it was installed from, kept beside node_modules.
    let installed_from = dir.join("node_modules").join(".installed-from.json");
    if std::fs::read(&installed_from).is_ok_and(|installed| installed == lockfile) {
        return Ok(dir);
    }
    ensure_npm()?;
    std::fs::write(dir.join("package.json"), &manifest)?;
    std::fs::write(dir.join("package-lock.json"), &lockfile)?;
    eprintln!("installing {name}'s npm packages into {}", dir.display());
    let mut ci = Command::new("npm");
    ci.args([
        "ci",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
    ])
    .current_dir(&dir);
    run_quiet(ci).with_context(|| format!("npm ci in {}", dir.display()))?;
    std::fs::write(&installed_from, &lockfile)?;
    Ok(dir)
}

/// A command from an installed package's `node_modules/.bin`.
pub fn bin(dir: &Path, command: &str) -> Command {
    let mut run = Command::new(dir.join("node_modules").join(".bin").join(command));
    run.current_dir(dir);
    run
}
