//! Therapist–patient relationships: the rows of `app.care_team`, which the OktaPT care-team
//! routes change too. `Active`, `Suspended` (an admin's, through the OktaPT `PATCH`) and
//! `Inactive` are the care team's `active`, `suspended` and `inactive`; one row per pair.
//! A therapist acts only for themself, an admin for any therapist of the clinic; both need the
//! clinic's `therapistPatientAssignment`. Each answers `{therapistId, patientId, status,
//! notes?, assignedBy, assignedAt, changed}`.
//!
//! - `POST /therapist-patient-relationships` `{therapistId, patientId, notes?}`: created, or an
//!   inactive one reactivated; an active one is answered unchanged (`changed: false`), a
//!   suspended one is a 409.
//! - `DELETE /therapist-patient-relationships/{therapistId}/{patientId}`: soft-deleted to
//!   `Inactive`.

use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    dates::optional_text,
    db::Operation,
    http::{Incoming, Reply},
    limits::CARE_TEAM_NOTES_MAX_CHARS,
    operation, Context, Error,
};

const ADD: Operation = operation!("add_relationship");
const END: Operation = operation!("end_relationship");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewRelationship {
    therapist_id: Uuid,
    patient_id: Uuid,
    notes: Option<String>,
}

/// `POST /therapist-patient-relationships` → the relationship as it now is.
pub async fn create(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: NewRelationship = req.json()?;
    let notes = optional_text("notes", body.notes.as_deref(), CARE_TEAM_NOTES_MAX_CHARS)?;
    let input = json!({
        "therapistId": body.therapist_id,
        "patientId": body.patient_id,
        "notes": notes,
    });
    Ok(Reply::ok(ctx.db.call(ADD, &caller, &input).await?))
}

/// `DELETE /therapist-patient-relationships/{therapistId}/{patientId}` → the relationship,
/// `Inactive`.
pub async fn end(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let therapist = req.uuid_param("therapistId")?;
    let patient = req.uuid_param("patientId")?;
    req.expect_nothing()?;
    let input = json!({ "therapistId": therapist, "patientId": patient });
    Ok(Reply::ok(ctx.db.call(END, &caller, &input).await?))
}
