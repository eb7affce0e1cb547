//! `GET /api/admin/audit?clinicId&actorId&patientId&action&from&to&limit&cursor`: the clinic's
//! events, newest first, a page at a time, filtered by who acted, whose record, what action
//! and when (`from` inclusive, `to` exclusive).

use serde_json::{json, Map, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation,
    page::{limit, sequence_cursor, DEFAULT_LIMIT},
    times, Context, Error,
};

const EVENTS: Operation = operation!(read "audit_events");

/// The longest action name (`audit.events.action`'s shape: lower-case words joined by dots).
const ACTION_MAX_CHARS: usize = 100;

pub async fn list(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let mut input = Map::new();
    input.insert("limit".into(), json!(DEFAULT_LIMIT));
    let params = [
        "clinicId",
        "actorId",
        "patientId",
        "action",
        "from",
        "to",
        "limit",
        "cursor",
    ];
    for (name, value) in req.query_params(&params)? {
        let parsed = match name {
            "clinicId" | "actorId" | "patientId" => json!(uuid(name, value)?),
            "action" => json!(action(value)?),
            "from" | "to" => json!(times::rfc3339(name, value)?),
            "limit" => json!(limit(value)?),
            _ => {
                input.insert("before".into(), json!(sequence_cursor(value)?));
                continue;
            }
        };
        input.insert(name.into(), parsed);
    }
    req.expect_no_body()?;
    Ok(Reply::json_text(
        ctx.db.relay(EVENTS, &caller, &Value::Object(input)).await?,
    ))
}

/// An id query parameter; a 400 naming it otherwise.
pub(crate) fn uuid(name: &str, value: &str) -> Result<Uuid, Error> {
    value
        .parse()
        .map_err(|_| Error::invalid_field(name, "An id is a UUID."))
}

/// An action as events name them (`session.notes.read`).
fn action(value: &str) -> Result<&str, Error> {
    let well_formed = value.len() <= ACTION_MAX_CHARS
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
    if well_formed {
        Ok(value)
    } else {
        Err(Error::invalid_field(
            "action",
            "An action name: lower-case words joined by dots, e.g. session.notes.read.",
        ))
    }
}
