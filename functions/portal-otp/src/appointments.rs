//! `GET /api/portal/appointments?when=upcoming|past&limit=&cursor=`: the signed-in patient's own
//! booked sessions (scheduled, completed, cancelled; never holds, never notes) with their
//! clinician and service, upcoming soonest first (the default) or past latest first, a page at
//! a time. Which sessions exist for the patient is the sessions policy's decision.

use crate::portal_input;
use serde_json::json;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation, page, Context, Error,
};

const APPOINTMENTS: Operation = operation!(read "portal_appointments");

pub async fn list(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let mut input = portal_input(ctx.portal()?, &req);
    input.extend([
        ("when".into(), json!("upcoming")),
        ("limit".into(), json!(page::DEFAULT_LIMIT)),
    ]);
    for (name, value) in req.query_params(&["when", "limit", "cursor"])? {
        let value = match name {
            "when" if matches!(value, "upcoming" | "past") => json!(value),
            "when" => return Err(Error::invalid_field(name, "upcoming or past.")),
            "limit" => json!(page::limit(value)?),
            _ => json!(page::cursor(value)?),
        };
        input.insert(if name == "cursor" { "after" } else { name }.into(), value);
    }
    req.expect_no_body()?;
    let page = ctx
        .db
        .relay(APPOINTMENTS, &patient, &serde_json::Value::Object(input))
        .await?;
    Ok(Reply::json_text(page))
}
