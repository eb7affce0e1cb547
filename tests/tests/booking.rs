//! Holding and confirming through the functions: the happy path, every 400, idempotency,
//! expiry, and CPT coding by code family.

use futures::future::join_all;
use http::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::http::Function;
use wardline_shared::{sealed::Keyring, Context};
use wardline_tests::{
    booking::{hold_on, key, slot},
    send, Reply, TestDb, World,
};

#[tokio::test]
async fn hold_confirm_and_read_back() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let me = w.therapist_of_a();
    let held = db
        .held(
            &me,
            &slot(
                w.therapist_a,
                w.patient_a,
                "2027-03-02T15:00:00Z",
                "2027-03-02T15:50:00Z",
            ),
        )
        .await;
    assert_eq!(held["holds"].as_array().unwrap().len(), 1);
    assert_eq!(held["holds"][0]["startTime"], "2027-03-02T15:00:00Z");
    let confirmed = db.confirm(&me, &held["holdKey"], w.service_a).await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let session = &confirmed.body["sessions"][0];
    assert_eq!(session["status"], "scheduled");
    // 50 minutes on a 90837 service is billed as what 50 minutes is: one unit of 90834.
    assert_eq!(session["cptCode"], "90834");
    assert_eq!(session["cptUnits"], 1);
    let schedule = db
        .schedule(&me, "from=2027-03-01T00:00:00Z&to=2027-03-08T00:00:00Z")
        .await;
    assert_eq!(schedule.status, 200, "{schedule:?}");
    assert_eq!(schedule.body["sessions"][0]["id"], session["id"]);

    let id = session["id"].as_str().unwrap();
    let saved = db
        .on_session(
            &me,
            Method::PUT,
            id,
            "notes",
            &json!({"notes": "Slept better."}),
        )
        .await;
    assert_eq!(saved.status, 200, "{saved:?}");
    let schedule = db
        .schedule(&me, "from=2027-03-01T00:00:00Z&to=2027-03-08T00:00:00Z")
        .await;
    assert_eq!(schedule.body["sessions"][0]["notes"], "Slept better.");
    let cancelled = db
        .on_session(
            &me,
            Method::POST,
            id,
            "cancel",
            &json!({"reason": "Unwell"}),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    assert_eq!(cancelled.body["status"], "cancelled");
}

/// Rows of one hold group (as the superuser).
async fn group_rows(db: &TestDb, hold_key: &Value) -> i64 {
    let key: Uuid = hold_key.as_str().unwrap().parse().unwrap();
    db.count(
        "select count(*) from app.sessions where hold_group = $1",
        &[&key],
    )
    .await
}

#[tokio::test]
async fn a_weekly_series_whose_7th_occurrence_clashes_holds_nothing_and_names_it() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let me = w.therapist_of_a();
    // Week 7 of a series starting Tuesday 2 March 2027 is 13 April; book that hour first.
    db.held(
        &me,
        &slot(
            w.therapist_a,
            w.patient_a,
            "2027-04-13T10:30:00-04:00",
            "2027-04-13T11:00:00-04:00",
        ),
    )
    .await;
    let other = db.patient(w.clinic_a).await;
    let mut series = slot(w.therapist_a, other, "2027-03-02T10:00", "2027-03-02T10:50");
    series["recurrence"] = json!({"rrule": "FREQ=WEEKLY;BYDAY=TU", "count": 10,
                                  "time_zone": "America/New_York"});
    let reply = db.hold(&me, &series).await;
    reply.assert_problem(409, "slot_unavailable");
    let conflicts = reply.body["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{reply:?}");
    assert_eq!(conflicts[0]["occurrence"], 7);
    assert_eq!(conflicts[0]["startTime"], "2027-04-13T14:00:00Z");
    assert_eq!(conflicts[0]["reason"], "clinician_busy");
    let held = db
        .count(
            "select count(*) from app.sessions where patient_id = $1",
            &[&other],
        )
        .await;
    assert_eq!(held, 0, "all or nothing");
}

#[tokio::test]
async fn a_weekly_new_york_series_stays_at_10_local_and_02_30_becomes_03_30() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let me = w.therapist_of_a();
    let mut series = slot(
        w.therapist_a,
        w.patient_a,
        "2027-03-02T10:00",
        "2027-03-02T10:50",
    );
    series["time_zone"] = json!("America/New_York");
    series["recurrence"] = json!({"rrule": "FREQ=WEEKLY;BYDAY=TU", "until": "2027-11-16"});
    let held = db.held(&me, &series).await;
    let holds = held["holds"].as_array().unwrap();
    assert_eq!(holds.len(), 38);
    assert_eq!(group_rows(&db, &held["holdKey"]).await, 38);
    // EST (UTC-5) before 14 March, EDT (UTC-4) until 7 November, EST again after.
    assert_eq!(holds[0]["startTime"], "2027-03-02T15:00:00Z");
    assert_eq!(holds[1]["startTime"], "2027-03-09T15:00:00Z");
    assert_eq!(holds[2]["startTime"], "2027-03-16T14:00:00Z");
    assert_eq!(holds[35]["startTime"], "2027-11-02T14:00:00Z");
    assert_eq!(holds[36]["startTime"], "2027-11-09T15:00:00Z");
    assert_eq!(holds[36]["endTime"], "2027-11-09T15:50:00Z");
    let local_hours: Vec<String> = db
        .admin
        .query(
            "select to_char(lower(during) at time zone 'America/New_York', 'HH24:MI')
             from app.sessions where hold_group = $1",
            &[&held["holdKey"].as_str().unwrap().parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(local_hours.iter().all(|h| h == "10:00"), "{local_hours:?}");

    let mut gap = slot(
        w.therapist_a,
        w.patient_a,
        "2027-03-14T02:30",
        "2027-03-14T03:45",
    );
    gap["time_zone"] = json!("America/New_York");
    let held = db.held(&me, &gap).await;
    // 02:30 does not exist that night: it is read as 02:30 EST = 03:30 EDT = 07:30 UTC.
    assert_eq!(held["holds"][0]["startTime"], "2027-03-14T07:30:00Z");
    assert_eq!(held["holds"][0]["endTime"], "2027-03-14T07:45:00Z");
}

#[tokio::test]
async fn without_a_zone_the_clinics_is_used() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    db.admin
        .execute(
            "update app.clinics set time_zone = 'Europe/Berlin' where id = $1",
            &[&w.clinic_a],
        )
        .await
        .unwrap();
    let held = db
        .held(
            &w.therapist_of_a(),
            &slot(
                w.therapist_a,
                w.patient_a,
                "2027-07-01T09:00",
                "2027-07-01T10:00",
            ),
        )
        .await;
    assert_eq!(held["holds"][0]["startTime"], "2027-07-01T07:00:00Z");
}

#[tokio::test]
async fn idempotency_replays_refuses_a_changed_body_and_serialises_concurrent_retries() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let me = w.therapist_of_a();
    let token = db.token(&me);
    let body = slot(
        w.therapist_a,
        w.patient_a,
        "2027-06-01T09:00:00Z",
        "2027-06-01T10:00:00Z",
    );
    let k = key();
    let first = hold_on(&db.ctx, &token, &body, &k).await;
    assert_eq!(first.status, 200, "{first:?}");
    let again = hold_on(&db.ctx, &token, &body, &k).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body, first.body, "a replay answers exactly the same");
    assert_eq!(group_rows(&db, &first.body["holdKey"]).await, 1);

    let mut changed = body.clone();
    changed["end_time"] = json!("2027-06-01T10:30:00Z");
    hold_on(&db.ctx, &token, &changed, &k)
        .await
        .assert_problem(422, "idempotency_key_reused");

    // The same key is scoped to its caller: another clinician's use of it is unrelated.
    let admin = db.token(&w.admin_of_a());
    let other = slot(
        w.admin_a,
        w.patient_a,
        "2027-06-02T09:00:00Z",
        "2027-06-02T10:00:00Z",
    );
    assert_eq!(hold_on(&db.ctx, &admin, &other, &k).await.status, 200);

    // Eight concurrent requests with one new key: one does the work, the rest wait and replay.
    let ctx = Context::new(db.config(|c| c.db.pool_size = 8)).unwrap();
    let k = key();
    let body = slot(
        w.therapist_a,
        w.patient_a,
        "2027-06-03T09:00:00Z",
        "2027-06-03T10:00:00Z",
    );
    let replies = join_all((0..8).map(|_| hold_on(&ctx, &token, &body, &k))).await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body, replies[0].body);
    }
    assert_eq!(group_rows(&db, &replies[0].body["holdKey"]).await, 1);

    // A retried confirmation books one set of sessions and answers the same.
    let confirm =
        json!({"holdKey": replies[0].body["holdKey"], "session": {"serviceId": w.service_a}});
    let k = key();
    let booked = join_all((0..4).map(|_| db.confirm_with_key(&me, &confirm, &k))).await;
    for reply in &booked {
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body, booked[0].body);
    }
    assert_eq!(scheduled(&db).await, 1);

    // No key, or a bad one: 400 naming the header.
    for bad in [None, Some(""), Some("naïve key")] {
        let headers: Vec<(&str, &str)> = bad.map(|v| ("idempotency-key", v)).into_iter().collect();
        let reply = send(
            &db.ctx,
            &sessions_hold::FUNCTION,
            Method::POST,
            "/sessions-hold",
            Some(&token),
            &headers,
            Some(&body.to_string()),
        )
        .await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], "Idempotency-Key");
    }
}

#[tokio::test]
async fn an_expired_hold_blocks_nobody_and_cannot_be_confirmed() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let me = w.therapist_of_a();
    let body = slot(
        w.therapist_a,
        w.patient_a,
        "2027-06-01T09:00:00Z",
        "2027-06-01T10:00:00Z",
    );
    let first = db.held(&me, &body).await;
    // Time passes: the hold's expiry is behind us (the sweeper has not run).
    db.admin
        .execute(
            "update app.sessions set hold_expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let second = db.held(&me, &body).await;
    assert_ne!(second["holdKey"], first["holdKey"]);
    db.confirm(&me, &first["holdKey"], w.service_a)
        .await
        .assert_problem(409, "hold_expired");
    assert_eq!(
        db.confirm(&me, &second["holdKey"], w.service_a)
            .await
            .status,
        200
    );
    // Confirming again (a new key) finds nothing left to confirm.
    db.confirm(&me, &second["holdKey"], w.service_a)
        .await
        .assert_problem(409, "hold_expired");
    // A released hold cannot be confirmed either, and releasing is idempotent.
    let third = db
        .held(
            &me,
            &slot(
                w.therapist_a,
                w.patient_a,
                "2027-06-02T09:00:00Z",
                "2027-06-02T10:00:00Z",
            ),
        )
        .await;
    let k = third["holdKey"].as_str().unwrap();
    let released = db.release(&me, k).await;
    assert_eq!(released.body["released"], 1, "{released:?}");
    assert_eq!(db.release(&me, k).await.body["released"], 0);
    db.confirm(&me, &third["holdKey"], w.service_a)
        .await
        .assert_problem(409, "hold_expired");
    db.release(&me, &Uuid::new_v4().to_string())
        .await
        .assert_problem(404, "hold_not_found");
}

#[tokio::test]
async fn a_dropped_connection_between_hold_and_confirm_books_nothing() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let me = w.therapist_of_a();
    let held = db
        .held(
            &me,
            &slot(
                w.therapist_a,
                w.patient_a,
                "2027-06-01T09:00:00Z",
                "2027-06-01T10:00:00Z",
            ),
        )
        .await;
    // The confirmation starts, then its connection dies before COMMIT.
    let client = db.authenticator().await;
    client.batch_execute("begin").await.unwrap();
    let input = json!({"idempotencyKey": "crash", "items": [
        {"holdKey": held["holdKey"], "serviceId": w.service_a, "field": ""}]});
    let answer: Value = client
        .query_one(
            "select api.confirm_booking($1, $2)",
            &[&wardline_tests::claims_json(&me), &input],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(answer["sessions"][0]["status"], "scheduled");
    drop(client);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let statuses: Vec<String> = db
        .admin
        .query("select status from app.sessions", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        statuses,
        ["held"],
        "nothing booked; the hold will simply expire"
    );
    // And the retry with the same key works: the crashed attempt left no record behind.
    let body = json!({"holdKey": held["holdKey"], "session": {"serviceId": w.service_a}});
    assert_eq!(db.confirm_with_key(&me, &body, "crash").await.status, 200);
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let me = w.therapist_of_a();
    let base = || {
        slot(
            w.therapist_a,
            w.patient_a,
            "2027-06-01T09:00:00Z",
            "2027-06-01T10:00:00Z",
        )
    };
    let with = |name: &str, value: Value| {
        let mut body = base();
        body[name] = value;
        body
    };
    let occurrences: Vec<Value> = (1..200)
        .map(|d| json!({"start_time": format!("2027-07-01T09:00:00Z"), "end_time": format!("2027-07-01T10:00:00Z"), "n": d}))
        .collect();
    let cases = [
        (with("end_time", json!("2027-06-01T08:00:00Z")), "end_time"),
        (with("end_time", json!("2027-06-01T09:00:00Z")), "end_time"),
        (with("end_time", json!("2027-06-01T21:00:01Z")), "end_time"),
        (with("time_zone", json!("Atlantis/Capital")), "time_zone"),
        (with("therapist_id", json!("not-a-uuid")), "therapist_id"),
        (with("client_id", json!("1234")), "client_id"),
        (with("session_id", json!("x")), "session_id"),
        (with("hold_seconds", json!(29)), "hold_seconds"),
        (with("hold_seconds", json!(901)), "hold_seconds"),
        (with("occurrences", json!(occurrences)), "occurrences[0].n"),
        (
            with(
                "occurrences",
                json!(vec![
                    json!({"start_time": "2027-07-01T09:00:00Z", "end_time": "2027-07-01T10:00:00Z"});
                    200
                ]),
            ),
            "occurrences",
        ),
        (
            with("recurrence", json!({"rrule": "FREQ=DAILY", "count": 201})),
            "recurrence",
        ),
        (with("surprise", json!(1)), "surprise"),
    ];
    for (body, field) in cases {
        let reply = db.hold(&me, &body).await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(
            reply.body["errors"][0]["field"], field,
            "{body} → {reply:?}"
        );
    }
    let malformed = send(
        &db.ctx,
        &sessions_hold::FUNCTION,
        Method::POST,
        "/sessions-hold",
        Some(&db.token(&me)),
        &[("idempotency-key", "k")],
        Some("{\"therapist_id\": "),
    )
    .await;
    malformed.assert_problem(400, "invalid_input");
    assert_eq!(malformed.body["errors"][0]["field"], "body");
    let huge = format!("{{\"therapist_id\": \"{}\"}}", "x".repeat(70_000));
    let reply = send(
        &db.ctx,
        &sessions_hold::FUNCTION,
        Method::POST,
        "/sessions-hold",
        Some(&db.token(&me)),
        &[("idempotency-key", "k")],
        Some(&huge),
    )
    .await;
    reply.assert_problem(413, "payload_too_large");
    let confirm = db
        .confirm_with_key(
            &me,
            &json!({"holdKey": "nope", "session": {"serviceId": w.service_a}}),
            "k",
        )
        .await;
    confirm.assert_problem(400, "invalid_input");
    assert_eq!(confirm.body["errors"][0]["field"], "holdKey");
    let window = db
        .schedule(&me, "from=2027-06-01T00:00:00Z&to=2027-05-01T00:00:00Z")
        .await;
    window.assert_problem(400, "invalid_input");
    assert_eq!(window.body["errors"][0]["field"], "to");
    // No database work happened for any of them.
    let rows = db.count("select count(*) from app.sessions", &[]).await;
    assert_eq!(rows, 0);
}

/// A service of clinic A with CPT code `code` (as the superuser).
async fn service_of_a(db: &TestDb, w: &World, code: &str) -> Uuid {
    db.admin
        .query_one(
            "insert into app.services (org_id, name, cpt_code) values ($1, $2, $2) returning id",
            &[&w.clinic_a, &code],
        )
        .await
        .unwrap()
        .get(0)
}

/// Holds `body` as Alpha's therapist, confirms it as `service`, and returns the booked
/// session's `(cptCode, cptUnits)` as answered, after checking that the row says the same.
async fn coded(db: &TestDb, w: &World, body: &Value, service: Uuid) -> (Value, Value) {
    let me = w.therapist_of_a();
    let held = db.held(&me, body).await;
    let booked = db.confirm(&me, &held["holdKey"], service).await;
    assert_eq!(booked.status, 200, "{booked:?}");
    let session = &booked.body["sessions"][0];
    let id: Uuid = session["id"].as_str().unwrap().parse().unwrap();
    let row = db
        .admin
        .query_one(
            "select cpt_code, cpt_units from app.sessions where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let (code, units): (Option<String>, Option<i32>) = (row.get(0), row.get(1));
    assert_eq!(
        (json!(code), json!(units)),
        (session["cptCode"].clone(), session["cptUnits"].clone())
    );
    (session["cptCode"].clone(), session["cptUnits"].clone())
}

/// CPT by code family (issue 17, item 5): a 15-minute unit code counts units by the 8-minute
/// rule; a psychotherapy code is one unit of the code the real minutes fit (90832 16–37,
/// 90834 38–52, 90837 53 or more), whichever of the three the service names, and under 16
/// minutes 0 units of the service's code; an untimed code is one unit; an unlisted code has
/// no units.
#[tokio::test]
async fn cpt_coding_follows_the_codes_family_at_every_boundary() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let minutes = [7, 8, 15, 16, 22, 23, 37, 38, 52, 53];
    let aba = [0, 1, 1, 1, 1, 2, 2, 3, 3, 4];
    let psychotherapy = [
        None,
        None,
        None,
        Some("90832"),
        Some("90832"),
        Some("90832"),
        Some("90832"),
        Some("90834"),
        Some("90834"),
        Some("90837"),
    ];
    let services = [
        ("97153", service_of_a(&db, &w, "97153").await),
        ("90832", service_of_a(&db, &w, "90832").await),
        ("90834", service_of_a(&db, &w, "90834").await),
        ("90837", w.service_a),
        ("90791", service_of_a(&db, &w, "90791").await),
        ("99213", service_of_a(&db, &w, "99213").await),
    ];
    for (day, &length) in minutes.iter().enumerate() {
        for (hour, &(code, service)) in services.iter().enumerate() {
            let start = format!("2027-06-{:02}T{:02}:00:00Z", day + 1, hour + 8);
            let end = format!("2027-06-{:02}T{:02}:{length:02}:00Z", day + 1, hour + 8);
            let body = slot(w.therapist_a, w.patient_a, &start, &end);
            let got = coded(&db, &w, &body, service).await;
            let want = match code {
                "97153" => (json!("97153"), json!(aba[day])),
                "90791" => (json!("90791"), json!(1)),
                "99213" => (json!("99213"), Value::Null),
                _ => match psychotherapy[day] {
                    Some(fits) => (json!(fits), json!(1)),
                    None => (json!(code), json!(0)),
                },
            };
            assert_eq!(got, want, "{length} minutes on {code}");
        }
    }
}

/// The minutes are the session's real (UTC) length, not its wall-clock length, across both
/// DST nights in New York.
#[tokio::test]
async fn cpt_coding_counts_real_minutes_across_dst_nights() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let aba = service_of_a(&db, &w, "97153").await;
    let night = |start: &str, end: &str| {
        let mut body = slot(w.therapist_a, w.patient_a, start, end);
        body["time_zone"] = json!("America/New_York");
        body
    };
    // Spring forward (14 March 2027): 01:40–03:10 on the clock is 30 real minutes, 90832
    // (the clock's 90 would be 90837).
    let got = coded(
        &db,
        &w,
        &night("2027-03-14T01:40", "2027-03-14T03:10"),
        w.service_a,
    )
    .await;
    assert_eq!(got, (json!("90832"), json!(1)));
    // Spring forward (12 March 2028): 01:30–03:30 is one real hour, 4 units (not 8).
    let got = coded(&db, &w, &night("2028-03-12T01:30", "2028-03-12T03:30"), aba).await;
    assert_eq!(got, (json!("97153"), json!(4)));
    // Fall back (7 November 2027): 01:30 (EDT, the first) to 02:00 (EST) is 30 minutes on the
    // clock and 90 real ones, 90837 (not 90832).
    let got = coded(
        &db,
        &w,
        &night("2027-11-07T01:30", "2027-11-07T02:00"),
        w.service_a,
    )
    .await;
    assert_eq!(got, (json!("90837"), json!(1)));
    // Fall back (5 November 2028): 01:00–02:00 is two real hours, 8 units (not 4).
    let got = coded(&db, &w, &night("2028-11-05T01:00", "2028-11-05T02:00"), aba).await;
    assert_eq!(got, (json!("97153"), json!(8)));
}

#[tokio::test]
async fn every_change_writes_an_audit_event_without_content() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let me = w.therapist_of_a();
    let id = db
        .book(
            &me,
            w.therapist_a,
            w.patient_a,
            ("2027-06-01T09:00:00Z", "2027-06-01T10:00:00Z"),
            w.service_a,
        )
        .await;
    db.on_session(
        &me,
        Method::PUT,
        &id,
        "notes",
        &json!({"notes": "Private words"}),
    )
    .await;
    db.on_session(
        &me,
        Method::POST,
        &id,
        "cancel",
        &json!({"reason": "Unwell"}),
    )
    .await;
    let other = db
        .held(
            &me,
            &slot(
                w.therapist_a,
                w.patient_a,
                "2027-06-02T09:00:00Z",
                "2027-06-02T10:00:00Z",
            ),
        )
        .await;
    db.release(&me, other["holdKey"].as_str().unwrap()).await;
    db.admin
        .execute(
            "update app.sessions set hold_expires_at = now() - interval '1 minute' where status = 'held'",
            &[],
        )
        .await
        .unwrap();
    let third = db
        .held(
            &me,
            &slot(
                w.therapist_a,
                w.patient_a,
                "2027-06-03T09:00:00Z",
                "2027-06-03T10:00:00Z",
            ),
        )
        .await;
    assert!(third["holdKey"].is_string());
    db.admin
        .execute(
            "update app.sessions set hold_expires_at = now() - interval '1 minute' where status = 'held'",
            &[],
        )
        .await
        .unwrap();
    let swept = hold_cleanup::sweep(&db.ctx, "sweep-test").await.unwrap();
    assert_eq!(swept.holds_expired, 1);

    let events: Vec<(String, Option<Uuid>, Option<String>, String)> = db
        .admin
        .query(
            "select action, actor_id, target_id, detail::text from audit.events order by id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let actions: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        actions,
        [
            "session.hold",
            "session.confirm",
            "session.notes.update",
            "session.cancel",
            "session.hold",
            "session.hold.release",
            "session.hold",
            "holds.sweep"
        ]
    );
    assert!(events[..7].iter().all(|e| e.1 == Some(w.therapist_a)));
    assert_eq!(events[2].2.as_deref(), Some(id.as_str()));
    assert!(events
        .iter()
        .all(|e| !e.3.contains("Private") && !e.3.contains("Unwell")));
    assert_eq!(db.first_broken_link(w.clinic_a).await, None);
}

#[tokio::test]
async fn a_group_stays_confirmable_after_one_occurrence_is_released() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let me = w.therapist_of_a();
    let mut series = slot(
        w.therapist_a,
        w.patient_a,
        "2027-06-01T09:00:00Z",
        "2027-06-01T10:00:00Z",
    );
    series["recurrence"] = json!({"rrule": "FREQ=DAILY", "count": 3});
    let held = db.held(&me, &series).await;
    let second = held["holds"][1]["holdKey"].as_str().unwrap();
    assert_eq!(db.release(&me, second).await.body["released"], 1);
    let booked = db.confirm(&me, &held["holdKey"], w.service_a).await;
    assert_eq!(booked.status, 200, "{booked:?}");
    let starts: Vec<&str> = booked.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["startTime"].as_str().unwrap())
        .collect();
    assert_eq!(starts, ["2027-06-01T09:00:00Z", "2027-06-03T09:00:00Z"]);
    // Nothing of the group is left to confirm now.
    db.confirm(&me, &held["holdKey"], w.service_a)
        .await
        .assert_problem(409, "hold_expired");
}

#[tokio::test]
async fn dates_and_text_outside_what_people_write_are_400s() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let me = w.therapist_of_a();
    let reply = db
        .schedule(&me, "from=0000-01-01T00:00:00Z&to=0000-02-01T00:00:00Z")
        .await;
    reply.assert_problem(400, "invalid_input");
    assert_eq!(reply.body["errors"][0]["field"], "from");
    let id = db
        .book(
            &me,
            w.therapist_a,
            w.patient_a,
            ("2027-06-01T09:00:00Z", "2027-06-01T10:00:00Z"),
            w.service_a,
        )
        .await;
    let reply = db
        .on_session(
            &me,
            Method::POST,
            &id,
            "cancel",
            &json!({"reason": "a\u{0}b"}),
        )
        .await;
    reply.assert_problem(400, "invalid_input");
    assert_eq!(reply.body["errors"][0]["field"], "reason");
}

/// The seed web client's `POST /sessions-hold` body, byte for byte: `occurrences` lists every
/// slot, the primary first; wall-clock times with offsets in minutes east of UTC.
fn seed_hold(w: &World, days: &[u32], offset: i32) -> String {
    let times = |day: u32| {
        format!(
            r#""start_time":"2027-03-{day:02}T10:00:00","end_time":"2027-03-{day:02}T10:50:00","start_time_offset_minutes":{offset},"end_time_offset_minutes":{offset}"#
        )
    };
    let occurrences: Vec<String> = days.iter().map(|&d| format!("{{{}}}", times(d))).collect();
    format!(
        r#"{{"therapist_id":"{}","client_id":"{}",{},"session_id":null,"hold_seconds":300,"time_zone":"America/New_York","occurrences":[{}]}}"#,
        w.therapist_a,
        w.patient_a,
        times(days[0]),
        occurrences.join(",")
    )
}

/// The seed web client's `POST /sessions-confirm` body, byte for byte: the group's key with
/// the primary's session row, then each occurrence's own key with its row; `therapist` is the
/// row's `therapist_id`.
fn seed_confirm(w: &World, therapist: Uuid, held: &Value, offset: i32) -> String {
    let item = |key: &Value, day: &str| {
        format!(
            r#""holdKey":{key},"session":{{"therapist_id":"{therapist}","client_id":"{}","start_time":"{day}T10:00:00","end_time":"{day}T10:50:00","service_id":"{}","status":"scheduled","notes":null}},"startTimeOffsetMinutes":{offset},"endTimeOffsetMinutes":{offset},"timeZone":"America/New_York""#,
            w.patient_a, w.service_a
        )
    };
    let holds = held["holds"].as_array().unwrap();
    // Every slot here is in the morning in New York: its UTC date is its local date.
    let day = |h: &Value| h["startTime"].as_str().unwrap()[..10].to_owned();
    let occurrences: Vec<String> = holds
        .iter()
        .map(|h| format!("{{{}}}", item(&h["holdKey"], &day(h))))
        .collect();
    format!(
        r#"{{{},"occurrences":[{}]}}"#,
        item(&held["holdKey"], &day(&holds[0])),
        occurrences.join(",")
    )
}

/// `POST path` of `function` as Alpha (clinic A's therapist) with `body` exactly as given.
async fn post_raw(db: &TestDb, w: &World, function: &Function, path: &str, body: &str) -> Reply {
    let token = db.token(&w.therapist_of_a());
    send(
        &db.ctx,
        function,
        Method::POST,
        path,
        Some(&token),
        &[("idempotency-key", &key())],
        Some(body),
    )
    .await
}

#[tokio::test]
async fn the_seed_clients_hold_and_confirmation_are_accepted_as_sent() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    // A series of two (2 and 9 March, both EST), then a single booking (16 March, EDT).
    for (days, offset) in [(&[2, 9][..], -300), (&[16][..], -240)] {
        let hold = seed_hold(&w, days, offset);
        let held = post_raw(&db, &w, &sessions_hold::FUNCTION, "/sessions-hold", &hold).await;
        println!("seed hold {hold}\n→ {} {}", held.status, held.text);
        assert_eq!(held.status, 200, "{held:?}");
        let holds = held.body["holds"].as_array().unwrap();
        assert_eq!(holds.len(), days.len(), "{held:?}");
        let hours = if offset == -300 { 15 } else { 14 };
        for (h, day) in holds.iter().zip(days) {
            assert_eq!(h["startTime"], format!("2027-03-{day:02}T{hours}:00:00Z"));
        }
        let confirm = seed_confirm(&w, w.therapist_a, &held.body, offset);
        let booked = post_raw(
            &db,
            &w,
            &confirm_booking::FUNCTION,
            "/sessions-confirm",
            &confirm,
        )
        .await;
        println!(
            "seed confirm {confirm}\n→ {} {}",
            booked.status, booked.text
        );
        assert_eq!(booked.status, 200, "{booked:?}");
        assert_eq!(
            booked.body["sessions"].as_array().unwrap().len(),
            days.len()
        );
    }
    let booked = db
        .count(
            "select count(*) from app.sessions where clinician_id = $1 and status = 'scheduled'
             and service_id is not null",
            &[&w.therapist_a],
        )
        .await;
    assert_eq!(booked, 3);
}

#[tokio::test]
async fn an_offset_that_contradicts_the_time_zone_is_a_422_naming_it() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    // Minutes west (JavaScript's getTimezoneOffset) instead of east: New York is not +300.
    let wrong = post_raw(
        &db,
        &w,
        &sessions_hold::FUNCTION,
        "/sessions-hold",
        &seed_hold(&w, &[2], 300),
    )
    .await;
    wrong.assert_problem(422, "offset_contradicts_time_zone");
    assert_eq!(
        wrong.body["errors"][0]["field"],
        "start_time_offset_minutes"
    );
    // EDT's offset on a date still in EST.
    let summer = post_raw(
        &db,
        &w,
        &sessions_hold::FUNCTION,
        "/sessions-hold",
        &seed_hold(&w, &[2], -240),
    )
    .await;
    summer.assert_problem(422, "offset_contradicts_time_zone");

    let held = post_raw(
        &db,
        &w,
        &sessions_hold::FUNCTION,
        "/sessions-hold",
        &seed_hold(&w, &[2], -300),
    )
    .await;
    assert_eq!(held.status, 200, "{held:?}");
    let confirm = seed_confirm(&w, w.therapist_a, &held.body, -300);
    let wrong_zone = confirm.replacen(
        r#""startTimeOffsetMinutes":-300"#,
        r#""startTimeOffsetMinutes":-240"#,
        1,
    );
    let refused = post_raw(
        &db,
        &w,
        &confirm_booking::FUNCTION,
        "/sessions-confirm",
        &wrong_zone,
    )
    .await;
    refused.assert_problem(422, "offset_contradicts_time_zone");
    assert_eq!(refused.body["errors"][0]["field"], "startTimeOffsetMinutes");
    let unknown = confirm.replacen(r#""notes":null"#, r#""notes":null,"rate_per_hour":90"#, 1);
    let refused = post_raw(
        &db,
        &w,
        &confirm_booking::FUNCTION,
        "/sessions-confirm",
        &unknown,
    )
    .await;
    refused.assert_problem(400, "invalid_input");
    assert!(refused.text.contains("rate_per_hour"), "{refused:?}");
    let status = confirm.replacen(r#""status":"scheduled""#, r#""status":"cancelled""#, 1);
    let refused = post_raw(
        &db,
        &w,
        &confirm_booking::FUNCTION,
        "/sessions-confirm",
        &status,
    )
    .await;
    refused.assert_problem(422, "contradicts_hold");
    assert_eq!(refused.body["errors"][0]["field"], "session.status");
    assert_eq!(scheduled(&db).await, 0);
}

/// `api.confirm_booking` compares what each item restates with its hold: a 422 naming the first
/// member that differs, and nothing booked.
#[tokio::test]
async fn a_confirmation_whose_row_contradicts_the_hold_is_a_422_naming_the_member() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let held = post_raw(
        &db,
        &w,
        &sessions_hold::FUNCTION,
        "/sessions-hold",
        &seed_hold(&w, &[2, 9], -300),
    )
    .await;
    assert_eq!(held.status, 200, "{held:?}");
    let other = seed_confirm(&w, w.admin_a, &held.body, -300);
    let refused = post_raw(
        &db,
        &w,
        &confirm_booking::FUNCTION,
        "/sessions-confirm",
        &other,
    )
    .await;
    refused.assert_problem(422, "contradicts_hold");
    assert_eq!(refused.body["errors"][0]["field"], "session.therapist_id");
    let moved = seed_confirm(&w, w.therapist_a, &held.body, -300).replacen(
        "2027-03-09T10:00:00",
        "2027-03-09T11:00:00",
        1,
    );
    let refused = post_raw(
        &db,
        &w,
        &confirm_booking::FUNCTION,
        "/sessions-confirm",
        &moved,
    )
    .await;
    refused.assert_problem(422, "contradicts_hold");
    assert_eq!(
        refused.body["errors"][0]["field"],
        "occurrences[1].session.start_time"
    );
    assert_eq!(scheduled(&db).await, 0);
}

/// `WARDLINE_NOTES_KEYS` seals with its first key and opens with any: notes sealed under `k1`
/// open after `k2` became current, and are sealed under `k2` when saved again. A keyring that
/// lost `k1` still answers the schedule (200), the session without `notes` but with
/// `notesUnavailable` and `notesUpdatedAt`, and nothing of the text.
#[tokio::test]
async fn notes_sealed_under_a_rotated_out_key_still_open() {
    const K1: &str = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const K2: &str = "k2:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let me = w.therapist_of_a();
    let with_keys = |keys: &str| {
        let ring = Keyring::parse("WARDLINE_NOTES_KEYS", keys).unwrap();
        Context::new(db.config(|c| c.notes_keys = Some(ring))).unwrap()
    };
    let (old, rotated, lost) = (
        with_keys(K1),
        with_keys(&format!("{K2},{K1}")),
        with_keys(K2),
    );
    let id = db
        .book(
            &me,
            w.therapist_a,
            w.patient_a,
            ("2027-03-02T15:00:00Z", "2027-03-02T15:50:00Z"),
            w.service_a,
        )
        .await;
    let notes = json!({"notes": "Sealed before the rotation."});
    let saved = db
        .on_session_with(&old, &me, Method::PUT, &id, "notes", &notes)
        .await;
    assert_eq!(saved.status, 200, "{saved:?}");
    let key_id = || async {
        db.admin
            .query_one(
                "select key_id from app.session_notes where session_id = $1::text::uuid",
                &[&id],
            )
            .await
            .unwrap()
            .get::<_, String>(0)
    };
    assert_eq!(key_id().await, "k1");
    let window = "from=2027-03-01T00:00:00Z&to=2027-03-08T00:00:00Z";

    let read = db.schedule_with(&rotated, &me, window).await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["sessions"][0]["notes"], notes["notes"]);
    assert_eq!(read.body["sessions"][0].get("notesUnavailable"), None);

    let unreadable = db.schedule_with(&lost, &me, window).await;
    assert_eq!(unreadable.status, 200, "{unreadable:?}");
    let session = &unreadable.body["sessions"][0];
    assert_eq!(session["id"], json!(id));
    assert_eq!(session.get("notes"), None, "{session}");
    assert_eq!(session["notesUnavailable"], true);
    assert_eq!(
        session["notesUpdatedAt"],
        read.body["sessions"][0]["notesUpdatedAt"]
    );
    assert!(session["notesUpdatedAt"].is_string(), "{session}");
    assert!(
        !unreadable.text.contains("Sealed before"),
        "{}",
        unreadable.text
    );

    // Saved again under the rotated keyring: sealed with its current key, open with it.
    let resaved = db
        .on_session_with(&rotated, &me, Method::PUT, &id, "notes", &notes)
        .await;
    assert_eq!(resaved.status, 200, "{resaved:?}");
    assert_eq!(key_id().await, "k2");
    let read = db.schedule_with(&lost, &me, window).await;
    assert_eq!(read.body["sessions"][0]["notes"], notes["notes"]);
}

/// How many sessions are booked, in every clinic.
async fn scheduled(db: &TestDb) -> i64 {
    db.count(
        "select count(*) from app.sessions where status = 'scheduled'",
        &[],
    )
    .await
}
