//! The waitlist: a patient waits for time with a clinician inside a window. When such time is
//! freed (a cancellation, a move), the oldest waiting entry gets an offer: a hold on that time
//! for a while (the clinic's `waitlist_offer_minutes`); claiming it books the session, letting
//! it lapse passes the time to the next entry. `POST /api/portal/waitlist` (join), `GET` (the
//! patient's entries and offers), `DELETE /api/portal/waitlist/{id}` (leave, turning down a
//! live offer), `POST /api/portal/waitlist/{id}/claim`.

use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::portal::input as portal_input;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation,
    times::rfc3339,
    Context, Error,
};

const JOIN: Operation = operation!("portal_join_waitlist");
const LIST: Operation = operation!(read "portal_waitlist");
const LEAVE: Operation = operation!("portal_leave_waitlist");
const CLAIM: Operation = operation!("portal_claim_offer");

/// The longest window one entry may wait in (the table's own check).
const MAX_WINDOW_DAYS: i64 = 366;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Join {
    clinician_id: Uuid,
    earliest: String,
    latest: String,
}

/// `POST /api/portal/waitlist` with `{clinicianId, earliest, latest}` → the entry (joining
/// again for the same clinician and window returns the same entry).
pub async fn join(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: Join = req.json()?;
    let earliest = rfc3339("earliest", &body.earliest)?;
    let latest = rfc3339("latest", &body.latest)?;
    if latest <= earliest {
        return Err(Error::invalid_field("latest", "Must be after earliest."));
    }
    if latest <= Utc::now() {
        return Err(Error::invalid_field("latest", "Must be in the future."));
    }
    if latest - earliest > Duration::days(MAX_WINDOW_DAYS) {
        return Err(Error::invalid_field(
            "latest",
            format!("A window spans at most {MAX_WINDOW_DAYS} days."),
        ));
    }
    let mut input = portal_input(ctx.portal()?, &req);
    input.extend([
        ("clinicianId".into(), json!(body.clinician_id)),
        ("earliest".into(), json!(earliest)),
        ("latest".into(), json!(latest)),
    ]);
    let entry = ctx.db.call(JOIN, &patient, &Value::Object(input)).await?;
    Ok(Reply::created(entry))
}

/// `GET /api/portal/waitlist` → `{entries}`: waiting and offered ones, and those that ended in
/// the last 30 days, newest first; a live offer with its time and expiry.
pub async fn list(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    req.expect_nothing()?;
    let input = Value::Object(portal_input(ctx.portal()?, &req));
    Ok(Reply::json_text(
        ctx.db.relay(LIST, &patient, &input).await?,
    ))
}

/// `DELETE /api/portal/waitlist/{id}` → the entry, `left`.
pub async fn leave(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    on_entry(ctx, patient, req, LEAVE).await
}

/// `POST /api/portal/waitlist/{id}/claim` → the booked appointment; 409 `no_offer` or
/// `offer_expired`.
pub async fn claim(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    on_entry(ctx, patient, req, CLAIM).await
}

async fn on_entry(
    ctx: &Context,
    patient: Claims,
    req: Incoming,
    operation: Operation,
) -> Result<Reply, Error> {
    let id = req.uuid_param("id")?;
    req.expect_nothing()?;
    let mut input = portal_input(ctx.portal()?, &req);
    input.insert("entryId".into(), json!(id));
    Ok(Reply::ok(
        ctx.db
            .call(operation, &patient, &Value::Object(input))
            .await?,
    ))
}
