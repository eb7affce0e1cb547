//! `POST /v2/doctor/patients/assign`, and `DELETE` / `PATCH`
//! `/v2/doctor/patients/{patientId}/therapists/{therapistId}`. Behind the clinic's
//! `therapistPatientAssignment` flag. Each answers with the care-team member as it now is
//! (`{patientId, therapistId, status, assignedBy, assignedAt, notes?, changed}`); repeating a
//! request changes nothing and says so with `changed: false`.

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

const ASSIGN: Operation = operation!("assign_patient");
const SET_STATUS: Operation = operation!("set_care_team_status");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AssignBody {
    patient_id: Uuid,
    /// The clinician to add; the caller when absent.
    target_doctor_id: Option<Uuid>,
    notes: Option<String>,
}

/// Adds a clinician (the caller by default) to a patient's care team, or reactivates them.
pub async fn assign(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: AssignBody = req.json()?;
    let notes = optional_text("notes", body.notes.as_deref(), CARE_TEAM_NOTES_MAX_CHARS)?;
    let input = json!({
        "patientId": body.patient_id,
        "targetDoctorId": body.target_doctor_id,
        "notes": notes,
    });
    Ok(Reply::ok(ctx.db.call(ASSIGN, &caller, &input).await?))
}

/// Removes a clinician from a patient's care team (kept as history, status `inactive`). A
/// clinician may remove themselves; an admin anyone.
pub async fn remove(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let (patient, therapist) = member(&req)?;
    req.expect_nothing()?;
    change(ctx, &caller, patient, therapist, "inactive").await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Suspended,
    Active,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: Status,
}

/// Suspends or reactivates a care-team member (admins only).
pub async fn set_status(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let (patient, therapist) = member(&req)?;
    let body: StatusBody = req.json()?;
    let status = match body.status {
        Status::Suspended => "suspended",
        Status::Active => "active",
    };
    change(ctx, &caller, patient, therapist, status).await
}

fn member(req: &Incoming) -> Result<(Uuid, Uuid), Error> {
    Ok((req.uuid_param("patientId")?, req.uuid_param("therapistId")?))
}

async fn change(
    ctx: &Context,
    caller: &Claims,
    patient: Uuid,
    therapist: Uuid,
    status: &str,
) -> Result<Reply, Error> {
    let input = json!({ "patientId": patient, "therapistId": therapist, "status": status });
    Ok(Reply::ok(ctx.db.call(SET_STATUS, caller, &input).await?))
}
