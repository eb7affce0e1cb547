//! What message-sender and the provider webhooks share about delivery: the settings that
//! verify the providers' calls (Twilio's auth token and the URL it signs, SendGrid's
//! event-webhook key) and the one-click unsubscribe token of an e-mail.

use crate::error::ConfigError;
use hmac::{Hmac, Mac};
use p256::{ecdsa::VerifyingKey, pkcs8::DecodePublicKey};
use sha2::Sha256;
use uuid::Uuid;

/// The delivery settings, read once per container (`WARDLINE_TWILIO_AUTH_TOKEN`,
/// `WARDLINE_TWILIO_WEBHOOK_URL`, `WARDLINE_SENDGRID_WEBHOOK_KEY`, `WARDLINE_UNSUBSCRIBE_KEY`;
/// see README.md). Each is optional: what needs a missing one answers 503.
#[derive(Clone, Default)]
pub struct DeliveryConfig {
    /// Twilio signs its webhooks with the account's auth token.
    pub twilio_auth_token: Option<String>,
    /// The exact URL Twilio calls for inbound texts (what it signs); the status callback is
    /// this URL followed by `/status`. Default: `https://{Host}{path}`.
    pub twilio_webhook_url: Option<String>,
    /// SendGrid's public key for its Signed Event Webhook.
    pub sendgrid_webhook_key: Option<VerifyingKey>,
    /// HMAC-SHA256 key of unsubscribe tokens.
    pub unsubscribe_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for DeliveryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryConfig")
            .field("twilio_webhook_url", &self.twilio_webhook_url)
            .field("sendgrid_webhook_key", &self.sendgrid_webhook_key.is_some())
            .finish_non_exhaustive()
    }
}

/// The path Twilio's status callback appends to the inbound webhook's URL.
pub const TWILIO_STATUS_SUFFIX: &str = "/status";

/// SendGrid's verification key as its settings page shows it: base64 DER SubjectPublicKeyInfo
/// of a P-256 key.
pub fn sendgrid_key(name: &'static str, raw: &str) -> Result<VerifyingKey, ConfigError> {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let der = STANDARD
        .decode(raw.trim())
        .map_err(|_| ConfigError::new(name, "is not base64"))?;
    VerifyingKey::from_public_key_der(&der)
        .map_err(|_| ConfigError::new(name, "is not a DER P-256 public key"))
}

/// Bytes of the token's MAC: 128 bits is plenty for a link that only unsubscribes.
const TAG_BYTES: usize = 16;

fn tag(key: &[u8], message: Uuid) -> Hmac<Sha256> {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"unsubscribe:");
    mac.update(message.as_bytes());
    mac
}

/// The token of an e-mail's one-click unsubscribe link: the outbox message's id and a MAC of
/// it, so the link names no address and cannot be made for another message.
pub fn unsubscribe_token(key: &[u8], message: Uuid) -> String {
    let mac = tag(key, message).finalize().into_bytes();
    format!("{}.{}", message.simple(), hex::encode(&mac[..TAG_BYTES]))
}

/// The message an unsubscribe token was made for; `None` for anything not made with `key`.
pub fn unsubscribe_message(key: &[u8], token: &str) -> Option<Uuid> {
    let (id, mac) = token.split_once('.')?;
    let message = Uuid::try_parse(id).ok()?;
    let mac = hex::decode(mac).ok().filter(|m| m.len() == TAG_BYTES)?;
    tag(key, message)
        .verify_truncated_left(&mac)
        .ok()
        .map(|()| message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsubscribe_tokens_open_only_under_their_key_and_unchanged() {
        let message = Uuid::new_v4();
        let token = unsubscribe_token(b"key", message);
        assert_eq!(unsubscribe_message(b"key", &token), Some(message));
        assert_eq!(unsubscribe_message(b"other", &token), None);
        let other = unsubscribe_token(b"key", Uuid::new_v4());
        let (id, _) = token.split_once('.').unwrap();
        let (_, mac) = other.split_once('.').unwrap();
        assert_eq!(unsubscribe_message(b"key", &format!("{id}.{mac}")), None);
        for bad in ["", ".", "x.y", &token[..token.len() - 2]] {
            assert_eq!(unsubscribe_message(b"key", bad), None, "{bad}");
        }
    }

    #[test]
    fn sendgrid_keys_are_base64_der_p256() {
        use p256::pkcs8::EncodePublicKey;
        let secret = p256::SecretKey::from_slice(&[7; 32]).unwrap();
        let der = secret.public_key().to_public_key_der().unwrap();
        use base64::{engine::general_purpose::STANDARD, Engine};
        assert!(sendgrid_key("K", &STANDARD.encode(der.as_bytes())).is_ok());
        assert_eq!(sendgrid_key("K", "not base64!").unwrap_err().name, "K");
        assert!(sendgrid_key("K", &STANDARD.encode(b"short")).is_err());
    }
}
