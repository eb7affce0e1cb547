//! Moving booked sessions: `POST /sessions/{id}/reschedule` (staff pick the time) and the
//! patients' reschedule requests (`GET /reschedule-requests`, `POST
//! /reschedule-requests/{id}/approve` and `/decline`). A move keeps the session's id, patient,
//! clinician and history; it goes through the calendar locks and the exclusion constraints
//! like a booking, so a time taken meanwhile is a 409 and nothing changes.

use crate::session_id;
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::json;
use wardline_shared::{
    auth::Claims,
    dates::required_text,
    db::Operation,
    http::{Incoming, Reply},
    operation, page,
    times::rfc3339,
    Context, Error,
};

const RESCHEDULE: Operation = operation!("reschedule_session");
const REQUESTS: Operation = operation!(read "reschedule_requests");
const APPROVE: Operation = operation!("approve_reschedule");
const DECLINE: Operation = operation!("decline_reschedule");

/// A session lasts at most this long (the sessions table's own check).
const MAX_SESSION_HOURS: i64 = 12;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RescheduleBody {
    start_time: String,
    end_time: String,
    /// An admin's override of the clinician's published hours, as on a hold.
    #[serde(default)]
    outside_hours: bool,
}

/// `POST /sessions/{id}/reschedule` with `{start_time, end_time, outside_hours?}` (RFC 3339) →
/// the session. Inside the clinician's published hours unless an admin overrides them.
pub async fn reschedule(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let id = session_id(&req)?;
    let body: RescheduleBody = req.json()?;
    let start = rfc3339("start_time", &body.start_time)?;
    let end = rfc3339("end_time", &body.end_time)?;
    if start <= Utc::now() {
        return Err(Error::invalid_field(
            "start_time",
            "A session moves to a time still ahead.",
        ));
    }
    if end <= start {
        return Err(Error::invalid_field(
            "end_time",
            "Must be after start_time.",
        ));
    }
    if end - start > Duration::hours(MAX_SESSION_HOURS) {
        return Err(Error::invalid_field(
            "end_time",
            format!("A session lasts at most {MAX_SESSION_HOURS} hours."),
        ));
    }
    let input = json!({
        "sessionId": id,
        "start": start,
        "end": end,
        "outsideHours": body.outside_hours,
    });
    Ok(Reply::ok(ctx.db.call(RESCHEDULE, &caller, &input).await?))
}

/// `GET /reschedule-requests?status=pending|approved|declined|withdrawn&limit=&cursor=` →
/// `{requests, nextCursor}`, oldest first.
pub async fn requests(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let mut input = json!({ "status": "pending", "limit": page::DEFAULT_LIMIT, "after": null });
    for (name, value) in req.query_params(&["status", "limit", "cursor"])? {
        match name {
            "status" if matches!(value, "pending" | "approved" | "declined" | "withdrawn") => {
                input["status"] = json!(value)
            }
            "status" => {
                return Err(Error::invalid_field(
                    name,
                    "pending, approved, declined or withdrawn.",
                ))
            }
            "limit" => input["limit"] = json!(page::limit(value)?),
            _ => input["after"] = json!(page::cursor(value)?),
        }
    }
    req.expect_no_body()?;
    Ok(Reply::json_text(
        ctx.db.relay(REQUESTS, &caller, &input).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ApproveBody {
    start_time: String,
}

/// `POST /reschedule-requests/{id}/approve` with `{startTime}` (one of the proposed) → the
/// request, approved, with the moved session.
pub async fn approve(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let id = req.uuid_param("id")?;
    let body: ApproveBody = req.json()?;
    let start = rfc3339("startTime", &body.start_time)?;
    let input = json!({ "requestId": id, "startTime": start });
    Ok(Reply::ok(ctx.db.call(APPROVE, &caller, &input).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclineBody {
    reason: String,
}

/// `POST /reschedule-requests/{id}/decline` with `{reason}` → the request, declined.
pub async fn decline(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let id = req.uuid_param("id")?;
    let body: DeclineBody = req.json()?;
    let reason = required_text("reason", &body.reason, 500)?;
    let input = json!({ "requestId": id, "reason": reason });
    Ok(Reply::ok(ctx.db.call(DECLINE, &caller, &input).await?))
}
