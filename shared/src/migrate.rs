//! Applies the schema from `db/`, in two kinds of file:
//!
//! - `db/migrations/`: versioned. Tables, constraints, indexes, table grants, data changes.
//!   Applied once each, in name order, and recorded with their checksum: editing an applied one
//!   is an error (write a new one).
//! - `db/functions/` and `db/policies/`: re-applied source. Every SQL function, its grants and
//!   triggers, then every RLS policy. Whenever any of these files (or a migration) is new or
//!   changed, all of them are applied again from scratch: every policy, trigger and function
//!   is dropped first, so a renamed function or a changed signature leaves nothing behind.
//!   The one exception is a function a table constraint uses (`app.is_time_zone`): it is part
//!   of its table, lives in that table's migration and changes only by a new one.
//!
//! Every `SECURITY DEFINER` function is handed to `wardline_auth` here, once, so the files
//! never repeat the ownership dance. Files whose first line is `-- run-as: admin` (cluster
//! roles) run as the connecting admin on every run and must be idempotent. Everything else runs
//! as `wardline_owner`, in one transaction, under an advisory lock: a failure changes nothing,
//! and applying twice changes nothing.

use include_dir::{include_dir, Dir, File};
use sha2::{Digest, Sha256};
use tokio_postgres::{Client, Transaction};

static MIGRATIONS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../db/migrations");
static FUNCTIONS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../db/functions");
static POLICIES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../db/policies");

const ADMIN_MARKER: &str = "-- run-as: admin";
const LOCK_KEY: i64 = 0x5741_5244_4c49_4e45; // "WARDLINE"
/// The schemas whose functions are re-applied source.
const SCHEMAS: &str = "auth, api, app, audit";

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{file}: {source}")]
    Sql {
        file: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(
        "{0} changed after it was applied: add a new migration instead of editing it \
         (a local database made before the db/ baseline of 2026-11: remove target/wardline-dev)"
    )]
    Edited(String),
    #[error("{0} is not UTF-8")]
    NotUtf8(String),
    #[error("{0}")]
    Database(#[from] tokio_postgres::Error),
}

/// What a run did: the files it applied, by kind.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub migrations: Vec<String>,
    pub functions: Vec<String>,
    pub policies: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "migrations applied: {:?}; functions applied: {:?}; policies applied: {:?}",
            self.migrations, self.functions, self.policies
        )
    }
}

const META: &str = "
create schema if not exists wardline_meta;
create table if not exists wardline_meta.applied (
  kind       text not null check (kind in ('migration', 'function', 'policy')),
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

/// Drops what the source files create: every policy, every trigger on Wardline's tables, and
/// every function of its schemas but those a constraint, default or index depends on. Each
/// function is dropped as its owner (`wardline_owner` is a member of `wardline_auth` but does
/// not inherit its rights).
const DROP_SOURCE: &str = "
do $$ declare o record; begin
  for o in select policyname, schemaname, tablename from pg_policies
           where schemaname <> 'wardline_meta' loop
    execute format('drop policy %I on %I.%I', o.policyname, o.schemaname, o.tablename);
  end loop;
  for o in select t.tgname, c.oid::regclass as tab from pg_trigger t
           join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
           where not t.tgisinternal and n.nspname in ('auth', 'api', 'app', 'audit') loop
    execute format('drop trigger %I on %s', o.tgname, o.tab);
  end loop;
  for o in select p.oid::regprocedure as signature, p.proowner::regrole as owner from pg_proc p
           join pg_namespace n on n.oid = p.pronamespace
           where n.nspname in ('auth', 'api', 'app', 'audit')
             and not exists (select 1 from pg_depend d
                             where d.refclassid = 'pg_proc'::regclass and d.refobjid = p.oid
                               and d.classid in ('pg_constraint'::regclass,
                                                 'pg_attrdef'::regclass, 'pg_class'::regclass)) loop
    execute format('set local role %s', o.owner);
    execute format('drop function %s', o.signature);
  end loop;
  set local role wardline_owner;
end $$";

/// Hands every SECURITY DEFINER function to `wardline_auth`: the one role they run as.
const DEFINERS_TO_AUTH: &str = "
do $$ declare f record; begin
  for f in select p.oid::regprocedure as signature from pg_proc p
           join pg_namespace n on n.oid = p.pronamespace
           where n.nspname in ('auth', 'api', 'app', 'audit') and p.prosecdef
             and p.proowner = 'wardline_owner'::regrole loop
    execute format('alter function %s owner to wardline_auth', f.signature);
  end loop;
end $$";

/// The files a run applies: `db/` as embedded in the binary, read and checked once.
pub struct Sources {
    migrations: Vec<SqlFile>,
    functions: Vec<SqlFile>,
    policies: Vec<SqlFile>,
}

impl Sources {
    /// `db/` as this binary embeds it.
    pub fn embedded() -> Result<Sources, MigrateError> {
        Ok(Sources {
            migrations: sorted(&MIGRATIONS)?,
            functions: sorted(&FUNCTIONS)?,
            policies: sorted(&POLICIES)?,
        })
    }

    /// These sources with one more migration, applied after the others (tests use it to show
    /// what a failing migration leaves: nothing).
    pub fn with_migration(mut self, name: &str, text: &'static str) -> Sources {
        self.migrations.push(SqlFile {
            name: name.to_owned(),
            text,
            checksum: hex::encode(Sha256::digest(text.as_bytes())),
            admin: text.starts_with(ADMIN_MARKER),
        });
        self
    }
}

/// Applies everything pending. `client` is an admin connection (superuser, or a role with
/// CREATEROLE that may become `wardline_owner`) to the target database.
pub async fn apply(client: &mut Client) -> Result<Report, MigrateError> {
    apply_sources(client, &Sources::embedded()?).await
}

/// Applies everything pending of `sources` (see [`apply`]).
pub async fn apply_sources(client: &mut Client, sources: &Sources) -> Result<Report, MigrateError> {
    client
        .execute("select pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let result = apply_locked(client, sources).await;
    let unlocked = client
        .execute("select pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    let report = result?;
    unlocked?;
    Ok(report)
}

async fn apply_locked(client: &mut Client, sources: &Sources) -> Result<Report, MigrateError> {
    let Sources {
        migrations,
        functions,
        policies,
    } = sources;
    for file in migrations.iter().filter(|f| f.admin) {
        client
            .batch_execute(file.text)
            .await
            .map_err(in_file(file))?;
    }
    client.batch_execute("set role wardline_owner").await?;
    client.batch_execute(META).await?;

    let mut pending = Vec::new();
    for file in migrations.iter().filter(|f| !f.admin) {
        match recorded(client, "migration", &file.name).await? {
            None => pending.push(file),
            Some(sum) if sum == file.checksum => {}
            Some(_) => return Err(MigrateError::Edited(file.name.clone())),
        }
    }
    let source_current = is_current(client, "function", functions).await?
        && is_current(client, "policy", policies).await?;

    let mut report = Report::default();
    if !pending.is_empty() || !source_current {
        let tx = client.transaction().await?;
        tx.batch_execute(DROP_SOURCE).await?;
        for file in pending {
            apply_file(&tx, "migration", file).await?;
            report.migrations.push(file.name.clone());
        }
        // wardline_auth needs CREATE on a schema to be given a function in it: for the length
        // of this transaction only.
        tx.batch_execute(&format!(
            "grant create on schema {SCHEMAS} to wardline_auth"
        ))
        .await?;
        report.functions = apply_source(&tx, "function", functions).await?;
        tx.batch_execute(DEFINERS_TO_AUTH).await?;
        tx.batch_execute(&format!(
            "revoke create on schema {SCHEMAS} from wardline_auth"
        ))
        .await?;
        report.policies = apply_source(&tx, "policy", policies).await?;
        tx.commit().await?;
    }
    client.batch_execute("reset role").await?;
    Ok(report)
}

/// A file of `db/`, read and checked once.
struct SqlFile {
    name: String,
    text: &'static str,
    checksum: String,
    admin: bool,
}

fn sorted(dir: &'static Dir<'static>) -> Result<Vec<SqlFile>, MigrateError> {
    let mut files: Vec<&File<'_>> = dir
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort_by_key(|f| f.path());
    files
        .into_iter()
        .map(|file| {
            let name = file.path().display().to_string();
            let text = file
                .contents_utf8()
                .ok_or_else(|| MigrateError::NotUtf8(name.clone()))?;
            Ok(SqlFile {
                checksum: hex::encode(Sha256::digest(file.contents())),
                admin: text.starts_with(ADMIN_MARKER),
                name,
                text,
            })
        })
        .collect()
}

async fn recorded(client: &Client, kind: &str, name: &str) -> Result<Option<String>, MigrateError> {
    let row = client
        .query_opt(
            "select checksum from wardline_meta.applied where kind = $1 and name = $2",
            &[&kind, &name],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Whether the record of `kind` holds exactly these files with these checksums.
async fn is_current(client: &Client, kind: &str, files: &[SqlFile]) -> Result<bool, MigrateError> {
    let mut applied: Vec<(String, String)> = client
        .query(
            "select name, checksum from wardline_meta.applied where kind = $1 order by name",
            &[&kind],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    applied.sort();
    let mut wanted: Vec<(String, String)> = files
        .iter()
        .map(|f| (f.name.clone(), f.checksum.clone()))
        .collect();
    wanted.sort();
    Ok(applied == wanted)
}

/// Applies every file of a source kind and makes the record say exactly those files.
async fn apply_source(
    tx: &Transaction<'_>,
    kind: &str,
    files: &[SqlFile],
) -> Result<Vec<String>, MigrateError> {
    tx.execute(
        "delete from wardline_meta.applied where kind = $1",
        &[&kind],
    )
    .await?;
    for file in files {
        apply_file(tx, kind, file).await?;
    }
    Ok(files.iter().map(|f| f.name.clone()).collect())
}

/// Runs one file inside `tx` and records its checksum.
async fn apply_file(tx: &Transaction<'_>, kind: &str, file: &SqlFile) -> Result<(), MigrateError> {
    tx.batch_execute(file.text).await.map_err(in_file(file))?;
    tx.execute(
        "insert into wardline_meta.applied (kind, name, checksum) values ($1, $2, $3)
         on conflict (kind, name) do update set checksum = excluded.checksum, applied_at = now()",
        &[&kind, &file.name, &file.checksum],
    )
    .await?;
    Ok(())
}

fn in_file(file: &SqlFile) -> impl FnOnce(tokio_postgres::Error) -> MigrateError {
    let file = file.name.clone();
    move |source| MigrateError::Sql { file, source }
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

#[cfg(test)]
mod tests {
    use super::*;
    use include_dir::DirEntry;

    static LATIN1: Dir<'_> = Dir::new(
        "",
        &[DirEntry::File(File::new(
            "0001_latin1.sql",
            b"select 'caf\xe9';",
        ))],
    );

    #[test]
    fn a_file_that_is_not_utf8_is_an_error_not_an_empty_migration() {
        let name = match sorted(&LATIN1) {
            Err(MigrateError::NotUtf8(name)) => name,
            other => panic!("{:?}", other.map(|files| files.len())),
        };
        assert_eq!(name, "0001_latin1.sql");
    }
}
