//! The signed-in patient's own appointments. `GET /api/portal/appointments?when=upcoming|past&
//! limit=&cursor=`: booked sessions (scheduled, completed, no-show, cancelled; never notes)
//! with their clinician and service, upcoming soonest first (the default) or past latest
//! first, a page at a time. `POST …/{id}/confirm`, `…/{id}/cancel` (until the clinic's
//! late-cancellation window) and `…/{id}/reschedule-request`. Which sessions exist for the
//! patient is the sessions policy's decision.

use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};
use wardline_shared::portal::input as portal_input;
use wardline_shared::{
    auth::Claims,
    dates::required_text,
    db::Operation,
    http::{Incoming, Reply},
    operation, page,
    times::rfc3339,
    Context, Error,
};

const APPOINTMENTS: Operation = operation!(read "portal_appointments");

pub async fn list(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let mut input = portal_input(ctx.portal()?, &req);
    input.extend([
        ("when".into(), json!("upcoming")),
        ("limit".into(), json!(page::DEFAULT_LIMIT)),
    ]);
    for (name, value) in req.query_params(&["when", "limit", "cursor"])? {
        let value = match name {
            "when" if matches!(value, "upcoming" | "past") => json!(value),
            "when" => return Err(Error::invalid_field(name, "upcoming or past.")),
            "limit" => json!(page::limit(value)?),
            _ => json!(page::cursor(value)?),
        };
        input.insert(if name == "cursor" { "after" } else { name }.into(), value);
    }
    req.expect_no_body()?;
    let page = ctx
        .db
        .relay(APPOINTMENTS, &patient, &Value::Object(input))
        .await?;
    Ok(Reply::json_text(page))
}

const CONFIRM: Operation = operation!("portal_confirm_appointment");
const CANCEL: Operation = operation!("portal_cancel_appointment");
const REQUEST_RESCHEDULE: Operation = operation!("portal_request_reschedule");
const FEEDBACK: Operation = operation!("portal_give_feedback");

/// The most times one reschedule request may propose.
const MAX_PROPOSALS: usize = 5;

/// `POST /api/portal/appointments/{id}/confirm` → the appointment with `confirmedAt`.
pub async fn confirm(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let id = req.uuid_param("id")?;
    req.expect_nothing()?;
    let mut input = portal_input(ctx.portal()?, &req);
    input.insert("sessionId".into(), json!(id));
    let confirmed = ctx
        .db
        .call(CONFIRM, &patient, &Value::Object(input))
        .await?;
    Ok(Reply::ok(confirmed))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    reason: Option<String>,
}

/// `POST /api/portal/appointments/{id}/cancel` with an optional `{reason}` → the appointment,
/// cancelled; 409 `late_cancellation` (with the `deadline`) inside the clinic's window.
pub async fn cancel(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let id = req.uuid_param("id")?;
    let body: CancelBody = if req.body.is_empty() {
        CancelBody::default()
    } else {
        req.json()?
    };
    let reason = match &body.reason {
        Some(reason) => Some(required_text("reason", reason, 1000)?),
        None => None,
    };
    let mut input = portal_input(ctx.portal()?, &req);
    input.extend([
        ("sessionId".into(), json!(id)),
        ("reason".into(), json!(reason)),
    ]);
    let cancelled = ctx.db.call(CANCEL, &patient, &Value::Object(input)).await?;
    Ok(Reply::ok(cancelled))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RescheduleRequest {
    start_times: Vec<String>,
    note: Option<String>,
}

/// `POST /api/portal/appointments/{id}/reschedule-request` with `{startTimes, note?}`: one to
/// five future start times (the appointment keeps its length) → the request, pending until
/// staff approve or decline it. A new request replaces a pending one.
pub async fn request_reschedule(
    ctx: &Context,
    patient: Claims,
    req: Incoming,
) -> Result<Reply, Error> {
    let id = req.uuid_param("id")?;
    let body: RescheduleRequest = req.json()?;
    if !(1..=MAX_PROPOSALS).contains(&body.start_times.len()) {
        return Err(Error::invalid_field(
            "startTimes",
            format!("Propose 1 to {MAX_PROPOSALS} start times."),
        ));
    }
    let now = Utc::now();
    let mut proposed = Vec::with_capacity(body.start_times.len());
    for (i, raw) in body.start_times.iter().enumerate() {
        let field = format!("startTimes[{i}]");
        let start = rfc3339(&field, raw)?;
        if start <= now {
            return Err(Error::invalid_field(field, "Propose a time in the future."));
        }
        if proposed.contains(&start) {
            return Err(Error::invalid_field(field, "Proposed twice."));
        }
        proposed.push(start);
    }
    let note = match &body.note {
        Some(note) => Some(required_text("note", note, 500)?),
        None => None,
    };
    let mut input = portal_input(ctx.portal()?, &req);
    input.extend([
        ("sessionId".into(), json!(id)),
        ("startTimes".into(), json!(proposed)),
        ("note".into(), json!(note)),
    ]);
    let created = ctx
        .db
        .call(REQUEST_RESCHEDULE, &patient, &Value::Object(input))
        .await?;
    Ok(Reply::created(created))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Feedback {
    nps: Option<u8>,
    csat: Option<u8>,
    comment: Option<String>,
}

/// `POST /api/portal/appointments/{id}/feedback` with `{nps?: 0–10, csat?: 1–5, comment?}` (at
/// least one rating) → 201, the feedback. Once per session, only for one that took place.
pub async fn feedback(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let id = req.uuid_param("id")?;
    let body: Feedback = req.json()?;
    if body.nps.is_some_and(|n| n > 10) {
        return Err(Error::invalid_field("nps", "A whole number from 0 to 10."));
    }
    if body.csat.is_some_and(|n| !(1..=5).contains(&n)) {
        return Err(Error::invalid_field("csat", "A whole number from 1 to 5."));
    }
    if body.nps.is_none() && body.csat.is_none() {
        return Err(Error::invalid_field("nps", "Give nps, csat or both."));
    }
    let comment = match &body.comment {
        Some(comment) => Some(required_text("comment", comment, 1000)?),
        None => None,
    };
    let mut input = portal_input(ctx.portal()?, &req);
    input.extend([
        ("sessionId".into(), json!(id)),
        ("nps".into(), json!(body.nps)),
        ("csat".into(), json!(body.csat)),
        ("comment".into(), json!(comment)),
    ]);
    let given = ctx
        .db
        .call(FEEDBACK, &patient, &Value::Object(input))
        .await?;
    Ok(Reply::created(given))
}
