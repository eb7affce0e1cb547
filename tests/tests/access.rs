//! Who may do what with bookings, proven through the functions: patients get no staff route
//! (the database would show them only their own booked sessions, without notes or holds) and
//! write nothing; another clinic's staff can neither
//! see nor touch clinic A's sessions and holds, even knowing their ids; clinicians book only for
//! themselves and only this clinic's clinicians and patients; a therapist's schedule is their
//! own, an admin's the whole clinic's.

use http::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_tests::{booking::slot, claims_json, staff, Reply, TestDb, World};

/// The week every session of these tests falls in.
const WEEK: &str = "from=2027-03-01T00:00:00Z&to=2027-03-08T00:00:00Z";

/// The session ids a schedule reply lists, in its order.
fn ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "schedule: {reply:?}");
    reply.body["sessions"]
        .as_array()
        .expect("a sessions array")
        .iter()
        .map(|s| s["id"].as_str().expect("a session id").to_owned())
        .collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Everything clinic A holds about its sessions, as the superuser sees it: sessions, notes and
/// audit events, to show that nothing changed.
async fn clinic_rows(db: &TestDb, clinic: Uuid) -> Value {
    db.admin
        .query_one(
            "select jsonb_build_object(
               'sessions', (select jsonb_agg(to_jsonb(s) order by s.id)
                            from app.sessions s where s.org_id = $1),
               'notes', (select jsonb_agg(to_jsonb(n) order by n.session_id)
                         from app.session_notes n where n.org_id = $1),
               'events', (select count(*) from audit.events e where e.org_id = $1))",
            &[&clinic],
        )
        .await
        .expect("reading clinic rows")
        .get(0)
}

#[tokio::test]
async fn a_patient_reads_only_their_booked_sessions_without_notes_and_writes_nothing() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let therapist = w.therapist_of_a();
    let booked = db
        .book(
            &therapist,
            w.therapist_a,
            w.patient_a,
            ("2027-03-02T15:00:00Z", "2027-03-02T15:50:00Z"),
            w.service_a,
        )
        .await;
    let saved = db
        .on_session(
            &therapist,
            Method::PUT,
            &booked,
            "notes",
            &json!({"notes": "Discussed the panic attacks."}),
        )
        .await;
    assert_eq!(saved.status, 200, "{saved:?}");
    let live_hold = db
        .held(
            &therapist,
            &slot(
                w.therapist_a,
                w.patient_a,
                "2027-03-03T15:00:00Z",
                "2027-03-03T15:50:00Z",
            ),
        )
        .await;
    // Another patient's session with the same therapist.
    let other_patient = db.patient(w.clinic_a).await;
    db.book(
        &therapist,
        w.therapist_a,
        other_patient,
        ("2027-03-02T17:00:00Z", "2027-03-02T17:50:00Z"),
        w.service_a,
    )
    .await;
    // The therapist sees all three, and the notes.
    let theirs = db.schedule(&therapist, WEEK).await;
    assert_eq!(ids(&theirs).len(), 3, "{theirs:?}");
    assert_eq!(
        theirs.body["sessions"][0]["notes"],
        "Discussed the panic attacks."
    );

    let patient = w.patient_of_a();
    // The schedule route is for staff: a patient's token is refused before the function reads
    // anything (deployed, API Gateway's JWT authorizer refuses it first).
    db.schedule(&patient, WEEK)
        .await
        .assert_problem(403, "forbidden");
    // Underneath, the database refuses the staff schedule too, and shows a patient only their
    // own booked sessions, without notes, through the portal's appointments.
    let user = db.authenticator().await;
    let refused = user
        .query_one(
            "select api.schedule($1, $2)",
            &[
                &claims_json(&patient),
                &json!({"from": "2027-03-01T00:00:00Z", "to": "2027-03-08T00:00:00Z"}),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused.as_db_error().map(|e| e.message()),
        Some("forbidden")
    );
    let mine: Value = user
        .query_one(
            "select api.portal_appointments($1, $2)",
            &[
                &claims_json(&patient),
                &json!({"host": {"slug": "alpha"}, "when": "upcoming", "limit": 50}),
            ],
        )
        .await
        .unwrap()
        .get(0);
    let listed: Vec<&str> = mine["items"]
        .as_array()
        .expect("an items array")
        .iter()
        .map(|s| s["id"].as_str().expect("a session id"))
        .collect();
    assert_eq!(listed, [booked.as_str()], "{mine:?}");
    let session = mine["items"][0].as_object().unwrap();
    assert_eq!(session["status"], "scheduled");
    for member in [
        "notes",
        "notesUpdatedAt",
        "sealedNotes",
        "holdKey",
        "holdGroup",
    ] {
        assert!(
            !session.contains_key(member),
            "the patient was shown {member}: {session:?}"
        );
    }
    assert!(
        !mine.to_string().contains("panic"),
        "notes text reached the patient: {mine:?}"
    );

    let before = clinic_rows(&db, w.clinic_a).await;
    db.hold(
        &patient,
        &slot(
            w.therapist_a,
            w.patient_a,
            "2027-03-04T15:00:00Z",
            "2027-03-04T15:50:00Z",
        ),
    )
    .await
    .assert_problem(403, "forbidden");
    db.confirm(&patient, &live_hold["holdKey"], w.service_a)
        .await
        .assert_problem(403, "forbidden");
    db.on_session(
        &patient,
        Method::POST,
        &booked,
        "cancel",
        &json!({"reason": "Changed my mind"}),
    )
    .await
    .assert_problem(403, "forbidden");
    db.on_session(
        &patient,
        Method::PUT,
        &booked,
        "notes",
        &json!({"notes": "I feel fine."}),
    )
    .await
    .assert_problem(403, "forbidden");
    assert_eq!(clinic_rows(&db, w.clinic_a).await, before);
}

#[tokio::test]
async fn another_clinics_staff_can_neither_see_nor_touch_clinic_a_sessions_and_holds() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let therapist = w.therapist_of_a();
    let booked = db
        .book(
            &therapist,
            w.therapist_a,
            w.patient_a,
            ("2027-03-02T15:00:00Z", "2027-03-02T15:50:00Z"),
            w.service_a,
        )
        .await;
    let saved = db
        .on_session(
            &therapist,
            Method::PUT,
            &booked,
            "notes",
            &json!({"notes": "Private."}),
        )
        .await;
    assert_eq!(saved.status, 200, "{saved:?}");
    // A session of the clinician who also works in B, booked in A.
    let of_both = db
        .book(
            &w.admin_of_a(),
            w.both,
            w.patient_a,
            ("2027-03-02T17:00:00Z", "2027-03-02T17:50:00Z"),
            w.service_a,
        )
        .await;
    let held = db
        .held(
            &therapist,
            &slot(
                w.therapist_a,
                w.patient_a,
                "2027-03-03T15:00:00Z",
                "2027-03-03T15:50:00Z",
            ),
        )
        .await;
    let group_key = held["holdKey"].as_str().unwrap().to_owned();
    let occurrence_key = held["holds"][0]["holdKey"].as_str().unwrap().to_owned();
    let held_session = held["holds"][0]["sessionId"].as_str().unwrap().to_owned();
    // A session of B's own, so "sees nothing of A" is not "sees nothing at all".
    let of_b = db
        .book(
            &w.admin_of_b(),
            w.therapist_b,
            w.patient_b,
            ("2027-03-02T15:00:00Z", "2027-03-02T15:50:00Z"),
            w.service_b,
        )
        .await;
    let before = clinic_rows(&db, w.clinic_a).await;

    let outsiders = [
        (w.admin_of_b(), vec![of_b.clone()]),
        (staff(w.therapist_b, w.clinic_b, "therapist"), vec![of_b]),
        // Works in A too, but signed in to B.
        (w.both_at(w.clinic_b), vec![]),
    ];
    for (who, expected) in &outsiders {
        let role = format!("{} {}", who.app_role, who.sub);
        let seen = db.schedule(who, WEEK).await;
        assert_eq!(&ids(&seen), expected, "{role} sees: {seen:?}");
        let named = db
            .schedule(who, &format!("{WEEK}&therapistId={}", w.therapist_a))
            .await;
        assert_eq!(ids(&named), Vec::<String>::new(), "{role}: {named:?}");

        for session in [&booked, &of_both, &held_session] {
            db.on_session(
                who,
                Method::POST,
                session,
                "cancel",
                &json!({"reason": "Guessing"}),
            )
            .await
            .assert_problem(404, "session_not_found");
            db.on_session(
                who,
                Method::PUT,
                session,
                "notes",
                &json!({"notes": "Overwritten."}),
            )
            .await
            .assert_problem(404, "session_not_found");
        }
        for key in [&group_key, &occurrence_key] {
            db.release(who, key)
                .await
                .assert_problem(404, "hold_not_found");
            db.confirm(who, &json!(key), w.service_b)
                .await
                .assert_problem(404, "hold_not_found");
        }
    }

    assert_eq!(clinic_rows(&db, w.clinic_a).await, before);
    let held_status: String = db
        .admin
        .query_one(
            "select status from app.sessions where hold_group = $1::text::uuid",
            &[&group_key],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(held_status, "held");
}

#[tokio::test]
async fn clinicians_book_only_for_themselves_and_only_this_clinics_people() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;

    let for_colleague = db
        .hold(
            &w.therapist_of_a(),
            &slot(
                w.admin_a,
                w.patient_a,
                "2027-03-02T15:00:00Z",
                "2027-03-02T15:50:00Z",
            ),
        )
        .await;
    for_colleague.assert_problem(403, "forbidden");
    assert_eq!(
        for_colleague.body["errors"][0]["field"], "therapist_id",
        "{for_colleague:?}"
    );

    let by_admin = db
        .held(
            &w.admin_of_a(),
            &slot(
                w.therapist_a,
                w.patient_a,
                "2027-03-02T15:00:00Z",
                "2027-03-02T15:50:00Z",
            ),
        )
        .await;
    let hold = db
        .admin
        .query_one(
            "select clinician_id, created_by, org_id from app.sessions
             where hold_group = $1::text::uuid",
            &[&by_admin["holdKey"].as_str().unwrap()],
        )
        .await
        .unwrap();
    let (clinician, created_by, org): (Uuid, Uuid, Uuid) = (hold.get(0), hold.get(1), hold.get(2));
    assert_eq!(
        (clinician, created_by, org),
        (w.therapist_a, w.admin_a, w.clinic_a)
    );

    let other_patient = db
        .hold(
            &w.therapist_of_a(),
            &slot(
                w.therapist_a,
                w.patient_b,
                "2027-03-03T15:00:00Z",
                "2027-03-03T15:50:00Z",
            ),
        )
        .await;
    other_patient.assert_problem(422, "patient_not_active");
    assert_eq!(
        other_patient.body["errors"][0]["field"], "client_id",
        "{other_patient:?}"
    );

    let other_clinician = db
        .hold(
            &w.admin_of_a(),
            &slot(
                w.therapist_b,
                w.patient_a,
                "2027-03-03T15:00:00Z",
                "2027-03-03T15:50:00Z",
            ),
        )
        .await;
    other_clinician.assert_problem(422, "clinician_inactive");
    assert_eq!(
        other_clinician.body["errors"][0]["field"], "therapist_id",
        "{other_clinician:?}"
    );

    // Only the admin's hold was written.
    let rows = db.count("select count(*) from app.sessions", &[]).await;
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn a_therapist_sees_their_own_sessions_and_an_admin_the_whole_clinic() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let admin = w.admin_of_a();
    let therapist = w.therapist_of_a();
    let own = db
        .book(
            &therapist,
            w.therapist_a,
            w.patient_a,
            ("2027-03-02T09:00:00Z", "2027-03-02T09:50:00Z"),
            w.service_a,
        )
        .await;
    let own_hold = db
        .held(
            &therapist,
            &slot(
                w.therapist_a,
                w.patient_a,
                "2027-03-02T10:00:00Z",
                "2027-03-02T10:50:00Z",
            ),
        )
        .await["holds"][0]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let admins = db
        .book(
            &admin,
            w.admin_a,
            w.patient_a,
            ("2027-03-02T11:00:00Z", "2027-03-02T11:50:00Z"),
            w.service_a,
        )
        .await;
    let of_both = db
        .book(
            &admin,
            w.both,
            w.patient_a,
            ("2027-03-02T12:00:00Z", "2027-03-02T12:50:00Z"),
            w.service_a,
        )
        .await;
    let colleagues_hold = db
        .held(
            &admin,
            &slot(
                w.both,
                w.patient_a,
                "2027-03-02T13:00:00Z",
                "2027-03-02T13:50:00Z",
            ),
        )
        .await["holds"][0]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Clinic B's session, on the same day.
    db.book(
        &w.admin_of_b(),
        w.therapist_b,
        w.patient_b,
        ("2027-03-02T09:00:00Z", "2027-03-02T09:50:00Z"),
        w.service_b,
    )
    .await;

    assert_eq!(
        sorted(ids(&db.schedule(&therapist, WEEK).await)),
        sorted(vec![own.clone(), own_hold.clone()])
    );
    // Naming a colleague does not widen what a therapist sees.
    let asked = db
        .schedule(&therapist, &format!("{WEEK}&therapistId={}", w.both))
        .await;
    assert_eq!(ids(&asked), Vec::<String>::new(), "{asked:?}");
    // Nor can they act on a colleague's session they cannot see.
    db.on_session(
        &therapist,
        Method::POST,
        &of_both,
        "cancel",
        &json!({"reason": "Not mine"}),
    )
    .await
    .assert_problem(404, "session_not_found");

    assert_eq!(
        sorted(ids(&db.schedule(&admin, WEEK).await)),
        sorted(vec![
            own,
            own_hold,
            admins,
            of_both.clone(),
            colleagues_hold
        ])
    );
    let filtered = db
        .schedule(&admin, &format!("{WEEK}&therapistId={}", w.both))
        .await;
    assert_eq!(ids(&filtered).len(), 2, "{filtered:?}");
    assert!(ids(&filtered).contains(&of_both));
}

#[tokio::test]
async fn a_clash_with_another_clinics_hold_or_session_reveals_nothing_about_it() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    // The clinician who works in both clinics: a live hold and a booked session in A.
    let held = db
        .held(
            &w.admin_of_a(),
            &slot(
                w.both,
                w.patient_a,
                "2027-03-02T15:00:00Z",
                "2027-03-02T15:50:00Z",
            ),
        )
        .await;
    let booked = db
        .book(
            &w.admin_of_a(),
            w.both,
            w.patient_a,
            ("2027-03-02T17:00:00Z", "2027-03-02T17:50:00Z"),
            w.service_a,
        )
        .await;
    let secrets = [
        held["holdKey"].as_str().unwrap().to_owned(),
        held["holds"][0]["holdKey"].as_str().unwrap().to_owned(),
        held["holds"][0]["sessionId"].as_str().unwrap().to_owned(),
        held["expiresAt"].as_str().unwrap().to_owned(),
        booked.clone(),
        w.patient_a.to_string(),
        w.clinic_a.to_string(),
    ];

    // In A itself, a clash with A's own hold says when to retry: the check below can tell.
    let own = db
        .hold(
            &w.admin_of_a(),
            &slot(
                w.both,
                w.patient_a,
                "2027-03-02T15:30:00Z",
                "2027-03-02T16:20:00Z",
            ),
        )
        .await;
    own.assert_problem(409, "slot_unavailable");
    assert!(
        own.body["conflicts"][0].get("retryAfter").is_some(),
        "{own:?}"
    );

    for (start, end) in [
        ("2027-03-02T15:30:00Z", "2027-03-02T16:20:00Z"),
        ("2027-03-02T17:30:00Z", "2027-03-02T18:20:00Z"),
    ] {
        let clash = db
            .hold(&w.admin_of_b(), &slot(w.both, w.patient_b, start, end))
            .await;
        clash.assert_problem(409, "slot_unavailable");
        assert_eq!(clash.body["conflicts"][0]["reason"], "clinician_busy");
        // Only the requested times come back, and no hint of when A's hold ends.
        assert_eq!(clash.body["conflicts"][0]["startTime"], start);
        assert!(
            clash.body["conflicts"][0].get("retryAfter").is_none()
                && clash.body.get("retryAfterSeconds").is_none()
                && !clash.headers.contains_key("retry-after"),
            "{clash:?}"
        );
        let text = clash.body.to_string();
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{secret} leaked: {clash:?}"
            );
        }
    }
    let seen = db.schedule(&w.both_at(w.clinic_b), WEEK).await;
    assert_eq!(ids(&seen), Vec::<String>::new(), "{seen:?}");
}
