//! `confirm-booking`: turns live holds into booked (`scheduled`) sessions, in one transaction:
//! every hold named is confirmed, or none is. The billing code comes from the service and the
//! CPT units from the session's real length (the database derives both).
//!
//! The body is the seed web client's: each item names a hold key and restates its session row
//! (`therapist_id`, `client_id`, `start_time`, `end_time`, with the offsets and zone it was
//! held with). Rust reads the restated times; the database compares what is restated with
//! what is held.

use chrono_tz::Tz;
use http::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    handler,
    http::{Access, Function, Incoming, Reply, Route, CLINICIANS},
    limits, operation, times, Context, Error,
};

pub const FUNCTION: Function = Function {
    name: "confirm-booking",
    routes: &[Route {
        method: Method::POST,
        path: "/sessions-confirm",
        name: "ConfirmBooking",
        access: Access::Staff(CLINICIANS),
        handler: handler!(confirm),
    }],
};

const CONFIRM: Operation = operation!(idempotent "confirm_booking");

/// The body, and each of its `occurrences` (which have none of their own).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Item {
    /// A request's hold key (every occurrence) or one occurrence's.
    hold_key: Uuid,
    session: SessionRow,
    /// Minutes east of UTC of `session.start_time` / `end_time` when they carry no offset.
    start_time_offset_minutes: Option<i32>,
    end_time_offset_minutes: Option<i32>,
    /// The IANA zone the hold was made in; the offsets must be its own at those times.
    time_zone: Option<String>,
    /// Occurrences with details of their own; their keys are confirmed too.
    #[serde(default)]
    occurrences: Vec<Item>,
}

/// The session row as the client keeps it. Everything but the service restates the hold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionRow {
    /// The clinic's service (and so the CPT code) the session is billed as.
    #[serde(rename = "serviceId", alias = "service_id")]
    service_id: Uuid,
    #[serde(alias = "session_id")]
    id: Option<Uuid>,
    therapist_id: Option<Uuid>,
    client_id: Option<Uuid>,
    start_time: Option<String>,
    end_time: Option<String>,
    /// What confirming makes the session: `scheduled`.
    status: Option<String>,
    /// Notes are saved with `PUT /sessions/{id}/notes`; a row may carry none here.
    notes: Option<String>,
}

/// `POST /sessions-confirm` → `{sessions: [session]}`. Requires `Idempotency-Key`; a retried
/// confirmation replays the first one's answer and books nothing twice.
async fn confirm(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: Item = req.json()?;
    let key = req.idempotency_key()?;
    if body.occurrences.len() > limits::MAX_OCCURRENCES {
        return Err(Error::invalid_field(
            "occurrences",
            format!("At most {} occurrences.", limits::MAX_OCCURRENCES),
        ));
    }
    let mut items = vec![item("", &body)?];
    for (i, o) in body.occurrences.iter().enumerate() {
        let prefix = format!("occurrences[{i}].");
        if !o.occurrences.is_empty() {
            return Err(Error::invalid_field(
                format!("{prefix}occurrences"),
                "An occurrence has no occurrences of its own.",
            ));
        }
        items.push(item(&prefix, o)?);
    }
    let input = json!({ "idempotencyKey": key, "items": items });
    Ok(Reply::ok(ctx.db.call(CONFIRM, &caller, &input).await?))
}

/// One item of `api.confirm_booking`'s input: `{holdKey, serviceId, field, restates}`, where
/// `restates` holds what the row restates (`sessionId`, `clinicianId`, `patientId`, `start`,
/// `end`; instants in UTC) for the database to compare with the hold.
fn item(prefix: &str, item: &Item) -> Result<Value, Error> {
    let row = &item.session;
    if row.status.as_deref().is_some_and(|s| s != "scheduled") {
        return Err(Error::unprocessable(
            "contradicts_hold",
            &format!("{prefix}session.status"),
            "Confirming books the session as scheduled.",
        ));
    }
    if row.notes.as_deref().is_some_and(|n| !n.trim().is_empty()) {
        return Err(Error::unprocessable(
            "contradicts_hold",
            &format!("{prefix}session.notes"),
            "Notes are not saved by confirming; save them with PUT /sessions/{id}/notes.",
        ));
    }
    let zone: Option<Tz> = item
        .time_zone
        .as_deref()
        .map(|name| times::zone(&format!("{prefix}timeZone"), name))
        .transpose()?;
    let instant = |member: &str, raw: &Option<String>, offset_member: &str, offset| {
        raw.as_deref()
            .map(|raw| {
                times::instant(
                    &format!("{prefix}session.{member}"),
                    raw,
                    (&format!("{prefix}{offset_member}"), offset),
                    zone,
                    zone,
                )
            })
            .transpose()
    };
    let start = instant(
        "start_time",
        &row.start_time,
        "startTimeOffsetMinutes",
        item.start_time_offset_minutes,
    )?;
    let end = instant(
        "end_time",
        &row.end_time,
        "endTimeOffsetMinutes",
        item.end_time_offset_minutes,
    )?;
    let restates: Map<String, Value> = [
        ("sessionId", row.id.map(|id| json!(id))),
        ("clinicianId", row.therapist_id.map(|id| json!(id))),
        ("patientId", row.client_id.map(|id| json!(id))),
        ("start", start.map(|t| json!(t.to_rfc3339()))),
        ("end", end.map(|t| json!(t.to_rfc3339()))),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
    .collect();
    Ok(json!({
        "holdKey": item.hold_key,
        "serviceId": row.service_id,
        "field": prefix.trim_end_matches('.'),
        "restates": restates,
    }))
}
