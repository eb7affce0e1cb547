//! The pool and the one runner every request's SQL goes through. A request is one statement,
//! `SELECT api.<operation>($claims, $input)`, whose SQL function begins the request itself
//! (`auth.begin_request`), all in the statement's own transaction. Claims and role are
//! transaction-local, so a pooled connection never carries one caller into the next request.

use crate::auth::Claims;
use crate::config::{DbConfig, SslMode};
use crate::error::Error;
use deadpool_postgres::{
    HookError, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime,
};
use serde_json::Value;
use std::{sync::Arc, time::Duration};
use tokio_postgres::types::Type;

/// A Wardline SQL entry point `api.<name>(claims jsonb, input jsonb) returns jsonb`. Build it
/// with [`operation!`](crate::operation), which writes its SQL at compile time.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    name: &'static str,
    sql: &'static str,
}

impl Operation {
    /// Checked at compile time when used in a `const`: the name must be a plain identifier.
    pub const fn new(name: &'static str, sql: &'static str) -> Operation {
        let bytes = name.as_bytes();
        assert!(!bytes.is_empty(), "operation name is empty");
        let mut i = 0;
        while i < bytes.len() {
            assert!(
                bytes[i].is_ascii_lowercase() || bytes[i] == b'_' || bytes[i].is_ascii_digit(),
                "operation names are lower_snake_case identifiers"
            );
            i += 1;
        }
        Operation { name, sql }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn sql(&self) -> &'static str {
        self.sql
    }
}

/// `operation!("tenant_doctors")` is the entry point `api.tenant_doctors`.
#[macro_export]
macro_rules! operation {
    ($name:literal) => {
        $crate::db::Operation::new($name, concat!("select api.", $name, "($1, $2)"))
    };
}

/// The pool, built once per container. Connections are made on first use.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
}

impl Db {
    pub fn new(config: &DbConfig) -> Result<Db, Error> {
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| Error::internal(format!("DATABASE_URL: {e}")))?;
        pg.connect_timeout(config.connect_timeout);
        if pg.get_application_name().is_none() {
            pg.application_name("wardline");
        }
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match config.ssl_mode {
            SslMode::Disable => Manager::from_config(pg, tokio_postgres::NoTls, manager_config),
            SslMode::VerifyFull => {
                pg.ssl_mode(tokio_postgres::config::SslMode::Require);
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(config)?);
                Manager::from_config(pg, tls, manager_config)
            }
        };
        let verify_after = config.verify_after_idle;
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(config.connect_timeout))
            .pre_recycle(deadpool_postgres::Hook::async_fn(move |client, metrics| {
                let stale = metrics.last_used() >= verify_after;
                Box::pin(async move {
                    if stale {
                        client.simple_query("").await.map_err(HookError::Backend)?;
                    }
                    Ok(())
                })
            }))
            .build()
            .map_err(|e| Error::internal(format!("database pool: {e}")))?;
        Ok(Db { pool })
    }

    /// A pooled connection as `wardline_authenticator`, with no claims: it can call `api.*`
    /// and nothing else. Handlers use [`Db::call`]; this is for health checks and tests.
    pub async fn client(&self) -> Result<Object, Error> {
        self.pool.get().await.map_err(|e| {
            tracing::error!(error = %e, "database connection unavailable");
            Error::unavailable(
                "database_unavailable",
                "The database cannot be reached right now. Try again shortly.",
            )
        })
    }

    /// Runs a request as one statement in one round trip: `SELECT api.<op>($claims, $input)`.
    /// A committed failure (`api.committed_failure`: the work is kept, e.g. a counted wrong
    /// code) comes back as its error.
    pub async fn call(
        &self,
        op: Operation,
        claims: &Claims,
        input: &Value,
    ) -> Result<Value, Error> {
        let claims = claims_json(claims)?;
        let client = self.client().await?;
        let row = client
            .query_typed_one(op.sql(), &[(&claims, Type::JSONB), (input, Type::JSONB)])
            .await?;
        let value: Option<Value> = row.try_get(0)?;
        match value {
            Some(value) => match Error::committed(&value) {
                Some(error) => Err(error),
                None => Ok(value),
            },
            None => Ok(Value::Null),
        }
    }

    /// [`Db::call`] for answers Rust reads field by field: deserialized into `T`, so a renamed
    /// or missing key is a 500 naming the operation, never a silent default.
    pub async fn answer<T: serde::de::DeserializeOwned>(
        &self,
        op: Operation,
        claims: &Claims,
        input: &Value,
    ) -> Result<T, Error> {
        let value = self.call(op, claims, input).await?;
        serde_json::from_value(value).map_err(|e| {
            Error::internal(format!(
                "api.{} answered in an unexpected shape: {e}",
                op.name()
            ))
        })
    }
}

/// What `auth.begin_request` receives. An anonymous call has no identity at all: only its
/// request id, which makes it `app_anon`.
fn claims_json(claims: &Claims) -> Result<Value, Error> {
    if claims.app_role == crate::auth::AppRole::Anonymous {
        return Ok(serde_json::json!({ "request_id": claims.request_id }));
    }
    serde_json::to_value(claims).map_err(Error::internal)
}

fn tls_config(config: &DbConfig) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system bundle may hold certificates rustls cannot use; skipping them is what
        // every rustls client does.
        if let Err(e) = roots.add(cert) {
            tracing::debug!(error = %e, "skipped a system root certificate");
        }
    }
    if let Some(path) = &config.ca_file {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| Error::internal(format!("WARDLINE_DB_CA_FILE: {e}")))?;
        for cert in certs {
            let cert = cert.map_err(|e| Error::internal(format!("WARDLINE_DB_CA_FILE: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::internal(format!("WARDLINE_DB_CA_FILE: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::internal)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
