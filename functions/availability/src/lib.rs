//! `availability`: a clinician's weekly hours, date overrides and time off at the current
//! clinic (read by its staff, changed by the clinician or an admin), and the free slots they
//! leave. Slots also step around the clinician's holds and sessions in every other clinic,
//! which the database hands over as bare busy time (`app.busy_time`), never as sessions.
//! Admins set the clinic's buffer, minimum notice and slot grid.
//!
//! - [`hours`]: the body that replaces weekly hours and date overrides.

pub mod hours;

use chrono::{DateTime, Duration, Utc};
use hours::AvailabilityBody;
use http::Method;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    dates::optional_text,
    db::Operation,
    handler,
    http::{Access, Function, Incoming, Reply, Route, ADMINS, CLINICIANS},
    limits, operation,
    times::Sent,
    Context, Error,
};

pub const FUNCTION: Function = Function {
    name: "availability",
    routes: &[
        Route {
            method: Method::GET,
            path: "/availability",
            name: "ReadAvailability",
            access: Access::Staff(CLINICIANS),
            handler: handler!(slots),
        },
        Route {
            method: Method::GET,
            path: "/clinicians/{id}/availability",
            name: "ReadClinicianAvailability",
            access: Access::Staff(CLINICIANS),
            handler: handler!(read),
        },
        Route {
            method: Method::PUT,
            path: "/clinicians/{id}/availability",
            name: "SetClinicianAvailability",
            access: Access::Staff(CLINICIANS),
            handler: handler!(set),
        },
        Route {
            method: Method::POST,
            path: "/clinicians/{id}/time-off",
            name: "AddTimeOff",
            access: Access::Staff(CLINICIANS),
            handler: handler!(add_time_off),
        },
        Route {
            method: Method::DELETE,
            path: "/clinicians/{id}/time-off/{timeOffId}",
            name: "RemoveTimeOff",
            access: Access::Staff(CLINICIANS),
            handler: handler!(remove_time_off),
        },
        Route {
            method: Method::PUT,
            path: "/availability/settings",
            name: "SetAvailabilitySettings",
            access: Access::Staff(ADMINS),
            handler: handler!(set_settings),
        },
    ],
};

const SLOTS: Operation = operation!(read "availability");
const READ: Operation = operation!(read "clinician_availability");
const SET: Operation = operation!("set_availability");
const ADD_TIME_OFF: Operation = operation!("add_time_off");
const REMOVE_TIME_OFF: Operation = operation!("remove_time_off");
const SET_SETTINGS: Operation = operation!("set_availability_settings");

/// The widest window one slot search covers: a month, so an answer stays a few thousand slots.
const MAX_WINDOW_DAYS: i64 = 31;
/// A slot lasts 5 minutes to 12 hours (a session's own bound).
const DURATION_MINUTES: std::ops::RangeInclusive<u16> = 5..=720;

/// `GET /availability?clinicianId&from&to&duration` → `{clinicianId, timeZone, duration,
/// slots: [{startTime, endTime}]}`: free slots of `duration` minutes in `[from, to)`.
async fn slots(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let (mut clinician, mut from, mut to, mut duration) = (None, None, None, None);
    for (name, value) in req.query_params(&["clinicianId", "from", "to", "duration"])? {
        match name {
            "clinicianId" => {
                clinician = Some(
                    value
                        .parse::<Uuid>()
                        .map_err(|_| Error::invalid_field(name, "A clinician id is a UUID."))?,
                )
            }
            "from" => from = Some(instant(name, value)?),
            "to" => to = Some(instant(name, value)?),
            _ => {
                duration = Some(
                    value
                        .parse::<u16>()
                        .ok()
                        .filter(|m| DURATION_MINUTES.contains(m))
                        .ok_or_else(|| Error::invalid_field(name, "Whole minutes, 5 to 720."))?,
                )
            }
        }
    }
    let required = |field: &str| Error::invalid_field(field, "Required.");
    let clinician = clinician.ok_or_else(|| required("clinicianId"))?;
    let from = from.ok_or_else(|| required("from"))?;
    let to = to.ok_or_else(|| required("to"))?;
    let duration = duration.ok_or_else(|| required("duration"))?;
    // `to` = `from` is an empty window: an empty answer, not an error.
    if to < from {
        return Err(Error::invalid_field("to", "Must not be before from."));
    }
    if to - from > Duration::days(MAX_WINDOW_DAYS) {
        return Err(Error::invalid_field(
            "to",
            format!("A search covers at most {MAX_WINDOW_DAYS} days."),
        ));
    }
    req.expect_no_body()?;
    let input = json!({ "clinicianId": clinician, "from": from, "to": to, "duration": duration });
    Ok(Reply::json_text(
        ctx.db.relay(SLOTS, &caller, &input).await?,
    ))
}

/// An RFC 3339 instant: a wall-clock time without its offset is a 400 here.
fn instant(field: &str, raw: &str) -> Result<DateTime<Utc>, Error> {
    match Sent::parse(field, raw, (field, None))? {
        Sent::Instant(instant) => Ok(instant),
        Sent::Wall(_) => Err(Error::invalid_field(
            field,
            "Expected an RFC 3339 date-time with an offset.",
        )),
    }
}

/// `GET /clinicians/{id}/availability` → `{clinicianId, timeZone, bufferMinutes,
/// minimumNoticeMinutes, slotStepMinutes, weeklyHours, overrides, timeOff}` (time off not yet
/// over).
async fn read(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let clinician = req.uuid_param("id")?;
    req.expect_nothing()?;
    let input = json!({ "clinicianId": clinician });
    Ok(Reply::json_text(ctx.db.relay(READ, &caller, &input).await?))
}

/// `PUT /clinicians/{id}/availability` with `{weeklyHours, overrides?}` → the availability as
/// `GET` shows it. Replaces both, together.
async fn set(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let clinician = req.uuid_param("id")?;
    let body: AvailabilityBody = req.json()?;
    let mut input = body.checked()?;
    input["clinicianId"] = json!(clinician);
    Ok(Reply::ok(ctx.db.call(SET, &caller, &input).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TimeOffBody {
    start_time: String,
    end_time: String,
    /// For the clinic's staff; never shown to patients.
    reason: Option<String>,
}

/// `POST /clinicians/{id}/time-off` with `{startTime, endTime, reason?}` → 201 `{id,
/// clinicianId, startTime, endTime, reason?}`.
async fn add_time_off(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let clinician = req.uuid_param("id")?;
    let body: TimeOffBody = req.json()?;
    let start = instant("startTime", &body.start_time)?;
    let end = instant("endTime", &body.end_time)?;
    if end <= start {
        return Err(Error::invalid_field("endTime", "Must be after startTime."));
    }
    let reason = optional_text(
        "reason",
        body.reason.as_deref(),
        limits::TIME_OFF_REASON_MAX_CHARS,
    )?;
    let input = json!({ "clinicianId": clinician, "start": start, "end": end, "reason": reason });
    Ok(Reply::created(
        ctx.db.call(ADD_TIME_OFF, &caller, &input).await?,
    ))
}

/// `DELETE /clinicians/{id}/time-off/{timeOffId}` → `{id, removed: true}`.
async fn remove_time_off(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let clinician = req.uuid_param("id")?;
    let time_off = req.uuid_param("timeOffId")?;
    req.expect_nothing()?;
    let input = json!({ "clinicianId": clinician, "timeOffId": time_off });
    Ok(Reply::ok(
        ctx.db.call(REMOVE_TIME_OFF, &caller, &input).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SettingsBody {
    buffer_minutes: u16,
    minimum_notice_minutes: u16,
    slot_step_minutes: u16,
}

/// `PUT /availability/settings` with `{bufferMinutes, minimumNoticeMinutes, slotStepMinutes}`
/// (admins) → `{timeZone, bufferMinutes, minimumNoticeMinutes, slotStepMinutes}`.
async fn set_settings(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: SettingsBody = req.json()?;
    for (field, value, range) in [
        (
            "bufferMinutes",
            body.buffer_minutes,
            0..=limits::BUFFER_MINUTES_MAX,
        ),
        (
            "minimumNoticeMinutes",
            body.minimum_notice_minutes,
            0..=limits::MIN_NOTICE_MINUTES_MAX,
        ),
        (
            "slotStepMinutes",
            body.slot_step_minutes,
            limits::SLOT_STEP_MINUTES,
        ),
    ] {
        if !range.contains(&value) {
            return Err(Error::invalid_field(
                field,
                format!("Whole minutes, {} to {}.", range.start(), range.end()),
            ));
        }
    }
    let input = json!({
        "bufferMinutes": body.buffer_minutes,
        "minimumNoticeMinutes": body.minimum_notice_minutes,
        "slotStepMinutes": body.slot_step_minutes,
    });
    Ok(Reply::ok(ctx.db.call(SET_SETTINGS, &caller, &input).await?))
}
