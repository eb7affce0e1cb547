//! `GET /api/portal/access-log?limit&cursor`: who of the clinic's staff opened the record of
//! the patient the token acts for — their name and role, when, and what kind of record (the
//! record itself, notes, documents, messages, forms), newest first. Built from the audit
//! trail's reads (`app.access_log`), never showing another patient's.

use serde_json::{json, Value};
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation,
    page::{limit, sequence_cursor, DEFAULT_LIMIT},
    portal::input as portal_input,
    Context, Error,
};

const LOG: Operation = operation!(read "portal_access_log");

pub async fn list(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let mut input = portal_input(ctx.portal()?, &req);
    input.insert("limit".into(), json!(DEFAULT_LIMIT));
    for (name, value) in req.query_params(&["limit", "cursor"])? {
        match name {
            "limit" => input.insert("limit".into(), json!(limit(value)?)),
            _ => input.insert("before".into(), json!(sequence_cursor(value)?)),
        };
    }
    req.expect_no_body()?;
    Ok(Reply::json_text(
        ctx.db.relay(LOG, &patient, &Value::Object(input)).await?,
    ))
}
