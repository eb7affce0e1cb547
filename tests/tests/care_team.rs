//! Care teams through the `assign` function: assigning, removing, suspending, the flags that
//! gate them, and who sees which patient — through the API and directly in SQL as `app_user`.

use http::Method;
use serde_json::{json, Value};
use tokio_postgres::error::SqlState;
use uuid::Uuid;
use wardline_tests::{as_user, staff, TestDb, World};

const ASSIGN: &str = "/v2/doctor/patients/assign";

fn member_path(patient: Uuid, therapist: Uuid) -> String {
    format!("/v2/doctor/patients/{patient}/therapists/{therapist}")
}

/// A patient of `org` with no care team at all.
async fn lone_patient(db: &TestDb, org: Uuid) -> Uuid {
    db.admin
        .query_one(
            "insert into app.patients (org_id, first_name, last_name) values ($1, 'Lone', 'Patient')
             returning id",
            &[&org],
        )
        .await
        .unwrap()
        .get(0)
}

/// The patients `who` sees in SQL, sorted.
async fn visible(
    user: &mut tokio_postgres::Client,
    who: wardline_tests::keys::Identity,
) -> Vec<Uuid> {
    wardline_tests::ids_as(user, &who, "select id from app.patients").await
}

async fn care_team_rows(db: &TestDb) -> i64 {
    db.count("select count(*) from app.care_team", &[]).await
}

#[tokio::test]
async fn assign_self_and_others_reactivate_repeat_unassign_and_suspend() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    db.set_flag(w.clinic_a, "allActivePatientsDashboard", true)
        .await;
    let p = lone_patient(&db, w.clinic_a).await;
    let me = w.therapist_of_a();
    let both = w.both_at(w.clinic_a);
    let admin = w.admin_of_a();

    // Self-assign: no target means the caller.
    let reply = db
        .care(
            &me,
            Method::POST,
            ASSIGN,
            Some(&json!({"patientId": p, "notes": "intake"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["therapistId"], json!(w.therapist_a));
    assert_eq!(reply.body["status"], "active");
    assert_eq!(reply.body["assignedBy"], json!(w.therapist_a));
    assert_eq!(reply.body["notes"], "intake");
    assert_eq!(reply.body["changed"], true);

    // Assign a colleague, then again: the second changes nothing.
    let colleague = json!({"patientId": p, "targetDoctorId": w.both});
    let first = db.care(&me, Method::POST, ASSIGN, Some(&colleague)).await;
    assert_eq!(
        (first.status.as_u16(), &first.body["changed"]),
        (200, &json!(true))
    );
    let again = db.care(&me, Method::POST, ASSIGN, Some(&colleague)).await;
    assert_eq!(
        (again.status.as_u16(), &again.body["changed"]),
        (200, &json!(false))
    );
    assert_eq!(again.body["assignedAt"], first.body["assignedAt"]);
    assert_eq!(db.audit_count(w.clinic_a, "care_team.assign").await, 2);

    // The colleague leaves; re-assigning reactivates the same row.
    let left = db
        .care(&both, Method::DELETE, &member_path(p, w.both), None)
        .await;
    assert_eq!(left.status, 200, "{left:?}");
    assert_eq!(left.body["status"], "inactive");
    assert_eq!(
        db.care_team_row(p, w.both).await,
        Some(("inactive".into(), w.therapist_a))
    );
    let left_again = db
        .care(&both, Method::DELETE, &member_path(p, w.both), None)
        .await;
    assert_eq!(
        (left_again.status.as_u16(), &left_again.body["changed"]),
        (200, &json!(false))
    );
    let back = db
        .care(&admin, Method::POST, ASSIGN, Some(&colleague))
        .await;
    assert_eq!(back.status, 200, "{back:?}");
    assert_eq!(back.body["status"], "active");
    assert_eq!(back.body["assignedBy"], json!(w.admin_a));
    assert_eq!(
        db.care_team_row(p, w.both).await,
        Some(("active".into(), w.admin_a))
    );
    let rows = db
        .count(
            "select count(*) from app.care_team where patient_id = $1",
            &[&p],
        )
        .await;
    assert_eq!(rows, 2, "reactivated, not duplicated");

    // A clinician removes only themselves and never suspends.
    db.care(&me, Method::DELETE, &member_path(p, w.both), None)
        .await
        .assert_problem(403, "forbidden");
    db.care(
        &me,
        Method::PATCH,
        &member_path(p, w.both),
        Some(&json!({"status": "suspended"})),
    )
    .await
    .assert_problem(403, "forbidden");

    // The admin suspends.
    let suspended = db
        .care(
            &admin,
            Method::PATCH,
            &member_path(p, w.therapist_a),
            Some(&json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(suspended.status, 200, "{suspended:?}");
    assert_eq!(suspended.body["status"], "suspended");
    // Suspension hides the patient from them, even on the dashboard…
    db.care(&me, Method::POST, ASSIGN, Some(&json!({"patientId": p})))
        .await
        .assert_problem(422, "unknown_patient");
    // …assigning does not lift it (PATCH does)…
    db.care(
        &admin,
        Method::POST,
        ASSIGN,
        Some(&json!({"patientId": p, "targetDoctorId": w.therapist_a})),
    )
    .await
    .assert_problem(409, "care_team_member_suspended");
    // …and they cannot leave on their own.
    db.care(&me, Method::DELETE, &member_path(p, w.therapist_a), None)
        .await
        .assert_problem(409, "care_team_member_suspended");
    assert_eq!(
        db.care_team_row(p, w.therapist_a).await.map(|r| r.0),
        Some("suspended".into())
    );
    let lifted = db
        .care(
            &admin,
            Method::PATCH,
            &member_path(p, w.therapist_a),
            Some(&json!({"status": "active"})),
        )
        .await;
    assert_eq!(lifted.body["status"], "active", "{lifted:?}");

    // Unknown members are a 404; bad paths and bodies name their field.
    db.care(&admin, Method::DELETE, &member_path(p, w.therapist_b), None)
        .await
        .assert_problem(404, "care_team_member_not_found");
    let bad = db
        .care(
            &admin,
            Method::DELETE,
            "/v2/doctor/patients/nope/therapists/x",
            None,
        )
        .await;
    bad.assert_problem(400, "invalid_input");
    assert_eq!(bad.body["errors"][0]["field"], "patientId");
    let bad = db
        .care(
            &admin,
            Method::PATCH,
            &member_path(p, w.both),
            Some(&json!({"status": "inactive"})),
        )
        .await;
    bad.assert_problem(400, "invalid_input");
    assert_eq!(bad.body["errors"][0]["field"], "status");

    for (action, n) in [
        ("care_team.assign", 2),
        ("care_team.unassign", 1),
        ("care_team.reactivate", 1),
        ("care_team.suspend", 1),
        ("care_team.activate", 1),
    ] {
        assert_eq!(db.audit_count(w.clinic_a, action).await, n, "{action}");
    }
}

#[tokio::test]
async fn bad_targets_and_foreign_patients_are_4xx_and_write_nothing() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let (inactive, unapproved, desk) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    db.admin
        .batch_execute(&format!(
                "insert into app.clinicians (id, email, first_name, last_name) values
                   ('{inactive}', 'gone@test.example', 'Gil', 'Gone'),
                   ('{unapproved}', 'new@test.example', 'Nia', 'New'),
                   ('{desk}', 'desk@test.example', 'Dee', 'Desk');
                 insert into app.clinic_memberships (org_id, clinician_id, kind, active, approved) values
                   ('{a}', '{inactive}', 'therapist', false, true),
                   ('{a}', '{unapproved}', 'therapist', true, false),
                   ('{a}', '{desk}', 'staff', true, true)",
                a = w.clinic_a
            ))
        .await
        .unwrap();
    let admin = w.admin_of_a();
    let before = care_team_rows(&db).await;

    for (target, code) in [
        (inactive, "clinician_inactive"),
        (unapproved, "clinician_not_approved"),
        (desk, "not_a_clinician"),
        (w.therapist_b, "clinician_not_found"),
        (w.patient_a, "clinician_not_found"),
        (Uuid::new_v4(), "clinician_not_found"),
    ] {
        let reply = db
            .care(
                &admin,
                Method::POST,
                ASSIGN,
                Some(&json!({"patientId": w.patient_a, "targetDoctorId": target})),
            )
            .await;
        reply.assert_problem(422, code);
        assert_eq!(
            reply.body["errors"][0]["field"], "targetDoctorId",
            "{reply:?}"
        );
    }
    for patient in [w.patient_b, Uuid::new_v4()] {
        let reply = db
            .care(
                &admin,
                Method::POST,
                ASSIGN,
                Some(&json!({"patientId": patient, "targetDoctorId": w.therapist_a})),
            )
            .await;
        reply.assert_problem(422, "unknown_patient");
        assert_eq!(reply.body["errors"][0]["field"], "patientId");
    }
    for (body, field) in [
        (json!({"patientId": "nope"}), "patientId"),
        (json!({}), "patientId"),
        (json!({"patientId": w.patient_a, "extra": 1}), "extra"),
        (
            json!({"patientId": w.patient_a, "notes": "x".repeat(1001)}),
            "notes",
        ),
        (json!({"patientId": w.patient_a, "notes": "  "}), "notes"),
    ] {
        let reply = db.care(&admin, Method::POST, ASSIGN, Some(&body)).await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
    }
    // Patients and other clinics' admins assign nothing here.
    db.care(
        &w.patient_of_a(),
        Method::POST,
        ASSIGN,
        Some(&json!({"patientId": w.patient_a})),
    )
    .await
    .assert_problem(403, "forbidden");
    db.care(
        &w.admin_of_b(),
        Method::POST,
        ASSIGN,
        Some(&json!({"patientId": w.patient_a, "targetDoctorId": w.both})),
    )
    .await
    .assert_problem(422, "unknown_patient");

    // An admin cannot reactivate a member who no longer works here.
    db.admin
        .execute(
            "insert into app.care_team (org_id, patient_id, clinician_id, status, assigned_by,
                                        updated_by)
             values ($1, $2, $3, 'inactive', $4, $4)",
            &[&w.clinic_a, &w.patient_a, &inactive, &w.admin_a],
        )
        .await
        .unwrap();
    let reply = db
        .care(
            &admin,
            Method::PATCH,
            &member_path(w.patient_a, inactive),
            Some(&json!({"status": "active"})),
        )
        .await;
    reply.assert_problem(422, "clinician_inactive");
    assert_eq!(
        db.care_team_row(w.patient_a, inactive).await.map(|r| r.0),
        Some("inactive".into())
    );
    let before = before + 1;

    assert_eq!(care_team_rows(&db).await, before, "nothing was written");
    assert_eq!(db.audit_count(w.clinic_a, "care_team.assign").await, 0);
}

#[tokio::test]
async fn flags_off_forbid_every_flagged_route_and_trim_the_summary() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let me = w.therapist_of_a();
    let admin = w.admin_of_a();
    db.set_flag(w.clinic_a, "therapistPatientAssignment", false)
        .await;

    db.care(
        &me,
        Method::POST,
        ASSIGN,
        Some(&json!({"patientId": w.patient_a})),
    )
    .await
    .assert_problem(403, "feature_disabled");
    db.care(
        &me,
        Method::DELETE,
        &member_path(w.patient_a, w.therapist_a),
        None,
    )
    .await
    .assert_problem(403, "feature_disabled");
    db.care(
        &admin,
        Method::PATCH,
        &member_path(w.patient_a, w.therapist_a),
        Some(&json!({"status": "suspended"})),
    )
    .await
    .assert_problem(403, "feature_disabled");
    let invite = json!({"firstName": "Ivy", "lastName": "Invitee", "email": "ivy@test.example",
                        "additionalTherapistIds": [w.both]});
    db.care(
        &me,
        Method::POST,
        "/v2/doctor/patients/invite",
        Some(&invite),
    )
    .await
    .assert_problem(403, "feature_disabled");
    for who in [&me, &admin] {
        db.care(who, Method::GET, "/v2/doctor/patients/all", None)
            .await
            .assert_problem(403, "feature_disabled");
    }
    assert_eq!(
        db.care_team_row(w.patient_a, w.therapist_a)
            .await
            .map(|r| r.0),
        Some("active".into())
    );

    // The summary still lists my patients, without the care-team fields.
    let summary = db
        .care(&me, Method::GET, "/v2/doctor/patients/summary", None)
        .await;
    assert_eq!(summary.status, 200, "{summary:?}");
    let patients = summary.body["patients"].as_array().unwrap();
    assert_eq!(patients.len(), 1);
    assert_eq!(patients[0]["id"], json!(w.patient_a));
    assert!(
        patients[0].get("connectedTherapists").is_none(),
        "{summary:?}"
    );
    assert!(patients[0].get("isConnectedToMe").is_none(), "{summary:?}");

    db.set_flag(w.clinic_a, "therapistPatientAssignment", true)
        .await;
    let summary = db
        .care(&me, Method::GET, "/v2/doctor/patients/summary", None)
        .await;
    let first = &summary.body["patients"][0];
    assert_eq!(first["isConnectedToMe"], true);
    // Sorted by last name: Alpha before Both.
    assert_eq!(
        first["connectedTherapists"],
        json!([
            {"id": w.therapist_a, "firstName": "Tom", "lastName": "Alpha"},
            {"id": w.both, "firstName": "Bea", "lastName": "Both"},
        ])
    );
}

#[tokio::test]
async fn who_sees_which_patient_through_the_api() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let p = lone_patient(&db, w.clinic_a).await;
    let me = w.therapist_of_a();
    let ids = |reply: &wardline_tests::Reply| -> Vec<Value> {
        reply.body["patients"]
            .as_array()
            .unwrap_or_else(|| panic!("{reply:?}"))
            .iter()
            .map(|p| p["id"].clone())
            .collect()
    };

    // Without the dashboard a clinician cannot even name a patient outside their care.
    db.care(&me, Method::POST, ASSIGN, Some(&json!({"patientId": p})))
        .await
        .assert_problem(422, "unknown_patient");
    let summary = db
        .care(&me, Method::GET, "/v2/doctor/patients/summary", None)
        .await;
    assert_eq!(ids(&summary), vec![json!(w.patient_a)]);

    // With it, the whole clinic is listed, each marked with whether it is mine.
    db.set_flag(w.clinic_a, "allActivePatientsDashboard", true)
        .await;
    let all = db
        .care(&me, Method::GET, "/v2/doctor/patients/all", None)
        .await;
    assert_eq!(all.status, 200, "{all:?}");
    let listed = all.body["patients"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    for patient in listed {
        let mine = patient["id"] == json!(w.patient_a);
        assert_eq!(patient["isConnectedToMe"], mine, "{patient}");
        assert_eq!(
            patient["connectedTherapists"].as_array().unwrap().len(),
            if mine { 2 } else { 0 }
        );
    }
    // Clinic B's admin sees none of A's patients.
    db.set_flag(w.clinic_b, "allActivePatientsDashboard", true)
        .await;
    let theirs = db
        .care(
            &w.admin_of_b(),
            Method::GET,
            "/v2/doctor/patients/all",
            None,
        )
        .await;
    assert_eq!(ids(&theirs), vec![json!(w.patient_b)]);
    // Patients list nothing.
    db.care(
        &w.patient_of_a(),
        Method::GET,
        "/v2/doctor/patients/summary",
        None,
    )
    .await
    .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn who_sees_which_patient_in_sql_as_app_user() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let p = lone_patient(&db, w.clinic_a).await;
    let mut user = db.authenticator().await;
    let sorted = |mut v: Vec<Uuid>| {
        v.sort();
        v
    };

    assert_eq!(
        visible(&mut user, w.admin_of_a()).await,
        sorted(vec![w.patient_a, p])
    );
    assert_eq!(
        visible(&mut user, w.therapist_of_a()).await,
        vec![w.patient_a]
    );
    assert_eq!(
        visible(&mut user, w.patient_of_a()).await,
        vec![w.patient_a]
    );
    assert_eq!(
        visible(&mut user, staff(w.therapist_b, w.clinic_b, "therapist")).await,
        vec![w.patient_b]
    );

    // Suspended and inactive relationships give nothing.
    for status in ["suspended", "inactive"] {
        db.admin
            .execute(
                "update app.care_team set status = $1 where clinician_id = $2",
                &[&status, &w.therapist_a],
            )
            .await
            .unwrap();
        assert_eq!(
            visible(&mut user, w.therapist_of_a()).await,
            Vec::<Uuid>::new(),
            "{status}"
        );
    }
    // The dashboard flag shows the whole clinic, and nothing of another — except the patients
    // one is suspended from.
    db.set_flag(w.clinic_a, "allActivePatientsDashboard", true)
        .await;
    assert_eq!(
        visible(&mut user, w.therapist_of_a()).await,
        sorted(vec![w.patient_a, p])
    );
    db.admin
        .execute(
            "update app.care_team set status = 'suspended' where clinician_id = $1",
            &[&w.therapist_a],
        )
        .await
        .unwrap();
    assert_eq!(visible(&mut user, w.therapist_of_a()).await, vec![p]);
    db.set_flag(w.clinic_a, "allActivePatientsDashboard", false)
        .await;
    db.admin
        .execute(
            "update app.care_team set status = 'inactive' where clinician_id = $1",
            &[&w.therapist_a],
        )
        .await
        .unwrap();

    // A handler bug cannot widen access: the policies refuse the writes themselves.
    let me = w.therapist_of_a();
    let claim = as_user(
        &mut user,
        &me,
        "insert into app.care_team (org_id, patient_id, clinician_id, assigned_by, updated_by)
         values ($1, $2, $3, $3, $3)",
        &[&w.clinic_a, &p, &w.therapist_a],
    )
    .await;
    assert_refused(claim, "a clinician put an unseen patient in their own care");
    let revived = as_user(
        &mut user,
        &me,
        "update app.care_team set status = 'active', updated_by = $2
         where patient_id = $1 and clinician_id = $2 returning 1",
        &[&w.patient_a, &w.therapist_a],
    )
    .await;
    assert_refused(
        revived,
        "a clinician revived their own removed relationship",
    );
    let both = w.both_at(w.clinic_a);
    let ousted = as_user(
        &mut user,
        &both,
        "update app.care_team set status = 'inactive', updated_by = $2
         where patient_id = $1 and clinician_id = $3 returning 1",
        &[&w.patient_a, &w.both, &w.therapist_a],
    )
    .await;
    assert_refused(ousted, "a clinician removed a colleague");
    let suspended = as_user(
        &mut user,
        &both,
        "update app.care_team set status = 'suspended', updated_by = $2
         where patient_id = $1 and clinician_id = $2 returning 1",
        &[&w.patient_a, &w.both],
    )
    .await;
    assert_refused(suspended, "a clinician suspended themselves");
    // Another clinic's admin cannot read or write A's care teams.
    let seen = as_user(
        &mut user,
        &w.admin_of_b(),
        "select count(*) from app.care_team where org_id = $1",
        &[&w.clinic_a],
    )
    .await
    .unwrap();
    assert_eq!(seen[0].get::<_, i64>(0), 0);
    let added = as_user(
        &mut user,
        &w.admin_of_b(),
        "insert into app.care_team (org_id, patient_id, clinician_id, assigned_by, updated_by)
         values ($1, $2, $3, $4, $4)",
        &[&w.clinic_a, &w.patient_a, &w.therapist_a, &w.admin_b],
    )
    .await;
    assert_refused(added, "another clinic's admin added to A's care team");
    let changed = as_user(
        &mut user,
        &w.admin_of_b(),
        "update app.care_team set status = 'suspended', updated_by = $2
         where org_id = $1 returning 1",
        &[&w.clinic_a, &w.admin_b],
    )
    .await
    .unwrap();
    assert!(
        changed.is_empty(),
        "another clinic's admin changed A's care team"
    );
}

/// A write the policies refuse: 42501, which is also what a WITH CHECK violation raises
/// ("new row violates row-level security policy"), not some other error.
fn assert_refused(result: Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>, what: &str) {
    let code = result.as_ref().err().and_then(|e| e.code());
    assert_eq!(
        code,
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{what}: {result:?}"
    );
}
