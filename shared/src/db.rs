//! The pool and the one runner every request's SQL goes through. A request is one statement,
//! `SELECT api.<operation>($claims, $input)`, whose SQL function begins the request itself
//! (`auth.begin_request`), all in the statement's own transaction. Claims and role are
//! transaction-local, so a pooled connection never carries one caller into the next request.
//!
//! Faults: a connection that failed never goes back to the pool, and its failure retires every
//! idle connection too (after a restart or a failover they are all dead, and finding that out
//! one request at a time is a 503 each). A read, or a write the SQL keys by its
//! `Idempotency-Key`, is then run once more on a fresh connection; other writes are not, since
//! a connection lost mid-statement may have committed them.

use crate::auth::Claims;
use crate::config::{DbConfig, SslMode};
use crate::error::{is_connection_failure, Error};
use deadpool_postgres::{
    HookError, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime,
};
use serde_json::{value::RawValue, Value};
use std::{sync::Arc, time::Duration};
use tokio_postgres::types::{FromSqlOwned, Json, ToSql, Type};

/// Whether an operation may run again after its connection failed under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rerun {
    /// It only reads (and may record that it read: a rerun records a second read of PHI, never
    /// none): running it twice changes nothing else.
    Read,
    /// A write whose SQL stores its answer under the request's `Idempotency-Key`
    /// (`app.idempotency_replay`): a second run replays the first one's answer if it committed.
    Idempotent,
    /// Any other write: a lost connection may have committed it, so it is not repeated.
    Never,
}

/// A Wardline SQL entry point `api.<name>(claims jsonb, input jsonb) returns jsonb`. Build it
/// with [`operation!`](crate::operation), which writes its SQL at compile time.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    name: &'static str,
    sql: &'static str,
    rerun: Rerun,
}

impl Operation {
    /// Checked at compile time when used in a `const`: the name must be a plain identifier.
    pub const fn new(name: &'static str, rerun: Rerun, sql: &'static str) -> Operation {
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
        Operation { name, sql, rerun }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn sql(&self) -> &'static str {
        self.sql
    }

    pub fn rerun(&self) -> Rerun {
        self.rerun
    }
}

/// `operation!("assign_patient")` is the entry point `api.assign_patient`, a write that is
/// never run twice; `operation!(read "tenant_doctors")` only reads, and
/// `operation!(idempotent "hold_sessions")` is keyed by its `Idempotency-Key` (see [`Rerun`]).
///
/// The statement sets the request's `lock_timeout` transaction-locally before the entry point
/// runs (`$3`; a volatile sub-select in `FROM` is evaluated first): PostgreSQL reads
/// `lock_timeout` whenever a lock wait begins, so it applies to this very statement, and a
/// `set_config(…, true)` inside a statement leaves no session state for RDS Proxy to pin on.
#[macro_export]
macro_rules! operation {
    ($name:literal) => {
        $crate::operation!(@ $name, Never)
    };
    (read $name:literal) => {
        $crate::operation!(@ $name, Read)
    };
    (idempotent $name:literal) => {
        $crate::operation!(@ $name, Idempotent)
    };
    (@ $name:literal, $rerun:ident) => {
        $crate::db::Operation::new(
            $name,
            $crate::db::Rerun::$rerun,
            concat!(
                "select api.",
                $name,
                "($1, $2) from (select set_config('lock_timeout', $3, true)) as request"
            ),
        )
    };
}

/// The pool, built once per container. Connections are made on first use.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// The TLS a cancel request is sent with: the same as the connections'.
    cancel_tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    statement_timeout: Duration,
    /// `lock_timeout` as the statement sets it, in milliseconds.
    lock_timeout: String,
}

/// After cancelling a statement at its deadline, how long its answer (normally 57014) may take
/// before the connection is given up instead.
const CANCEL_GRACE: Duration = Duration::from_secs(1);

/// Why one attempt at a statement failed.
enum Failure {
    /// The connection failed under the statement: it may run again on a fresh one.
    Lost(tokio_postgres::Error),
    /// Anything else: the request's answer.
    Final(Error),
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
        let (manager, cancel_tls) = match config.ssl_mode {
            SslMode::Disable => (
                Manager::from_config(pg, tokio_postgres::NoTls, manager_config),
                None,
            ),
            SslMode::VerifyFull => {
                pg.ssl_mode(tokio_postgres::config::SslMode::Require);
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(config)?);
                (
                    Manager::from_config(pg, tls.clone(), manager_config),
                    Some(tls),
                )
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
        Ok(Db {
            pool,
            cancel_tls,
            statement_timeout: config.statement_timeout,
            lock_timeout: config.lock_timeout.as_millis().to_string(),
        })
    }

    /// A pooled connection as `wardline_authenticator`, with no claims: it can call `api.*`
    /// and nothing else. Handlers use [`Db::call`]; this is for health checks and tests.
    pub async fn client(&self) -> Result<Object, Error> {
        self.pool.get().await.map_err(|e| {
            tracing::error!(error = %e, "database connection unavailable");
            Error::database_unavailable(format!("database pool: {e}"))
        })
    }

    /// Runs a request as one statement in one round trip: `SELECT api.<op>($claims, $input)`.
    /// A committed failure (`api.committed_failure`: the work is kept, e.g. a counted wrong
    /// code) comes back as its error. When the connection fails under the statement, an
    /// operation that may run again ([`Rerun`]) runs once more on a fresh connection; anything
    /// else that fails to reach the database is a 503 `database_unavailable`.
    pub async fn call(
        &self,
        op: Operation,
        claims: &Claims,
        input: &Value,
    ) -> Result<Value, Error> {
        match self.run::<Value>(op, claims, input).await? {
            Some(value) => match Error::committed(&value) {
                Some(error) => Err(error),
                None => Ok(value),
            },
            None => Ok(Value::Null),
        }
    }

    /// [`Db::call`] for a read whose answer goes to the client as it is: its JSON text is
    /// passed on, never parsed into a tree and written out again (a page of 200 patients is
    /// ~90 KB, and doing both cost the gateway more than the statement). Only for
    /// `operation!(read …)`: a read has no committed failure to look for.
    pub async fn relay(
        &self,
        op: Operation,
        claims: &Claims,
        input: &Value,
    ) -> Result<Box<RawValue>, Error> {
        if op.rerun() != Rerun::Read {
            return Err(Error::internal(format!(
                "api.{} is relayed but is not a read",
                op.name()
            )));
        }
        match self.run::<Json<Box<RawValue>>>(op, claims, input).await? {
            Some(Json(raw)) => Ok(raw),
            None => RawValue::from_string("null".to_owned()).map_err(Error::internal),
        }
    }

    /// The statement, once more on a fresh connection when the first one was lost and the
    /// operation may run again.
    async fn run<T: FromSqlOwned>(
        &self,
        op: Operation,
        claims: &Claims,
        input: &Value,
    ) -> Result<Option<T>, Error> {
        let claims = claims_json(claims)?;
        // The request's database time (its metric): the wait for a connection included.
        let started = std::time::Instant::now();
        let answer = match self.attempt(op, &claims, input).await {
            Err(Failure::Lost(first)) if op.rerun() != Rerun::Never => {
                tracing::warn!(operation = op.name(), error = %first, "database connection lost; running the request again");
                self.attempt(op, &claims, input).await
            }
            other => other,
        };
        crate::metrics::add_database_time(started.elapsed());
        match answer {
            Ok(answer) => Ok(answer),
            Err(Failure::Lost(e)) => Err(Error::database_unavailable(e)),
            Err(Failure::Final(error)) => Err(error),
        }
    }

    /// One run of the statement, under the statement deadline. At the deadline the server is
    /// asked to cancel it (its answer is then 57014, or the result if it won the race), and a
    /// connection that does not answer within [`CANCEL_GRACE`] is dropped. The deadline is kept
    /// here, not as a `statement_timeout` setting: PostgreSQL arms that timer when a statement
    /// starts, so a value set inside the one statement a request is would only apply to the
    /// next, and a session-level `SET` would pin the connection in RDS Proxy. The role's own
    /// `statement_timeout` (db/migrations/0001_roles.sql) stays the server's backstop.
    async fn attempt<T: FromSqlOwned>(
        &self,
        op: Operation,
        claims: &Value,
        input: &Value,
    ) -> Result<Option<T>, Failure> {
        let client = self.client().await.map_err(Failure::Final)?;
        let cancel = client.cancel_token();
        let answered = {
            let params: [(&(dyn ToSql + Sync), Type); 3] = [
                (claims, Type::JSONB),
                (input, Type::JSONB),
                (&self.lock_timeout, Type::TEXT),
            ];
            let query = client.query_typed_one(op.sql(), &params);
            tokio::pin!(query);
            match tokio::time::timeout(self.statement_timeout, &mut query).await {
                Ok(result) => Some(result),
                Err(_) => {
                    let sent = match &self.cancel_tls {
                        None => cancel.cancel_query(tokio_postgres::NoTls).await,
                        Some(tls) => cancel.cancel_query(tls.clone()).await,
                    };
                    if let Err(e) = sent {
                        tracing::warn!(operation = op.name(), error = %e, "cancel request failed");
                    }
                    tokio::time::timeout(CANCEL_GRACE, &mut query).await.ok()
                }
            }
        };
        match answered {
            Some(Ok(row)) => row.try_get(0).map_err(|e| Failure::Final(e.into())),
            Some(Err(e)) if is_connection_failure(&e) || client.is_closed() => {
                self.retire(client);
                Err(Failure::Lost(e))
            }
            Some(Err(e)) => Err(Failure::Final(e.into())),
            None => {
                drop(Object::take(client));
                Err(Failure::Final(Error::statement_timeout(format!(
                    "api.{} passed its deadline and did not answer the cancel",
                    op.name()
                ))))
            }
        }
    }

    /// Takes a failed connection out of the pool for good, and every idle one with it: what
    /// broke one (a restart, a failover, a proxy dropping its clients) has almost always broken
    /// them all, and each would otherwise cost a request its answer.
    fn retire(&self, client: Object) {
        drop(Object::take(client));
        let retired = self.pool.retain(|_, _| false).removed.len();
        tracing::warn!(
            retired,
            "database connection lost; idle connections retired"
        );
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
            // A wrong type's message quotes the value, which may be PHI: log field names only.
            let what = e.to_string();
            let what = if what.starts_with("missing field") || what.starts_with("unknown field") {
                what
            } else {
                "a member of the wrong type".to_owned()
            };
            Error::internal(format!(
                "api.{} answered in an unexpected shape: {what}",
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
