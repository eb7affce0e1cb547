//! `migrate`: the deployment's schema step, so `sam deploy` is the whole deployment. The stack
//! runs it as a custom resource (`DatabaseSchema` in template.yaml) on every deploy that
//! changes the function or the database it points at, before any function that needs the
//! schema. As the master user (from Secrets Manager: an RDS-managed master secret works) it
//! applies `db/` with `shared::migrate`, the runner `cargo xtask migrate` uses, then gives
//! `wardline_authenticator` the password of the stack's authenticator secret as a SCRAM
//! verifier, and answers CloudFormation: SUCCESS, or FAILED with a reason, which fails the
//! deploy (the runner's one transaction leaves nothing half-applied). A Delete succeeds
//! without touching the database: the schema outlives the stack, as the data does.
//!
//! The same binary rotates the authenticator secret (`rotation`): Secrets Manager's four
//! steps, the new password handed over the same way.

pub mod custom_resource;
pub mod logins;
pub mod rotation;

use custom_resource::{Request, RequestType, Status};
use serde_json::{json, Value};
use std::{path::PathBuf, time::Duration};
use tokio_postgres::error::DbError;
use wardline_shared::{
    config::{DbConfig, SslMode},
    db::Db,
    migrate::{MigrateError, Report, Sources},
};

/// How long a run waits for the database to accept the master user: on a first deploy the
/// proxy's targets may still be registering when the custom resource runs.
const CONNECT_WAIT: Duration = Duration::from_secs(300);
const CONNECT_RETRY: Duration = Duration::from_secs(5);
/// How long the answer's PUT may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the schema goes and whose logins apply it, from the environment template.yaml sets.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The database's (or RDS Proxy's) host, port and database name.
    pub host: String,
    pub port: u16,
    pub dbname: String,
    /// The master user's secret (`{"username", "password"}`).
    pub master_secret: String,
    /// `wardline_authenticator`'s secret (template.yaml's `AuthenticatorSecret`).
    pub authenticator_secret: String,
    pub ssl_mode: SslMode,
    /// Extra PEM roots (the RDS bundle for a direct connection; RDS Proxy needs none).
    pub ca_file: Option<PathBuf>,
    /// A local Secrets Manager (moto) instead of AWS's.
    pub aws_endpoint: Option<String>,
    pub connect_wait: Duration,
}

impl Settings {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let required = |name: &str| {
            get(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{name} is required"))
        };
        let port = match get("WARDLINE_DB_PORT").filter(|v| !v.is_empty()) {
            None => 5432,
            Some(raw) => raw
                .parse()
                .map_err(|_| format!("WARDLINE_DB_PORT: {raw:?} is not a port"))?,
        };
        let ssl_mode = match get("WARDLINE_DB_SSLMODE").as_deref() {
            None | Some("verify-full") => SslMode::VerifyFull,
            Some("disable") => SslMode::Disable,
            Some(other) => return Err(format!("WARDLINE_DB_SSLMODE: {other:?}")),
        };
        Ok(Settings {
            host: required("WARDLINE_DB_HOST")?,
            port,
            dbname: required("WARDLINE_DB_NAME")?,
            master_secret: required("WARDLINE_MASTER_SECRET_ARN")?,
            authenticator_secret: required("WARDLINE_AUTHENTICATOR_SECRET_ARN")?,
            ssl_mode,
            ca_file: get("WARDLINE_DB_CA_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            aws_endpoint: get("WARDLINE_AWS_ENDPOINT_URL").filter(|v| !v.is_empty()),
            connect_wait: CONNECT_WAIT,
        })
    }

    /// The resource's one name: the database it keeps.
    fn physical_id(&self) -> String {
        format!("wardline-schema:{}@{}", self.dbname, self.host)
    }
}

/// The function's clients and settings, built once per container.
pub struct Migrator {
    settings: Settings,
    secrets: aws_sdk_secretsmanager::Client,
    http: reqwest::Client,
    sources: Sources,
}

impl Migrator {
    pub async fn from_env() -> Result<Migrator, String> {
        let settings = Settings::from_lookup(|name| std::env::var(name).ok())?;
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(endpoint) = &settings.aws_endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let sdk = loader.load().await;
        Migrator::new(
            &sdk,
            settings,
            Sources::embedded().map_err(|e| e.to_string())?,
        )
    }

    /// `sources` is `db/` as embedded (`Sources::embedded`); tests add a failing migration.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        settings: Settings,
        sources: Sources,
    ) -> Result<Migrator, String> {
        Ok(Migrator {
            settings,
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            http: reqwest::Client::builder()
                .timeout(ANSWER_TIMEOUT)
                .build()
                .map_err(|e| e.to_string())?,
            sources,
        })
    }

    /// One event: a custom resource request (answered; what was answered is returned) or a
    /// rotation step. An `Err` only when no answer could be sent (Lambda then retries).
    pub async fn handle(&self, event: Value) -> Result<Value, String> {
        if event.get("RequestType").is_some() {
            let request: Request = serde_json::from_value(event)
                .map_err(|e| format!("not a custom resource request: {e}"))?;
            let response = self.custom_resource(&request).await;
            custom_resource::send(&self.http, &request.response_url, &response).await?;
            return serde_json::to_value(response).map_err(|e| e.to_string());
        }
        let step: rotation::Step = serde_json::from_value(event)
            .map_err(|e| format!("neither a custom resource request nor a rotation step: {e}"))?;
        rotation::run(self, &step).await?;
        Ok(json!({ "step": step.step }))
    }

    /// What to answer `request`: a Delete succeeds untouched; a Create or Update migrates.
    pub async fn custom_resource(&self, request: &Request) -> custom_resource::Response {
        let physical_id = self.settings.physical_id();
        let (status, reason, data) = match request.request_type {
            RequestType::Delete => {
                let kept = request.physical_resource_id.clone().unwrap_or(physical_id);
                let reason = "the schema is kept with the database";
                return request.answer(Status::Success, reason, kept, json!({}));
            }
            RequestType::Create | RequestType::Update => match self.migrate().await {
                Ok(report) => (
                    Status::Success,
                    "migrated; wardline_authenticator's password set".to_owned(),
                    json!({
                        "MigrationsApplied": report.migrations.len().to_string(),
                        "FunctionFilesApplied": report.functions.len().to_string(),
                        "PolicyFilesApplied": report.policies.len().to_string(),
                    }),
                ),
                Err(reason) => (Status::Failed, reason, json!({})),
            },
        };
        tracing::info!(
            function = "migrate",
            request_id = %request.request_id,
            request_type = ?request.request_type,
            status = ?status,
            reason = %reason,
            "custom resource"
        );
        request.answer(status, &reason, physical_id, data)
    }

    /// Applies the schema and sets the authenticator's password; the error is a reason safe to
    /// show (see [`describe`]).
    pub async fn migrate(&self) -> Result<Report, String> {
        let master = logins::read(&self.secrets, &self.settings.master_secret, None).await?;
        let mut client = self.connect(&master).await?;
        let report = wardline_shared::migrate::apply_sources(&mut client, &self.sources)
            .await
            .map_err(|e| format!("migration failed, nothing applied: {}", describe(&e)))?;
        let authenticator =
            logins::read(&self.secrets, &self.settings.authenticator_secret, None).await?;
        self.set_authenticator_password(&client, &authenticator.password)
            .await?;
        Ok(report)
    }

    async fn set_authenticator_password(
        &self,
        client: &tokio_postgres::Client,
        password: &str,
    ) -> Result<(), String> {
        wardline_shared::migrate::set_authenticator_password(client, password)
            .await
            .map_err(|e| {
                format!(
                    "setting wardline_authenticator's password: {}",
                    describe(&e)
                )
            })
    }

    /// A connection as `login`, retried for [`Settings::connect_wait`] while the database (or
    /// the proxy's target) is not accepting it yet.
    async fn connect(&self, login: &logins::Login) -> Result<deadpool_postgres::Object, String> {
        let s = &self.settings;
        let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
        let url = format!(
            "host={} port={} dbname={} user={} password={} application_name=wardline-migrate",
            quote(&s.host),
            s.port,
            quote(&s.dbname),
            quote(&login.username),
            quote(&login.password)
        );
        let db = Db::new(&DbConfig {
            url,
            pool_size: 1,
            ssl_mode: s.ssl_mode,
            ca_file: s.ca_file.clone(),
            verify_after_idle: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(600),
            lock_timeout: Duration::from_secs(60),
        })
        .map_err(|e| format!("database settings: {}", e.detail))?;
        let deadline = tokio::time::Instant::now() + s.connect_wait;
        loop {
            match db.client().await {
                Ok(client) => return Ok(client),
                Err(e) if tokio::time::Instant::now() + CONNECT_RETRY < deadline => {
                    tracing::warn!(function = "migrate", error = %e, "database not ready, retrying");
                    tokio::time::sleep(CONNECT_RETRY).await;
                }
                Err(e) => {
                    return Err(format!(
                        "connecting to {}:{}/{} as the master user: {e}",
                        s.host, s.port, s.dbname
                    ))
                }
            }
        }
    }
}

/// A runner error as a reason for the stack's events: the file and SQLSTATE, the server's
/// message, and never its DETAIL (which quotes rows). For data errors (classes 22 and 23) the
/// message itself may quote a value, so only the objects involved are named.
pub fn describe(error: &MigrateError) -> String {
    match error {
        MigrateError::Sql { file, source } => format!("{file}: {}", describe_sql(source)),
        MigrateError::Database(source) => describe_sql(source),
        other => other.to_string(),
    }
}

fn describe_sql(error: &tokio_postgres::Error) -> String {
    let Some(db) = error.as_db_error() else {
        return error.to_string();
    };
    let code = db.code().code();
    if code.starts_with("22") || code.starts_with("23") {
        format!("SQLSTATE {code}{}", objects(db))
    } else {
        format!("SQLSTATE {code}: {}", db.message())
    }
}

/// ` (schema s, table t, column c, constraint k)`, of those the server named.
fn objects(db: &DbError) -> String {
    let named: Vec<String> = [
        ("schema", db.schema()),
        ("table", db.table()),
        ("column", db.column()),
        ("constraint", db.constraint()),
    ]
    .into_iter()
    .filter_map(|(kind, name)| name.map(|n| format!("{kind} {n}")))
    .collect();
    if named.is_empty() {
        String::new()
    } else {
        format!(" ({})", named.join(", "))
    }
}
