//! S3, built once per container: the client (against the AWS configuration Lambda provides, or
//! the local S3-compatible server `WARDLINE_AWS_ENDPOINT_URL` names in development and tests),
//! SSE-KMS on every put, and the documents bucket whose files browsers move themselves through
//! short-lived presigned URLs (so no file passes through a function).

use crate::{Context, Error};
use aws_sdk_s3::{
    config::RequestChecksumCalculation, operation::put_object::builders::PutObjectFluentBuilder,
    presigning::PresigningConfig, types::ServerSideEncryption,
};
use serde_json::{json, Value};
use std::time::Duration;

/// The content types a document may have.
pub const CONTENT_TYPES: &[&str] = &["application/pdf", "image/jpeg", "image/png", "image/heic"];
/// The largest document, in bytes (20 MiB; app.documents keeps the same bound).
pub const MAX_BYTES: u64 = 20 * 1024 * 1024;
/// How long a presigned upload may start after it was handed out.
const PUT_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// How long a presigned download may start after it was handed out.
const GET_EXPIRY: Duration = Duration::from_secs(2 * 60);

/// `WARDLINE_AWS_ENDPOINT_URL`: a local S3-compatible server, objects then addressed by path.
pub fn aws_endpoint(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    lookup("WARDLINE_AWS_ENDPOINT_URL").filter(|u| !u.is_empty())
}

/// The AWS configuration of the container, pointed at `endpoint` when there is one.
pub async fn sdk_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// An S3 client; `local`: a local server, which addresses buckets by path. Checksums only where
/// S3 requires them, so a presigned PUT signs no checksum of a body it has not seen.
pub fn s3_client(sdk: &aws_config::SdkConfig, local: bool) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(local)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build(),
    )
}

/// A put encrypted with SSE-KMS under `kms_key_id`; without one the bucket's default applies.
pub fn with_kms(put: PutObjectFluentBuilder, kms_key_id: Option<&str>) -> PutObjectFluentBuilder {
    match kms_key_id {
        Some(kms) => put
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(kms),
        None => put,
    }
}

/// Where documents go, from the environment (see README, configuration).
#[derive(Debug, Clone)]
pub struct DocumentSettings {
    /// `WARDLINE_DOCUMENTS_BUCKET`.
    pub bucket: String,
    /// `WARDLINE_DOCUMENTS_KMS_KEY_ID`: uploads must be SSE-KMS under this key (it is signed
    /// into the presigned PUT); without it the bucket's default encryption applies.
    pub kms_key_id: Option<String>,
    /// See [`aws_endpoint`].
    pub aws_endpoint: Option<String>,
}

impl DocumentSettings {
    /// `None` when the deployment has no documents bucket: document routes then answer 503.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<DocumentSettings> {
        let bucket = lookup("WARDLINE_DOCUMENTS_BUCKET").filter(|b| !b.is_empty())?;
        Some(DocumentSettings {
            bucket,
            kms_key_id: lookup("WARDLINE_DOCUMENTS_KMS_KEY_ID").filter(|k| !k.is_empty()),
            aws_endpoint: aws_endpoint(&lookup),
        })
    }
}

/// What S3 holds under a key, as its HEAD reports it.
#[derive(Debug, PartialEq)]
pub struct Stored {
    pub size_bytes: i64,
    pub content_type: Option<String>,
}

/// The documents bucket (the container's extension the document routes find).
#[derive(Clone)]
pub struct Documents {
    s3: aws_sdk_s3::Client,
    settings: DocumentSettings,
}

impl Documents {
    /// From the environment; `None` without a bucket.
    pub async fn from_env() -> Option<Documents> {
        let settings = DocumentSettings::from_lookup(|name| std::env::var(name).ok())?;
        let sdk = sdk_config(settings.aws_endpoint.as_deref()).await;
        Some(Documents::new(&sdk, settings))
    }

    pub fn new(sdk: &aws_config::SdkConfig, settings: DocumentSettings) -> Documents {
        Documents {
            s3: s3_client(sdk, settings.aws_endpoint.is_some()),
            settings,
        }
    }

    /// The bucket of the request's function; 503 where the deployment has none.
    pub fn of(ctx: &Context) -> Result<&Documents, Error> {
        ctx.extensions.get::<Documents>().ok_or_else(|| {
            Error::unavailable(
                "storage_unavailable",
                "Document storage (WARDLINE_DOCUMENTS_BUCKET) is not configured on this deployment.",
            )
        })
    }

    /// A presigned PUT of exactly `size_bytes` of `content_type` to `key`, SSE-KMS: the
    /// browser must send the answer's headers as they are, or S3 refuses the signature.
    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size_bytes: i64,
    ) -> Result<Value, Error> {
        let put = self
            .s3
            .put_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size_bytes);
        let presigned = with_kms(put, self.settings.kms_key_id.as_deref())
            .presigned(presigning(PUT_EXPIRY)?)
            .await
            .map_err(storage_error)?;
        Ok(answer(&presigned, PUT_EXPIRY))
    }

    /// A presigned GET of `key`, good for a couple of minutes.
    pub async fn presign_get(&self, key: &str) -> Result<Value, Error> {
        let presigned = self
            .s3
            .get_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .presigned(presigning(GET_EXPIRY)?)
            .await
            .map_err(storage_error)?;
        Ok(answer(&presigned, GET_EXPIRY))
    }

    /// The size and content type S3 holds under `key`; `None` when there is no object.
    pub async fn stored(&self, key: &str) -> Result<Option<Stored>, Error> {
        match self
            .s3
            .head_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(Stored {
                size_bytes: head.content_length().unwrap_or(0),
                content_type: head.content_type().map(str::to_owned),
            })),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(e) => Err(storage_error(e)),
        }
    }
}

fn presigning(expires_in: Duration) -> Result<PresigningConfig, Error> {
    PresigningConfig::expires_in(expires_in).map_err(Error::internal)
}

/// A failed S3 call: a 503 for the client, the SDK's account (keys only, no PHI) in the log.
fn storage_error<E: std::error::Error + Send + Sync + 'static>(
    error: aws_sdk_s3::error::SdkError<E>,
) -> Error {
    let mut failed = Error::unavailable("storage_unavailable", "Document storage did not answer.");
    failed.internal = Some(aws_sdk_s3::error::DisplayErrorContext(error).to_string());
    failed
}

/// A presigned request as the routes answer it: `{method, url, headers, expiresInSeconds}`.
fn answer(presigned: &aws_sdk_s3::presigning::PresignedRequest, expires_in: Duration) -> Value {
    let headers: serde_json::Map<String, Value> = presigned
        .headers()
        .map(|(name, value)| (name.to_owned(), json!(value)))
        .collect();
    json!({
        "method": presigned.method(),
        "url": presigned.uri(),
        "headers": headers,
        "expiresInSeconds": expires_in.as_secs(),
    })
}
