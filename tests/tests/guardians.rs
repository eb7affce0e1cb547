//! Guardians (issue 20): a guardian's portal account acts for a dependent — sign-in lists whom
//! it may act for, the token names the patient it acts for, RLS shows exactly that patient,
//! and ending the relationship stops the tokens already issued at their next request. Staff of
//! the dependent's care team (and admins) add and end relationships; nobody else does.

use http::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_tests::{
    patient,
    portal::{as_patient, fresh_code, host, verify, Call, APPOINTMENTS, ME, REFRESH},
    TestDb, World,
};

const GAIL: &str = "gail@test.example";

/// The world plus, in clinic A, Gail (a parent, a patient record for her sign-in) and her son
/// Kit, in therapist A's care, with a session booked.
struct Family {
    w: World,
    gail: Uuid,
    kit: Uuid,
    kit_session: Uuid,
}

async fn family(db: &TestDb) -> Family {
    let w = World::create(db).await;
    let row = db
        .admin
        .query_one(
            "with gail as (
               insert into app.patients (org_id, first_name, last_name, email)
               values ($1, 'Gail', 'Parent', $3) returning id
             ), kit as (
               insert into app.patients (org_id, first_name, last_name)
               values ($1, 'Kit', 'Parent') returning id
             ), team as (
               insert into app.care_team (org_id, patient_id, clinician_id, assigned_by,
                                          updated_by)
               select $1, id, $2, $2, $2 from kit
             ), booked as (
               insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                                         service_id, created_by)
               select $1, $2, kit.id, 'scheduled',
                      tstzrange(now() + interval '2 days', now() + interval '2 days 50 minutes'),
                      $4, $2
               from kit returning id
             )
             select gail.id, kit.id, booked.id from gail, kit, booked",
            &[&w.clinic_a, &w.therapist_a, &GAIL, &w.service_a],
        )
        .await
        .unwrap();
    Family {
        gail: row.get(0),
        kit: row.get(1),
        kit_session: row.get(2),
        w,
    }
}

async fn add_guardian(
    db: &TestDb,
    who: &xtask::keys::Identity,
    dependent: Uuid,
    body: Value,
) -> wardline_tests::Reply {
    db.call_as(
        &assign::FUNCTION,
        who,
        Method::POST,
        &format!("/clients/{dependent}/guardians"),
        Some(body),
    )
    .await
}

async fn end(
    db: &TestDb,
    who: &xtask::keys::Identity,
    guardianship: &Value,
) -> wardline_tests::Reply {
    db.call_as(
        &assign::FUNCTION,
        who,
        Method::POST,
        &format!("/guardianships/{}/end", guardianship.as_str().unwrap()),
        None,
    )
    .await
}

/// Gail acting for `patient` (a token as act-for issues it).
fn acting(f: &Family, patient: Uuid) -> xtask::keys::Identity {
    xtask::keys::Identity {
        patient_id: Some(patient),
        ..wardline_tests::patient(f.gail, f.w.clinic_a)
    }
}

async fn audited(db: &TestDb, action: &str, actor: Uuid) -> i64 {
    db.count(
        "select count(*) from audit.events where action = $1 and actor_id = $2",
        &[&action, &actor],
    )
    .await
}

#[tokio::test]
async fn the_care_team_adds_and_ends_guardians_and_other_clinics_reach_nothing() {
    let db = TestDb::new().await;
    let f = family(&db).await;
    let w = &f.w;
    let added = add_guardian(
        &db,
        &w.therapist_of_a(),
        f.kit,
        json!({"guardianId": f.gail, "relationship": "parent"}),
    )
    .await;
    assert_eq!(added.status, 201, "{added:?}");
    assert_eq!(added.body["guardianId"], json!(f.gail));
    assert_eq!(added.body["dependentName"], "Kit Parent");
    assert_eq!(added.body["active"], true);
    assert_eq!(audited(&db, "guardianship.create", w.therapist_a).await, 1);

    add_guardian(
        &db,
        &w.admin_of_a(),
        f.kit,
        json!({"guardianId": f.gail, "relationship": "caregiver"}),
    )
    .await
    .assert_problem(409, "guardian_exists");
    // Bad input names its field and writes nothing.
    for (body, field) in [
        (
            json!({"guardianId": f.gail, "relationship": "uncle"}),
            "relationship",
        ),
        (
            json!({"guardianId": f.kit, "relationship": "parent"}),
            "guardianId",
        ),
        (
            json!({"guardianId": w.patient_b, "relationship": "parent"}),
            "guardianId",
        ),
        (json!({"relationship": "parent"}), "guardianId"),
    ] {
        let refused = add_guardian(&db, &w.admin_of_a(), f.kit, body.clone()).await;
        assert!(refused.status.is_client_error(), "{body}: {refused:?}");
        assert_eq!(
            refused.body["errors"][0]["field"], field,
            "{body}: {refused:?}"
        );
    }
    // A clinician outside Kit's care team (Bea treats Pia) reads nothing of him, so adds
    // nobody for him and ends nothing of his.
    add_guardian(
        &db,
        &w.both_at(w.clinic_a),
        f.kit,
        json!({"guardianId": w.patient_a, "relationship": "parent"}),
    )
    .await
    .assert_problem(404, "patient_not_found");
    end(&db, &w.both_at(w.clinic_a), &added.body["id"])
        .await
        .assert_problem(404, "guardianship_not_found");
    // Clinic B's admin and therapist: not Kit, not the relationship.
    for who in [w.admin_of_b(), staff_b(w)] {
        add_guardian(
            &db,
            &who,
            f.kit,
            json!({"guardianId": f.gail, "relationship": "parent"}),
        )
        .await
        .assert_problem(404, "patient_not_found");
        end(&db, &who, &added.body["id"])
            .await
            .assert_problem(404, "guardianship_not_found");
        let listed = db
            .call_as(
                &assign::FUNCTION,
                &who,
                Method::GET,
                &format!("/clients/{}/guardians", f.kit),
                None,
            )
            .await;
        listed.assert_problem(404, "patient_not_found");
    }
    // Both sides of the relationship list it.
    for patient_id in [f.kit, f.gail] {
        let listed = db
            .call_as(
                &assign::FUNCTION,
                &w.admin_of_a(),
                Method::GET,
                &format!("/clients/{patient_id}/guardians"),
                None,
            )
            .await;
        assert_eq!(listed.status, 200, "{listed:?}");
        assert_eq!(listed.body["guardianships"][0]["id"], added.body["id"]);
        assert_eq!(
            listed.body["guardianships"][0]["guardianName"],
            "Gail Parent"
        );
    }

    let ended = end(&db, &w.therapist_of_a(), &added.body["id"]).await;
    assert_eq!(ended.status, 200, "{ended:?}");
    assert_eq!(ended.body["active"], false);
    let again = end(&db, &w.therapist_of_a(), &added.body["id"]).await;
    assert_eq!(again.body["endedAt"], ended.body["endedAt"]);
    assert_eq!(audited(&db, "guardianship.end", w.therapist_a).await, 1);
    // A new relationship may follow an ended one.
    let renewed = add_guardian(
        &db,
        &w.therapist_of_a(),
        f.kit,
        json!({"guardianId": f.gail, "relationship": "legal_guardian"}),
    )
    .await;
    assert_eq!(renewed.status, 201, "{renewed:?}");
}

fn staff_b(w: &World) -> xtask::keys::Identity {
    wardline_tests::staff(w.therapist_b, w.clinic_b, "therapist")
}

#[tokio::test]
async fn a_guardian_signs_in_acts_for_their_dependent_only_and_loses_access_when_it_ends() {
    let db = TestDb::new().await;
    let f = family(&db).await;
    let w = &f.w;
    let added = add_guardian(
        &db,
        &w.admin_of_a(),
        f.kit,
        json!({"guardianId": f.gail, "relationship": "parent"}),
    )
    .await;
    assert_eq!(added.status, 201, "{added:?}");

    // Sign-in lists whom the account may act for; its first token acts for the account.
    let code = fresh_code(&db, "alpha", json!({"email": GAIL}), GAIL).await;
    let signed_in = verify(&db, "alpha", json!({"email": GAIL}), &code).await;
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    assert_eq!(signed_in.body["accountId"], json!(f.gail));
    assert_eq!(signed_in.body["patientId"], json!(f.gail));
    let listed: Vec<_> = signed_in.body["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["patientId"].clone(), p["relationship"].clone()))
        .collect();
    assert_eq!(
        listed,
        [
            (json!(f.gail), json!("self")),
            (json!(f.kit), json!("parent"))
        ]
    );
    let own = signed_in.body["accessToken"].as_str().unwrap().to_owned();
    let refresh = signed_in.body["refreshToken"].as_str().unwrap().to_owned();

    // Switching to Kit: a token acting for him, audited as Gail's act.
    let switch = |token: &str, patient: Uuid| {
        Call::new(Method::POST, "/api/portal/auth/act-for", host("alpha"))
            .bearer(token)
            .json(json!({ "patientId": patient }))
    };
    let for_kit = switch(&own, f.kit).send(&db).await;
    assert_eq!(for_kit.status, 200, "{for_kit:?}");
    assert_eq!(for_kit.body["accountId"], json!(f.gail));
    assert_eq!(for_kit.body["patientId"], json!(f.kit));
    assert_eq!(audited(&db, "portal.act_for", f.gail).await, 1);
    let kit_token = for_kit.body["accessToken"].as_str().unwrap().to_owned();
    let get =
        |token: &str, path: &'static str| Call::new(Method::GET, path, host("alpha")).bearer(token);
    let me = get(&kit_token, ME).send(&db).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["patient"]["id"], json!(f.kit));
    assert_eq!(me.body["accountId"], json!(f.gail));
    let appointments = get(&kit_token, APPOINTMENTS).send(&db).await;
    assert_eq!(appointments.status, 200, "{appointments:?}");
    let ids: Vec<_> = appointments.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    assert_eq!(ids, [json!(f.kit_session)]);
    // Gail's own token still reads Gail.
    let mine = get(&own, ME).send(&db).await;
    assert_eq!(mine.body["patient"]["id"], json!(f.gail));

    // Nobody else: not Pia of the same clinic, not a patient of clinic B, by switching, by
    // refreshing or by a token the portal would never issue (signed with its key).
    for other in [w.patient_a, w.patient_b, Uuid::new_v4()] {
        switch(&own, other)
            .send(&db)
            .await
            .assert_problem(403, "not_a_guardian");
        let forged = db.token(&acting(&f, other));
        get(&forged, ME)
            .send(&db)
            .await
            .assert_problem(403, "not_a_member");
    }
    let refused = Call::new(Method::POST, REFRESH, host("alpha"))
        .json(json!({"refreshToken": refresh, "actingFor": w.patient_a}))
        .send(&db)
        .await;
    refused.assert_problem(403, "not_a_guardian");
    // The refused refresh rotated nothing: the same token renews, acting for Kit.
    let renewed = Call::new(Method::POST, REFRESH, host("alpha"))
        .json(json!({"refreshToken": refresh, "actingFor": f.kit}))
        .send(&db)
        .await;
    assert_eq!(renewed.status, 200, "{renewed:?}");
    assert_eq!(renewed.body["patientId"], json!(f.kit));
    let renewed_token = renewed.body["accessToken"].as_str().unwrap().to_owned();
    let next_refresh = renewed.body["refreshToken"].as_str().unwrap().to_owned();

    // Kit's token cannot reach Pia's rows either.
    let pias_session: Uuid = db
        .admin
        .query_one(
            "insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                                       service_id, created_by)
             values ($1, $2, $3, 'scheduled',
                     tstzrange(now() + interval '3 days', now() + interval '3 days 50 minutes'),
                     $4, $2)
             returning id",
            &[&w.clinic_a, &w.therapist_a, &w.patient_a, &w.service_a],
        )
        .await
        .unwrap()
        .get(0);
    Call::new(
        Method::POST,
        &format!("/api/portal/appointments/{pias_session}/confirm"),
        host("alpha"),
    )
    .bearer(&kit_token)
    .send(&db)
    .await
    .assert_problem(404, "session_not_found");

    // Ending the relationship stops both tokens acting for Kit at their next request.
    let ended = end(&db, &w.admin_of_a(), &added.body["id"]).await;
    assert_eq!(ended.status, 200, "{ended:?}");
    for token in [&kit_token, &renewed_token] {
        get(token, ME)
            .send(&db)
            .await
            .assert_problem(403, "not_a_member");
        get(token, APPOINTMENTS)
            .send(&db)
            .await
            .assert_problem(403, "not_a_member");
    }
    switch(&own, f.kit)
        .send(&db)
        .await
        .assert_problem(403, "not_a_guardian");
    let back = Call::new(Method::POST, REFRESH, host("alpha"))
        .json(json!({"refreshToken": next_refresh}))
        .send(&db)
        .await;
    assert_eq!(back.status, 200, "{back:?}");
    assert_eq!(back.body["patientId"], json!(f.gail));
    assert_eq!(back.body["patients"].as_array().unwrap().len(), 1);
    // Gail's own access goes on.
    assert_eq!(get(&own, ME).send(&db).await.status, 200);
}

#[tokio::test]
async fn a_patient_token_acting_for_itself_is_unchanged() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let pia = patient(w.patient_a, w.clinic_a);
    let me = as_patient(&db, "alpha", &pia, Method::GET, ME, None).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["accountId"], json!(w.patient_a));
}
