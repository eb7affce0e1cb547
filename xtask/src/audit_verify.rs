//! `cargo xtask audit-verify`: the audit trail checked from outside the database. It reads
//! `audit.events` and `audit.chain_heads` with plain selects (none of the database's own
//! functions, which their owner could have altered), recomputes every chain in Rust with
//! `wardline_shared::audit_chain`, and holds each chain to its head and to every version of
//! every anchor the `audit-anchor` function wrote to S3 under Object Lock. A rewrite by the
//! database owner that recomputes every hash and head consistently still disagrees with the
//! anchors written before it.

use anyhow::{bail, Context as _, Result};
use futures::StreamExt as _;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;
use wardline_shared::{
    anchors::AnchorBucket,
    audit_chain::{
        ChainVerifier, Checkpoint, Event, Source, Verification, EVENT_COLUMNS, NIL_CHAIN,
    },
};

/// What the verifier found: one verification per chain, and the anchor objects it could not
/// read as anchors (each a failure too).
#[derive(Debug)]
pub struct Report {
    pub chains: Vec<Verification>,
    pub unreadable_anchors: Vec<String>,
    /// Whether anchors were read at all (a bucket was given).
    pub anchored: bool,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.unreadable_anchors.is_empty() && self.chains.iter().all(Verification::ok)
    }

    /// The chain of `key`, if the database or the bucket knows it.
    pub fn chain(&self, key: Uuid) -> Option<&Verification> {
        self.chains.iter().find(|c| c.chain_key == key)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.anchored {
            writeln!(
                f,
                "no anchor bucket given (--bucket or WARDLINE_AUDIT_ANCHOR_BUCKET): chains are \
                 checked against their heads only, which the database owner can move"
            )?;
        }
        for chain in &self.chains {
            let key = if chain.chain_key == NIL_CHAIN {
                format!("{} (outside any clinic)", chain.chain_key)
            } else {
                chain.chain_key.to_string()
            };
            write!(
                f,
                "chain {key}: {} events, {} anchors checked: ",
                chain.events_checked, chain.anchors_checked
            )?;
            match &chain.broken {
                None => writeln!(f, "intact (last seq {})", chain.last_seq)?,
                Some(broken) => writeln!(f, "BROKEN at seq {}: {}", broken.seq, broken.reason)?,
            }
        }
        for anchor in &self.unreadable_anchors {
            writeln!(f, "unreadable anchor: {anchor}")?;
        }
        let broken = self.chains.iter().filter(|c| !c.ok()).count();
        write!(
            f,
            "{} chains, {broken} broken, {} unreadable anchors",
            self.chains.len(),
            self.unreadable_anchors.len()
        )
    }
}

/// Every version of every anchor object, by chain, and the objects that are no anchor.
async fn read_anchors(
    bucket: &AnchorBucket,
) -> Result<(BTreeMap<Uuid, Vec<Checkpoint>>, Vec<String>)> {
    let anchored = bucket
        .read(None, 1, i64::MAX)
        .await
        .map_err(|e| anyhow::anyhow!("reading the anchors: {e}"))?;
    let mut anchors: BTreeMap<Uuid, Vec<Checkpoint>> = BTreeMap::new();
    for (chain, checkpoint) in anchored.checkpoints {
        anchors.entry(chain).or_default().push(checkpoint);
    }
    Ok((anchors, anchored.unreadable))
}

/// Verifies every chain of the database `client` is connected to, against its head and, with
/// a bucket, its anchors. Reads the anchors first, then the database in one snapshot, so an
/// anchor written meanwhile names only events the snapshot holds.
pub async fn verify(
    client: &mut tokio_postgres::Client,
    bucket: Option<&AnchorBucket>,
) -> Result<Report> {
    let (mut checkpoints, unreadable_anchors) = match bucket {
        Some(bucket) => read_anchors(bucket).await?,
        None => Default::default(),
    };
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    // RLS is forced on the audit tables: a login that neither is a superuser nor bypasses RLS
    // (an RDS master user) reads them as wardline_auth, whose policies read every row.
    let bypasses: bool = tx
        .query_one(
            "select rolsuper or rolbypassrls from pg_roles where rolname = current_user",
            &[],
        )
        .await?
        .get(0);
    if !bypasses {
        tx.batch_execute("set local role wardline_auth")
            .await
            .context("reading the audit trail as wardline_auth")?;
    }
    for row in tx
        .query(
            "select chain_key, last_seq, last_hash from audit.chain_heads",
            &[],
        )
        .await?
    {
        checkpoints.entry(row.get(0)).or_default().push(Checkpoint {
            seq: row.get(1),
            hash: row.get(2),
            source: Source::Head,
        });
    }
    let mut chains = Vec::new();
    let mut seen = BTreeSet::new();
    let mut current: Option<ChainVerifier> = None;
    let mut current_key = None;
    let rows = tx
        .query_raw(
            &format!(
                "select {EVENT_COLUMNS} from audit.events
                 order by org_id nulls first, chain_seq"
            ),
            std::iter::empty::<i64>(),
        )
        .await?;
    let mut rows = std::pin::pin!(rows);
    while let Some(row) = rows.next().await {
        let event = Event::from_row(&row?)?;
        let key = event.chain_key();
        if current_key != Some(key) {
            if let Some(done) = current.take() {
                chains.push(done.finish());
            }
            if !seen.insert(key) {
                bail!("audit.events came back out of chain order");
            }
            current_key = Some(key);
            current = Some(ChainVerifier::new(
                key,
                checkpoints.remove(&key).unwrap_or_default(),
            ));
        }
        if let Some(verifier) = current.as_mut() {
            verifier.push(&event);
        }
    }
    if let Some(done) = current.take() {
        chains.push(done.finish());
    }
    // Chains with a head or anchors and no event left at all.
    for (key, rest) in checkpoints {
        chains.push(ChainVerifier::new(key, rest).finish());
    }
    tx.commit().await?;
    Ok(Report {
        chains,
        unreadable_anchors,
        anchored: bucket.is_some(),
    })
}

/// `cargo xtask audit-verify [--database-url URL] [--bucket B] [--endpoint URL]`.
pub async fn run(args: &[String]) -> Result<bool> {
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let bucket = flag("--bucket").or_else(|| env("WARDLINE_AUDIT_ANCHOR_BUCKET"));
    let endpoint = flag("--endpoint").or_else(|| env("WARDLINE_AWS_ENDPOINT_URL"));
    let (url, cluster) = match flag("--database-url").or_else(|| env("DATABASE_URL")) {
        Some(url) => (url, None),
        None => local_database()?,
    };
    let mut client = crate::connect(&url).await?;
    // An endpoint is the local stack's S3 stand-in (moto); without one, AWS as the environment
    // configures it.
    let anchor_bucket = match (bucket, &endpoint) {
        (Some(name), Some(endpoint)) => Some(AnchorBucket::new(crate::moto::s3_at(endpoint), name)),
        (Some(name), None) => {
            let sdk = wardline_shared::storage::sdk_config(None).await;
            Some(AnchorBucket::new(
                wardline_shared::storage::s3_client(&sdk, false),
                name,
            ))
        }
        (None, _) => None,
    };
    let report = verify(&mut client, anchor_bucket.as_ref()).await;
    if let Some(cluster) = cluster {
        cluster.stop()?;
    }
    let report = report?;
    println!("{report}");
    Ok(report.ok())
}

/// The local stack's database: the running dev cluster's, or the dev cluster started for this
/// command (and stopped with it).
fn local_database() -> Result<(String, Option<crate::pg::Cluster>)> {
    let dev = crate::stack::dev_cluster_dir();
    if let Some(port) = crate::pg::running_port(&dev) {
        return Ok((
            format!("postgres://postgres@127.0.0.1:{port}/wardline"),
            None,
        ));
    }
    let cluster = crate::pg::Cluster::start(&dev, crate::pg::Durability::Durable)
        .context("starting the local stack's database (or set DATABASE_URL)")?;
    Ok((cluster.admin_url("wardline"), Some(cluster)))
}
