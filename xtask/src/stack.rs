//! The local stack without its HTTP server: PostgreSQL (the dev cluster, a throwaway cluster
//! or `DATABASE_URL`) migrated and seeded with the demo data, the dev keys, and the
//! environment the functions read. `cargo xtask local`, `fuzz-api`, `smoke` and the
//! cold-start bench all start it here, so they run the functions the same way.

use crate::{demo, keys::DevKeys, pg, target_dir};
use anyhow::{Context as _, Result};
use std::collections::HashMap;

/// Which PostgreSQL the stack runs on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// `DATABASE_URL` when set, else the durable dev cluster under `target/wardline-dev/pg`.
    Dev,
    /// A fresh cluster under `target/tmp`, removed when this process exits.
    Throwaway,
}

/// The port the local stack's cluster prefers, so its URL stays the same between runs (as
/// Supabase's local stack keeps 54322); any free port when another server has it.
pub const DEV_PG_PORT: u16 = 54329;

/// Where the local stack's durable cluster lives.
pub fn dev_cluster_dir() -> std::path::PathBuf {
    target_dir().join("wardline-dev").join("pg")
}

/// The local stack's notes key (never used anywhere else); WARDLINE_NOTES_KEYS overrides it.
const DEV_NOTES_KEY: &str = "dev-1:ZGV2LW9ubHktbm90ZXMta2V5LWRvLW5vdC1kZXBsb3k=";
/// The local stack's OTP HMAC key and Twilio token (never used anywhere else).
const DEV_OTP_KEY: &str = "ZGV2LW9ubHktb3RwLWhtYWMta2V5LWRvLW5vdC1kZXBsb3k=";
const DEV_TWILIO_TOKEN: &str = "dev-only-twilio-auth-token";
/// The local stack's unsubscribe-link key (never used anywhere else).
pub const DEV_UNSUBSCRIBE_KEY: &str = "ZGV2LW9ubHktdW5zdWJzY3JpYmUta2V5LWRvLW5vdC1kZXBsb3k=";
/// A P-256 public key standing in for SendGrid's event-webhook key: the local stack verifies
/// (and refuses) e-mail events instead of answering 503. Nobody holds its private key.
const DEV_SENDGRID_WEBHOOK_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEnoBCv+1H+i9ZpQWjlwAtjk5xErkoxhhDg1PodpRwXoM18PokMxHFqhrLJUmw3yxzN484M+qAk0vo6n2GuBzOUw==";

/// The notes keyring the local stack's functions seal with (and its demo messages are sealed
/// with).
fn notes_keys() -> String {
    std::env::var("WARDLINE_NOTES_KEYS").unwrap_or_else(|_| DEV_NOTES_KEY.into())
}

/// A migrated, seeded database and the keys its tokens are signed with.
pub struct Stack {
    /// Superuser URL of the database: fixtures, inspection.
    pub admin_url: String,
    /// What the functions log in as (`wardline_authenticator`).
    pub app_url: String,
    /// Signs staff tokens; its JWKS is what `WARDLINE_JWKS_URL` must serve.
    pub keys: DevKeys,
    portal_key: DevKeys,
    cluster: Option<pg::Cluster>,
}

impl Stack {
    /// Starts (or connects to) PostgreSQL, applies `db/`, seeds the demo data.
    pub async fn start(database: Database) -> Result<Stack> {
        let dev = target_dir().join("wardline-dev");
        let (admin_url, app_url, cluster) = match (database, std::env::var("DATABASE_URL")) {
            (Database::Dev, Ok(url)) => {
                let db = url
                    .parse::<tokio_postgres::Config>()?
                    .get_dbname()
                    .unwrap_or("wardline")
                    .to_owned();
                let app = crate::with_database(&url, &db, Some("wardline_authenticator"))?;
                (url, app, None)
            }
            (database, _) => {
                let cluster = match database {
                    Database::Dev => pg::Cluster::start_preferring(
                        &dev_cluster_dir(),
                        pg::Durability::Durable,
                        Some(DEV_PG_PORT),
                    )?,
                    Database::Throwaway => pg::Cluster::start(
                        &target_dir()
                            .join("tmp")
                            .join(format!("stack-{}", std::process::id())),
                        pg::Durability::Throwaway,
                    )?,
                };
                let admin = crate::connect(&cluster.admin_url("postgres")).await?;
                if admin
                    .query_opt("select 1 from pg_database where datname = 'wardline'", &[])
                    .await?
                    .is_none()
                {
                    admin.batch_execute("create database wardline").await?;
                }
                (
                    cluster.admin_url("wardline"),
                    cluster.app_url("wardline"),
                    Some(cluster),
                )
            }
        };
        let mut admin = crate::connect(&admin_url).await?;
        let report = wardline_shared::migrate::apply(&mut admin)
            .await
            .context("applying db/")?;
        println!("{report}");
        let notes_keys =
            wardline_shared::sealed::Keyring::parse("WARDLINE_NOTES_KEYS", &notes_keys())?;
        demo::seed(&admin, &notes_keys)
            .await
            .context("seeding demo data")?;
        Ok(Stack {
            admin_url,
            app_url,
            keys: dev_keys()?,
            portal_key: DevKeys::load_or_create(&dev.join("portal-es256.pem"))?,
            cluster,
        })
    }

    /// The environment the functions read, with staff tokens verified against `jwks_url`.
    /// Portals live at `{slug}.portal.localhost`; messages are logged, not sent.
    pub fn env(&self, jwks_url: &str) -> HashMap<&'static str, String> {
        HashMap::from([
            ("DATABASE_URL", self.app_url.clone()),
            ("WARDLINE_DB_SSLMODE", "disable".into()),
            ("WARDLINE_JWKS_URL", jwks_url.into()),
            ("WARDLINE_JWT_ISSUER", crate::keys::ISSUER.into()),
            ("WARDLINE_JWT_AUDIENCE", crate::keys::AUDIENCE.into()),
            ("WARDLINE_NOTES_KEYS", notes_keys()),
            (
                "WARDLINE_PORTAL_SIGNING_KEY",
                self.portal_key.pem().to_owned(),
            ),
            ("WARDLINE_OTP_KEY", DEV_OTP_KEY.into()),
            ("WARDLINE_PORTAL_BASE_DOMAIN", "localhost".into()),
            ("WARDLINE_TWILIO_AUTH_TOKEN", DEV_TWILIO_TOKEN.into()),
            ("WARDLINE_UNSUBSCRIBE_KEY", DEV_UNSUBSCRIBE_KEY.into()),
            (
                "WARDLINE_SENDGRID_WEBHOOK_KEY",
                DEV_SENDGRID_WEBHOOK_KEY.into(),
            ),
            (
                "WARDLINE_UNSUBSCRIBE_URL",
                "http://localhost:3000/api/email/unsubscribe".into(),
            ),
            ("WARDLINE_MESSAGES_MODE", "log".into()),
        ])
    }

    /// A setting as the functions see it: the stack's wiring wins, then the process
    /// environment (WARDLINE_LOG, WARDLINE_MAX_BODY_BYTES, …) as in production.
    pub fn lookup(&self, jwks_url: &str) -> impl Fn(&str) -> Option<String> {
        let env = self.env(jwks_url);
        move |name| env.get(name).cloned().or_else(|| std::env::var(name).ok())
    }

    /// The functions' shared configuration (see [`Stack::env`]).
    pub fn config(&self, jwks_url: &str) -> Result<wardline_shared::config::Config> {
        Ok(wardline_shared::config::Config::from_lookup(
            self.lookup(jwks_url),
        )?)
    }

    /// Whether the stack runs its own cluster (not `DATABASE_URL`'s server).
    pub fn owns_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// Stops a cluster the stack started (a throwaway one is also removed at exit).
    pub fn stop(&self) -> Result<()> {
        match &self.cluster {
            Some(cluster) => cluster.stop(),
            None => Ok(()),
        }
    }
}

/// The local stack's prescription outside world: moto's S3 (bucket `wardline-prescriptions`)
/// and Secrets Manager holding each demo clinic's pharmacy account, and the pharmacy stand-in.
/// The returned moto server stops when dropped.
async fn prescribing() -> Result<(crate::moto::Moto, provider_queue::Outside)> {
    const BUCKET: &str = "wardline-prescriptions";
    let moto = tokio::task::block_in_place(crate::moto::Moto::start)?;
    moto.create_bucket(BUCKET).await?;
    let pharmacy = crate::pharmacy::Pharmacy::start_on(&tokio::runtime::Handle::current()).await?;
    for clinic in demo::CLINICS {
        let (account, key) = (
            format!("local-{}", clinic.slug),
            format!("local-key-{}", clinic.slug),
        );
        let secret = serde_json::json!({ "accountId": account, "apiKey": key });
        moto.create_secret(&demo::pharmacy_secret(clinic.slug), &secret.to_string())
            .await?;
        pharmacy.add_account(&account, &key);
    }
    let settings = provider_queue::Settings {
        bucket: BUCKET.into(),
        kms_key_id: None,
        pharmacy_url: pharmacy.url.clone(),
        aws_endpoint: Some(moto.endpoint.clone()),
    };
    let outside = provider_queue::Outside::new(&moto.sdk_config(), settings)?;
    println!(
        "prescriptions: s3://{BUCKET} on {}, pharmacy stand-in on {}",
        moto.endpoint, pharmacy.url
    );
    Ok((moto, outside))
}

/// The local stack's patient documents: moto's S3, bucket `wardline-documents`.
async fn documents(moto: &crate::moto::Moto) -> Result<wardline_shared::storage::Documents> {
    const BUCKET: &str = "wardline-documents";
    moto.create_bucket(BUCKET).await?;
    let settings = wardline_shared::storage::DocumentSettings {
        bucket: BUCKET.into(),
        kms_key_id: None,
        aws_endpoint: Some(moto.endpoint.clone()),
    };
    println!("documents: s3://{BUCKET} on {}", moto.endpoint);
    Ok(wardline_shared::storage::Documents::new(
        &moto.sdk_config(),
        settings,
    ))
}

/// The local stack's audit anchors: moto's S3, bucket `wardline-audit-anchors` with Object
/// Lock. The writer ([`audit_anchor::Anchors`]) for `cargo xtask local`'s anchoring loop, the
/// reader ([`AnchorBucket`]) for the trail's export.
async fn anchors(
    moto: &crate::moto::Moto,
) -> Result<(
    audit_anchor::Anchors,
    wardline_shared::anchors::AnchorBucket,
)> {
    moto.create_anchor_bucket(ANCHOR_BUCKET, 1).await?;
    let settings = audit_anchor::Settings {
        bucket: ANCHOR_BUCKET.into(),
        retain_days: 1,
        aws_endpoint: Some(moto.endpoint.clone()),
    };
    println!("audit anchors: s3://{ANCHOR_BUCKET} on {}", moto.endpoint);
    Ok((
        audit_anchor::Anchors::new(&moto.sdk_config(), settings),
        wardline_shared::anchors::AnchorBucket::new(moto.s3(), ANCHOR_BUCKET.into()),
    ))
}

/// The local stack's anchor bucket.
pub const ANCHOR_BUCKET: &str = "wardline-audit-anchors";

/// The functions' shared state for the in-process gateway, with approve-and-send, documents
/// and the audit anchors wired to moto (and the pharmacy stand-in) when moto starts (kept alive
/// by the returned guard).
pub async fn gateway_context(
    stack: &Stack,
    jwks_url: &str,
) -> Result<(wardline_shared::Context, Option<crate::moto::Moto>)> {
    let mut ctx = wardline_shared::Context::new(stack.config(jwks_url)?)?;
    let moto = match prescribing().await {
        Ok((moto, outside)) => {
            ctx.extensions.insert(outside);
            ctx.extensions.insert(documents(&moto).await?);
            let (writer, reader) = anchors(&moto).await?;
            ctx.extensions.insert(writer);
            ctx.extensions.insert(reader);
            Some(moto)
        }
        Err(e) => {
            eprintln!("approve-and-send is off (moto could not start): {e:#}");
            None
        }
    };
    Ok((ctx, moto))
}

/// The dev key staff tokens are signed with, kept under `target/wardline-dev` so tokens from
/// `cargo xtask token` stay valid across restarts of the local stack.
pub fn dev_keys() -> Result<DevKeys> {
    DevKeys::load_or_create(&target_dir().join("wardline-dev").join("dev-es256.pem"))
}
