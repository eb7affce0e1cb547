//! Running a clinic (issue 21): its admins read and change the clinic's settings and services
//! catalogue; each change names what was wrong, writes nothing when refused, is audited, and
//! reaches only the admin's own clinic.

use http::Method;
use serde_json::{json, Value};
use wardline_tests::{
    portal::{as_patient, ME},
    Reply, TestDb, World,
};
use xtask::keys::Identity;

const SETTINGS: &str = "/api/admin/clinic";
const SERVICES: &str = "/api/admin/services";

async fn call(
    db: &TestDb,
    who: &Identity,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    db.call_as(&assign::FUNCTION, who, method, path, body).await
}

async fn settings(db: &TestDb, who: &Identity) -> Value {
    let read = call(db, who, Method::GET, SETTINGS, None).await;
    assert_eq!(read.status, 200, "{read:?}");
    read.body
}

#[tokio::test]
async fn admins_change_their_own_clinics_settings_and_the_portal_follows() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let before = settings(&db, &w.admin_of_a()).await;
    assert_eq!(before["slug"], "alpha");
    assert_eq!(before["lateCancelHours"], 24);
    assert_eq!(before["reminderHours"], json!([72, 24]));

    let changed = call(
        &db,
        &w.admin_of_a(),
        Method::PATCH,
        SETTINGS,
        Some(json!({
            "name": "Alpha Therapy",
            "slug": "alpha-therapy",
            "timeZone": "America/Chicago",
            "smsNumber": "+14155550111",
            "smsHelpReply": "Alpha Therapy: call 415-555-0111.",
            "letterhead": {"address": "1 Main St, Springfield", "phone": "415-555-0111"},
            "pharmacyEnabled": true,
            "pharmacySecretRef": "wardline/pharmacy/alpha",
            "lateCancelHours": 48,
            "waitlistOfferMinutes": 60,
            "reminderHours": [2, 48],
            "messageNoticeQuietMinutes": 0
        })),
    )
    .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(changed.body["slug"], "alpha-therapy");
    assert_eq!(changed.body["reminderHours"], json!([48, 2]));
    assert_eq!(changed.body["letterhead"]["phone"], "415-555-0111");
    assert_eq!(settings(&db, &w.admin_of_a()).await, changed.body);
    assert_eq!(
        db.count(
            "select count(*) from audit.events where action = 'clinic.settings.update'
               and org_id = $1 and detail -> 'fields' ? 'slug'",
            &[&w.clinic_a],
        )
        .await,
        1
    );
    // The portal answers at the new slug only.
    let pia = w.patient_of_a();
    as_patient(&db, "alpha", &pia, Method::GET, ME, None)
        .await
        .assert_problem(404, "unknown_portal");
    let me = as_patient(&db, "alpha-therapy", &pia, Method::GET, ME, None).await;
    assert_eq!(me.status, 200, "{me:?}");
    // A nullable setting is cleared by null; clinic B is untouched throughout.
    let cleared = call(
        &db,
        &w.admin_of_a(),
        Method::PATCH,
        SETTINGS,
        Some(json!({"smsNumber": null})),
    )
    .await;
    assert_eq!(cleared.body["smsNumber"], Value::Null, "{cleared:?}");
    let b = settings(&db, &w.admin_of_b()).await;
    assert_eq!(
        (b["slug"].clone(), b["name"].clone()),
        (json!("beta"), json!("Beta Clinic"))
    );
    // Therapists reach no admin route.
    for (method, path) in [(Method::GET, SETTINGS), (Method::GET, SERVICES)] {
        call(&db, &w.therapist_of_a(), method, path, None)
            .await
            .assert_problem(403, "forbidden");
    }
    call(
        &db,
        &w.therapist_of_a(),
        Method::PATCH,
        SETTINGS,
        Some(json!({"name": "Mine"})),
    )
    .await
    .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn bad_and_taken_settings_name_their_field_and_change_nothing() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    call(
        &db,
        &w.admin_of_a(),
        Method::PATCH,
        SETTINGS,
        Some(json!({"smsNumber": "+14155550111", "portalDomain": "portal.alpha.example"})),
    )
    .await;
    let before = settings(&db, &w.admin_of_b()).await;
    for (body, status, field) in [
        (json!({"slug": "alpha"}), 409, "slug"),
        (json!({"smsNumber": "+14155550111"}), 409, "smsNumber"),
        (
            json!({"portalDomain": "portal.alpha.example"}),
            409,
            "portalDomain",
        ),
        (json!({"slug": "Beta Clinic"}), 400, "slug"),
        (json!({"portalDomain": "localhost"}), 400, "portalDomain"),
        (json!({"timeZone": "Mars/Olympus"}), 400, "timeZone"),
        (json!({"smsNumber": "555-0111"}), 400, "smsNumber"),
        (json!({"letterhead": {"logo": "x"}}), 400, "letterhead.logo"),
        (json!({"letterhead": {"phone": 5}}), 400, "letterhead.phone"),
        (json!({"lateCancelHours": 999}), 400, "lateCancelHours"),
        (json!({"lateCancelHours": -1}), 400, "lateCancelHours"),
        (
            json!({"waitlistOfferMinutes": 1}),
            400,
            "waitlistOfferMinutes",
        ),
        (json!({"reminderHours": [24, 24]}), 400, "reminderHours"),
        (
            json!({"reminderHours": [1, 2, 3, 4, 5]}),
            400,
            "reminderHours",
        ),
        (
            json!({"pharmacySecretRef": "no spaces please"}),
            400,
            "pharmacySecretRef",
        ),
        (json!({"name": ""}), 400, "name"),
        (json!({"featureFlags": {}}), 400, "featureFlags"),
        (json!({}), 400, "body"),
    ] {
        let refused = call(
            &db,
            &w.admin_of_b(),
            Method::PATCH,
            SETTINGS,
            Some(body.clone()),
        )
        .await;
        assert_eq!(refused.status, status, "{body}: {refused:?}");
        assert_eq!(
            refused.body["errors"][0]["field"], field,
            "{body}: {refused:?}"
        );
    }
    assert_eq!(settings(&db, &w.admin_of_b()).await, before);
}

#[tokio::test]
async fn admins_keep_their_clinics_services_catalogue() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let admin = w.admin_of_a();
    let created = call(
        &db,
        &admin,
        Method::POST,
        SERVICES,
        Some(json!({"name": "Intake assessment", "cptCode": "90791", "durationMinutes": 60})),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["active"], true);
    let id = created.body["id"].as_str().unwrap().to_owned();
    for (body, status, field) in [
        (
            json!({"name": "intake ASSESSMENT", "cptCode": "90791", "durationMinutes": 60}),
            409,
            "name",
        ),
        (
            json!({"name": "Other", "cptCode": "9079", "durationMinutes": 60}),
            400,
            "cptCode",
        ),
        (
            json!({"name": "Other", "cptCode": "90791", "durationMinutes": 4}),
            400,
            "durationMinutes",
        ),
        (
            json!({"name": "Other", "cptCode": "90791"}),
            400,
            "durationMinutes",
        ),
    ] {
        let refused = call(&db, &admin, Method::POST, SERVICES, Some(body.clone())).await;
        assert_eq!(refused.status, status, "{body}: {refused:?}");
        assert_eq!(
            refused.body["errors"][0]["field"], field,
            "{body}: {refused:?}"
        );
    }
    let path = format!("{SERVICES}/{id}");
    let retired = call(
        &db,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(retired.status, 200, "{retired:?}");
    assert_eq!(retired.body["active"], false);
    // A retired name may be used again; the list shows active services first.
    let again = call(
        &db,
        &admin,
        Method::POST,
        SERVICES,
        Some(json!({"name": "Intake assessment", "cptCode": "90791", "durationMinutes": 50})),
    )
    .await;
    assert_eq!(again.status, 201, "{again:?}");
    // The retired one may still change, but not come back while its name is taken.
    let edited = call(
        &db,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"durationMinutes": 45})),
    )
    .await;
    assert_eq!(edited.status, 200, "{edited:?}");
    call(
        &db,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"active": true})),
    )
    .await
    .assert_problem(409, "already_in_use");
    let listed = call(&db, &admin, Method::GET, SERVICES, None).await;
    let services = listed.body["services"].as_array().unwrap();
    assert!(services.len() >= 3, "{listed:?}");
    assert_eq!(services.last().unwrap()["id"], json!(id));
    // Clinic B's admin neither sees nor changes A's services.
    let theirs = call(&db, &w.admin_of_b(), Method::GET, SERVICES, None).await;
    assert!(!theirs.text.contains(&id));
    call(
        &db,
        &w.admin_of_b(),
        Method::PATCH,
        &path,
        Some(json!({"name": "Taken over"})),
    )
    .await
    .assert_problem(404, "service_not_found");
    assert_eq!(
        db.count(
            "select count(*) from audit.events where action in ('service.create', 'service.update')
               and org_id = $1",
            &[&w.clinic_a],
        )
        .await,
        4
    );
}
