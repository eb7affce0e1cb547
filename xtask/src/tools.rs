//! What the developer tools install on first use: Debian packages with apt (as root), and
//! Python command-line tools from PyPI (cfn-lint and its serverless rules, moto's server) into
//! one virtual environment under `target/tools/venv`, so nothing outside `target/` changes
//! beyond apt's packages.

use crate::{pg::run_quiet, target_dir};
use anyhow::{Context as _, Result};
use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// Runs `then` with `shell` (`sh`, as whichever user must run it) once process `pid` is gone,
/// from a detached watchdog: what xtask starts (a cluster, moto's server) is stopped however
/// the process that started it ends — a panic, Ctrl-C, or a test binary's statics, which Rust
/// never drops. The watchdog has a process group of its own, so Ctrl-C sent to ours does not
/// stop it first.
pub(crate) fn when_gone(mut shell: Command, pid: u32, then: &str) -> Result<()> {
    shell
        .args([
            "-c",
            &format!("while [ -d /proc/{pid} ]; do sleep 0.5; done; {then}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut shell, 0);
    shell.spawn().context("starting a watchdog")?;
    Ok(())
}

/// The path of `command` from PyPI's `requirement` (e.g. `"cfn-lint==1.58.0"`), installing it
/// into `target/tools/venv` when it is missing.
pub fn python_tool(command: &str, requirement: &str) -> Result<PathBuf> {
    python_tool_in("venv", command, requirement)
}

/// [`python_tool`] in a venv of its own, `target/tools/<venv>`: for a tool whose pinned
/// dependencies would move the shared venv's (aws-sam-cli pins boto3, cfn-lint and more).
pub fn python_tool_in(venv: &str, command: &str, requirement: &str) -> Result<PathBuf> {
    let venv = tools_dir().join(venv);
    let tool = venv.join("bin").join(command);
    install_once(&venv, requirement, || tool.exists())?;
    if !tool.exists() {
        anyhow::bail!(
            "pip install {requirement} did not provide {}",
            tool.display()
        );
    }
    Ok(tool)
}

/// Installs PyPI's `requirement` into `target/tools/venv` unless the venv's Python can import
/// `module` already: for packages without a command, such as cfn-lint's rule plugins.
pub fn python_module(module: &str, requirement: &str) -> Result<()> {
    let venv = tools_dir().join("venv");
    let importable = || {
        Command::new(venv.join("bin").join("python3"))
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    install_once(&venv, requirement, importable)?;
    if !importable() {
        anyhow::bail!("pip install {requirement} did not provide the module {module}");
    }
    Ok(())
}

fn tools_dir() -> PathBuf {
    target_dir().join("tools")
}

/// `pip install requirement` into `venv` (created if needed) unless `installed()`. Safe to
/// call from several processes at once (test binaries run in parallel): creating and
/// installing happen under an exclusive lock on `target/tools/<venv>.lock`.
fn install_once(venv: &Path, requirement: &str, installed: impl Fn() -> bool) -> Result<()> {
    if installed() {
        return Ok(());
    }
    let tools = tools_dir();
    std::fs::create_dir_all(&tools).with_context(|| format!("creating {}", tools.display()))?;
    let _lock = exclusive_lock(&venv.with_extension("lock"))?;
    // Another process may have installed it while this one waited for the lock.
    if installed() {
        return Ok(());
    }
    let pip = venv.join("bin").join("pip");
    if !pip.exists() {
        // Absent, or left without pip by a `python3 -m venv` that failed part-way.
        create_venv(venv)?;
    }
    let mut install = Command::new(&pip);
    install.args(["install", "--quiet", requirement]);
    run_quiet(install).with_context(|| format!("pip install {requirement}"))
    // The lock is released when `_lock` is dropped.
}

/// (Re)creates the venv, installing Debian's separately packaged `python3-venv` if needed.
fn create_venv(venv: &Path) -> Result<()> {
    let mut create = Command::new("python3");
    create.args(["-m", "venv", "--clear"]).arg(venv);
    if run_quiet(create).is_ok() {
        return Ok(());
    }
    apt_install(&["python3-venv"])?;
    let mut create = Command::new("python3");
    create.args(["-m", "venv", "--clear"]).arg(venv);
    run_quiet(create).with_context(|| format!("creating {}", venv.display()))
}

/// Installs Debian packages with apt-get (after refreshing its lists). Only root may: anyone
/// else is told the command to run.
pub fn apt_install(packages: &[&str]) -> Result<()> {
    let line = packages.join(" ");
    if !crate::pg::is_root() {
        anyhow::bail!("missing Debian packages; install them with: sudo apt-get install -y {line}");
    }
    eprintln!("installing with apt-get: {line}");
    let mut update = Command::new("apt-get");
    update.arg("update");
    run_quiet(update).context("apt-get update")?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    run_quiet(install).with_context(|| format!("apt-get install {line}"))
}

/// An exclusive lock on the file at `path` (made if missing), held until the returned file is
/// dropped: installs that several processes may start at once take turns.
pub fn exclusive_lock(path: &Path) -> Result<File> {
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(lock)
}
