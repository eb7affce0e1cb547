//! Debian's Chromium, headless, for tests of pages the local gateway serves (the API
//! reference). Installed with apt when missing. Every Chromium started here runs in a process
//! group of its own that is killed when the call returns, however it returns (a time-out, a
//! panic), and by a watchdog should this process end first: no browser outlives its test.

use crate::{target_dir, tools};
use anyhow::{bail, Context as _, Result};
use std::{
    io::Read as _,
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Debian's Chromium, installing the `chromium` package if it is missing.
pub fn chromium() -> Result<PathBuf> {
    if !std::path::Path::new(CHROMIUM).exists() {
        tools::apt_install(&["chromium"])?;
    }
    Ok(PathBuf::from(CHROMIUM))
}

/// The DOM of `url` serialized after its scripts had `budget` of virtual time (Chromium's
/// `--dump-dom`; virtual time waits for the page's own requests). Fails when Chromium is not
/// done within `timeout`.
pub fn dump_dom(url: &str, budget: Duration, timeout: Duration) -> Result<String> {
    let chromium = chromium()?;
    let profile = target_dir()
        .join("tmp")
        .join(format!("chromium-{}", std::process::id()));
    std::fs::create_dir_all(&profile)?;
    let mut command = Command::new(chromium);
    command
        // As the probe of this machine kind found: no sandbox as root, and none of the
        // background connections a closed network refuses.
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Tall enough that a page rendering only what is in view (Swagger UI virtualizes
            // a list of 150 items or more) renders all of it.
            "--window-size=1280,30000",
            "--dump-dom",
        ])
        .arg(format!("--virtual-time-budget={}", budget.as_millis()))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().context("starting chromium")?;
    let group = Group(child.id());
    tools::when_gone(
        Command::new("sh"),
        std::process::id(),
        &format!("kill -KILL -- -{} 2>/dev/null", group.0),
    )?;
    let mut stdout = child.stdout.take().context("chromium's stdout")?;
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        stdout.read_to_string(&mut dom).map(|_| dom)
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            drop(group);
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&profile);
            bail!("chromium did not finish {url} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(group);
    let dom = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reading chromium's output panicked"))??;
    let _ = std::fs::remove_dir_all(&profile);
    if !status.success() {
        bail!("chromium {url} exited with {status}");
    }
    Ok(dom)
}

/// A process group, killed when dropped (what is left of it: Chromium's renderer and helper
/// processes share the group).
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
