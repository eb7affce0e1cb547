//! `GET /api/admin/audit/export?clinicId&from&to&after&limit`: a run of the clinic's chain as
//! NDJSON, one event a line with every member its hash covers, then one line with the run's
//! verification. The verification is recomputed here (`shared::audit_chain`), not asked of the
//! database, whose owner could alter its functions: each event's hash and link, the chain's
//! head when the run reaches it, and every anchor the `audit-anchor` function wrote for the run
//! (`shared::anchors`), so a rewrite by the owner after an anchor shows.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::{json, value::RawValue, Map, Value};
use std::time::SystemTime;
use uuid::Uuid;
use wardline_shared::{
    anchors::AnchorBucket,
    audit_chain::{verify_range, Checkpoint, Event, Source, Verification},
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation,
    page::sequence_cursor,
    times, Context, Error,
};

use crate::events::uuid;

// A read of the trail, audited like every read: a rerun after a lost connection records a
// second export.
const EXPORT: Operation = operation!(read "audit_export");

/// The most events one export holds (a Lambda answer stays well under its 6 MB).
pub const MAX_EVENTS: u32 = 5_000;
pub const DEFAULT_EVENTS: u32 = 1_000;

/// What `api.audit_export` answers.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Run {
    clinic_id: Uuid,
    head: Head,
    events: Vec<Exported>,
    next: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    seq: i64,
    hash: String,
}

/// One event as the export writes it (`app.audit_export_json`): `detail` kept as the database
/// wrote it, so the line carries exactly what was hashed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Exported {
    clinic_id: Option<Uuid>,
    seq: i64,
    actor_id: Option<Uuid>,
    actor_role: Option<String>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    outcome: String,
    request_id: Option<String>,
    occurred_at: String,
    detail: Box<RawValue>,
    patient_id: Option<Uuid>,
    prev_hash: String,
    hash: String,
}

impl Exported {
    fn event(&self) -> Result<Event, Error> {
        let occurred_at = NaiveDateTime::parse_from_str(&self.occurred_at, "%Y-%m-%dT%H:%M:%S%.f")
            .map_err(Error::internal)?
            .and_utc();
        Ok(Event {
            org_id: self.clinic_id,
            chain_seq: self.seq,
            actor_id: self.actor_id,
            actor_role: self.actor_role.clone(),
            action: self.action.clone(),
            target_type: self.target_type.clone(),
            target_id: self.target_id.clone(),
            outcome: self.outcome.clone(),
            request_id: self.request_id.clone(),
            occurred_at: SystemTime::from(occurred_at),
            detail: self.detail.get().to_owned(),
            patient_id: self.patient_id,
            prev_hash: hex::decode(&self.prev_hash).map_err(Error::internal)?,
            hash: hex::decode(&self.hash).map_err(Error::internal)?,
        })
    }
}

pub async fn ndjson(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let mut input = Map::new();
    input.insert("limit".into(), json!(DEFAULT_EVENTS));
    for (name, value) in req.query_params(&["clinicId", "from", "to", "after", "limit"])? {
        let parsed = match name {
            "clinicId" => json!(uuid(name, value)?),
            "from" | "to" => json!(times::rfc3339(name, value)?),
            "after" => {
                let after = sequence_cursor(value).map_err(|_| {
                    Error::invalid_field("after", "Pass back the next of an export.")
                })?;
                input.insert("afterSeq".into(), json!(after));
                continue;
            }
            _ => json!(limit(value)?),
        };
        input.insert(name.into(), parsed);
    }
    req.expect_no_body()?;
    // The head bounds a run that goes to the chain's end: one without `to`, or the whole
    // chain (then an empty run under a head that names events is a removed tail).
    let open_ended = !input.contains_key("to");
    let whole_chain = open_ended && !input.contains_key("from") && !input.contains_key("afterSeq");
    let raw = ctx.db.relay(EXPORT, &caller, &Value::Object(input)).await?;
    let run: Run = serde_json::from_str(raw.get()).map_err(Error::internal)?;
    let events = run
        .events
        .iter()
        .map(Exported::event)
        .collect::<Result<Vec<_>, _>>()?;

    // Hold the run to the chain's head when it reaches it, and to every anchor inside it (and
    // the one just before it, which names the link into the run).
    let mut checkpoints = Vec::new();
    let (first, last) = match (events.first(), events.last()) {
        (Some(first), Some(last)) => (first.chain_seq, last.chain_seq),
        _ => (0, 0),
    };
    if open_ended && run.next.is_none() && run.head.seq > 0 && (whole_chain || last > 0) {
        checkpoints.push(Checkpoint {
            seq: run.head.seq,
            hash: hex::decode(&run.head.hash).map_err(Error::internal)?,
            source: Source::Head,
        });
    }
    let bucket = AnchorBucket::of(ctx);
    let mut unreadable = Vec::new();
    if let (Some(bucket), false) = (bucket, events.is_empty()) {
        let anchored = bucket
            .read(Some(run.clinic_id), (first - 1).max(1), last)
            .await?;
        checkpoints.extend(anchored.checkpoints.into_iter().map(|(_, c)| c));
        unreadable = anchored.unreadable;
    }
    let verification = verify_range(run.clinic_id, &events, &checkpoints);

    let mut body = String::new();
    for event in &run.events {
        body.push_str(&serde_json::to_string(event).map_err(Error::internal)?);
        body.push('\n');
    }
    let summary = json!({
        "verification": summary(&verification, bucket.is_some(), &unreadable, (first, last)),
        "next": run.next.map(|seq| seq.to_string()),
    });
    body.push_str(&summary.to_string());
    body.push('\n');
    Ok(Reply::text("application/x-ndjson", body))
}

/// The export's last line: whether the run verifies, what it was held to, and the first broken
/// sequence number with why.
fn summary(
    verification: &Verification,
    anchors_configured: bool,
    unreadable: &[String],
    (first, last): (i64, i64),
) -> Value {
    json!({
        "verified": verification.ok() && unreadable.is_empty(),
        "clinicId": verification.chain_key,
        "fromSeq": (last > 0).then_some(first),
        "toSeq": (last > 0).then_some(last),
        "eventsChecked": verification.events_checked,
        "anchorsConfigured": anchors_configured,
        "anchorsChecked": verification.anchors_checked,
        "unreadableAnchors": unreadable,
        "broken": verification.broken.as_ref().map(|broken| json!({
            "seq": broken.seq,
            "reason": broken.reason.to_string(),
        })),
    })
}

/// The `limit` of an export: 1 to [`MAX_EVENTS`].
fn limit(value: &str) -> Result<u32, Error> {
    value
        .parse()
        .ok()
        .filter(|n| (1..=MAX_EVENTS).contains(n))
        .ok_or_else(|| {
            Error::invalid_field("limit", format!("A whole number from 1 to {MAX_EVENTS}."))
        })
}
