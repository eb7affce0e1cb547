//! `session-reminders`: the scheduled reminder job (EventBridge, no route). As `app_service` it
//! runs `api.queue_reminders` in batches: each booked session not yet started gets the reminder
//! of the nearest of its clinic's `reminder_hours` its start is within, recorded in
//! `app.session_reminders` and queued into the outbox for message-sender, unless it was queued
//! before. The record's primary key makes two runs at once queue each reminder once. The
//! messages carry no PHI: only the session's id and start (`db/functions/70_notices.sql`).

use serde::Serialize;
use serde_json::json;
use wardline_shared::{auth::Claims, db::Operation, operation, Context, Error};

const QUEUE: Operation = operation!("queue_reminders");

/// Sessions per batch (per transaction).
pub const BATCH_SIZE: i64 = 200;
/// Batches per invocation, well inside the function's timeout; the next run finishes the rest.
pub const MAX_BATCHES: usize = 25;

/// What one invocation did, returned to the scheduler and logged.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Reminders recorded (each once, whichever run recorded it).
    pub reminders: u64,
    /// Outbox messages queued for them (none for a patient without an address or with both
    /// channels off).
    pub messages: u64,
    pub batches: usize,
}

/// One batch's answer from `api.queue_reminders`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Queued {
    /// Sessions looked at: a full batch means there may be more.
    sessions: u64,
    reminders: u64,
    messages: u64,
}

/// Queues due reminders until a batch comes back short (nothing left) or `MAX_BATCHES` have
/// run.
pub async fn queue(ctx: &Context, request_id: &str) -> Result<Report, Error> {
    let claims = Claims::service(request_id);
    let mut report = Report::default();
    while report.batches < MAX_BATCHES {
        let Queued {
            sessions,
            reminders,
            messages,
        } = ctx
            .db
            .answer(QUEUE, &claims, &json!({ "batchSize": BATCH_SIZE }))
            .await?;
        report.batches += 1;
        report.reminders += reminders;
        report.messages += messages;
        if sessions < BATCH_SIZE as u64 {
            break;
        }
    }
    tracing::info!(
        request_id,
        function = "session-reminders",
        reminders = report.reminders,
        messages = report.messages,
        batches = report.batches,
        "reminders"
    );
    Ok(report)
}
