//! What every Wardline function shares. A request passes through these modules in order:
//!
//! - [`http`]: the function's routes, matching, body limit, the caller authenticated and their
//!   role checked by the route's access, typed JSON input with field-named 400s, and the
//!   response (JSON or problem+json) with one log line, which [`metrics`] writes as
//!   CloudWatch embedded metrics.
//! - [`auth`]: the bearer token, verified into canonical [`auth::Claims`].
//! - [`portal`]: the patient portal's own tokens (signing key), the clinic a `Host` names, and
//!   its cookies.
//! - [`db`]: the pool and the one runner that executes the request's SQL with those claims,
//!   in one transaction.
//! - [`error`]: every status Wardline returns: problem+json and the SQLSTATE table;
//!   [`codes`]: the error contract, every code Wardline answers with its status and meaning.
//! - [`dates`]: the bounds every client date and free text must keep; [`limits`]: the bounds
//!   the tables keep too.
//! - [`page`]: keyset pagination parameters of list routes.
//! - [`contact`]: the e-mail and phone shapes patients are created and sign in with.
//! - [`messages`]: secure messages' text, sealed before it reaches the database.
//! - [`delivery`]: what verifies the providers' webhooks, and unsubscribe tokens.
//! - [`audit_chain`]: the audit chain recomputed outside the database (`audit.event_digest`
//!   byte for byte) and verified against its head and the anchors kept in S3; the anchor
//!   function, the trail's export and `cargo xtask audit-verify` share it.
//!
//! Built once per container: [`config`] (from the environment), [`telemetry`] (JSON logs) and
//! the [`Context`] that holds the pool and the key cache. [`lambda::run`] is `main.rs`'s one
//! call. [`sealed`] seals text at rest (session notes, queued codes) with the configured
//! keyring; [`secret`] makes the random tokens Wardline hands out (invite links, refresh
//! tokens). With the `migrate` feature, [`migrate`] applies `db/`; with `times`, [`times`] reads
//! the times booking clients send; with `storage`, [`storage`] is S3 (the documents bucket and
//! its presigned URLs), [`documents`] the document routes' common steps and [`anchors`] the
//! audit anchors read back from their bucket; with `forms`,
//! [`forms`] compiles intake forms' JSON Schemas, checks answers and seals them.

#[cfg(feature = "storage")]
pub mod anchors;
pub mod audit_chain;
pub mod auth;
pub mod codes;
pub mod config;
pub mod contact;
pub mod dates;
pub mod db;
pub mod delivery;
#[cfg(feature = "storage")]
pub mod documents;
pub mod error;
#[cfg(feature = "forms")]
pub mod forms;
pub mod http;
pub mod lambda;
pub mod limits;
pub mod messages;
pub mod metrics;
#[cfg(feature = "migrate")]
pub mod migrate;
pub mod page;
pub mod portal;
pub mod sealed;
pub mod secret;
#[cfg(feature = "storage")]
pub mod storage;
pub mod telemetry;
#[cfg(feature = "times")]
pub mod times;

pub use error::Error;

/// Per-container state shared by every request: configuration, pool, token verifier.
pub struct Context {
    pub config: config::Config,
    pub db: db::Db,
    pub auth: auth::Verifier,
    /// What one function alone builds once per container (the provider queue's S3 and
    /// pharmacy clients), found by type; [`lambda::run_with`] and tests put it here.
    pub extensions: ::http::Extensions,
}

impl Context {
    pub fn new(config: config::Config) -> Result<Context, Error> {
        Ok(Context {
            db: db::Db::new(&config.db)?,
            auth: auth::Verifier::new(
                config.jwt.clone(),
                config.portal.as_ref().map(|p| &p.signing),
            )?,
            config,
            extensions: ::http::Extensions::new(),
        })
    }

    pub fn from_env() -> Result<Context, lambda_http::Error> {
        let config = config::Config::from_env()?;
        Ok(Context::new(config)?)
    }

    /// The keyring that seals data at rest (`WARDLINE_NOTES_KEYS`); a 503 where none is
    /// configured, so nothing is ever stored unsealed.
    pub fn sealing_keys(&self) -> Result<&sealed::Keyring, Error> {
        self.config.notes_keys.as_ref().ok_or_else(|| {
            Error::unavailable(
                "sealing_unavailable",
                "Sealing keys (WARDLINE_NOTES_KEYS) are not configured on this deployment.",
            )
        })
    }

    /// The portal's settings; a 503 where this deployment has none, so the portal never runs
    /// half-configured.
    pub fn portal(&self) -> Result<&portal::PortalConfig, Error> {
        self.config.portal.as_ref().ok_or_else(|| {
            Error::unavailable(
                "portal_unavailable",
                "The patient portal (WARDLINE_PORTAL_SIGNING_KEY) is not configured on this deployment.",
            )
        })
    }

    /// The signed-in patient of a portal request ([`http::Access::Patient`]): a token
    /// Wardline's portal issued, from the `Authorization` header or the access cookie. Staff
    /// tokens are refused with a 403.
    async fn patient(&self, request: &http::Incoming) -> Result<auth::Claims, Error> {
        self.portal()?;
        let claims = match request.cookie(portal::ACCESS_COOKIE) {
            Some(token) if !request.headers.contains_key(::http::header::AUTHORIZATION) => {
                self.auth.verify(token, &request.request_id).await?
            }
            _ => {
                self.auth
                    .verify_header(&request.headers, &request.request_id)
                    .await?
            }
        };
        if !claims.portal_issued || claims.app_role != auth::AppRole::Patient {
            return Err(Error::forbidden(
                "patients_only",
                "This route is for patients signed in to the portal.",
            ));
        }
        Ok(claims)
    }
}
