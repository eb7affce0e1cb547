//! `confirm-booking`: turns live holds into booked (`scheduled`) sessions, in one transaction:
//! every hold named is confirmed, or none is. The billing code comes from the service and the
//! CPT units from the session's real length (the database derives both).

use http::Method;
use serde::Deserialize;
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfirmBody {
    /// A request's hold key (every occurrence) or one occurrence's.
    hold_key: Uuid,
    session: SessionBody,
    /// Occurrences with details of their own; their keys are confirmed too.
    #[serde(default)]
    occurrences: Vec<OccurrenceBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OccurrenceBody {
    hold_key: Uuid,
    session: SessionBody,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SessionBody {
    /// The clinic's service (and so the CPT code) the session is billed as.
    service_id: Uuid,
}

/// `POST /sessions-confirm` → `{sessions: [session]}`. Requires `Idempotency-Key`; a retried
/// confirmation replays the first one's answer and books nothing twice.
async fn confirm(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: ConfirmBody = req.json()?;
    let key = req.idempotency_key()?;
    if body.occurrences.len() > limits::MAX_OCCURRENCES {
        return Err(Error::invalid_field(
            "occurrences",
            format!("At most {} occurrences.", limits::MAX_OCCURRENCES),
        ));
    }
    let mut items = vec![json!({
        "holdKey": body.hold_key,
        "serviceId": body.session.service_id,
        "field": "",
    })];
    items.extend(body.occurrences.iter().enumerate().map(|(i, o)| {
        json!({
            "holdKey": o.hold_key,
            "serviceId": o.session.service_id,
            "field": format!("occurrences[{i}]"),
        })
    }));
    let input = json!({ "idempotencyKey": key, "items": items });
    Ok(Reply::ok(ctx.db.call(CONFIRM, &caller, &input).await?))
}
