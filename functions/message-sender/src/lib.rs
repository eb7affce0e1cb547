//! `message-sender`: the scheduled delivery of the outbox (EventBridge, no route). Messages are
//! written to `app.outbox` in the transaction of the change that causes them; this function
//! delivers them, as `app_service`, in batches:
//!
//! 1. `api.outbox_claim` claims up to [`BATCH_SIZE`] due messages for [`LEASE_SECONDS`]
//!    (`FOR UPDATE SKIP LOCKED`, attempts counted), so concurrent runs never take the same
//!    message; SMS to opted-out numbers and e-mails to suppressed addresses fail there,
//!    unsent.
//! 2. Each message is composed ([`message`]: secret opened, link built, [`templates`]
//!    rendered) and sent through its channel's provider ([`providers`]), [`CONCURRENCY`] at a
//!    time.
//! 3. `api.outbox_settle` records every outcome of the batch in one call: sent (with the
//!    provider's id of the message, which its delivery events name), retry (backoff from 30 s,
//!    doubling) or failed; after [`MAX_ATTEMPTS`] a retry is failed.
//!
//! It repeats until a batch comes back short, [`MAX_BATCHES`] have run or
//! [`BATCH_START_WINDOW`] has passed, and reports counts.
//! Logs carry message ids, kinds, channels and outcomes, never recipients, bodies or secrets
//! (except in the local stack's log mode, which prints what it would have sent).
//!
//! Modules: [`message`] (a claimed message → what is sent), [`notice`] (session notices: the
//! date and time in the clinic's zone, the portal link), [`templates`] (the texts and their
//! allow-listed variables), [`providers`] (settings, the Twilio and SendGrid adapters, how an
//! answer is classified).

pub mod message;
pub mod notice;
pub mod providers;
pub mod templates;

pub use providers::{Attempt, Mode, Outcome, Sender, Settings};

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use uuid::Uuid;
use wardline_shared::{auth::Claims, db::Operation, operation, Context, Error};

const CLAIM: Operation = operation!("outbox_claim");
const SETTLE: Operation = operation!("outbox_settle");

/// Messages claimed (and settled) per batch.
pub const BATCH_SIZE: usize = 25;
/// How long a claimed message is kept from other runs. A batch's slowest case is
/// `BATCH_SIZE / CONCURRENCY` rounds of the provider timeout (50 s), well inside it.
pub const LEASE_SECONDS: u64 = 120;
/// Provider calls in flight at once.
pub const CONCURRENCY: usize = 5;
/// Delivery attempts before a retried message is failed (30 s + 1 + 2 + 4 min of backoff).
pub const MAX_ATTEMPTS: u32 = 5;
/// Batches per invocation; the next scheduled run finishes the rest.
pub const MAX_BATCHES: usize = 10;
/// Another batch starts only this soon after the invocation began, so that even the slowest
/// batch (50 s of provider timeouts, then the settle) ends inside the function's timeout (90 s
/// in template.yaml): a run cut off between sending and settling would send its batch twice.
pub const BATCH_START_WINDOW: Duration = Duration::from_secs(5);

/// What one invocation did, returned to the scheduler and logged. Counts are what the
/// database recorded: a retry that reached [`MAX_ATTEMPTS`] counts as failed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub batches: usize,
}

/// Delivers due messages until a batch comes back short, [`MAX_BATCHES`] have run or
/// [`BATCH_START_WINDOW`] has passed.
pub async fn deliver(ctx: &Context, sender: &Sender, request_id: &str) -> Result<Report, Error> {
    let claims = Claims::service(request_id);
    let mut report = Report::default();
    let started = Instant::now();
    while report.batches < MAX_BATCHES
        && (report.batches == 0 || started.elapsed() < BATCH_START_WINDOW)
    {
        let Claimed { messages } = ctx
            .db
            .answer(
                CLAIM,
                &claims,
                &json!({ "batchSize": BATCH_SIZE, "leaseSeconds": LEASE_SECONDS }),
            )
            .await?;
        report.batches += 1;
        let claimed_count = messages.len();
        if claimed_count == 0 {
            break;
        }
        let results: Vec<Value> = stream::iter(messages)
            .map(|raw| deliver_one(ctx, sender, raw))
            .buffer_unordered(CONCURRENCY)
            .filter_map(std::future::ready)
            .collect()
            .await;
        settle(ctx, &claims, &results, &mut report).await?;
        if claimed_count < BATCH_SIZE {
            break;
        }
    }
    tracing::info!(
        request_id,
        function = "message-sender",
        sent = report.sent,
        retried = report.retried,
        failed = report.failed,
        batches = report.batches,
        "deliver"
    );
    Ok(report)
}

/// One message: composed, sent, logged. → its settle entry ([`settle_entry`]), or
/// nothing when the claim answered something without an id (it stays leased and is logged).
async fn deliver_one(ctx: &Context, sender: &Sender, raw: Value) -> Option<Value> {
    let message = match message::Claimed::deserialize(&raw) {
        Ok(message) => message,
        Err(e) => {
            let id = raw
                .get("id")
                .and_then(Value::as_str)
                .and_then(|id| id.parse::<Uuid>().ok());
            tracing::error!(message_id = ?id, error = %e, "a claimed message has an unknown shape");
            let attempt = Outcome::failed("malformed_message").into();
            return id.map(|id| settle_entry(id, &attempt));
        }
    };
    let keys = ctx.sealing_keys().ok();
    let settings = sender.settings();
    let composed = message::compose(&message, keys, settings.portal_base_domain.as_deref())
        .and_then(|outgoing| {
            message::with_unsubscribe(
                outgoing,
                &message,
                ctx.config.delivery.unsubscribe_key.as_deref(),
                settings.unsubscribe_url.as_deref(),
            )
        });
    let attempt = match composed {
        Ok(outgoing) => sender.send(message.id, &message.kind, &outgoing).await,
        Err(outcome) => outcome.into(),
    };
    let outcome = &attempt.outcome;
    tracing::info!(
        message_id = %message.id,
        org_id = %message.org_id,
        kind = %message.kind,
        channel = %message.channel,
        attempt = message.attempts,
        outcome = outcome.name(),
        error = outcome.error(),
        "message"
    );
    Some(settle_entry(message.id, &attempt))
}

/// `{id, outcome, error?, providerMessageId?}`, as `api.outbox_settle` takes it.
fn settle_entry(id: Uuid, attempt: &Attempt) -> Value {
    let mut entry = json!({ "id": id, "outcome": attempt.outcome.name() });
    if let Some(error) = attempt.outcome.error() {
        entry["error"] = json!(error);
    }
    if let Some(provider_id) = &attempt.provider_message_id {
        entry["providerMessageId"] = json!(provider_id);
    }
    entry
}

/// Records a batch's outcomes in one call and counts what the database made of them. A failed
/// call is tried once more: until it succeeds, the batch's sent messages would be sent again
/// when their lease runs out.
async fn settle(
    ctx: &Context,
    claims: &Claims,
    results: &[Value],
    report: &mut Report,
) -> Result<(), Error> {
    if results.is_empty() {
        return Ok(());
    }
    let input = json!({ "results": results, "maxAttempts": MAX_ATTEMPTS });
    let settled: Settled = match ctx.db.answer(SETTLE, claims, &input).await {
        Ok(settled) => settled,
        Err(first) => {
            tracing::warn!(error = %first, messages = results.len(), "settling failed; trying again");
            tokio::time::sleep(Duration::from_secs(1)).await;
            ctx.db
                .answer(SETTLE, claims, &input)
                .await
                .inspect_err(|e| {
                    tracing::error!(
                        error = %e,
                        messages = results.len(),
                        "settling failed twice; the batch is redelivered when its lease ends"
                    )
                })?
        }
    };
    for status in settled.settled.values() {
        match status {
            Status::Sent => report.sent += 1,
            Status::Pending => report.retried += 1,
            Status::Failed => report.failed += 1,
        }
    }
    Ok(())
}

/// `api.outbox_claim`'s answer: the messages leased to this run.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Claimed {
    messages: Vec<Value>,
}

/// `api.outbox_settle`'s answer: each message's state after the settle, by id.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Settled {
    settled: std::collections::BTreeMap<String, Status>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Sent,
    Pending,
    Failed,
}
