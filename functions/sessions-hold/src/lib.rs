//! `sessions-hold`: holds a slot, or every occurrence of a series, for a clinician and a
//! patient — all or none — and releases holds. No overlap is ever written: the database's
//! exclusion constraints decide, and a 409 names every occurrence that clashes.
//!
//! - [`body`]: the request body as the web client sends it.
//! - [`times`]: from sent times (instants, wall-clock times, recurrences) to checked slots.

pub mod body;
pub mod times;

use body::HoldBody;
use http::Method;
use serde_json::json;
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    handler,
    http::{Access, Function, Incoming, Reply, Route, CLINICIANS},
    limits, operation, Context, Error,
};

pub const FUNCTION: Function = Function {
    name: "sessions-hold",
    routes: &[
        Route {
            method: Method::POST,
            path: "/sessions-hold",
            name: "HoldSessions",
            access: Access::Staff(CLINICIANS),
            handler: handler!(hold),
        },
        Route {
            method: Method::DELETE,
            path: "/sessions-hold/{holdKey}",
            name: "ReleaseHold",
            access: Access::Staff(CLINICIANS),
            handler: handler!(release),
        },
    ],
};

const HOLD: Operation = operation!(idempotent "hold_sessions");
const RELEASE: Operation = operation!("release_hold");
const CLINIC_TIME_ZONE: Operation = operation!(read "clinic_time_zone");

/// `POST /sessions-hold` → `{holdKey, expiresAt, holds: [{holdKey, sessionId, occurrence,
/// startTime, endTime, expiresAt}]}`. Requires `Idempotency-Key`.
async fn hold(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: HoldBody = req.json()?;
    let key = req.idempotency_key()?;
    let (min, max) = (limits::HOLD_SECONDS_MIN, limits::HOLD_SECONDS_MAX);
    let hold_seconds = body.hold_seconds.unwrap_or(limits::HOLD_SECONDS_DEFAULT);
    if !(min..=max).contains(&hold_seconds) {
        return Err(Error::invalid_field(
            "hold_seconds",
            format!("A hold lasts {min} to {max} seconds."),
        ));
    }
    let requested = times::requested_zone(&body)?;
    // Only when the request names no zone but needs one: the clinic's (a second round trip).
    let zone = match requested {
        None if times::needs_zone(&body) => Some(clinic_zone(ctx, &caller).await?),
        zone => zone,
    };
    let slots = times::slots(&body, zone)?;
    let input = json!({
        "idempotencyKey": key,
        "clinicianId": body.therapist_id,
        "patientId": body.client_id,
        "sessionId": body.session_id,
        "holdSeconds": hold_seconds,
        "outsideHours": body.outside_hours,
        "occurrences": slots
            .iter()
            .map(|s| json!({"start": s.start.to_rfc3339(), "end": s.end.to_rfc3339()}))
            .collect::<Vec<_>>(),
    });
    Ok(Reply::ok(ctx.db.call(HOLD, &caller, &input).await?))
}

async fn clinic_zone(ctx: &Context, caller: &Claims) -> Result<chrono_tz::Tz, Error> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct ClinicZone {
        time_zone: String,
    }
    let found: ClinicZone = ctx.db.answer(CLINIC_TIME_ZONE, caller, &json!({})).await?;
    found.time_zone.parse().map_err(|_| {
        Error::invalid_field(
            "time_zone",
            "The clinic's time zone cannot be used here; send time_zone.",
        )
    })
}

/// `DELETE /sessions-hold/{holdKey}` → `{holdKey, released}`; a group key releases every
/// occurrence still held. Releasing again releases nothing and is not an error.
async fn release(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    req.expect_nothing()?;
    let hold_key: Uuid = req
        .param("holdKey")
        .parse()
        .map_err(|_| Error::invalid_field("holdKey", "A hold key is a UUID."))?;
    let released = ctx
        .db
        .call(RELEASE, &caller, &json!({ "holdKey": hold_key }))
        .await?;
    Ok(Reply::ok(released))
}
