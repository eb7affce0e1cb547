//! The directory (issue 21): every row of Fuji36's authorization table, allowed and refused
//! (admins of A and of B, a therapist for themself and for someone else, a therapist on an
//! admin route), over the same rows the OktaPT routes use; the staff lifecycle, with a
//! deactivation refusing the therapist's very next request; patients created, changed,
//! archived and restored, every bad input a 400 naming its field that writes nothing, medical
//! notes sealed at rest; audit events; and the new writes bounded by RLS in SQL.

use http::Method;
use serde_json::{json, Value};
use tokio_postgres::error::SqlState;
use uuid::Uuid;
use wardline_tests::{
    as_user,
    keys::Identity,
    patient,
    portal::{as_patient, ME},
    staff, Reply, TestDb, World,
};

async fn call(
    db: &TestDb,
    who: &Identity,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    db.call_as(&directory::FUNCTION, who, method, path, body)
        .await
}

async fn get(db: &TestDb, who: &Identity, path: &str) -> Reply {
    call(db, who, Method::GET, path, None).await
}

async fn post(db: &TestDb, who: &Identity, path: &str, body: Option<Value>) -> Reply {
    call(db, who, Method::POST, path, body).await
}

#[track_caller]
fn ok(reply: &Reply) -> &Value {
    assert!(reply.status.is_success(), "{reply:?}");
    &reply.body
}

/// The ids of a list's `key` entries under `id`.
fn ids(body: &Value, key: &str, id: &str) -> Vec<Uuid> {
    body[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {body}"))
        .iter()
        .map(|item| item[id].as_str().unwrap().parse().unwrap())
        .collect()
}

/// An approved therapist of clinic A in nobody's care team ("not assigned").
async fn unassigned_therapist(db: &TestDb, w: &World) -> Uuid {
    let id = Uuid::new_v4();
    db.admin
        .execute(
            "with person as (
               insert into app.clinicians (id, email, first_name, last_name)
               values ($1, 'una@test.example', 'Una', 'Signed') returning id
             )
             insert into app.clinic_memberships (org_id, clinician_id, approved)
             select $2, id, true from person",
            &[&id, &w.clinic_a],
        )
        .await
        .unwrap();
    id
}

async fn audited(db: &TestDb, action: &str, target: Uuid) -> i64 {
    db.count(
        "select count(*) from audit.events where action = $1 and target_id = $2",
        &[&action, &target.to_string()],
    )
    .await
}

/// What a refused write must leave as it was.
async fn directory_rows(db: &TestDb) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "app.clinicians",
        "app.clinic_memberships",
        "app.patients",
        "app.care_team",
        "app.outbox",
        "audit.events",
    ] {
        counts.push(
            db.count(&format!("select count(*) from {table}"), &[])
                .await,
        );
    }
    counts.push(
        db.count(
            "select count(*) from app.patients where updated_at <> created_at",
            &[],
        )
        .await,
    );
    counts
}

/// `POST /therapist-patient-relationships` as `who`.
async fn relate(db: &TestDb, who: &Identity, therapist: Uuid, patient: Uuid) -> Reply {
    let body = json!({"therapistId": therapist, "patientId": patient});
    post(db, who, "/therapist-patient-relationships", Some(body)).await
}

/// `DELETE /therapist-patient-relationships/{therapistId}/{patientId}` as `who`.
async fn unrelate(db: &TestDb, who: &Identity, therapist: Uuid, patient: Uuid) -> Reply {
    let path = format!("/therapist-patient-relationships/{therapist}/{patient}");
    call(db, who, Method::DELETE, &path, None).await
}

/// How many of `thread` `who` reads in SQL (0 or 1).
async fn threads_seen(user: &mut tokio_postgres::Client, who: &Identity, thread: Uuid) -> usize {
    as_user(
        user,
        who,
        "select id from app.threads where id = $1",
        &[&thread],
    )
    .await
    .unwrap()
    .len()
}

#[tokio::test]
async fn the_fuji36_therapist_rows_allow_and_refuse_as_the_table_says() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let (admin_a, admin_b, therapist) = (w.admin_of_a(), w.admin_of_b(), w.therapist_of_a());

    // POST /therapists: admin.
    let created = post(
        &db,
        &admin_a,
        "/therapists",
        Some(json!({"email": "new@test.example", "firstName": "Nia", "lastName": "New"})),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let new: Uuid = created.body["therapistId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    post(
        &db,
        &therapist,
        "/therapists",
        Some(json!({"email": "x@test.example", "firstName": "X", "lastName": "Y"})),
    )
    .await
    .assert_problem(403, "forbidden");

    // GET /therapists/{therapistId} and /therapists/user/{userId}: self, admin.
    for prefix in ["/therapists", "/therapists/user"] {
        let own = get(&db, &therapist, &format!("{prefix}/{}", w.therapist_a)).await;
        assert_eq!(ok(&own)["therapistId"], json!(w.therapist_a));
        assert_eq!(own.body["userId"], json!(w.therapist_a));
        assert_eq!(own.body["status"], "active");
        for other in [w.admin_a, w.both, w.therapist_b, Uuid::new_v4()] {
            get(&db, &therapist, &format!("{prefix}/{other}"))
                .await
                .assert_problem(403, "forbidden");
        }
        let by_admin = get(&db, &admin_a, &format!("{prefix}/{}", w.therapist_a)).await;
        assert_eq!(ok(&by_admin), &own.body);
        assert_eq!(
            ok(&get(&db, &admin_a, &format!("{prefix}/{new}")).await)["status"],
            "pending"
        );
        get(&db, &admin_b, &format!("{prefix}/{}", w.therapist_a))
            .await
            .assert_problem(404, "therapist_not_found");
    }

    // GET /therapists: therapists (their active colleagues), admins (any status).
    let mut active = vec![w.admin_a, w.therapist_a, w.both];
    active.sort();
    let mut listed = ids(
        ok(&get(&db, &therapist, "/therapists").await),
        "therapists",
        "therapistId",
    );
    listed.sort();
    assert_eq!(listed, active);
    for status in ["pending", "inactive"] {
        get(&db, &therapist, &format!("/therapists?status={status}"))
            .await
            .assert_problem(403, "forbidden");
    }
    let pending = get(&db, &admin_a, "/therapists?status=pending").await;
    assert_eq!(ids(ok(&pending), "therapists", "therapistId"), [new]);
    let of_b = ids(
        ok(&get(&db, &admin_b, "/therapists").await),
        "therapists",
        "therapistId",
    );
    assert!(
        !of_b.contains(&w.therapist_a) && of_b.contains(&w.therapist_b),
        "{of_b:?}"
    );

    // GET /therapists/new and /therapists/with-patients: admins only.
    let waiting = get(&db, &admin_a, "/therapists/new").await;
    assert_eq!(ids(ok(&waiting), "therapists", "therapistId"), [new]);
    let with = get(&db, &admin_a, "/therapists/with-patients").await;
    let theirs = ok(&with)["therapists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["therapistId"] == json!(w.therapist_a))
        .unwrap()
        .clone();
    assert_eq!(ids(&theirs, "patients", "patientId"), [w.patient_a]);
    for path in ["/therapists/new", "/therapists/with-patients"] {
        get(&db, &therapist, path)
            .await
            .assert_problem(403, "forbidden");
    }
    assert_eq!(
        ids(
            ok(&get(&db, &admin_b, "/therapists/new").await),
            "therapists",
            "therapistId"
        ),
        Vec::<Uuid>::new()
    );

    // GET /therapists/{therapistId}/patients: self, admin; patients as the OktaPT care team
    // made them.
    let own = get(
        &db,
        &therapist,
        &format!("/therapists/{}/patients", w.therapist_a),
    )
    .await;
    assert_eq!(ids(ok(&own), "patients", "patientId"), [w.patient_a]);
    assert_eq!(own.body["patients"][0]["userId"], json!(w.patient_a));
    assert!(own.body["patients"][0].get("medicalNotes").is_none());
    get(&db, &therapist, &format!("/therapists/{}/patients", w.both))
        .await
        .assert_problem(403, "forbidden");
    let by_admin = get(
        &db,
        &admin_a,
        &format!("/therapists/{}/patients", w.therapist_a),
    )
    .await;
    assert_eq!(ok(&by_admin), &own.body);
    get(
        &db,
        &admin_b,
        &format!("/therapists/{}/patients", w.therapist_a),
    )
    .await
    .assert_problem(404, "therapist_not_found");

    // Approve, deactivate, reactivate: admins, of their own clinic.
    for action in ["approve", "deactivate", "reactivate"] {
        post(
            &db,
            &therapist,
            &format!("/therapists/{new}/{action}"),
            None,
        )
        .await
        .assert_problem(403, "forbidden");
        post(&db, &admin_b, &format!("/therapists/{new}/{action}"), None)
            .await
            .assert_problem(404, "therapist_not_found");
    }
    assert_eq!(
        ok(&get(&db, &admin_a, &format!("/therapists/{new}")).await)["status"],
        "pending"
    );
}

#[tokio::test]
async fn the_fuji36_patient_rows_allow_and_refuse_as_the_table_says() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let stranger = staff(unassigned_therapist(&db, &w).await, w.clinic_a, "therapist");
    let (admin_a, admin_b, therapist) = (w.admin_of_a(), w.admin_of_b(), w.therapist_of_a());

    // POST /patients: admin.
    let created = post(
        &db,
        &admin_a,
        "/patients",
        Some(json!({"firstName": "Ola", "lastName": "Owens"})),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let ola: Uuid = created.body["patientId"].as_str().unwrap().parse().unwrap();
    post(
        &db,
        &therapist,
        "/patients",
        Some(json!({"firstName": "No", "lastName": "Way"})),
    )
    .await
    .assert_problem(403, "forbidden");

    // GET /patients/{patientId} and /patients/user/{userId}: an admin and the assigned
    // therapist; an unassigned therapist and the other clinic's admin get the 404 an unknown
    // id gets.
    for prefix in ["/patients", "/patients/user"] {
        let path = format!("{prefix}/{}", w.patient_a);
        let by_admin = get(&db, &admin_a, &path).await;
        assert_eq!(ok(&by_admin)["patientId"], json!(w.patient_a));
        assert_eq!(by_admin.body["userId"], json!(w.patient_a));
        assert_eq!(ok(&get(&db, &therapist, &path).await), &by_admin.body);
        for who in [&stranger, &admin_b] {
            get(&db, who, &path)
                .await
                .assert_problem(404, "patient_not_found");
        }
        get(&db, &admin_a, &format!("{prefix}/{}", Uuid::new_v4()))
            .await
            .assert_problem(404, "patient_not_found");
    }
    // The patient reads themselves through the portal; their token opens no staff route.
    let me = as_patient(&db, "alpha", &w.patient_of_a(), Method::GET, ME, None).await;
    assert_eq!(ok(&me)["patient"]["id"], json!(w.patient_a));
    get(
        &db,
        &w.patient_of_a(),
        &format!("/patients/{}", w.patient_a),
    )
    .await
    .assert_problem(403, "forbidden");

    // GET /patients: therapists (their patients), admins (the clinic's).
    let mut all_a = vec![w.patient_a, ola];
    all_a.sort();
    let mut listed = ids(
        ok(&get(&db, &admin_a, "/patients").await),
        "patients",
        "patientId",
    );
    listed.sort();
    assert_eq!(listed, all_a);
    assert_eq!(
        ids(
            ok(&get(&db, &therapist, "/patients").await),
            "patients",
            "patientId"
        ),
        [w.patient_a]
    );
    assert_eq!(
        ids(
            ok(&get(&db, &stranger, "/patients").await),
            "patients",
            "patientId"
        ),
        Vec::<Uuid>::new()
    );
    assert_eq!(
        ids(
            ok(&get(&db, &admin_b, "/patients").await),
            "patients",
            "patientId"
        ),
        [w.patient_b]
    );

    // PATCH, archive, restore: admins of the patient's clinic.
    let change = Some(json!({"address": "1 Main St"}));
    for (who, status, code) in [
        (&therapist, 403, "forbidden"),
        (&admin_b, 404, "patient_not_found"),
    ] {
        call(
            &db,
            who,
            Method::PATCH,
            &format!("/patients/{ola}"),
            change.clone(),
        )
        .await
        .assert_problem(status, code);
        for action in ["archive", "restore"] {
            post(&db, who, &format!("/patients/{ola}/{action}"), None)
                .await
                .assert_problem(status, code);
        }
    }
    let changed = call(
        &db,
        &admin_a,
        Method::PATCH,
        &format!("/patients/{ola}"),
        change,
    )
    .await;
    assert_eq!(ok(&changed)["address"], "1 Main St");
}

#[tokio::test]
async fn relationships_are_the_care_team_a_therapist_acts_for_self_an_admin_for_anyone() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    // Every therapist sees every patient of A, so who may join is the table's question alone.
    db.set_flag(w.clinic_a, "allActivePatientsDashboard", true)
        .await;
    let (admin_a, admin_b, therapist) = (w.admin_of_a(), w.admin_of_b(), w.therapist_of_a());
    let patient = db
        .admin
        .query_one(
            "insert into app.patients (org_id, first_name, last_name)
             values ($1, 'Rae', 'Related') returning id",
            &[&w.clinic_a],
        )
        .await
        .unwrap()
        .get::<_, Uuid>(0);
    // A therapist for themself; not for a colleague (which the OktaPT route would allow).
    let own = relate(&db, &therapist, w.therapist_a, patient).await;
    assert_eq!(ok(&own)["status"], "Active");
    assert_eq!(own.body["changed"], true);
    assert_eq!(own.body["therapistId"], json!(w.therapist_a));
    relate(&db, &therapist, w.both, patient)
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(db.care_team_row(patient, w.both).await, None);
    // An admin for anyone; one row per pair, a repeat changes nothing.
    assert_eq!(
        ok(&relate(&db, &admin_a, w.both, patient).await)["status"],
        "Active"
    );
    assert_eq!(
        ok(&relate(&db, &admin_a, w.both, patient).await)["changed"],
        false
    );
    // The other clinic's admin sees neither the patient nor the relationship.
    relate(&db, &admin_b, w.therapist_a, patient)
        .await
        .assert_problem(422, "unknown_patient");
    unrelate(&db, &admin_b, w.therapist_a, patient)
        .await
        .assert_problem(404, "care_team_member_not_found");

    // The OktaPT routes see the same rows.
    let summary = db
        .care(&therapist, Method::GET, "/v2/doctor/patients/summary", None)
        .await;
    assert!(ids(ok(&summary), "patients", "id").contains(&patient));

    // DELETE: soft, to Inactive; a therapist for themself, an admin for anyone.
    unrelate(&db, &therapist, w.both, patient)
        .await
        .assert_problem(403, "forbidden");
    let left = unrelate(&db, &therapist, w.therapist_a, patient).await;
    assert_eq!(ok(&left)["status"], "Inactive");
    assert_eq!(
        ok(&unrelate(&db, &admin_a, w.both, patient).await)["status"],
        "Inactive"
    );
    assert_eq!(
        db.care_team_row(patient, w.therapist_a).await.map(|r| r.0),
        Some("inactive".into())
    );
    // Reactivation of the inactive one, still one row per pair.
    let back = relate(&db, &therapist, w.therapist_a, patient).await;
    assert_eq!(
        (ok(&back)["status"].clone(), back.body["changed"].clone()),
        (json!("Active"), json!(true))
    );
    assert_eq!(
        db.count(
            "select count(*) from app.care_team where patient_id = $1 and clinician_id = $2",
            &[&patient, &w.therapist_a],
        )
        .await,
        1
    );
    for (action, n) in [
        ("care_team.assign", 2),
        ("care_team.unassign", 2),
        ("care_team.reactivate", 1),
    ] {
        assert_eq!(audited(&db, action, patient).await, n, "{action}");
    }

    // Suspended by an admin (the OktaPT PATCH): the therapist no longer sees the patient, and
    // only the OktaPT PATCH lifts it, not a new relationship.
    let suspended = db
        .care(
            &admin_a,
            Method::PATCH,
            &format!("/v2/doctor/patients/{patient}/therapists/{}", w.therapist_a),
            Some(&json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(ok(&suspended)["status"], "suspended");
    relate(&db, &therapist, w.therapist_a, patient)
        .await
        .assert_problem(422, "unknown_patient");
    relate(&db, &admin_a, w.therapist_a, patient)
        .await
        .assert_problem(409, "care_team_member_suspended");
    unrelate(&db, &therapist, w.therapist_a, patient)
        .await
        .assert_problem(409, "care_team_member_suspended");
    // Bad input names its field and writes nothing.
    let before = directory_rows(&db).await;
    for (body, field) in [
        (json!({"patientId": patient}), "therapistId"),
        (json!({"therapistId": w.therapist_a}), "patientId"),
        (
            json!({"therapistId": w.therapist_a, "patientId": patient, "notes": " "}),
            "notes",
        ),
        (
            json!({"therapistId": w.therapist_a, "patientId": patient, "status": "Active"}),
            "status",
        ),
        (
            json!({"therapistId": "x", "patientId": patient}),
            "therapistId",
        ),
    ] {
        let reply = post(
            &db,
            &admin_a,
            "/therapist-patient-relationships",
            Some(body),
        )
        .await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{reply:?}");
    }
    assert_eq!(directory_rows(&db).await, before);
    // The flag the OktaPT assignment needs, the Fuji36 one needs too.
    db.set_flag(w.clinic_a, "therapistPatientAssignment", false)
        .await;
    relate(&db, &admin_a, w.therapist_a, patient)
        .await
        .assert_problem(403, "feature_disabled");
}

#[tokio::test]
async fn staff_are_created_pending_approved_deactivated_at_once_and_reactivated() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let (admin_a, admin_b) = (w.admin_of_a(), w.admin_of_b());
    let subject = Uuid::new_v4();
    let created = post(
        &db,
        &admin_a,
        "/therapists",
        Some(json!({
            "email": " Kim@Test.Example ",
            "firstName": "Kim",
            "lastName": "Kato",
            "userId": subject,
            "licenseNumber": "LMHC-123",
            "specialization": "EMDR",
            "phoneNumber": "+14155550199",
        })),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    for (member, value) in [
        ("therapistId", json!(subject)),
        ("userId", json!(subject)),
        ("email", json!("kim@test.example")),
        ("licenseNumber", json!("LMHC-123")),
        ("specialization", json!("EMDR")),
        ("phoneNumber", json!("+14155550199")),
        ("status", json!("pending")),
        ("isAdmin", json!(false)),
    ] {
        assert_eq!(created.body[member], value, "{member}");
    }
    assert!(created.body["createdAt"].is_string() && created.body["updatedAt"].is_string());
    // The invite: one e-mail to the new address, naming ids only.
    let invite = db
        .admin
        .query_one(
            "select recipient, payload, org_id from app.outbox where kind = 'staff_invite'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(invite.get::<_, String>(0), "kim@test.example");
    assert_eq!(invite.get::<_, Value>(1), json!({ "clinicianId": subject }));
    assert_eq!(invite.get::<_, Uuid>(2), w.clinic_a);
    assert_eq!(audited(&db, "therapist.create", subject).await, 1);

    // Pending: the token is refused until an admin approves.
    let kim = staff(subject, w.clinic_a, "therapist");
    let own = format!("/therapists/{subject}");
    get(&db, &kim, &own)
        .await
        .assert_problem(403, "not_a_member");
    let approved = post(&db, &admin_a, &format!("{own}/approve"), None).await;
    assert_eq!(
        (
            ok(&approved)["status"].clone(),
            approved.body["changed"].clone()
        ),
        (json!("active"), json!(true))
    );
    assert_eq!(
        ok(&post(&db, &admin_a, &format!("{own}/approve"), None).await)["changed"],
        false
    );
    assert_eq!(ok(&get(&db, &kim, &own).await)["status"], "active");
    assert!(ids(
        ok(&get(&db, &admin_a, "/therapists/new").await),
        "therapists",
        "therapistId"
    )
    .is_empty());

    // Deactivated: the very next request with the same token is refused.
    let off = post(&db, &admin_a, &format!("{own}/deactivate"), None).await;
    assert_eq!(ok(&off)["status"], "inactive");
    get(&db, &kim, &own)
        .await
        .assert_problem(403, "not_a_member");
    db.care(&kim, Method::GET, "/v2/doctor/patients/summary", None)
        .await
        .assert_problem(403, "not_a_member");
    assert_eq!(
        ids(
            ok(&get(&db, &admin_a, "/therapists?status=inactive").await),
            "therapists",
            "therapistId"
        ),
        [subject]
    );
    post(&db, &admin_a, &format!("{own}/approve"), None)
        .await
        .assert_problem(409, "therapist_inactive");
    assert_eq!(
        ok(&post(&db, &admin_a, &format!("{own}/deactivate"), None).await)["changed"],
        false
    );
    // Reactivated: in again, still approved.
    let on = post(&db, &admin_a, &format!("{own}/reactivate"), None).await;
    assert_eq!(ok(&on)["status"], "active");
    assert_eq!(
        ok(&get(&db, &kim, &own).await)["therapistId"],
        json!(subject)
    );
    for (action, n) in [
        ("therapist.approve", 1),
        ("therapist.deactivate", 1),
        ("therapist.reactivate", 1),
    ] {
        assert_eq!(audited(&db, action, subject).await, n, "{action}");
    }

    // An existing therapist's tokens stop at once too; an admin never changes themself, and
    // another clinic's admin reaches nothing.
    post(
        &db,
        &admin_a,
        &format!("/therapists/{}/deactivate", w.therapist_a),
        None,
    )
    .await;
    get(
        &db,
        &w.therapist_of_a(),
        &format!("/therapists/{}", w.therapist_a),
    )
    .await
    .assert_problem(403, "not_a_member");
    let before = directory_rows(&db).await;
    for action in ["approve", "deactivate", "reactivate"] {
        let own_change = post(
            &db,
            &admin_a,
            &format!("/therapists/{}/{action}", w.admin_a),
            None,
        )
        .await;
        own_change.assert_problem(403, "forbidden");
        assert_eq!(own_change.body["errors"][0]["field"], "therapistId");
        post(&db, &admin_b, &format!("{own}/{action}"), None)
            .await
            .assert_problem(404, "therapist_not_found");
    }
    assert_eq!(directory_rows(&db).await, before);
    assert_eq!(ok(&get(&db, &admin_a, &own).await)["status"], "active");
}

#[tokio::test]
async fn bad_or_taken_staff_input_is_a_4xx_naming_the_field_and_writes_nothing() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let admin = w.admin_of_a();
    let good = json!({"email": "ok@test.example", "firstName": "Ok", "lastName": "Fine"});
    let with = |member: &str, value: Value| {
        let mut body = good.clone();
        body[member] = value;
        body
    };
    let before = directory_rows(&db).await;
    for (body, field) in [
        (with("email", json!("nope")), "email"),
        (with("firstName", json!(" ")), "firstName"),
        (with("lastName", json!("A\nB")), "lastName"),
        (with("phoneNumber", json!("555-0199")), "phoneNumber"),
        (
            with("licenseNumber", json!("x".repeat(65))),
            "licenseNumber",
        ),
        (with("userId", json!(Uuid::nil())), "userId"),
        (with("userId", json!("sub-123")), "userId"),
        (with("isAdmin", json!(true)), "isAdmin"),
        (json!({"firstName": "No", "lastName": "Mail"}), "email"),
    ] {
        let reply = post(&db, &admin, "/therapists", Some(body)).await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{reply:?}");
    }
    // Wardline already has these people (here, in the other clinic): 409, nothing written.
    for (body, field) in [
        (with("email", json!("therapist.b@test.example")), "email"),
        (with("userId", json!(w.admin_b)), "userId"),
        (with("email", json!("therapist.a@test.example")), "email"),
    ] {
        let reply = post(&db, &admin, "/therapists", Some(body)).await;
        reply.assert_problem(409, "clinician_exists");
        assert_eq!(reply.body["errors"][0]["field"], field, "{reply:?}");
    }
    assert_eq!(directory_rows(&db).await, before);
}

#[tokio::test]
async fn patients_are_created_changed_archived_and_restored_with_sealed_medical_notes() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let (admin, therapist) = (w.admin_of_a(), w.therapist_of_a());
    let notes = "Allergic to penicillin.\nPrefers afternoon sessions.";
    let body = json!({
        "firstName": "Mia",
        "lastName": "Moss",
        "email": "Mia@Test.Example",
        "phoneNumber": "+14155550111",
        "dateOfBirth": "1988-07-01",
        "address": "9 Elm St\nSpringfield",
        "avatarUrl": "https://cdn.test.example/mia.png",
        "userExternalId": "EHR-0042",
        "medicalNotes": notes,
    });
    // An unknown member is refused, even as null.
    let mut unknown = body.clone();
    unknown["lastLogin"] = Value::Null;
    let refused = post(&db, &admin, "/patients", Some(unknown)).await;
    refused.assert_problem(400, "invalid_input");
    assert_eq!(refused.body["errors"][0]["field"], "lastLogin");
    let created = post(&db, &admin, "/patients", Some(body.clone())).await;
    assert_eq!(created.status, 201, "{created:?}");
    let mia: Uuid = created.body["patientId"].as_str().unwrap().parse().unwrap();
    for (member, value) in [
        ("userId", json!(mia)),
        ("email", json!("mia@test.example")),
        ("phoneNumber", json!("+14155550111")),
        ("dateOfBirth", json!("1988-07-01")),
        ("address", json!("9 Elm St\nSpringfield")),
        ("avatarUrl", json!("https://cdn.test.example/mia.png")),
        ("userExternalId", json!("EHR-0042")),
        ("medicalNotes", json!(notes)),
    ] {
        assert_eq!(created.body[member], value, "{member}");
    }
    // At rest the notes are sealed: key id, nonce, ciphertext, never the text.
    let row = db
        .admin
        .query_one(
            "select medical_notes_key_id, position(convert_to('penicillin', 'UTF8')
                                                   in medical_notes_ciphertext)
             from app.patients where id = $1",
            &[&mia],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "test-2");
    assert_eq!(row.get::<_, i32>(1), 0);
    assert_eq!(
        ok(&get(&db, &admin, &format!("/patients/{mia}")).await)["medicalNotes"],
        notes
    );
    let listed = get(&db, &admin, "/patients?search=moss").await;
    assert_eq!(ids(ok(&listed), "patients", "patientId"), [mia]);
    assert!(listed.body["patients"][0].get("medicalNotes").is_none());
    assert!(!listed.text.contains("sealed"));
    assert_eq!(audited(&db, "patient.create", mia).await, 1);

    // The same e-mail or external id again: 409 naming it, nothing written.
    let before = directory_rows(&db).await;
    for (member, value, field) in [
        ("email", json!("mia@test.example"), "email"),
        ("userExternalId", json!("EHR-0042"), "userExternalId"),
    ] {
        let mut other = json!({"firstName": "Twin", "lastName": "Moss"});
        other[member] = value;
        let reply = post(&db, &admin, "/patients", Some(other)).await;
        reply.assert_problem(409, "patient_exists");
        assert_eq!(reply.body["errors"][0]["field"], field);
    }
    // Bad input, creating or changing: a 400 naming the field, nothing written.
    let path = format!("/patients/{mia}");
    for (creating, change, field) in [
        (true, json!({"firstName": "Solo"}), "lastName"),
        (
            true,
            json!({"firstName": "A", "lastName": "B", "dateOfBirth": "2999-01-01"}),
            "dateOfBirth",
        ),
        (
            true,
            json!({"firstName": "A", "lastName": "B", "medicalNotes": "  "}),
            "medicalNotes",
        ),
        (false, json!({}), "body"),
        (false, json!({"firstName": null}), "firstName"),
        (false, json!({"email": 5}), "email"),
        (false, json!({"email": "not-an-address"}), "email"),
        (false, json!({"phoneNumber": "0411"}), "phoneNumber"),
        (false, json!({"dateOfBirth": "1990-02-30"}), "dateOfBirth"),
        (
            false,
            json!({"avatarUrl": "http://cdn.test.example/x.png"}),
            "avatarUrl",
        ),
        (false, json!({"address": "x".repeat(501)}), "address"),
        (false, json!({"userExternalId": "a\tb"}), "userExternalId"),
        (
            false,
            json!({"medicalNotes": "x".repeat(32_769)}),
            "medicalNotes",
        ),
        (false, json!({"id": mia}), "id"),
    ] {
        let reply = if creating {
            post(&db, &admin, "/patients", Some(change)).await
        } else {
            call(&db, &admin, Method::PATCH, &path, Some(change)).await
        };
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{reply:?}");
    }
    call(
        &db,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"email": "pia@test.example"})),
    )
    .await
    .assert_problem(409, "patient_exists");
    assert_eq!(directory_rows(&db).await, before);

    // PATCH: the fields named, null clearing; audited by name, never by value.
    let changed = call(
        &db,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"address": null, "phoneNumber": "+14155550122", "medicalNotes": null})),
    )
    .await;
    assert!(ok(&changed).get("address").is_none() && changed.body.get("medicalNotes").is_none());
    assert_eq!(changed.body["phoneNumber"], "+14155550122");
    assert_eq!(changed.body["firstName"], "Mia");
    let detail: Value = db
        .admin
        .query_one(
            "select detail from audit.events where action = 'patient.update' and target_id = $1",
            &[&mia.to_string()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        detail,
        json!({"fields": ["address", "medicalNotes", "phoneNumber"]})
    );
    let noted = call(
        &db,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"medicalNotes": "Back on file."})),
    )
    .await;
    assert_eq!(ok(&noted)["medicalNotes"], "Back on file.");

    // Archive: refused while the patient has a session ahead; then invisible to every policy.
    db.admin
        .execute(
            "insert into app.care_team (org_id, patient_id, clinician_id, assigned_by, updated_by)
             values ($1, $2, $3, $3, $3)",
            &[&w.clinic_a, &mia, &w.therapist_a],
        )
        .await
        .unwrap();
    let session: Uuid = db
        .admin
        .query_one(
            "insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                                       service_id, created_by)
             values ($1, $2, $3, 'scheduled',
                     tstzrange(now() + interval '1 day', now() + interval '1 day 50 minutes'),
                     $4, $2)
             returning id",
            &[&w.clinic_a, &w.therapist_a, &mia, &w.service_a],
        )
        .await
        .unwrap()
        .get(0);
    let thread: Uuid = db
        .admin
        .query_one(
            "insert into app.threads (org_id, patient_id, created_by, last_sender)
             values ($1, $2, $2, 'patient') returning id",
            &[&w.clinic_a, &mia],
        )
        .await
        .unwrap()
        .get(0);
    post(&db, &admin, &format!("{path}/archive"), None)
        .await
        .assert_problem(409, "patient_has_upcoming_sessions");
    db.admin
        .execute(
            "update app.sessions set status = 'cancelled', cancel_reason = 'Moving away'
             where id = $1",
            &[&session],
        )
        .await
        .unwrap();
    let mut user = db.authenticator().await;
    assert_eq!(threads_seen(&mut user, &therapist, thread).await, 1);
    let archived = post(&db, &admin, &format!("{path}/archive"), None).await;
    assert_eq!(ok(&archived)["archived"], true);
    assert_eq!(archived.body["medicalNotes"], "Back on file.");
    for who in [&admin, &therapist] {
        get(&db, who, &path)
            .await
            .assert_problem(404, "patient_not_found");
        assert!(!ids(
            ok(&get(&db, who, "/patients").await),
            "patients",
            "patientId"
        )
        .contains(&mia));
    }
    let summary = db
        .care(&therapist, Method::GET, "/v2/doctor/patients/summary", None)
        .await;
    assert!(!ids(ok(&summary), "patients", "id").contains(&mia));
    assert_eq!(
        threads_seen(&mut user, &therapist, thread).await,
        0,
        "the care team loses the threads"
    );
    as_patient(
        &db,
        "alpha",
        &patient(mia, w.clinic_a),
        Method::GET,
        ME,
        None,
    )
    .await
    .assert_problem(403, "not_a_member");
    post(&db, &admin, &format!("{path}/archive"), None)
        .await
        .assert_problem(404, "patient_not_found");
    call(
        &db,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"address": "x"})),
    )
    .await
    .assert_problem(404, "patient_not_found");

    // Restore: everything is theirs again; a live patient is answered unchanged.
    let restored = post(&db, &admin, &format!("{path}/restore"), None).await;
    assert_eq!(ok(&restored)["archived"], false);
    assert_eq!(restored.body["medicalNotes"], "Back on file.");
    assert_eq!(
        ok(&get(&db, &therapist, &path).await)["patientId"],
        json!(mia)
    );
    assert_eq!(threads_seen(&mut user, &therapist, thread).await, 1);
    assert_eq!(
        ok(&post(&db, &admin, &format!("{path}/restore"), None).await)["archived"],
        false
    );
    for (action, n) in [
        ("patient.update", 2),
        ("patient.archive", 1),
        ("patient.restore", 1),
    ] {
        assert_eq!(audited(&db, action, mia).await, n, "{action}");
    }

    // A restore whose e-mail a new patient took meanwhile: 409 naming it, still archived.
    post(&db, &admin, &format!("{path}/archive"), None).await;
    let taker = post(
        &db,
        &admin,
        "/patients",
        Some(json!({"firstName": "New", "lastName": "Mia", "email": "mia@test.example"})),
    )
    .await;
    assert_eq!(taker.status, 201, "{taker:?}");
    let refused = post(&db, &admin, &format!("{path}/restore"), None).await;
    refused.assert_problem(409, "patient_exists");
    assert_eq!(refused.body["errors"][0]["field"], "email");
    get(&db, &admin, &path)
        .await
        .assert_problem(404, "patient_not_found");
}

#[tokio::test]
async fn rls_bounds_the_directory_writes_whatever_a_handler_asks() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let mut user = db.authenticator().await;
    let denied = |result: Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>, what: &str| {
        match result {
            Err(e) => assert_eq!(
                e.code(),
                Some(&SqlState::INSUFFICIENT_PRIVILEGE),
                "{what}: {e}"
            ),
            Ok(rows) => assert!(rows.is_empty(), "{what}: {} rows", rows.len()),
        }
    };
    let person = "insert into app.clinicians (id, email, first_name, last_name, created_by)
                  values (gen_random_uuid(), 'p@test.example', 'P', 'Q', (select auth.uid()))
                  returning 1";
    // Only admins create people, never super admins.
    denied(
        as_user(&mut user, &w.therapist_of_a(), person, &[]).await,
        "a therapist creates a person",
    );
    denied(
        as_user(
            &mut user,
            &w.admin_of_a(),
            "insert into app.clinicians (email, first_name, last_name, created_by, is_super_admin)
             values ('r@test.example', 'R', 'S', (select auth.uid()), true)",
            &[],
        )
        .await,
        "an admin creates a super admin",
    );
    // Memberships: only admins, only of their current clinic, only as themselves (an admin
    // may add an existing user, as `POST /api/admin/clinic/users` does).
    for (who, org, author, what) in [
        (
            w.admin_of_a(),
            w.clinic_b,
            w.admin_a,
            "A's admin adds B's therapist to B",
        ),
        (
            w.admin_of_a(),
            w.clinic_a,
            w.admin_b,
            "a membership written as someone else",
        ),
        (
            w.therapist_of_a(),
            w.clinic_a,
            w.therapist_a,
            "a therapist adds staff",
        ),
    ] {
        denied(
            as_user(
                &mut user,
                &who,
                "insert into app.clinic_memberships (org_id, clinician_id, created_by, updated_by)
                 values ($1, $2, $3, $3)
                 returning 1",
                &[&org, &w.therapist_b, &author],
            )
            .await,
            what,
        );
    }
    // Admins change their clinic's memberships, never their own; therapists none.
    let change =
        "update app.clinic_memberships set active = false, updated_by = (select auth.uid())
                  where clinician_id = $1 returning 1";
    for (who, clinician, what) in [
        (w.admin_of_a(), w.admin_a, "an admin deactivates themself"),
        (
            w.admin_of_a(),
            w.therapist_b,
            "an admin of A deactivates B's therapist",
        ),
        (
            w.therapist_of_a(),
            w.both,
            "a therapist deactivates a colleague",
        ),
    ] {
        denied(as_user(&mut user, &who, change, &[&clinician]).await, what);
    }
    let allowed = as_user(&mut user, &w.admin_of_a(), change, &[&w.therapist_a])
        .await
        .unwrap();
    assert_eq!(allowed.len(), 1);
    // Patients: admins change their clinic's live ones; nobody archives by UPDATE.
    let rename = "update app.patients set first_name = 'Renamed', updated_by = (select auth.uid())
                  where id = $1 returning 1";
    denied(
        as_user(&mut user, &w.therapist_of_a(), rename, &[&w.patient_a]).await,
        "a therapist",
    );
    denied(
        as_user(&mut user, &w.admin_of_b(), rename, &[&w.patient_a]).await,
        "B's admin",
    );
    assert_eq!(
        as_user(&mut user, &w.admin_of_a(), rename, &[&w.patient_a])
            .await
            .unwrap()
            .len(),
        1
    );
    denied(
        as_user(
            &mut user,
            &w.admin_of_a(),
            "update app.patients set deleted_at = now() where id = $1 returning 1",
            &[&w.patient_a],
        )
        .await,
        "an archive by UPDATE",
    );
    // The archiver acts only for an admin of the patient's clinic.
    for who in [w.therapist_of_a(), w.admin_of_b()] {
        let archived = as_user(
            &mut user,
            &who,
            "select app.set_patient_archived($1, true)",
            &[&w.patient_a],
        )
        .await
        .unwrap();
        assert_eq!(
            archived[0].get::<_, String>(0),
            "unchanged",
            "{}",
            who.app_role
        );
    }
}
