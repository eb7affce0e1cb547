//! The database contract, generated from the catalog rather than a hand-kept list: RLS on every
//! table, no privileges for the authenticator, no BYPASSRLS, tenant isolation on every table
//! with an `org_id`, and the append-only hash-chained audit log.

use serde_json::Value;
use tokio_postgres::{error::SqlState, Client};
use uuid::Uuid;
use wardline_tests::{anonymous_at, as_user, claims_json, cross_clinic, TestDb, World};

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
                "insert into app.session_notes (session_id, org_id, key_id, nonce, ciphertext,
                                                updated_by)
                 values ($2, $1, 'k1', decode(repeat('00', 12), 'hex'),
                         decode(repeat('ab', 16), 'hex'), $3)",
                &[&clinic, &session, &clinician],
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
        db.admin
            .execute(
                "insert into app.outbox (org_id, kind, channel, recipient, payload, created_by)
                 values ($1, 'patient_invite', 'email', 'fixture@test.example', '{}', $2)",
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
        // here, and a paid invoice, a refill and an order of the patient.
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
                 values ('{clinic}', '{patient}', 'Sertraline 50 mg', 'PENDING_PROVIDER');
                 insert into app.orders (org_id, patient_id, medication, quantity, directions)
                 values ('{clinic}', '{patient}', 'Sertraline', '30 tablets', 'One daily');"
            ))
            .await
            .unwrap();
        db.admin
            .execute(
                "insert into app.idempotency_keys (org_id, caller_id, route, key, request_hash,
                                                   response)
                 values ($1, $2, 'POST /sessions-hold', gen_random_uuid()::text,
                         sha256('fixture'::bytea), '{}')",
                &[&clinic, &clinician],
            )
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

#[tokio::test]
async fn clinic_a_can_neither_read_nor_write_clinic_b_rows_in_any_tenant_table() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    populate_every_tenant_table(&db, &w).await;
    let tables = tenant_tables(&db.admin).await;
    assert!(tables.contains(&"app.patients".to_owned()), "{tables:?}");
    let mut user = db.authenticator().await;

    for table in &tables {
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

        for who in [
            w.admin_of_a(),
            w.therapist_of_a(),
            w.patient_of_a(),
            anonymous_at(w.clinic_a),
            // A prescriber of A, in a cross-clinic request.
            cross_clinic(w.therapist_a),
        ] {
            let role = who.app_role;
            let seen = as_user(
                &mut user,
                &who,
                &format!("select count(*) filter (where org_id = $1), count(*) filter (where org_id is distinct from $2) from {table}"),
                &[&w.clinic_b, &w.clinic_a],
            )
            .await;
            if let Ok(rows) = &seen {
                let (of_b, not_of_a): (i64, i64) = (rows[0].get(0), rows[0].get(1));
                assert_eq!(of_b, 0, "{role} of A read clinic B rows of {table}");
                assert_eq!(not_of_a, 0, "{role} of A read rows of {table} outside A");
            } else {
                assert!(is_denied(&seen), "{table}: {seen:?}");
            }

            let insert = as_user(
                &mut user,
                &who,
                &format!(
                    "insert into {table} ({columns})
                     select {columns} from jsonb_populate_record(null::{table}, $1)"
                ),
                &[&b_row],
            )
            .await;
            assert!(
                is_denied(&insert),
                "{role} of A inserted into B's {table}: {insert:?}"
            );

            let moved = as_user(
                &mut user,
                &who,
                &format!("update {table} set org_id = $1 where org_id = $2 returning 1"),
                &[&w.clinic_b, &w.clinic_a],
            )
            .await;
            assert!(
                changed_nothing(&moved),
                "{role} of A moved a row of {table} into B: {moved:?}"
            );

            let touched = as_user(
                &mut user,
                &who,
                &format!("update {table} set org_id = org_id where org_id = $1 returning 1"),
                &[&w.clinic_b],
            )
            .await;
            assert!(
                changed_nothing(&touched),
                "{role} of A updated B's {table}: {touched:?}"
            );

            let deleted = as_user(
                &mut user,
                &who,
                &format!("delete from {table} where org_id = $1 returning 1"),
                &[&w.clinic_b],
            )
            .await;
            assert!(
                changed_nothing(&deleted),
                "{role} of A deleted B's {table}: {deleted:?}"
            );
        }
    }
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

    for table in ["audit.chain_heads", "wardline_meta.applied"] {
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
