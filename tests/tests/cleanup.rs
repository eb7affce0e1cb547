//! The hold-cleanup sweep: it expires exactly the holds past their expiry (in every clinic),
//! deletes exactly the idempotency records older than a day, reports what it did, audits it,
//! finds nothing the second time, and two sweeps at once (released by a barrier, held inside
//! their first batch until both got there) both do work and expire each stale hold exactly
//! once, with the audit chain intact.

use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::Barrier;
use uuid::Uuid;
use wardline_shared::Context;
use wardline_tests::{TestDb, World};

/// Where the inserted holds start; one hour apart, so no two overlap.
const T0: &str = "2027-03-01 10:00:00+00";

/// Inserts `count` holds of `clinician` with `patient` as the superuser, the first `offset`
/// hours after T0, expiring `expires` from now (negative: already stale). → their ids.
async fn holds(
    db: &TestDb,
    (org, clinician, patient): (Uuid, Uuid, Uuid),
    offset: i32,
    count: i32,
    expires: &str,
) -> Vec<Uuid> {
    db.admin
        .query(
            "insert into app.sessions (org_id, clinician_id, patient_id, status, during, hold_key,
                                       hold_group, hold_expires_at, occurrence, created_by)
             select $1, $2, $3, 'held', tstzrange(t, t + interval '50 minutes'),
                    gen_random_uuid(), gen_random_uuid(), now() + $6::text::interval, 1, $2
             from generate_series($4::int, $4::int + $5::int - 1) n,
                  lateral (select $7::text::timestamptz + n * interval '1 hour' as t) slot
             returning id",
            &[&org, &clinician, &patient, &offset, &count, &expires, &T0],
        )
        .await
        .expect("inserting holds")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Inserts an idempotency record of `caller` in `org` created `age` ago. → its key.
async fn idempotency_key(db: &TestDb, org: Uuid, caller: Uuid, age: &str) -> String {
    db.admin
        .query_one(
            "insert into app.idempotency_keys (org_id, caller_id, route, key, request_hash,
                                               response, created_at)
             values ($1, $2, 'POST /sessions-hold', gen_random_uuid()::text,
                     sha256('body'::bytea), '{}', now() - $3::text::interval)
             returning key",
            &[&org, &caller, &age],
        )
        .await
        .expect("inserting an idempotency record")
        .get(0)
}

async fn statuses(db: &TestDb, ids: &[Uuid]) -> Vec<String> {
    db.admin
        .query(
            "select status from app.sessions where id = any($1) order by id",
            &[&ids],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn keys_left(db: &TestDb) -> Vec<String> {
    db.admin
        .query("select key from app.idempotency_keys order by key", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The `holds.sweep` audit events: `(request_id, org_id, actor_role, detail)`.
async fn sweep_events(db: &TestDb) -> Vec<(String, Option<Uuid>, String, Value)> {
    db.admin
        .query(
            "select request_id, org_id, actor_role, detail from audit.events
             where action = 'holds.sweep' order by id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

fn every(status: &str, n: usize) -> Vec<String> {
    vec![status.to_owned(); n]
}

#[tokio::test]
async fn a_sweep_expires_stale_holds_and_deletes_day_old_records_only() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let in_a = (w.clinic_a, w.therapist_a, w.patient_a);
    let in_b = (w.clinic_b, w.therapist_b, w.patient_b);
    let mut stale = holds(&db, in_a, 0, 2, "-1 minute").await;
    stale.extend(holds(&db, in_b, 0, 1, "-2 hours").await);
    stale.sort();
    let mut live = holds(&db, in_a, 10, 2, "5 minutes").await;
    live.extend(holds(&db, in_b, 10, 1, "30 seconds").await);
    live.sort();
    // A booked session in the past is not a hold: the sweep leaves it alone.
    let booked: Uuid = db
        .admin
        .query_one(
            "insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                                       hold_key, hold_group, hold_expires_at, created_by)
             values ($1, $2, $3, 'scheduled',
                     tstzrange(now() - interval '3 hours', now() - interval '2 hours'),
                     gen_random_uuid(), gen_random_uuid(), now() - interval '4 hours', $2)
             returning id",
            &[&w.clinic_a, &w.therapist_a, &w.patient_a],
        )
        .await
        .unwrap()
        .get(0);
    idempotency_key(&db, w.clinic_a, w.therapist_a, "25 hours").await;
    idempotency_key(&db, w.clinic_b, w.admin_b, "25 hours").await;
    let mut fresh = vec![
        idempotency_key(&db, w.clinic_a, w.therapist_a, "1 hour").await,
        idempotency_key(&db, w.clinic_b, w.admin_b, "1 hour").await,
    ];
    fresh.sort();

    let report = hold_cleanup::sweep(&db.ctx, "req-id").await.unwrap();
    assert_eq!(
        (
            report.holds_expired,
            report.idempotency_keys_deleted,
            report.batches
        ),
        (3, 2, 1),
        "{report:?}"
    );
    assert_eq!(statuses(&db, &stale).await, every("expired", 3));
    assert_eq!(statuses(&db, &live).await, every("held", 3));
    assert_eq!(statuses(&db, &[booked]).await, every("scheduled", 1));
    assert_eq!(keys_left(&db).await, fresh);

    let events = sweep_events(&db).await;
    assert_eq!(
        events,
        vec![(
            "req-id".to_owned(),
            None,
            "service".to_owned(),
            json!({"holdsExpired": 3, "idempotencyKeysDeleted": 2, "offersPassed": 0})
        )]
    );

    let again = hold_cleanup::sweep(&db.ctx, "req-2").await.unwrap();
    assert_eq!(
        (again.holds_expired, again.idempotency_keys_deleted),
        (0, 0),
        "{again:?}"
    );
    assert_eq!(statuses(&db, &live).await, every("held", 3));
    assert_eq!(keys_left(&db).await, fresh);
    // A sweep that changed nothing records nothing.
    assert_eq!(sweep_events(&db).await, events);
}

#[tokio::test]
async fn two_concurrent_sweeps_expire_each_stale_hold_exactly_once() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let mut stale = holds(
        &db,
        (w.clinic_a, w.therapist_a, w.patient_a),
        0,
        700,
        "-1 minute",
    )
    .await;
    stale.extend(
        holds(
            &db,
            (w.clinic_b, w.therapist_b, w.patient_b),
            0,
            500,
            "-1 hour",
        )
        .await,
    );
    let live = holds(
        &db,
        (w.clinic_a, w.admin_a, w.patient_a),
        2000,
        5,
        "5 minutes",
    )
    .await;
    assert_eq!(stale.len(), 1200);

    // Two containers, each with its own pool opened beforehand, as two overlapping scheduled
    // runs would be, released together. Both must work at the same time, not one after the
    // other: the superuser holds the sweeps' audit chain head, where each sweep's first batch
    // waits after locking its rows (SKIP LOCKED: disjoint ones), and lets go only once both
    // wait there.
    let (first, second) = (
        Context::new(db.config(|_| {})).unwrap(),
        Context::new(db.config(|_| {})).unwrap(),
    );
    drop((
        first.db.client().await.unwrap(),
        second.db.client().await.unwrap(),
    ));
    let mut head = db.superuser().await;
    let gate = head.transaction().await.unwrap();
    gate.batch_execute(
        "insert into audit.chain_heads (chain_key, last_seq, last_hash)
         values ($$00000000-0000-0000-0000-000000000000$$, 0, audit.genesis($$00000000-0000-0000-0000-000000000000$$)) on conflict do nothing;
         select 1 from audit.chain_heads where chain_key = $$00000000-0000-0000-0000-000000000000$$ for update",
    )
    .await
    .unwrap();
    let barrier = Barrier::new(2);
    async fn run(
        ctx: &Context,
        barrier: &Barrier,
        id: &str,
    ) -> Result<hold_cleanup::Report, wardline_shared::Error> {
        barrier.wait().await;
        hold_cleanup::sweep(ctx, id).await
    }
    let release = async {
        while db
            .count(
                "select count(*) from pg_stat_activity
                 where datname = current_database() and wait_event_type = 'Lock'",
                &[],
            )
            .await
            < 2
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        gate.commit().await.unwrap();
    };
    let (one, two, ()) = futures::join!(
        run(&first, &barrier, "sweep-1"),
        run(&second, &barrier, "sweep-2"),
        release
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert!(
        one.holds_expired > 0 && two.holds_expired > 0,
        "{one:?} {two:?}"
    );
    assert_eq!(
        one.holds_expired + two.holds_expired,
        1200,
        "{one:?} {two:?}"
    );
    assert_eq!(statuses(&db, &stale).await, every("expired", 1200));
    assert_eq!(statuses(&db, &live).await, every("held", 5));

    // The audit trail agrees with the reports: every expiry counted once.
    let audited: i64 = sweep_events(&db)
        .await
        .iter()
        .map(|(_, _, _, detail)| detail["holdsExpired"].as_i64().unwrap())
        .sum();
    assert_eq!(audited, 1200);

    assert_eq!(db.first_broken_link(Uuid::nil()).await, None);

    let after = hold_cleanup::sweep(&first, "sweep-3").await.unwrap();
    assert_eq!(after.holds_expired, 0, "{after:?}");
}

#[tokio::test]
async fn one_sweep_runs_batch_after_batch_until_one_comes_back_short() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let size = hold_cleanup::BATCH_SIZE as i32;
    let stale = holds(
        &db,
        (w.clinic_a, w.therapist_a, w.patient_a),
        0,
        2 * size + 1,
        "-1 minute",
    )
    .await;
    for _ in 0..3 {
        idempotency_key(&db, w.clinic_b, w.admin_b, "2 days").await;
    }

    let report = hold_cleanup::sweep(&db.ctx, "req-id").await.unwrap();
    assert_eq!(
        (
            report.holds_expired,
            report.idempotency_keys_deleted,
            report.batches
        ),
        (2 * size as u64 + 1, 3, 3),
        "{report:?}"
    );
    assert_eq!(statuses(&db, &stale).await, every("expired", stale.len()));
    assert_eq!(keys_left(&db).await, Vec::<String>::new());
    // One audit event per batch that changed something.
    let audited: Vec<Value> = sweep_events(&db).await.into_iter().map(|e| e.3).collect();
    assert_eq!(
        audited,
        vec![
            json!({"holdsExpired": size, "idempotencyKeysDeleted": 3, "offersPassed": 0}),
            json!({"holdsExpired": size, "idempotencyKeysDeleted": 0, "offersPassed": 0}),
            json!({"holdsExpired": 1, "idempotencyKeysDeleted": 0, "offersPassed": 0}),
        ]
    );
}
