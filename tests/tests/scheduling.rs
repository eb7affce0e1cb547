//! The no-double-booking guarantee at its source: holds and sessions share one table whose
//! exclusion constraints reject overlaps per clinician person and per patient, whatever the
//! clinic and however concurrent the writers.

use tokio_postgres::error::SqlState;
use uuid::Uuid;
use wardline_tests::{as_user, claims_json, TestDb, World};

const T0: &str = "2027-03-01 10:00:00+00";

/// Inserts a session row as the superuser; `minutes` after T0 for `length` minutes.
async fn book(
    client: &tokio_postgres::Client,
    org: Uuid,
    clinician: Uuid,
    patient: Uuid,
    status: &str,
    start: i32,
    length: i32,
) -> Result<Uuid, tokio_postgres::Error> {
    let cancel_reason = (status == "cancelled").then_some("patient asked");
    client
        .query_one(
            "insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                                       hold_key, hold_group, hold_expires_at, cancel_reason,
                                       created_by)
             values ($1, $2, $3, $4,
                     tstzrange($5::text::timestamptz + make_interval(mins => $6),
                               $5::text::timestamptz + make_interval(mins => $6 + $7)),
                     case when $4 = 'held' then gen_random_uuid() end,
                     case when $4 = 'held' then gen_random_uuid() end,
                     case when $4 = 'held' then now() + interval '5 minutes' end,
                     $8, $2)
             returning id",
            &[
                &org,
                &clinician,
                &patient,
                &status,
                &T0,
                &start,
                &length,
                &cancel_reason,
            ],
        )
        .await
        .map(|row| row.get(0))
}

fn is_overlap(result: &Result<Uuid, tokio_postgres::Error>) -> bool {
    matches!(result, Err(e) if e.code() == Some(&SqlState::EXCLUSION_VIOLATION))
}

#[tokio::test]
async fn overlaps_are_rejected_per_clinician_and_per_patient_and_adjacent_slots_are_fine() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let other_patient = db.patient(w.clinic_a).await;
    book(
        &db.admin,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        "scheduled",
        0,
        60,
    )
    .await
    .unwrap();

    // The same clinician, another patient, overlapping by a minute.
    let clash = book(
        &db.admin,
        w.clinic_a,
        w.therapist_a,
        other_patient,
        "scheduled",
        59,
        30,
    )
    .await;
    assert!(is_overlap(&clash), "{clash:?}");
    // The same patient with another clinician.
    let clash = book(
        &db.admin,
        w.clinic_a,
        w.admin_a,
        w.patient_a,
        "held",
        30,
        60,
    )
    .await;
    assert!(is_overlap(&clash), "{clash:?}");
    // Back to back is fine: ranges are [start, end).
    book(
        &db.admin,
        w.clinic_a,
        w.therapist_a,
        other_patient,
        "scheduled",
        60,
        30,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_clinician_in_two_clinics_cannot_be_booked_twice_at_once() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    book(
        &db.admin,
        w.clinic_b,
        w.both,
        w.patient_b,
        "scheduled",
        0,
        50,
    )
    .await
    .unwrap();
    let clash = book(&db.admin, w.clinic_a, w.both, w.patient_a, "held", 10, 50).await;
    assert!(is_overlap(&clash), "{clash:?}");
}

#[tokio::test]
async fn only_holds_and_scheduled_sessions_occupy_time() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    for status in ["cancelled", "released", "expired", "completed"] {
        book(
            &db.admin,
            w.clinic_a,
            w.therapist_a,
            w.patient_a,
            status,
            0,
            60,
        )
        .await
        .unwrap_or_else(|e| panic!("{status}: {e}"));
    }
    book(
        &db.admin,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        "held",
        0,
        60,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_session_cannot_pair_one_clinic_with_another_clinics_people_or_services() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    // Clinic A's session with clinic B's patient, or with a clinician who only works in B.
    for (clinician, patient) in [(w.therapist_a, w.patient_b), (w.therapist_b, w.patient_a)] {
        let result = book(
            &db.admin,
            w.clinic_a,
            clinician,
            patient,
            "scheduled",
            0,
            60,
        )
        .await;
        let code = result.as_ref().err().and_then(|e| e.code()).cloned();
        assert_eq!(code, Some(SqlState::FOREIGN_KEY_VIOLATION), "{result:?}");
    }
    let service_of_b: Uuid = db
        .admin
        .query_one(
            "insert into app.services (org_id, name, cpt_code) values ($1, 'B only', '90834')
             returning id",
            &[&w.clinic_b],
        )
        .await
        .unwrap()
        .get(0);
    let err = db
        .admin
        .execute(
            "insert into app.sessions (org_id, clinician_id, patient_id, status, during, service_id, created_by)
             values ($1, $2, $3, 'scheduled', tstzrange($4::text::timestamptz, $4::text::timestamptz + interval '1 hour'), $5, $2)",
            &[&w.clinic_a, &w.therapist_a, &w.patient_a, &T0, &service_of_b],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::FOREIGN_KEY_VIOLATION), "{err}");
}

#[tokio::test]
async fn bad_ranges_are_refused_by_the_table_itself() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    for (start, length) in [(0, 0), (0, -30), (0, 12 * 60 + 1)] {
        let result = book(
            &db.admin,
            w.clinic_a,
            w.therapist_a,
            w.patient_a,
            "scheduled",
            start,
            length,
        )
        .await;
        let code = result.as_ref().err().and_then(|e| e.code()).cloned();
        assert!(
            matches!(
                code,
                Some(SqlState::CHECK_VIOLATION) | Some(SqlState::DATA_EXCEPTION)
            ),
            "{start}+{length}: {result:?}"
        );
    }
}

#[tokio::test]
async fn sixty_four_concurrent_writers_for_one_slot_leave_exactly_one_row() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let mut patients = Vec::new();
    for _ in 0..64 {
        patients.push(db.patient(w.clinic_a).await);
    }
    // 64 connections, each released at the same moment.
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(64));
    let mut writers = Vec::new();
    for (n, patient) in patients.into_iter().enumerate() {
        let client = db.superuser().await;
        let start = start.clone();
        let (clinic, clinician) = (w.clinic_a, w.therapist_a);
        writers.push(tokio::spawn(async move {
            start.wait().await;
            // Pairwise overlapping, not identical, slots: each starts a minute later.
            book(&client, clinic, clinician, patient, "held", n as i32, 90).await
        }));
    }
    let mut won = 0;
    let mut lost = 0;
    for writer in writers {
        match writer.await.unwrap() {
            Ok(_) => won += 1,
            // Two inserts can each wait on the other's uncommitted row: PostgreSQL then aborts
            // one as a deadlock, which the API answers as a 409 like the clash itself.
            Err(e)
                if e.code() == Some(&SqlState::EXCLUSION_VIOLATION)
                    || e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED) =>
            {
                lost += 1
            }
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!((won, lost), (1, 63));
    let overlapping: i64 = db
        .admin
        .query_one(
            "select count(*) from app.sessions a join app.sessions b
               on a.id < b.id and a.during && b.during
              and (a.clinician_id = b.clinician_id or a.patient_id = b.patient_id)
             where a.status in ('held', 'scheduled') and b.status in ('held', 'scheduled')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(overlapping, 0);
}

#[tokio::test]
async fn a_stale_hold_of_another_clinic_is_expired_out_of_the_way_and_a_live_one_is_not() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let stale = book(&db.admin, w.clinic_b, w.both, w.patient_b, "held", 0, 60)
        .await
        .unwrap();
    let live = book(&db.admin, w.clinic_b, w.both, w.patient_b, "held", 120, 60)
        .await
        .unwrap();
    db.admin
        .execute(
            "update app.sessions set hold_expires_at = now() - interval '1 second' where id = $1",
            &[&stale],
        )
        .await
        .unwrap();

    let mut user = db.authenticator().await;
    let tx = user.transaction().await.unwrap();
    tx.execute(
        "select auth.begin_request($1)",
        &[&claims_json(&w.both_at(w.clinic_a))],
    )
    .await
    .unwrap();
    let expired: i32 = tx
        .query_one(
            "select app.expire_holds_in_the_way($1, $2, array[tstzrange($3::text::timestamptz, $3::text::timestamptz + interval '3 hours')])",
            &[&w.both, &w.patient_a, &T0],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(expired, 1);
    // Clinic A's caller still cannot see clinic B's holds.
    let visible: i64 = tx
        .query_one(
            "select count(*) from app.sessions where org_id = $1",
            &[&w.clinic_b],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(visible, 0);
    tx.commit().await.unwrap();

    let statuses: Vec<(Uuid, String)> = db
        .admin
        .query(
            "select id, status from app.sessions order by lower(during)",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        statuses,
        vec![(stale, "expired".into()), (live, "held".into())]
    );
    // The freed slot can be booked; the live hold still blocks its own.
    book(&db.admin, w.clinic_a, w.both, w.patient_a, "held", 0, 60)
        .await
        .unwrap();
    let clash = book(&db.admin, w.clinic_a, w.both, w.patient_a, "held", 120, 60).await;
    assert!(is_overlap(&clash), "{clash:?}");
}

/// The session ids `who` can read, sorted.
async fn visible_to(
    user: &mut tokio_postgres::Client,
    who: wardline_tests::keys::Identity,
) -> Vec<Uuid> {
    wardline_tests::ids_as(user, &who, "select id from app.sessions").await
}

#[tokio::test]
async fn who_sees_which_sessions() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let mine = book(
        &db.admin,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        "scheduled",
        0,
        60,
    )
    .await
    .unwrap();
    let colleagues = book(
        &db.admin,
        w.clinic_a,
        w.admin_a,
        w.patient_a,
        "scheduled",
        60,
        60,
    )
    .await
    .unwrap();
    let held = book(
        &db.admin,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        "held",
        180,
        60,
    )
    .await
    .unwrap();
    book(
        &db.admin,
        w.clinic_b,
        w.therapist_b,
        w.patient_b,
        "scheduled",
        0,
        60,
    )
    .await
    .unwrap();

    let mut user = db.authenticator().await;
    let sorted = |mut ids: Vec<Uuid>| {
        ids.sort();
        ids
    };
    assert_eq!(
        visible_to(&mut user, w.therapist_of_a()).await,
        sorted(vec![mine, held])
    );
    assert_eq!(
        visible_to(&mut user, w.admin_of_a()).await,
        sorted(vec![mine, colleagues, held])
    );
    assert_eq!(
        visible_to(&mut user, w.patient_of_a()).await,
        sorted(vec![mine, colleagues])
    );
}

#[tokio::test]
async fn the_booking_guard_answers_only_for_the_callers_own_clinicians_and_patients() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    book(
        &db.admin,
        w.clinic_b,
        w.therapist_b,
        w.patient_b,
        "scheduled",
        0,
        60,
    )
    .await
    .unwrap();
    book(
        &db.admin,
        w.clinic_b,
        w.both,
        w.patient_b,
        "scheduled",
        120,
        60,
    )
    .await
    .unwrap();
    let mut user = db.authenticator().await;
    let probe = |clinician: Uuid, patient: Uuid, start: i32| {
        format!(
            "select jsonb_array_length(app.slot_conflicts('{clinician}', '{patient}',
               array[tstzrange('{T0}'::timestamptz + interval '{start} minutes',
                               '{T0}'::timestamptz + interval '{start} minutes' + interval '1 hour')]))"
        )
    };
    let count = |rows: Vec<tokio_postgres::Row>| rows[0].get::<_, i32>(0);
    let who = w.therapist_of_a();
    // Clinic B's own clinician and patient: clinic A learns nothing about them.
    let rows = as_user(&mut user, &who, &probe(w.therapist_b, w.patient_b, 0), &[])
        .await
        .unwrap();
    assert_eq!(count(rows), 0);
    // A clinician who also works in A: the clash is reported (without details).
    let rows = as_user(&mut user, &who, &probe(w.both, w.patient_a, 120), &[])
        .await
        .unwrap();
    assert_eq!(count(rows), 1);
}
