//! `hold-cleanup`: the scheduled sweep (EventBridge, no route). As `app_service` it expires
//! holds past their expiry, passes lapsed waitlist offers to the next patient waiting, and
//! deletes idempotency records older than 24 hours, one batch per
//! transaction so no lock is held for long. Rows another sweeper or a request has locked are
//! skipped (`SKIP LOCKED`), so two sweeps at once are safe and count nothing twice.

use serde::Serialize;
use serde_json::json;
use wardline_shared::{auth::Claims, db::Operation, operation, Context, Error};

const SWEEP: Operation = operation!("sweep");

/// Rows per batch (per transaction).
pub const BATCH_SIZE: i64 = 500;
/// Batches per invocation, well inside the function's timeout; the next run finishes the rest.
pub const MAX_BATCHES: usize = 40;

/// What one invocation did, returned to the scheduler and logged.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub holds_expired: u64,
    pub idempotency_keys_deleted: u64,
    pub offers_passed: u64,
    pub batches: usize,
}

/// One batch's answer from `api.sweep`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Swept {
    holds_expired: u64,
    idempotency_keys_deleted: u64,
    offers_passed: u64,
}

/// Sweeps until a batch comes back short (nothing left) or `MAX_BATCHES` have run.
pub async fn sweep(ctx: &Context, request_id: &str) -> Result<Report, Error> {
    let claims = Claims::service(request_id);
    let mut report = Report::default();
    while report.batches < MAX_BATCHES {
        let Swept {
            holds_expired: expired,
            idempotency_keys_deleted: deleted,
            offers_passed: passed,
        } = ctx
            .db
            .answer(SWEEP, &claims, &json!({ "batchSize": BATCH_SIZE }))
            .await?;
        report.batches += 1;
        report.holds_expired += expired;
        report.idempotency_keys_deleted += deleted;
        report.offers_passed += passed;
        if expired < BATCH_SIZE as u64 && deleted < BATCH_SIZE as u64 && passed < BATCH_SIZE as u64
        {
            break;
        }
    }
    tracing::info!(
        request_id,
        function = "hold-cleanup",
        holds_expired = report.holds_expired,
        idempotency_keys_deleted = report.idempotency_keys_deleted,
        offers_passed = report.offers_passed,
        batches = report.batches,
        "sweep"
    );
    Ok(report)
}
