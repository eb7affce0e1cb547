//! Bearer-token verification. A token becomes [`Claims`] only after its algorithm is on the
//! allow-list and matches its key, its signature verifies, and `exp`, `nbf`, `iss`, `aud` and
//! `sub` check out. Every token problem is a 401 problem+json; an unreachable JWKS is a 503.
//! Keys come from a JWKS URL (cached for the container's life, refetched on an unknown `kid`
//! at most once per `jwks_refetch_interval`) or from an HS256 secret. Each key remembers the
//! tokens it verified ([`VerifiedTokens`]), so a client's next request with the same token
//! costs a lookup and a lifetime check instead of a signature verification.

use crate::config::{ClaimNames, JwtConfig, KeySource};
use crate::error::Error;
use jsonwebtoken::{
    errors::ErrorKind,
    jwk::{AlgorithmParameters, EllipticCurve, JwkSet, PublicKeyUse},
    Algorithm, DecodingKey, Validation,
};
use serde::Serialize;
use serde_json::{Map, Value};
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};
use tokio::sync::{Mutex, RwLock};
use uuid::Uuid;

/// The roles a signed-in caller can hold (ARCHITECTURE.md, "Database contract").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppRole {
    Patient,
    Therapist,
    Admin,
    SuperAdmin,
    /// Scheduled jobs (`app_service`). Never taken from a token: only [`Claims::service`] makes it.
    Service,
    /// Pre-login portal calls (`app_anon`). Never taken from a token: only
    /// [`Claims::anonymous`] makes it.
    Anonymous,
}

impl AppRole {
    fn parse(raw: &str) -> Option<AppRole> {
        Some(match raw {
            "patient" => AppRole::Patient,
            "therapist" => AppRole::Therapist,
            "admin" => AppRole::Admin,
            "super_admin" => AppRole::SuperAdmin,
            _ => return None,
        })
    }
}

/// Verified, canonical claims: what `auth.begin_request` receives, whatever the identity
/// provider calls them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    pub sub: Uuid,
    pub org_id: Option<Uuid>,
    pub app_role: AppRole,
    pub patient_id: Option<Uuid>,
    pub request_id: String,
    /// Signed by Wardline's portal key (a patient token), not by the identity provider.
    #[serde(skip)]
    pub portal_issued: bool,
}

impl Claims {
    /// A scheduled job's identity: `app_service`, no clinic, the nil user.
    pub fn service(request_id: impl Into<String>) -> Claims {
        Claims {
            sub: Uuid::nil(),
            org_id: None,
            app_role: AppRole::Service,
            patient_id: None,
            request_id: request_id.into(),
            portal_issued: false,
        }
    }

    /// A pre-login portal call: no identity, no clinic (the database resolves it from the host).
    pub fn anonymous(request_id: impl Into<String>) -> Claims {
        Claims {
            app_role: AppRole::Anonymous,
            ..Claims::service(request_id)
        }
    }
}

struct CachedKey {
    key: DecodingKey,
    algorithm: Algorithm,
    verified: VerifiedTokens,
}

/// How many verified tokens one key remembers; past it, expired ones go, then all.
const VERIFIED_TOKENS: usize = 1024;

/// The tokens one key has verified (signature, algorithm, `iss`, `aud`), by their exact text,
/// with their claims. A client sends the same token with every request until it expires, and
/// an ECDSA verification costs more than all the rest of a request's Rust (P-256 was ~80% of
/// the gateway's CPU at one client). Only the lifetime is checked again on a hit; any other
/// text, a forgery included, is verified in full. The cache belongs to its key: a refetched
/// key set starts empty, so a withdrawn key's tokens stop working with it.
#[derive(Default)]
struct VerifiedTokens(std::sync::Mutex<HashMap<String, Map<String, Value>>>);

impl VerifiedTokens {
    fn decode(
        &self,
        token: &str,
        key: &DecodingKey,
        validation: &Validation,
    ) -> Result<Map<String, Value>, jsonwebtoken::errors::Error> {
        let known = self.entries().get(token).cloned();
        if let Some(claims) = known {
            check_lifetime(&claims, validation)?;
            return Ok(claims);
        }
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)?.claims;
        let mut entries = self.entries();
        if entries.len() >= VERIFIED_TOKENS {
            entries.retain(|_, claims| check_lifetime(claims, validation).is_ok());
            if entries.len() >= VERIFIED_TOKENS {
                entries.clear();
            }
        }
        entries.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Map<String, Value>>> {
        // A panic elsewhere while holding the lock leaves a map that is still consistent.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `exp` and `nbf` of claims verified earlier, judged now as jsonwebtoken judged them then.
fn check_lifetime(
    claims: &Map<String, Value>,
    validation: &Validation,
) -> Result<(), jsonwebtoken::errors::Error> {
    let now = jsonwebtoken::get_current_timestamp();
    let at = |name: &str| claims.get(name).and_then(Value::as_f64).map(|t| t as u64);
    if validation.validate_exp
        && at("exp").is_none_or(|exp| exp < now.saturating_sub(validation.leeway))
    {
        return Err(ErrorKind::ExpiredSignature.into());
    }
    if validation.validate_nbf && at("nbf").is_none_or(|nbf| nbf > now + validation.leeway) {
        return Err(ErrorKind::ImmatureSignature.into());
    }
    Ok(())
}

#[derive(Default)]
struct JwksState {
    keys: HashMap<String, CachedKey>,
    fetched_at: Option<Instant>,
    failed_at: Option<Instant>,
}

/// How long a failed JWKS fetch keeps the next one from being tried.
const JWKS_FAILURE_BACKOFF: Duration = Duration::from_secs(5);

/// No keys at all is an outage (503), not a bad token.
fn usable(
    state: tokio::sync::RwLockReadGuard<'_, JwksState>,
) -> Result<tokio::sync::RwLockReadGuard<'_, JwksState>, Error> {
    if state.keys.is_empty() {
        return Err(Error::unavailable(
            "auth_unavailable",
            "Sign-in keys could not be loaded. Try again shortly.",
        ));
    }
    Ok(state)
}

enum Keys {
    Secret(DecodingKey, VerifiedTokens),
    Jwks {
        url: String,
        http: reqwest::Client,
        state: RwLock<JwksState>,
        /// Serialises refetches so a burst of unknown kids makes one request.
        refetch: Mutex<()>,
    },
}

/// Wardline's own patient tokens: the portal key and what they must say.
struct PortalKey {
    key: crate::portal::SigningKey,
    validation: Validation,
    verified: VerifiedTokens,
}

/// Built once per container; holds the key cache and one `Validation` per allowed algorithm.
pub struct Verifier {
    config: JwtConfig,
    keys: Keys,
    validations: HashMap<Algorithm, Validation>,
    portal: Option<PortalKey>,
}

impl Verifier {
    /// `portal`: the key of Wardline's patient tokens, where this deployment accepts them.
    /// Patient tokens are only ever accepted from it, never from the identity provider.
    pub fn new(
        config: JwtConfig,
        portal: Option<&crate::portal::SigningKey>,
    ) -> Result<Verifier, Error> {
        let keys = match &config.keys {
            KeySource::Hs256Secret(secret) => Keys::Secret(
                DecodingKey::from_secret(secret.as_bytes()),
                VerifiedTokens::default(),
            ),
            KeySource::JwksUrl(url) => Keys::Jwks {
                url: url.clone(),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .map_err(Error::internal)?,
                state: RwLock::new(JwksState::default()),
                refetch: Mutex::new(()),
            },
        };
        let validations = config
            .algorithms
            .iter()
            .map(|&alg| {
                let mut validation = Validation::new(alg);
                validation.set_issuer(&[&config.issuer]);
                validation.set_audience(&[&config.audience]);
                validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
                validation.validate_nbf = true;
                validation.leeway = config.leeway.as_secs();
                (alg, validation)
            })
            .collect();
        let portal = portal.map(|key| {
            let mut validation = Validation::new(Algorithm::ES256);
            validation.set_issuer(&[crate::portal::ISSUER]);
            validation.set_audience(&[crate::portal::AUDIENCE]);
            validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
            validation.validate_nbf = true;
            validation.leeway = config.leeway.as_secs();
            PortalKey {
                key: key.clone(),
                validation,
                verified: VerifiedTokens::default(),
            }
        });
        Ok(Verifier {
            config,
            keys,
            validations,
            portal,
        })
    }

    /// Verifies the `Authorization: Bearer` token of a request.
    pub async fn verify_header(
        &self,
        headers: &http::HeaderMap,
        request_id: &str,
    ) -> Result<Claims, Error> {
        self.verify(bearer(headers)?, request_id).await
    }

    pub async fn verify(&self, token: &str, request_id: &str) -> Result<Claims, Error> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Error::unauthorized("The token is not a well-formed JWT."))?;
        if let Some(portal) = self
            .portal
            .as_ref()
            .filter(|p| header.kid.as_deref() == Some(p.key.kid()))
        {
            let raw = portal
                .verified
                .decode(token, portal.key.decoding(), &portal.validation)
                .map_err(|err| token_problem(&err))?;
            let claims = canonical(&ClaimNames::default(), raw, request_id)?;
            if claims.app_role != AppRole::Patient {
                return Err(Error::unauthorized("Portal tokens are patient tokens."));
            }
            return Ok(Claims {
                portal_issued: true,
                ..claims
            });
        }
        let raw = self.verify_jwt(token).await?;
        let claims = canonical(&self.config.claims, raw, request_id)?;
        if claims.app_role == AppRole::Patient {
            return Err(Error::unauthorized(
                "Patient tokens are issued by Wardline's portal, not by the identity provider.",
            ));
        }
        Ok(claims)
    }

    /// What API Gateway's JWT authorizer checks of an identity provider's token, and no more:
    /// the algorithm, a key of the configured source (never the portal's), the signature,
    /// `iss`, `aud` and the lifetime. Its claims are not interpreted.
    pub async fn verify_jwt(&self, token: &str) -> Result<Map<String, Value>, Error> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Error::unauthorized("The token is not a well-formed JWT."))?;
        let validation = self.validations.get(&header.alg).ok_or_else(|| {
            Error::unauthorized(format!(
                "Tokens signed with {:?} are not accepted.",
                header.alg
            ))
        })?;
        self.verify_signed(token, header, validation).await
    }

    async fn verify_signed(
        &self,
        token: &str,
        header: jsonwebtoken::Header,
        validation: &Validation,
    ) -> Result<Map<String, Value>, Error> {
        let decoded = match &self.keys {
            Keys::Secret(key, verified) => verified.decode(token, key, validation),
            Keys::Jwks { .. } => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| Error::unauthorized("The token names no key (kid)."))?;
                let state = self.jwks_with(kid).await?;
                let cached = state.keys.get(kid).ok_or_else(|| {
                    Error::unauthorized("The token's signing key (kid) is unknown.")
                })?;
                if cached.algorithm != header.alg {
                    return Err(Error::unauthorized(
                        "The token's algorithm does not match its key.",
                    ));
                }
                cached.verified.decode(token, &cached.key, validation)
            }
        };
        decoded.map_err(|err| token_problem(&err))
    }

    /// The JWKS cache, refreshed first when it is older than `jwks_max_age` (so a key the
    /// provider withdrew stops working) or when `kid` is unknown and the last fetch is older
    /// than `jwks_refetch_interval`. After a failed fetch, none is tried for a few seconds.
    async fn jwks_with(
        &self,
        kid: &str,
    ) -> Result<tokio::sync::RwLockReadGuard<'_, JwksState>, Error> {
        let Keys::Jwks {
            url,
            http,
            state,
            refetch,
        } = &self.keys
        else {
            unreachable!("jwks_with is only called for a JWKS key source")
        };
        {
            let current = state.read().await;
            if !self.should_fetch(&current, kid) {
                return usable(current);
            }
        }
        let _one_fetch_at_a_time = refetch.lock().await;
        {
            let current = state.read().await;
            if !self.should_fetch(&current, kid) {
                return usable(current);
            }
        }
        let fetched = fetch_jwks(http, url).await;
        let mut current = state.write().await;
        match fetched {
            Ok(keys) => {
                current.keys = keys;
                current.fetched_at = Some(Instant::now());
                current.failed_at = None;
            }
            Err(cause) => {
                tracing::error!(error = %cause, cached_keys = current.keys.len(), "jwks fetch failed");
                current.failed_at = Some(Instant::now());
            }
        }
        usable(current.downgrade())
    }

    fn should_fetch(&self, state: &JwksState, kid: &str) -> bool {
        let older_than =
            |at: Option<Instant>, age: Duration| at.is_none_or(|at| at.elapsed() >= age);
        let backoff_over = older_than(state.failed_at, JWKS_FAILURE_BACKOFF);
        let stale = older_than(state.fetched_at, self.config.jwks_max_age);
        let unknown_kid = !state.keys.contains_key(kid)
            && older_than(state.fetched_at, self.config.jwks_refetch_interval);
        backoff_over && (stale || unknown_kid)
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &http::HeaderMap) -> Result<&str, Error> {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| Error::unauthorized("A bearer token is required."))?;
    header
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::unauthorized("The Authorization header must be `Bearer <token>`."))
}

/// Every token problem as the 401 that says what is wrong.
fn token_problem(err: &jsonwebtoken::errors::Error) -> Error {
    Error::unauthorized(match err.kind() {
        ErrorKind::ExpiredSignature => "The token has expired.".to_owned(),
        ErrorKind::ImmatureSignature => "The token is not valid yet.".to_owned(),
        ErrorKind::InvalidIssuer => "The token's issuer is not trusted.".to_owned(),
        ErrorKind::InvalidAudience => "The token is not meant for Wardline.".to_owned(),
        ErrorKind::InvalidSignature => "The token's signature does not verify.".to_owned(),
        ErrorKind::InvalidAlgorithm => "The token's algorithm does not match its key.".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("The token has no {claim} claim."),
        ErrorKind::InvalidClaimFormat(claim) => format!("The token's {claim} claim is malformed."),
        _ => "The token is not valid.".to_owned(),
    })
}

/// Claims under their configured names, made canonical and checked for consistency.
fn canonical(
    names: &ClaimNames,
    raw: Map<String, Value>,
    request_id: &str,
) -> Result<Claims, Error> {
    let text = |name: &str| raw.get(name).and_then(Value::as_str);
    let uuid = |name: &str| -> Result<Option<Uuid>, Error> {
        match raw.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Uuid::parse_str(s).map(Some).map_err(|_| {
                Error::unauthorized(format!("The token's {name} claim is not a UUID."))
            }),
            Some(_) => Err(Error::unauthorized(format!(
                "The token's {name} claim is not a UUID."
            ))),
        }
    };
    let sub = uuid(&names.sub)?
        .ok_or_else(|| Error::unauthorized(format!("The token has no {} claim.", names.sub)))?;
    let app_role = text(&names.app_role)
        .and_then(AppRole::parse)
        .ok_or_else(|| {
            Error::unauthorized(format!(
                "The token's {} claim is missing or unknown.",
                names.app_role
            ))
        })?;
    let org_id = uuid(&names.org_id)?.filter(|id| !id.is_nil());
    let patient_id = uuid(&names.patient_id)?;
    if org_id.is_none() && app_role != AppRole::SuperAdmin {
        return Err(Error::unauthorized(format!(
            "The token names no clinic ({}).",
            names.org_id
        )));
    }
    if (app_role == AppRole::Patient) != patient_id.is_some() {
        return Err(Error::unauthorized(format!(
            "The {} claim belongs on patient tokens only, and on every one of them.",
            names.patient_id
        )));
    }
    Ok(Claims {
        sub,
        org_id,
        app_role,
        patient_id,
        request_id: request_id.to_owned(),
        portal_issued: false,
    })
}

async fn fetch_jwks(
    http: &reqwest::Client,
    url: &str,
) -> Result<HashMap<String, CachedKey>, String> {
    let set: JwkSet = http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(set
        .keys
        .iter()
        .filter(|jwk| !matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature))
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let algorithm = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(alg), _) => alg.to_string().parse::<Algorithm>().ok()?,
                (None, AlgorithmParameters::EllipticCurve(ec)) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
                (None, AlgorithmParameters::EllipticCurve(ec)) if ec.curve == EllipticCurve::P384 => Algorithm::ES384,
                (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
                (None, AlgorithmParameters::OctetKeyPair(_)) => Algorithm::EdDSA,
                _ => return None,
            };
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((
                kid,
                CachedKey {
                    key,
                    algorithm,
                    verified: VerifiedTokens::default(),
                },
            ))
        })
        .collect())
}
