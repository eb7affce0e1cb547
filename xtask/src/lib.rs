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
//! - [`openapi`]: openapi.yaml, the API description the gateway serves at `/openapi.json`.
//! - [`api_reference`]: the gateway's `/docs` page, Swagger UI from the npm registry.
//! - [`npm`]: packages from the npm registry, installed under `target/tools/npm/`.
//! - [`typed_client`]: the TypeScript client's types regenerated and type-checked.
//! - [`browser`]: Debian's Chromium, headless, for the API reference page's test.
//! - [`routes`]: `cargo xtask routes`, the cargo-lambda router and template.yaml's events from
//!   the route tables.
//! - [`fuzz`]: `cargo xtask fuzz-api`, schemathesis against the local stack.
//! - [`smoke`]: `cargo xtask smoke`, every HTTP function's binary behind `cargo lambda watch`.
//! - [`runtime_api`]: a minimal Lambda Runtime API to run a function's binary as Lambda does.
//! - [`audit_verify`]: `cargo xtask audit-verify`, the audit chains recomputed outside the
//!   database and held to their anchors in S3.
//! - [`build_check`]: `cargo xtask build-check`, a function built as `sam build` builds it, and
//!   its artifact's panic strategy held to the release profile.
//! - [`cold_start`]: `cargo xtask bench cold-start`, spawn to first answer per release binary.
//! - [`FUNCTIONS`]: the deployable functions, the registry the gateway, the route generator and
//!   the route checks use.

pub mod api_reference;
pub mod audit_verify;
pub mod browser;
pub mod build_check;
pub mod cold_start;
pub mod demo;
pub mod fuzz;
pub mod gateway;
pub mod keys;
pub mod moto;
pub mod npm;
pub mod openapi;
pub mod pg;
pub mod pharmacy;
pub mod routes;
pub mod runtime_api;
pub mod smoke;
pub mod stack;
pub mod tools;
pub mod typed_client;

use wardline_shared::http::Function;

/// Every HTTP function: the route table is their `routes`.
pub const FUNCTIONS: &[&Function] = &[
    &tenant_doctors::FUNCTION,
    &sessions_hold::FUNCTION,
    &confirm_booking::FUNCTION,
    &schedule::FUNCTION,
    &assign::FUNCTION,
    &portal_otp::FUNCTION,
    &portal::FUNCTION,
    &inbox::FUNCTION,
    &provider_webhooks::FUNCTION,
    &provider_queue::FUNCTION,
    &availability::FUNCTION,
    &records::FUNCTION,
    &intake::FUNCTION,
    &directory::FUNCTION,
    &audit_trail::FUNCTION,
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

/// Removes what `cargo run` set for xtask itself (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, …)
/// from a command that runs cargo. Build scripts such as ring's declare `rerun-if-env-changed`
/// on these, and cargo compares them with its own environment: a nested cargo that inherits
/// them reruns those scripts and rebuilds everything above them, and so does the next cargo
/// run from a shell.
pub fn without_xtask_env(command: &mut std::process::Command) -> &mut std::process::Command {
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("CARGO_PKG_")
            || matches!(
                name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_RUSTC_CURRENT_DIR"
            )
        {
            command.env_remove(name);
        }
    }
    command
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
