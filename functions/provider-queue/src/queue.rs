//! `GET /api/provider/prescription-queue`: paid invoices not yet processed, refills approved
//! or waiting for a prescriber, and orders queued for one, from every clinic the caller works
//! for, oldest first, each with its clinic. `limit` and `cursor` (the `nextCursor` of the
//! previous page: a position, so items processed meanwhile do not break it).
//!
//! `PATCH /api/provider/prescription-queue/{invoiceId}` `{status: "processed"|"declined",
//! reason?}`: declining needs a reason; the same change again is a 200 that changes nothing.

use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    dates::check_text,
    db::Operation,
    http::{Incoming, Reply},
    operation, page, Context, Error,
};

const QUEUE: Operation = operation!(read "prescription_queue");
const PROCESS: Operation = operation!("process_invoice");

/// The longest reason, in characters.
const MAX_REASON: usize = 1000;

/// One page of the merged queue.
pub async fn list(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let mut input = json!({ "limit": page::DEFAULT_LIMIT });
    for (name, value) in req.query_params(&["limit", "cursor"])? {
        if name == "limit" {
            input["limit"] = json!(page::limit(value)?);
        } else {
            let (micros, id) = cursor(value)?;
            input["afterMicros"] = json!(micros);
            input["afterId"] = json!(id);
        }
    }
    req.expect_no_body()?;
    Ok(Reply::json_text(
        ctx.db.relay(QUEUE, &caller, &input).await?,
    ))
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
