//! The admins' side of prescribing, in their clinic (a super admin: the clinic their token
//! names, or as said per route).
//!
//! - `GET /api/admin/prescription-queue?clinicId=&limit=&cursor=`: the clinic's paid invoices
//!   not yet processed, refills waiting for an admin or a prescriber, and every queued order
//!   (`assignedProviderId` when an admin queued it for one prescriber), oldest first, paged as
//!   the prescribers' queue is. A clinic admin may name only their own clinic; a super admin
//!   names any, and without `clinicId` reads every clinic's.
//! - `POST /api/admin/orders` `{patientId, providerId, medication, strength?, quantity,
//!   directions, refills?}` (`Idempotency-Key`): an order queued for one prescriber, who must
//!   prescribe at the clinic; only they see it in their queue and may send it.
//! - `POST /api/admin/refills/{id}/approve`: a refill waiting for an admin goes to the clinic's
//!   prescribers (`APPROVED`); any other state is a 409 naming it.

use crate::{approve::expect_no_input, queue::page_input};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    dates::{optional_text, required_text},
    db::Operation,
    http::{Incoming, Reply},
    operation, Context, Error,
};

const QUEUE: Operation = operation!(read "admin_prescription_queue");
/// Keyed by its `Idempotency-Key`: a retry replays the first answer and queues nothing twice.
const QUEUE_ORDER: Operation = operation!(idempotent "queue_order");
const APPROVE_REFILL: Operation = operation!("approve_refill");

/// The most refills an order may allow (`app.orders.refills`).
const MAX_REFILLS: u8 = 11;

/// One page of the admins' queue.
pub async fn queue(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let (mut input, rest) = page_input(&req, &["clinicId"])?;
    if let Some((_, clinic)) = rest.first() {
        input.insert("clinicId".into(), json!(clinic_id(clinic)?));
    }
    Ok(Reply::json_text(
        ctx.db.relay(QUEUE, &caller, &Value::Object(input)).await?,
    ))
}

/// A `clinicId` query parameter.
pub(crate) fn clinic_id(value: &str) -> Result<Uuid, Error> {
    value
        .parse()
        .map_err(|_| Error::invalid_field("clinicId", "An id is a UUID."))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewOrder {
    patient_id: Uuid,
    provider_id: Uuid,
    medication: String,
    strength: Option<String>,
    quantity: String,
    directions: String,
    refills: Option<u8>,
}

/// Queues an order for one prescriber.
pub async fn queue_order(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let order: NewOrder = req.json()?;
    let key = req.idempotency_key()?;
    req.query_params(&[])?;
    let refills = order.refills.unwrap_or(0);
    if refills > MAX_REFILLS {
        return Err(Error::invalid_field(
            "refills",
            format!("0 to {MAX_REFILLS} refills."),
        ));
    }
    let input = json!({
        "idempotencyKey": key,
        "patientId": order.patient_id,
        "providerId": order.provider_id,
        "medication": required_text("medication", &order.medication, 200)?,
        "strength": optional_text("strength", order.strength.as_deref(), 100)?,
        "quantity": required_text("quantity", &order.quantity, 100)?,
        "directions": required_text("directions", &order.directions, 1000)?,
        "refills": refills,
    });
    Ok(Reply::created(
        ctx.db.call(QUEUE_ORDER, &caller, &input).await?,
    ))
}

/// Approves a refill waiting for an admin.
pub async fn approve_refill(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let refill = req.uuid_param("id")?;
    expect_no_input(&req)?;
    let input = json!({ "refillId": refill });
    Ok(Reply::ok(
        ctx.db.call(APPROVE_REFILL, &caller, &input).await?,
    ))
}
