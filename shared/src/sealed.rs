//! Text sealed at rest with AES-256-GCM (session notes, invite tokens awaiting delivery). The
//! keyring comes from configuration;
//! the first key seals, every key opens, and each sealed value carries its key id, so keys can
//! rotate without rewriting old rows. The associated data binds a value to the row it was
//! written for: a ciphertext copied to another session or clinic does not open.

use crate::error::ConfigError;
use crate::error::Error;
use crate::{dates::check_text, limits::NOTES_MAX_BYTES};
use aes_gcm::{
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload},
    Aes256Gcm, Nonce,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};
use uuid::Uuid;

/// The associated data that binds a sealed value to its kind, clinic and row
/// (`session-notes:{org}:{session}`): a ciphertext moved to another row or clinic does not open.
pub fn context(kind: &str, org: Option<Uuid>, row: &str) -> String {
    let org = org.map(|o| o.to_string()).unwrap_or_default();
    format!("{kind}:{org}:{row}")
}

/// What an invite token waiting in the outbox is sealed to: its clinic and patient.
pub fn invite_token_context(org: Option<Uuid>, patient: Uuid) -> String {
    context("invite-token", org, &patient.to_string())
}

/// What a sign-in code waiting in the outbox is sealed to: its outbox message. (The clinic is
/// not known when the code is sealed: the database resolves it in the same statement.)
pub fn otp_code_context(message: Uuid) -> String {
    context("otp-code", None, &message.to_string())
}

/// What an intake submission's answers are sealed to: its clinic, itself, its task and its form
/// version (`shared::forms` seals and opens them; the demo seeds some).
pub fn task_answers_context(
    org: Option<Uuid>,
    submission: Uuid,
    task: Uuid,
    version: Uuid,
) -> String {
    context(
        "task-answers",
        org,
        &format!("{submission}:{task}:{version}"),
    )
}

/// Notes as a client sends them to be sealed: at most [`NOTES_MAX_BYTES`] bytes, no control
/// characters but tab and newline; a 400 naming `field` otherwise.
pub fn check_notes(field: &str, text: &str) -> Result<(), Error> {
    if text.len() > NOTES_MAX_BYTES {
        return Err(Error::invalid_field(
            field,
            format!("Notes hold at most {NOTES_MAX_BYTES} bytes of text."),
        ));
    }
    check_text(field, text)
}

/// A sealed value as stored: key id, 96-bit nonce and ciphertext (with its tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    /// As the database functions take and give it: `{keyId, nonce, ciphertext}`, base64.
    pub fn to_json(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "nonce": STANDARD.encode(&self.nonce),
            "ciphertext": STANDARD.encode(&self.ciphertext),
        })
    }

    /// The inverse of [`Sealed::to_json`]; stored data that does not fit is a 500.
    pub fn from_json(value: &Value) -> Result<Sealed, Error> {
        let text = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default();
        let bytes = |name: &str| {
            STANDARD
                .decode(text(name))
                .map_err(|_| Error::internal(format!("sealed value: {name} is not base64")))
        };
        Ok(Sealed {
            key_id: text("keyId").to_owned(),
            nonce: bytes("nonce")?,
            ciphertext: bytes("ciphertext")?,
        })
    }
}

/// The configured keys, built once per container.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

impl Keyring {
    /// `id:base64key,id:base64key`: 32-byte keys, the first one current. `name` is the
    /// variable the value came from, for the error.
    pub fn parse(name: &'static str, raw: &str) -> Result<Keyring, ConfigError> {
        let mut keys = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, key) = entry
                .split_once(':')
                .ok_or_else(|| ConfigError::new(name, "each key is id:base64"))?;
            let valid_id = !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !valid_id {
                return Err(ConfigError::new(name, format!("bad key id {id:?}")));
            }
            let bytes = STANDARD
                .decode(key)
                .map_err(|_| ConfigError::new(name, format!("key {id:?} is not base64")))?;
            if bytes.len() != 32 {
                return Err(ConfigError::new(
                    name,
                    format!("key {id:?} must be 32 bytes, not {}", bytes.len()),
                ));
            }
            if keys.iter().any(|(known, _)| known == id) {
                return Err(ConfigError::new(name, format!("key id {id:?} repeats")));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| ConfigError::new(name, format!("key {id:?} is not 32 bytes")))?;
            keys.push((id.to_owned(), cipher));
        }
        if keys.is_empty() {
            return Err(ConfigError::new(name, "names no key"));
        }
        Ok(Keyring { keys })
    }

    /// Whether the keyring holds the key `key_id` (a value sealed under a key rotated out of
    /// it cannot be opened here).
    pub fn has_key(&self, key_id: &str) -> bool {
        self.keys.iter().any(|(id, _)| id == key_id)
    }

    /// Seals `text` with the current key, bound to `context` (e.g. clinic and session ids).
    pub fn seal(&self, context: &str, text: &str) -> Result<Sealed, Error> {
        let (key_id, cipher) = &self.keys[0];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: text.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("sealing failed"))?;
        Ok(Sealed {
            key_id: key_id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Opens a value sealed for `context`, or `None` when it was sealed under a key this
    /// keyring no longer holds: logged with `what` and `row` (ids, never the text), so the
    /// caller can answer the rest and say this value is unavailable. A failed tag is a 500.
    pub fn open_if_held(
        &self,
        context: &str,
        sealed: &Sealed,
        what: &str,
        row: &str,
    ) -> Result<Option<String>, Error> {
        if !self.has_key(&sealed.key_id) {
            tracing::error!(what, row, key_id = %sealed.key_id,
                "a value sealed under a key missing from WARDLINE_NOTES_KEYS");
            return Ok(None);
        }
        self.open(context, sealed).map(Some)
    }

    /// Opens a value sealed for `context`. A missing key or a failed tag is a 500: the data or
    /// the configuration is wrong, never the caller.
    pub fn open(&self, context: &str, sealed: &Sealed) -> Result<String, Error> {
        let cipher = self
            .keys
            .iter()
            .find(|(id, _)| *id == sealed.key_id)
            .map(|(_, cipher)| cipher)
            .ok_or_else(|| {
                Error::internal(format!("no key {:?} to open a sealed value", sealed.key_id))
            })?;
        let nonce: [u8; 12] = sealed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| Error::internal("sealed value with a bad nonce"))?;
        let plain = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("a sealed value did not verify"))?;
        String::from_utf8(plain).map_err(|_| Error::internal("sealed text is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(raw: &str) -> Keyring {
        Keyring::parse("TEST", raw).unwrap()
    }

    const K1: &str = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const K2: &str = "k2:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

    #[test]
    fn seals_with_the_first_key_and_opens_with_any() {
        let old = ring(K1);
        let sealed = old.seal("org/session", "Slept better.").unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert_ne!(sealed.ciphertext, b"Slept better.");
        let rotated = ring(&format!("{K2},{K1}"));
        assert_eq!(
            rotated.open("org/session", &sealed).unwrap(),
            "Slept better."
        );
        assert_eq!(rotated.seal("x", "y").unwrap().key_id, "k2");
        assert!(rotated.has_key("k1") && rotated.has_key("k2"));
        assert!(!ring(K2).has_key("k1"));
    }

    #[test]
    fn a_value_opens_only_for_its_own_context_and_untouched() {
        let keys = ring(K1);
        let mut sealed = keys.seal("org-a/s1", "text").unwrap();
        assert!(keys.open("org-b/s1", &sealed).is_err());
        sealed.ciphertext[0] ^= 1;
        assert!(keys.open("org-a/s1", &sealed).is_err());
        assert!(ring(K2)
            .open("org-a/s1", &keys.seal("org-a/s1", "t").unwrap())
            .is_err());
    }

    #[test]
    fn bad_keyrings_are_refused() {
        for raw in [
            "",
            "k1",
            "k1:notbase64!",
            "k1:AAAA",
            "bad id:AAAA",
            &format!("{K1},{K1}"),
        ] {
            assert!(Keyring::parse("TEST", raw).is_err(), "{raw:?}");
        }
    }
}
