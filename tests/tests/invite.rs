//! Inviting a patient with a care team (all or nothing), and the clinic's feature flags.

use http::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use wardline_shared::sealed::Sealed;
use wardline_tests::{TestDb, World};

const INVITE: &str = "/v2/doctor/patients/invite";
const FLAGS: &str = "/api/admin/feature-flags";

/// Rows in each table an invite writes to.
async fn written(db: &TestDb) -> Vec<i64> {
    let row = db
        .admin
        .query_one(
            "select (select count(*) from app.patients), (select count(*) from app.care_team),
                    (select count(*) from app.patient_invites), (select count(*) from app.outbox),
                    (select count(*) from audit.events where action = 'patient.invite')",
            &[],
        )
        .await
        .unwrap();
    (0..5).map(|i| row.get(i)).collect()
}

/// A third active clinician of clinic A.
async fn third_clinician(db: &TestDb, w: &World) -> Uuid {
    let id = Uuid::new_v4();
    db.admin
        .batch_execute(&format!(
            "insert into app.clinicians (id, email, first_name, last_name)
               values ('{id}', 'third@test.example', 'Thea', 'Third');
             insert into app.clinic_memberships (org_id, clinician_id, approved)
               values ('{a}', '{id}', true)",
            a = w.clinic_a
        ))
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn one_invalid_additional_clinician_creates_nothing_and_is_named() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let third = third_clinician(&db, &w).await;
    let before = written(&db).await;
    let body = json!({
        "firstName": "Ivy", "lastName": "Invitee", "email": "ivy@test.example",
        "additionalTherapistIds": [w.both, w.therapist_b, third],
    });
    let reply = db
        .care(&w.therapist_of_a(), Method::POST, INVITE, Some(&body))
        .await;
    reply.assert_problem(422, "clinician_not_found");
    assert_eq!(
        reply.body["errors"][0]["field"], "additionalTherapistIds[1]",
        "{reply:?}"
    );
    assert!(reply.body["detail"]
        .as_str()
        .unwrap()
        .contains(&w.therapist_b.to_string()));
    assert_eq!(written(&db).await, before, "nothing was created");
}

#[tokio::test]
async fn an_invite_creates_the_patient_the_care_team_a_hashed_token_and_a_message() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let third = third_clinician(&db, &w).await;
    let me = w.therapist_of_a();
    let body = json!({
        "firstName": " Ivy ", "lastName": "Invitee", "email": "Ivy@Test.Example",
        "phone": "+14155550123", "dateOfBirth": "1990-02-28",
        "additionalTherapistIds": [w.both, w.admin_a, third],
    });
    let reply = db.care(&me, Method::POST, INVITE, Some(&body)).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let patient: Uuid = reply.body["patient"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(reply.body["patient"]["firstName"], "Ivy");
    assert_eq!(reply.body["patient"]["email"], "ivy@test.example");
    assert_eq!(
        reply.body["careTeam"],
        json!([w.therapist_a, w.both, w.admin_a, third])
    );
    assert!(
        !reply.body.to_string().contains("token"),
        "the token is only in the message"
    );

    // Each member's relationship is active and was assigned by the inviter.
    for clinician in [w.therapist_a, w.both, w.admin_a, third] {
        assert_eq!(
            db.care_team_row(patient, clinician).await,
            Some(("active".into(), w.therapist_a))
        );
    }
    // The invite keeps only the token's hash; the queued message carries the token sealed to
    // this clinic and patient, so neither table holds it in the clear.
    let row = db
        .admin
        .query_one(
            "select o.recipient, o.payload, i.token_hash,
                    i.expires_at - i.created_at = interval '72 hours', i.used_at is null
             from app.patient_invites i join app.outbox o on o.payload ->> 'patientId' = i.patient_id::text
             where i.patient_id = $1",
            &[&patient],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "ivy@test.example");
    let payload: Value = row.get(1);
    let sealed = Sealed::from_json(&payload["sealedToken"]).unwrap();
    let keys = db.ctx.sealing_keys().unwrap();
    let context = wardline_shared::sealed::invite_token_context(Some(w.clinic_a), patient);
    let token = keys.open(&context, &sealed).unwrap();
    assert_eq!(token.len(), 43);
    assert!(!payload.to_string().contains(&token), "{payload}");
    assert_eq!(
        row.get::<_, Vec<u8>>(2),
        Sha256::digest(token.as_bytes()).to_vec()
    );
    let elsewhere = wardline_shared::sealed::invite_token_context(Some(w.clinic_b), patient);
    assert!(
        keys.open(&elsewhere, &sealed).is_err(),
        "bound to its clinic"
    );
    assert!(row.get::<_, bool>(3), "expires in 72 hours");
    assert!(row.get::<_, bool>(4), "unused");
    assert_eq!(db.audit_count(w.clinic_a, "patient.invite").await, 1);
    assert_eq!(db.audit_count(w.clinic_a, "care_team.assign").await, 4);

    // The inviter now has the patient in their care.
    let summary = db
        .care(&me, Method::GET, "/v2/doctor/patients/summary", None)
        .await;
    assert!(summary.body["patients"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == json!(patient)));

    // The same e-mail again is a 409 naming it, and nothing more is written.
    let before = written(&db).await;
    let again = db.care(&me, Method::POST, INVITE, Some(&body)).await;
    again.assert_problem(409, "patient_exists");
    assert_eq!(again.body["errors"][0]["field"], "email");
    assert_eq!(written(&db).await, before);
}

#[tokio::test]
async fn invite_input_is_checked_field_by_field() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let before = written(&db).await;
    let good = json!({"firstName": "Ivy", "lastName": "Invitee", "email": "ivy@test.example"});
    let with = |name: &str, value: Value| {
        let mut body = good.clone();
        body[name] = value;
        body
    };
    for (body, field) in [
        (with("email", json!("ivy")), "email"),
        (with("firstName", json!("")), "firstName"),
        (with("lastName", json!(5)), "lastName"),
        (with("phone", json!("555-0123")), "phone"),
        (with("dateOfBirth", json!("1990-13-01")), "dateOfBirth"),
        (with("dateOfBirth", json!("2999-01-01")), "dateOfBirth"),
        (
            with("additionalTherapistIds", json!([w.therapist_a])),
            "additionalTherapistIds[0]",
        ),
        (
            with("additionalTherapistIds", json!([w.both, w.both])),
            "additionalTherapistIds[1]",
        ),
        (
            with("additionalTherapistIds", json!(["x"])),
            "additionalTherapistIds[0]",
        ),
        (with("role", json!("admin")), "role"),
    ] {
        let reply = db
            .care(&w.therapist_of_a(), Method::POST, INVITE, Some(&body))
            .await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
    }
    db.care(&w.patient_of_a(), Method::POST, INVITE, Some(&good))
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(written(&db).await, before);
}

#[tokio::test]
async fn admins_read_and_set_their_own_clinics_flags() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let admin = w.admin_of_a();
    let read = db.care(&admin, Method::GET, FLAGS, None).await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(
        read.body,
        json!({"therapistPatientAssignment": true, "allActivePatientsDashboard": false})
    );

    let set = db
        .care(
            &admin,
            Method::PUT,
            FLAGS,
            Some(&json!({"allActivePatientsDashboard": true})),
        )
        .await;
    assert_eq!(
        set.body,
        json!({"therapistPatientAssignment": true, "allActivePatientsDashboard": true})
    );
    let audited: Value = db
        .admin
        .query_one(
            "select detail from audit.events where action = 'clinic.feature_flags.update'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        audited,
        json!({"changed": {"allActivePatientsDashboard": true}})
    );
    // Setting what is already set changes and records nothing.
    db.care(
        &admin,
        Method::PUT,
        FLAGS,
        Some(&json!({"allActivePatientsDashboard": true})),
    )
    .await;
    assert_eq!(
        db.audit_count(w.clinic_a, "clinic.feature_flags.update")
            .await,
        1
    );
    // Clinic B is untouched.
    let b = db.care(&w.admin_of_b(), Method::GET, FLAGS, None).await;
    assert_eq!(b.body["allActivePatientsDashboard"], false);

    for (body, field) in [
        (json!({"darkMode": true}), "darkMode"),
        (
            json!({"allActivePatientsDashboard": "yes"}),
            "allActivePatientsDashboard",
        ),
        (json!({}), "body"),
        (json!([true]), "body"),
        // PostgreSQL's jsonb refuses \u0000: caught before the database, not a 500.
        (json!({"dark\u{0}Mode": true}), "body"),
    ] {
        let reply = db.care(&admin, Method::PUT, FLAGS, Some(&body)).await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
    }
    // The table holds only booleans, whoever writes.
    let stored = db
        .admin
        .execute(
            "update app.clinics set feature_flags = '{\"allActivePatientsDashboard\": \"yes\"}'
             where id = $1",
            &[&w.clinic_a],
        )
        .await;
    assert_eq!(
        stored.unwrap_err().code(),
        Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION)
    );
    for who in [w.therapist_of_a(), w.patient_of_a()] {
        db.care(&who, Method::GET, FLAGS, None)
            .await
            .assert_problem(403, "forbidden");
        db.care(
            &who,
            Method::PUT,
            FLAGS,
            Some(&json!({"allActivePatientsDashboard": false})),
        )
        .await
        .assert_problem(403, "forbidden");
    }
}
