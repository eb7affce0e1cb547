//! Configuration, read once per container from the environment. Every variable is listed in
//! README.md; a missing or malformed one fails the cold start with a message naming it.

use crate::error::ConfigError;
use jsonwebtoken::Algorithm;
use std::{path::PathBuf, str::FromStr, time::Duration};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP: only for the local stack and tests on loopback.
    Disable,
    /// TLS with the server certificate verified against the system roots and `ca_file`.
    VerifyFull,
}

#[derive(Debug, Clone)]
pub struct DbConfig {
    /// libpq-style URL or key=value string; the password may come from Secrets Manager via the
    /// deployment's environment.
    pub url: String,
    /// Small by default: one Lambda instance serves one request at a time.
    pub pool_size: usize,
    pub ssl_mode: SslMode,
    /// Extra PEM roots, e.g. the RDS CA bundle.
    pub ca_file: Option<PathBuf>,
    /// A pooled connection idle longer than this is pinged before reuse (a frozen Lambda
    /// container may come back to a connection the proxy has closed).
    pub verify_after_idle: Duration,
    pub connect_timeout: Duration,
    /// How long one request's statement may run before it is cancelled (a 503).
    pub statement_timeout: Duration,
    /// How long one request may wait for a lock before it gives up (a 503).
    pub lock_timeout: Duration,
}

/// Which JWT claim holds each value Wardline reads (identity providers namespace custom claims).
#[derive(Debug, Clone)]
pub struct ClaimNames {
    pub sub: String,
    pub org_id: String,
    pub app_role: String,
    pub patient_id: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        ClaimNames {
            sub: "sub".into(),
            org_id: "org_id".into(),
            app_role: "app_role".into(),
            patient_id: "patient_id".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum KeySource {
    /// Asymmetric keys published by the identity provider.
    JwksUrl(String),
    /// A shared secret, for identity providers that only sign with HS256.
    Hs256Secret(String),
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub keys: KeySource,
    /// Only these algorithms are accepted, whatever a token's header says.
    pub algorithms: Vec<Algorithm>,
    pub leeway: Duration,
    /// The least time between two JWKS fetches triggered by an unknown `kid`.
    pub jwks_refetch_interval: Duration,
    /// Cached keys older than this are refetched, so withdrawn keys stop working.
    pub jwks_max_age: Duration,
    pub claims: ClaimNames,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub db: DbConfig,
    pub jwt: JwtConfig,
    pub max_body_bytes: usize,
    /// Keys that seal session notes (`WARDLINE_NOTES_KEYS`); without them notes are refused.
    pub notes_keys: Option<crate::sealed::Keyring>,
    /// The patient portal's keys and addresses; present when `WARDLINE_PORTAL_SIGNING_KEY` is.
    pub portal: Option<crate::portal::PortalConfig>,
    /// What verifies the providers' webhooks and unsubscribe links.
    pub delivery: crate::delivery::DeliveryConfig,
}

/// A key-value source (the environment, or a map in tests and the local stack).
struct Lookup<F>(F);

impl<F: Fn(&str) -> Option<String>> Lookup<F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }

    /// A variable that is set and not empty.
    fn present(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ConfigError::new(name, "is required"))
    }

    fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|_| ConfigError::new(name, format!("{raw:?} is not a whole number"))),
        }
    }

    fn seconds(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        self.number(name, default).map(Duration::from_secs)
    }

    /// A positive number of milliseconds (PostgreSQL reads 0 as "no limit": not allowed here).
    fn millis(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        match self.number(name, default)? {
            0 => Err(ConfigError::new(name, "must be at least 1")),
            ms => Ok(Duration::from_millis(ms)),
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads any key-value source (the environment, or a map in tests and the local stack).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Lookup(get);
        Ok(Config {
            db: DbConfig::read(&env)?,
            jwt: JwtConfig::read(&env)?,
            max_body_bytes: env.number("WARDLINE_MAX_BODY_BYTES", 65_536)? as usize,
            notes_keys: env
                .get("WARDLINE_NOTES_KEYS")
                .filter(|raw| !raw.is_empty())
                .map(|raw| crate::sealed::Keyring::parse("WARDLINE_NOTES_KEYS", &raw))
                .transpose()?,
            portal: read_portal(&env)?,
            delivery: read_delivery(&env)?,
        })
    }
}

/// The portal settings: the signing key turns them on, and then the OTP key is required too.
fn read_portal<F: Fn(&str) -> Option<String>>(
    env: &Lookup<F>,
) -> Result<Option<crate::portal::PortalConfig>, ConfigError> {
    use base64::{engine::general_purpose::STANDARD, Engine};
    const SIGNING: &str = "WARDLINE_PORTAL_SIGNING_KEY";
    const OTP: &str = "WARDLINE_OTP_KEY";
    let Some(pem) = env.get(SIGNING).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let otp_key = STANDARD
        .decode(env.required(OTP)?.trim())
        .map_err(|_| ConfigError::new(OTP, "is not base64"))?;
    if otp_key.len() < 32 {
        return Err(ConfigError::new(OTP, "must be at least 32 bytes"));
    }
    Ok(Some(crate::portal::PortalConfig {
        signing: crate::portal::SigningKey::from_pem(SIGNING, &pem)?,
        otp_key,
        base_domain: env.present("WARDLINE_PORTAL_BASE_DOMAIN"),
    }))
}

/// The delivery settings: each optional, each checked when given.
fn read_delivery<F: Fn(&str) -> Option<String>>(
    env: &Lookup<F>,
) -> Result<crate::delivery::DeliveryConfig, ConfigError> {
    use base64::{engine::general_purpose::STANDARD, Engine};
    const SENDGRID: &str = "WARDLINE_SENDGRID_WEBHOOK_KEY";
    const UNSUBSCRIBE: &str = "WARDLINE_UNSUBSCRIBE_KEY";
    let unsubscribe_key = env
        .present(UNSUBSCRIBE)
        .map(|raw| match STANDARD.decode(raw.trim()) {
            Ok(key) if key.len() >= 32 => Ok(key),
            Ok(_) => Err(ConfigError::new(UNSUBSCRIBE, "must be at least 32 bytes")),
            Err(_) => Err(ConfigError::new(UNSUBSCRIBE, "is not base64")),
        })
        .transpose()?;
    Ok(crate::delivery::DeliveryConfig {
        twilio_auth_token: env.present("WARDLINE_TWILIO_AUTH_TOKEN"),
        twilio_webhook_url: env.present("WARDLINE_TWILIO_WEBHOOK_URL"),
        sendgrid_webhook_key: env
            .present(SENDGRID)
            .map(|raw| crate::delivery::sendgrid_key(SENDGRID, &raw))
            .transpose()?,
        unsubscribe_key,
    })
}

impl DbConfig {
    /// Only the database settings (the migration tool needs no JWT settings).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<DbConfig, ConfigError> {
        DbConfig::read(&Lookup(get))
    }

    fn read<F: Fn(&str) -> Option<String>>(env: &Lookup<F>) -> Result<DbConfig, ConfigError> {
        let ssl_mode = match env.get("WARDLINE_DB_SSLMODE").as_deref() {
            None | Some("verify-full") => SslMode::VerifyFull,
            Some("disable") => SslMode::Disable,
            Some(other) => {
                return Err(ConfigError::new(
                    "WARDLINE_DB_SSLMODE",
                    format!("{other:?}: use verify-full or disable"),
                ))
            }
        };
        Ok(DbConfig {
            url: env.required("DATABASE_URL")?,
            pool_size: env.number("WARDLINE_DB_POOL_SIZE", 2)?.clamp(1, 64) as usize,
            ssl_mode,
            ca_file: env.get("WARDLINE_DB_CA_FILE").map(PathBuf::from),
            verify_after_idle: env.seconds("WARDLINE_DB_VERIFY_AFTER_IDLE_SECS", 30)?,
            connect_timeout: env.seconds("WARDLINE_DB_CONNECT_TIMEOUT_SECS", 5)?,
            statement_timeout: env.millis("WARDLINE_DB_STATEMENT_TIMEOUT_MS", 5000)?,
            lock_timeout: env.millis("WARDLINE_DB_LOCK_TIMEOUT_MS", 2000)?,
        })
    }
}

impl JwtConfig {
    fn read<F: Fn(&str) -> Option<String>>(env: &Lookup<F>) -> Result<JwtConfig, ConfigError> {
        let keys = match (
            env.get("WARDLINE_JWKS_URL"),
            env.get("WARDLINE_JWT_HS256_SECRET"),
        ) {
            (Some(url), None) => KeySource::JwksUrl(url),
            (None, Some(secret)) if secret.len() >= 32 => KeySource::Hs256Secret(secret),
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "WARDLINE_JWT_HS256_SECRET",
                    "must be at least 32 bytes",
                ))
            }
            _ => {
                return Err(ConfigError::new(
                    "WARDLINE_JWKS_URL",
                    "set exactly one of WARDLINE_JWKS_URL and WARDLINE_JWT_HS256_SECRET",
                ))
            }
        };
        let default_algorithms = match keys {
            KeySource::JwksUrl(_) => "ES256,RS256",
            KeySource::Hs256Secret(_) => "HS256",
        };
        let algorithms = env
            .get("WARDLINE_JWT_ALGORITHMS")
            .unwrap_or_else(|| default_algorithms.to_owned())
            .split(',')
            .map(|name| {
                Algorithm::from_str(name.trim()).map_err(|_| {
                    ConfigError::new(
                        "WARDLINE_JWT_ALGORITHMS",
                        format!("unknown algorithm {name:?}"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let defaults = ClaimNames::default();
        Ok(JwtConfig {
            issuer: env.required("WARDLINE_JWT_ISSUER")?,
            audience: env.required("WARDLINE_JWT_AUDIENCE")?,
            keys,
            algorithms,
            leeway: env.seconds("WARDLINE_JWT_LEEWAY_SECS", 30)?,
            jwks_refetch_interval: env.seconds("WARDLINE_JWKS_REFETCH_SECS", 60)?,
            jwks_max_age: env.seconds("WARDLINE_JWKS_MAX_AGE_SECS", 600)?,
            claims: ClaimNames {
                sub: env.get("WARDLINE_CLAIM_SUB").unwrap_or(defaults.sub),
                org_id: env.get("WARDLINE_CLAIM_ORG_ID").unwrap_or(defaults.org_id),
                app_role: env
                    .get("WARDLINE_CLAIM_APP_ROLE")
                    .unwrap_or(defaults.app_role),
                patient_id: env
                    .get("WARDLINE_CLAIM_PATIENT_ID")
                    .unwrap_or(defaults.patient_id),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: &[(&str, &str)] = &[
        ("DATABASE_URL", "postgres://x@localhost/db"),
        ("WARDLINE_JWT_ISSUER", "https://idp"),
        ("WARDLINE_JWT_AUDIENCE", "wardline"),
        ("WARDLINE_JWKS_URL", "https://idp/jwks.json"),
    ];

    #[test]
    fn defaults_are_small_pool_verified_tls_and_asymmetric_algorithms() {
        let config = Config::from_lookup(lookup(BASE)).unwrap();
        assert_eq!(config.db.pool_size, 2);
        assert_eq!(config.db.ssl_mode, SslMode::VerifyFull);
        assert_eq!(config.db.statement_timeout, Duration::from_secs(5));
        assert_eq!(config.db.lock_timeout, Duration::from_secs(2));
        assert_eq!(
            config.jwt.algorithms,
            vec![Algorithm::ES256, Algorithm::RS256]
        );
        assert_eq!(config.jwt.claims.org_id, "org_id");
    }

    #[test]
    fn errors_name_the_variable() {
        let mut pairs = BASE.to_vec();
        pairs.push(("WARDLINE_DB_POOL_SIZE", "many"));
        let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
        assert_eq!(err.name, "WARDLINE_DB_POOL_SIZE");

        let err = Config::from_lookup(lookup(&BASE[..3])).unwrap_err();
        assert_eq!(err.name, "WARDLINE_JWKS_URL");

        let mut pairs = BASE.to_vec();
        pairs.push(("WARDLINE_DB_SSLMODE", "prefer"));
        let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
        assert_eq!(err.name, "WARDLINE_DB_SSLMODE");

        let mut pairs = BASE.to_vec();
        pairs.push(("WARDLINE_DB_LOCK_TIMEOUT_MS", "0"));
        let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
        assert_eq!(err.name, "WARDLINE_DB_LOCK_TIMEOUT_MS");
    }
}
