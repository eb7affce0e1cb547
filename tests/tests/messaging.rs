//! Secure messaging (issue 19): a patient and their care team exchange sealed messages; the
//! team is the clinicians with an active care-team row and the clinic's admins, nobody else;
//! new-message notices carry no PHI, follow the patient's channels and keep a quiet period;
//! the inbox is one statement per page.

use http::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::Context;
use wardline_tests::{call_with, patient, portal::as_patient, Reply, TestDb, World};
use xtask::keys::Identity;

async fn staff(
    db: &TestDb,
    who: &Identity,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    db.call_as(&inbox::FUNCTION, who, method, path, body).await
}

/// The patient writes first; the thread's id.
async fn patient_writes(db: &TestDb, w: &World, text: &str) -> String {
    let started = as_patient(
        db,
        "alpha",
        &w.patient_of_a(),
        Method::POST,
        "/api/portal/threads",
        Some(json!({ "body": text })),
    )
    .await;
    assert_eq!(started.status, 201, "{started:?}");
    assert_eq!(started.body["message"]["body"], text);
    started.body["thread"]["id"].as_str().unwrap().to_owned()
}

/// `(kind, recipient, payload)` of every queued message of these kinds, in order.
async fn notices(db: &TestDb) -> Vec<(String, String, Value)> {
    db.admin
        .query(
            "select kind, recipient, payload from app.outbox
             where kind in ('message.new', 'message.new.staff') order by created_at, recipient",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn a_patient_and_their_care_team_exchange_sealed_messages() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let text = "I have been sleeping badly since the new dose.";
    let thread = patient_writes(&db, &w, text).await;

    // At rest: sealed, never the text.
    let stored: Vec<u8> = db
        .admin
        .query_one("select ciphertext from app.messages", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!stored.windows(8).any(|w| w == &text.as_bytes()[..8]));

    let therapist = w.therapist_of_a();
    let inbox = staff(&db, &therapist, Method::GET, "/inbox", None).await;
    assert_eq!(inbox.status, 200, "{inbox:?}");
    assert_eq!(inbox.body["threads"][0]["id"], json!(thread));
    assert_eq!(inbox.body["threads"][0]["unread"], 1);
    assert_eq!(inbox.body["threads"][0]["patient"]["firstName"], "Pia");
    let messages = format!("/threads/{thread}/messages");
    let read = staff(&db, &therapist, Method::GET, &messages, None).await;
    assert_eq!(read.body["messages"][0]["body"], text, "{read:?}");
    assert_eq!(read.body["messages"][0]["sender"], "patient");

    let reply = staff(
        &db,
        &therapist,
        Method::POST,
        &messages,
        Some(json!({"body": "Thank you, let us talk on Tuesday."})),
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let mine = staff(&db, &therapist, Method::GET, "/inbox", None).await;
    assert_eq!(
        mine.body["threads"][0]["unread"], 0,
        "writing reads the thread"
    );

    let pia = w.patient_of_a();
    let listed = as_patient(&db, "alpha", &pia, Method::GET, "/api/portal/threads", None).await;
    assert_eq!(listed.body["threads"][0]["unread"], 1, "{listed:?}");
    assert!(listed.body["threads"][0].get("patient").is_none());
    let page = as_patient(
        &db,
        "alpha",
        &pia,
        Method::GET,
        &format!("/api/portal/threads/{thread}/messages"),
        None,
    )
    .await;
    let bodies: Vec<&str> = page.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        ["Thank you, let us talk on Tuesday.", text],
        "newest first"
    );
    assert_eq!(page.body["messages"][0]["senderName"], "Tom Alpha");
    let marked = as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &format!("/api/portal/threads/{thread}/read"),
        None,
    )
    .await;
    assert_eq!(marked.status, 200, "{marked:?}");
    let after = as_patient(&db, "alpha", &pia, Method::GET, "/api/portal/threads", None).await;
    assert_eq!(after.body["threads"][0]["unread"], 0);
    assert_eq!(
        db.count(
            "select count(*) from audit.events where action = 'message.post' and target_id = $1",
            &[&thread]
        )
        .await,
        2
    );
    assert_eq!(db.first_broken_link(w.clinic_a).await, None);
}

/// A clinician who leaves the team loses the thread at once; a clinician of the clinic outside
/// the team (even with the all-patients dashboard) and another clinic's admin never had it; the
/// clinic's admin has it.
#[tokio::test]
async fn only_the_care_team_and_the_clinics_admins_reach_a_thread() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    db.set_flag(w.clinic_a, "allActivePatientsDashboard", true)
        .await;
    let thread = patient_writes(&db, &w, "A question about my results").await;
    let messages = format!("/threads/{thread}/messages");
    let outsider = db
        .admin
        .query_one(
            "with c as (insert into app.clinicians (email, first_name, last_name)
                        values ('out@test.example', 'Owen', 'Outside') returning id)
             insert into app.clinic_memberships (org_id, clinician_id, approved)
             select $1, id, true from c returning clinician_id",
            &[&w.clinic_a],
        )
        .await
        .unwrap()
        .get::<_, Uuid>(0);
    let outsider = wardline_tests::staff(outsider, w.clinic_a, "therapist");

    let admin = staff(&db, &w.admin_of_a(), Method::GET, &messages, None).await;
    assert_eq!(admin.status, 200, "{admin:?}");
    for who in [outsider, w.admin_of_b(), w.both_at(w.clinic_b)] {
        let inbox = staff(&db, &who, Method::GET, "/inbox", None).await;
        assert_eq!(inbox.body["threads"], json!([]), "{who:?}");
        staff(&db, &who, Method::GET, &messages, None)
            .await
            .assert_problem(404, "thread_not_found");
        staff(
            &db,
            &who,
            Method::POST,
            &messages,
            Some(json!({"body": "hello"})),
        )
        .await
        .assert_problem(404, "thread_not_found");
    }
    staff(
        &db,
        &outsider,
        Method::POST,
        "/threads",
        Some(json!({"patientId": w.patient_a, "body": "Hello"})),
    )
    .await
    .assert_problem(403, "forbidden");

    // Tom leaves Pia's care team: the thread is gone for him at once.
    let therapist = w.therapist_of_a();
    assert_eq!(
        staff(&db, &therapist, Method::GET, &messages, None)
            .await
            .status,
        200
    );
    db.admin
        .execute(
            "update app.care_team set status = 'inactive' where patient_id = $1 and clinician_id = $2",
            &[&w.patient_a, &w.therapist_a],
        )
        .await
        .unwrap();
    staff(&db, &therapist, Method::GET, &messages, None)
        .await
        .assert_problem(404, "thread_not_found");
    let inbox = staff(&db, &therapist, Method::GET, "/inbox", None).await;
    assert_eq!(inbox.body["threads"], json!([]));

    // Another patient of the clinic sees nothing of Pia's.
    let other = db.patient(w.clinic_a).await;
    let someone = patient(other, w.clinic_a);
    let theirs = as_patient(
        &db,
        "alpha",
        &someone,
        Method::GET,
        "/api/portal/threads",
        None,
    )
    .await;
    assert_eq!(theirs.body["threads"], json!([]));
    as_patient(
        &db,
        "alpha",
        &someone,
        Method::POST,
        &format!("/api/portal/threads/{thread}/messages"),
        Some(json!({"body": "hi"})),
    )
    .await
    .assert_problem(404, "thread_not_found");
}

/// Notices: the team hears of a patient's message by e-mail (the assigned colleague, or the
/// active care team), the patient of the team's by their channels; at most one per thread and
/// side in the quiet period; the payload is the thread's id only.
#[tokio::test]
async fn new_message_notices_carry_no_phi_and_keep_the_quiet_period() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let thread = patient_writes(&db, &w, "First").await;
    let pia = w.patient_of_a();
    let again = as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &format!("/api/portal/threads/{thread}/messages"),
        Some(json!({"body": "Second, a minute later"})),
    )
    .await;
    assert_eq!(again.status, 201, "{again:?}");
    let queued = notices(&db).await;
    let payload = json!({ "threadId": thread });
    assert_eq!(
        queued,
        vec![
            (
                "message.new.staff".into(),
                "both@test.example".into(),
                payload.clone()
            ),
            (
                "message.new.staff".into(),
                "therapist.a@test.example".into(),
                payload.clone()
            ),
        ],
        "the active care team, once in the quiet period"
    );

    let messages = format!("/threads/{thread}/messages");
    let therapist = w.therapist_of_a();
    for text in ["Reply one", "Reply two"] {
        let posted = staff(
            &db,
            &therapist,
            Method::POST,
            &messages,
            Some(json!({ "body": text })),
        )
        .await;
        assert_eq!(posted.status, 201, "{posted:?}");
    }
    let queued = notices(&db).await;
    assert_eq!(queued.len(), 3, "{queued:?}");
    assert_eq!(
        queued[2],
        (
            "message.new".into(),
            "pia@test.example".into(),
            payload.clone()
        )
    );
    // Once Pia has read it, the next reply is news again, quiet period or not.
    let read = format!("/api/portal/threads/{thread}/read");
    as_patient(&db, "alpha", &pia, Method::POST, &read, None).await;
    let more = json!({"body": "And one more"});
    staff(&db, &therapist, Method::POST, &messages, Some(more)).await;
    let queued = notices(&db).await;
    assert_eq!(queued.len(), 4, "{queued:?}");
    assert_eq!(queued[3].0, "message.new");

    // No quiet period: every message notifies; assigned, only the colleague; e-mail off for
    // Pia, nothing for her.
    db.admin
        .batch_execute(&format!(
            "update app.clinics set message_notice_quiet_minutes = 0 where id = '{}';
             insert into app.patient_preferences (patient_id, org_id, sms, email, portal)
             values ('{}', '{}', true, false, true)",
            w.clinic_a, w.patient_a, w.clinic_a
        ))
        .await
        .unwrap();
    let assigned = staff(
        &db,
        &therapist,
        Method::PUT,
        &format!("/threads/{thread}/assignee"),
        Some(json!({"clinicianId": w.both})),
    )
    .await;
    assert_eq!(assigned.status, 200, "{assigned:?}");
    assert_eq!(assigned.body["assignedTo"], json!(w.both));
    as_patient(
        &db,
        "alpha",
        &pia,
        Method::POST,
        &format!("/api/portal/threads/{thread}/messages"),
        Some(json!({"body": "Third"})),
    )
    .await;
    staff(
        &db,
        &therapist,
        Method::POST,
        &messages,
        Some(json!({"body": "Reply three"})),
    )
    .await;
    let queued = notices(&db).await;
    assert_eq!(queued.len(), 5, "{queued:?}");
    assert_eq!(
        queued[4],
        (
            "message.new.staff".into(),
            "both@test.example".into(),
            payload
        )
    );
    let texts: Vec<String> = db
        .admin
        .query("select payload::text from app.outbox", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for text in texts {
        for secret in ["First", "Reply", "Pia", "Patient"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

#[tokio::test]
async fn staff_close_reopen_and_assign_threads_and_bad_input_changes_nothing() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let thread = patient_writes(&db, &w, "Hello").await;
    let therapist = w.therapist_of_a();
    let path = |action: &str| format!("/threads/{thread}/{action}");

    let closed = staff(&db, &therapist, Method::POST, &path("close"), None).await;
    assert_eq!(closed.body["status"], "closed", "{closed:?}");
    as_patient(
        &db,
        "alpha",
        &w.patient_of_a(),
        Method::POST,
        &format!("/api/portal/threads/{thread}/messages"),
        Some(json!({"body": "Are you there?"})),
    )
    .await
    .assert_problem(409, "thread_closed");
    let open_inbox = staff(&db, &therapist, Method::GET, "/inbox", None).await;
    assert_eq!(open_inbox.body["threads"], json!([]));
    let closed_inbox = staff(&db, &therapist, Method::GET, "/inbox?status=closed", None).await;
    assert_eq!(closed_inbox.body["threads"][0]["id"], json!(thread));
    let reopened = staff(&db, &therapist, Method::POST, &path("reopen"), None).await;
    assert_eq!(reopened.body["status"], "open");

    staff(
        &db,
        &therapist,
        Method::PUT,
        &path("assignee"),
        Some(json!({"clinicianId": w.therapist_b})),
    )
    .await
    .assert_problem(422, "not_on_care_team");
    let mine = staff(
        &db,
        &w.both_at(w.clinic_a),
        Method::GET,
        "/inbox?mine=true",
        None,
    )
    .await;
    assert_eq!(mine.body["threads"], json!([]));
    staff(
        &db,
        &therapist,
        Method::PUT,
        &path("assignee"),
        Some(json!({"clinicianId": w.both})),
    )
    .await;
    let mine = staff(
        &db,
        &w.both_at(w.clinic_a),
        Method::GET,
        "/inbox?mine=true",
        None,
    )
    .await;
    assert_eq!(mine.body["threads"][0]["id"], json!(thread));
    let back = staff(
        &db,
        &therapist,
        Method::PUT,
        &path("assignee"),
        Some(json!({"clinicianId": null})),
    )
    .await;
    assert!(back.body.get("assignedTo").is_none(), "{back:?}");
    for action in ["thread.close", "thread.reopen", "thread.assign"] {
        assert!(
            db.count(
                "select count(*) from audit.events where action = $1 and target_id = $2",
                &[&action, &thread]
            )
            .await
                >= 1,
            "{action}"
        );
    }

    let messages = path("messages");
    for (body, field) in [
        (json!({"body": ""}), "body"),
        (json!({"body": "x".repeat(8001)}), "body"),
        (json!({"body": "a\u{0}b"}), "body"),
        (json!({"text": "hi"}), "text"),
    ] {
        let reply = staff(&db, &therapist, Method::POST, &messages, Some(body)).await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{reply:?}");
    }
    for query in ["status=lost", "mine=yes", "limit=0", "cursor=x", "other=1"] {
        staff(
            &db,
            &therapist,
            Method::GET,
            &format!("/inbox?{query}"),
            None,
        )
        .await
        .assert_problem(400, "invalid_input");
    }
    staff(
        &db,
        &therapist,
        Method::POST,
        "/threads",
        Some(json!({"patientId": w.patient_b, "body": "Hello"})),
    )
    .await
    .assert_problem(404, "patient_not_found");
    assert_eq!(
        db.count("select count(*) from app.messages", &[]).await,
        1,
        "nothing was written"
    );
    let started = staff(
        &db,
        &therapist,
        Method::POST,
        "/threads",
        Some(json!({"patientId": w.patient_a, "body": "Checking in"})),
    )
    .await;
    assert_eq!(started.status, 201, "{started:?}");
    assert_eq!(started.body["message"]["body"], "Checking in");
}

/// The inbox is one SQL statement per page (pg_stat_statements), across pages.
#[tokio::test]
async fn the_inbox_is_one_statement_per_page() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let patients = db.patients(w.clinic_a, 60).await;
    db.admin
        .execute(
            "with thread as (
               insert into app.threads (org_id, patient_id, created_by, last_sender,
                                        last_message_at)
               select $1, p, p, 'patient', now() - n * interval '1 minute'
               from unnest($2::uuid[]) with ordinality as t (p, n)
               returning id, patient_id
             )
             insert into app.messages (id, org_id, thread_id, patient_id, sender, sender_id,
                                       key_id, nonce, ciphertext)
             select gen_random_uuid(), $1, id, patient_id, 'patient', patient_id, 'k1',
                    decode(repeat('00', 12), 'hex'), decode(repeat('ab', 17), 'hex')
             from thread",
            &[&w.clinic_a, &patients],
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
        .expect("pg_stat_statements must be loaded (xtask's cluster preloads it)");
    let ctx = Context::new(db.config(|_| {})).unwrap();
    let token = db.token(&w.therapist_of_a());
    db.admin
        .execute(
            "select pg_stat_statements_reset(0, (select oid from pg_database
                                                 where datname = current_database()), 0)",
            &[],
        )
        .await
        .unwrap();
    let (mut seen, mut pages, mut cursor) = (0, 0i64, None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/inbox?limit=20&cursor={c}"),
            None => "/inbox?limit=20".to_owned(),
        };
        let page = call_with(
            &ctx,
            &inbox::FUNCTION,
            Method::GET,
            &path,
            Some(&token),
            None,
        )
        .await;
        assert_eq!(page.status, 200, "{page:?}");
        pages += 1;
        for thread in page.body["threads"].as_array().unwrap() {
            assert_eq!(thread["unread"], 1);
            seen += 1;
        }
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!((seen, pages), (60, 3));
    let counted = |toplevel: bool| {
        let admin = &db.admin;
        async move {
            admin
                .query(
                    "select query, calls from pg_stat_statements
                     where dbid = (select oid from pg_database where datname = current_database())
                       and toplevel = $1 and query not like '%pg_stat_statements%'",
                    &[&toplevel],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
                .collect::<Vec<_>>()
        }
    };
    let top = counted(true).await;
    assert_eq!(
        top.iter().map(|(_, n)| n).sum::<i64>(),
        pages,
        "one statement per page: {top:?}"
    );
    // Nothing inside it ran once per thread: a statement per thread would run 60 times;
    // per page, each runs a few times (once per table its policies read).
    let nested = counted(false).await;
    assert!(nested.iter().all(|(_, n)| *n < 60), "{nested:#?}");
}
