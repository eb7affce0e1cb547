//! Patients as Fuji36's `PatientDto` (`{patientId, userId, userExternalId?, firstName,
//! lastName, email?, avatarUrl?, dateOfBirth?, phoneNumber?, address?, medicalNotes?,
//! createdAt, updatedAt}`). `userId` is the patient's id: the portal account they sign in as,
//! so `/patients/user/{userId}` reads the same record as `/patients/{patientId}`.
//!
//! Who reads a patient is the patients policy: the clinic's admins and the patient's care team
//! (the whole clinic's clinicians where the clinic turned on `allActivePatientsDashboard`);
//! anyone else gets the 404 an unknown id gets. Patients read their own record through the
//! portal (`GET /api/portal/me`), whose tokens no staff route accepts. Only admins write.
//!
//! Medical notes are PHI: sealed here with the notes keyring, bound to the clinic and the
//! patient, before they reach the database, and opened here after; SQL, logs and errors never
//! hold the text. Single reads carry them; lists do not.
//!
//! - `POST /patients` (admins) → 201; `PATCH /patients/{patientId}` (admins): the fields it
//!   names, `null` clearing an optional one.
//! - `GET /patients/{patientId}`, `GET /patients/user/{userId}`, `GET
//!   /patients?limit&cursor&search`.
//! - `POST /patients/{patientId}/archive | restore` (admins): an archived patient is invisible
//!   to every policy until restored.

use serde_json::{json, Map, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    contact::{self, person_name},
    dates::{one_line, required_text},
    db::Operation,
    http::{Incoming, Reply},
    operation,
    page::Page,
    sealed::{self, Sealed},
    times::birth_date,
    Context, Error,
};

const CREATE: Operation = operation!("create_patient");
const READ: Operation = operation!(read "patient");
const LIST: Operation = operation!(read "patients");
const UPDATE: Operation = operation!("update_patient");
const ARCHIVE: Operation = operation!("archive_patient");
const RESTORE: Operation = operation!("restore_patient");

/// The fields a patient is written with: PatientDto's names.
const FIELDS: [&str; 9] = [
    "firstName",
    "lastName",
    "email",
    "phoneNumber",
    "dateOfBirth",
    "address",
    "avatarUrl",
    "userExternalId",
    "medicalNotes",
];

/// `POST /patients` with `{firstName, lastName, …}` → 201, the patient; 409 `patient_exists`
/// naming `email` or `userExternalId` when a live patient of the clinic has it.
pub async fn create(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let patient = Uuid::new_v4();
    let fields = checked_fields(ctx, &caller, patient, req.json()?, true)?;
    let input = json!({ "patientId": patient, "fields": fields });
    let answer = ctx.db.call(CREATE, &caller, &input).await?;
    Ok(Reply::created(opened(ctx, &caller, answer)?))
}

/// `GET /patients/{patientId}` → the patient, with their medical notes.
pub async fn read(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    one(ctx, caller, req, "patientId").await
}

/// `GET /patients/user/{userId}` → the same patient (`userId` is `patientId`).
pub async fn read_by_user(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    one(ctx, caller, req, "userId").await
}

async fn one(ctx: &Context, caller: Claims, req: Incoming, param: &str) -> Result<Reply, Error> {
    let patient = req.uuid_param(param)?;
    req.expect_nothing()?;
    let input = json!({ "patientId": patient, "field": param });
    let answer = ctx.db.call(READ, &caller, &input).await?;
    Ok(Reply::ok(opened(ctx, &caller, answer)?))
}

/// `GET /patients?limit&cursor&search` → `{patients, nextCursor}`: the patients the caller
/// sees, by name, without medical notes.
pub async fn list(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let input = Page::from_query(&req)?.input();
    Ok(Reply::json_text(ctx.db.relay(LIST, &caller, &input).await?))
}

/// `PATCH /patients/{patientId}` with the fields to change → the patient.
pub async fn update(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let patient = req.uuid_param("patientId")?;
    let fields = checked_fields(ctx, &caller, patient, req.json()?, false)?;
    let input = json!({ "patientId": patient, "fields": fields });
    let answer = ctx.db.call(UPDATE, &caller, &input).await?;
    Ok(Reply::ok(opened(ctx, &caller, answer)?))
}

/// `POST /patients/{patientId}/archive` → the patient as they were, `archived: true`.
pub async fn archive(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    lifecycle(ctx, caller, req, ARCHIVE).await
}

/// `POST /patients/{patientId}/restore` → the patient, `archived: false`.
pub async fn restore(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    lifecycle(ctx, caller, req, RESTORE).await
}

async fn lifecycle(
    ctx: &Context,
    caller: Claims,
    req: Incoming,
    op: Operation,
) -> Result<Reply, Error> {
    let patient = req.uuid_param("patientId")?;
    req.expect_nothing()?;
    let answer = ctx
        .db
        .call(op, &caller, &json!({ "patientId": patient }))
        .await?;
    Ok(Reply::ok(opened(ctx, &caller, answer)?))
}

/// The body's fields, each checked (a 400 naming the first that is wrong), medical notes
/// sealed for `patient`. Creating, `null` is absent and both names are required; changing,
/// `null` clears a field (not a name) and at least one is named.
fn checked_fields(
    ctx: &Context,
    caller: &Claims,
    patient: Uuid,
    body: Map<String, Value>,
    creating: bool,
) -> Result<Map<String, Value>, Error> {
    let mut fields = Map::new();
    for (name, value) in body {
        if !FIELDS.contains(&name.as_str()) {
            return Err(Error::invalid_field(
                name,
                format!("Unknown field; a patient has {}.", FIELDS.join(", ")),
            ));
        }
        let value = match value {
            Value::Null if creating => continue,
            Value::Null if name == "firstName" || name == "lastName" => {
                return Err(Error::invalid_field(name, "A patient keeps their name."));
            }
            Value::Null => Value::Null,
            Value::String(raw) => checked(ctx, caller, patient, &name, &raw)?,
            _ => {
                return Err(Error::invalid_field(
                    name,
                    "Expected a string, or null to clear it.",
                ))
            }
        };
        fields.insert(name, value);
    }
    if creating {
        for name in ["firstName", "lastName"] {
            if !fields.contains_key(name) {
                return Err(Error::invalid_field(name, "Required."));
            }
        }
    } else if fields.is_empty() {
        return Err(Error::invalid_field(
            "body",
            "Name at least one field to change.",
        ));
    }
    Ok(fields)
}

/// One field's value as the database takes it.
fn checked(
    ctx: &Context,
    caller: &Claims,
    patient: Uuid,
    field: &str,
    raw: &str,
) -> Result<Value, Error> {
    Ok(match field {
        "firstName" | "lastName" => json!(person_name(field, raw)?),
        "email" => json!(contact::email(field, raw)?),
        "phoneNumber" => json!(contact::phone(field, raw)?),
        "dateOfBirth" => json!(birth_date(field, raw)?),
        "address" => json!(required_text(field, raw, 500)?),
        "userExternalId" => json!(one_line(field, raw, 128)?),
        "avatarUrl" => json!(avatar_url(field, raw)?),
        _ => {
            sealed::check_notes(field, raw)?;
            if raw.trim().is_empty() {
                return Err(Error::invalid_field(
                    field,
                    "Give the notes, or null to clear them.",
                ));
            }
            ctx.sealing_keys()?
                .seal(&notes_context(caller, patient), raw)?
                .to_json()
        }
    })
}

/// An `https` URL of at most 2,048 characters without spaces (the patients table's check).
fn avatar_url<'a>(field: &str, raw: &'a str) -> Result<&'a str, Error> {
    let shaped = raw.len() <= 2048
        && raw.len() > "https://".len()
        && raw.starts_with("https://")
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    if !shaped {
        return Err(Error::invalid_field(
            field,
            "Expected an https URL of at most 2048 characters.",
        ));
    }
    Ok(raw)
}

/// What a patient's medical notes are bound to: their clinic and their id.
fn notes_context(caller: &Claims, patient: Uuid) -> String {
    sealed::context("medical-notes", caller.org_id, &patient.to_string())
}

/// The answer with its `sealedMedicalNotes` opened into `medicalNotes` (or, sealed under a
/// key this deployment no longer holds, `medicalNotesUnavailable: true`).
fn opened(ctx: &Context, caller: &Claims, mut answer: Value) -> Result<Value, Error> {
    let Some(stored) = answer
        .as_object_mut()
        .and_then(|a| a.remove("sealedMedicalNotes"))
    else {
        return Ok(answer);
    };
    let patient: Uuid = answer["patientId"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| Error::internal("a patient answer without its patientId"))?;
    let opened = ctx.sealing_keys()?.open_if_held(
        &notes_context(caller, patient),
        &Sealed::from_json(&stored)?,
        "medical notes",
        &patient.to_string(),
    )?;
    match opened {
        Some(notes) => answer["medicalNotes"] = json!(notes),
        None => answer["medicalNotesUnavailable"] = json!(true),
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatar_urls_are_https_without_spaces() {
        assert!(avatar_url("avatarUrl", "https://cdn.example/a.png").is_ok());
        for bad in [
            "http://cdn.example/a.png",
            "https://",
            "https://cdn.example/a b.png",
            &format!("https://{}", "a".repeat(2048)),
        ] {
            assert!(avatar_url("avatarUrl", bad).is_err(), "{bad}");
        }
    }
}
