//! Therapists: the clinicians with a therapist or prescriber membership of the caller's clinic,
//! as `TherapistDto` (`{therapistId, userId, firstName, lastName, email, licenseNumber?,
//! specialization?, phoneNumber?, status, isAdmin, createdAt, updatedAt}`).
//!
//! `therapistId` and `userId` are one id: the clinician's, which is the identity provider's
//! subject (the `sub` claim, or the claim `WARDLINE_CLAIM_SUB` names). `POST /therapists`
//! takes the provider's subject of an existing account as `userId`, or draws one for the
//! deployment to give the account it creates; either way the new therapist's sign-in is that
//! account, and the staff invite e-mail tells them to use it.
//!
//! - `POST /therapists` (admins): a new person, pending in the admin's clinic; 201.
//! - `GET /therapists?status=active|pending|inactive` (therapists: active only),
//!   `GET /therapists/new` (admins: pending), `GET /therapists/with-patients` (admins): pages
//!   by name (`limit`, `cursor`).
//! - `GET /therapists/{therapistId}`, `GET /therapists/user/{userId}`,
//!   `GET /therapists/{therapistId}/patients`: the therapist themself or an admin.
//! - `POST /therapists/{therapistId}/approve | deactivate | reactivate` (admins, not on
//!   themselves): a deactivated therapist's next request is a 403.

use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    contact::{self, person_name},
    dates::one_line,
    db::Operation,
    http::{Incoming, Reply},
    operation,
    page::{keyset, Page},
    Context, Error,
};

const CREATE: Operation = operation!("create_therapist");
const READ: Operation = operation!(read "therapist");
const LIST: Operation = operation!(read "therapists");
const PATIENTS: Operation = operation!(read "therapist_patients");
const CHANGE: Operation = operation!("change_therapist");

/// The statuses a therapist has in a clinic.
const STATUSES: [&str; 3] = ["active", "pending", "inactive"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewTherapist {
    email: String,
    first_name: String,
    last_name: String,
    /// The identity provider's subject of the person's account, when it exists already.
    user_id: Option<Uuid>,
    license_number: Option<String>,
    specialization: Option<String>,
    phone_number: Option<String>,
}

/// `POST /therapists` → 201, the therapist (`status: pending`); 409 `clinician_exists` naming
/// `email` or `userId` when Wardline already has that person (in any clinic).
pub async fn create(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: NewTherapist = req.json()?;
    if body.user_id.is_some_and(|id| id.is_nil()) {
        return Err(Error::invalid_field(
            "userId",
            "The identity provider's subject of the account, a UUID that is not nil.",
        ));
    }
    let input = json!({
        "userId": body.user_id.unwrap_or_else(Uuid::new_v4),
        "email": contact::email("email", &body.email)?,
        "firstName": person_name("firstName", &body.first_name)?,
        "lastName": person_name("lastName", &body.last_name)?,
        "licenseNumber": optional_line("licenseNumber", body.license_number.as_deref(), 64)?,
        "specialization": optional_line("specialization", body.specialization.as_deref(), 200)?,
        "phoneNumber": body
            .phone_number
            .as_deref()
            .map(|raw| contact::phone("phoneNumber", raw))
            .transpose()?,
    });
    Ok(Reply::created(ctx.db.call(CREATE, &caller, &input).await?))
}

/// An optional line of text, checked as [`one_line`] when given.
fn optional_line<'a>(
    field: &str,
    raw: Option<&'a str>,
    max: usize,
) -> Result<Option<&'a str>, Error> {
    raw.map(|text| one_line(field, text, max)).transpose()
}

/// `GET /therapists/{therapistId}` → the therapist.
pub async fn read(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    one(ctx, caller, req, "therapistId").await
}

/// `GET /therapists/user/{userId}` → the same therapist (`userId` is `therapistId`).
pub async fn read_by_user(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    one(ctx, caller, req, "userId").await
}

async fn one(ctx: &Context, caller: Claims, req: Incoming, param: &str) -> Result<Reply, Error> {
    let therapist = req.uuid_param(param)?;
    req.expect_nothing()?;
    let input = json!({ "therapistId": therapist, "field": param });
    Ok(Reply::json_text(ctx.db.relay(READ, &caller, &input).await?))
}

/// `GET /therapists?status&limit&cursor` → `{therapists, nextCursor}`.
pub async fn list(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    page(ctx, caller, req, None, false).await
}

/// `GET /therapists/new?limit&cursor`: those waiting for an admin's approval.
pub async fn pending(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    page(ctx, caller, req, Some("pending"), false).await
}

/// `GET /therapists/with-patients?status&limit&cursor`: each with `patients: [{patientId,
/// firstName, lastName}]`, their active care-team patients.
pub async fn with_patients(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    page(ctx, caller, req, None, true).await
}

/// A page of therapists of `status` (else the `status` parameter's, default active).
async fn page(
    ctx: &Context,
    caller: Claims,
    req: Incoming,
    status: Option<&str>,
    with_patients: bool,
) -> Result<Reply, Error> {
    let extra: &[&str] = if status.is_some() { &[] } else { &["status"] };
    let (mut input, rest) = keyset(&req, extra)?;
    req.expect_no_body()?;
    let status = match (status, rest.first()) {
        (Some(fixed), _) => fixed,
        (None, None) => "active",
        (None, Some((_, wanted))) => STATUSES
            .into_iter()
            .find(|s| s == wanted)
            .ok_or_else(|| Error::invalid_field("status", "One of active, pending, inactive."))?,
    };
    input.insert("status".into(), Value::from(status));
    input.insert("withPatients".into(), Value::from(with_patients));
    Ok(Reply::json_text(
        ctx.db.relay(LIST, &caller, &Value::Object(input)).await?,
    ))
}

/// `GET /therapists/{therapistId}/patients?limit&cursor&search` → `{patients: [PatientDto
/// without medical notes], nextCursor}`: the patients in the therapist's care the caller sees.
pub async fn patients(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let therapist = req.uuid_param("therapistId")?;
    let mut input = Page::from_query(&req)?.input();
    input["therapistId"] = json!(therapist);
    Ok(Reply::json_text(
        ctx.db.relay(PATIENTS, &caller, &input).await?,
    ))
}

/// `POST /therapists/{therapistId}/approve` → the therapist, now active.
pub async fn approve(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    change(ctx, caller, req, "approve").await
}

/// `POST /therapists/{therapistId}/deactivate` → the therapist, now inactive: their next
/// request is refused.
pub async fn deactivate(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    change(ctx, caller, req, "deactivate").await
}

/// `POST /therapists/{therapistId}/reactivate` → the therapist, active again (or pending, if
/// never approved).
pub async fn reactivate(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    change(ctx, caller, req, "reactivate").await
}

async fn change(
    ctx: &Context,
    caller: Claims,
    req: Incoming,
    action: &str,
) -> Result<Reply, Error> {
    let therapist = req.uuid_param("therapistId")?;
    req.expect_nothing()?;
    let input = json!({ "therapistId": therapist, "action": action });
    Ok(Reply::ok(ctx.db.call(CHANGE, &caller, &input).await?))
}
