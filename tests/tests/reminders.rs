//! Reminders and session notices: the reminder job queues each session's reminder once at each
//! of its clinic's offsets (72 and 24 hours by default), only the nearest one for a session
//! booked late, nothing for sessions started, cancelled or beyond the offsets; two runs at once
//! (held inside their first batch until both got there) queue each reminder exactly once; a
//! patient's preferences choose the channels; a confirmation queues one booked notice per
//! patient (a series too); `app.queue_session_notice` serves staff, patients and the job, each
//! for their own clinic only; payloads hold only the session's id and start, and the delivered
//! texts show the clinic, the date, the time and the portal link, never a name or a service.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use uuid::Uuid;
use wardline_shared::Context;
use wardline_tests::booking::{key, slot};
use wardline_tests::providers::Providers;
use wardline_tests::{as_user, TestDb, World};

/// Inserts a session of `clinician` and `patient` in `org` with `status`, starting `starts_in`
/// from now (an interval) and lasting 10 minutes. → its id.
async fn session(
    db: &TestDb,
    (org, clinician, patient): (Uuid, Uuid, Uuid),
    starts_in: &str,
    status: &str,
) -> Uuid {
    db.admin
        .query_one(
            "insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                                       cancel_reason, created_by)
             select $1, $2, $3, $5, tstzrange(t, t + interval '10 minutes'),
                    case when $5 = 'cancelled' then 'test' end, $2
             from (select now() + $4::text::interval as t) slot
             returning id",
            &[&org, &clinician, &patient, &starts_in, &status],
        )
        .await
        .expect("inserting a session")
        .get(0)
}

/// Moves a session to start `starts_in` from now, as if that much time had passed.
async fn move_to(db: &TestDb, id: Uuid, starts_in: &str) {
    db.admin
        .execute(
            "update app.sessions
             set during = tstzrange(now() + $2::text::interval,
                                    now() + $2::text::interval + interval '10 minutes')
             where id = $1",
            &[&id, &starts_in],
        )
        .await
        .unwrap();
}

async fn run(db: &TestDb) -> session_reminders::Report {
    session_reminders::queue(&db.ctx, "test-reminders")
        .await
        .expect("queueing reminders")
}

/// Every recorded reminder: `(session, hours)`, sorted.
async fn recorded(db: &TestDb) -> Vec<(Uuid, i32)> {
    db.admin
        .query(
            "select session_id, hours from app.session_reminders order by 1, 2",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// The messages queued about `session`: `(kind, channel, recipient)`, sorted.
async fn messages(db: &TestDb, session: Uuid) -> Vec<(String, String, String)> {
    db.admin
        .query(
            "select kind, channel, recipient from app.outbox
             where payload ->> 'sessionId' = $1::uuid::text order by 1, 2, 3",
            &[&session],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn reminder(channel: &str, recipient: &str) -> (String, String, String) {
    ("session.reminder".into(), channel.into(), recipient.into())
}

async fn set_phone(db: &TestDb, patient: Uuid, phone: &str) {
    db.admin
        .execute(
            "update app.patients set phone = $2 where id = $1",
            &[&patient, &phone],
        )
        .await
        .unwrap();
}

/// Every notice payload names only the session and its start.
async fn assert_payloads_are_phi_free(db: &TestDb) {
    let keys: Vec<Value> = db
        .admin
        .query(
            "select distinct to_jsonb(array(select jsonb_object_keys(payload) order by 1))
             from app.outbox where kind like 'session.%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(keys, [json!(["sessionId", "startsAt"])]);
}

#[tokio::test]
async fn a_reminder_is_queued_once_at_72_hours_and_once_at_24() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    set_phone(&db, w.patient_a, "+14155550123").await;
    let s = session(
        &db,
        (w.clinic_a, w.therapist_a, w.patient_a),
        "71 hours",
        "scheduled",
    )
    .await;

    let first = run(&db).await;
    assert_eq!(
        (first.reminders, first.messages, first.batches),
        (1, 2, 1),
        "{first:?}"
    );
    assert_eq!(recorded(&db).await, [(s, 72)]);
    let at_72 = vec![
        reminder("email", "pia@test.example"),
        reminder("sms", "+14155550123"),
    ];
    assert_eq!(messages(&db, s).await, at_72);
    let again = run(&db).await;
    assert_eq!((again.reminders, again.messages), (0, 0), "{again:?}");

    // Two days later: the 24-hour reminder, once.
    move_to(&db, s, "23 hours").await;
    let second = run(&db).await;
    assert_eq!((second.reminders, second.messages), (1, 2), "{second:?}");
    assert_eq!(recorded(&db).await, [(s, 24), (s, 72)]);
    assert_eq!(messages(&db, s).await.len(), 4);
    let again = run(&db).await;
    assert_eq!((again.reminders, again.messages), (0, 0), "{again:?}");

    // Started: nothing more.
    move_to(&db, s, "-1 minute").await;
    assert_eq!(run(&db).await.reminders, 0);
    assert_eq!(messages(&db, s).await.len(), 4);
    assert_payloads_are_phi_free(&db).await;

    // Each batch that queued something is audited with its counts, in the jobs' chain.
    let audited: Vec<Value> = db
        .admin
        .query(
            "select detail from audit.events where action = 'reminders.queue'
             and org_id is null and actor_role = 'service' order by id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let batch = json!({ "reminders": 1, "messages": 2 });
    assert_eq!(audited, [batch.clone(), batch]);
    assert_eq!(db.first_broken_link(Uuid::nil()).await, None);
}

#[tokio::test]
async fn only_the_nearest_offset_ahead_is_sent_and_only_for_upcoming_booked_sessions() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let in_a = (w.clinic_a, w.therapist_a, w.patient_a);
    // Booked 10 hours ahead: the 24-hour reminder, never the 72-hour one as well.
    let late = session(&db, in_a, "10 hours", "scheduled").await;
    let far = session(&db, in_a, "100 hours", "scheduled").await;
    let started = session(&db, in_a, "-5 minutes", "scheduled").await;
    let cancelled = session(&db, in_a, "20 hours", "cancelled").await;
    let completed = session(&db, in_a, "30 hours", "completed").await;
    // Clinic B reminds 48 hours ahead only.
    db.admin
        .execute(
            "update app.clinics set reminder_hours = '{48}' where id = $1",
            &[&w.clinic_b],
        )
        .await
        .unwrap();
    let in_b = (w.clinic_b, w.therapist_b, w.patient_b);
    let b_soon = session(&db, in_b, "30 hours", "scheduled").await;
    let b_later = session(&db, in_b, "60 hours", "scheduled").await;

    let report = run(&db).await;
    assert_eq!((report.reminders, report.messages), (2, 2), "{report:?}");
    let mut expected = vec![(late, 24), (b_soon, 48)];
    expected.sort();
    assert_eq!(recorded(&db).await, expected);
    assert_eq!(
        messages(&db, late).await,
        [reminder("email", "pia@test.example")]
    );
    assert_eq!(
        messages(&db, b_soon).await,
        [reminder("email", "quinn@test.example")]
    );
    for quiet in [far, started, cancelled, completed, b_later] {
        assert_eq!(messages(&db, quiet).await, [], "{quiet}");
    }
    assert_eq!(run(&db).await.reminders, 0);

    // The setting's bounds: 1 to 336 hours, at most four, no nulls; empty turns reminders off.
    for bad in ["{0}", "{337}", "{72,48,24,12,1}", "{24,null}"] {
        let err = db
            .admin
            .execute(
                "update app.clinics set reminder_hours = $2::text::integer[] where id = $1",
                &[&w.clinic_a, &bad],
            )
            .await
            .expect_err(bad);
        assert_eq!(err.code(), Some(&SqlState::CHECK_VIOLATION), "{bad}: {err}");
    }
    db.admin
        .execute(
            "update app.clinics set reminder_hours = '{}' where id = $1",
            &[&w.clinic_a],
        )
        .await
        .unwrap();
    move_to(&db, far, "2 hours").await;
    assert_eq!(run(&db).await.reminders, 0);
}

#[tokio::test]
async fn preferences_choose_the_channels() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let patients = db.patients(w.clinic_a, 4).await;
    let mut sessions = Vec::new();
    for (i, patient) in patients.iter().enumerate() {
        if i < 3 {
            db.admin
                .execute(
                    "update app.patients set email = $2, phone = $3 where id = $1",
                    &[
                        patient,
                        &format!("p{i}@test.example"),
                        &format!("+1415555010{i}"),
                    ],
                )
                .await
                .unwrap();
        }
        let starts_in = format!("{} hours", 20 + i);
        sessions.push(
            session(
                &db,
                (w.clinic_a, w.therapist_a, *patient),
                &starts_in,
                "scheduled",
            )
            .await,
        );
    }
    // 0: no preferences (all on); 1: no texts; 2: neither; 3: no address at all.
    db.admin
        .execute(
            "insert into app.patient_preferences (patient_id, org_id, sms, email, portal) values
               ($1, $3, false, true, true), ($2, $3, false, false, true)",
            &[&patients[1], &patients[2], &w.clinic_a],
        )
        .await
        .unwrap();

    let report = run(&db).await;
    assert_eq!((report.reminders, report.messages), (4, 3), "{report:?}");
    assert_eq!(
        messages(&db, sessions[0]).await,
        [
            reminder("email", "p0@test.example"),
            reminder("sms", "+14155550100"),
        ]
    );
    assert_eq!(
        messages(&db, sessions[1]).await,
        [reminder("email", "p1@test.example")]
    );
    assert_eq!(messages(&db, sessions[2]).await, []);
    assert_eq!(messages(&db, sessions[3]).await, []);
    // Recorded all the same: a changed preference does not bring an old reminder back.
    assert_eq!(recorded(&db).await.len(), 4);
    db.admin
        .execute(
            "update app.patient_preferences set sms = true, email = true where patient_id = $1",
            &[&patients[2]],
        )
        .await
        .unwrap();
    assert_eq!(run(&db).await.messages, 0);
}

#[tokio::test]
async fn two_runs_at_once_queue_each_reminder_exactly_once() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let total = 300;
    let ids: Vec<Uuid> = db
        .admin
        .query(
            "insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                                       created_by)
             select $1, $2, $3, 'scheduled', tstzrange(t, t + interval '10 minutes'), $2
             from generate_series(0, $4::int - 1) n,
                  lateral (select now() + interval '1 hour' + n * interval '10 minutes' as t) x
             returning id",
            &[&w.clinic_a, &w.therapist_a, &w.patient_a, &total],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(ids.len() as i64 > session_reminders::BATCH_SIZE);

    // Two containers, each with its own pool opened beforehand, as two overlapping runs
    // would be. The superuser holds the jobs' audit chain head, where the first run to record
    // its batch waits; the other waits on that run's records (the same sessions). Only once
    // both wait are they let go.
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
         values ($$00000000-0000-0000-0000-000000000000$$, 0,
                 audit.genesis($$00000000-0000-0000-0000-000000000000$$))
         on conflict do nothing;
         select 1 from audit.chain_heads
         where chain_key = $$00000000-0000-0000-0000-000000000000$$ for update",
    )
    .await
    .unwrap();
    let release = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        while db
            .count(
                "select count(*) from pg_stat_activity
                 where datname = current_database() and wait_event_type = 'Lock'",
                &[],
            )
            .await
            < 2
        {
            assert!(Instant::now() < deadline, "the runs never both waited");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        gate.commit().await.unwrap();
    };
    let (one, two, ()) = tokio::join!(
        session_reminders::queue(&first, "run-1"),
        session_reminders::queue(&second, "run-2"),
        release
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(
        one.reminders + two.reminders,
        total as u64,
        "{one:?} {two:?}"
    );
    assert_eq!(one.messages + two.messages, total as u64, "{one:?} {two:?}");

    let (records, sessions, messages, sessions_messaged): (i64, i64, i64, i64) = {
        let r = db
            .admin
            .query_one(
                "select (select count(*) from app.session_reminders),
                        (select count(distinct session_id) from app.session_reminders),
                        (select count(*) from app.outbox where kind = 'session.reminder'),
                        (select count(distinct payload ->> 'sessionId') from app.outbox
                         where kind = 'session.reminder')",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1), r.get(2), r.get(3))
    };
    assert_eq!(
        (records, sessions, messages, sessions_messaged),
        (total as i64, total as i64, total as i64, total as i64)
    );
    assert_eq!(db.first_broken_link(Uuid::nil()).await, None);
    let after = run(&db).await;
    assert_eq!(after.reminders, 0, "{after:?}");
}

#[tokio::test]
async fn a_confirmation_queues_one_booked_notice_per_patient_a_series_too() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let me = w.therapist_of_a();
    let single = db
        .book(
            &me,
            w.therapist_a,
            w.patient_a,
            ("2027-06-01T09:00:00Z", "2027-06-01T09:50:00Z"),
            w.service_a,
        )
        .await;
    let single: Uuid = single.parse().unwrap();
    assert_eq!(
        messages(&db, single).await,
        [(
            "session.booked".to_owned(),
            "email".to_owned(),
            "pia@test.example".to_owned()
        )]
    );

    let other = db.patient(w.clinic_a).await;
    db.admin
        .execute(
            "update app.patients set email = 'series@test.example', phone = '+14155550199'
             where id = $1",
            &[&other],
        )
        .await
        .unwrap();
    let mut series = slot(
        w.therapist_a,
        other,
        "2027-06-02T09:00:00Z",
        "2027-06-02T09:50:00Z",
    );
    series["recurrence"] = json!({"rrule": "FREQ=DAILY", "count": 20});
    let held = db.held(&me, &series).await;
    let body = json!({"holdKey": held["holdKey"], "session": {"serviceId": w.service_a}});
    let idempotency_key = key();
    let booked = db.confirm_with_key(&me, &body, &idempotency_key).await;
    assert_eq!(booked.status, 200, "{booked:?}");
    assert_eq!(booked.body["sessions"].as_array().unwrap().len(), 20);
    let first_occurrence = booked.body["sessions"][0]["id"].as_str().unwrap();
    let notices: Vec<(String, String, Value)> = db
        .admin
        .query(
            "select channel, recipient, payload from app.outbox
             where kind = 'session.booked' and recipient <> 'pia@test.example' order by 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let payload = json!({ "sessionId": first_occurrence, "startsAt": "2027-06-02T09:00:00Z" });
    assert_eq!(
        notices,
        [
            (
                "email".into(),
                "series@test.example".into(),
                payload.clone()
            ),
            ("sms".into(), "+14155550199".into(), payload),
        ]
    );

    // A replayed confirmation queues nothing again.
    let replayed = db.confirm_with_key(&me, &body, &idempotency_key).await;
    assert_eq!(replayed.status, 200, "{replayed:?}");
    let all = db
        .count(
            "select count(*) from app.outbox where kind = 'session.booked'",
            &[],
        )
        .await;
    assert_eq!(all, 3);
    assert_payloads_are_phi_free(&db).await;
}

#[tokio::test]
async fn staff_patients_and_the_job_queue_notices_for_their_own_clinic_only() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let s = session(
        &db,
        (w.clinic_a, w.therapist_a, w.patient_a),
        "3 days",
        "scheduled",
    )
    .await;
    let mut user = db.authenticator().await;
    let notice = "select app.queue_session_notice($1, $2, $3, $4, now() + interval '3 days')";
    let queued = |rows: Vec<tokio_postgres::Row>| rows[0].get::<_, i32>(0);
    let service = wardline_tests::keys::Identity {
        sub: Uuid::nil(),
        org_id: None,
        app_role: "service",
        patient_id: None,
    };
    for who in [
        w.admin_of_a(),
        w.therapist_of_a(),
        w.patient_of_a(),
        service,
    ] {
        let rows = as_user(
            &mut user,
            &who,
            notice,
            &[&"session.changed", &w.clinic_a, &w.patient_a, &s],
        )
        .await
        .unwrap_or_else(|e| panic!("{who:?}: {e}"));
        assert_eq!(queued(rows), 1, "{who:?}");
    }
    // Another clinic's patient named with one's own clinic: nobody to tell.
    let rows = as_user(
        &mut user,
        &w.admin_of_a(),
        notice,
        &[&"session.cancelled", &w.clinic_a, &w.patient_b, &s],
    )
    .await
    .unwrap();
    assert_eq!(queued(rows), 0);
    // Another clinic: refused.
    let err = as_user(
        &mut user,
        &w.admin_of_a(),
        notice,
        &[&"session.cancelled", &w.clinic_b, &w.patient_b, &s],
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    // A kind no template renders: refused.
    let err = as_user(
        &mut user,
        &w.admin_of_a(),
        notice,
        &[&"newsletter", &w.clinic_a, &w.patient_a, &s],
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::INVALID_PARAMETER_VALUE),
        "{err}"
    );
    // Requests still cannot write notices, or reminder records, themselves.
    for who in [w.admin_of_a(), w.patient_of_a()] {
        let err = as_user(
            &mut user,
            &who,
            "insert into app.session_reminders (session_id, org_id, hours) values ($1, $2, 24)",
            &[&s, &w.clinic_a],
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    }
    // (as_user rolls back: nothing was queued.)
    assert_eq!(messages(&db, s).await, []);
}

#[tokio::test]
async fn delivered_notices_show_clinic_date_time_and_link_and_no_phi() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    db.admin
        .batch_execute(&format!(
            "update app.clinics set time_zone = 'America/New_York', sms_number = '+14155550100'
             where id = '{a}';
             update app.clinicians set first_name = 'Zebulon', last_name = 'Xylophone'
             where id = '{t}';
             update app.services set name = 'Eye Movement Desensitization' where id = '{s}';",
            a = w.clinic_a,
            t = w.therapist_a,
            s = w.service_a,
        ))
        .await
        .unwrap();
    let patient = db.patient(w.clinic_a).await;
    db.admin
        .execute(
            "update app.patients set first_name = 'Marigold', last_name = 'Quetzalcoatl',
                    email = 'marigold@test.example', phone = '+14155550123',
                    date_of_birth = '1990-02-28'
             where id = $1",
            &[&patient],
        )
        .await
        .unwrap();
    // Booked 20 hours ahead, on the hour: the booked notice, then at once its 24-hour reminder.
    let start = (Utc::now() + chrono::Duration::hours(20))
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap();
    let end = start + chrono::Duration::minutes(50);
    let rfc = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    db.book(
        &w.therapist_of_a(),
        w.therapist_a,
        patient,
        (&rfc(start), &rfc(end)),
        w.service_a,
    )
    .await;
    assert_eq!(run(&db).await.messages, 2);
    assert_payloads_are_phi_free(&db).await;

    let report = message_sender::deliver(&db.ctx, &providers.sender(&[]), "test-sender")
        .await
        .unwrap();
    assert_eq!((report.sent, report.failed), (4, 0), "{report:?}");
    let (date, time) = message_sender::notice::date_and_time(start, "America/New_York");
    let link = "https://alpha.portal.wardline.test/appointments";
    let mut bodies: Vec<String> = providers.sms().into_iter().map(|s| s.body).collect();
    assert_eq!(bodies.len(), 2);
    let emails = providers.emails();
    assert_eq!(emails.len(), 2);
    for email in &emails {
        assert!(email.subject.contains("Alpha Clinic"), "{}", email.subject);
        bodies.push(email.text.clone());
    }
    for body in &bodies {
        for shown in ["Alpha Clinic", &date, &time, link] {
            assert!(body.contains(shown), "{shown} not in {body:?}");
        }
    }
    let mut everything: Vec<String> = bodies;
    for email in emails {
        everything.push(email.subject);
        everything.extend(email.from_name);
    }
    for text in everything {
        let lower = text.to_lowercase();
        for phi in [
            "marigold",
            "quetzalcoatl",
            "1990",
            "zebulon",
            "xylophone",
            "movement",
            "psychotherapy",
            "90837",
        ] {
            assert!(!lower.contains(phi), "{phi} in {text:?}");
        }
    }
}
