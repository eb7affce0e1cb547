//! plpgsql_check over every PL/pgSQL function and trigger of Wardline's schemas, with its
//! extra and performance warnings: any error, or any warning not accepted below with a reason,
//! fails. (`cargo xtask test` installs Debian's `postgresql-<version>-plpgsql-check`.)

use wardline_tests::TestDb;

/// Findings accepted on purpose: (function, or a schema prefix such as `api.`; the message;
/// why it stays).
const ACCEPTED: &[(&str, &str, &str)] = &[
    (
        "api.",
        r#"unused parameter "input""#,
        "every api.* entry point takes (claims, input): one shape for shared::db::Db::call",
    ),
    (
        "api.fail(integer,text,text,text)",
        "routine is marked as VOLATILE, should be IMMUTABLE",
        "it raises: an IMMUTABLE function may be evaluated once at plan time",
    ),
    (
        "api.fail_with(integer,text,text,jsonb)",
        "routine is marked as VOLATILE, should be IMMUTABLE",
        "it raises: an IMMUTABLE function may be evaluated once at plan time",
    ),
];

#[tokio::test]
async fn every_plpgsql_function_passes_plpgsql_check() {
    let db = TestDb::new().await;
    db.admin
        .batch_execute("create extension if not exists plpgsql_check")
        .await
        .expect("the plpgsql_check extension (cargo xtask test installs it)");
    let rows = db
        .admin
        .query(
            "select p.oid::regprocedure::text, c.level, c.message,
                    coalesce(c.lineno::text, ''), coalesce(c.statement, '')
             from pg_proc p
             join pg_namespace n on n.oid = p.pronamespace
             join pg_language l on l.oid = p.prolang
             cross join lateral plpgsql_check_function_tb(p.oid,
               coalesce((select t.tgrelid from pg_trigger t
                         where t.tgfoid = p.oid and not t.tgisinternal limit 1), 0),
               fatal_errors => false, other_warnings => true,
               performance_warnings => true, extra_warnings => true) c
             where n.nspname in ('auth', 'api', 'app', 'audit') and l.lanname = 'plpgsql'
             order by 1, 4",
            &[],
        )
        .await
        .unwrap();
    let checked: i64 = db
        .admin
        .query_one(
            "select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
             where n.nspname in ('auth', 'api', 'app', 'audit')
               and p.prolang = (select oid from pg_language where lanname = 'plpgsql')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(checked > 50, "only {checked} PL/pgSQL functions found");

    let mut unaccepted = Vec::new();
    let mut used = vec![false; ACCEPTED.len()];
    for row in &rows {
        let (function, level, message): (String, String, String) =
            (row.get(0), row.get(1), row.get(2));
        let accepted = ACCEPTED.iter().position(|(who, what, _)| {
            (function == *who || (who.ends_with('.') && function.starts_with(who)))
                && message == *what
        });
        match accepted {
            Some(i) => used[i] = true,
            None => unaccepted.push(format!(
                "{function} line {} ({}): {level}: {message}",
                row.get::<_, String>(3),
                row.get::<_, String>(4)
            )),
        }
    }
    assert!(unaccepted.is_empty(), "{}", unaccepted.join("\n"));
    let stale: Vec<_> = ACCEPTED
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|((who, what, _), _)| format!("{who}: {what}"))
        .collect();
    assert!(
        stale.is_empty(),
        "accepted but no longer reported (remove): {stale:?}"
    );
}
