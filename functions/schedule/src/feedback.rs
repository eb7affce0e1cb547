//! `GET /feedback/report?from&to` (admins): the clinic's session feedback in a window — NPS and
//! CSAT overall and per clinician. Comments stay out: a report is for numbers.

use chrono::Duration;
use serde_json::json;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation,
    times::rfc3339,
    Context, Error,
};

const REPORT: Operation = operation!(read "feedback_report");

/// The widest window one report covers.
const MAX_WINDOW_DAYS: i64 = 366;

pub async fn report(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let (mut from, mut to) = (None, None);
    for (name, value) in req.query_params(&["from", "to"])? {
        let instant = Some(rfc3339(name, value)?);
        if name == "from" {
            from = instant;
        } else {
            to = instant;
        }
    }
    let from = from.ok_or_else(|| Error::invalid_field("from", "Required."))?;
    let to = to.ok_or_else(|| Error::invalid_field("to", "Required."))?;
    if to <= from || to - from > Duration::days(MAX_WINDOW_DAYS) {
        return Err(Error::invalid_field(
            "to",
            format!("After from, at most {MAX_WINDOW_DAYS} days later."),
        ));
    }
    req.expect_no_body()?;
    let input = json!({ "from": from, "to": to });
    Ok(Reply::json_text(
        ctx.db.relay(REPORT, &caller, &input).await?,
    ))
}
