//! `POST /api/orders/{id}/approve-and-send`: the prescriber approves a queued order and it goes
//! out with the order's clinic — its letterhead on the PDF, its pharmacy account — and the
//! prescriber's title line, DEA number and licence for that clinic, whichever clinic the
//! token names.
//!
//! Two database calls and no transaction across the network between them: the first checks
//! the order may be sent, claims it (a token with a lease) and reads what the prescription
//! needs; then the claim's holder alone stores the PDF in S3 and sends the prescription to the
//! pharmacy (idempotent on the order id); the second call marks the order sent, or records the
//! failure and leaves it queued, and ends the claim. An approval while another holds the claim
//! is a 409 `order_being_sent` that touches nothing outside, so concurrent approvals make one
//! PDF and one prescription. A retry after a failure is safe: the key and the pharmacy's
//! idempotency make it one prescription, and a crashed sender's claim expires.

use crate::{
    outside::{Failure, Outside},
    prescription::{self, Prescription},
};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation, Context, Error,
};

/// Not a read: it claims the order, and a rerun after an answer lost with its connection would
/// find its own claim and answer 409.
const TO_SEND: Operation = operation!("order_to_send");
const SETTLE: Operation = operation!("settle_order");

/// What `api.order_to_send` answers: the claim this call holds, and the prescription.
#[derive(Debug, Deserialize)]
struct Claimed {
    claim: Uuid,
    #[serde(flatten)]
    rx: Prescription,
}

/// An optional body, which says nothing: `{}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Nothing {}

/// For actions on one item that take no input: no query, and no body or `{}`.
pub(crate) fn expect_no_input(req: &Incoming) -> Result<(), Error> {
    if !req.body.is_empty() {
        req.json::<Nothing>()?;
    }
    req.query_params(&[])?;
    Ok(())
}

pub async fn approve_and_send(
    ctx: &Context,
    caller: Claims,
    req: Incoming,
) -> Result<Reply, Error> {
    let order = req.uuid_param("id")?;
    expect_no_input(&req)?;
    // Before the order is claimed: a deployment that cannot send must not hold it.
    let outside = ctx.extensions.get::<Outside>().ok_or_else(|| {
        Error::unavailable(
            "prescribing_unavailable",
            "Sending prescriptions (WARDLINE_PRESCRIPTIONS_BUCKET) is not configured on this deployment.",
        )
    })?;
    let found = ctx
        .db
        .call(TO_SEND, &caller, &json!({ "orderId": order }))
        .await?;
    let Claimed { claim, rx } = serde_json::from_value(found).map_err(Error::internal)?;
    let key = Outside::pdf_key(rx.clinic.id, order);

    let sent = send(outside, &rx, &key).await;
    let input = match &sent {
        Ok(reference) => json!({
            "orderId": order, "claim": claim, "outcome": "sent", "pharmacyReference": reference,
            "pdfKey": key,
        }),
        Err(failure) => json!({
            "orderId": order, "claim": claim, "outcome": "failed", "stage": failure.stage,
            "error": failure.error,
        }),
    };
    let settled = ctx.db.call(SETTLE, &caller, &input).await?;
    match sent {
        Ok(_) => Ok(Reply::ok(settled)),
        Err(failure) => {
            tracing::warn!(%order, stage = failure.stage, error = %failure.error, "approve-and-send failed");
            Err(Error::bad_gateway(
                "send_failed",
                format!(
                    "The prescription could not be sent ({} failed). The order stays queued with the error recorded; retrying is safe.",
                    failure.stage
                ),
            ))
        }
    }
}

/// Renders, stores and sends; the pharmacy's reference, or the step that failed.
async fn send(outside: &Outside, rx: &Prescription, key: &str) -> Result<String, Failure> {
    let credentials = outside.credentials(&rx.clinic.pharmacy_secret_ref).await?;
    let approved_at = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let pdf = prescription::render(rx, &approved_at);
    let request = pharmacy_request(rx, &pdf);
    outside.store(key, pdf).await?;
    outside.send(&credentials, rx.order.id, &request).await
}

/// The prescription as the pharmacy API takes it, the PDF attached.
fn pharmacy_request(rx: &Prescription, pdf: &[u8]) -> Value {
    let p = &rx.prescriber;
    json!({
        "externalId": rx.order.id,
        "clinic": { "id": rx.clinic.id, "name": rx.clinic.name },
        "prescriber": {
            "name": format!("{} {}", p.first_name, p.last_name),
            "titleLine": p.signature(),
            "npi": p.npi,
            "deaNumber": p.dea_number,
            "licenseNumber": p.license_number,
            "licenseState": p.license_state,
        },
        "patient": {
            "firstName": rx.patient.first_name,
            "lastName": rx.patient.last_name,
            "dateOfBirth": rx.patient.date_of_birth,
        },
        "medication": {
            "name": rx.order.medication,
            "strength": rx.order.strength,
            "quantity": rx.order.quantity,
            "directions": rx.order.directions,
            "refills": rx.order.refills,
        },
        "document": {
            "contentType": "application/pdf",
            "base64": base64::engine::general_purpose::STANDARD.encode(pdf),
        },
    })
}
