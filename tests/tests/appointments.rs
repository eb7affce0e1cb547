//! Appointments from both sides (issue 18): a patient confirms, cancels until the clinic's
//! late-cancellation window, asks to reschedule and waits for freed time; staff move sessions,
//! decide requests, record attendance and read one client. Every route through `dispatch`, as
//! the real roles, against clinic B's rows as well as clinic A's.

use futures::future::join_all;
use http::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_tests::{booking::slot, patient, portal::as_patient, Reply, TestDb, World};
use xtask::keys::Identity;

/// A booked session inserted as the superuser: `starts_in` (an SQL interval from now, to the
/// second) and 50 minutes long.
async fn booked(
    db: &TestDb,
    clinic: Uuid,
    clinician: Uuid,
    patient: Uuid,
    service: Uuid,
    starts_in: &str,
) -> Uuid {
    db.admin
        .query_one(
            "insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                                       service_id, cpt_code, cpt_units, created_by)
             select $1, $2, $3, 'scheduled', tstzrange(t, t + interval '50 minutes'), $4,
                    '90834', 1, $2
             from (select date_trunc('second', now()) + $5::text::interval as t) x
             returning id",
            &[&clinic, &clinician, &patient, &service, &starts_in],
        )
        .await
        .unwrap()
        .get(0)
}

/// A staff call to the `schedule` function as `who`.
async fn staff(
    db: &TestDb,
    who: &Identity,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    db.call_as(&schedule::FUNCTION, who, method, path, body)
        .await
}

/// `(start, end)` of a session, as ISO text in UTC, read as the superuser.
async fn times_of(db: &TestDb, session: Uuid) -> (String, String, String) {
    let row = db
        .admin
        .query_one(
            "select app.iso(starts_at), app.iso(ends_at), status from app.sessions where id = $1",
            &[&session],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// The notices of `kind` queued for `recipient`: their payloads.
async fn notices(db: &TestDb, kind: &str, recipient: &str) -> Vec<Value> {
    db.admin
        .query(
            "select payload from app.outbox where kind = $1 and recipient = $2 order by created_at",
            &[&kind, &recipient],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn audited(db: &TestDb, action: &str, target: Uuid) -> i64 {
    db.count(
        "select count(*) from audit.events where action = $1 and target_id = $2",
        &[&action, &target.to_string()],
    )
    .await
}

/// A time `days` from now at a whole hour, as RFC 3339 in UTC.
async fn at(db: &TestDb, interval: &str) -> String {
    db.admin
        .query_one(
            "select app.iso(date_trunc('hour', now()) + $1::text::interval)",
            &[&interval],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_patient_confirms_their_own_upcoming_appointment_once() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let pia = w.patient_of_a();
    let session = booked(
        &db,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        w.service_a,
        "3 days",
    )
    .await;
    let path = format!("/api/portal/appointments/{session}/confirm");

    let first = as_patient(&db, "alpha", &pia, Method::POST, &path, None).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body["id"], json!(session));
    let confirmed_at = first.body["confirmedAt"].clone();
    assert!(confirmed_at.is_string(), "{first:?}");
    assert!(first.body["cancellableUntil"].is_string());
    assert!(
        first.body.get("cptCode").is_none(),
        "no billing in the portal"
    );
    let again = as_patient(&db, "alpha", &pia, Method::POST, &path, None).await;
    assert_eq!(
        again.body["confirmedAt"], confirmed_at,
        "confirming again changes nothing"
    );
    assert_eq!(audited(&db, "session.patient_confirm", session).await, 1);

    // Someone else's session, another clinic's, a past one, a body: refused.
    let other = db.patient(w.clinic_a).await;
    as_patient(
        &db,
        "alpha",
        &patient(other, w.clinic_a),
        Method::POST,
        &path,
        None,
    )
    .await
    .assert_problem(404, "session_not_found");
    let quinn = patient(w.patient_b, w.clinic_b);
    as_patient(&db, "beta", &quinn, Method::POST, &path, None)
        .await
        .assert_problem(404, "session_not_found");
    let past = booked(
        &db,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        w.service_a,
        "-2 hours",
    )
    .await;
    as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &format!("/api/portal/appointments/{past}/confirm"),
        None,
    )
    .await
    .assert_problem(409, "not_confirmable");
    let with_body = as_patient(&db, "alpha", &pia, Method::POST, &path, Some(json!({}))).await;
    with_body.assert_problem(400, "invalid_input");
    as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        "/api/portal/appointments/nope/confirm",
        None,
    )
    .await
    .assert_problem(400, "invalid_input");
}

/// The window's edge: with a 24-hour window, a session 24 h + 2 min away can still be
/// cancelled in the portal, one 24 h − 2 min away cannot (409 naming the deadline) — and
/// staff can still cancel that one.
#[tokio::test]
async fn a_patient_cancels_until_the_late_cancellation_window_and_staff_after_it() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let pia = w.patient_of_a();
    db.admin
        .execute(
            "update app.clinics set late_cancel_hours = 24 where id = $1",
            &[&w.clinic_a],
        )
        .await
        .unwrap();
    let early = booked(
        &db,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        w.service_a,
        "24 hours 2 minutes",
    )
    .await;

    let cancel = |id: Uuid| format!("/api/portal/appointments/{id}/cancel");
    let ok = as_patient(&db, "alpha", &pia, Method::POST, &cancel(early), None).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.body["status"], "cancelled");
    assert_eq!(times_of(&db, early).await.2, "cancelled");
    let reason: String = db
        .admin
        .query_one(
            "select cancel_reason from app.sessions where id = $1",
            &[&early],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(reason, "Cancelled by the patient in the portal.");
    assert_eq!(audited(&db, "session.patient_cancel", early).await, 1);
    let cancelled = notices(&db, "session.cancelled", "pia@test.example").await;
    assert_eq!(
        cancelled,
        vec![json!({"sessionId": early, "startsAt": times_of(&db, early).await.0})],
        "one PHI-free notice"
    );
    let again = as_patient(&db, "alpha", &pia, Method::POST, &cancel(early), None).await;
    assert_eq!(
        again.status, 200,
        "cancelling again returns the cancelled appointment"
    );

    // (Booked once the first is cancelled: Pia cannot be in two sessions at once.)
    let late = booked(
        &db,
        w.clinic_a,
        w.both,
        w.patient_a,
        w.service_a,
        "23 hours 58 minutes",
    )
    .await;

    let refused = as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &cancel(late),
        Some(json!({"reason": "Feeling better"})),
    )
    .await;
    refused.assert_problem(409, "late_cancellation");
    let start = times_of(&db, late).await.0;
    let deadline: String = db
        .admin
        .query_one(
            "select app.iso($1::text::timestamptz - interval '24 hours')",
            &[&start],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(refused.body["deadline"], json!(deadline), "{refused:?}");
    assert_eq!(times_of(&db, late).await.2, "scheduled", "nothing changed");

    let by_staff = staff(
        &db,
        &w.admin_of_a(),
        Method::POST,
        &format!("/sessions/{late}/cancel"),
        Some(json!({"reason": "Patient called"})),
    )
    .await;
    assert_eq!(by_staff.status, 200, "{by_staff:?}");
    assert_eq!(times_of(&db, late).await.2, "cancelled");

    as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &cancel(early),
        Some(json!({"reason": ""})),
    )
    .await
    .assert_problem(400, "invalid_input");
}

/// A patient proposes times; staff approve one (the session moves, keeping its id) or decline
/// with a reason; clinic B's staff cannot touch clinic A's requests.
#[tokio::test]
async fn reschedule_requests_are_approved_as_a_move_or_declined_with_a_reason() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let pia = w.patient_of_a();
    let session = booked(
        &db,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        w.service_a,
        "3 days",
    )
    .await;
    let ask = format!("/api/portal/appointments/{session}/reschedule-request");
    let (t1, t2) = (
        at(&db, "5 days 2 hours").await,
        at(&db, "6 days 3 hours").await,
    );

    for (body, field) in [
        (json!({"startTimes": []}), "startTimes"),
        (
            json!({"startTimes": ["2020-01-01T10:00:00Z"]}),
            "startTimes[0]",
        ),
        (json!({"startTimes": [t1, t1]}), "startTimes[1]"),
        (json!({"startTimes": ["tomorrow"]}), "startTimes[0]"),
        (json!({"startTimes": [t1], "extra": 1}), "extra"),
    ] {
        let reply = as_patient(&db, "alpha", &pia, Method::POST, &ask, Some(body)).await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{reply:?}");
    }
    let first = as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &ask,
        Some(json!({"startTimes": [t1]})),
    )
    .await;
    assert_eq!(first.status, 201, "{first:?}");
    let asked = as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &ask,
        Some(json!({"startTimes": [t1, t2], "note": "Mornings are hard"})),
    )
    .await;
    assert_eq!(asked.status, 201, "{asked:?}");
    assert_eq!(asked.body["status"], "pending");
    let request = asked.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        db.count(
            "select count(*) from app.reschedule_requests where status = 'withdrawn'",
            &[]
        )
        .await,
        1,
        "the newer request replaced the pending one"
    );

    // The clinician sees it; clinic B's admin does not, and cannot decide it.
    let listed = staff(
        &db,
        &w.therapist_of_a(),
        Method::GET,
        "/reschedule-requests",
        None,
    )
    .await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.body["requests"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["requests"][0]["note"], "Mornings are hard");
    assert_eq!(listed.body["requests"][0]["patient"]["firstName"], "Pia");
    let b_list = staff(
        &db,
        &w.admin_of_b(),
        Method::GET,
        "/reschedule-requests",
        None,
    )
    .await;
    assert_eq!(b_list.body["requests"], json!([]));
    let approve = format!("/reschedule-requests/{request}/approve");
    staff(
        &db,
        &w.admin_of_b(),
        Method::POST,
        &approve,
        Some(json!({"startTime": t2})),
    )
    .await
    .assert_problem(404, "reschedule_request_not_found");
    staff(
        &db,
        &w.admin_of_a(),
        Method::POST,
        &approve,
        Some(json!({"startTime": at(&db, "7 days").await})),
    )
    .await
    .assert_problem(422, "not_proposed");

    let approved = staff(
        &db,
        &w.admin_of_a(),
        Method::POST,
        &approve,
        Some(json!({"startTime": t2})),
    )
    .await;
    assert_eq!(approved.status, 200, "{approved:?}");
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(
        approved.body["session"]["id"],
        json!(session),
        "the same session, moved"
    );
    assert_eq!(approved.body["session"]["startTime"], json!(t2));
    let (start, end, status) = times_of(&db, session).await;
    assert_eq!(
        (start.as_str(), status.as_str()),
        (t2.as_str(), "scheduled")
    );
    let minutes: i64 = db
        .admin
        .query_one(
            "select extract(epoch from $2::text::timestamptz - $1::text::timestamptz)::bigint / 60",
            &[&start, &end],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(minutes, 50, "the session keeps its length");
    assert_eq!(audited(&db, "session.reschedule", session).await, 1);
    staff(
        &db,
        &w.admin_of_a(),
        Method::POST,
        &approve,
        Some(json!({"startTime": t2})),
    )
    .await
    .assert_problem(409, "request_decided");

    // A second request, declined.
    let again = as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &ask,
        Some(json!({"startTimes": [t1]})),
    )
    .await;
    let second = again.body["id"].as_str().unwrap().to_owned();
    let decline = format!("/reschedule-requests/{second}/decline");
    staff(
        &db,
        &w.therapist_of_a(),
        Method::POST,
        &decline,
        Some(json!({"reason": " "})),
    )
    .await
    .assert_problem(400, "invalid_input");
    let declined = staff(
        &db,
        &w.therapist_of_a(),
        Method::POST,
        &decline,
        Some(json!({"reason": "Fully booked that week"})),
    )
    .await;
    assert_eq!(declined.status, 200, "{declined:?}");
    assert_eq!(declined.body["declineReason"], "Fully booked that week");
    assert_eq!(
        times_of(&db, session).await.0,
        t2,
        "a declined request moves nothing"
    );
    let decided = staff(
        &db,
        &w.admin_of_a(),
        Method::GET,
        "/reschedule-requests?status=declined",
        None,
    )
    .await;
    assert_eq!(decided.body["requests"][0]["id"], json!(second));
    staff(
        &db,
        &w.admin_of_a(),
        Method::GET,
        "/reschedule-requests?status=lost",
        None,
    )
    .await
    .assert_problem(400, "invalid_input");
}

/// An approval and a new booking race for the same time, many rounds: exactly one wins each
/// round, the loser gets a 409, and the clinician's calendar never overlaps.
#[tokio::test]
async fn a_reschedule_approval_racing_a_booking_for_the_same_time_lets_exactly_one_win() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let pia = w.patient_of_a();
    let rival = db.patient(w.clinic_a).await;
    let (mut approvals, mut holds) = (0, 0);
    for round in 0..12 {
        let session = booked(
            &db,
            w.clinic_a,
            w.therapist_a,
            w.patient_a,
            w.service_a,
            &format!("{} days", 2 + round),
        )
        .await;
        let target = at(&db, &format!("{} days 12 hours", 40 + round)).await;
        let asked = as_patient(
            &db,
            "alpha",
            &pia,
            Method::POST,
            &format!("/api/portal/appointments/{session}/reschedule-request"),
            Some(json!({"startTimes": [target]})),
        )
        .await;
        let request = asked.body["id"].as_str().unwrap().to_owned();
        let end: String = db
            .admin
            .query_one(
                "select app.iso($1::text::timestamptz + interval '50 minutes')",
                &[&target],
            )
            .await
            .unwrap()
            .get(0);
        let approve_path = format!("/reschedule-requests/{request}/approve");
        let admin = w.admin_of_a();
        let therapist = w.therapist_of_a();
        let body = slot(w.therapist_a, rival, &target, &end);
        let (approved, held) = tokio::join!(
            staff(
                &db,
                &admin,
                Method::POST,
                &approve_path,
                Some(json!({"startTime": target}))
            ),
            db.hold(&therapist, &body),
        );
        match (approved.status.as_u16(), held.status.as_u16()) {
            (200, 409) => {
                approvals += 1;
                held.assert_problem(409, "slot_unavailable");
            }
            (409, 200) => {
                holds += 1;
                approved.assert_problem(409, "slot_unavailable");
                assert_eq!(
                    db.count(
                        "select count(*) from app.reschedule_requests where id = $1::text::uuid and status = 'pending'",
                        &[&request]
                    )
                    .await,
                    1,
                    "a lost approval leaves the request pending"
                );
            }
            other => panic!("round {round}: {other:?}: {approved:?} {held:?}"),
        }
        let busy = db.occupied(w.therapist_a).await;
        for pair in busy.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "overlap: {pair:?}");
        }
    }
    assert_eq!(approvals + holds, 12);
}

/// Staff move a session: the same id at the new time, its confirmation cleared, the move
/// audited; a time taken (here, or by the same clinician in another clinic) is a 409 that
/// says nothing about the other clinic and changes nothing.
#[tokio::test]
async fn staff_reschedule_moves_a_session_atomically_and_never_onto_taken_time() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let session = booked(&db, w.clinic_a, w.both, w.patient_a, w.service_a, "3 days").await;
    db.admin
        .execute(
            "update app.sessions set confirmed_at = now() where id = $1",
            &[&session],
        )
        .await
        .unwrap();
    let elsewhere = booked(&db, w.clinic_b, w.both, w.patient_b, w.service_b, "4 days").await;
    let path = format!("/sessions/{session}/reschedule");
    let (t, t_end) = (at(&db, "5 days").await, at(&db, "5 days 1 hour").await);

    let moved = staff(
        &db,
        &w.both_at(w.clinic_a),
        Method::POST,
        &path,
        Some(json!({"start_time": t, "end_time": t_end})),
    )
    .await;
    assert_eq!(moved.status, 200, "{moved:?}");
    assert_eq!(moved.body["id"], json!(session));
    assert_eq!(moved.body["startTime"], json!(t));
    assert_eq!(moved.body["cptCode"], "90837", "recoded for 60 minutes");
    assert!(
        moved.body.get("confirmedAt").is_none(),
        "the patient confirms the new time"
    );
    assert_eq!(audited(&db, "session.reschedule", session).await, 1);

    // Onto the same clinician's session in clinic B: 409, nothing about B.
    let (b_start, b_end, _) = times_of(&db, elsewhere).await;
    let taken = staff(
        &db,
        &w.both_at(w.clinic_a),
        Method::POST,
        &path,
        Some(json!({"start_time": b_start, "end_time": b_end})),
    )
    .await;
    taken.assert_problem(409, "slot_unavailable");
    assert!(!taken.text.contains(&elsewhere.to_string()));
    assert!(!taken.text.contains(&w.clinic_b.to_string()));
    assert!(taken.body.get("retryAfterSeconds").is_none());
    assert_eq!(times_of(&db, session).await.0, t, "nothing moved");

    // A shift by half an hour overlaps only itself: allowed.
    let (half, half_end) = (
        at(&db, "5 days 30 minutes").await,
        at(&db, "5 days 90 minutes").await,
    );
    let shifted = staff(
        &db,
        &w.admin_of_a(),
        Method::POST,
        &path,
        Some(json!({"start_time": half, "end_time": half_end})),
    )
    .await;
    assert_eq!(shifted.status, 200, "{shifted:?}");
    let changed = notices(&db, "session.changed", "pia@test.example").await;
    assert_eq!(changed.len(), 2, "a notice per move: {changed:?}");
    assert_eq!(changed[1]["startsAt"], json!(half), "naming the new time");

    for (body, field) in [
        (json!({"start_time": t_end, "end_time": t}), "end_time"),
        (json!({"start_time": "soon", "end_time": t}), "start_time"),
        (json!({"start_time": t}), "end_time"),
    ] {
        let reply = staff(&db, &w.admin_of_a(), Method::POST, &path, Some(body)).await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field);
    }
    staff(
        &db,
        &w.admin_of_b(),
        Method::POST,
        &path,
        Some(json!({"start_time": t, "end_time": t_end})),
    )
    .await
    .assert_problem(404, "session_not_found");
    staff(
        &db,
        &w.therapist_of_a(),
        Method::POST,
        &path,
        Some(json!({"start_time": t, "end_time": t_end})),
    )
    .await
    .assert_problem(404, "session_not_found");
}

#[tokio::test]
async fn attendance_is_recorded_only_after_the_start_and_can_be_corrected() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let past = booked(
        &db,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        w.service_a,
        "-1 hour",
    )
    .await;
    let future = booked(
        &db,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        w.service_a,
        "1 day",
    )
    .await;
    let therapist = w.therapist_of_a();
    let mark = |id: Uuid, what: &str| format!("/sessions/{id}/{what}");

    staff(
        &db,
        &therapist,
        Method::POST,
        &mark(future, "complete"),
        None,
    )
    .await
    .assert_problem(409, "not_started");
    let done = staff(&db, &therapist, Method::POST, &mark(past, "complete"), None).await;
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(done.body["status"], "completed");
    let again = staff(&db, &therapist, Method::POST, &mark(past, "complete"), None).await;
    assert_eq!(again.body["status"], "completed");
    let corrected = staff(&db, &therapist, Method::POST, &mark(past, "no-show"), None).await;
    assert_eq!(corrected.body["status"], "no_show");
    assert_eq!(audited(&db, "session.complete", past).await, 1);
    assert_eq!(audited(&db, "session.no_show", past).await, 1);

    // The patient sees it as past, without notes; clinic B's admin sees nothing.
    let listed = as_patient(
        &db,
        "alpha",
        &w.patient_of_a(),
        Method::GET,
        "/api/portal/appointments?when=past",
        None,
    )
    .await;
    assert_eq!(listed.body["items"][0]["status"], "no_show", "{listed:?}");
    staff(
        &db,
        &w.admin_of_b(),
        Method::POST,
        &mark(past, "complete"),
        None,
    )
    .await
    .assert_problem(404, "session_not_found");
    staff(
        &db,
        &therapist,
        Method::POST,
        &mark(past, "complete"),
        Some(json!({})),
    )
    .await
    .assert_problem(400, "invalid_input");
    let cancelled = booked(
        &db,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        w.service_a,
        "-3 hours",
    )
    .await;
    db.admin
        .execute(
            "update app.sessions set status = 'cancelled', cancel_reason = 'x' where id = $1",
            &[&cancelled],
        )
        .await
        .unwrap();
    staff(
        &db,
        &therapist,
        Method::POST,
        &mark(cancelled, "no-show"),
        None,
    )
    .await
    .assert_problem(409, "not_attendable");
}

/// `GET /clients/{id}`: the patient and the sessions RLS shows the caller; a patient outside
/// the caller's reach is the 404 an unknown id is.
#[tokio::test]
async fn one_client_with_their_sessions_under_the_same_rls() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let mine = booked(
        &db,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        w.service_a,
        "2 days",
    )
    .await;
    let colleagues = booked(&db, w.clinic_a, w.both, w.patient_a, w.service_a, "3 days").await;
    let path = format!("/clients/{}", w.patient_a);

    let admin = staff(&db, &w.admin_of_a(), Method::GET, &path, None).await;
    assert_eq!(admin.status, 200, "{admin:?}");
    assert_eq!(admin.body["client"]["firstName"], "Pia");
    let ids = |reply: &Reply| -> Vec<Value> {
        reply.body["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].clone())
            .collect()
    };
    assert_eq!(
        ids(&admin),
        vec![json!(colleagues), json!(mine)],
        "newest first"
    );
    let therapist = staff(&db, &w.therapist_of_a(), Method::GET, &path, None).await;
    assert_eq!(
        ids(&therapist),
        vec![json!(mine)],
        "a clinician sees their own sessions"
    );

    staff(&db, &w.admin_of_b(), Method::GET, &path, None)
        .await
        .assert_problem(404, "patient_not_found");
    let outsider = db.admin
        .query_one(
            "insert into app.patients (org_id, first_name, last_name) values ($1, 'Nobody', 'Mine') returning id",
            &[&w.clinic_a],
        )
        .await
        .unwrap()
        .get::<_, Uuid>(0);
    staff(
        &db,
        &w.therapist_of_a(),
        Method::GET,
        &format!("/clients/{outsider}"),
        None,
    )
    .await
    .assert_problem(404, "patient_not_found");
    let as_patient = db
        .call(
            &schedule::FUNCTION,
            Method::GET,
            &path,
            Some(&db.token(&w.patient_of_a())),
            None,
        )
        .await;
    assert_eq!(as_patient.status, 403, "{as_patient:?}");
    staff(&db, &w.admin_of_a(), Method::GET, "/clients/x", None)
        .await
        .assert_problem(400, "invalid_input");
}

/// Joins `patient` to the waitlist of `clinician` for the next 30 days; the entry's id.
async fn join(db: &TestDb, w: &World, who: &Identity, clinician: Uuid) -> String {
    let (earliest, latest) = (at(db, "1 hour").await, at(db, "30 days").await);
    let slug = if who.org_id == Some(w.clinic_a) {
        "alpha"
    } else {
        "beta"
    };
    let joined = as_patient(
        db,
        slug,
        who,
        Method::POST,
        "/api/portal/waitlist",
        Some(json!({"clinicianId": clinician, "earliest": earliest, "latest": latest})),
    )
    .await;
    assert_eq!(joined.status, 201, "{joined:?}");
    joined.body["id"].as_str().unwrap().to_owned()
}

/// The offer of waitlist entry `entry`: `(session id, status)` of its hold, if any.
async fn offer_of(db: &TestDb, entry: &str) -> Option<(Uuid, String)> {
    db.admin
        .query_opt(
            "select id, status from app.sessions where waitlist_entry_id = $1::text::uuid",
            &[&entry],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
}

/// Freed time goes to the oldest waiting entry as a hold; 32 patients claiming at once (the
/// offered one twice) and a clinician holding the same time end with exactly one session,
/// the offered patient's.
#[tokio::test]
async fn thirty_two_patients_claiming_one_freed_slot_end_with_exactly_one_session() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let waiting = db.patients(w.clinic_a, 32).await;
    let mut entries = Vec::new();
    for id in &waiting {
        entries.push(join(&db, &w, &patient(*id, w.clinic_a), w.therapist_a).await);
    }
    let again = join(&db, &w, &patient(waiting[0], w.clinic_a), w.therapist_a).await;
    assert_eq!(again, entries[0], "joining twice is one entry");
    let session = booked(
        &db,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        w.service_a,
        "3 days",
    )
    .await;
    let (start, end, _) = times_of(&db, session).await;

    let cancelled = staff(
        &db,
        &w.therapist_of_a(),
        Method::POST,
        &format!("/sessions/{session}/cancel"),
        Some(json!({"reason": "Clinician unwell"})),
    )
    .await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    let (offer, status) = offer_of(&db, &entries[0])
        .await
        .expect("the oldest entry's offer");
    assert_eq!(status, "held");
    assert!(offer_of(&db, &entries[1]).await.is_none(), "one offer");
    let first = patient(waiting[0], w.clinic_a);
    let listed = as_patient(
        &db,
        "alpha",
        &first,
        Method::GET,
        "/api/portal/waitlist",
        None,
    )
    .await;
    assert_eq!(listed.body["entries"][0]["status"], "offered", "{listed:?}");
    assert_eq!(
        listed.body["entries"][0]["offer"]["startTime"],
        json!(start)
    );
    assert!(listed.body["entries"][0]["offer"]["expiresAt"].is_string());

    let claims = waiting.iter().zip(&entries).map(|(id, entry)| {
        let who = patient(*id, w.clinic_a);
        let db = &db;
        async move {
            as_patient(
                db,
                "alpha",
                &who,
                Method::POST,
                &format!("/api/portal/waitlist/{entry}/claim"),
                None,
            )
            .await
        }
    });
    let first_claim = format!("/api/portal/waitlist/{}/claim", entries[0]);
    let double = as_patient(&db, "alpha", &first, Method::POST, &first_claim, None);
    let rival = db.patient(w.clinic_a).await;
    let therapist = w.therapist_of_a();
    let rival_slot = slot(w.therapist_a, rival, &start, &end);
    let clinician_hold = db.hold(&therapist, &rival_slot);
    let (replies, doubled, held) = tokio::join!(join_all(claims), double, clinician_hold);

    let booked_replies: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(booked_replies.len(), 1, "{replies:?}");
    assert_eq!(booked_replies[0].body["id"], json!(offer));
    assert_eq!(booked_replies[0].body["status"], "scheduled");
    for reply in replies.iter().filter(|r| r.status != 200) {
        reply.assert_problem(409, "no_offer");
    }
    assert_eq!(
        doubled.status, 200,
        "a second claim returns the booking: {doubled:?}"
    );
    assert_eq!(doubled.body["id"], json!(offer));
    held.assert_problem(409, "slot_unavailable");
    assert_eq!(
        db.count(
            "select count(*) from app.sessions where clinician_id = $1 and status = 'scheduled'
               and starts_at = $2::text::timestamptz",
            &[&w.therapist_a, &start]
        )
        .await,
        1
    );
    let owner: Uuid = db
        .admin
        .query_one(
            "select patient_id from app.sessions where id = $1",
            &[&offer],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, waiting[0]);
    assert_eq!(audited(&db, "waitlist.claim", offer).await, 1);
    assert_eq!(db.first_broken_link(w.clinic_a).await, None);
}

/// An offer that lapses passes to the next entry (the sweep); one turned down (leaving the
/// waitlist) passes at once; another clinic's patient can do nothing with either.
#[tokio::test]
async fn an_unclaimed_offer_lapses_to_the_next_entry_and_leaving_passes_it_on() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let waiting = db.patients(w.clinic_a, 3).await;
    let mut entries = Vec::new();
    for id in &waiting {
        entries.push(join(&db, &w, &patient(*id, w.clinic_a), w.therapist_a).await);
    }
    let session = booked(
        &db,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        w.service_a,
        "2 days",
    )
    .await;
    let cancelled = as_patient(
        &db,
        "alpha",
        &w.patient_of_a(),
        Method::POST,
        &format!("/api/portal/appointments/{session}/cancel"),
        None,
    )
    .await;
    assert_eq!(
        cancelled.status, 200,
        "a patient's cancellation frees time too: {cancelled:?}"
    );
    let (first_offer, _) = offer_of(&db, &entries[0]).await.unwrap();

    // Clinic B's patient cannot claim or leave A's entry.
    let quinn = patient(w.patient_b, w.clinic_b);
    for (method, path) in [
        (
            Method::POST,
            format!("/api/portal/waitlist/{}/claim", entries[0]),
        ),
        (
            Method::DELETE,
            format!("/api/portal/waitlist/{}", entries[0]),
        ),
    ] {
        as_patient(&db, "beta", &quinn, method, &path, None)
            .await
            .assert_problem(404, "waitlist_entry_not_found");
    }

    // The offer lapses; the sweep passes the time to the second entry, whose patient hears
    // of it.
    db.admin
        .execute(
            "update app.patients set email = 'second@test.example' where id = $1",
            &[&waiting[1]],
        )
        .await
        .unwrap();
    db.admin
        .execute(
            "update app.sessions set hold_expires_at = now() - interval '1 second' where id = $1",
            &[&first_offer],
        )
        .await
        .unwrap();
    let first = patient(waiting[0], w.clinic_a);
    as_patient(
        &db,
        "alpha",
        &first,
        Method::POST,
        &format!("/api/portal/waitlist/{}/claim", entries[0]),
        None,
    )
    .await
    .assert_problem(409, "offer_expired");
    let report = hold_cleanup::sweep(&db.ctx, "sweep-1").await.unwrap();
    assert_eq!(report.offers_passed, 1, "{report:?}");
    let status: String = db
        .admin
        .query_one(
            "select status from app.waitlist_entries where id = $1::text::uuid",
            &[&entries[0]],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "passed");
    let (second_offer, held) = offer_of(&db, &entries[1]).await.expect("passed on");
    assert_eq!(held, "held");
    assert_eq!(
        times_of(&db, second_offer).await.0,
        times_of(&db, session).await.0
    );
    assert_eq!(
        notices(&db, "waitlist.offer", "second@test.example").await,
        vec![json!({"sessionId": second_offer, "startsAt": times_of(&db, session).await.0})]
    );
    assert_eq!(
        hold_cleanup::sweep(&db.ctx, "sweep-2")
            .await
            .unwrap()
            .offers_passed,
        0
    );

    // The second patient leaves: the offer goes to the third at once.
    let second = patient(waiting[1], w.clinic_a);
    let left = as_patient(
        &db,
        "alpha",
        &second,
        Method::DELETE,
        &format!("/api/portal/waitlist/{}", entries[1]),
        None,
    )
    .await;
    assert_eq!(left.status, 200, "{left:?}");
    assert_eq!(left.body["status"], "left");
    assert_eq!(offer_of(&db, &entries[1]).await.unwrap().1, "released");
    let (third_offer, _) = offer_of(&db, &entries[2]).await.expect("passed on again");
    let third = patient(waiting[2], w.clinic_a);
    let claimed = as_patient(
        &db,
        "alpha",
        &third,
        Method::POST,
        &format!("/api/portal/waitlist/{}/claim", entries[2]),
        None,
    )
    .await;
    assert_eq!(claimed.status, 200, "{claimed:?}");
    assert_eq!(claimed.body["id"], json!(third_offer));
    assert_eq!(claimed.body["service"]["id"], json!(w.service_a));
    let coded: (Option<String>, Option<i32>) = db
        .admin
        .query_one(
            "select cpt_code, cpt_units from app.sessions where id = $1",
            &[&third_offer],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(
        coded,
        (Some("90834".into()), Some(1)),
        "coded as a booking is"
    );
    assert_eq!(db.first_broken_link(w.clinic_a).await, None);
}

#[tokio::test]
async fn joining_the_waitlist_checks_the_clinician_and_the_window() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let pia = w.patient_of_a();
    let (earliest, latest) = (at(&db, "1 day").await, at(&db, "10 days").await);
    let post = |body: Value| {
        as_patient(
            &db,
            "alpha",
            &pia,
            Method::POST,
            "/api/portal/waitlist",
            Some(body),
        )
    };
    for (body, status, code, field) in [
        (
            json!({"clinicianId": w.therapist_b, "earliest": earliest, "latest": latest}),
            422,
            "clinician_inactive",
            "clinicianId",
        ),
        (
            json!({"clinicianId": w.admin_b, "earliest": earliest, "latest": latest}),
            422,
            "clinician_inactive",
            "clinicianId",
        ),
        (
            json!({"clinicianId": w.therapist_a, "earliest": latest, "latest": earliest}),
            400,
            "invalid_input",
            "latest",
        ),
        (
            json!({"clinicianId": w.therapist_a, "earliest": "2020-01-01T00:00:00Z", "latest": "2020-01-02T00:00:00Z"}),
            400,
            "invalid_input",
            "latest",
        ),
        (
            json!({"clinicianId": "x", "earliest": earliest, "latest": latest}),
            400,
            "invalid_input",
            "clinicianId",
        ),
    ] {
        let reply = post(body).await;
        reply.assert_problem(status, code);
        assert_eq!(reply.body["errors"][0]["field"], field, "{reply:?}");
    }
    let entry = join(&db, &w, &pia, w.both).await;
    let listed = as_patient(
        &db,
        "alpha",
        &pia,
        Method::GET,
        "/api/portal/waitlist",
        None,
    )
    .await;
    assert_eq!(listed.body["entries"][0]["id"], json!(entry));
    assert_eq!(listed.body["entries"][0]["status"], "waiting");
    let quinn = patient(w.patient_b, w.clinic_b);
    let theirs = as_patient(
        &db,
        "beta",
        &quinn,
        Method::GET,
        "/api/portal/waitlist",
        None,
    )
    .await;
    assert_eq!(theirs.body["entries"], json!([]));
    as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &format!("/api/portal/waitlist/{entry}/claim"),
        None,
    )
    .await
    .assert_problem(409, "no_offer");
}

/// Two sessions of one clinician cancelled at the same moment: two offers, to the two oldest
/// entries, one each (an entry being offered one slot is skipped by the other offer).
#[tokio::test]
async fn two_slots_freed_at_once_go_to_two_different_entries() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let waiting = db.patients(w.clinic_a, 3).await;
    let mut entries = Vec::new();
    for id in &waiting {
        entries.push(join(&db, &w, &patient(*id, w.clinic_a), w.therapist_a).await);
    }
    let booked_by = db.patients(w.clinic_a, 2).await;
    let first = booked(
        &db,
        w.clinic_a,
        w.therapist_a,
        booked_by[0],
        w.service_a,
        "2 days",
    )
    .await;
    let second = booked(
        &db,
        w.clinic_a,
        w.therapist_a,
        booked_by[1],
        w.service_a,
        "3 days",
    )
    .await;
    let (admin, therapist) = (w.admin_of_a(), w.therapist_of_a());
    let reason = Some(json!({"reason": "Clinic closed"}));
    let (path_a, path_b) = (
        format!("/sessions/{first}/cancel"),
        format!("/sessions/{second}/cancel"),
    );
    let (a, b) = tokio::join!(
        staff(&db, &admin, Method::POST, &path_a, reason.clone()),
        staff(&db, &therapist, Method::POST, &path_b, reason.clone()),
    );
    assert_eq!(
        (a.status.as_u16(), b.status.as_u16()),
        (200, 200),
        "{a:?} {b:?}"
    );
    let offered: Vec<Option<(Uuid, String)>> =
        join_all(entries.iter().map(|e| offer_of(&db, e))).await;
    assert!(offered[0].is_some() && offered[1].is_some(), "{offered:?}");
    assert!(offered[2].is_none(), "{offered:?}");
    let mut starts = Vec::new();
    for (session, _) in offered.iter().flatten() {
        starts.push(times_of(&db, *session).await.0);
    }
    starts.sort();
    let mut freed = vec![times_of(&db, first).await.0, times_of(&db, second).await.0];
    freed.sort();
    assert_eq!(starts, freed, "each freed slot offered once");
}

/// Once the clinician publishes hours, a move keeps to them as a hold does: a 422 outside
/// them (an approval too, and the request stays pending), an admin's override allowed, a
/// clinician's refused.
#[tokio::test]
async fn moves_keep_to_the_clinicians_published_hours_unless_an_admin_overrides() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    db.admin
        .execute(
            "insert into app.availability_hours (org_id, clinician_id, weekday, starts, ends)
             select $1, $2, d, '09:00', '17:00' from generate_series(1, 7) d",
            &[&w.clinic_a, &w.therapist_a],
        )
        .await
        .unwrap();
    let session = booked(
        &db,
        w.clinic_a,
        w.therapist_a,
        w.patient_a,
        w.service_a,
        "3 days",
    )
    .await;
    let path = format!("/sessions/{session}/reschedule");
    let day = at(&db, "5 days").await[..10].to_owned();
    let (evening, evening_end) = (format!("{day}T20:00:00Z"), format!("{day}T20:50:00Z"));
    let body = |override_hours: bool| json!({"start_time": evening, "end_time": evening_end, "outside_hours": override_hours});

    let outside = staff(
        &db,
        &w.therapist_of_a(),
        Method::POST,
        &path,
        Some(body(false)),
    )
    .await;
    outside.assert_problem(422, "outside_hours");
    assert_eq!(outside.body["errors"][0]["field"], "start_time");
    staff(
        &db,
        &w.therapist_of_a(),
        Method::POST,
        &path,
        Some(body(true)),
    )
    .await
    .assert_problem(403, "forbidden");
    let asked = as_patient(
        &db,
        "alpha",
        &w.patient_of_a(),
        Method::POST,
        &format!("/api/portal/appointments/{session}/reschedule-request"),
        Some(json!({"startTimes": [evening]})),
    )
    .await;
    let request = asked.body["id"].as_str().unwrap().to_owned();
    let refused = staff(
        &db,
        &w.admin_of_a(),
        Method::POST,
        &format!("/reschedule-requests/{request}/approve"),
        Some(json!({"startTime": evening})),
    )
    .await;
    refused.assert_problem(422, "outside_hours");
    assert_eq!(refused.body["errors"][0]["field"], "startTime");
    let overridden = staff(&db, &w.admin_of_a(), Method::POST, &path, Some(body(true))).await;
    assert_eq!(overridden.status, 200, "{overridden:?}");
    assert_eq!(overridden.body["startTime"], json!(evening));
}
