//! A session's note. `PUT /sessions/{id}/notes` writes the draft; `POST …/notes/sign` (the
//! session's clinician) locks it; `POST …/notes/cosign` (an admin, not the signer) finalises it
//! where the clinic requires a co-signature; `POST …/notes/addenda` adds to a signed note;
//! `GET /sessions/{id}/notes` reads the note with its addenda, audited (a text sealed under a
//! key the keyring no longer holds comes back as `notesUnavailable`, as in the schedule).
//! Every text is sealed here (AES-256-GCM, bound to the clinic and its row) before it reaches
//! the database and opened here after: SQL never sees it. A signed note refused for edit is a 409 `note_locked`
//! naming the lock (`lock: {signedAt, signedBy}`).

use crate::session_id;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation,
    sealed::{self, Keyring, Sealed},
    Context, Error,
};

const SAVE: Operation = operation!("save_session_notes");
const READ: Operation = operation!("session_notes");
const SIGN: Operation = operation!("sign_session_notes");
const COSIGN: Operation = operation!("cosign_session_notes");
const ADDENDUM: Operation = operation!("add_note_addendum");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotesBody {
    notes: String,
}

impl NotesBody {
    fn checked(req: &Incoming) -> Result<String, Error> {
        let body: NotesBody = req.json()?;
        sealed::check_notes("notes", &body.notes)?;
        Ok(body.notes)
    }
}

/// `PUT /sessions/{id}/notes` with `{notes}` → the note's state. The text is sealed bound to
/// the clinic and session, so it cannot be moved to another row.
pub async fn save(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let id = session_id(&req)?;
    let notes = NotesBody::checked(&req)?;
    let mut input = ctx
        .sealing_keys()?
        .seal(&notes_context(&caller, &id.to_string()), &notes)?
        .to_json();
    input["sessionId"] = json!(id);
    Ok(Reply::ok(ctx.db.call(SAVE, &caller, &input).await?))
}

/// `POST /sessions/{id}/notes/sign` → the note's state; signing again changes nothing.
pub async fn sign(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let id = session_id(&req)?;
    req.expect_nothing()?;
    let input = json!({ "sessionId": id });
    Ok(Reply::ok(ctx.db.call(SIGN, &caller, &input).await?))
}

/// `POST /sessions/{id}/notes/cosign` → the note's state, final.
pub async fn cosign(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let id = session_id(&req)?;
    req.expect_nothing()?;
    let input = json!({ "sessionId": id });
    Ok(Reply::ok(ctx.db.call(COSIGN, &caller, &input).await?))
}

/// `POST /sessions/{id}/notes/addenda` with `{notes}` → 201 `{id, sessionId, createdAt,
/// createdBy}`.
pub async fn add_addendum(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let id = session_id(&req)?;
    let notes = NotesBody::checked(&req)?;
    let addendum = Uuid::new_v4();
    let mut input = ctx
        .sealing_keys()?
        .seal(&addendum_context(&caller, &addendum.to_string()), &notes)?
        .to_json();
    input["sessionId"] = json!(id);
    input["addendumId"] = json!(addendum);
    Ok(Reply::created(
        ctx.db.call(ADDENDUM, &caller, &input).await?,
    ))
}

/// `GET /sessions/{id}/notes` → the note's state with `notes` and `addenda: [{id, notes,
/// createdAt, createdBy}]`, oldest addendum first.
pub async fn read(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let id = session_id(&req)?;
    req.expect_nothing()?;
    let mut note = ctx
        .db
        .call(READ, &caller, &json!({ "sessionId": id }))
        .await?;
    let keys = ctx.sealing_keys()?;
    let session = id.to_string();
    open_member(
        keys,
        &mut note,
        "sealedNotes",
        &notes_context(&caller, &session),
        &session,
    )?;
    if let Some(addenda) = note.get_mut("addenda").and_then(Value::as_array_mut) {
        for addendum in addenda {
            let row = addendum["id"].as_str().unwrap_or_default().to_owned();
            open_member(
                keys,
                addendum,
                "sealed",
                &addendum_context(&caller, &row),
                &row,
            )?;
        }
    }
    Ok(Reply::ok(note))
}

/// Replaces a schedule session's `sealedNotes` with `notes` and `notesUpdatedAt` (see
/// [`open_member`]); a session without notes is left as it is.
pub(crate) fn open_in_session(
    ctx: &Context,
    caller: &Claims,
    session: &mut Value,
) -> Result<(), Error> {
    let Some(updated_at) = session.pointer("/sealedNotes/updatedAt").cloned() else {
        return Ok(());
    };
    let id = session
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::internal("api.schedule answered a session without an id"))?
        .to_owned();
    session["notesUpdatedAt"] = updated_at;
    open_member(
        ctx.sealing_keys()?,
        session,
        "sealedNotes",
        &notes_context(caller, &id),
        &id,
    )
}

/// Replaces the sealed value `value[member]` with `notes`, opened for `context`. A value sealed
/// under a key this deployment's keyring no longer holds is left out (`notesUnavailable:
/// true`) and logged, so the rest of the answer is still good; one that does not verify under
/// a key it holds is a 500.
fn open_member(
    keys: &Keyring,
    value: &mut Value,
    member: &str,
    context: &str,
    row: &str,
) -> Result<(), Error> {
    let sealed = value
        .as_object_mut()
        .and_then(|v| v.remove(member))
        .ok_or_else(|| Error::internal(format!("an answer without its {member}")))?;
    match keys.open_if_held(context, &Sealed::from_json(&sealed)?, "notes", row)? {
        Some(notes) => value["notes"] = json!(notes),
        None => value["notesUnavailable"] = json!(true),
    }
    Ok(())
}

/// What a session's notes are bound to: its clinic and its id.
fn notes_context(caller: &Claims, session_id: &str) -> String {
    sealed::context("session-notes", caller.org_id, session_id)
}

/// What an addendum is bound to: its clinic and its own id.
fn addendum_context(caller: &Claims, addendum_id: &str) -> String {
    sealed::context("note-addendum", caller.org_id, addendum_id)
}
