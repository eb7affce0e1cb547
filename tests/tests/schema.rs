//! The database contract, generated from the catalog rather than a hand-kept list: RLS on every
//! table, no privileges for the authenticator, no BYPASSRLS, tenant isolation on every table
//! with an `org_id`, and the append-only hash-chained audit log.

use serde_json::Value;
use tokio_postgres::{error::SqlState, Client};
use uuid::Uuid;
use wardline_tests::{
    all_clinics, anonymous_at, as_user, claims_json, cross_clinic, ids_as, keys::Identity, staff,
    TestDb, World,
};

const WARDLINE_ROLES: &[&str] = &[
    "wardline_owner",
    "wardline_authenticator",
    "wardline_auth",
    "app_anon",
    "app_user",
    "app_service",
];

/// Every ordinary or partitioned table outside PostgreSQL's own schemas.
async fn wardline_tables(admin: &Client) -> Vec<String> {
    admin
        .query(
            "select format('%I.%I', n.nspname, c.relname)
             from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where c.relkind in ('r', 'p')
               and n.nspname not in ('pg_catalog', 'information_schema')
               and n.nspname not like 'pg\\_%'
             order by 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Tables with an `org_id` column: tenant-owned.
async fn tenant_tables(admin: &Client) -> Vec<String> {
    admin
        .query(
            "select format('%I.%I', n.nspname, c.relname)
             from pg_class c
             join pg_namespace n on n.oid = c.relnamespace
             join pg_attribute a on a.attrelid = c.oid and a.attname = 'org_id' and not a.attisdropped
             where c.relkind in ('r', 'p') and n.nspname not like 'pg\\_%'
               and n.nspname not in ('pg_catalog', 'information_schema')
             order by 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn every_table_has_rls_enabled_forced_and_a_policy() {
    let db = TestDb::new().await;
    let tables = wardline_tables(&db.admin).await;
    assert!(tables.len() >= 6, "found only {tables:?}");
    for table in &tables {
        let row = db
            .admin
            .query_one(
                "select c.relrowsecurity, c.relforcerowsecurity,
                        (select count(*) from pg_policy p where p.polrelid = c.oid)
                 from pg_class c where c.oid = $1::text::regclass",
                &[table],
            )
            .await
            .unwrap();
        let (enabled, forced, policies): (bool, bool, i64) = (row.get(0), row.get(1), row.get(2));
        assert!(enabled, "{table}: RLS is not enabled");
        assert!(forced, "{table}: RLS is not forced");
        assert!(policies > 0, "{table}: has no policy");
    }
}

#[tokio::test]
async fn the_authenticator_has_no_table_privileges_and_no_role_bypasses_rls() {
    let db = TestDb::new().await;
    for table in wardline_tables(&db.admin).await {
        let privileged: bool = db
            .admin
            .query_one(
                "select has_table_privilege('wardline_authenticator', $1::text::regclass,
                   'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')",
                &[&table],
            )
            .await
            .unwrap()
            .get(0);
        assert!(
            !privileged,
            "wardline_authenticator has a privilege on {table}"
        );
    }
    let bypassing: Vec<String> = db
        .admin
        .query(
            "select rolname from pg_roles
             where rolname = any($1) and (rolbypassrls or rolsuper or rolcreaterole or rolcreatedb)",
            &[&WARDLINE_ROLES],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(bypassing.is_empty(), "{bypassing:?}");
    let found: i64 = db
        .admin
        .query_one(
            "select count(*) from pg_roles where rolname = any($1)",
            &[&WARDLINE_ROLES],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(found as usize, WARDLINE_ROLES.len());
}

type Outcome = Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>;

fn is_denied(result: &Outcome) -> bool {
    matches!(result, Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE))
}

/// Refused outright, or allowed to touch no row.
fn changed_nothing(result: &Outcome) -> bool {
    is_denied(result) || result.as_ref().is_ok_and(|rows| rows.is_empty())
}

/// Leaves at least one row per clinic in every tenant-owned table.
async fn populate_every_tenant_table(db: &TestDb, w: &World) {
    for (clinic, clinician, patient) in [
        (w.clinic_a, w.therapist_a, w.patient_a),
        (w.clinic_b, w.therapist_b, w.patient_b),
    ] {
        let session: Uuid = db
            .admin
            .query_one(
                "with service as (
                   insert into app.services (org_id, name, cpt_code)
                   values ($1, 'Psychotherapy, 60 min', '90837') returning id
                 )
                 insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                                           service_id, created_by)
                 select $1, $2, $3, 'scheduled', tstzrange(day, day + interval '1 hour'),
                        service.id, $2
                 from service,
                      lateral (select now() + (select count(*) + 1 from app.sessions)
                                              * interval '1 day' as day) slot
                 returning id",
                &[&clinic, &clinician, &patient],
            )
            .await
            .unwrap()
            .get(0);
        // Sealed notes of that session (shape only: a 12-byte nonce, a tag-sized ciphertext)
        // and an idempotency record of the clinician's.
        db.admin
            .execute(
                "with note as (
                   insert into app.session_notes (session_id, org_id, key_id, nonce, ciphertext,
                                                  updated_by, signed_by, signed_at)
                   values ($2, $1, 'k1', decode(repeat('00', 12), 'hex'),
                           decode(repeat('ab', 16), 'hex'), $3, $3, now())
                   returning session_id
                 )
                 insert into app.note_addenda (id, org_id, session_id, key_id, nonce, ciphertext,
                                               created_by)
                 select gen_random_uuid(), $1, session_id, 'k1', decode(repeat('00', 12), 'hex'),
                        decode(repeat('ab', 16), 'hex'), $3
                 from note",
                &[&clinic, &session, &clinician],
            )
            .await
            .unwrap();
        // The record of that session's 72-hour reminder.
        db.admin
            .execute(
                "insert into app.session_reminders (session_id, org_id, hours)
                 values ($2, $1, 72)",
                &[&clinic, &session],
            )
            .await
            .unwrap();
        // An invite of the patient and its queued message (care-team rows come with World).
        db.admin
            .execute(
                "insert into app.patient_invites (org_id, patient_id, token_hash, expires_at,
                                                  created_by)
                 values ($1, $2, sha256(gen_random_uuid()::text::bytea),
                         now() + interval '1 day', $3)",
                &[&clinic, &patient, &clinician],
            )
            .await
            .unwrap();
        // Its message, a provider's event about it and the suppression that event made.
        db.admin
            .execute(
                "with message as (
                   insert into app.outbox (org_id, kind, channel, recipient, payload, created_by)
                   values ($1, 'patient_invite', 'email', 'fixture@test.example', '{}', $2)
                   returning id
                 ), event as (
                   insert into app.provider_events (provider, event_id, org_id, message_id, event)
                   select 'sendgrid', gen_random_uuid()::text, $1, id, 'bounce' from message
                   returning event_id
                 )
                 insert into app.email_suppressions (org_id, email, reason, provider_event_id)
                 select $1, 'fixture@test.example', 'bounce', event_id from event
                 on conflict do nothing",
                &[&clinic, &clinician],
            )
            .await
            .unwrap();
        // The portal's rows: sign-in state, rate counts, a session, consent, preferences,
        // an opt-out and an inbound text.
        db.admin
            .batch_execute(&format!(
                "insert into app.portal_sign_in (org_id, identifier_hash, channel, patient_id)
                 values ('{clinic}', sha256(gen_random_uuid()::text::bytea), 'email', '{patient}');
                 insert into app.portal_rate (org_id, source_ip, action, window_start, requests)
                 values ('{clinic}', gen_random_uuid()::text, 'otp', now(), 1);
                 insert into app.portal_refresh_tokens (org_id, patient_id, family_id,
                                                        token_hash, expires_at)
                 values ('{clinic}', '{patient}', gen_random_uuid(),
                         sha256(gen_random_uuid()::text::bytea), now() + interval '1 day');
                 insert into app.portal_consents (org_id, patient_id, consent_type, version,
                                                  granted)
                 values ('{clinic}', '{patient}', 'terms', 'v1', true);
                 insert into app.patient_preferences (patient_id, org_id, sms, email, portal)
                 values ('{patient}', '{clinic}', true, true, true) on conflict do nothing;
                 insert into app.sms_opt_outs (org_id, phone, opted_out)
                 values ('{clinic}', '+15550000001', true) on conflict do nothing;
                 insert into app.inbound_sms (message_sid, org_id, keyword)
                 values ('SM' || md5(gen_random_uuid()::text), '{clinic}', 'stop');"
            ))
            .await
            .unwrap();
        // The prescription queue's rows: the clinician's prescriber profile and assignment
        // here, and a paid invoice, refills waiting for a prescriber and for an admin, an
        // order of the patient and one an admin queued for the clinician.
        db.admin
            .batch_execute(&format!(
                "with provider as (
                   insert into app.providers (clinician_id) values ('{clinician}')
                   on conflict (clinician_id) do update set active = true returning id
                 )
                 insert into app.provider_clinics (provider_id, org_id, dea_number,
                                                   license_number, license_state)
                 select id, '{clinic}', 'AB1234563', 'L-1', 'NY' from provider
                 on conflict do nothing;
                 insert into app.invoices (org_id, patient_id, description, amount_cents, status,
                                           paid_at)
                 values ('{clinic}', '{patient}', 'Consultation', 12000, 'paid', now());
                 insert into app.refills (org_id, patient_id, medication, status)
                 values ('{clinic}', '{patient}', 'Sertraline 50 mg', 'PENDING_PROVIDER'),
                        ('{clinic}', '{patient}', 'Bupropion XL 150 mg', 'PENDING_ADMIN');
                 insert into app.orders (org_id, patient_id, medication, quantity, directions)
                 values ('{clinic}', '{patient}', 'Sertraline', '30 tablets', 'One daily');
                 insert into app.orders (org_id, patient_id, medication, quantity, directions,
                                         assigned_provider_id, queued_by)
                 select '{clinic}', '{patient}', 'Bupropion XL', '30 tablets', 'One daily', id,
                        '{clinician}'
                 from app.providers where clinician_id = '{clinician}';"
            ))
            .await
            .unwrap();
        // Availability: weekly hours, a closed date and time off of the clinician.
        db.admin
            .batch_execute(&format!(
                "insert into app.availability_hours (org_id, clinician_id, weekday, starts, ends)
                 values ('{clinic}', '{clinician}', 1, '09:00', '17:00') on conflict do nothing;
                 insert into app.availability_overrides (org_id, clinician_id, day)
                 values ('{clinic}', '{clinician}', '2027-03-10') on conflict do nothing;
                 insert into app.time_off (org_id, clinician_id, starts_at, ends_at, reason,
                                           created_by)
                 values ('{clinic}', '{clinician}', now(), now() + interval '1 day',
                         'Conference', '{clinician}');"
            ))
            .await
            .unwrap();
        // An idempotency record of the clinician's, and a day-old one; a stale hold. (What
        // the sweeper may touch.)
        db.admin
            .execute(
                "insert into app.idempotency_keys (org_id, caller_id, route, key, request_hash,
                                                   response, created_at)
                 select $1, $2, 'POST /sessions-hold', gen_random_uuid()::text,
                        sha256('fixture'::bytea), '{}', now() - age
                 from unnest(array[interval '0', interval '2 days']) age",
                &[&clinic, &clinician],
            )
            .await
            .unwrap();
        db.admin
            .execute(
                "insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                                           service_id, created_by, hold_key, hold_group,
                                           hold_expires_at)
                 select $1, $2, $3, 'held', tstzrange(day, day + interval '1 hour'),
                        (select id from app.services where org_id = $1 limit 1), $2,
                        gen_random_uuid(), gen_random_uuid(), now() - interval '1 minute'
                 from (select now() + (select count(*) + 1 from app.sessions)
                                      * interval '1 day' as day) slot",
                &[&clinic, &clinician, &patient],
            )
            .await
            .unwrap();
    }
    // Appointments: a reschedule request of the booked session, a waiting waitlist entry and
    // an offered one with its offer (a live hold).
    for (clinic, clinician, patient) in [
        (w.clinic_a, w.therapist_a, w.patient_a),
        (w.clinic_b, w.therapist_b, w.patient_b),
    ] {
        db.admin
            .batch_execute(&format!(
                "insert into app.reschedule_requests (org_id, session_id, patient_id,
                                                      clinician_id, proposed)
                 select org_id, id, patient_id, clinician_id, array[now() + interval '40 days']
                 from app.sessions where org_id = '{clinic}' and status = 'scheduled' limit 1
                 on conflict do nothing;
                 insert into app.waitlist_entries (org_id, patient_id, clinician_id, earliest,
                                                   latest)
                 values ('{clinic}', '{patient}', '{clinician}', now(), now() + interval '9 days');
                 with entry as (
                   insert into app.waitlist_entries (org_id, patient_id, clinician_id, earliest,
                                                     latest, status)
                   values ('{clinic}', '{patient}', '{clinician}', now(),
                           now() + interval '90 days', 'offered')
                   returning id
                 )
                 insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                                           hold_key, hold_group, hold_expires_at,
                                           waitlist_entry_id, created_by)
                 select '{clinic}', '{clinician}', '{patient}', 'held',
                        tstzrange(day, day + interval '1 hour'), gen_random_uuid(),
                        gen_random_uuid(), now() + interval '1 hour', entry.id, '{clinician}'
                 from entry, (select now() + (select count(*) + 1 from app.sessions)
                                             * interval '1 day' as day) slot;"
            ))
            .await
            .unwrap();
    }
    // Secure messaging: a thread of the patient with one sealed-shaped message and the
    // clinician's read marker.
    for (clinic, clinician, patient) in [
        (w.clinic_a, w.therapist_a, w.patient_a),
        (w.clinic_b, w.therapist_b, w.patient_b),
    ] {
        db.admin
            .batch_execute(&format!(
                "with thread as (
                   insert into app.threads (org_id, patient_id, created_by, last_sender)
                   values ('{clinic}', '{patient}', '{patient}', 'patient') returning id
                 ), message as (
                   insert into app.messages (id, org_id, thread_id, patient_id, sender, sender_id,
                                             key_id, nonce, ciphertext)
                   select gen_random_uuid(), '{clinic}', id, '{patient}', 'patient', '{patient}',
                          'k1', decode(repeat('00', 12), 'hex'), decode(repeat('ab', 17), 'hex')
                   from thread
                 )
                 insert into app.thread_reads (thread_id, reader_id, org_id, last_read_at)
                 select id, '{clinician}', '{clinic}', now() from thread;
                 insert into app.session_feedback (session_id, org_id, patient_id, clinician_id,
                                                   nps, csat)
                 select id, org_id, patient_id, clinician_id, 9, 5 from app.sessions
                 where org_id = '{clinic}' and status = 'scheduled' limit 1
                 on conflict do nothing;"
            ))
            .await
            .unwrap();
    }
    // Documents: a patient's available upload and a staff document shared with them; a
    // guardian of the patient, who joined through the patient's referral link.
    for (clinic, clinician, patient) in [
        (w.clinic_a, w.therapist_a, w.patient_a),
        (w.clinic_b, w.therapist_b, w.patient_b),
    ] {
        db.admin
            .batch_execute(&format!(
                "insert into app.documents (id, org_id, patient_id, uploader, uploaded_by,
                                            object_key, content_type, size_bytes, status,
                                            shared_with_patient)
                 select id, '{clinic}', '{patient}', uploader, uploaded_by,
                        'documents/{clinic}/' || id, 'application/pdf', 10, 'available', shared
                 from (values (gen_random_uuid(), 'patient', '{patient}'::uuid, false),
                              (gen_random_uuid(), 'staff', '{clinician}'::uuid, true))
                      as d (id, uploader, uploaded_by, shared);
                 with guardian as (
                   insert into app.patients (org_id, first_name, last_name)
                   values ('{clinic}', 'Gus', 'Guardian') returning id
                 ), guardianship as (
                   insert into app.guardianships (org_id, guardian_id, dependent_id,
                                                  relationship, created_by)
                   select '{clinic}', id, '{patient}', 'parent', '{clinician}' from guardian
                 ), link as (
                   insert into app.referral_links (org_id, patient_id, code)
                   values ('{clinic}', '{patient}', substr(md5(random()::text), 1, 12))
                   returning id
                 )
                 insert into app.referral_attributions (referred_id, org_id, link_id, referrer_id,
                                                        created_by)
                 select guardian.id, '{clinic}', link.id, '{patient}', '{clinician}'
                 from guardian, link;"
            ))
            .await
            .unwrap();
    }
    // Intake: a form with one version, a form task handed in, and its sealed-shaped answers.
    for (clinic, clinician, patient) in [
        (w.clinic_a, w.therapist_a, w.patient_a),
        (w.clinic_b, w.therapist_b, w.patient_b),
    ] {
        db.admin
            .batch_execute(&format!(
                "with form as (
                   insert into app.forms (org_id, name, created_by)
                   values ('{clinic}', 'Intake', '{clinician}') returning id
                 ), version as (
                   insert into app.form_versions (org_id, form_id, version, schema, created_by)
                   select '{clinic}', id, 1, '{{\"type\": \"object\"}}', '{clinician}'
                   from form returning id
                 ), task as (
                   insert into app.patient_tasks (org_id, patient_id, kind, title,
                                                  form_version_id, status, assigned_by,
                                                  updated_by)
                   select '{clinic}', '{patient}', 'form', 'Intake', id, 'submitted',
                          '{clinician}', '{patient}'
                   from version returning id, form_version_id
                 )
                 insert into app.task_submissions (id, org_id, task_id, patient_id,
                                                   form_version_id, key_id, nonce, ciphertext)
                 select gen_random_uuid(), '{clinic}', id, '{patient}', form_version_id, 'k1',
                        decode(repeat('00', 12), 'hex'), decode(repeat('ab', 17), 'hex')
                 from task;"
            ))
            .await
            .unwrap();
    }
    let mut user = db.authenticator().await;
    for who in [w.admin_of_a(), w.admin_of_b()] {
        let tx = user.transaction().await.unwrap();
        tx.execute("select auth.begin_request($1)", &[&claims_json(&who)])
            .await
            .unwrap();
        tx.execute("select audit.record('fixture.created')", &[])
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

/// What a caller is meant to reach of clinic B's rows in one tenant table, by the policies in
/// `db/policies/`. Tables a caller has no entry for: nothing (no row read, every write refused
/// or touching no row). Predicates are SQL over the table's row, evaluated as the superuser
/// for the expected rows and as the caller for what it saw.
struct Reach {
    table: &'static str,
    /// Which of B's rows the caller reads.
    reads: String,
    /// A write the caller is meant to make to B's rows (`$1` is B), and which rows it changes.
    writes: Option<(&'static str, String)>,
    /// Which of B's rows `delete from {table} where org_id = B` removes.
    deletes: &'static str,
    /// Whether the caller may insert rows of B (a copy of one of B's rows is then refused by
    /// the table's key, not by a policy or grant).
    inserts: bool,
    /// The policy that grants it.
    why: &'static str,
}

impl Reach {
    fn reads(table: &'static str, rows: impl Into<String>, why: &'static str) -> Reach {
        Reach {
            table,
            reads: rows.into(),
            writes: None,
            deletes: "false",
            inserts: false,
            why,
        }
    }

    fn writes(mut self, statement: &'static str, rows: impl Into<String>) -> Reach {
        self.writes = Some((statement, rows.into()));
        self
    }

    fn inserts(mut self) -> Reach {
        self.inserts = true;
        self
    }

    fn deletes(mut self, rows: &'static str) -> Reach {
        self.deletes = rows;
        self
    }
}

/// The number of B's rows of `table` matching `rows`, as the superuser; at least one, or the
/// fixture cannot show the reach.
async fn rows_of_b(db: &TestDb, w: &World, table: &str, rows: &str) -> i64 {
    let n: i64 = db
        .admin
        .query_one(
            &format!("select count(*) from {table} where org_id = $1 and ({rows})"),
            &[&w.clinic_b],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        n > 0,
        "{table}: no clinic-B row with {rows}: extend the fixture"
    );
    n
}

/// Runs the isolation loop as `who` over every tenant table: `who` reads, inserts, moves,
/// updates and deletes B's rows exactly as far as `reach` says, and no further.
async fn assert_reach(db: &TestDb, w: &World, who: &Identity, label: &str, reach: &[Reach]) {
    let tables = tenant_tables(&db.admin).await;
    assert!(tables.contains(&"app.patients".to_owned()), "{tables:?}");
    for r in reach {
        assert!(
            tables.iter().any(|t| t == r.table),
            "{label}: no table {}",
            r.table
        );
    }
    let mut user = db.authenticator().await;
    for table in &tables {
        let nothing = Reach::reads("", "false", "no policy reaches B");
        let reach = reach.iter().find(|r| r.table == table).unwrap_or(&nothing);
        let why = reach.why;
        // The fixture must cover every tenant table, or this test proves nothing for it.
        let sample: Option<Value> = db
            .admin
            .query_opt(
                &format!("select to_jsonb(t) from {table} t where org_id = $1 limit 1"),
                &[&w.clinic_b],
            )
            .await
            .unwrap()
            .map(|r| r.get(0));
        let Some(b_row) = sample else {
            panic!(
                "{table} has no clinic-B row in the fixture: extend populate_every_tenant_table"
            );
        };
        let insertable: Vec<String> = db
            .admin
            .query(
                "select quote_ident(attname) from pg_attribute
                 where attrelid = $1::text::regclass and attnum > 0 and not attisdropped
                   and attidentity = '' and attgenerated = ''
                 order by attnum",
                &[table],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let columns = insertable.join(", ");

        let expected_reads = match reach.reads.as_str() {
            "false" => 0,
            rows => rows_of_b(db, w, table, rows).await,
        };
        let seen = as_user(
            &mut user,
            who,
            &format!(
                "select count(*) filter (where org_id = $1),
                        count(*) filter (where org_id = $1 and not ({})),
                        count(*) filter (where org_id is distinct from $1
                                           and org_id is distinct from $2)
                 from {table}",
                reach.reads
            ),
            &[&w.clinic_b, &w.clinic_a],
        )
        .await;
        if let Ok(rows) = &seen {
            let (of_b, beyond, elsewhere): (i64, i64, i64) =
                (rows[0].get(0), rows[0].get(1), rows[0].get(2));
            assert_eq!(
                (of_b, beyond),
                (expected_reads, 0),
                "{label} read B's {table} (expected: {}, {why})",
                reach.reads
            );
            assert_eq!(elsewhere, 0, "{label} read rows of {table} of no clinic");
        } else {
            assert!(is_denied(&seen), "{label}: {table}: {seen:?}");
            assert_eq!(expected_reads, 0, "{label} cannot read B's {table} ({why})");
        }

        let insert = as_user(
            &mut user,
            who,
            &format!(
                "insert into {table} ({columns})
                 select {columns} from jsonb_populate_record(null::{table}, $1)"
            ),
            &[&b_row],
        )
        .await;
        if reach.inserts {
            assert!(
                matches!(&insert, Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION)),
                "{label} may insert into B's {table} ({why}): {insert:?}"
            );
        } else {
            assert!(
                is_denied(&insert),
                "{label} inserted into B's {table}: {insert:?}"
            );
        }

        let moved = as_user(
            &mut user,
            who,
            &format!("update {table} set org_id = $1 where org_id = $2 returning 1"),
            &[&w.clinic_b, &w.clinic_a],
        )
        .await;
        assert!(
            changed_nothing(&moved),
            "{label} moved a row of {table} into B: {moved:?}"
        );

        let touched = as_user(
            &mut user,
            who,
            &format!("update {table} set org_id = org_id where org_id = $1 returning 1"),
            &[&w.clinic_b],
        )
        .await;
        assert!(
            changed_nothing(&touched),
            "{label} updated B's {table}: {touched:?}"
        );

        let deleted = as_user(
            &mut user,
            who,
            &format!("delete from {table} where org_id = $1 returning 1"),
            &[&w.clinic_b],
        )
        .await;
        match reach.deletes {
            "false" => assert!(
                changed_nothing(&deleted),
                "{label} deleted B's {table}: {deleted:?}"
            ),
            rows => assert_eq!(
                deleted.as_ref().map(Vec::len).map_err(ToString::to_string),
                Ok(rows_of_b(db, w, table, rows).await as usize),
                "{label} deletes B's {table} where {rows} ({why})"
            ),
        }

        if let Some((statement, rows)) = &reach.writes {
            let written = as_user(&mut user, who, statement, &[&w.clinic_b]).await;
            assert_eq!(
                written.as_ref().map(Vec::len).map_err(ToString::to_string),
                Ok(rows_of_b(db, w, table, rows).await as usize),
                "{label}: {statement} ({why})"
            );
        }
    }
}

#[tokio::test]
async fn clinic_a_can_neither_read_nor_write_clinic_b_rows_in_any_tenant_table() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    populate_every_tenant_table(&db, &w).await;
    for who in [
        w.admin_of_a(),
        w.therapist_of_a(),
        w.patient_of_a(),
        anonymous_at(w.clinic_a),
        // A prescriber of A, in a cross-clinic request.
        cross_clinic(w.therapist_a),
    ] {
        let label = format!("{} of A", who.app_role);
        assert_reach(&db, &w, &who, &label, &[]).await;
    }
}

/// A super admin signed in at A: a clinic-scoped request, so the clinic-scoped policies give
/// A's rows only (patients, sessions, care teams, notes, audit events of B stay out of reach);
/// what super admins have beyond that is the clinics, the clinicians and the prescriber
/// assignments of every clinic (policies/clinics.sql, prescribing.sql).
#[tokio::test]
async fn a_super_admin_reaches_every_clinic_and_assignment_but_no_other_clinics_patients() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    populate_every_tenant_table(&db, &w).await;
    let root = Uuid::new_v4();
    db.admin
        .execute(
            "insert into app.clinicians (id, email, first_name, last_name, is_super_admin)
             values ($1, 'root@test.example', 'Sue', 'Root', true)",
            &[&root],
        )
        .await
        .unwrap();
    let who = staff(root, w.clinic_a, "super_admin");
    let reach = [Reach::reads(
        "app.provider_clinics",
        "true",
        "super admins read every assignment, and change them as themselves",
    )
    .writes(
        "update app.provider_clinics set updated_by = (select auth.uid()), updated_at = now()
         where org_id = $1 returning 1",
        "true",
    )];
    assert_reach(&db, &w, &who, "a super admin at A", &reach).await;

    // Clinics and clinicians have no org_id: read directly.
    let mut user = db.authenticator().await;
    let clinics = ids_as(&mut user, &who, "select id from app.clinics").await;
    let mut both_clinics = vec![w.clinic_a, w.clinic_b];
    both_clinics.sort();
    assert_eq!(clinics, both_clinics, "super admins read every clinic");
    let clinicians = ids_as(&mut user, &who, "select id from app.clinicians").await;
    for id in [w.admin_b, w.therapist_b, root] {
        assert!(
            clinicians.contains(&id),
            "super admins read every clinician"
        );
    }
}

/// The scheduled jobs (`Claims::service`, app_service) belong to no clinic and reach every
/// clinic alike, but only as far as the sweeper and the sender need: the outbox (read, record
/// deliveries), opt-outs (read), e-mail suppressions and provider events (read, record: the
/// verified provider webhooks act as the sender), holds (read held and expired ones, expire stale ones),
/// day-old idempotency records (read, delete); every clinic's name, numbers and zone. The
/// reminder job reaches nothing more: its booked sessions and reminder records are read and
/// written by its SECURITY DEFINER helper (`app.queue_due_reminders`), as wardline_auth.
#[tokio::test]
async fn the_scheduled_jobs_reach_only_what_the_sweeper_and_the_sender_need() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    populate_every_tenant_table(&db, &w).await;
    let day_old = "created_at < now() - interval '24 hours'";
    let stale = "status = 'held' and hold_expires_at <= now()";
    let reach = [
        Reach::reads(
            "app.outbox",
            "true",
            "the sender reads every message and records deliveries",
        )
        .writes(
            "update app.outbox set attempts = attempts + 1 where org_id = $1 returning 1",
            "true",
        ),
        Reach::reads("app.sms_opt_outs", "true", "the sender reads every opt-out"),
        Reach::reads(
            "app.email_suppressions",
            "true",
            "the sender reads every suppression, and the verified webhooks record them",
        )
        .inserts()
        .writes(
            "update app.email_suppressions set reason = 'bounce' where org_id = $1 returning 1",
            "true",
        ),
        Reach::reads(
            "app.provider_events",
            "true",
            "the verified webhooks record every clinic's provider events",
        )
        .inserts(),
        Reach::reads(
            "app.sessions",
            "status in ('held', 'expired')",
            "the hold expirer sees holds of every clinic and expires stale ones",
        )
        .writes(
            "update app.sessions set status = 'expired'
             where org_id = $1 and status = 'held' and hold_expires_at <= now() returning 1",
            stale,
        ),
        Reach::reads(
            "app.idempotency_keys",
            day_old,
            "the sweeper sees and deletes day-old idempotency records",
        )
        .deletes(day_old),
    ];
    let service = Identity {
        sub: Uuid::nil(),
        org_id: None,
        app_role: "service",
        patient_id: None,
    };
    assert_reach(&db, &w, &service, "app_service", &reach).await;
    let mut user = db.authenticator().await;
    let clinics = ids_as(&mut user, &service, "select id from app.clinics").await;
    assert!(
        clinics.contains(&w.clinic_b),
        "the sender reads every clinic"
    );
}

/// A super admin's all-clinics request (the admins' queue without a clinic): no current clinic,
/// so nothing clinic-scoped; every clinic's invoices, refills and orders and the patients they
/// are for, read only; the assignments as super admins always have them.
#[tokio::test]
async fn a_super_admin_in_every_clinic_reads_only_the_prescription_work() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    populate_every_tenant_table(&db, &w).await;
    let root = Uuid::new_v4();
    db.admin
        .execute(
            "insert into app.clinicians (id, email, first_name, last_name, is_super_admin)
             values ($1, 'root@test.example', 'Sue', 'Root', true)",
            &[&root],
        )
        .await
        .unwrap();
    let work = "super admins read every clinic's prescription work in an all-clinics request";
    let reach = [
        Reach::reads(
            "app.provider_clinics",
            "true",
            "super admins read every assignment, and change them as themselves",
        )
        .writes(
            "update app.provider_clinics set updated_by = (select auth.uid()), updated_at = now()
             where org_id = $1 returning 1",
            "true",
        ),
        Reach::reads("app.invoices", "true", work),
        Reach::reads("app.refills", "true", work),
        Reach::reads("app.orders", "true", work),
        Reach::reads(
            "app.patients",
            "deleted_at is null and (exists (select 1 from app.orders o
                                             where o.patient_id = patients.id)
                                     or exists (select 1 from app.refills r
                                                where r.patient_id = patients.id)
                                     or exists (select 1 from app.invoices i
                                                where i.patient_id = patients.id))",
            "all-clinics super admins read the patients of queue items",
        ),
    ];
    assert_reach(
        &db,
        &w,
        &all_clinics(root),
        "a super admin in every clinic",
        &reach,
    )
    .await;
}

/// `both` works in A and B (a member of each, in each one's care team of the patient, and here
/// a prescriber assigned to B). Signed in at A, the clinic-scoped policies give nothing of B —
/// but their own prescriber assignments, which a clinician reads in any request. In a
/// cross-clinic request (the prescription queue), `auth.my_org_ids()` is A and B: B's
/// invoices, refills and orders and the patients they are for, processing B's invoices and
/// approving B's queued orders; still none of B's clinic-scoped rows, nor the order an admin
/// of B queued for another prescriber.
#[tokio::test]
async fn a_clinician_of_two_clinics_reaches_the_other_only_through_the_prescription_queue() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    populate_every_tenant_table(&db, &w).await;
    db.admin
        .batch_execute(&format!(
            "with provider as (
               insert into app.providers (clinician_id) values ('{both}') returning id
             )
             insert into app.provider_clinics (provider_id, org_id, dea_number, license_number,
                                               license_state)
             select id, '{b}', 'BB7654329', 'NJ-222', 'NJ' from provider",
            both = w.both,
            b = w.clinic_b,
        ))
        .await
        .unwrap();
    let own = format!(
        "provider_id in (select id from app.providers where clinician_id = '{}')",
        w.both
    );
    let own_assignments = || {
        Reach::reads(
            "app.provider_clinics",
            own.clone(),
            "prescribers read their own assignments, in any request",
        )
    };
    assert_reach(
        &db,
        &w,
        &w.both_at(w.clinic_a),
        "both at A",
        &[own_assignments()],
    )
    .await;

    let queue = "prescribers read the queue items of the clinics they work for";
    let reach = [
        own_assignments(),
        Reach::reads("app.invoices", "true", queue).writes(
            "update app.invoices set prescription_status = 'processed', processed_at = now(),
                    processed_by = (select auth.my_provider_id())
             where org_id = $1 returning 1",
            "true",
        ),
        Reach::reads("app.refills", "true", queue),
        Reach::reads("app.orders", "assigned_provider_id is null", queue).writes(
            "update app.orders set attempts = attempts + 1 where org_id = $1 returning 1",
            "status = 'queued_for_provider' and assigned_provider_id is null",
        ),
        Reach::reads(
            "app.patients",
            "deleted_at is null and exists (select 1 from app.orders o
                                             where o.patient_id = patients.id)",
            "prescribers read the patients of their queue items",
        ),
    ];
    assert_reach(&db, &w, &cross_clinic(w.both), "both, cross-clinic", &reach).await;
}

#[tokio::test]
async fn clinicians_of_another_clinic_are_invisible_and_system_tables_unreadable() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let mut user = db.authenticator().await;
    let visible: Vec<Uuid> = as_user(
        &mut user,
        &w.therapist_of_a(),
        "select id from app.clinicians order by id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut expected = vec![w.admin_a, w.therapist_a, w.both];
    expected.sort();
    assert_eq!(visible, expected);

    for table in [
        "audit.chain_heads",
        "audit.anchors",
        "wardline_meta.applied",
    ] {
        let result = as_user(
            &mut user,
            &w.admin_of_a(),
            &format!("select * from {table}"),
            &[],
        )
        .await;
        assert!(changed_nothing(&result), "{table}: {result:?}");
    }
}

#[tokio::test]
async fn no_wardline_role_can_update_delete_or_truncate_audit_events() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    populate_every_tenant_table(&db, &w).await;
    let mut admin = db.admin;
    for role in WARDLINE_ROLES {
        for statement in [
            "update audit.events set action = 'tampered'",
            "delete from audit.events",
            "truncate audit.events",
        ] {
            let tx = admin.transaction().await.unwrap();
            tx.batch_execute(&format!("set local role {role}"))
                .await
                .unwrap();
            match tx.execute(statement, &[]).await {
                // RLS shows the role no row to change.
                Ok(changed) => assert_eq!(changed, 0, "{role} changed rows with: {statement}"),
                // Or a grant or the append-only trigger refuses outright.
                Err(err) => assert_eq!(
                    err.code(),
                    Some(&SqlState::INSUFFICIENT_PRIVILEGE),
                    "{role}: {statement}: {err}"
                ),
            }
            drop(tx);
        }
    }
    // Even the superuser, who bypasses RLS, is stopped by the triggers.
    for statement in [
        "update audit.events set action = 'tampered'",
        "delete from audit.events",
        "truncate audit.events",
    ] {
        let err = admin.execute(statement, &[]).await.expect_err(statement);
        assert_eq!(
            err.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{statement}: {err}"
        );
    }
    let left: i64 = admin
        .query_one(
            "select count(*) from audit.events where action <> 'tampered'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 2);
}

#[tokio::test]
async fn the_audit_chain_verifies_and_a_broken_chain_is_detected() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let mut user = db.authenticator().await;
    for n in 0..4 {
        let tx = user.transaction().await.unwrap();
        tx.execute(
            "select auth.begin_request($1)",
            &[&claims_json(&w.therapist_of_a())],
        )
        .await
        .unwrap();
        tx.execute(
            "select audit.record('test.step', 'step', $1)",
            &[&n.to_string()],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let chain: Vec<(i64, Uuid, String)> = db
        .admin
        .query(
            "select chain_seq, actor_id, request_id from audit.events where org_id = $1 order by chain_seq",
            &[&w.clinic_a],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        chain.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(chain.iter().all(|c| c.1 == w.therapist_a && c.2 == "test"));
    assert_eq!(db.first_broken_link(w.clinic_a).await, None);

    // Only a superuser with triggers switched off can tamper; the chain still tells.
    db.admin
        .batch_execute(&format!(
            "begin; set local session_replication_role = replica;
             update audit.events set target_id = 'edited' where org_id = '{}' and chain_seq = 3;
             commit;",
            w.clinic_a
        ))
        .await
        .unwrap();
    assert_eq!(db.first_broken_link(w.clinic_a).await, Some(3));
    assert_eq!(db.first_broken_link(w.clinic_b).await, None);

    db.admin
        .batch_execute(&format!(
            "begin; set local session_replication_role = replica;
             update audit.events set target_id = '2' where org_id = '{a}' and chain_seq = 3;
             delete from audit.events where org_id = '{a}' and chain_seq = 2;
             commit;",
            a = w.clinic_a
        ))
        .await
        .unwrap();
    assert_eq!(db.first_broken_link(w.clinic_a).await, Some(3));
}

#[tokio::test]
async fn removing_the_newest_audit_events_is_detected() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    populate_every_tenant_table(&db, &w).await;
    populate_every_tenant_table(&db, &w).await;
    assert_eq!(db.first_broken_link(w.clinic_a).await, None);
    db.admin
        .batch_execute(&format!(
            "begin; set local session_replication_role = replica;
             delete from audit.events where org_id = '{}' and chain_seq = 2;
             commit;",
            w.clinic_a
        ))
        .await
        .unwrap();
    assert_eq!(db.first_broken_link(w.clinic_a).await, Some(2));
    assert_eq!(db.first_broken_link(w.clinic_b).await, None);
}

#[tokio::test]
async fn a_caller_cannot_write_audit_events_as_someone_else() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let mut user = db.authenticator().await;
    let forged = as_user(
        &mut user,
        &w.therapist_of_a(),
        "insert into audit.events (org_id, actor_id, action, prev_hash, hash, chain_seq)
         values ($1, $2, 'forged', '', '', 0)",
        &[&w.clinic_a, &w.admin_a],
    )
    .await;
    assert!(is_denied(&forged), "{forged:?}");
}
