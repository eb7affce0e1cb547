//! Applies the schema: `sql/` in name order, each file once (recorded with its checksum), and
//! `policies/` as a set, all again whenever any of them changed. Files whose first line is
//! `-- run-as: admin` (cluster roles) run as the connecting admin on every run and must be
//! idempotent; everything else runs as `wardline_owner`, one transaction per file, under an
//! advisory lock. Applying twice changes nothing.

use include_dir::{include_dir, Dir, File};
use sha2::{Digest, Sha256};
use tokio_postgres::{Client, Transaction};

static SQL: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../sql");
static POLICIES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../policies");

const ADMIN_MARKER: &str = "-- run-as: admin";
const LOCK_KEY: i64 = 0x5741_5244_4c49_4e45; // "WARDLINE"

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{file}: {source}")]
    Sql {
        file: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("{0} changed after it was applied: add a new migration instead of editing it")]
    Edited(String),
    #[error("{0}")]
    Database(#[from] tokio_postgres::Error),
}

/// What a run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub migrations: Vec<String>,
    pub policies: Vec<String>,
}

const META: &str = "
create schema if not exists wardline_meta;
create table if not exists wardline_meta.applied (
  kind       text not null check (kind in ('migration', 'policy')),
  name       text not null,
  checksum   text not null,
  applied_at timestamptz not null default now(),
  primary key (kind, name)
);
alter table wardline_meta.applied enable row level security;
alter table wardline_meta.applied force row level security;
do $$ begin
  if not exists (select 1 from pg_policies where schemaname = 'wardline_meta'
                 and policyname = 'the owner keeps the migration record') then
    create policy \"the owner keeps the migration record\" on wardline_meta.applied
      for all to wardline_owner using (true) with check (true);
  end if;
end $$;
";

/// Applies everything pending. `client` is an admin connection (superuser, or a role with
/// CREATEROLE that may become `wardline_owner`) to the target database.
pub async fn apply(client: &mut Client) -> Result<Report, MigrateError> {
    client
        .execute("select pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let result = apply_locked(client).await;
    let unlocked = client
        .execute("select pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    let report = result?;
    unlocked?;
    Ok(report)
}

async fn apply_locked(client: &mut Client) -> Result<Report, MigrateError> {
    let sql = sorted(&SQL);
    for file in sql.iter().filter(|f| is_admin(f)) {
        run(client, file, text(file)).await?;
    }
    client.batch_execute("set role wardline_owner").await?;
    client.batch_execute(META).await?;

    let mut report = Report::default();
    for file in sql.iter().filter(|f| !is_admin(f)) {
        if record_says(client, "migration", file).await? == Recorded::Pending {
            apply_migration(client, file).await?;
            report.migrations.push(name(file));
        }
    }
    let policies = sorted(&POLICIES);
    let mut stale = false;
    for file in &policies {
        stale |= record_says(client, "policy", file).await? != Recorded::Current;
    }
    if stale {
        apply_policies(client, &policies).await?;
        report.policies = policies.iter().map(|f| name(f)).collect();
    }
    client.batch_execute("reset role").await?;
    Ok(report)
}

#[derive(PartialEq, Eq)]
enum Recorded {
    Pending,
    Changed,
    Current,
}

async fn record_says(
    client: &Client,
    kind: &str,
    file: &File<'_>,
) -> Result<Recorded, MigrateError> {
    let row = client
        .query_opt(
            "select checksum from wardline_meta.applied where kind = $1 and name = $2",
            &[&kind, &name(file)],
        )
        .await?;
    Ok(match row.map(|r| r.get::<_, String>(0)) {
        None => Recorded::Pending,
        Some(sum) if sum == checksum(file) => Recorded::Current,
        Some(_) if kind == "migration" => return Err(MigrateError::Edited(name(file))),
        Some(_) => Recorded::Changed,
    })
}

async fn apply_migration(client: &mut Client, file: &File<'_>) -> Result<(), MigrateError> {
    let tx = client.transaction().await?;
    apply_file(&tx, "migration", file).await?;
    tx.commit().await?;
    Ok(())
}

/// Runs one file inside `tx` and records its checksum.
async fn apply_file(tx: &Transaction<'_>, kind: &str, file: &File<'_>) -> Result<(), MigrateError> {
    tx.batch_execute(text(file)).await.map_err(in_file(file))?;
    tx.execute(
        "insert into wardline_meta.applied (kind, name, checksum) values ($1, $2, $3)
         on conflict (kind, name) do update set checksum = excluded.checksum, applied_at = now()",
        &[&kind, &name(file), &checksum(file)],
    )
    .await?;
    Ok(())
}

fn in_file(file: &File<'_>) -> impl FnOnce(tokio_postgres::Error) -> MigrateError {
    let file = name(file);
    move |source| MigrateError::Sql { file, source }
}

/// Policies are applied as one set: every existing policy is dropped and every file applied
/// again, in one transaction, so a renamed or removed policy cannot linger (permissive
/// policies are OR-ed: a leftover one would widen access).
async fn apply_policies(client: &mut Client, files: &[&File<'_>]) -> Result<(), MigrateError> {
    let tx = client.transaction().await?;
    tx.batch_execute(
        "do $$ declare p record; begin
           for p in select policyname, schemaname, tablename from pg_policies
                    where schemaname <> 'wardline_meta' loop
             execute format('drop policy %I on %I.%I', p.policyname, p.schemaname, p.tablename);
           end loop;
         end $$",
    )
    .await?;
    for file in files {
        apply_file(&tx, "policy", file).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn run(client: &Client, file: &File<'_>, sql: &str) -> Result<(), MigrateError> {
    client.batch_execute(sql).await.map_err(in_file(file))
}

fn sorted<'a>(dir: &'a Dir<'a>) -> Vec<&'a File<'a>> {
    let mut files: Vec<_> = dir
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort_by_key(|f| f.path());
    files
}

fn is_admin(file: &File<'_>) -> bool {
    text(file).starts_with(ADMIN_MARKER)
}

fn text<'a>(file: &'a File<'a>) -> &'a str {
    file.contents_utf8().unwrap_or_default()
}

fn name(file: &File<'_>) -> String {
    file.path().display().to_string()
}

fn checksum(file: &File<'_>) -> String {
    hex::encode(Sha256::digest(file.contents()))
}

/// Gives `wardline_authenticator` the deployment's generated password (template.yaml's
/// `AuthenticatorSecret`, which RDS Proxy logs in with). The SCRAM verifier is computed here,
/// so the password itself never reaches the server or its statement log.
pub async fn set_authenticator_password(
    client: &Client,
    password: &str,
) -> Result<(), MigrateError> {
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    // A verifier is `SCRAM-SHA-256$<iterations>:<base64>$<base64>:<base64>`: no quotes.
    client
        .batch_execute(&format!(
            "alter role wardline_authenticator password '{verifier}'"
        ))
        .await?;
    Ok(())
}
