//! `GET /api/provider/prescription-queue`: paid invoices not yet processed, refills approved
//! or waiting for a prescriber, and orders queued for one, from every clinic the caller works
//! for, oldest first, each with its clinic. `limit` and `cursor` (the `nextCursor` of the
//! previous page: a position, so items processed meanwhile do not break it).
//!
//! `PATCH /api/provider/prescription-queue/{invoiceId}` `{status: "processed"|"declined",
//! reason?}`: declining needs a reason; the same change again is a 200 that changes nothing.
//!
//! `POST /api/provider/refills/{id}/prescribe` (no body) and `/deny` `{reason}`: a refill
//! approved or waiting for a prescriber, of a clinic the caller works for; any other state is
//! a 409 naming it.

use crate::approve::expect_no_input;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    dates::{check_text, required_text},
    db::Operation,
    http::{Incoming, Reply},
    operation, page, Context, Error,
};

const QUEUE: Operation = operation!(read "prescription_queue");
const PROCESS: Operation = operation!("process_invoice");
const DECIDE_REFILL: Operation = operation!("decide_refill");

/// The longest reason, in characters.
const MAX_REASON: usize = 1000;

/// One page of the merged queue.
pub async fn list(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let (input, _) = page_input(&req, &[])?;
    Ok(Reply::json_text(
        ctx.db.relay(QUEUE, &caller, &Value::Object(input)).await?,
    ))
}

/// The page a queue route asks for (`limit`, `cursor`) as `app.prescription_queue_page` takes
/// it, and the route's `extra` query parameters, as sent. A body is a 400.
pub(crate) fn page_input<'r>(req: &'r Incoming, extra: &[&str]) -> Result<page::Keyset<'r>, Error> {
    let mut allowed = vec!["limit", "cursor"];
    allowed.extend_from_slice(extra);
    let mut input = Map::from_iter([("limit".to_owned(), json!(page::DEFAULT_LIMIT))]);
    let mut rest = Vec::new();
    for (name, value) in req.query_params(&allowed)? {
        match name {
            "limit" => {
                input.insert("limit".into(), json!(page::limit(value)?));
            }
            "cursor" => {
                let (micros, id) = cursor(value)?;
                input.insert("afterMicros".into(), json!(micros));
                input.insert("afterId".into(), json!(id));
            }
            _ => rest.push((name, value)),
        }
    }
    req.expect_no_body()?;
    Ok((input, rest))
}

/// The latest position a cursor can name (9999-12-31T23:59:59.999999Z): later ones would
/// overflow PostgreSQL's timestamps.
const LAST_MICROS: i64 = 253_402_300_799_999_999;

/// `<microseconds since the epoch>_<id>`, as `app.queue_cursor` writes it.
fn cursor(value: &str) -> Result<(i64, Uuid), Error> {
    value
        .split_once('_')
        .and_then(|(micros, id)| Some((micros.parse().ok()?, id.parse().ok()?)))
        .filter(|(micros, _)| (0..=LAST_MICROS).contains(micros))
        .ok_or_else(|| Error::invalid_field("cursor", "Pass back the nextCursor of a page."))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    status: Status,
    reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Processed,
    Declined,
}

/// Marks a paid invoice processed or declined.
pub async fn process_invoice(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let invoice = req.uuid_param("invoiceId")?;
    let decision: Decision = req.json()?;
    let reason = match decision.reason.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => {
            check_text("reason", text)?;
            if text.chars().count() > MAX_REASON {
                return Err(Error::invalid_field(
                    "reason",
                    format!("At most {MAX_REASON} characters."),
                ));
            }
            Value::from(text)
        }
        _ => Value::Null,
    };
    let status = match decision.status {
        Status::Declined if reason.is_null() => {
            return Err(Error::invalid_field(
                "reason",
                "Declining an invoice needs a reason.",
            ))
        }
        Status::Declined => "declined",
        Status::Processed => "processed",
    };
    let input = json!({ "invoiceId": invoice, "status": status, "reason": reason });
    Ok(Reply::ok(ctx.db.call(PROCESS, &caller, &input).await?))
}

/// `{reason}`: why a refill is denied.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Denial {
    reason: String,
}

/// Prescribes a refill, under the caller's credentials at its clinic.
pub async fn prescribe_refill(
    ctx: &Context,
    caller: Claims,
    req: Incoming,
) -> Result<Reply, Error> {
    let refill = req.uuid_param("id")?;
    expect_no_input(&req)?;
    let input = json!({ "refillId": refill, "decision": "PRESCRIBED" });
    Ok(Reply::ok(
        ctx.db.call(DECIDE_REFILL, &caller, &input).await?,
    ))
}

/// Denies a refill, with a reason.
pub async fn deny_refill(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let refill = req.uuid_param("id")?;
    let denial: Denial = req.json()?;
    req.query_params(&[])?;
    let reason = required_text("reason", &denial.reason, MAX_REASON)?;
    let input = json!({ "refillId": refill, "decision": "DENIED", "reason": reason });
    Ok(Reply::ok(
        ctx.db.call(DECIDE_REFILL, &caller, &input).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_a_position_or_a_named_400() {
        let id = Uuid::new_v4();
        assert_eq!(
            cursor(&format!("1763700000123456_{id}")).unwrap(),
            (1763700000123456, id)
        );
        let far = format!("9223372036854775807_{id}");
        for bad in [
            "",
            "12",
            "x_y",
            &format!("_{id}"),
            "12_notauuid",
            &far,
            &format!("-1_{id}"),
        ] {
            let problem = cursor(bad).unwrap_err().into_problem();
            assert_eq!(problem.errors[0].field, "cursor", "{bad}");
        }
    }
}
