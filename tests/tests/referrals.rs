//! Referrals (issue 20): a patient's links carry only a random code; an invite with the code
//! attributes the new patient to the link, once, in the invite's transaction; the referrer
//! counts who joined without learning who; admins read the clinic's report.

use http::Method;
use serde_json::{json, Value};
use wardline_tests::{portal::as_patient, Reply, TestDb, World, PORTAL_BASE_DOMAIN};

const LINKS: &str = "/api/portal/referrals";
const INVITE: &str = "/v2/doctor/patients/invite";

async fn invite(db: &TestDb, who: &xtask::keys::Identity, email: &str, code: &str) -> Reply {
    db.call_as(
        &assign::FUNCTION,
        who,
        Method::POST,
        INVITE,
        Some(json!({
            "firstName": "Remy", "lastName": "Referred", "email": email, "referralCode": code
        })),
    )
    .await
}

async fn patients_with(db: &TestDb, email: &str) -> i64 {
    db.count(
        "select count(*) from app.patients where email = $1",
        &[&email],
    )
    .await
}

fn code(link: &Value) -> String {
    link["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_invite_with_a_code_attributes_the_new_patient_and_the_referrer_sees_only_a_count() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let pia = w.patient_of_a();
    let link = as_patient(&db, "alpha", &pia, Method::POST, LINKS, None).await;
    assert_eq!(link.status, 201, "{link:?}");
    let pias = code(&link.body);
    assert_eq!(pias.len(), 12);
    assert_eq!(
        link.body["url"],
        json!(format!(
            "https://alpha.portal.{PORTAL_BASE_DOMAIN}/join?ref={pias}"
        ))
    );
    assert!(!link.text.contains(&w.patient_a.to_string()), "{link:?}");
    assert_eq!(link.body["referred"], 0);

    let joined = invite(&db, &w.therapist_of_a(), "remy@test.example", &pias).await;
    assert_eq!(joined.status, 201, "{joined:?}");
    let remy = joined.body["patient"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        db.count(
            "select count(*) from app.referral_attributions
             where referred_id = $1::text::uuid and referrer_id = $2",
            &[&remy, &w.patient_a],
        )
        .await,
        1
    );
    assert_eq!(
        db.count(
            "select count(*) from audit.events where action = 'referral.attribute'",
            &[]
        )
        .await,
        1
    );
    let listed = as_patient(&db, "alpha", &pia, Method::GET, LINKS, None).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.body["links"][0]["referred"], 1, "{listed:?}");
    assert!(
        !listed.text.contains(&remy),
        "the referrer never learns who"
    );

    // Codes that attribute nothing refuse the invite whole: unknown, malformed, another
    // clinic's, revoked.
    for (who, email, bad, status) in [
        (
            w.therapist_of_a(),
            "x1@test.example",
            "AAAAAAAAAAAA".to_owned(),
            400,
        ),
        (
            w.therapist_of_a(),
            "x2@test.example",
            "short".to_owned(),
            400,
        ),
        (w.admin_of_b(), "x3@test.example", pias.clone(), 400),
    ] {
        let refused = invite(&db, &who, email, &bad).await;
        assert_eq!(refused.status, status, "{refused:?}");
        assert_eq!(
            refused.body["errors"][0]["field"], "referralCode",
            "{refused:?}"
        );
        assert_eq!(patients_with(&db, email).await, 0);
    }
    let revoked = as_patient(
        &db,
        "alpha",
        &pia,
        Method::DELETE,
        &format!("{LINKS}/{}", link.body["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(revoked.status, 200, "{revoked:?}");
    assert_eq!(revoked.body["active"], false);
    invite(&db, &w.therapist_of_a(), "x4@test.example", &pias)
        .await
        .assert_problem(400, "invalid_referral_code");
    assert_eq!(patients_with(&db, "x4@test.example").await, 0);
}

#[tokio::test]
async fn links_are_their_patients_own_and_limited() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let pia = w.patient_of_a();
    let mut links = Vec::new();
    for _ in 0..5 {
        let link = as_patient(&db, "alpha", &pia, Method::POST, LINKS, None).await;
        assert_eq!(link.status, 201, "{link:?}");
        links.push(link.body);
    }
    as_patient(&db, "alpha", &pia, Method::POST, LINKS, None)
        .await
        .assert_problem(409, "too_many_referral_links");
    // Another patient of the clinic neither sees nor revokes Pia's links.
    let other = db.patient(w.clinic_a).await;
    let other = wardline_tests::patient(other, w.clinic_a);
    let theirs = as_patient(&db, "alpha", &other, Method::GET, LINKS, None).await;
    assert_eq!(theirs.body["links"], json!([]));
    let path = format!("{LINKS}/{}", links[0]["id"].as_str().unwrap());
    as_patient(&db, "alpha", &other, Method::DELETE, &path, None)
        .await
        .assert_problem(404, "referral_link_not_found");
    // A body is refused: the code is Wardline's to draw.
    let sent = as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        LINKS,
        Some(json!({"code": "chosen-by-me"})),
    )
    .await;
    assert_eq!(sent.status, 400, "{sent:?}");
}

#[tokio::test]
async fn admins_read_their_clinics_referral_report_only() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let link = as_patient(&db, "alpha", &w.patient_of_a(), Method::POST, LINKS, None).await;
    let pias = code(&link.body);
    for email in ["r1@test.example", "r2@test.example"] {
        assert_eq!(invite(&db, &w.admin_of_a(), email, &pias).await.status, 201);
    }
    let report = "/referrals/report?from=2020-01-01T00:00:00Z&to=2020-12-31T00:00:00Z";
    let now = chrono::Utc::now();
    let window = format!(
        "/referrals/report?from={}&to={}",
        (now - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ"),
        (now + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let call = |who: xtask::keys::Identity, path: String| {
        let db = &db;
        async move {
            db.call_as(&assign::FUNCTION, &who, Method::GET, &path, None)
                .await
        }
    };
    let a = call(w.admin_of_a(), window.clone()).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["referred"], 2);
    assert_eq!(a.body["byReferrer"][0]["patient"]["id"], json!(w.patient_a));
    assert_eq!(a.body["byReferrer"][0]["referred"], 2);
    let past = call(w.admin_of_a(), report.to_owned()).await;
    assert_eq!(past.body["referred"], 0);
    let b = call(w.admin_of_b(), window.clone()).await;
    assert_eq!(b.body["byReferrer"], json!([]), "{b:?}");
    call(w.therapist_of_a(), window)
        .await
        .assert_problem(403, "forbidden");
    let wide = call(
        w.admin_of_a(),
        "/referrals/report?from=2020-01-01T00:00:00Z&to=2022-01-01T00:00:00Z".to_owned(),
    )
    .await;
    wide.assert_problem(400, "invalid_input");
}
