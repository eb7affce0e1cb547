//! Secure messages' text. It is sealed here (AES-256-GCM, the notes keyring) before it reaches
//! the database, bound to its clinic and message id, and opened here after: SQL only ever holds
//! `{keyId, nonce, ciphertext}`. The portal and the staff inbox both use it.

use crate::{auth::Claims, dates::required_text, error::Error, sealed, Context};
use serde_json::{json, Value};
use uuid::Uuid;

/// The longest message, in characters (the messages table's ciphertext bound).
pub const MAX_CHARS: usize = 8000;

/// `{threadId, messageId, sealed}` for the SQL functions that post: a new message id, the
/// text checked (1 to [`MAX_CHARS`], no control characters; a 400 naming `body`) and sealed.
pub fn sealed_input(
    ctx: &Context,
    caller: &Claims,
    thread: Uuid,
    text: &str,
) -> Result<serde_json::Map<String, Value>, Error> {
    let text = required_text("body", text, MAX_CHARS)?;
    let id = Uuid::new_v4();
    let sealed = ctx
        .sealing_keys()?
        .seal(&context(caller, id), text)?
        .to_json();
    let mut input = serde_json::Map::new();
    input.insert("threadId".into(), json!(thread));
    input.insert("messageId".into(), json!(id));
    input.insert("sealed".into(), sealed);
    Ok(input)
}

/// Replaces each message's `sealed` with its `body`, in an answer's `messages` (a page) or
/// `message` (a post). Text sealed under a key this deployment no longer holds is left out
/// (`bodyUnavailable: true`) and logged, as notes are: the rest of the page is still good.
pub fn open(ctx: &Context, caller: &Claims, answer: &mut Value) -> Result<(), Error> {
    let keys = ctx.sealing_keys()?;
    let Some(answer) = answer.as_object_mut() else {
        return Ok(());
    };
    let mut found: Vec<&mut Value> = Vec::new();
    for (name, value) in answer.iter_mut() {
        match (name.as_str(), value) {
            ("message", message) => found.push(message),
            ("messages", Value::Array(messages)) => found.extend(messages.iter_mut()),
            _ => {}
        }
    }
    for message in found {
        let Some(stored) = message.as_object_mut().and_then(|m| m.remove("sealed")) else {
            continue;
        };
        let stored = sealed::Sealed::from_json(&stored)?;
        let id: Uuid = message
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| Error::internal("a message without an id"))?;
        if !keys.has_key(&stored.key_id) {
            tracing::error!(message = %id, key_id = %stored.key_id,
                "message sealed under a key missing from WARDLINE_NOTES_KEYS");
            message["bodyUnavailable"] = json!(true);
            continue;
        }
        message["body"] = json!(keys.open(&context(caller, id), &stored)?);
    }
    Ok(())
}

/// What a message's text is bound to: its clinic and its id.
fn context(caller: &Claims, message: Uuid) -> String {
    sealed::context("message", caller.org_id, &message.to_string())
}
