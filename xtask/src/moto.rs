//! A local S3 and Secrets Manager: moto's server on a free loopback port, so the
//! provider-queue tests and the local stack need no AWS account.

use crate::{
    target_dir,
    tools::{python_tool, when_gone},
};
use anyhow::{Context as _, Result};
use std::{
    fs::File,
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// moto's server (PyPI `moto[server]`), installed into target/tools/venv on first use: the
/// S3 and Secrets Manager the provider-queue tests and the local stack talk to.
pub const MOTO_REQUIREMENT: &str = "moto[server]==5.1.18";

/// How long `start` waits for the server to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts with a fresh port when another process takes the chosen one first.
const PORT_ATTEMPTS: usize = 3;

/// A running `moto_server`, stopped when dropped or, at the latest, when this process ends.
pub struct Moto {
    /// `http://127.0.0.1:PORT`, the endpoint URL for every AWS client.
    pub endpoint: String,
    child: Child,
}

/// AWS SDK settings that reach a moto server at `endpoint` (it takes any credentials).
pub fn sdk_config_at(endpoint: &str) -> aws_config::SdkConfig {
    use aws_sdk_s3::config::{Credentials, Region, SharedCredentialsProvider};
    aws_config::SdkConfig::builder()
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "local", "local", None, None, "moto",
        )))
        .endpoint_url(endpoint)
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

/// An S3 client of the moto server at `endpoint` (objects addressed by path, as local servers
/// need).
pub fn s3_at(endpoint: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk_config_at(endpoint))
            .force_path_style(true)
            .build(),
    )
}

impl Moto {
    /// AWS SDK settings that reach this server.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_at(&self.endpoint)
    }

    /// An S3 client of this server.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        s3_at(&self.endpoint)
    }

    pub async fn create_bucket(&self, name: &str) -> Result<()> {
        self.s3()
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "creating bucket {name}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )
            })?;
        Ok(())
    }

    /// A bucket for audit anchors as template.yaml makes it: Object Lock on (versioning with
    /// it) and a default retention of `days` in compliance mode.
    pub async fn create_anchor_bucket(&self, name: &str, days: i32) -> Result<()> {
        use aws_sdk_s3::types::{
            DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
            ObjectLockRule,
        };
        let failed = |e: String| anyhow::anyhow!("making anchor bucket {name}: {e}");
        let s3 = self.s3();
        s3.create_bucket()
            .bucket(name)
            .object_lock_enabled_for_bucket(true)
            .send()
            .await
            .map_err(|e| failed(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        let retention = DefaultRetention::builder()
            .mode(ObjectLockRetentionMode::Compliance)
            .days(days)
            .build();
        s3.put_object_lock_configuration()
            .bucket(name)
            .object_lock_configuration(
                ObjectLockConfiguration::builder()
                    .object_lock_enabled(ObjectLockEnabled::Enabled)
                    .rule(
                        ObjectLockRule::builder()
                            .default_retention(retention)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| failed(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// Keeps every version of every object put to the bucket, so a test can count the puts.
    pub async fn version_bucket(&self, name: &str) -> Result<()> {
        use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
        self.s3()
            .put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "versioning bucket {name}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )
            })?;
        Ok(())
    }

    pub async fn create_secret(&self, name: &str, value: &str) -> Result<()> {
        aws_sdk_secretsmanager::Client::new(&self.sdk_config())
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "creating secret {name}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })?;
        Ok(())
    }

    /// Starts moto_server on a free 127.0.0.1 port and waits (up to ~30 s) until it answers HTTP.
    /// Its output goes to `target/tools/moto-<port>.log`, keeping test output clean.
    pub fn start() -> Result<Moto> {
        let server = python_tool("moto_server", MOTO_REQUIREMENT)?;
        let mut attempt = 1;
        loop {
            match Self::start_with(&server) {
                // The port was free when chosen but taken before moto bound it.
                Err(Exit::AddressInUse(_)) if attempt < PORT_ATTEMPTS => attempt += 1,
                Err(Exit::AddressInUse(e) | Exit::Other(e)) => return Err(e),
                Ok(moto) => return Ok(moto),
            }
        }
    }

    fn start_with(server: &Path) -> Result<Moto, Exit> {
        let port = free_port().map_err(Exit::Other)?;
        let log = target_dir().join("tools").join(format!("moto-{port}.log"));
        let out = File::create(&log)
            .with_context(|| format!("creating {}", log.display()))
            .map_err(Exit::Other)?;
        let err = out.try_clone().map_err(|e| Exit::Other(e.into()))?;
        let child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", server.display()))
            .map_err(Exit::Other)?;
        // From here on, dropping `moto` (on any error) stops the child, and the watchdog stops
        // it when nothing drops it (the tests keep theirs in a static). It checks the pid is
        // still moto's first, since it may run long after the child was stopped and reaped.
        let pid = child.id();
        let mut moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        when_gone(
            Command::new("sh"),
            std::process::id(),
            &format!("grep -q moto_server /proc/{pid}/cmdline 2>/dev/null && kill {pid}"),
        )
        .map_err(Exit::Other)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = moto.child.try_wait().map_err(|e| Exit::Other(e.into()))? {
                let tail = log_tail(&log);
                let error = anyhow::anyhow!(
                    "moto_server exited ({status}) before answering; {}:\n{tail}",
                    log.display()
                );
                return Err(if tail.contains("Address already in use") {
                    Exit::AddressInUse(error)
                } else {
                    Exit::Other(error)
                });
            }
            if answers_http(addr) {
                return Ok(moto);
            }
            if Instant::now() >= deadline {
                return Err(Exit::Other(anyhow::anyhow!(
                    "moto_server did not answer on {} within {READY_TIMEOUT:?}; {}:\n{}",
                    moto.endpoint,
                    log.display(),
                    log_tail(&log)
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Kill is a no-op success if the child already exited; wait reaps it either way.
        if let Err(e) = self.child.kill().and_then(|()| self.child.wait()) {
            eprintln!("stopping moto_server at {}: {e}", self.endpoint);
        }
    }
}

/// Why one attempt failed: a lost race for the port is worth retrying, anything else is not.
enum Exit {
    AddressInUse(anyhow::Error),
    Other(anyhow::Error),
}

/// A port the kernel considers free now (the listener is closed before returning).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("choosing a port for moto_server")?;
    Ok(listener.local_addr()?.port())
}

/// Whether an HTTP server on `addr` answers `GET /moto-api/` with a status line.
fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let timeout = Some(Duration::from_secs(2));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return false;
    }
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: x\r\n\r\n")
        .is_err()
    {
        return false;
    }
    // The status line ("HTTP/1.x NNN ...") is all readiness needs.
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    head.starts_with(b"HTTP/") && head.contains(&b'\n')
}

/// The last lines of moto's log, for error messages.
fn log_tail(log: &Path) -> String {
    match std::fs::read_to_string(log) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        }
        Err(e) => format!("(could not read the log: {e})"),
    }
}
