//! Wardline's developer entry points (`cargo xtask local | token | test`) and the pieces the
//! integration tests reuse:
//!
//! - [`pg`]: a private PostgreSQL cluster under `target/`.
//! - [`keys`]: the development ES256 key, its JWKS and token minting.
//! - [`demo`]: the demo clinics, clinicians and patients of the local stack.
//! - [`stack`]: the local stack's database, keys and function environment.
//! - [`gateway`]: every function behind one local HTTP server.
//! - [`tools`]: Python tools from PyPI, installed on first use into `target/tools/venv`.
//! - [`moto`]: moto's server, the local S3 and Secrets Manager.
//! - [`pharmacy`]: a stand-in for the pharmacy's prescription API.
//! - [`FUNCTIONS`]: the deployable functions, the registry the gateway and route checks use.

pub mod demo;
pub mod gateway;
pub mod keys;
pub mod moto;
pub mod pg;
pub mod pharmacy;
pub mod stack;
pub mod tools;

use wardline_shared::http::Function;

/// Every HTTP function, in the order of DESIGN.md's route table.
pub const FUNCTIONS: &[&Function] = &[
    &tenant_doctors::FUNCTION,
    &sessions_hold::FUNCTION,
    &confirm_booking::FUNCTION,
    &schedule::FUNCTION,
    &assign::FUNCTION,
    &portal_otp::FUNCTION,
    &provider_queue::FUNCTION,
];

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

/// `target/` of the workspace, honouring `CARGO_TARGET_DIR`.
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Connects with tokio-postgres over plain TCP (loopback only) and drives the connection.
pub async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("database connection closed: {e}");
        }
    });
    Ok(client)
}

/// `url` pointed at database `db`, optionally as another `user`, as a key=value string.
pub fn with_database(url: &str, db: &str, user: Option<&str>) -> anyhow::Result<String> {
    let config: tokio_postgres::Config = url.parse()?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut out = format!("host={} port={port} dbname={}", quote(&host), quote(db));
    match user {
        Some(user) => {
            out.push_str(&format!(" user={}", quote(user)));
            if let Ok(password) = std::env::var("WARDLINE_AUTHENTICATOR_PASSWORD") {
                out.push_str(&format!(" password={}", quote(&password)));
            }
        }
        None => {
            if let Some(user) = config.get_user() {
                out.push_str(&format!(" user={}", quote(user)));
            }
            if let Some(password) = config.get_password() {
                out.push_str(&format!(
                    " password={}",
                    quote(&String::from_utf8_lossy(password))
                ));
            }
        }
    }
    Ok(out)
}
