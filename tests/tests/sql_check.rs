//! The SQL checked statically: plpgsql_check over every PL/pgSQL function and trigger (with its
//! extra and performance warnings; `cargo xtask test` installs Debian's
//! `postgresql-<version>-plpgsql-check`), every `api.*` entry point beginning its request and
//! guarding its role, and every error code SQL raises having its status in one table.

use std::collections::BTreeSet;
use wardline_shared::codes::CODES;
use wardline_tests::TestDb;
use xtask::workspace_root;

/// Findings accepted on purpose: (function, or a schema prefix such as `api.`; the message;
/// why it stays).
const ACCEPTED: &[(&str, &str, &str)] = &[
    (
        "api.",
        r#"unused parameter "input""#,
        "every api.* entry point takes (claims, input): one shape for shared::db::Db::call",
    ),
    (
        "api.fail(text,text,text)",
        "routine is marked as VOLATILE, should be IMMUTABLE",
        "it raises: an IMMUTABLE function may be evaluated once at plan time",
    ),
    (
        "api.fail_with(text,text,jsonb)",
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

#[tokio::test]
async fn every_entry_point_begins_its_request_then_guards_its_role() {
    let db = TestDb::new().await;
    let rows = db
        .admin
        .query(
            "select p.proname::text,
                    p.prosrc ~ ('perform auth\\.begin_(request|cross_clinic_request)\\(claims\\);\\s*'
                                || '(perform api\\.require(_prescriber)?\\(|[a-z_]+ := api\\.require_prescriber\\(\\);)')
             from pg_proc p join pg_namespace n on n.oid = p.pronamespace
             where n.nspname = 'api'
               and pg_get_function_identity_arguments(p.oid) = 'claims jsonb, input jsonb'",
            &[],
        )
        .await
        .unwrap();
    assert!(rows.len() > 30, "{} entry points", rows.len());
    let unguarded: Vec<String> = rows
        .iter()
        .filter(|r| !r.get::<_, bool>(1))
        .map(|r| r.get(0))
        .collect();
    assert!(
        unguarded.is_empty(),
        "entry points that do not begin with auth.begin_request(claims) and then \
         api.require(<role set>) (or api.require_prescriber()): {unguarded:?}"
    );
}

/// The quoted codes that follow each of `raisers` in `text` (after a `StatusCode::…,` for
/// `Error::new(`): what SQL's `api.fail('code', …)` and Rust's `Error::forbidden("code", …)` name.
fn quoted_codes(text: &str, raisers: &[&str], quote: char, into: &mut BTreeSet<String>) {
    for raiser in raisers {
        for (at, _) in text.match_indices(raiser) {
            // `ConfigError::new(` is not `Error::new(`.
            if text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let mut call = text[at + raiser.len()..].trim_start();
            if let Some(rest) = call.strip_prefix("StatusCode::") {
                call = rest
                    .split_once(',')
                    .map_or("", |(_, after)| after)
                    .trim_start();
            }
            if let Some(quoted) = call.strip_prefix(quote) {
                into.insert(quoted.split(quote).next().unwrap().to_owned());
            }
        }
    }
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &std::path::Path, into: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

#[test]
fn every_code_sql_or_rust_raises_is_in_the_contract_and_every_listed_code_is_raised() {
    let mut raised = BTreeSet::new();
    for entry in std::fs::read_dir(workspace_root().join("db/functions")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let raisers = [
            "api.fail(",
            "api.fail_with(",
            "api.fail_json(",
            "api.committed_failure(",
        ];
        quoted_codes(&text, &raisers, '\'', &mut raised);
    }
    let mut sources = Vec::new();
    rust_files(&workspace_root().join("shared/src"), &mut sources);
    rust_files(&workspace_root().join("functions"), &mut sources);
    for path in sources {
        let text = std::fs::read_to_string(path).unwrap();
        let raisers = [
            "Error::new(",
            "Error::forbidden(",
            "Error::unprocessable(",
            "Error::unavailable(",
            "Error::bad_gateway(",
            // The SQLSTATE table's rows.
            "code: ",
        ];
        quoted_codes(&text, &raisers, '"', &mut raised);
    }
    let listed: BTreeSet<String> = CODES.iter().map(|c| c.code.to_string()).collect();
    let missing: Vec<_> = raised.difference(&listed).collect();
    let unused: Vec<_> = listed.difference(&raised).collect();
    assert!(
        missing.is_empty(),
        "raised but not in the error contract (shared::codes): {missing:?}"
    );
    assert!(
        unused.is_empty(),
        "in the error contract but raised nowhere: {unused:?}"
    );
}

#[tokio::test]
async fn the_limits_rust_checks_are_the_limits_the_tables_keep() {
    use wardline_shared::limits::{
        BUFFER_MINUTES_MAX, CARE_TEAM_NOTES_MAX_CHARS, FORM_ANSWERS_MAX_BYTES, FORM_NAME_MAX_CHARS,
        FORM_SCHEMA_MAX_BYTES, HOLD_SECONDS_MAX, LATE_CANCEL_HOURS_MAX, MAX_OCCURRENCES,
        MAX_REMINDERS, MESSAGE_NOTICE_QUIET_MINUTES_MAX, MIN_NOTICE_MINUTES_MAX, NOTES_MAX_BYTES,
        REMINDER_HOURS, REVIEW_COMMENT_MAX_CHARS, SERVICE_MINUTES, SLOT_STEP_MINUTES,
        TASK_TITLE_MAX_CHARS, TIME_OFF_REASON_MAX_CHARS, WAITLIST_OFFER_MINUTES,
    };
    let db = TestDb::new().await;
    let definition = |name: &'static str| {
        let admin = &db.admin;
        async move {
            admin
                .query_one(
                    "select pg_get_constraintdef(oid) from pg_constraint where conname = $1",
                    &[&name],
                )
                .await
                .unwrap()
                .get::<_, String>(0)
        }
    };
    assert_eq!(
        definition("sessions_at_most_200_occurrences").await,
        format!("CHECK ((occurrence <= {MAX_OCCURRENCES}))")
    );
    let minutes = HOLD_SECONDS_MAX / 60;
    assert_eq!(
        definition("sessions_hold_at_most_15_minutes").await,
        format!(
            "CHECK (((waitlist_entry_id IS NOT NULL) OR \
             (hold_expires_at <= (created_at + '00:{minutes:02}:00'::interval))))"
        )
    );
    let between = |column: &str, low: String, high: String| {
        format!("CHECK ((({column} >= {low}) AND ({column} <= {high})))")
    };
    for (constraint, column, low, high) in [
        (
            "clinics_buffer_minutes_check",
            "buffer_minutes",
            0,
            BUFFER_MINUTES_MAX,
        ),
        (
            "clinics_min_notice_minutes_check",
            "min_notice_minutes",
            0,
            MIN_NOTICE_MINUTES_MAX,
        ),
        (
            "clinics_slot_step_minutes_check",
            "slot_step_minutes",
            *SLOT_STEP_MINUTES.start(),
            *SLOT_STEP_MINUTES.end(),
        ),
        (
            "clinics_late_cancel_hours_check",
            "late_cancel_hours",
            0,
            LATE_CANCEL_HOURS_MAX,
        ),
        (
            "clinics_waitlist_offer_minutes_check",
            "waitlist_offer_minutes",
            *WAITLIST_OFFER_MINUTES.start(),
            *WAITLIST_OFFER_MINUTES.end(),
        ),
        (
            "clinics_message_notice_quiet_minutes_check",
            "message_notice_quiet_minutes",
            0,
            MESSAGE_NOTICE_QUIET_MINUTES_MAX,
        ),
        (
            "services_duration_minutes_check",
            "duration_minutes",
            *SERVICE_MINUTES.start(),
            *SERVICE_MINUTES.end(),
        ),
    ] {
        assert_eq!(
            definition(constraint).await,
            between(column, low.to_string(), high.to_string())
        );
    }
    let reminders = definition("clinics_reminder_hours_check").await;
    for part in [
        format!("cardinality(reminder_hours) <= {MAX_REMINDERS}"),
        format!("{} <= ALL (reminder_hours)", REMINDER_HOURS.start()),
        format!("{} >= ALL (reminder_hours)", REMINDER_HOURS.end()),
    ] {
        assert!(reminders.contains(&part), "{part} in {reminders}");
    }
    for (constraint, column, max) in [
        ("time_off_reason_check", "reason", TIME_OFF_REASON_MAX_CHARS),
        ("forms_name_check", "name", FORM_NAME_MAX_CHARS),
        ("patient_tasks_title_check", "title", TASK_TITLE_MAX_CHARS),
        (
            "task_submissions_review_comment_check",
            "review_comment",
            REVIEW_COMMENT_MAX_CHARS,
        ),
    ] {
        assert_eq!(
            definition(constraint).await,
            between(&format!("length({column})"), 1.to_string(), max.to_string())
        );
    }
    assert_eq!(
        definition("form_versions_schema_size").await,
        format!("CHECK ((octet_length((schema)::text) <= {FORM_SCHEMA_MAX_BYTES}))")
    );
    // Sealed answers: the plaintext and AES-GCM's 16-byte tag.
    assert_eq!(
        definition("task_submissions_answers_size").await,
        between(
            "length(ciphertext)",
            17.to_string(),
            (FORM_ANSWERS_MAX_BYTES + 16).to_string()
        )
    );
    assert_eq!(
        definition("care_team_notes_check").await,
        between(
            "length(notes)",
            1.to_string(),
            CARE_TEAM_NOTES_MAX_CHARS.to_string()
        )
    );
    // Sealed notes: the text's bytes and AES-GCM's 16-byte tag.
    for (constraint, column) in [
        ("session_notes_ciphertext_check", "ciphertext"),
        (
            "patients_medical_notes_ciphertext_check",
            "medical_notes_ciphertext",
        ),
    ] {
        assert_eq!(
            definition(constraint).await,
            between(
                &format!("length({column})"),
                16.to_string(),
                (NOTES_MAX_BYTES + 16).to_string()
            )
        );
    }
}
