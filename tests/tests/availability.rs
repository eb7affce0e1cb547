//! Availability, outside in through `dispatch`: weekly hours, date overrides and time off in
//! the clinic's zone; free slots around the clinician's sessions in every clinic (widened by
//! the buffer, after the minimum notice) that tell nothing about the other clinic; DST; the
//! hours check of a hold; who may read and change what.

use chrono::{DateTime, Duration, Utc};
use http::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_tests::{booking::slot, keys::Identity, staff, Reply, TestDb, World};

const NEW_YORK: &str = "America/New_York";

async fn call(
    db: &TestDb,
    who: &Identity,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    db.call_as(&availability::FUNCTION, who, method, path, body)
        .await
}

/// `PUT /clinicians/{clinician}/availability` as `who`, asserting a 200.
async fn set_hours(db: &TestDb, who: &Identity, clinician: Uuid, body: Value) -> Value {
    let path = format!("/clinicians/{clinician}/availability");
    let reply = call(db, who, Method::PUT, &path, Some(body)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body
}

/// `GET /availability` of `clinician` over `[from, to)` as `who`.
async fn slots(
    db: &TestDb,
    who: &Identity,
    clinician: Uuid,
    from: &str,
    to: &str,
    minutes: u32,
) -> Reply {
    let query = format!(
        "clinicianId={clinician}&from={}&to={}&duration={minutes}",
        encode(from),
        encode(to)
    );
    call(
        db,
        who,
        Method::GET,
        &format!("/availability?{query}"),
        None,
    )
    .await
}

/// The start times of a 200 answer's slots, each checked to last `minutes`.
fn starts(reply: &Reply, minutes: i64) -> Vec<String> {
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let (start, end) = (instant(&s["startTime"]), instant(&s["endTime"]));
            assert_eq!(end - start, Duration::minutes(minutes), "{s}");
            s["startTime"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .to_utc()
}

fn encode(text: &str) -> String {
    text.replace('+', "%2B")
}

/// Slot starts every 15 minutes from `from` while a slot of `minutes` ends by `to`: local
/// times of `day` at `offset`, as UTC.
fn grid(day: &str, offset: &str, (from, to): (&str, &str), minutes: i64) -> Vec<String> {
    let at = |time: &str| {
        DateTime::parse_from_rfc3339(&format!("{day}T{time}:00{offset}"))
            .unwrap()
            .to_utc()
    };
    let (mut start, end) = (at(from), at(to));
    let mut all = Vec::new();
    while start + Duration::minutes(minutes) <= end {
        all.push(start.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        start += Duration::minutes(15);
    }
    all
}

fn every_day(start: &str, end: &str) -> Value {
    json!({"weeklyHours": (1..=7)
        .map(|weekday| json!({"weekday": weekday, "start": start, "end": end}))
        .collect::<Vec<_>>()})
}

async fn in_new_york(db: &TestDb, clinic: Uuid) {
    db.admin
        .execute(
            "update app.clinics set time_zone = $2 where id = $1",
            &[&clinic, &NEW_YORK],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn slots_honour_hours_overrides_time_off_and_the_buffer() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    in_new_york(&db, w.clinic_a).await;
    let me = w.therapist_of_a();
    let shown = set_hours(
        &db,
        &me,
        w.therapist_a,
        json!({
            "weeklyHours": [
                {"weekday": 1, "start": "13:00", "end": "17:00"},
                {"weekday": 1, "start": "09:00", "end": "12:00"},
                {"weekday": 2, "start": "09:00", "end": "17:00"},
                {"weekday": 3, "start": "09:00", "end": "17:00"},
            ],
            "overrides": [
                {"date": "2027-03-09", "ranges": [{"start": "10:00", "end": "11:00"}]},
                {"date": "2027-03-10", "ranges": []},
            ],
        }),
    )
    .await;
    assert_eq!(shown["timeZone"], NEW_YORK);
    assert_eq!(
        shown["weeklyHours"][0],
        json!({"weekday": 1, "start": "09:00", "end": "12:00"})
    );
    assert_eq!(
        shown["overrides"],
        json!([
            {"date": "2027-03-09", "ranges": [{"start": "10:00", "end": "11:00"}]},
            {"date": "2027-03-10", "ranges": []},
        ])
    );

    // Monday the 8th: both ranges; Tuesday: the override's hour; Wednesday: closed.
    let (from, to) = ("2027-03-08T00:00:00-05:00", "2027-03-11T00:00:00-05:00");
    let monday = |ranges: &[(&str, &str)]| -> Vec<String> {
        ranges
            .iter()
            .flat_map(|r| grid("2027-03-08", "-05:00", *r, 60))
            .collect()
    };
    let tuesday = grid("2027-03-09", "-05:00", ("10:00", "11:00"), 60);
    let reply = slots(&db, &me, w.therapist_a, from, to, 60).await;
    assert_eq!(reply.body["timeZone"], NEW_YORK);
    let expected = [
        monday(&[("09:00", "12:00"), ("13:00", "17:00")]),
        tuesday.clone(),
    ]
    .concat();
    assert_eq!(starts(&reply, 60), expected);

    // Time off 10:00–11:00 on Monday; a session 14:00–15:00 booked by the admin.
    let off = call(
        &db,
        &me,
        Method::POST,
        &format!("/clinicians/{}/time-off", w.therapist_a),
        Some(json!({"startTime": "2027-03-08T10:00:00-05:00",
                    "endTime": "2027-03-08T11:00:00-05:00", "reason": "Dentist"})),
    )
    .await;
    assert_eq!(off.status, 201, "{off:?}");
    assert_eq!(off.body["reason"], "Dentist");
    db.book(
        &w.admin_of_a(),
        w.therapist_a,
        w.patient_a,
        ("2027-03-08T14:00:00-05:00", "2027-03-08T15:00:00-05:00"),
        w.service_a,
    )
    .await;
    let expected = [
        monday(&[
            ("09:00", "10:00"),
            ("11:00", "12:00"),
            ("13:00", "14:00"),
            ("15:00", "17:00"),
        ]),
        tuesday.clone(),
    ]
    .concat();
    assert_eq!(
        starts(&slots(&db, &me, w.therapist_a, from, to, 60).await, 60),
        expected
    );

    // A 15-minute buffer keeps 13:45–15:15 free of slots. Admins set it; clinicians cannot.
    let settings = json!({"bufferMinutes": 15, "minimumNoticeMinutes": 60, "slotStepMinutes": 15});
    let reply = call(
        &db,
        &me,
        Method::PUT,
        "/availability/settings",
        Some(settings.clone()),
    )
    .await;
    reply.assert_problem(403, "forbidden");
    let reply = call(
        &db,
        &w.admin_of_a(),
        Method::PUT,
        "/availability/settings",
        Some(settings),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["bufferMinutes"], 15);
    let expected = [
        monday(&[("09:00", "10:00"), ("11:00", "12:00"), ("15:15", "17:00")]),
        tuesday.clone(),
    ]
    .concat();
    assert_eq!(
        starts(&slots(&db, &me, w.therapist_a, from, to, 60).await, 60),
        expected
    );

    // The clinic's staff read it all, the reason too; removing the time off frees 10:00–11:00.
    let path = format!("/clinicians/{}/availability", w.therapist_a);
    let read = call(&db, &w.admin_of_a(), Method::GET, &path, None).await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["bufferMinutes"], 15);
    assert_eq!(read.body["timeOff"][0]["reason"], "Dentist");
    let removed = call(
        &db,
        &me,
        Method::DELETE,
        &format!(
            "/clinicians/{}/time-off/{}",
            w.therapist_a,
            off.body["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(removed.status, 200, "{removed:?}");
    let expected = [monday(&[("09:00", "12:00"), ("15:15", "17:00")]), tuesday].concat();
    assert_eq!(
        starts(&slots(&db, &me, w.therapist_a, from, to, 60).await, 60),
        expected
    );

    let actions: Vec<String> = db
        .admin
        .query(
            "select action from audit.events where action like 'availability.%' order by id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        actions,
        [
            "availability.update",
            "availability.time_off.add",
            "availability.settings.update",
            "availability.time_off.remove"
        ]
    );
    let details: i64 = db
        .count(
            "select count(*) from audit.events where detail::text like '%Dentist%'",
            &[],
        )
        .await;
    assert_eq!(details, 0, "the reason stays out of the audit log");
    assert_eq!(db.first_broken_link(w.clinic_a).await, None);
}

#[tokio::test]
async fn a_dst_change_keeps_local_hours() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    in_new_york(&db, w.clinic_a).await;
    let me = w.therapist_of_a();
    set_hours(&db, &me, w.therapist_a, every_day("09:00", "17:00")).await;

    // 2027-03-14: clocks go forward in New York (-05:00 before, -04:00 after).
    let spring = slots(
        &db,
        &me,
        w.therapist_a,
        "2027-03-13T00:00:00-05:00",
        "2027-03-16T00:00:00-04:00",
        60,
    )
    .await;
    let expected = [
        grid("2027-03-13", "-05:00", ("09:00", "17:00"), 60),
        grid("2027-03-14", "-04:00", ("09:00", "17:00"), 60),
        grid("2027-03-15", "-04:00", ("09:00", "17:00"), 60),
    ]
    .concat();
    assert_eq!(starts(&spring, 60), expected);
    assert_eq!(expected[0], "2027-03-13T14:00:00Z");
    assert_eq!(expected[29], "2027-03-14T13:00:00Z");

    // 2027-11-07: clocks go back.
    let autumn = slots(
        &db,
        &me,
        w.therapist_a,
        "2027-11-06T00:00:00-04:00",
        "2027-11-08T00:00:00-05:00",
        60,
    )
    .await;
    let expected = [
        grid("2027-11-06", "-04:00", ("09:00", "17:00"), 60),
        grid("2027-11-07", "-05:00", ("09:00", "17:00"), 60),
    ]
    .concat();
    assert_eq!(starts(&autumn, 60), expected);

    // A hold at 09:00 local the day after the change is inside the hours, 08:00 is not.
    let hold = |start: &str, end: &str| {
        let mut body = slot(w.therapist_a, w.patient_a, start, end);
        body["time_zone"] = json!(NEW_YORK);
        body
    };
    db.held(&me, &hold("2027-03-15T09:00", "2027-03-15T10:00"))
        .await;
    let early = db
        .hold(&me, &hold("2027-03-15T08:00", "2027-03-15T09:00"))
        .await;
    early.assert_problem(422, "outside_hours");
    assert_eq!(early.body["errors"][0]["field"], "start_time");
}

#[tokio::test]
async fn slots_start_after_the_minimum_notice_on_the_clinic_grid() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    in_new_york(&db, w.clinic_a).await;
    db.admin
        .execute(
            "update app.clinics set min_notice_minutes = 120 where id = $1",
            &[&w.clinic_a],
        )
        .await
        .unwrap();
    let me = w.therapist_of_a();
    set_hours(&db, &me, w.therapist_a, every_day("00:00", "24:00")).await;
    let now = Utc::now();
    let reply = slots(
        &db,
        &me,
        w.therapist_a,
        &now.to_rfc3339(),
        &(now + Duration::days(1)).to_rfc3339(),
        30,
    )
    .await;
    let first = DateTime::parse_from_rfc3339(&starts(&reply, 30)[0])
        .unwrap()
        .to_utc();
    assert!(
        first >= now + Duration::minutes(120),
        "{first} is too soon after {now}"
    );
    assert!(
        first < now + Duration::minutes(135),
        "{first}: the first slot on the grid"
    );
    assert_eq!(
        first.timestamp() % (15 * 60),
        0,
        "{first} is on the 15-minute grid"
    );
}

#[tokio::test]
async fn a_session_in_the_other_clinic_takes_its_slots_and_tells_nothing_else() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    in_new_york(&db, w.clinic_a).await;
    // `both` works at A every day 09:00–17:00 (New York); at B they published nothing.
    set_hours(
        &db,
        &w.both_at(w.clinic_a),
        w.both,
        every_day("09:00", "17:00"),
    )
    .await;
    let (from, to) = ("2027-03-03T00:00:00-05:00", "2027-03-04T00:00:00-05:00");
    let colleague = w.therapist_of_a();
    let before = starts(&slots(&db, &colleague, w.both, from, to, 60).await, 60);
    assert_eq!(before, grid("2027-03-03", "-05:00", ("09:00", "17:00"), 60));

    // B books `both` 10:00–11:00 New York time, and holds 13:00–13:30.
    let session = db
        .book(
            &w.admin_of_b(),
            w.both,
            w.patient_b,
            ("2027-03-03T15:00:00Z", "2027-03-03T16:00:00Z"),
            w.service_b,
        )
        .await;
    db.held(
        &w.admin_of_b(),
        &slot(
            w.both,
            w.patient_b,
            "2027-03-03T18:00:00Z",
            "2027-03-03T18:30:00Z",
        ),
    )
    .await;

    let after = slots(&db, &colleague, w.both, from, to, 60).await;
    let expected = [
        grid("2027-03-03", "-05:00", ("09:00", "10:00"), 60),
        grid("2027-03-03", "-05:00", ("11:00", "13:00"), 60),
        grid("2027-03-03", "-05:00", ("13:30", "17:00"), 60),
    ]
    .concat();
    assert_eq!(starts(&after, 60), expected);
    // Only slots: no ids, statuses, patients or clinics of B.
    let mut keys: Vec<&String> = after.body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["clinicianId", "duration", "slots", "timeZone"]);
    for slot in after.body["slots"].as_array().unwrap() {
        assert_eq!(slot.as_object().unwrap().len(), 2, "{slot}");
    }
    for secret in [
        session.clone(),
        w.clinic_b.to_string(),
        w.patient_b.to_string(),
        "held".into(),
        "scheduled".into(),
    ] {
        assert!(!after.text.contains(&secret), "{secret} in {}", after.text);
    }

    // At B, `both` published no hours: no slots there, and A's hours stay A's.
    let at_b = slots(&db, &w.both_at(w.clinic_b), w.both, from, to, 60).await;
    assert_eq!(starts(&at_b, 60), Vec::<String>::new());
    let path = format!("/clinicians/{}/availability", w.both);
    let read = call(&db, &w.admin_of_b(), Method::GET, &path, None).await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["weeklyHours"], json!([]));
}

#[tokio::test]
async fn a_hold_outside_published_hours_needs_an_admin() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    in_new_york(&db, w.clinic_a).await;
    let me = w.therapist_of_a();
    set_hours(
        &db,
        &me,
        w.therapist_a,
        json!({"weeklyHours": (1..=5)
            .map(|weekday| json!({"weekday": weekday, "start": "09:00", "end": "17:00"}))
            .collect::<Vec<_>>()}),
    )
    .await;
    // Saturday 2027-03-06, 10:00 New York.
    let saturday = slot(
        w.therapist_a,
        w.patient_a,
        "2027-03-06T15:00:00Z",
        "2027-03-06T16:00:00Z",
    );
    let refused = db.hold(&me, &saturday).await;
    refused.assert_problem(422, "outside_hours");
    assert_eq!(refused.body["errors"][0]["field"], "start_time");
    db.hold(&w.admin_of_a(), &saturday)
        .await
        .assert_problem(422, "outside_hours");

    let mut overriding = saturday.clone();
    overriding["outside_hours"] = json!(true);
    db.hold(&me, &overriding)
        .await
        .assert_problem(403, "forbidden");
    db.held(&w.admin_of_a(), &overriding).await;
    let audited = "select count(*) from audit.events where action = 'session.hold.outside_hours'";
    assert_eq!(db.count(audited, &[]).await, 1);

    // A series is held only when every occurrence is inside the hours (Friday, then Saturday).
    let mut series = slot(
        w.therapist_a,
        w.patient_a,
        "2027-03-12T15:00:00Z",
        "2027-03-12T16:00:00Z",
    );
    series["recurrence"] = json!({"rrule": "FREQ=DAILY", "count": 2});
    let refused = db.hold(&me, &series).await;
    refused.assert_problem(422, "outside_hours");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("Occurrence 2"),
        "{refused:?}"
    );

    // Time off inside the hours refuses a hold too; a clinician with no hours is free.
    let off = call(
        &db,
        &me,
        Method::POST,
        &format!("/clinicians/{}/time-off", w.therapist_a),
        Some(json!({"startTime": "2027-03-09T00:00:00Z", "endTime": "2027-03-10T00:00:00Z"})),
    )
    .await;
    assert_eq!(off.status, 201, "{off:?}");
    db.hold(
        &me,
        &slot(
            w.therapist_a,
            w.patient_a,
            "2027-03-09T15:00:00Z",
            "2027-03-09T16:00:00Z",
        ),
    )
    .await
    .assert_problem(422, "outside_hours");
    db.held(
        &me,
        &slot(
            w.therapist_a,
            w.patient_a,
            "2027-03-08T15:00:00Z",
            "2027-03-08T16:00:00Z",
        ),
    )
    .await;
    db.held(
        &w.both_at(w.clinic_a),
        &slot(
            w.both,
            w.patient_a,
            "2027-03-06T18:00:00Z",
            "2027-03-06T19:00:00Z",
        ),
    )
    .await;
}

#[tokio::test]
async fn the_clinician_or_an_admin_changes_availability_and_no_other_clinic_reaches_it() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let hours = every_day("09:00", "17:00");
    let path = format!("/clinicians/{}/availability", w.therapist_a);
    // A colleague changes nothing; the admin may.
    let colleague = w.both_at(w.clinic_a);
    call(&db, &colleague, Method::PUT, &path, Some(hours.clone()))
        .await
        .assert_problem(403, "forbidden");
    let off_path = format!("/clinicians/{}/time-off", w.therapist_a);
    let body = json!({"startTime": "2027-03-09T00:00:00Z", "endTime": "2027-03-10T00:00:00Z"});
    call(&db, &colleague, Method::POST, &off_path, Some(body.clone()))
        .await
        .assert_problem(403, "forbidden");
    set_hours(&db, &w.admin_of_a(), w.therapist_a, hours.clone()).await;
    let off = call(
        &db,
        &w.admin_of_a(),
        Method::POST,
        &off_path,
        Some(body.clone()),
    )
    .await;
    assert_eq!(off.status, 201, "{off:?}");
    let read = call(&db, &colleague, Method::GET, &path, None).await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["weeklyHours"].as_array().unwrap().len(), 7);

    // Clinic B's staff: A's clinician is not theirs (404), whatever they try.
    let outsider = w.admin_of_b();
    for (method, path, body) in [
        (Method::GET, path.clone(), None),
        (Method::PUT, path.clone(), Some(hours.clone())),
        (Method::POST, off_path.clone(), Some(body)),
        (
            Method::DELETE,
            format!("{off_path}/{}", off.body["id"].as_str().unwrap()),
            None,
        ),
    ] {
        call(&db, &outsider, method, &path, body)
            .await
            .assert_problem(404, "not_found");
    }
    slots(
        &db,
        &outsider,
        w.therapist_a,
        "2027-03-08T00:00:00Z",
        "2027-03-09T00:00:00Z",
        60,
    )
    .await
    .assert_problem(404, "not_found");
    // A token for A held by B's therapist is refused at the door.
    let intruder = staff(w.therapist_b, w.clinic_a, "therapist");
    call(&db, &intruder, Method::GET, &path, None)
        .await
        .assert_problem(403, "not_a_member");
    // A patient reads none of it.
    let patient = w.patient_of_a();
    let reply = call(&db, &patient, Method::GET, &path, None).await;
    assert!(matches!(reply.status.as_u16(), 401 | 403), "{reply:?}");
    assert_eq!(
        db.count("select count(*) from app.availability_hours", &[])
            .await,
        7
    );
    assert_eq!(db.count("select count(*) from app.time_off", &[]).await, 1);

    // Overlaps are refused by the table too, whatever the function checks.
    let overlap = db
        .admin
        .execute(
            "insert into app.availability_hours (org_id, clinician_id, weekday, starts, ends)
             values ($1, $2, 1, '16:00', '18:00')",
            &[&w.clinic_a, &w.therapist_a],
        )
        .await;
    assert!(overlap.is_err(), "an overlapping range was stored");
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let me = w.therapist_of_a();
    let c = w.therapist_a;
    let base = "from=2027-03-08T00:00:00Z&to=2027-03-09T00:00:00Z";
    for (query, field) in [
        (format!("{base}&duration=60"), "clinicianId"),
        (format!("clinicianId=x&{base}&duration=60"), "clinicianId"),
        (format!("clinicianId={c}&{base}"), "duration"),
        (format!("clinicianId={c}&{base}&duration=4"), "duration"),
        (format!("clinicianId={c}&{base}&duration=721"), "duration"),
        (
            format!("clinicianId={c}&from=2027-03-08T00:00&to=2027-03-09T00:00:00Z&duration=60"),
            "from",
        ),
        (
            format!(
                "clinicianId={c}&from=2027-03-09T00:00:00Z&to=2027-03-08T00:00:00Z&duration=60"
            ),
            "to",
        ),
        (
            format!(
                "clinicianId={c}&from=2027-03-01T00:00:00Z&to=2027-04-02T00:00:00Z&duration=60"
            ),
            "to",
        ),
        (format!("clinicianId={c}&{base}&duration=60&step=5"), "step"),
    ] {
        let reply = call(
            &db,
            &me,
            Method::GET,
            &format!("/availability?{query}"),
            None,
        )
        .await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(
            reply.body["errors"][0]["field"], field,
            "{query}: {reply:?}"
        );
    }
    let path = format!("/clinicians/{c}/availability");
    for (body, field) in [
        (json!({}), "weeklyHours"),
        (
            json!({"weeklyHours": [{"weekday": 0, "start": "09:00", "end": "10:00"}]}),
            "weeklyHours[0].weekday",
        ),
        (
            json!({"weeklyHours": [{"weekday": 1, "start": "09:00", "end": "25:00"}]}),
            "weeklyHours[0].end",
        ),
    ] {
        let reply = call(&db, &me, Method::PUT, &path, Some(body.clone())).await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}: {reply:?}");
    }
    for (body, field) in [
        (
            json!({"bufferMinutes": 241, "minimumNoticeMinutes": 0, "slotStepMinutes": 15}),
            "bufferMinutes",
        ),
        (
            json!({"bufferMinutes": 0, "minimumNoticeMinutes": 43201, "slotStepMinutes": 15}),
            "minimumNoticeMinutes",
        ),
        (
            json!({"bufferMinutes": 0, "minimumNoticeMinutes": 0, "slotStepMinutes": 4}),
            "slotStepMinutes",
        ),
        (
            json!({"bufferMinutes": -1, "minimumNoticeMinutes": 0, "slotStepMinutes": 15}),
            "bufferMinutes",
        ),
    ] {
        let reply = call(
            &db,
            &w.admin_of_a(),
            Method::PUT,
            "/availability/settings",
            Some(body.clone()),
        )
        .await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}: {reply:?}");
    }
    let extra = json!({"weeklyHours": [], "stepMinutes": 5});
    let reply = call(&db, &me, Method::PUT, &path, Some(extra)).await;
    reply.assert_problem(400, "invalid_input");
    assert!(reply.text.contains("stepMinutes"), "{reply:?}");
    let off_path = format!("/clinicians/{c}/time-off");
    for (body, field) in [
        (
            json!({"startTime": "2027-03-09T00:00:00Z", "endTime": "2027-03-09T00:00:00Z"}),
            "endTime",
        ),
        (
            json!({"startTime": "tomorrow", "endTime": "2027-03-09T00:00:00Z"}),
            "startTime",
        ),
        (
            json!({"startTime": "2027-03-08T00:00:00Z", "endTime": "2027-03-09T00:00:00Z", "reason": " "}),
            "reason",
        ),
    ] {
        let reply = call(&db, &me, Method::POST, &off_path, Some(body.clone())).await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}: {reply:?}");
    }
    call(
        &db,
        &me,
        Method::DELETE,
        &format!("{off_path}/{}", Uuid::new_v4()),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    call(&db, &me, Method::GET, "/clinicians/nope/availability", None)
        .await
        .assert_problem(400, "invalid_input");
}
