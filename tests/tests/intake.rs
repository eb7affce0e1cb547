//! Intake (issue 20, part 1): forms in immutable JSON Schema versions (refused when invalid or
//! referring outside themselves), tasks the care team assigns, answers checked against the
//! version the patient was shown (a 400 naming the answer, writing nothing), sealed at rest,
//! every staff read audited once, reviews that accept or return, consent and upload tasks,
//! the timeline, and strangers who see nothing.

use http::Method;
use serde_json::{json, Value};
use tokio_postgres::error::SqlState;
use uuid::Uuid;
use wardline_shared::sealed::{task_answers_context, Keyring, Sealed};
use wardline_tests::{
    as_user, patient, portal::as_patient, providers::Providers, staff, Reply, TestDb, World,
    NOTES_KEYS,
};
use xtask::keys::Identity;

async fn call(
    db: &TestDb,
    who: &Identity,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    db.call_as(&intake::FUNCTION, who, method, path, body).await
}

/// Pia, signed in to Alpha's portal.
async fn pia(db: &TestDb, w: &World, method: Method, path: &str, body: Option<Value>) -> Reply {
    as_patient(db, "alpha", &w.patient_of_a(), method, path, body).await
}

/// Version 1 asks for a PHQ-9 score and takes notes.
fn v1() -> Value {
    json!({
        "type": "object",
        "required": ["phq9"],
        "properties": {
            "phq9": {"type": "integer", "minimum": 0, "maximum": 27},
            "notes": {"type": "string", "maxLength": 500},
        },
    })
}

/// Version 2 asks for a GAD-7 score too, and nothing else.
fn v2() -> Value {
    json!({
        "type": "object",
        "required": ["phq9", "gad7"],
        "additionalProperties": false,
        "properties": {
            "phq9": {"type": "integer", "minimum": 0, "maximum": 27},
            "gad7": {"type": "integer", "minimum": 0, "maximum": 21},
        },
    })
}

/// Answers that fit version 1 only (no GAD-7; notes version 2 does not take).
fn fits_v1_only() -> Value {
    json!({"phq9": 12, "notes": "Sleeping badly since March"})
}

/// Answers that fit both versions.
fn fits_both() -> Value {
    json!({"phq9": 5, "gad7": 4})
}

fn id(reply: &Reply, pointer: &str) -> Uuid {
    reply
        .body
        .pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id at {pointer}: {reply:?}"))
}

/// Alpha's admin creates a form with `schema` as version 1: (form, version).
async fn create_form(db: &TestDb, w: &World, schema: Value) -> (Uuid, Uuid) {
    let created = call(
        db,
        &w.admin_of_a(),
        Method::POST,
        "/forms",
        Some(json!({"name": "Intake screening", "schema": schema})),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    (id(&created, "/form/id"), id(&created, "/version/id"))
}

/// Pia's therapist assigns her `body`: the task.
async fn assign(db: &TestDb, w: &World, body: Value) -> Reply {
    let path = format!("/clients/{}/tasks", w.patient_a);
    let assigned = call(db, &w.therapist_of_a(), Method::POST, &path, Some(body)).await;
    assert_eq!(assigned.status, 201, "{assigned:?}");
    assigned
}

async fn assign_form(db: &TestDb, w: &World, form: Uuid) -> Uuid {
    let task = assign(
        db,
        w,
        json!({"kind": "form", "title": "Screening", "formId": form}),
    )
    .await;
    id(&task, "/id")
}

async fn submit(db: &TestDb, w: &World, task: Uuid, body: Value) -> Reply {
    pia(
        db,
        w,
        Method::POST,
        &format!("/api/portal/tasks/{task}/submission"),
        Some(body),
    )
    .await
}

async fn submissions(db: &TestDb, task: Uuid) -> i64 {
    db.count(
        "select count(*) from app.task_submissions where task_id = $1",
        &[&task],
    )
    .await
}

async fn status(db: &TestDb, task: Uuid) -> String {
    db.admin
        .query_one(
            "select status from app.patient_tasks where id = $1",
            &[&task],
        )
        .await
        .unwrap()
        .get(0)
}

fn fields(reply: &Reply) -> Vec<String> {
    let mut named: Vec<String> = reply.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors: {reply:?}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    named.sort();
    named
}

#[tokio::test]
async fn answers_are_checked_against_the_version_the_task_showed_the_patient() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let (form, first) = create_form(&db, &w, v1()).await;
    let old_task = assign_form(&db, &w, form).await;
    let published = call(
        &db,
        &w.admin_of_a(),
        Method::POST,
        &format!("/forms/{form}/versions"),
        Some(json!({"schema": v2()})),
    )
    .await;
    assert_eq!(published.status, 201, "{published:?}");
    assert_eq!(published.body["version"], 2);
    let second = id(&published, "/id");
    let new_task = assign_form(&db, &w, form).await;

    // Each task shows the version it pinned when it was assigned.
    for (task, version, schema) in [(old_task, first, v1()), (new_task, second, v2())] {
        let shown = pia(
            &db,
            &w,
            Method::GET,
            &format!("/api/portal/tasks/{task}"),
            None,
        )
        .await;
        assert_eq!(shown.status, 200, "{shown:?}");
        assert_eq!(shown.body["task"]["formVersionId"], json!(version));
        assert_eq!(shown.body["form"]["id"], json!(version));
        assert_eq!(shown.body["form"]["schema"], schema);
        assert!(shown.body.get("submission").is_none());
    }

    // Valid under version 1, not under version 2: the new task refuses it, naming each answer
    // and never its value, and nothing is written.
    let refused = submit(
        &db,
        &w,
        new_task,
        json!({"formVersionId": second, "answers": fits_v1_only()}),
    )
    .await;
    refused.assert_problem(400, "invalid_input");
    assert_eq!(fields(&refused), ["answers/gad7", "answers/notes"]);
    assert!(!refused.text.contains("Sleeping"), "{}", refused.text);
    assert_eq!(submissions(&db, new_task).await, 0);
    assert_eq!(status(&db, new_task).await, "open");
    assert_eq!(db.audit_count(w.clinic_a, "task.submit").await, 0);

    // The old task takes the same answers under its own version.
    let taken = submit(
        &db,
        &w,
        old_task,
        json!({"formVersionId": first, "answers": fits_v1_only()}),
    )
    .await;
    assert_eq!(taken.status, 201, "{taken:?}");
    assert_eq!(taken.body["status"], "submitted");
    assert_eq!(status(&db, old_task).await, "submitted");

    // A version that fits the answers but is not the task's is refused by SQL.
    let mismatch = submit(
        &db,
        &w,
        new_task,
        json!({"formVersionId": first, "answers": fits_both()}),
    )
    .await;
    mismatch.assert_problem(409, "form_version_mismatch");
    assert_eq!(mismatch.body["errors"][0]["field"], "formVersionId");
    assert_eq!(submissions(&db, new_task).await, 0);

    // Answers checked against version 1 go nowhere near version 2's task, and vice versa:
    // under its own version the new task takes them.
    let fits = submit(
        &db,
        &w,
        new_task,
        json!({"formVersionId": second, "answers": fits_both()}),
    )
    .await;
    assert_eq!(fits.status, 201, "{fits:?}");
    assert_eq!(db.audit_count(w.clinic_a, "task.submit").await, 2);

    // Handed in: not again until it is returned.
    submit(
        &db,
        &w,
        old_task,
        json!({"formVersionId": first, "answers": fits_both()}),
    )
    .await
    .assert_problem(409, "task_not_open");

    // Bad shapes are 400s naming the field; a version nobody showed Pia is a 404.
    for (body, field) in [
        (json!({"answers": fits_both()}), "formVersionId"),
        (json!({"formVersionId": second}), "answers"),
        (
            json!({"formVersionId": second, "answers": {}, "documentId": Uuid::new_v4()}),
            "documentId",
        ),
        (
            json!({"formVersionId": second, "answers": {}, "extra": 1}),
            "extra",
        ),
        (
            json!({"formVersionId": "v2", "answers": {}}),
            "formVersionId",
        ),
        (json!({}), "formVersionId"),
    ] {
        let reply = submit(&db, &w, new_task, body.clone()).await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
    }
    let unseen = submit(
        &db,
        &w,
        new_task,
        json!({"formVersionId": Uuid::new_v4(), "answers": fits_both()}),
    )
    .await;
    unseen.assert_problem(404, "form_not_found");
    assert_eq!(unseen.body["errors"][0]["field"], "formVersionId");
}

#[tokio::test]
async fn answers_are_sealed_at_rest_and_every_staff_read_is_audited_once() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let (form, version) = create_form(&db, &w, v1()).await;
    let task = assign_form(&db, &w, form).await;
    let answers = fits_v1_only();
    let taken = submit(
        &db,
        &w,
        task,
        json!({"formVersionId": version, "answers": answers}),
    )
    .await;
    assert_eq!(taken.status, 201, "{taken:?}");

    // The row holds key id, nonce and ciphertext: nothing of the answers, not even their keys.
    let row: (Uuid, String, Value) = db
        .admin
        .query_one(
            "select id, to_jsonb(s)::text, jsonb_build_object('keyId', key_id,
                      'nonce', encode(nonce, 'base64'), 'ciphertext', encode(ciphertext, 'base64'))
             from app.task_submissions s where task_id = $1",
            &[&task],
        )
        .await
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .unwrap();
    let (submission, stored, sealed) = row;
    for plain in ["Sleeping", "phq9", "notes"] {
        assert!(!stored.contains(plain), "{plain} in {stored}");
    }
    let audit: String = db
        .admin
        .query_one(
            "select coalesce(string_agg(detail::text, ' '), '') from audit.events",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        !audit.contains("Sleeping") && !audit.contains("Screening"),
        "{audit}"
    );
    // Bound to its clinic, itself, its task and its version: it opens only there.
    let keys = Keyring::parse("WARDLINE_NOTES_KEYS", NOTES_KEYS).unwrap();
    let sealed = Sealed::from_json(&json!({
        "keyId": sealed["keyId"],
        "nonce": sealed["nonce"],
        "ciphertext": sealed["ciphertext"].as_str().unwrap().replace('\n', ""),
    }))
    .unwrap();
    let opened = keys
        .open(
            &task_answers_context(Some(w.clinic_a), submission, task, version),
            &sealed,
        )
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&opened).unwrap(), answers);
    for elsewhere in [
        task_answers_context(Some(w.clinic_b), submission, task, version),
        task_answers_context(Some(w.clinic_a), submission, Uuid::new_v4(), version),
        task_answers_context(Some(w.clinic_a), Uuid::new_v4(), task, version),
    ] {
        assert!(keys.open(&elsewhere, &sealed).is_err());
    }

    // Each staff read is audited exactly once, in the read's own statement.
    let path = format!("/tasks/{task}/submission");
    for (n, who) in [w.therapist_of_a(), w.therapist_of_a(), w.admin_of_a()]
        .iter()
        .enumerate()
    {
        let read = call(&db, who, Method::GET, &path, None).await;
        assert_eq!(read.status, 200, "{read:?}");
        assert_eq!(read.body["submission"]["answers"], answers);
        assert_eq!(read.body["submission"]["id"], json!(submission));
        assert!(read.body["submission"].get("sealed").is_none());
        assert_eq!(read.body["form"]["schema"], v1());
        assert_eq!(
            db.audit_count(w.clinic_a, "task.submission.read").await,
            n as i64 + 1
        );
    }
    let readers: Vec<(Uuid, String)> = db
        .admin
        .query(
            "select actor_id, target_id from audit.events
             where action = 'task.submission.read' order by chain_seq",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        readers,
        [w.therapist_a, w.therapist_a, w.admin_a].map(|who| (who, submission.to_string()))
    );

    // The patient reads their own answers back (to fix a returned form); not a staff read.
    let own = pia(
        &db,
        &w,
        Method::GET,
        &format!("/api/portal/tasks/{task}"),
        None,
    )
    .await;
    assert_eq!(own.status, 200, "{own:?}");
    assert_eq!(own.body["submission"]["answers"], answers);
    assert_eq!(db.audit_count(w.clinic_a, "task.submission.read").await, 3);
    // Nothing handed in yet: a 404, and no read recorded.
    let fresh = assign_form(&db, &w, form).await;
    call(
        &db,
        &w.therapist_of_a(),
        Method::GET,
        &format!("/tasks/{fresh}/submission"),
        None,
    )
    .await
    .assert_problem(404, "submission_not_found");
    assert_eq!(db.audit_count(w.clinic_a, "task.submission.read").await, 3);
}

#[tokio::test]
async fn staff_accept_or_return_with_a_comment_and_a_returned_task_is_handed_in_again() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let (form, version) = create_form(&db, &w, v1()).await;
    let task = assign_form(&db, &w, form).await;
    let therapist = w.therapist_of_a();
    let review = |what: &'static str| format!("/tasks/{task}/{what}");

    call(&db, &therapist, Method::POST, &review("accept"), None)
        .await
        .assert_problem(409, "task_not_submitted");
    let answers = json!({"formVersionId": version, "answers": {"phq9": 30}});
    let refused = submit(&db, &w, task, answers).await;
    assert_eq!(fields(&refused), ["answers/phq9"]);
    assert!(!refused.text.contains("30"), "{}", refused.text);
    let first = json!({"formVersionId": version, "answers": {"phq9": 3}});
    assert_eq!(submit(&db, &w, task, first).await.status, 201);

    // A return needs a comment (400 naming it), and changes nothing without one.
    for body in [None, Some(json!({})), Some(json!({"comment": "  "}))] {
        let reply = call(&db, &therapist, Method::POST, &review("return"), body).await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], "comment", "{reply:?}");
    }
    call(
        &db,
        &therapist,
        Method::POST,
        &review("return"),
        Some(json!({"comment": "Please add notes", "extra": true})),
    )
    .await
    .assert_problem(400, "invalid_input");
    assert_eq!(status(&db, task).await, "submitted");
    let returned = call(
        &db,
        &therapist,
        Method::POST,
        &review("return"),
        Some(json!({"comment": "Please add how you slept"})),
    )
    .await;
    assert_eq!(returned.status, 200, "{returned:?}");
    assert_eq!(returned.body["status"], "returned");
    assert_eq!(returned.body["latestSubmission"]["review"], "returned");

    // The patient sees why, and hands it in again.
    let listed = pia(&db, &w, Method::GET, "/api/portal/tasks", None).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let mine = &listed.body["tasks"][0];
    assert_eq!(mine["id"], json!(task));
    assert_eq!(mine["status"], "returned");
    assert_eq!(
        mine["latestSubmission"]["reviewComment"],
        "Please add how you slept"
    );
    call(&db, &therapist, Method::POST, &review("accept"), None)
        .await
        .assert_problem(409, "task_not_submitted");
    let again = json!({"formVersionId": version, "answers": {"phq9": 3, "notes": "Poorly"}});
    assert_eq!(submit(&db, &w, task, again).await.status, 201);
    assert_eq!(submissions(&db, task).await, 2, "every submission is kept");

    let accepted = call(&db, &w.admin_of_a(), Method::POST, &review("accept"), None).await;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    assert_eq!(accepted.body["status"], "accepted");
    let reviews: Vec<(String, Option<String>, Uuid)> = db
        .admin
        .query(
            "select review, review_comment, reviewed_by from app.task_submissions
             where task_id = $1 order by submitted_at",
            &[&task],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        reviews,
        [
            (
                "returned".to_owned(),
                Some("Please add how you slept".to_owned()),
                w.therapist_a
            ),
            ("accepted".to_owned(), None, w.admin_a),
        ]
    );
    for action in ["task.return", "task.accept"] {
        assert_eq!(db.audit_count(w.clinic_a, action).await, 1, "{action}");
    }
    // Accepted is final.
    call(&db, &therapist, Method::POST, &review("cancel"), None)
        .await
        .assert_problem(409, "task_closed");
    submit(
        &db,
        &w,
        task,
        json!({"formVersionId": version, "answers": {"phq9": 1}}),
    )
    .await
    .assert_problem(409, "task_not_open");

    let page = call(
        &db,
        &therapist,
        Method::GET,
        &format!("/clients/{}/tasks?limit=1", w.patient_a),
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(page.body["tasks"][0]["status"], "accepted");
    assert!(page.body["nextCursor"].is_null());
}

#[tokio::test]
async fn upload_and_consent_tasks_cancelling_and_the_notice() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let upload = id(
        &assign(
            &db,
            &w,
            json!({"kind": "upload", "title": "Insurance card", "dueOn": "2200-01-01"}),
        )
        .await,
        "/id",
    );
    let documents: Vec<Uuid> = db
        .admin
        .query(
            "insert into app.documents (id, org_id, patient_id, uploader, uploaded_by,
                                        object_key, content_type, size_bytes, status,
                                        shared_with_patient)
             select id, $1::uuid, $2::uuid, uploader, uploaded_by,
                    'documents/' || $1::uuid || '/' || id, 'image/png', 10, status,
                    uploader = 'staff'
             from (values (gen_random_uuid(), 'patient', $2::uuid, 'available', 1),
                          (gen_random_uuid(), 'patient', $2::uuid, 'pending', 2),
                          (gen_random_uuid(), 'staff', $3::uuid, 'available', 3)) as d
                  (id, uploader, uploaded_by, status, n)
             order by n
             returning id",
            &[&w.clinic_a, &w.patient_a, &w.therapist_a],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Only an available document Pia uploaded herself hands it in.
    for document in [documents[1], documents[2], Uuid::new_v4()] {
        let reply = submit(&db, &w, upload, json!({"documentId": document})).await;
        reply.assert_problem(404, "document_not_found");
        assert_eq!(reply.body["errors"][0]["field"], "documentId");
    }
    let (form, version) = create_form(&db, &w, v1()).await;
    let dropped = assign_form(&db, &w, form).await;
    submit(
        &db,
        &w,
        upload,
        json!({"formVersionId": version, "answers": fits_both()}),
    )
    .await
    .assert_problem(409, "task_kind_mismatch");
    let handed = submit(&db, &w, upload, json!({"documentId": documents[0]})).await;
    assert_eq!(handed.status, 201, "{handed:?}");
    assert_eq!(
        handed.body["latestSubmission"]["documentId"],
        json!(documents[0])
    );
    let read = call(
        &db,
        &w.therapist_of_a(),
        Method::GET,
        &format!("/tasks/{upload}/submission"),
        None,
    )
    .await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["submission"]["documentId"], json!(documents[0]));

    // A consent task is done by granting that consent (its version when it names one).
    let consent = id(
        &assign(
            &db,
            &w,
            json!({"kind": "consent", "title": "Telehealth consent",
                   "consentType": "telehealth", "consentVersion": "v2"}),
        )
        .await,
        "/id",
    );
    submit(&db, &w, consent, json!({"documentId": documents[0]}))
        .await
        .assert_problem(409, "task_kind_mismatch");
    for (version, granted, completes) in [
        ("v1", true, false),
        ("v2", false, false),
        ("v2", true, true),
    ] {
        let recorded = pia(
            &db,
            &w,
            Method::PUT,
            "/api/portal/consent",
            Some(json!({"type": "telehealth", "version": version, "granted": granted})),
        )
        .await;
        assert_eq!(recorded.status, 200, "{recorded:?}");
        let done = if completes {
            json!([consent])
        } else {
            json!([])
        };
        assert_eq!(
            recorded.body["completedTaskIds"], done,
            "{version} {granted}"
        );
    }
    assert_eq!(status(&db, consent).await, "completed");
    assert_eq!(db.audit_count(w.clinic_a, "task.complete").await, 1);

    // Cancelling: an open task, once; then the patient cannot hand it in.
    let path = format!("/tasks/{dropped}/cancel");
    let cancelled = call(&db, &w.therapist_of_a(), Method::POST, &path, None).await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    assert_eq!(cancelled.body["status"], "cancelled");
    call(&db, &w.therapist_of_a(), Method::POST, &path, None)
        .await
        .assert_problem(409, "task_closed");
    call(
        &db,
        &w.therapist_of_a(),
        Method::POST,
        &format!("/tasks/{consent}/cancel"),
        None,
    )
    .await
    .assert_problem(409, "task_closed");
    submit(
        &db,
        &w,
        dropped,
        json!({"formVersionId": version, "answers": fits_both()}),
    )
    .await
    .assert_problem(409, "task_not_open");
    assert_eq!(db.audit_count(w.clinic_a, "task.cancel").await, 1);

    // Each assignment told Pia (by e-mail: the address she has) that there is a task, with
    // the task's id alone.
    let notices: Vec<Value> = db
        .admin
        .query(
            "select payload from app.outbox where kind = 'task.assigned' and recipient = $1
             order by created_at",
            &[&"pia@test.example"],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        notices,
        [upload, dropped, consent].map(|task| json!({"taskId": task}))
    );
}

#[tokio::test]
async fn forms_are_checked_before_they_are_kept_and_versions_never_change() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let admin = w.admin_of_a();
    for (body, field) in [
        (
            json!({"name": "Remote", "schema": {"type": "object",
                   "properties": {"a": {"$ref": "https://schemas.example.com/intake.json"}}}}),
            "schema",
        ),
        (
            json!({"name": "Disk", "schema": {"type": "object",
                   "properties": {"a": {"$ref": "file:///etc/passwd"}}}}),
            "schema",
        ),
        (
            json!({"name": "List", "schema": {"type": "array"}}),
            "schema",
        ),
        (
            json!({"name": "Old", "schema": {"$schema": "http://json-schema.org/draft-07/schema#",
                   "type": "object"}}),
            "schema",
        ),
        (
            json!({"name": "Typo", "schema": {"type": "object", "properties": {"a": {"type": 5}}}}),
            "schema",
        ),
        (json!({"name": " ", "schema": v1()}), "name"),
        (json!({"name": "x", "schema": v1(), "owner": "me"}), "owner"),
        (json!({"name": "x"}), "schema"),
    ] {
        let reply = call(&db, &admin, Method::POST, "/forms", Some(body.clone())).await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
    }
    let remote = call(
        &db,
        &admin,
        Method::POST,
        "/forms",
        Some(json!({"name": "Remote", "schema": {"type": "object",
                    "properties": {"a": {"$ref": "https://schemas.example.com/intake.json"}}}})),
    )
    .await;
    assert!(
        remote.body["detail"]
            .as_str()
            .unwrap()
            .contains("only to its own parts"),
        "{remote:?}"
    );
    // Within Rust's bound as sent, past it as PostgreSQL writes it out: still a 400.
    let properties: serde_json::Map<String, Value> = (0..2_600)
        .map(|n| (format!("p{n:04}"), json!({})))
        .collect();
    let wide = json!({"type": "object", "properties": properties});
    assert!(wide.to_string().len() < wardline_shared::limits::FORM_SCHEMA_MAX_BYTES);
    let reply = call(
        &db,
        &admin,
        Method::POST,
        "/forms",
        Some(json!({"name": "Wide", "schema": wide})),
    )
    .await;
    reply.assert_problem(400, "invalid_input");
    assert_eq!(reply.body["errors"][0]["field"], "schema");
    assert_eq!(db.count("select count(*) from app.forms", &[]).await, 0);

    // Therapists read forms but do not write them.
    call(
        &db,
        &w.therapist_of_a(),
        Method::POST,
        "/forms",
        Some(json!({"name": "Mine", "schema": v1()})),
    )
    .await
    .assert_problem(403, "forbidden");
    let (form, _) = create_form(&db, &w, v1()).await;
    let listed = call(&db, &w.therapist_of_a(), Method::GET, "/forms", None).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.body["forms"][0]["latestVersion"]["version"], 1);
    call(
        &db,
        &admin,
        Method::POST,
        &format!("/forms/{form}/versions"),
        Some(json!({"schema": v2()})),
    )
    .await;
    let read = call(
        &db,
        &w.therapist_of_a(),
        Method::GET,
        &format!("/forms/{form}"),
        None,
    )
    .await;
    assert_eq!(read.status, 200, "{read:?}");
    let versions: Vec<(i64, Value)> = read.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_i64().unwrap(), v["schema"].clone()))
        .collect();
    assert_eq!(versions, [(2, v2()), (1, v1())]);

    // Versions are immutable, even to the clinic's admin in SQL.
    let mut user = db.authenticator().await;
    for statement in [
        "update app.form_versions set schema = '{\"type\": \"object\"}'",
        "delete from app.form_versions",
    ] {
        let changed = as_user(&mut user, &admin, statement, &[]).await;
        assert!(
            matches!(&changed, Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE)),
            "{statement}: {changed:?}"
        );
    }

    // Assignment: a known, unarchived form; a due date from today on.
    let path = format!("/clients/{}/tasks", w.patient_a);
    let therapist = w.therapist_of_a();
    let unknown = call(
        &db,
        &therapist,
        Method::POST,
        &path,
        Some(json!({"kind": "form", "title": "x", "formId": Uuid::new_v4()})),
    )
    .await;
    unknown.assert_problem(422, "unknown_form");
    assert_eq!(unknown.body["errors"][0]["field"], "formId");
    let past = call(
        &db,
        &therapist,
        Method::POST,
        &path,
        Some(json!({"kind": "upload", "title": "x", "dueOn": "2020-01-01"})),
    )
    .await;
    past.assert_problem(400, "invalid_input");
    assert_eq!(past.body["errors"][0]["field"], "dueOn");
    let archived = call(
        &db,
        &admin,
        Method::POST,
        &format!("/forms/{form}/archive"),
        None,
    )
    .await;
    assert_eq!(archived.body["archived"], true, "{archived:?}");
    call(
        &db,
        &therapist,
        Method::POST,
        &path,
        Some(json!({"kind": "form", "title": "x", "formId": form})),
    )
    .await
    .assert_problem(409, "form_archived");
    call(
        &db,
        &admin,
        Method::POST,
        &format!("/forms/{form}/versions"),
        Some(json!({"schema": v1()})),
    )
    .await
    .assert_problem(409, "form_archived");
    assert_eq!(
        db.count("select count(*) from app.patient_tasks", &[])
            .await,
        0
    );
    for action in ["form.create", "form.version.publish", "form.archive"] {
        assert!(db.audit_count(w.clinic_a, action).await > 0, "{action}");
    }
}

#[tokio::test]
async fn other_clinics_outsiders_and_other_patients_see_nothing() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let (form, version) = create_form(&db, &w, v1()).await;
    let task = assign_form(&db, &w, form).await;
    let taken = submit(
        &db,
        &w,
        task,
        json!({"formVersionId": version, "answers": fits_both()}),
    )
    .await;
    assert_eq!(taken.status, 201, "{taken:?}");

    // A therapist of Alpha outside Pia's care team, and Beta's admin and therapist.
    let outsider = Uuid::new_v4();
    db.admin
        .batch_execute(&format!(
            "insert into app.clinicians (id, email, first_name, last_name)
             values ('{outsider}', 'outsider@test.example', 'Out', 'Sider');
             insert into app.clinic_memberships (org_id, clinician_id, kind, approved)
             values ('{}', '{outsider}', 'therapist', true);",
            w.clinic_a
        ))
        .await
        .unwrap();
    for who in [
        staff(outsider, w.clinic_a, "therapist"),
        w.admin_of_b(),
        staff(w.therapist_b, w.clinic_b, "therapist"),
        w.both_at(w.clinic_b),
    ] {
        for (method, path, code) in [
            (
                Method::GET,
                format!("/tasks/{task}/submission"),
                "task_not_found",
            ),
            (
                Method::POST,
                format!("/tasks/{task}/accept"),
                "task_not_found",
            ),
            (
                Method::POST,
                format!("/tasks/{task}/cancel"),
                "task_not_found",
            ),
            (
                Method::GET,
                format!("/clients/{}/tasks", w.patient_a),
                "patient_not_found",
            ),
        ] {
            call(&db, &who, method, &path, None)
                .await
                .assert_problem(404, code);
        }
        let returned = call(
            &db,
            &who,
            Method::POST,
            &format!("/tasks/{task}/return"),
            Some(json!({"comment": "No"})),
        )
        .await;
        returned.assert_problem(404, "task_not_found");
        call(
            &db,
            &who,
            Method::POST,
            &format!("/clients/{}/tasks", w.patient_a),
            Some(json!({"kind": "upload", "title": "Mine now"})),
        )
        .await
        .assert_problem(404, "patient_not_found");
    }
    // Forms are the clinic's: another clinic's staff neither read nor change them.
    for (method, path, body) in [
        (Method::GET, format!("/forms/{form}"), None),
        (Method::POST, format!("/forms/{form}/archive"), None),
        (
            Method::POST,
            format!("/forms/{form}/versions"),
            Some(json!({"schema": v1()})),
        ),
    ] {
        call(&db, &w.admin_of_b(), method, &path, body)
            .await
            .assert_problem(404, "form_not_found");
    }
    let theirs = call(&db, &w.admin_of_b(), Method::GET, "/forms", None).await;
    assert_eq!(theirs.body["forms"], json!([]), "{theirs:?}");
    let assigned_there = call(
        &db,
        &w.admin_of_b(),
        Method::POST,
        &format!("/clients/{}/tasks", w.patient_b),
        Some(json!({"kind": "form", "title": "x", "formId": form})),
    )
    .await;
    assigned_there.assert_problem(422, "unknown_form");

    // Another patient of Alpha: no task of Pia's, no version her tasks pin.
    let other = patient(db.patient(w.clinic_a).await, w.clinic_a);
    let theirs = as_patient(&db, "alpha", &other, Method::GET, "/api/portal/tasks", None).await;
    assert_eq!(theirs.body["tasks"], json!([]), "{theirs:?}");
    for (method, path, body) in [
        (Method::GET, format!("/api/portal/tasks/{task}"), None),
        (
            Method::POST,
            format!("/api/portal/tasks/{task}/submission"),
            Some(json!({"documentId": Uuid::new_v4()})),
        ),
    ] {
        as_patient(&db, "alpha", &other, method, &path, body)
            .await
            .assert_problem(404, "task_not_found");
    }
    let own_task = assign(&db, &w, json!({"kind": "upload", "title": "For Pia"})).await;
    assert_eq!(own_task.body["patientId"], json!(w.patient_a));
    as_patient(
        &db,
        "alpha",
        &other,
        Method::POST,
        &format!("/api/portal/tasks/{}/submission", id(&own_task, "/id")),
        Some(json!({"formVersionId": version, "answers": fits_both()})),
    )
    .await
    .assert_problem(404, "task_not_found");
    let mut user = db.authenticator().await;
    let pinned = as_user(&mut user, &other, "select id from app.form_versions", &[])
        .await
        .unwrap();
    assert!(pinned.is_empty(), "no task of theirs pins a version");
    assert_eq!(db.audit_count(w.clinic_a, "task.submission.read").await, 0);
    assert_eq!(db.audit_count(w.clinic_b, "task.submission.read").await, 0);
    assert_eq!(submissions(&db, task).await, 1);
    assert_eq!(status(&db, task).await, "submitted");
}

#[tokio::test]
async fn the_timeline_holds_tasks_and_what_was_handed_in() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let (form, version) = create_form(&db, &w, v1()).await;
    let task = assign_form(&db, &w, form).await;
    let taken = submit(
        &db,
        &w,
        task,
        json!({"formVersionId": version, "answers": fits_v1_only()}),
    )
    .await;
    let submission = id(&taken, "/latestSubmission/id");
    let (mut events, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/portal/timeline?limit=1&cursor={c}"),
            None => "/api/portal/timeline?limit=1".to_owned(),
        };
        let page = pia(&db, &w, Method::GET, &path, None).await;
        assert_eq!(page.status, 200, "{page:?}");
        events.extend(page.body["events"].as_array().unwrap().iter().cloned());
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let kinds: Vec<(&str, &Value)> = events
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), &e["taskId"]))
        .collect();
    assert_eq!(
        kinds,
        [("submission", &json!(task)), ("task", &json!(task))],
        "{events:?}"
    );
    assert_eq!(events[0]["submissionId"], json!(submission));
    assert_eq!(events[1]["taskKind"], "form");
    assert_eq!(events[1]["status"], "submitted");
    assert!(!serde_json::to_string(&events).unwrap().contains("Sleeping"));
}

/// Statements run in this database since the last reset (pg_stat_statements, top level).
async fn statements(db: &TestDb) -> i64 {
    db.count(
        "select coalesce(sum(calls), 0)::bigint from pg_stat_statements
         where dbid = (select oid from pg_database where datname = current_database())
           and toplevel and query not like '%pg_stat_statements%'",
        &[],
    )
    .await
}

async fn reset_statements(db: &TestDb) {
    db.admin
        .execute(
            "select pg_stat_statements_reset(0, (select oid from pg_database
                                                 where datname = current_database()), 0)",
            &[],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_submission_is_one_statement_once_its_version_is_compiled_here_two_before() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    db.admin
        .batch_execute("create extension if not exists pg_stat_statements")
        .await
        .unwrap();
    let (form, version) = create_form(&db, &w, v1()).await;
    let (first, second) = (
        assign_form(&db, &w, form).await,
        assign_form(&db, &w, form).await,
    );
    let answers = json!({"formVersionId": version, "answers": fits_both()});
    for (task, expected) in [(first, 2), (second, 1)] {
        reset_statements(&db).await;
        let taken = submit(&db, &w, task, answers.clone()).await;
        assert_eq!(taken.status, 201, "{taken:?}");
        assert_eq!(statements(&db).await, expected, "task {task}");
    }
    // Refused answers cost no statement at all: the cached version refuses them in Rust.
    let third = assign_form(&db, &w, form).await;
    reset_statements(&db).await;
    let refused = submit(
        &db,
        &w,
        third,
        json!({"formVersionId": version, "answers": {"phq9": "twelve"}}),
    )
    .await;
    assert_eq!(fields(&refused), ["answers/phq9"]);
    assert_eq!(statements(&db).await, 0);
}

/// The assignment notice, delivered: the clinic and the portal's tasks page, never the task.
#[tokio::test]
async fn the_task_notice_names_the_clinic_and_the_tasks_page_only() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    assign(
        &db,
        &w,
        json!({"kind": "upload", "title": "Marigold's trauma history letter"}),
    )
    .await;
    let report = message_sender::deliver(&db.ctx, &providers.sender(&[]), "test-sender")
        .await
        .unwrap();
    assert_eq!((report.sent, report.failed), (1, 0), "{report:?}");
    let emails = providers.emails();
    assert_eq!(emails.len(), 1);
    let email = &emails[0];
    assert_eq!(email.subject, "Alpha Clinic has a new task for you");
    assert!(
        email
            .text
            .contains("https://alpha.portal.wardline.test/tasks"),
        "{}",
        email.text
    );
    for phi in ["Marigold", "trauma", "letter", "Pia"] {
        assert!(!email.text.contains(phi), "{phi} in {}", email.text);
    }
}
