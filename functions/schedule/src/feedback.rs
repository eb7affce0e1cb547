//! `GET /feedback/report?from&to` (admins): the clinic's session feedback in a window — NPS and
//! CSAT overall and per clinician. Comments stay out: a report is for numbers.

use serde_json::json;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation, times, Context, Error,
};

const REPORT: Operation = operation!(read "feedback_report");

pub async fn report(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let (from, to) = times::report_window(&req.query_params(&["from", "to"])?)?;
    req.expect_no_body()?;
    let input = json!({ "from": from, "to": to });
    Ok(Reply::json_text(
        ctx.db.relay(REPORT, &caller, &input).await?,
    ))
}
