//! GET /v2/doctor/patients/tenant-doctors, outside in: through dispatch, against the real
//! schema, roles and policies.

use http::Method;
use serde_json::{json, Value};
use tenant_doctors::FUNCTION;
use uuid::Uuid;
use wardline_tests::{keys, keys::Identity, staff, TestDb, World};

const PATH: &str = "/v2/doctor/patients/tenant-doctors";

async fn list(db: &TestDb, who: &Identity) -> wardline_tests::Reply {
    db.call(&FUNCTION, Method::GET, PATH, Some(&db.token(who)), None)
        .await
}

fn ids(body: &Value) -> Vec<Uuid> {
    body.as_array()
        .expect("a JSON array")
        .iter()
        .map(|d| {
            d["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("an id")
        })
        .collect()
}

#[tokio::test]
async fn lists_active_approved_colleagues_of_the_current_clinic_except_the_caller() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let inactive = Uuid::new_v4();
    let unapproved = Uuid::new_v4();
    let front_desk = Uuid::new_v4();
    let departed = Uuid::new_v4();
    db.admin
        .batch_execute(&format!(
            "insert into app.clinicians (id, email, first_name, last_name) values
               ('{inactive}', 'gone@test.example', 'Gus', 'Gone'),
               ('{unapproved}', 'new@test.example', 'Nia', 'New'),
               ('{front_desk}', 'desk@test.example', 'Dee', 'Desk');
             insert into app.clinicians (id, email, first_name, last_name, active) values
               ('{departed}', 'left@test.example', 'Lou', 'Left', false);
             insert into app.clinic_memberships (org_id, clinician_id, kind, active, approved) values
               ('{a}', '{inactive}', 'therapist', false, true),
               ('{a}', '{unapproved}', 'therapist', true, false),
               ('{a}', '{front_desk}', 'staff', true, true),
               ('{a}', '{departed}', 'therapist', true, true);",
            a = w.clinic_a
        ))
        .await
        .unwrap();

    let reply = list(&db, &w.therapist_of_a()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    // Sorted by last name: Admin, Both — the caller (Alpha) is left out, and so is Left, whose
    // membership is active but whose clinician record is not.
    assert_eq!(ids(&reply.body), vec![w.admin_a, w.both]);
    let both = &reply.body[1];
    assert_eq!(
        both,
        &json!({
            "id": w.both,
            "firstName": "Bea",
            "lastName": "Both",
            "email": "both@test.example",
            "specialization": "Psychiatry",
        })
    );
    // No specialization: the key is absent rather than null.
    assert!(reply.body[0].get("specialization").is_none());
}

#[tokio::test]
async fn another_clinics_clinicians_never_appear() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    for who in [w.admin_of_a(), w.therapist_of_a(), w.both_at(w.clinic_a)] {
        let listed = ids(&list(&db, &who).await.body);
        assert!(!listed.contains(&w.admin_b), "{listed:?}");
        assert!(!listed.contains(&w.therapist_b), "{listed:?}");
    }
}

#[tokio::test]
async fn a_clinician_of_two_clinics_sees_the_colleagues_of_the_clinic_in_the_token() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let at_a = ids(&list(&db, &w.both_at(w.clinic_a)).await.body);
    assert_eq!(at_a, vec![w.admin_a, w.therapist_a]);
    let at_b = ids(&list(&db, &w.both_at(w.clinic_b)).await.body);
    assert_eq!(at_b, vec![w.therapist_b, w.admin_b]);
}

#[tokio::test]
async fn the_flag_off_is_a_403_feature_disabled() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    db.admin
        .execute(
            "update app.clinics set feature_flags = '{\"therapistPatientAssignment\": false}' where id = $1",
            &[&w.clinic_a],
        )
        .await
        .unwrap();
    list(&db, &w.therapist_of_a())
        .await
        .assert_problem(403, "feature_disabled");
    // Clinic B still has it.
    assert_eq!(list(&db, &w.admin_of_b()).await.status, 200);
}

#[tokio::test]
async fn a_token_for_a_clinic_the_caller_does_not_work_for_is_refused() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    list(&db, &staff(w.therapist_a, w.clinic_b, "therapist"))
        .await
        .assert_problem(403, "not_a_member");
    // Claiming admin without being one is refused too.
    list(&db, &staff(w.therapist_a, w.clinic_a, "admin"))
        .await
        .assert_problem(403, "not_a_member");
    // Nor does a patient token (signed with the portal's key) whose sub is not the patient:
    // this staff route refuses every patient before it runs, and the database refuses this
    // one on the patient's own route.
    let mut impostor = keys::claims_for(&w.patient_of_a(), 600);
    impostor["sub"] = json!(w.therapist_a);
    impostor["iss"] = json!(wardline_shared::portal::ISSUER);
    impostor["aud"] = json!(wardline_shared::portal::AUDIENCE);
    let token = db.sign_as_portal(&impostor);
    db.call(&FUNCTION, Method::GET, PATH, Some(&token), None)
        .await
        .assert_problem(403, "forbidden");
    db.call(
        &portal::FUNCTION,
        Method::GET,
        "/api/portal/me",
        Some(&token),
        None,
    )
    .await
    .assert_problem(403, "not_a_member");
    // An unapproved membership does not open the door yet…
    db.admin
        .execute(
            "update app.clinic_memberships set approved = false where clinician_id = $1",
            &[&w.admin_a],
        )
        .await
        .unwrap();
    list(&db, &w.admin_of_a())
        .await
        .assert_problem(403, "not_a_member");
    // …and an inactive one no longer does.
    db.admin
        .execute(
            "update app.clinic_memberships set active = false where clinician_id = $1",
            &[&w.therapist_a],
        )
        .await
        .unwrap();
    list(&db, &w.therapist_of_a())
        .await
        .assert_problem(403, "not_a_member");
}

#[tokio::test]
async fn patients_may_not_list_clinicians() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    list(&db, &w.patient_of_a())
        .await
        .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn leftover_input_and_wrong_methods_are_4xx_problems() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let token = db.token(&w.therapist_of_a());
    let reply = db
        .call(
            &FUNCTION,
            Method::GET,
            &format!("{PATH}?limit=5"),
            Some(&token),
            None,
        )
        .await;
    reply.assert_problem(400, "invalid_input");
    assert_eq!(reply.body["errors"][0]["field"], "limit");
    db.call(&FUNCTION, Method::GET, PATH, Some(&token), Some("{}"))
        .await
        .assert_problem(400, "invalid_input");
    let reply = db
        .call(&FUNCTION, Method::DELETE, PATH, Some(&token), None)
        .await;
    reply.assert_problem(405, "method_not_allowed");
    assert_eq!(reply.headers["allow"], "GET");
    db.call(
        &FUNCTION,
        Method::GET,
        "/v2/doctor/patients/nope",
        Some(&token),
        None,
    )
    .await
    .assert_problem(404, "not_found");
}
