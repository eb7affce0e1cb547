//! A private PostgreSQL cluster under `target/`, for the local stack and the tests. Uses the
//! system's server binaries, installing them with apt when they are missing. `initdb` refuses
//! to run as root, so as root every server command runs as the unprivileged `postgres` user.
//! A watchdog stops the cluster when the process that started it exits, however it exits.

use anyhow::{bail, Context as _, Result};
use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

const SERVICE_USER: &str = "postgres";
/// Where a cluster lives when the service user cannot reach the directory it was given.
const FALLBACK_PARENT: &str = "/var/tmp/wardline-pg";

/// A running cluster: superuser `postgres`, trust authentication on 127.0.0.1 only.
pub struct Cluster {
    pub port: u16,
    pub dir: PathBuf,
    bin: PathBuf,
}

/// How the cluster is tuned: durable for the local stack, fast and throwaway for tests.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Durable,
    /// fsync off; the directory is removed when the owning process exits.
    Throwaway,
}

impl Cluster {
    /// Initialises `dir` if needed and starts the server on a free port.
    pub fn start(dir: &Path, durability: Durability) -> Result<Cluster> {
        Cluster::start_preferring(dir, durability, None)
    }

    /// As [`Cluster::start`], on `port` when it is free (a URL that stays the same between
    /// runs, for the local stack), else on any free port.
    pub fn start_preferring(
        dir: &Path,
        durability: Durability,
        port: Option<u16>,
    ) -> Result<Cluster> {
        let bin = server_binaries()?;
        let dir = reachable_directory(dir)?;
        if durability == Durability::Throwaway {
            // The watchdog, running as the service user, removes `dir` from its parent.
            if let Some(parent) = dir.parent() {
                hand_to_service_user(parent, false)?;
            }
        }
        let data = dir.join("data");
        if !data.join("PG_VERSION").exists() {
            let mut initdb = server_command(&bin.join("initdb"));
            initdb.arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]);
            run_quiet(initdb).context("initdb")?;
        }
        let port = match port.filter(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            Some(port) => port,
            None => free_port()?,
        };
        // TCP on loopback only; no Unix socket (a deep target/ path would not fit one).
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' \
             -c max_connections=300 -c shared_preload_libraries=pg_stat_statements \
             -c log_min_messages=warning"
        );
        if durability == Durability::Throwaway {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let mut start = server_command(&bin.join("pg_ctl"));
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        run_quiet(pinned(start)).with_context(|| {
            format!(
                "starting PostgreSQL (log: {})",
                dir.join("server.log").display()
            )
        })?;
        let cluster = Cluster { port, dir, bin };
        cluster.watch(std::process::id(), durability == Durability::Throwaway)?;
        Ok(cluster)
    }

    /// `postgres://postgres@127.0.0.1:<port>/<db>`: the superuser, for migrations and fixtures.
    pub fn admin_url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// What the functions log in as.
    pub fn app_url(&self, db: &str) -> String {
        format!(
            "postgres://wardline_authenticator@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// Stops the server now (Ctrl-C in the local stack).
    pub fn stop(&self) -> Result<()> {
        let mut stop = server_command(&self.bin.join("pg_ctl"));
        stop.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "stop"]);
        run_quiet(stop)
    }

    /// Restarts the server as an operator's `pg_ctl restart -m fast` does: every backend is
    /// terminated (57P01), then the server starts with the same options; returns once it
    /// accepts connections again. For the tests that prove a restart costs no request a 500.
    pub fn restart(&self) -> Result<()> {
        let mut restart = server_command(&self.bin.join("pg_ctl"));
        restart
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-m", "fast", "-w", "-t", "60", "restart"]);
        run_quiet(pinned(restart)).context("restarting PostgreSQL")
    }

    /// Copies a server certificate and key (PEM) into the cluster's directory, where the
    /// server may read them (owned by the service user, the key 0600), and returns their paths
    /// for `ssl_cert_file` and `ssl_key_file` (then `ssl = on` and a reload turn TLS on).
    pub fn install_tls(&self, cert: &Path, key: &Path) -> Result<(PathBuf, PathBuf)> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.dir.join("tls");
        std::fs::create_dir_all(&dir)?;
        let (cert_to, key_to) = (dir.join("server.crt"), dir.join("server.key"));
        std::fs::copy(cert, &cert_to).context("copying the server certificate")?;
        std::fs::copy(key, &key_to).context("copying the server key")?;
        std::fs::set_permissions(&key_to, std::fs::Permissions::from_mode(0o600))?;
        hand_to_service_user(&dir, true)?;
        Ok((cert_to, key_to))
    }

    /// A watchdog that stops the server (and removes a throwaway cluster) once `pid` is gone.
    fn watch(&self, pid: u32, remove: bool) -> Result<()> {
        let mut then = format!(
            "'{}' -D '{}' -m immediate stop >/dev/null 2>&1",
            self.bin.join("pg_ctl").display(),
            self.dir.join("data").display()
        );
        if remove {
            then.push_str(&format!("; rm -rf '{}'", self.dir.display()));
        }
        crate::tools::when_gone(as_service_user("sh"), pid, &then)
            .context("starting the cluster watchdog")
    }
}

/// The port of the server running on the cluster `wanted` names (as [`Cluster::start`] was
/// given it, so also when it lives under the fallback directory), read from its
/// `postmaster.pid`; `None` when no server runs there.
pub fn running_port(wanted: &Path) -> Option<u16> {
    let fallback = Path::new(FALLBACK_PARENT).join(wanted.file_name()?);
    [wanted.to_path_buf(), fallback].iter().find_map(|dir| {
        // Lines: pid, data directory, start time, port, socket directory, address, …
        let pid_file = std::fs::read_to_string(dir.join("data").join("postmaster.pid")).ok()?;
        let mut lines = pid_file.lines();
        let pid = lines.next()?.trim();
        let port = lines.nth(2)?.trim().parse().ok()?;
        Path::new("/proc").join(pid).exists().then_some(port)
    })
}

/// The directory holding `initdb` and `pg_ctl`, installing PostgreSQL with apt if needed, and
/// the plpgsql_check extension for that version (the static check of every PL/pgSQL function
/// that `cargo xtask test` runs).
pub fn server_binaries() -> Result<PathBuf> {
    let bin = match find_binaries() {
        Some(bin) => bin,
        None => {
            crate::tools::apt_install(&["postgresql", "postgresql-contrib"])?;
            find_binaries().context("PostgreSQL was installed but its binaries were not found")?
        }
    };
    let version = bin
        .parent()
        .and_then(Path::file_name)
        .and_then(|v| v.to_str())
        .context("PostgreSQL's binaries are not under /usr/lib/postgresql/<version>/bin")?;
    let control = format!("/usr/share/postgresql/{version}/extension/plpgsql_check.control");
    if !Path::new(&control).exists() {
        crate::tools::apt_install(&[&format!("postgresql-{version}-plpgsql-check")])?;
    }
    Ok(bin)
}

fn find_binaries() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

fn as_service_user(program: &str) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", SERVICE_USER, "--", program]);
        command
    } else {
        Command::new(program)
    }
}

/// `command` under `taskset -c $WARDLINE_PG_CPUS` when that is set (e.g. `0`): the server and
/// every backend it forks stay on those CPUs, so a benchmark can keep them apart from its load.
fn pinned(command: Command) -> Command {
    match std::env::var("WARDLINE_PG_CPUS") {
        Ok(cpus) => {
            let mut taskset = Command::new("taskset");
            taskset
                .arg("-c")
                .arg(cpus)
                .arg(command.get_program())
                .args(command.get_args());
            taskset
        }
        Err(_) => command,
    }
}

fn server_command(program: &Path) -> Command {
    as_service_user(&program.display().to_string())
}

fn hand_to_service_user(dir: &Path, recursive: bool) -> Result<()> {
    if is_root() {
        let mut chown = Command::new("chown");
        if recursive {
            chown.arg("-R");
        }
        chown.arg(format!("{SERVICE_USER}:")).arg(dir);
        run_quiet(chown)?;
    }
    Ok(())
}

/// `wanted`, created and owned by the service user, or, when that user cannot reach it (a
/// checkout under /root, say), a directory of the same name under /var/tmp/wardline-pg.
fn reachable_directory(wanted: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(wanted).with_context(|| format!("creating {}", wanted.display()))?;
    let wanted = wanted.canonicalize()?;
    hand_to_service_user(&wanted, true)?;
    if !is_root() || service_user_can_write(&wanted) {
        return Ok(wanted);
    }
    let name = wanted.file_name().unwrap_or_default();
    let fallback = Path::new(FALLBACK_PARENT).join(name);
    eprintln!(
        "note: the {SERVICE_USER} user cannot reach {}; the cluster lives in {} instead",
        wanted.display(),
        fallback.display()
    );
    std::fs::create_dir_all(&fallback)?;
    hand_to_service_user(&fallback, true)?;
    Ok(fallback)
}

fn service_user_can_write(dir: &Path) -> bool {
    as_service_user("test")
        .arg("-w")
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs a command, showing its output only when it fails.
pub fn run_quiet(mut command: Command) -> Result<()> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
