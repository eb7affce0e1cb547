//! A patient's guardians: the portal accounts that act for them (a parent for a child). The
//! patient's care team and the clinic's admins list, add and end them (`db/policies/
//! guardians.sql`); an ended relationship stops the guardian's tokens at their next request.
//!
//! `GET|POST /clients/{clientId}/guardians`, `POST /guardianships/{id}/end`.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation, Context, Error,
};

const LIST: Operation = operation!(read "guardians");
const ADD: Operation = operation!("add_guardian");
const END: Operation = operation!("end_guardianship");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewGuardian {
    guardian_id: Uuid,
    relationship: Relationship,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
enum Relationship {
    Parent,
    LegalGuardian,
    Caregiver,
    Other,
}

/// `GET /clients/{clientId}/guardians` → `{guardianships}`: the client's guardians and the
/// dependents the client is guardian of, active first.
pub async fn list(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let patient = req.uuid_param("clientId")?;
    req.expect_nothing()?;
    Ok(Reply::json_text(
        ctx.db
            .relay(LIST, &caller, &json!({ "patientId": patient }))
            .await?,
    ))
}

/// `POST /clients/{clientId}/guardians` with `{guardianId, relationship}` → 201, the
/// relationship; 409 `guardian_exists` when it is already active.
pub async fn add(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let patient = req.uuid_param("clientId")?;
    let body: NewGuardian = req.json()?;
    let input = json!({
        "patientId": patient,
        "guardianId": body.guardian_id,
        "relationship": body.relationship,
    });
    Ok(Reply::created(ctx.db.call(ADD, &caller, &input).await?))
}

/// `POST /guardianships/{id}/end` → the relationship, ended (again: unchanged).
pub async fn end(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let guardianship = req.uuid_param("id")?;
    req.expect_nothing()?;
    Ok(Reply::ok(
        ctx.db
            .call(END, &caller, &json!({ "guardianshipId": guardianship }))
            .await?,
    ))
}
