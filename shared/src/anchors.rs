//! The audit anchors' bucket, read (feature `storage`): the chain heads the `audit-anchor`
//! function wrote under Object Lock, as [`audit_chain::Checkpoint`]s. Every version of an
//! anchor's key is read, not only the newest: a version written later cannot hide the one a
//! compliance lock keeps. The trail's export and `cargo xtask audit-verify` both read them here.

use crate::{
    audit_chain::{anchor_key, AnchorRecord, Checkpoint, ANCHOR_PREFIX},
    storage::{aws_endpoint, s3_client, sdk_config},
    Context, Error,
};
use uuid::Uuid;

/// The anchors of one chain, or of every chain.
#[derive(Debug, Default)]
pub struct Anchored {
    /// (chain key, checkpoint), in key order.
    pub checkpoints: Vec<(Uuid, Checkpoint)>,
    /// Objects under the prefix that are not an anchor of their key: each makes a
    /// verification fail.
    pub unreadable: Vec<String>,
}

/// The bucket (`WARDLINE_AUDIT_ANCHOR_BUCKET`), built once per container.
#[derive(Clone)]
pub struct AnchorBucket {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl AnchorBucket {
    /// From the environment; `None` without a bucket.
    pub async fn from_env() -> Option<AnchorBucket> {
        let bucket = std::env::var("WARDLINE_AUDIT_ANCHOR_BUCKET")
            .ok()
            .filter(|b| !b.is_empty())?;
        let endpoint = aws_endpoint(|name| std::env::var(name).ok());
        let sdk = sdk_config(endpoint.as_deref()).await;
        Some(AnchorBucket::new(
            s3_client(&sdk, endpoint.is_some()),
            bucket,
        ))
    }

    pub fn new(s3: aws_sdk_s3::Client, bucket: String) -> AnchorBucket {
        AnchorBucket { s3, bucket }
    }

    /// The bucket of the request's function, if its deployment has one.
    pub fn of(ctx: &Context) -> Option<&AnchorBucket> {
        ctx.extensions.get::<AnchorBucket>()
    }

    /// The anchors of `chain` whose sequence numbers lie in `from..=to`; with no chain, every
    /// chain's anchors.
    pub async fn read(&self, chain: Option<Uuid>, from: i64, to: i64) -> Result<Anchored, Error> {
        let prefix = match chain {
            Some(chain) => format!("{ANCHOR_PREFIX}{chain}/"),
            None => ANCHOR_PREFIX.to_owned(),
        };
        // Keys sort by sequence number within a chain: start just before `from`.
        let mut key_marker = chain
            .filter(|_| from > 1)
            .map(|chain| anchor_key(chain, from - 1));
        let mut version_marker: Option<String> = None;
        let mut anchored = Anchored::default();
        loop {
            let page = self
                .s3
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(unavailable)?;
            for version in page.versions() {
                let (Some(key), Some(id)) = (version.key(), version.version_id()) else {
                    continue;
                };
                match self.anchor(key, id).await? {
                    Ok((chain_key, checkpoint)) if (from..=to).contains(&checkpoint.seq) => {
                        anchored.checkpoints.push((chain_key, checkpoint));
                    }
                    Ok((_, checkpoint)) if checkpoint.seq > to && chain.is_some() => {
                        return Ok(anchored);
                    }
                    Ok(_) => {}
                    Err(unreadable) => anchored.unreadable.push(unreadable),
                }
            }
            if page.is_truncated() != Some(true) {
                return Ok(anchored);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                return Ok(anchored);
            }
        }
    }

    /// One version of one anchor object: its chain and checkpoint, or why it is none.
    async fn anchor(
        &self,
        key: &str,
        version: &str,
    ) -> Result<Result<(Uuid, Checkpoint), String>, Error> {
        let object = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .version_id(version)
            .send()
            .await
            .map_err(unavailable)?;
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| Error::internal(format!("reading {key}: {e}")))?
            .into_bytes();
        Ok(serde_json::from_slice::<AnchorRecord>(&body)
            .map_err(|e| format!("{key} (version {version}): {e}"))
            .and_then(|record| Ok((record.chain_key, record.checkpoint(key)?))))
    }
}

/// A 503 for the anchors' bucket failing under a read or a write, its cause logged.
pub fn unavailable<E: std::error::Error + Send + Sync + 'static>(
    error: aws_sdk_s3::error::SdkError<E>,
) -> Error {
    let mut failed = Error::unavailable(
        "anchor_storage_unavailable",
        "The audit anchors' bucket did not answer.",
    );
    failed.internal = Some(aws_sdk_s3::error::DisplayErrorContext(error).to_string());
    failed
}
