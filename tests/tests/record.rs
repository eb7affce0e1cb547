//! The patient's own record (issue 20): feedback once per completed session and the admins'
//! report of it; the timeline, newest first, one statement per page.

use http::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::Context;
use wardline_tests::{
    patient,
    portal::{as_patient, host},
    TestDb, World,
};

/// A session of Pia's with `clinician`, `hours` from now, in `status`.
async fn session(db: &TestDb, w: &World, clinician: Uuid, hours: i32, status: &str) -> Uuid {
    db.admin
        .query_one(
            "insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                                       service_id, cancel_reason, created_by)
             select $1, $2, $3, $5, tstzrange(t, t + interval '50 minutes'), $6,
                    case when $5 = 'cancelled' then 'x' end, $2
             from (select date_trunc('second', now()) + make_interval(hours => $4) as t) x
             returning id",
            &[
                &w.clinic_a,
                &clinician,
                &w.patient_a,
                &hours,
                &status,
                &w.service_a,
            ],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn feedback_is_once_per_completed_session_and_admins_read_the_report() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let pia = w.patient_of_a();
    let done = session(&db, &w, w.therapist_a, -48, "completed").await;
    let also = session(&db, &w, w.both, -24, "completed").await;
    let ahead = session(&db, &w, w.therapist_a, 24, "scheduled").await;
    let path = |id: Uuid| format!("/api/portal/appointments/{id}/feedback");

    let given = as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &path(done),
        Some(json!({"nps": 10, "csat": 5, "comment": "Helpful"})),
    )
    .await;
    assert_eq!(given.status, 201, "{given:?}");
    assert_eq!(given.body["nps"], 10);
    as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &path(done),
        Some(json!({"nps": 2})),
    )
    .await
    .assert_problem(409, "feedback_given");
    as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &path(ahead),
        Some(json!({"csat": 3})),
    )
    .await
    .assert_problem(409, "not_rateable");
    for (body, field) in [
        (json!({"nps": 11}), "nps"),
        (json!({"csat": 0}), "csat"),
        (json!({}), "nps"),
        (json!({"nps": 5, "comment": ""}), "comment"),
        (json!({"nps": "ten"}), "nps"),
    ] {
        let reply = as_patient(&db, "alpha", &pia, Method::POST, &path(also), Some(body)).await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{reply:?}");
    }
    let other = db.patient(w.clinic_a).await;
    let stranger = patient(other, w.clinic_a);
    as_patient(
        &db,
        "alpha",
        &stranger,
        Method::POST,
        &path(also),
        Some(json!({"nps": 0})),
    )
    .await
    .assert_problem(404, "session_not_found");
    let second = as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &path(also),
        Some(json!({"nps": 3, "csat": 2})),
    )
    .await;
    assert_eq!(second.status, 201, "{second:?}");
    assert_eq!(
        db.count(
            "select count(*) from audit.events where action = 'session.feedback'",
            &[]
        )
        .await,
        2
    );

    let window = |days: i64| {
        (chrono::Utc::now() + chrono::Duration::days(days))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let report_path = format!("/feedback/report?from={}&to={}", window(-300), window(1));
    let report_path = report_path.as_str();
    let report = db
        .call_as(
            &schedule::FUNCTION,
            &w.admin_of_a(),
            Method::GET,
            report_path,
            None,
        )
        .await;
    assert_eq!(report.status, 200, "{report:?}");
    let overall = &report.body["overall"];
    assert_eq!(overall["responses"], 2);
    assert_eq!(
        overall["nps"],
        json!({"responses": 2, "promoters": 1, "passives": 0, "detractors": 1, "score": 0})
    );
    assert_eq!(overall["csat"]["average"], json!(3.5));
    assert_eq!(report.body["byClinician"].as_array().unwrap().len(), 2);
    assert!(
        !report.text.contains("Helpful"),
        "no comments in the report"
    );
    let b = db
        .call_as(
            &schedule::FUNCTION,
            &w.admin_of_b(),
            Method::GET,
            report_path,
            None,
        )
        .await;
    assert_eq!(
        b.body["overall"]["responses"], 0,
        "another clinic's admin sees none: {b:?}"
    );
    let therapist = db
        .call_as(
            &schedule::FUNCTION,
            &w.therapist_of_a(),
            Method::GET,
            report_path,
            None,
        )
        .await;
    assert_eq!(therapist.status, 403, "{therapist:?}");
    db.call_as(
        &schedule::FUNCTION,
        &w.admin_of_a(),
        Method::GET,
        "/feedback/report?from=2020-01-01T00:00:00Z",
        None,
    )
    .await
    .assert_problem(400, "invalid_input");
}

/// The timeline: Pia's sessions, messages, consents and feedback, newest first, in pages by a
/// cursor that holds no time, one statement per page; nobody else's events.
#[tokio::test]
async fn the_timeline_is_the_patients_own_newest_first_one_statement_per_page() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let pia = w.patient_of_a();
    let mut sessions = Vec::new();
    for hours in [-72, -48, -24, 24] {
        sessions.push(session(&db, &w, w.therapist_a, hours, "completed").await);
    }
    as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &format!("/api/portal/appointments/{}/feedback", sessions[0]),
        Some(json!({"nps": 9})),
    )
    .await;
    as_patient(
        &db,
        "alpha",
        &pia,
        Method::PUT,
        "/api/portal/consent",
        Some(json!({"type": "terms", "version": "v1", "granted": true})),
    )
    .await;
    as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        "/api/portal/threads",
        Some(json!({"body": "Hello"})),
    )
    .await;
    // Someone else's events never show.
    db.admin
        .execute(
            "insert into app.sessions (org_id, clinician_id, patient_id, status, during, created_by)
             values ($1, $2, $3, 'scheduled', tstzrange(now(), now() + interval '1 hour'), $2)",
            &[&w.clinic_b, &w.therapist_b, &w.patient_b],
        )
        .await
        .unwrap();

    db.admin
        .batch_execute(&format!(
            "create extension if not exists pg_stat_statements;
             alter database {} set pg_stat_statements.track = 'all'",
            db.name
        ))
        .await
        .unwrap();
    let ctx = Context::new(db.config(|_| {})).unwrap();
    let token = db.token(&pia);
    db.admin
        .execute(
            "select pg_stat_statements_reset(0, (select oid from pg_database
                                                 where datname = current_database()), 0)",
            &[],
        )
        .await
        .unwrap();
    let (mut events, mut pages, mut cursor) = (Vec::<Value>::new(), 0i64, None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/portal/timeline?limit=3&cursor={c}"),
            None => "/api/portal/timeline?limit=3".to_owned(),
        };
        let request = http::Request::builder()
            .method(Method::GET)
            .uri(path.as_str())
            .header("host", host("alpha"))
            .header("authorization", format!("Bearer {token}"))
            .body(lambda_http::Body::Empty)
            .unwrap();
        let page = wardline_tests::dispatch(&ctx, &portal::FUNCTION, request).await;
        assert_eq!(page.status, 200, "{page:?}");
        pages += 1;
        events.extend(page.body["events"].as_array().unwrap().iter().cloned());
        match page.body["nextCursor"].as_str() {
            Some(next) => {
                assert!(
                    !next.contains('T') || next.starts_with("consent"),
                    "no time in {next}"
                );
                cursor = Some(next.to_owned());
            }
            None => break,
        }
    }
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "session").count(),
        4,
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "feedback").count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "consent").count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "message").count(), 1);
    assert_eq!(events.len(), 7);
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    assert_eq!(pages, 3);
    assert!(
        !serde_json::to_string(&events).unwrap().contains("Hello"),
        "no message text"
    );

    let top: i64 = db
        .admin
        .query_one(
            "select coalesce(sum(calls), 0)::bigint from pg_stat_statements
             where dbid = (select oid from pg_database where datname = current_database())
               and toplevel and query not like '%pg_stat_statements%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(top, pages, "one statement per page");
    for bad in ["x", "note:1", "session:", "message:zz"] {
        as_patient(
            &db,
            "alpha",
            &pia,
            Method::GET,
            &format!("/api/portal/timeline?cursor={bad}"),
            None,
        )
        .await
        .assert_problem(400, "invalid_input");
    }
    as_patient(
        &db,
        "alpha",
        &pia,
        Method::GET,
        &format!("/api/portal/timeline?cursor=session:{}", Uuid::new_v4()),
        None,
    )
    .await
    .assert_problem(400, "invalid_input");
}
