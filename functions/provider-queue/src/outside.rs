//! The services approve-and-send talks to besides PostgreSQL, built once per container:
//! S3 for the prescription PDFs, Secrets Manager for each clinic's pharmacy account, and the
//! pharmacy's API. Each failure names its stage, and never carries PHI into the order's
//! recorded error.

use aws_config::SdkConfig;
use serde::Deserialize;
use serde_json::Value;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use uuid::Uuid;
use wardline_shared::{storage, Error};

/// How long a clinic's pharmacy credentials are reused before Secrets Manager is asked again
/// (a rotated secret is picked up within this).
const CREDENTIALS_TTL: Duration = Duration::from_secs(300);
/// The pharmacy's answer must come within this; the function's own timeout is longer.
const PHARMACY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where approve-and-send puts things, from the environment (see README, configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `WARDLINE_PRESCRIPTIONS_BUCKET`.
    pub bucket: String,
    /// `WARDLINE_PRESCRIPTIONS_KMS_KEY_ID`: objects are put with SSE-KMS under this key;
    /// without it the bucket's default encryption applies.
    pub kms_key_id: Option<String>,
    /// `WARDLINE_PHARMACY_URL`: the pharmacy API's base URL.
    pub pharmacy_url: String,
    /// `WARDLINE_AWS_ENDPOINT_URL`: an S3- and Secrets-Manager-compatible local server
    /// (development and tests only); objects are then addressed by path.
    pub aws_endpoint: Option<String>,
}

impl Settings {
    /// `None` when the deployment has no bucket: approve-and-send then answers 503.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Settings>, Error> {
        let Some(bucket) = lookup("WARDLINE_PRESCRIPTIONS_BUCKET").filter(|b| !b.is_empty()) else {
            return Ok(None);
        };
        let pharmacy_url = lookup("WARDLINE_PHARMACY_URL")
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .ok_or_else(|| {
                Error::internal("WARDLINE_PHARMACY_URL must be an http(s) URL when a prescriptions bucket is set")
            })?;
        Ok(Some(Settings {
            bucket,
            kms_key_id: lookup("WARDLINE_PRESCRIPTIONS_KMS_KEY_ID").filter(|k| !k.is_empty()),
            pharmacy_url: pharmacy_url.trim_end_matches('/').to_owned(),
            aws_endpoint: storage::aws_endpoint(&lookup),
        }))
    }
}

/// A failed step of approve-and-send: which one, and what may be recorded on the order.
#[derive(Debug)]
pub struct Failure {
    pub stage: &'static str,
    pub error: String,
}

impl Failure {
    fn new(stage: &'static str, error: impl std::fmt::Display) -> Failure {
        Failure {
            stage,
            error: format!("{stage}: {error}"),
        }
    }
}

/// A clinic's pharmacy account, as its secret holds it: `{"accountId", "apiKey"}`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub account_id: String,
    pub api_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

/// The clients, shared by every request of the container (the extension handlers find).
#[derive(Clone)]
pub struct Outside {
    s3: aws_sdk_s3::Client,
    secrets: aws_sdk_secretsmanager::Client,
    http: reqwest::Client,
    settings: Arc<Settings>,
    credentials: Arc<Mutex<HashMap<String, (Instant, Credentials)>>>,
}

impl Outside {
    /// From the environment and the AWS configuration Lambda provides; `None` without a bucket.
    pub async fn from_env() -> Result<Option<Outside>, Error> {
        let Some(settings) = Settings::from_lookup(|name| std::env::var(name).ok())? else {
            return Ok(None);
        };
        let sdk = storage::sdk_config(settings.aws_endpoint.as_deref()).await;
        Ok(Some(Outside::new(&sdk, settings)?))
    }

    pub fn new(sdk: &SdkConfig, settings: Settings) -> Result<Outside, Error> {
        Ok(Outside {
            s3: storage::s3_client(sdk, settings.aws_endpoint.is_some()),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            http: reqwest::Client::builder()
                .timeout(PHARMACY_TIMEOUT)
                .build()
                .map_err(Error::internal)?,
            settings: Arc::new(settings),
            credentials: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Where an order's prescription is kept: per clinic and order, nothing about the patient.
    pub fn pdf_key(clinic: Uuid, order: Uuid) -> String {
        format!("prescriptions/{clinic}/{order}.pdf")
    }

    /// Stores the PDF; a retry overwrites the same key.
    pub async fn store(&self, key: &str, pdf: Vec<u8>) -> Result<(), Failure> {
        let put = self
            .s3
            .put_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .content_type("application/pdf")
            .body(pdf.into());
        storage::with_kms(put, self.settings.kms_key_id.as_deref())
            .send()
            .await
            .map_err(|e| {
                Failure::new(
                    "storage",
                    aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        Ok(())
    }

    /// The clinic's pharmacy account, from its secret (cached for [`CREDENTIALS_TTL`]).
    pub async fn credentials(&self, secret_ref: &str) -> Result<Credentials, Failure> {
        if let Some((at, found)) = self.cache().get(secret_ref) {
            if at.elapsed() < CREDENTIALS_TTL {
                return Ok(found.clone());
            }
        }
        let secret = self
            .secrets
            .get_secret_value()
            .secret_id(secret_ref)
            .send()
            .await
            .map_err(|e| {
                Failure::new(
                    "credentials",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e),
                )
            })?;
        let found: Credentials = secret
            .secret_string()
            .ok_or_else(|| Failure::new("credentials", "the secret holds no text"))
            .and_then(|text| {
                serde_json::from_str(text).map_err(|_| {
                    Failure::new(
                        "credentials",
                        "the secret is not {\"accountId\", \"apiKey\"}",
                    )
                })
            })?;
        self.cache()
            .insert(secret_ref.to_owned(), (Instant::now(), found.clone()));
        Ok(found)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Credentials)>> {
        self.credentials.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends the prescription; the pharmacy keeps one per `Idempotency-Key` (the order id), so
    /// a retry after any failure cannot make a second. Answers the pharmacy's reference.
    pub async fn send(
        &self,
        credentials: &Credentials,
        order: Uuid,
        prescription: &Value,
    ) -> Result<String, Failure> {
        let response = self
            .http
            .post(format!("{}/v1/prescriptions", self.settings.pharmacy_url))
            .bearer_auth(&credentials.api_key)
            .header("X-Pharmacy-Account", &credentials.account_id)
            .header("Idempotency-Key", order.to_string())
            .json(prescription)
            .send()
            .await
            .map_err(|e| Failure::new("pharmacy", without_url(e)))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            // The pharmacy's own error code only: its details could echo the prescription.
            let code = body["error"].as_str().unwrap_or("no error code");
            return Err(Failure::new(
                "pharmacy",
                format!("HTTP {} ({code})", status.as_u16()),
            ));
        }
        body["id"]
            .as_str()
            .filter(|id| (1..=200).contains(&id.len()))
            .map(str::to_owned)
            .ok_or_else(|| Failure::new("pharmacy", "the answer has no prescription id"))
    }
}

/// A transport error without the URL (which is configuration, not news).
fn without_url(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    kind.to_owned()
}
