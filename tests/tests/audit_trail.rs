//! The audit trail (issue 22, parts 2 and 3): every read of PHI writes one event per request
//! into the clinic's chain, naming the patient when there is one; a clinic's admins page through
//! their own clinic's events (a super admin names the clinic) and export a run of the chain that
//! verifies; a patient sees which of the clinic's staff read their record, and nothing of
//! anyone else's.

use http::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::http::Function;
use wardline_tests::{portal::as_patient, staff, Reply, TestDb, World};
use xtask::keys::Identity;

/// A session of the world's patient in A with a note (sealed under a key no keyring holds:
/// the read answers `notesUnavailable`, and is audited all the same), and a thread.
async fn record_of_a(db: &TestDb, w: &World) -> (Uuid, Uuid) {
    let session: Uuid = db
        .admin
        .query_one(
            "with s as (
               insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                                         service_id, created_by)
               values ($1, $2, $3, 'scheduled',
                       tstzrange(now() + interval '1 day', now() + interval '1 day 50 minutes'),
                       $4, $2)
               returning id, org_id
             ), n as (
               insert into app.session_notes (session_id, org_id, key_id, nonce, ciphertext,
                                              updated_by)
               select id, org_id, 'retired', decode(repeat('00', 12), 'hex'),
                      decode(repeat('00', 16), 'hex'), $2 from s
             )
             select id from s",
            &[&w.clinic_a, &w.therapist_a, &w.patient_a, &w.service_a],
        )
        .await
        .unwrap()
        .get(0);
    let started = db
        .call_as(
            &inbox::FUNCTION,
            &w.therapist_of_a(),
            Method::POST,
            "/threads",
            Some(json!({"patientId": w.patient_a, "body": "Checking in before Tuesday."})),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let thread = started.body["thread"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (session, thread)
}

/// The events one request wrote: (action, patient).
async fn events_of(db: &TestDb, reply: &Reply) -> Vec<(String, Option<Uuid>)> {
    let request = reply.headers["x-request-id"].to_str().unwrap();
    db.admin
        .query(
            "select action, patient_id from audit.events where request_id = $1 order by id",
            &[&request],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

async fn get(db: &TestDb, function: &Function, who: &Identity, path: &str) -> Reply {
    let reply = db.call_as(function, who, Method::GET, path, None).await;
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.text);
    reply
}

#[tokio::test]
async fn every_read_of_phi_is_one_event_of_its_request() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let (session, thread) = record_of_a(&db, &w).await;
    let p = w.patient_a;
    let now = chrono::Utc::now();
    let reads: &[(&Function, String, &str, Option<Uuid>)] = &[
        (
            &schedule::FUNCTION,
            format!("/clients/{p}"),
            "patient.record.read",
            Some(p),
        ),
        (
            &directory::FUNCTION,
            format!("/patients/{p}"),
            "patient.read",
            Some(p),
        ),
        (
            &directory::FUNCTION,
            format!("/patients/user/{p}"),
            "patient.read",
            Some(p),
        ),
        (
            &schedule::FUNCTION,
            format!("/sessions/{session}/notes"),
            "session.notes.read",
            Some(p),
        ),
        (
            &records::FUNCTION,
            format!("/clients/{p}/documents"),
            "documents.list",
            Some(p),
        ),
        (
            &inbox::FUNCTION,
            format!("/threads/{thread}/messages"),
            "thread.read",
            Some(p),
        ),
        (
            &intake::FUNCTION,
            format!("/clients/{p}/tasks"),
            "tasks.list",
            Some(p),
        ),
        (
            &assign::FUNCTION,
            format!("/clients/{p}/guardians"),
            "guardians.list",
            Some(p),
        ),
        (
            &schedule::FUNCTION,
            format!(
                "/schedule?from={}&to={}",
                now.format("%Y-%m-%dT00:00:00Z"),
                (now + chrono::Duration::days(30)).format("%Y-%m-%dT00:00:00Z")
            ),
            "schedule.read",
            None,
        ),
        (&inbox::FUNCTION, "/inbox".into(), "inbox.read", None),
        (
            &assign::FUNCTION,
            "/v2/doctor/patients/summary".into(),
            "patients.list",
            None,
        ),
        (
            &directory::FUNCTION,
            "/patients".into(),
            "patients.list",
            None,
        ),
        (
            &directory::FUNCTION,
            format!("/therapists/{}/patients", w.therapist_a),
            "patients.list",
            None,
        ),
        (
            &schedule::FUNCTION,
            "/reschedule-requests?status=pending".into(),
            "reschedule_requests.list",
            None,
        ),
    ];
    for (function, path, action, patient) in reads {
        let reply = get(&db, function, &w.therapist_of_a(), path).await;
        assert_eq!(
            events_of(&db, &reply).await,
            vec![(action.to_string(), *patient)],
            "GET {path}"
        );
    }
    // The same read again is a second event: one per request, never per row.
    let again = get(
        &db,
        &schedule::FUNCTION,
        &w.therapist_of_a(),
        &format!("/clients/{p}"),
    )
    .await;
    assert_eq!(events_of(&db, &again).await.len(), 1);
    // A read refused (another clinic's patient) shows nothing and writes nothing.
    let refused = db
        .call_as(
            &schedule::FUNCTION,
            &w.therapist_of_a(),
            Method::GET,
            &format!("/clients/{}", w.patient_b),
            None,
        )
        .await;
    refused.assert_problem(404, "patient_not_found");
    assert!(events_of(&db, &refused).await.is_empty());
    // Every event went into A's chain, which still verifies.
    assert_eq!(db.first_broken_link(w.clinic_a).await, None);
}

/// The world's therapist of A reads the record of A's patient `times` times.
async fn read_record(db: &TestDb, w: &World, times: usize) {
    for _ in 0..times {
        let path = format!("/clients/{}", w.patient_a);
        get(db, &schedule::FUNCTION, &w.therapist_of_a(), &path).await;
    }
}

/// `GET /api/admin/audit` with `query` as `who`.
async fn trail(db: &TestDb, who: &Identity, query: &str) -> Reply {
    db.call_as(
        &audit_trail::FUNCTION,
        who,
        Method::GET,
        &format!("/api/admin/audit{query}"),
        None,
    )
    .await
}

fn actions(page: &Value) -> Vec<&str> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn admins_read_and_filter_their_own_clinics_trail_only() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let p = w.patient_a;
    read_record(&db, &w, 3).await;
    get(&db, &directory::FUNCTION, &w.admin_of_a(), "/patients").await;
    get(&db, &directory::FUNCTION, &w.admin_of_b(), "/patients").await;

    // Filtered by patient: the three reads of Pia's record, newest first, each naming the
    // reader and the patient, nothing else.
    let by_patient = trail(&db, &w.admin_of_a(), &format!("?patientId={p}")).await;
    assert_eq!(by_patient.status, 200, "{}", by_patient.text);
    assert_eq!(by_patient.body["clinicId"], json!(w.clinic_a));
    assert_eq!(actions(&by_patient.body), ["patient.record.read"; 3]);
    let first = &by_patient.body["events"][0];
    assert_eq!(first["actorId"], json!(w.therapist_a));
    assert_eq!(first["actorRole"], "therapist");
    assert_eq!(first["patientId"], json!(p));
    // By actor and by action.
    let by_admin = trail(&db, &w.admin_of_a(), &format!("?actorId={}", w.admin_a)).await;
    assert_eq!(actions(&by_admin.body), ["patients.list"]);
    let by_action = trail(&db, &w.admin_of_a(), "?action=patients.list").await;
    assert_eq!(actions(&by_action.body), ["patients.list"]);
    // By time: nothing before the fixture existed.
    let before = trail(&db, &w.admin_of_a(), "?to=2020-01-01T00:00:00Z").await;
    assert_eq!(actions(&before.body), Vec::<&str>::new());

    // Cursor pages walk the chain down without repeating or skipping an event.
    let whole = trail(&db, &w.admin_of_a(), "?limit=200").await;
    let mut walked = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let page = trail(&db, &w.admin_of_a(), &query).await;
        assert_eq!(page.status, 200, "{}", page.text);
        walked.extend(page.body["events"].as_array().unwrap().iter().cloned());
        match page.body["nextCursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(Value::Array(walked), whole.body["events"]);
    assert!(whole.body["events"].as_array().unwrap().len() >= 4);

    // B's admin reads B's trail: none of A's events, whatever they ask for.
    let of_b = trail(&db, &w.admin_of_b(), &format!("?patientId={p}")).await;
    assert_eq!(of_b.body["clinicId"], json!(w.clinic_b));
    assert_eq!(actions(&of_b.body), Vec::<&str>::new());
    let all_b = trail(&db, &w.admin_of_b(), "?limit=200").await;
    assert_eq!(actions(&all_b.body), ["patients.list"]);
    trail(&db, &w.admin_of_b(), &format!("?clinicId={}", w.clinic_a))
        .await
        .assert_problem(403, "forbidden");
    // Clinicians are not the trail's readers.
    trail(&db, &w.therapist_of_a(), "")
        .await
        .assert_problem(403, "forbidden");

    // A super admin (signed in at B) reads A's trail by naming it, and only then.
    let root = Uuid::new_v4();
    db.admin
        .execute(
            "with c as (
               insert into app.clinicians (id, email, first_name, last_name, is_super_admin)
               values ($1, 'root@test.example', 'Rae', 'Root', true) returning id
             )
             insert into app.clinic_memberships (org_id, clinician_id, is_admin, approved)
             select $2, id, true, true from c",
            &[&root, &w.clinic_b],
        )
        .await
        .unwrap();
    let super_admin = staff(root, w.clinic_b, "super_admin");
    let named = trail(
        &db,
        &super_admin,
        &format!("?clinicId={}&patientId={p}", w.clinic_a),
    )
    .await;
    assert_eq!(named.body["clinicId"], json!(w.clinic_a));
    assert_eq!(actions(&named.body), ["patient.record.read"; 3]);
    let own = trail(&db, &super_admin, &format!("?patientId={p}")).await;
    assert_eq!(own.body["clinicId"], json!(w.clinic_b));
    assert_eq!(actions(&own.body), Vec::<&str>::new());

    // Bad input names its parameter.
    for (query, field) in [
        ("?actorId=someone", "actorId"),
        ("?patientId=1", "patientId"),
        ("?clinicId=x", "clinicId"),
        ("?action=Drop%20table", "action"),
        ("?from=yesterday", "from"),
        ("?cursor=0", "cursor"),
        ("?limit=0", "limit"),
        ("?sort=asc", "sort"),
    ] {
        let refused = trail(&db, &w.admin_of_a(), query).await;
        refused.assert_problem(400, "invalid_input");
        assert_eq!(refused.body["errors"][0]["field"], field, "{query}");
    }
}

#[tokio::test]
async fn a_patient_sees_which_staff_read_their_record_and_no_one_elses() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let other = db.patient(w.clinic_a).await;
    let p = w.patient_a;
    get(
        &db,
        &schedule::FUNCTION,
        &w.therapist_of_a(),
        &format!("/clients/{p}"),
    )
    .await;
    get(
        &db,
        &records::FUNCTION,
        &w.admin_of_a(),
        &format!("/clients/{p}/documents"),
    )
    .await;
    get(
        &db,
        &schedule::FUNCTION,
        &w.admin_of_a(),
        &format!("/clients/{other}"),
    )
    .await;
    // A list read names no patient: it is not in anyone's access log.
    get(&db, &directory::FUNCTION, &w.therapist_of_a(), "/patients").await;

    let log = as_patient(
        &db,
        "alpha",
        &w.patient_of_a(),
        Method::GET,
        "/api/portal/access-log",
        None,
    )
    .await;
    assert_eq!(log.status, 200, "{}", log.text);
    let accesses = log.body["accesses"].as_array().unwrap();
    let shown: Vec<(&str, &str, &str)> = accesses
        .iter()
        .map(|a| {
            (
                a["staffName"].as_str().unwrap(),
                a["role"].as_str().unwrap(),
                a["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("Ada Admin", "admin", "documents"),
            ("Tom Alpha", "therapist", "record")
        ]
    );
    // Names, roles, times and kinds only: no ids, requests or other patients.
    for access in accesses {
        let mut members: Vec<&str> = access
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        members.sort();
        assert_eq!(members, ["at", "kind", "role", "staffName"]);
    }
    assert!(!log.text.contains(&other.to_string()));

    // The other patient's log has the admin's read of their record only.
    let theirs = as_patient(
        &db,
        "alpha",
        &wardline_tests::patient(other, w.clinic_a),
        Method::GET,
        "/api/portal/access-log?limit=1",
        None,
    )
    .await;
    assert_eq!(theirs.status, 200, "{}", theirs.text);
    assert_eq!(theirs.body["accesses"].as_array().unwrap().len(), 1);
    assert_eq!(theirs.body["accesses"][0]["staffName"], "Ada Admin");
    assert_eq!(theirs.body["nextCursor"], Value::Null);

    // Pages: one access at a time, the cursor goes on to the older one.
    let first = as_patient(
        &db,
        "alpha",
        &w.patient_of_a(),
        Method::GET,
        "/api/portal/access-log?limit=1",
        None,
    )
    .await;
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let second = as_patient(
        &db,
        "alpha",
        &w.patient_of_a(),
        Method::GET,
        &format!("/api/portal/access-log?limit=1&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(second.body["accesses"][0]["staffName"], "Tom Alpha");
    let bad = as_patient(
        &db,
        "alpha",
        &w.patient_of_a(),
        Method::GET,
        "/api/portal/access-log?cursor=x",
        None,
    )
    .await;
    bad.assert_problem(400, "invalid_input");
    assert_eq!(bad.body["errors"][0]["field"], "cursor");
}

#[tokio::test]
async fn a_queue_read_is_one_event_in_each_clinic_it_shows() {
    use wardline_tests::prescribing::{paid_invoice, Prescribing};
    let db = TestDb::new().await;
    let rx = Prescribing::create(&db).await;
    let w = &rx.w;
    paid_invoice(&db, w.clinic_a, w.patient_a, 5).await;
    paid_invoice(&db, w.clinic_b, w.patient_b, 4).await;
    let page = db
        .call_as(
            &provider_queue::FUNCTION,
            &rx.prescriber_at(w.clinic_a),
            Method::GET,
            "/api/provider/prescription-queue",
            None,
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let request = page.headers["x-request-id"].to_str().unwrap();
    let chains: Vec<(Uuid, String)> = db
        .admin
        .query(
            "select org_id, action from audit.events where request_id = $1 order by org_id",
            &[&request],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut expected = vec![
        (w.clinic_a, "prescriptions.queue.read".to_string()),
        (w.clinic_b, "prescriptions.queue.read".to_string()),
    ];
    expected.sort();
    assert_eq!(chains, expected);
    // Nothing shown from C (no work there), so nothing written into C's chain.
    assert_eq!(db.first_broken_link(rx.clinic_c).await, None);
}

/// `GET /api/admin/audit/export` as `who`: the event lines and the last line.
async fn export(db: &TestDb, who: &Identity, query: &str) -> (Vec<Value>, Value) {
    let reply = db
        .call_as(
            &audit_trail::FUNCTION,
            who,
            Method::GET,
            &format!("/api/admin/audit/export{query}"),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.headers["content-type"], "application/x-ndjson");
    let mut lines: Vec<Value> = reply
        .text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let last = lines.pop().unwrap();
    (lines, last)
}

#[tokio::test]
async fn the_export_verifies_and_finds_a_tampered_row_and_a_removed_tail() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let p = w.patient_a;
    read_record(&db, &w, 5).await;
    get(&db, &directory::FUNCTION, &w.admin_of_b(), "/patients").await;

    // The whole chain: every event, each with what its hash covers, then a verification that
    // holds (no anchors in this deployment: said so).
    let (events, last) = export(&db, &w.admin_of_a(), "").await;
    assert_eq!(events.len(), 5);
    assert_eq!(events[0]["seq"], 1);
    assert_eq!(events[0]["action"], "patient.record.read");
    assert_eq!(events[0]["patientId"], json!(p));
    assert_eq!(events[0]["clinicId"], json!(w.clinic_a));
    assert_eq!(events[0]["hash"].as_str().unwrap().len(), 64);
    let verification = &last["verification"];
    assert_eq!(verification["verified"], true, "{last}");
    assert_eq!(verification["eventsChecked"], 5);
    assert_eq!(verification["anchorsConfigured"], false);
    assert_eq!(
        (
            verification["fromSeq"].clone(),
            verification["toSeq"].clone()
        ),
        (json!(1), json!(5))
    );
    assert_eq!(last["next"], Value::Null);

    // In pages: two events, then the rest from `next`; each page verifies on its own.
    let (page, last) = export(&db, &w.admin_of_a(), "?limit=2").await;
    assert_eq!(page.len(), 2);
    assert_eq!(last["next"], "2");
    assert_eq!(last["verification"]["verified"], true);
    let (rest, last) = export(&db, &w.admin_of_a(), "?after=2").await;
    assert_eq!(
        rest.iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [3, 4, 5, 6, 7]
    );
    // The two exports before this one are in the chain too.
    assert_eq!(rest[3]["action"], "audit.export");
    assert_eq!(rest[4]["action"], "audit.export");
    assert_eq!(last["verification"]["verified"], true);
    // B's admin exports B's chain only.
    let (of_b, _) = export(&db, &w.admin_of_b(), "").await;
    assert!(of_b.iter().all(|e| e["clinicId"] == json!(w.clinic_b)));

    // A row changed by the owner: the export names it, whatever the database says of itself.
    db.as_owner(&format!(
        "update audit.events set target_id = 'x' where org_id = '{}' and chain_seq = 3",
        w.clinic_a
    ))
    .await;
    let (_, last) = export(&db, &w.admin_of_a(), "").await;
    let verification = &last["verification"];
    assert_eq!(verification["verified"], false);
    assert_eq!(verification["broken"]["seq"], 3);
    assert!(verification["broken"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("hash mismatch"));
    // A range after the change still verifies: the broken row is outside it.
    let (_, last) = export(&db, &w.admin_of_a(), "?after=3&limit=2").await;
    assert_eq!(last["verification"]["verified"], true);

    // The tail removed (the chain head left as it was): the export of the whole chain ends
    // before the head and says so.
    db.as_owner(&format!(
        "update audit.events set target_id = '{p}' where org_id = '{a}' and chain_seq = 3;
             delete from audit.events where org_id = '{a}' and chain_seq > 5",
        a = w.clinic_a
    ))
    .await;
    let (events, last) = export(&db, &w.admin_of_a(), "").await;
    assert!(events.len() >= 5);
    let verification = &last["verification"];
    assert_eq!(verification["verified"], false, "{last}");
    assert!(verification["broken"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("tail missing"));

    // Bad input names its parameter; clinicians export nothing.
    for (query, field) in [
        ("?after=0", "after"),
        ("?limit=5001", "limit"),
        ("?from=x", "from"),
    ] {
        let refused = db
            .call_as(
                &audit_trail::FUNCTION,
                &w.admin_of_a(),
                Method::GET,
                &format!("/api/admin/audit/export{query}"),
                None,
            )
            .await;
        refused.assert_problem(400, "invalid_input");
        assert_eq!(refused.body["errors"][0]["field"], field, "{query}");
    }
    db.call_as(
        &audit_trail::FUNCTION,
        &w.therapist_of_a(),
        Method::GET,
        "/api/admin/audit/export",
        None,
    )
    .await
    .assert_problem(403, "forbidden");
}
