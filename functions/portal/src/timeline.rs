//! `GET /api/portal/timeline?limit&cursor`: what happened in the patient's care, newest first —
//! sessions (at their start), messages (who wrote, never the text), consent decisions,
//! documents, feedback, tasks and what was handed in for them (never the answers) — a page at a
//! time, in one statement. The cursor names the page's last event by kind and id
//! (`message:…`), so no time or text ends up in a URL.

use serde_json::{json, Value};
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation, page,
    portal::input as portal_input,
    Context, Error,
};

const TIMELINE: Operation = operation!(read "portal_timeline");

/// The kinds of event the timeline holds (a cursor's first part).
const KINDS: [&str; 7] = [
    "session",
    "message",
    "consent",
    "document",
    "feedback",
    "task",
    "submission",
];

pub async fn list(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let mut input = portal_input(ctx.portal()?, &req);
    input.insert("limit".into(), json!(page::DEFAULT_LIMIT));
    for (name, value) in req.query_params(&["limit", "cursor"])? {
        if name == "limit" {
            input.insert("limit".into(), json!(page::limit(value)?));
        } else {
            let (kind, id) = cursor(value)?;
            input.insert("afterKind".into(), json!(kind));
            input.insert("afterId".into(), json!(id));
        }
    }
    req.expect_no_body()?;
    Ok(Reply::json_text(
        ctx.db
            .relay(TIMELINE, &patient, &Value::Object(input))
            .await?,
    ))
}

/// `kind:id`, as a page's `nextCursor` gives it: a known kind, and an id of hex digits and
/// dashes (a uuid, or a consent's number).
fn cursor(raw: &str) -> Result<(&str, &str), Error> {
    raw.split_once(':')
        .filter(|(kind, id)| {
            KINDS.contains(kind)
                && (1..=36).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        })
        .ok_or_else(|| Error::invalid_field("cursor", "Pass back the nextCursor of a page."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_a_kind_and_an_id() {
        assert_eq!(cursor("consent:42").unwrap(), ("consent", "42"));
        for bad in [
            "",
            "message",
            "note:1",
            "session:",
            "session:x'y",
            &format!("session:{}", "a".repeat(37)),
        ] {
            assert!(cursor(bad).is_err(), "{bad}");
        }
    }
}
