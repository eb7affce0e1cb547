//! The schema runner (`shared::migrate`): migrations once, functions and policies as re-applied
//! source, each SQL function defined in exactly one file, every definer owned by
//! `wardline_auth`, and nothing changed by a second run.

use std::collections::BTreeMap;
use wardline_tests::TestDb;
use xtask::workspace_root;

/// The one number `sql` counts.
async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

/// `schema.name` of every `create [or replace] function` in `db/`, with the files naming it.
fn function_definitions() -> BTreeMap<String, Vec<String>> {
    let pattern = "create or replace function ";
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for kind in ["migrations", "functions", "policies"] {
        let dir = workspace_root().join("db").join(kind);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap().to_lowercase();
            let file = format!("{kind}/{}", path.file_name().unwrap().to_string_lossy());
            for line in text.lines() {
                let line = line.trim_start().replacen("create function ", pattern, 1);
                if let Some(rest) = line.strip_prefix(pattern) {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
                        .collect();
                    found.entry(name).or_default().push(file.clone());
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn every_sql_function_is_defined_in_exactly_one_file() {
    let definitions = function_definitions();
    let twice: Vec<_> = definitions.iter().filter(|(_, f)| f.len() > 1).collect();
    assert!(twice.is_empty(), "defined more than once: {twice:?}");

    let db = TestDb::new().await;
    let in_catalog: Vec<String> = db
        .admin
        .query(
            "select distinct n.nspname || '.' || p.proname from pg_proc p
             join pg_namespace n on n.oid = p.pronamespace
             where n.nspname in ('auth', 'api', 'app', 'audit') order by 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let in_files: Vec<String> = definitions.into_keys().collect();
    assert_eq!(in_catalog, in_files);
}

#[tokio::test]
async fn every_security_definer_function_runs_as_wardline_auth() {
    let db = TestDb::new().await;
    let others: Vec<String> = db
        .admin
        .query(
            "select p.oid::regprocedure::text || ' owned by ' || p.proowner::regrole::text
             from pg_proc p join pg_namespace n on n.oid = p.pronamespace
             where n.nspname in ('auth', 'api', 'app', 'audit') and p.prosecdef
               and p.proowner <> 'wardline_auth'::regrole",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(others.is_empty(), "{others:?}");
    let definers = count(
        &db.admin,
        "select count(*) from pg_proc where prosecdef and proowner = 'wardline_auth'::regrole",
    )
    .await;
    assert!(definers > 10, "{definers}");
}

#[tokio::test]
async fn a_changed_function_file_is_applied_again_and_a_stale_function_dropped() {
    let db = TestDb::new().await;
    // A body edited behind the runner's back, a function no file defines any more (as after a
    // rename or a signature change), and a function file whose recorded text is out of date.
    db.admin
        .batch_execute(
            "create or replace function app.iso(t timestamptz) returns text
               language sql stable as $$ select 'tampered' $$;
             create function api.left_behind(claims jsonb, input jsonb) returns jsonb
               language sql as $$ select '{}'::jsonb $$;
             update wardline_meta.applied set checksum = 'stale'
              where kind = 'function' and name = '30_booking.sql';",
        )
        .await
        .unwrap();
    let mut admin = db.admin;
    let report = wardline_shared::migrate::apply(&mut admin).await.unwrap();
    assert!(report.migrations.is_empty(), "{report}");
    assert!(
        report.functions.contains(&"30_booking.sql".to_owned()),
        "{report}"
    );
    let iso: String = admin
        .query_one("select app.iso('2026-11-27 10:00:00+00'::timestamptz)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(iso, "2026-11-27T10:00:00Z");
    let left = count(
        &admin,
        "select count(*) from pg_proc where proname = 'left_behind'",
    )
    .await;
    assert_eq!(left, 0);
    // The constraint's function is part of its table: kept, not dropped.
    let kept = count(
        &admin,
        "select count(*) from pg_proc where proname = 'is_time_zone'",
    )
    .await;
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn applying_migrations_twice_changes_nothing() {
    let db = TestDb::new().await;
    let fingerprint = "select md5(string_agg(x, '|' order by x)) from (
        select format('%s.%s %s', n.nspname, p.proname, md5(p.prosrc)) as x
          from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname in ('auth', 'api', 'app', 'audit')
        union all
        select format('%s %s %s %s', schemaname, tablename, policyname, qual) from pg_policies
        union all
        select format('%s %s', table_schema || '.' || table_name, column_name) from information_schema.columns
         where table_schema in ('app', 'audit', 'wardline_meta')
        union all
        select applied_at::text || name from wardline_meta.applied
    ) s";
    let before: String = db.admin.query_one(fingerprint, &[]).await.unwrap().get(0);
    let mut admin = db.admin;
    let report = wardline_shared::migrate::apply(&mut admin).await.unwrap();
    assert_eq!(report, wardline_shared::migrate::Report::default());
    let after: String = admin.query_one(fingerprint, &[]).await.unwrap().get(0);
    assert_eq!(before, after);
}

#[tokio::test]
async fn reapplying_policies_removes_any_policy_the_files_do_not_declare() {
    let db = TestDb::new().await;
    db.admin
        .batch_execute(
            "create policy \"left behind\" on app.patients for select to app_user using (true);
             delete from wardline_meta.applied where kind = 'policy' and name = 'patients.sql';",
        )
        .await
        .unwrap();
    let mut admin = db.admin;
    let report = wardline_shared::migrate::apply(&mut admin).await.unwrap();
    assert!(
        report.policies.contains(&"patients.sql".to_owned()),
        "{report:?}"
    );
    let left = count(
        &admin,
        "select count(*) from pg_policies where policyname = 'left behind'",
    )
    .await;
    assert_eq!(left, 0);
}

#[tokio::test]
async fn the_authenticator_password_is_stored_as_a_scram_verifier_never_as_text() {
    let db = TestDb::new().await;
    let password = "Generated0By0SecretsManager0Alphanumeric";
    wardline_shared::migrate::set_authenticator_password(&db.admin, password)
        .await
        .unwrap();
    db.assert_authenticator_password_is_scram(password).await;
    // The role keeps logging in (trust here; RDS Proxy presents the password in AWS).
    db.authenticator().await;
}
