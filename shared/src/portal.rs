//! What the patient portal needs beyond every function's request path: the key that signs
//! Wardline's own patient tokens (and the [`auth::Verifier`](crate::auth::Verifier) checks),
//! the HMAC key that codes and identifiers are stored under, which clinic a `Host` names, and
//! the session cookies.

use crate::error::ConfigError;
use crate::error::Error;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// `iss` and `aud` of patient tokens: Wardline's own, so no identity provider's token is ever
/// mistaken for one (or the other way round).
pub const ISSUER: &str = "urn:wardline:portal";
pub const AUDIENCE: &str = "urn:wardline:portal";
/// Patient access tokens live 15 minutes; the refresh token renews them.
pub const ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
/// Refresh tokens live 30 days (the database holds the authoritative expiry).
pub const REFRESH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
pub const ACCESS_COOKIE: &str = "wardline_portal_access";
pub const REFRESH_COOKIE: &str = "wardline_portal_refresh";

/// The portal's settings, read once per container (`WARDLINE_PORTAL_*`, `WARDLINE_OTP_KEY`;
/// see README.md).
#[derive(Clone)]
pub struct PortalConfig {
    pub signing: SigningKey,
    /// HMAC-SHA256 key for codes and identifiers: a stolen table without it is useless.
    pub otp_key: Vec<u8>,
    /// Portals live at `{slug}.portal.{base_domain}`.
    pub base_domain: Option<String>,
}

impl std::fmt::Debug for PortalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalConfig")
            .field("kid", &self.signing.kid)
            .field("base_domain", &self.base_domain)
            .finish_non_exhaustive()
    }
}

/// The P-256 key patient tokens are signed with (ES256), with its public half for verifying
/// and a key id derived from it, so a rotated key gets a new `kid` by itself.
#[derive(Clone)]
pub struct SigningKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
}

impl SigningKey {
    /// A PKCS#8 PEM P-256 private key; `name` is the variable it came from, for the error.
    pub fn from_pem(name: &'static str, pem: &str) -> Result<SigningKey, ConfigError> {
        let bad = |what: &str| ConfigError::new(name, what.to_owned());
        let secret = p256::SecretKey::from_pkcs8_pem(pem)
            .map_err(|_| bad("is not a PKCS#8 PEM P-256 private key"))?;
        let public = secret.public_key();
        let public_pem = public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| bad("has no usable public key"))?;
        let der = public
            .to_public_key_der()
            .map_err(|_| bad("has no usable public key"))?;
        Ok(SigningKey {
            encoding: EncodingKey::from_ec_pem(pem.as_bytes())
                .map_err(|_| bad("is not an EC key jsonwebtoken can sign with"))?,
            decoding: DecodingKey::from_ec_pem(public_pem.as_bytes())
                .map_err(|_| bad("has no usable public key"))?,
            kid: format!(
                "wardline-portal-{}",
                &hex::encode(Sha256::digest(der.as_bytes()))[..16]
            ),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// A patient access token of portal account `account` acting for `patient` (the account
    /// itself, or a dependent it is guardian of) of clinic `org`, living [`ACCESS_TTL`].
    pub fn issue(&self, account: Uuid, patient: Uuid, org: Uuid) -> Result<String, Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(Error::internal)?
            .as_secs();
        self.sign(&json!({
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": account,
            "patient_id": patient,
            "org_id": org,
            "app_role": "patient",
            "iat": now,
            "nbf": now,
            "exp": now + ACCESS_TTL.as_secs(),
            "jti": Uuid::new_v4(),
        }))
    }

    /// Signs any claims with the portal key (tests build broken tokens with it).
    pub fn sign(&self, claims: &Value) -> Result<String, Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(Error::internal)
    }
}

/// HMAC-SHA256 of `parts` (joined by `:`) under `key`, hex: how codes and identifiers are
/// stored and compared.
pub fn hmac_hex(key: &[u8], parts: &[&str]) -> String {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(parts.join(":").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The clinic a `Host` header names, as `app.portal_clinic` takes it: `{"slug": …}` for
/// `{slug}.portal.{base_domain}`, else `{"domain": …}` (a clinic's own portal domain). The port
/// is dropped and case folded; `None` when there is no usable host at all.
pub fn host_json(host: Option<&str>, base_domain: Option<&str>) -> Value {
    let Some(host) = host
        .map(|h| h.trim().to_ascii_lowercase())
        .map(|h| match h.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_owned(),
            _ => h,
        })
        .filter(|h| !h.is_empty() && h.len() <= 253)
    else {
        return json!({});
    };
    let slug = base_domain
        .map(|base| format!(".portal.{}", base.trim_matches('.').to_ascii_lowercase()))
        .and_then(|suffix| host.strip_suffix(&suffix).map(str::to_owned))
        .filter(|slug| !slug.is_empty() && !slug.contains('.'));
    match slug {
        Some(slug) => json!({ "slug": slug }),
        None => json!({ "domain": host }),
    }
}

/// The input every portal operation starts from: the clinic the `Host` names and the caller's
/// address (for per-address limits and the consent record).
pub fn input(portal: &PortalConfig, req: &crate::http::Incoming) -> serde_json::Map<String, Value> {
    let mut input = serde_json::Map::new();
    input.insert(
        "host".into(),
        host_json(req.header("host"), portal.base_domain.as_deref()),
    );
    if let Some(ip) = &req.source_ip {
        input.insert("sourceIp".into(), Value::String(ip.clone()));
    }
    input
}

/// The longest version of a consent's text, in characters (`portal_consents_version_check`).
pub const CONSENT_VERSION_MAX_CHARS: usize = 50;

/// A consent type as the portal records it and intake tasks ask for it: a short snake_case
/// name the clinic's client chooses (`terms`, `privacy_notice`, `telehealth`, …); a 400
/// naming `field` otherwise.
pub fn consent_type<'a>(field: &str, raw: &'a str) -> Result<&'a str, Error> {
    let shaped = (1..=50).contains(&raw.len())
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if shaped {
        Ok(raw)
    } else {
        Err(Error::invalid_field(
            field,
            "Expected a snake_case consent type such as terms or privacy_notice.",
        ))
    }
}

/// `Set-Cookie` for a session cookie: `HttpOnly; Secure; SameSite=Lax`, scoped to `path`. An
/// empty value with `max_age` 0 clears it.
pub fn cookie(name: &str, value: &str, path: &str, max_age: Duration) -> String {
    format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; Secure; SameSite=Lax",
        max_age.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_name_a_slug_under_the_base_domain_or_a_domain() {
        let base = Some("wardline.app");
        assert_eq!(
            host_json(Some("Alpha.Portal.Wardline.App:443"), base),
            json!({"slug": "alpha"})
        );
        assert_eq!(
            host_json(Some("portal.alpha-clinic.com"), base),
            json!({"domain": "portal.alpha-clinic.com"})
        );
        // A deeper name under the base is not a slug.
        assert_eq!(
            host_json(Some("x.alpha.portal.wardline.app"), base),
            json!({"domain": "x.alpha.portal.wardline.app"})
        );
        assert_eq!(
            host_json(Some("alpha.portal.wardline.app"), None),
            json!({"domain": "alpha.portal.wardline.app"})
        );
        assert_eq!(host_json(None, base), json!({}));
    }

    #[test]
    fn consent_types_are_short_snake_case_names() {
        assert_eq!(
            consent_type("type", "privacy_notice_2").unwrap(),
            "privacy_notice_2"
        );
        for bad in ["", "Terms", "2fa", "a-b", &"a".repeat(51)] {
            let error = consent_type("consentType", bad).unwrap_err();
            assert_eq!(error.errors[0].field, "consentType", "{bad:?}");
        }
    }

    #[test]
    fn hmacs_depend_on_key_and_every_part() {
        let a = hmac_hex(b"k", &["email", "ann@example.org"]);
        assert_eq!(a.len(), 64);
        assert_ne!(a, hmac_hex(b"other", &["email", "ann@example.org"]));
        assert_ne!(a, hmac_hex(b"k", &["sms", "ann@example.org"]));
    }
}
