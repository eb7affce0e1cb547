//! The development identity provider: one ES256 key, its JWKS, and tokens minted with it.
//! The local stack keeps the key under `target/wardline-dev/` so minted tokens outlive a
//! restart; tests make a fresh key per test binary.

use anyhow::{Context as _, Result};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{json, Value};
use std::{
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};
use uuid::Uuid;

pub const ISSUER: &str = "https://wardline.local/dev-idp";
pub const AUDIENCE: &str = "wardline";
pub const KID: &str = "wardline-dev-es256";

pub struct DevKeys {
    pem: String,
    encoding: EncodingKey,
}

/// Who a token is for, in Wardline's canonical claim names.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    pub sub: Uuid,
    pub org_id: Option<Uuid>,
    pub app_role: &'static str,
    pub patient_id: Option<Uuid>,
}

impl DevKeys {
    pub fn generate() -> Result<DevKeys> {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let pem = secret.to_pkcs8_pem(LineEnding::LF)?.to_string();
        DevKeys::from_pem(pem)
    }

    pub fn load_or_create(path: &Path) -> Result<DevKeys> {
        if let Ok(pem) = std::fs::read_to_string(path) {
            return DevKeys::from_pem(pem);
        }
        let keys = DevKeys::generate()?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, &keys.pem).with_context(|| format!("writing {}", path.display()))?;
        Ok(keys)
    }

    /// The private key as PKCS#8 PEM (the local stack's portal key is one of these too).
    pub fn pem(&self) -> &str {
        &self.pem
    }

    fn from_pem(pem: String) -> Result<DevKeys> {
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes())?;
        Ok(DevKeys { pem, encoding })
    }

    /// The public half as a JWKS document.
    pub fn jwks(&self) -> Result<Value> {
        use p256::pkcs8::DecodePrivateKey;
        let secret = p256::SecretKey::from_pkcs8_pem(&self.pem)?;
        let mut jwk: Value = serde_json::from_str(&secret.public_key().to_jwk_string())?;
        jwk["kid"] = json!(KID);
        jwk["alg"] = json!("ES256");
        jwk["use"] = json!("sig");
        Ok(json!({ "keys": [jwk] }))
    }

    /// Signs any claims as-is: tests use this to build broken tokens too.
    pub fn sign(&self, claims: &Value) -> Result<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(KID.to_owned());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// A valid token for `who`, living `ttl_secs`.
    pub fn mint(&self, who: &Identity, ttl_secs: u64) -> Result<String> {
        self.sign(&claims_for(who, ttl_secs))
    }
}

/// The standard claims of a valid dev token for `who`.
pub fn claims_for(who: &Identity, ttl_secs: u64) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut claims = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": who.sub,
        "app_role": who.app_role,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_secs,
    });
    if let Some(org) = who.org_id {
        claims["org_id"] = json!(org);
    }
    if let Some(patient) = who.patient_id {
        claims["patient_id"] = json!(patient);
    }
    claims
}

/// Serves `/.well-known/jwks.json`.
pub fn jwks_router(jwks: Value) -> axum::Router {
    axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    )
}
