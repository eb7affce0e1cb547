//! Secure messages' text. It is sealed here (AES-256-GCM, the notes keyring) before it reaches
//! the database, bound to its clinic, message, thread and author, and opened here after: SQL
//! only ever holds `{keyId, nonce, ciphertext}`, and a row moved to another thread or given
//! another author no longer opens. The portal and the staff inbox both use it.

use crate::{
    auth::{AppRole, Claims},
    dates::required_text,
    error::Error,
    sealed, Context,
};
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
    let (sender, sender_id) = match (caller.app_role, caller.patient_id) {
        (AppRole::Patient, Some(patient)) => ("patient", patient),
        _ => ("staff", caller.sub),
    };
    let bound = context(caller.org_id, id, thread, sender, sender_id);
    let sealed = ctx.sealing_keys()?.seal(&bound, text)?.to_json();
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
        let uuid = |name: &str| -> Result<Uuid, Error> {
            message
                .get(name)
                .and_then(Value::as_str)
                .and_then(|id| id.parse().ok())
                .ok_or_else(|| Error::internal(format!("a message without its {name}")))
        };
        let (id, thread, sender_id) = (uuid("id")?, uuid("threadId")?, uuid("senderId")?);
        let sender = message
            .get("sender")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let bound = context(caller.org_id, id, thread, sender, sender_id);
        match keys.open_if_held(&bound, &stored, "message", &id.to_string())? {
            Some(body) => message["body"] = json!(body),
            None => message["bodyUnavailable"] = json!(true),
        }
    }
    Ok(())
}

/// What a message's text is bound to: its clinic, its id, its thread and its author.
pub fn context(
    org: Option<Uuid>,
    message: Uuid,
    thread: Uuid,
    sender: &str,
    sender_id: Uuid,
) -> String {
    sealed::context(
        "message",
        org,
        &format!("{message}:{thread}:{sender}:{sender_id}"),
    )
}
