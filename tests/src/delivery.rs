//! Calling the provider webhooks as Twilio and SendGrid do: SendGrid's Signed Event Webhook
//! with a P-256 key pair made here (its public half is the test functions'
//! `WARDLINE_SENDGRID_WEBHOOK_KEY`), and the one-click unsubscribe.

use crate::{dispatch, Reply, TestDb};
use base64::{engine::general_purpose::STANDARD, Engine};
use http::Method;
use p256::{
    ecdsa::{signature::Signer, Signature, SigningKey},
    pkcs8::EncodePublicKey,
};

pub const EMAIL_EVENTS: &str = "/api/webhooks/email";
pub const TWILIO_STATUS: &str = "/api/webhooks/twilio/status";
pub const UNSUBSCRIBE: &str = "/api/email/unsubscribe";
/// The test functions' `WARDLINE_UNSUBSCRIBE_KEY` (base64).
pub const UNSUBSCRIBE_KEY: &str = "dW5zdWJzY3JpYmUta2V5LWZvci10ZXN0cy1vbmx5LTMyYg==";

/// "SendGrid's" signing key: fixed, so every test function of the binary trusts it.
pub fn sendgrid_key() -> SigningKey {
    SigningKey::from_slice(&[0x5e; 32]).expect("a P-256 scalar")
}

/// Its public half as SendGrid's settings page shows it: base64 DER SubjectPublicKeyInfo.
pub fn sendgrid_public_key() -> String {
    let der = sendgrid_key()
        .verifying_key()
        .to_public_key_der()
        .expect("DER");
    STANDARD.encode(der.as_bytes())
}

/// SendGrid's signature of `timestamp` followed by `body` under `key`: base64 DER.
pub fn sendgrid_signature(key: &SigningKey, timestamp: &str, body: &str) -> String {
    let signature: Signature = key.sign(format!("{timestamp}{body}").as_bytes());
    STANDARD.encode(signature.to_der().as_bytes())
}

/// The Unix time now, as SendGrid's timestamp header carries it.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A POST to a provider-webhooks route.
pub async fn post(
    db: &TestDb,
    path: &str,
    headers: &[(&str, String)],
    body: impl Into<String>,
) -> Reply {
    let mut request = http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("host", "api.wardline.test");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(lambda_http::Body::Text(body.into()))
        .expect("building a request");
    dispatch(&db.ctx, &provider_webhooks::FUNCTION, request).await
}

/// SendGrid's call with `events` (a JSON array's text), signed with its key at `timestamp`.
pub async fn email_events(db: &TestDb, events: &str, timestamp: i64) -> Reply {
    let timestamp = timestamp.to_string();
    let signature = sendgrid_signature(&sendgrid_key(), &timestamp, events);
    post(
        db,
        EMAIL_EVENTS,
        &[
            ("content-type", "application/json".into()),
            ("x-twilio-email-event-webhook-signature", signature),
            ("x-twilio-email-event-webhook-timestamp", timestamp),
        ],
        events,
    )
    .await
}
