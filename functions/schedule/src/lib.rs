//! `schedule`: reading the schedule, cancelling a session, and writing its notes. Who sees what
//! is RLS's decision (a clinician their own sessions and holds, an admin the clinic's, a patient
//! their own booked sessions without notes).
//!
//! - [`notes`]: a session's note — written, signed (locked), co-signed, amended by addenda —
//!   sealed here before it reaches the database and opened here after.
//! - [`moves`]: moving a session, and patients' reschedule requests (list, approve, decline).
//! - [`attendance`]: completed and no-show.
//! - [`client`]: one patient with their sessions.
//! - [`feedback`]: the admins' report of session feedback.

pub mod attendance;
pub mod client;
pub mod feedback;
pub mod moves;
pub mod notes;

use chrono::Duration;
use http::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    dates::required_text,
    db::Operation,
    handler,
    http::{Access, Function, Incoming, Reply, Route, ADMINS, CLINICIANS},
    operation,
    times::rfc3339,
    Context, Error,
};

pub const FUNCTION: Function = Function {
    name: "schedule",
    routes: &[
        Route {
            method: Method::GET,
            path: "/schedule",
            name: "ReadSchedule",
            access: Access::Staff(CLINICIANS),
            handler: handler!(list),
        },
        Route {
            method: Method::POST,
            path: "/sessions/{id}/cancel",
            name: "CancelSession",
            access: Access::Staff(CLINICIANS),
            handler: handler!(cancel),
        },
        Route {
            method: Method::PUT,
            path: "/sessions/{id}/notes",
            name: "SaveSessionNotes",
            access: Access::Staff(CLINICIANS),
            handler: handler!(notes::save),
        },
        Route {
            method: Method::GET,
            path: "/sessions/{id}/notes",
            name: "ReadSessionNotes",
            access: Access::Staff(CLINICIANS),
            handler: handler!(notes::read),
        },
        Route {
            method: Method::POST,
            path: "/sessions/{id}/notes/sign",
            name: "SignSessionNotes",
            access: Access::Staff(CLINICIANS),
            handler: handler!(notes::sign),
        },
        Route {
            method: Method::POST,
            path: "/sessions/{id}/notes/cosign",
            name: "CosignSessionNotes",
            access: Access::Staff(ADMINS),
            handler: handler!(notes::cosign),
        },
        Route {
            method: Method::POST,
            path: "/sessions/{id}/notes/addenda",
            name: "AddNoteAddendum",
            access: Access::Staff(CLINICIANS),
            handler: handler!(notes::add_addendum),
        },
        Route {
            method: Method::POST,
            path: "/sessions/{id}/reschedule",
            name: "RescheduleSession",
            access: Access::Staff(CLINICIANS),
            handler: handler!(moves::reschedule),
        },
        Route {
            method: Method::POST,
            path: "/sessions/{id}/complete",
            name: "CompleteSession",
            access: Access::Staff(CLINICIANS),
            handler: handler!(attendance::complete),
        },
        Route {
            method: Method::POST,
            path: "/sessions/{id}/no-show",
            name: "MarkSessionNoShow",
            access: Access::Staff(CLINICIANS),
            handler: handler!(attendance::no_show),
        },
        Route {
            method: Method::GET,
            path: "/reschedule-requests",
            name: "ListRescheduleRequests",
            access: Access::Staff(CLINICIANS),
            handler: handler!(moves::requests),
        },
        Route {
            method: Method::POST,
            path: "/reschedule-requests/{id}/approve",
            name: "ApproveRescheduleRequest",
            access: Access::Staff(CLINICIANS),
            handler: handler!(moves::approve),
        },
        Route {
            method: Method::POST,
            path: "/reschedule-requests/{id}/decline",
            name: "DeclineRescheduleRequest",
            access: Access::Staff(CLINICIANS),
            handler: handler!(moves::decline),
        },
        Route {
            method: Method::GET,
            path: "/clients/{clientId}",
            name: "ReadClient",
            access: Access::Staff(CLINICIANS),
            handler: handler!(client::read),
        },
        Route {
            method: Method::GET,
            path: "/feedback/report",
            name: "ReadFeedbackReport",
            access: Access::Staff(ADMINS),
            handler: handler!(feedback::report),
        },
    ],
};

const SCHEDULE: Operation = operation!(read "schedule");
const CANCEL: Operation = operation!("cancel_session");

/// The widest window one read may ask for.
const MAX_WINDOW_DAYS: i64 = 93;

/// `GET /schedule?from&to&therapistId?` → `{sessions: [session]}` overlapping `[from, to)`,
/// in start order; staff also get each session's `notes` and `notesUpdatedAt`.
async fn list(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let mut from = None;
    let mut to = None;
    let mut therapist = None;
    for (name, value) in req.query_params(&["from", "to", "therapistId"])? {
        match name {
            "from" => from = Some(rfc3339("from", value)?),
            "to" => to = Some(rfc3339("to", value)?),
            _ => {
                therapist = Some(value.parse::<Uuid>().map_err(|_| {
                    Error::invalid_field("therapistId", "A therapist id is a UUID.")
                })?)
            }
        }
    }
    let from = from.ok_or_else(|| Error::invalid_field("from", "Required."))?;
    let to = to.ok_or_else(|| Error::invalid_field("to", "Required."))?;
    // `to` = `from` is an empty window: an empty answer, not an error.
    if to < from {
        return Err(Error::invalid_field("to", "Must not be before from."));
    }
    if to - from > Duration::days(MAX_WINDOW_DAYS) {
        return Err(Error::invalid_field(
            "to",
            format!("A schedule covers at most {MAX_WINDOW_DAYS} days."),
        ));
    }
    req.expect_no_body()?;
    let input = json!({ "from": from, "to": to, "therapistId": therapist });
    let mut schedule = ctx.db.call(SCHEDULE, &caller, &input).await?;
    if let Some(sessions) = schedule.get_mut("sessions").and_then(Value::as_array_mut) {
        for session in sessions {
            notes::open_in_session(ctx, &caller, session)?;
        }
    }
    Ok(Reply::ok(schedule))
}

pub(crate) fn session_id(req: &Incoming) -> Result<Uuid, Error> {
    req.param("id")
        .parse()
        .map_err(|_| Error::invalid_field("id", "A session id is a UUID."))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    reason: String,
}

/// `POST /sessions/{id}/cancel` with `{reason}` → the session, now `cancelled`.
async fn cancel(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let id = session_id(&req)?;
    let body: CancelBody = req.json()?;
    let reason = required_text("reason", &body.reason, 1000)?;
    let input = json!({ "sessionId": id, "reason": reason });
    Ok(Reply::ok(ctx.db.call(CANCEL, &caller, &input).await?))
}
