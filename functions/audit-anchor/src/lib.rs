//! `audit-anchor`: the scheduled anchoring of the audit trail (EventBridge, every 5 minutes,
//! no route). As `app_service` it reads the head (sequence number and hash) of every audit
//! chain that changed since its last anchor (`api.audit_heads`), writes each to S3 as
//! `anchors/{chainKey}/{seq}.json` under Object Lock in compliance mode until the configured
//! retention ends, then records what it wrote (`api.audit_anchored`), so a run with nothing
//! new writes nothing. The database owner can rewrite the chain and its heads consistently,
//! but not an anchor already written: `cargo xtask audit-verify` (and the trail's export)
//! hold the chain to them with `wardline_shared::audit_chain`.
//!
//! Objects carry chain keys (clinic ids), sequence numbers and hashes only: no PHI. The run is
//! not audited in the chain itself: that would change a head on every run, and every run
//! would then anchor it again.

use aws_sdk_s3::{
    primitives::{ByteStream, DateTime, DateTimeFormat},
    types::{ChecksumAlgorithm, ObjectLockMode},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;
use wardline_shared::{
    audit_chain::{anchor_key, AnchorRecord},
    auth::Claims,
    db::Operation,
    operation, storage, Context, Error,
};

const HEADS: Operation = operation!(read "audit_heads");
const ANCHORED: Operation = operation!("audit_anchored");

/// How long anchors stay locked when `WARDLINE_AUDIT_ANCHOR_RETAIN_DAYS` is not set: six
/// years, HIPAA's retention of documentation (45 CFR 164.316(b)(2)).
pub const DEFAULT_RETAIN_DAYS: u32 = 2190;

/// Where anchors go, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `WARDLINE_AUDIT_ANCHOR_BUCKET`: a bucket with Object Lock enabled.
    pub bucket: String,
    /// `WARDLINE_AUDIT_ANCHOR_RETAIN_DAYS`: each anchor is locked in compliance mode this many
    /// days from its writing.
    pub retain_days: u32,
    /// `WARDLINE_AWS_ENDPOINT_URL` (a local S3-compatible server).
    pub aws_endpoint: Option<String>,
}

impl Settings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        let bucket = lookup("WARDLINE_AUDIT_ANCHOR_BUCKET")
            .filter(|b| !b.is_empty())
            .ok_or_else(|| Error::internal("WARDLINE_AUDIT_ANCHOR_BUCKET is not set"))?;
        let retain_days =
            match lookup("WARDLINE_AUDIT_ANCHOR_RETAIN_DAYS").filter(|d| !d.is_empty()) {
                None => DEFAULT_RETAIN_DAYS,
                Some(days) => days
                    .parse::<u32>()
                    .ok()
                    .filter(|d| (1..=36_500).contains(d))
                    .ok_or_else(|| {
                        Error::internal("WARDLINE_AUDIT_ANCHOR_RETAIN_DAYS must be 1 to 36500 days")
                    })?,
            };
        Ok(Settings {
            bucket,
            retain_days,
            aws_endpoint: storage::aws_endpoint(&lookup),
        })
    }
}

/// The anchor bucket's client, built once per container.
#[derive(Clone)]
pub struct Anchors {
    s3: aws_sdk_s3::Client,
    settings: Settings,
}

impl Anchors {
    pub async fn from_env() -> Result<Anchors, Error> {
        let settings = Settings::from_lookup(|name| std::env::var(name).ok())?;
        let sdk = storage::sdk_config(settings.aws_endpoint.as_deref()).await;
        Ok(Anchors::new(&sdk, settings))
    }

    pub fn new(sdk: &aws_config::SdkConfig, settings: Settings) -> Anchors {
        Anchors {
            s3: storage::s3_client(sdk, settings.aws_endpoint.is_some()),
            settings,
        }
    }

    /// Writes one anchor, locked in compliance mode until `retain_until`. Object Lock wants an
    /// integrity checksum on the put: SHA-256, computed by the SDK.
    async fn put(&self, record: &AnchorRecord, retain_until: DateTime) -> Result<(), Error> {
        let body = serde_json::to_vec(record).map_err(Error::internal)?;
        self.s3
            .put_object()
            .bucket(&self.settings.bucket)
            .key(anchor_key(record.chain_key, record.seq))
            .content_type("application/json")
            .body(ByteStream::from(body))
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(retain_until)
            .send()
            .await
            .map_err(wardline_shared::anchors::unavailable)?;
        Ok(())
    }
}

/// What one run did, returned to the scheduler and logged.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Chains whose head changed since their last anchor.
    pub heads_changed: u64,
    /// Anchors written (and recorded).
    pub anchored: u64,
    /// Heads found behind their last anchor: rows removed and the head moved back, which
    /// only the database owner can do. Logged as a warning; the verifier reports them.
    pub heads_behind: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Heads {
    heads: Vec<Head>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Head {
    chain_key: Uuid,
    seq: i64,
    hash: String,
    anchored_seq: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Recorded {
    recorded: u64,
}

/// Anchors every chain head that changed since its last anchor. A write that fails is left
/// for the next run (the others are recorded first), and the run then fails.
pub async fn anchor(ctx: &Context, anchors: &Anchors, request_id: &str) -> Result<Report, Error> {
    let claims = Claims::service(request_id);
    let Heads { heads } = ctx.db.answer(HEADS, &claims, &json!({})).await?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(Error::internal)?
        .as_secs() as i64;
    let anchored_at = DateTime::from_secs(now)
        .fmt(DateTimeFormat::DateTime)
        .map_err(Error::internal)?;
    let retain_until = DateTime::from_secs(now + i64::from(anchors.settings.retain_days) * 86_400);
    let mut report = Report {
        heads_changed: heads.len() as u64,
        ..Report::default()
    };
    let mut written = Vec::new();
    let mut failure = None;
    for head in heads {
        if head.anchored_seq.is_some_and(|a| a > head.seq) {
            report.heads_behind += 1;
            tracing::warn!(
                request_id,
                function = "audit-anchor",
                chain_key = %head.chain_key,
                seq = head.seq,
                anchored_seq = head.anchored_seq,
                "audit chain head is behind its last anchor"
            );
        }
        let record = AnchorRecord {
            chain_key: head.chain_key,
            seq: head.seq,
            hash: head.hash,
            anchored_at: anchored_at.clone(),
        };
        match anchors.put(&record, retain_until).await {
            Ok(()) => written.push(json!({
                "chainKey": record.chain_key, "seq": record.seq, "hash": record.hash,
            })),
            Err(e) => {
                tracing::error!(
                    request_id,
                    function = "audit-anchor",
                    chain_key = %record.chain_key,
                    seq = record.seq,
                    cause = e.internal.as_deref().unwrap_or_default(),
                    "writing an anchor failed"
                );
                failure.get_or_insert(e);
            }
        }
    }
    if !written.is_empty() {
        let Recorded { recorded } = ctx
            .db
            .answer(ANCHORED, &claims, &json!({ "anchors": written }))
            .await?;
        report.anchored = recorded;
    }
    tracing::info!(
        request_id,
        function = "audit-anchor",
        heads_changed = report.heads_changed,
        anchored = report.anchored,
        heads_behind = report.heads_behind,
        "anchor"
    );
    match failure {
        Some(e) => Err(e),
        None => Ok(report),
    }
}
