//! Clinical notes that hold up in an audit (issue 22): the session's clinician signs a note,
//! which locks it — in the database, whatever a handler does — and later words are sealed,
//! append-only addenda; where the clinic requires it, a note is final only once an admin who
//! did not sign it co-signs. Reading a note is audited once per request.

use http::Method;
use serde_json::{json, Value};
use wardline_tests::{claims_json, Reply, TestDb, World};
use xtask::keys::Identity;

async fn notes(
    db: &TestDb,
    who: &Identity,
    method: Method,
    session: &str,
    action: &str,
    body: Option<Value>,
) -> Reply {
    let path = match action {
        "" => format!("/sessions/{session}/notes"),
        action => format!("/sessions/{session}/notes/{action}"),
    };
    db.call_as(&schedule::FUNCTION, who, method, &path, body)
        .await
}

async fn audited(db: &TestDb, action: &str) -> i64 {
    db.count(
        "select count(*) from audit.events where action = $1",
        &[&action],
    )
    .await
}

async fn note_row(db: &TestDb, session: &str) -> Value {
    db.admin
        .query_one(
            "select to_jsonb(n) from app.session_notes n where session_id = $1::text::uuid",
            &[&session],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_signed_note_refuses_edits_and_takes_addenda() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let (therapist, admin) = (w.therapist_of_a(), w.admin_of_a());
    let session = db
        .book(
            &therapist,
            w.therapist_a,
            w.patient_a,
            ("2027-03-02T15:00:00Z", "2027-03-02T15:50:00Z"),
            w.service_a,
        )
        .await;
    let draft = json!({"notes": "Discussed sleep."});
    let saved = notes(
        &db,
        &therapist,
        Method::PUT,
        &session,
        "",
        Some(draft.clone()),
    )
    .await;
    assert_eq!(saved.body["status"], "draft", "{saved:?}");
    notes(
        &db,
        &therapist,
        Method::POST,
        &session,
        "addenda",
        Some(draft.clone()),
    )
    .await
    .assert_problem(409, "note_not_signed");
    // Only the session's clinician signs (an admin manages the note but did not hold the
    // session).
    notes(&db, &admin, Method::POST, &session, "sign", None)
        .await
        .assert_problem(403, "not_session_clinician");
    let signed = notes(&db, &therapist, Method::POST, &session, "sign", None).await;
    assert_eq!(signed.status, 200, "{signed:?}");
    assert_eq!(signed.body["status"], "final");
    assert_eq!(signed.body["signedBy"], json!(w.therapist_a));
    let again = notes(&db, &therapist, Method::POST, &session, "sign", None).await;
    assert_eq!(again.body["signedAt"], signed.body["signedAt"]);
    assert_eq!(audited(&db, "session.notes.sign").await, 1);

    // The lock: through the route a 409 naming it, and underneath for any request role.
    let before = note_row(&db, &session).await;
    let refused = notes(
        &db,
        &admin,
        Method::PUT,
        &session,
        "",
        Some(json!({"notes": "Edited."})),
    )
    .await;
    refused.assert_problem(409, "note_locked");
    assert_eq!(
        refused.body["lock"]["signedBy"],
        json!(w.therapist_a),
        "{refused:?}"
    );
    let mut user = db.authenticator().await;
    for change in [
        "update app.session_notes set ciphertext = ciphertext || '\\x00'::bytea",
        "update app.session_notes set signed_at = null, signed_by = null",
        "update app.session_notes set cosign_required = true",
    ] {
        let tx = user.transaction().await.unwrap();
        tx.execute("select auth.begin_request($1)", &[&claims_json(&therapist)])
            .await
            .unwrap();
        let err = tx.execute(change, &[]).await.expect_err(change);
        assert_eq!(
            err.as_db_error().map(|e| e.message()),
            Some("note_locked"),
            "{change}"
        );
    }
    assert_eq!(note_row(&db, &session).await, before);

    // Addenda: sealed, in order, by whoever manages the session; never changed.
    for (who, text) in [
        (&therapist, "Follow-up: slept better."),
        (&admin, "Reviewed."),
    ] {
        let added = notes(
            &db,
            who,
            Method::POST,
            &session,
            "addenda",
            Some(json!({"notes": text})),
        )
        .await;
        assert_eq!(added.status, 201, "{added:?}");
    }
    let read = notes(&db, &therapist, Method::GET, &session, "", None).await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["notes"], "Discussed sleep.");
    let texts: Vec<_> = read.body["addenda"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["notes"].clone())
        .collect();
    assert_eq!(
        texts,
        [json!("Follow-up: slept better."), json!("Reviewed.")]
    );
    assert_eq!(audited(&db, "session.notes.addendum").await, 2);
    assert_eq!(audited(&db, "session.notes.read").await, 1);
    assert_eq!(
        db.count(
            "select count(*) from app.note_addenda
             where position(convert_to('slept', 'UTF8') in ciphertext) > 0",
            &[]
        )
        .await,
        0
    );
    for change in [
        "update app.note_addenda set created_by = created_by",
        "delete from app.note_addenda",
    ] {
        let tx = user.transaction().await.unwrap();
        tx.execute("select auth.begin_request($1)", &[&claims_json(&admin)])
            .await
            .unwrap();
        let err = tx.execute(change, &[]).await.expect_err(change);
        assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{change}");
    }
    // Another clinic's staff reach nothing of it.
    for action in ["", "sign", "addenda"] {
        let (method, body) = match action {
            "" => (Method::GET, None),
            "addenda" => (Method::POST, Some(json!({"notes": "x"}))),
            _ => (Method::POST, None),
        };
        notes(&db, &w.admin_of_b(), method, &session, action, body)
            .await
            .assert_problem(404, "note_not_found");
    }
}

#[tokio::test]
async fn a_required_cosignature_keeps_a_signed_note_from_being_final() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let (therapist, admin) = (w.therapist_of_a(), w.admin_of_a());
    let set = db
        .call_as(
            &assign::FUNCTION,
            &admin,
            Method::PATCH,
            "/api/admin/clinic",
            Some(json!({"notesCosignRequired": true})),
        )
        .await;
    assert_eq!(set.body["notesCosignRequired"], true, "{set:?}");
    let session = db
        .book(
            &therapist,
            w.therapist_a,
            w.patient_a,
            ("2027-03-02T15:00:00Z", "2027-03-02T15:50:00Z"),
            w.service_a,
        )
        .await;
    notes(
        &db,
        &therapist,
        Method::PUT,
        &session,
        "",
        Some(json!({"notes": "Plan agreed."})),
    )
    .await;
    notes(&db, &admin, Method::POST, &session, "cosign", None)
        .await
        .assert_problem(409, "note_not_signed");
    let signed = notes(&db, &therapist, Method::POST, &session, "sign", None).await;
    assert_eq!(signed.body["status"], "awaiting_cosign", "{signed:?}");
    assert_eq!(signed.body["cosignRequired"], true);
    // A therapist does not co-sign; nobody co-signs their own note.
    notes(&db, &therapist, Method::POST, &session, "cosign", None)
        .await
        .assert_problem(403, "forbidden");
    let own = db
        .book(
            &admin,
            w.admin_a,
            w.patient_a,
            ("2027-03-03T15:00:00Z", "2027-03-03T15:50:00Z"),
            w.service_a,
        )
        .await;
    notes(
        &db,
        &admin,
        Method::PUT,
        &own,
        "",
        Some(json!({"notes": "Mine."})),
    )
    .await;
    let mine = notes(&db, &admin, Method::POST, &own, "sign", None).await;
    assert_eq!(mine.body["status"], "awaiting_cosign", "{mine:?}");
    notes(&db, &admin, Method::POST, &own, "cosign", None)
        .await
        .assert_problem(403, "own_note");
    // The clinic's rule changing later leaves a signed note's rule as it was.
    db.call_as(
        &assign::FUNCTION,
        &admin,
        Method::PATCH,
        "/api/admin/clinic",
        Some(json!({"notesCosignRequired": false})),
    )
    .await;
    let read = notes(&db, &therapist, Method::GET, &session, "", None).await;
    assert_eq!(read.body["status"], "awaiting_cosign", "{read:?}");
    let cosigned = notes(&db, &admin, Method::POST, &session, "cosign", None).await;
    assert_eq!(cosigned.status, 200, "{cosigned:?}");
    assert_eq!(cosigned.body["status"], "final");
    assert_eq!(cosigned.body["cosignedBy"], json!(w.admin_a));
    notes(&db, &admin, Method::POST, &session, "cosign", None)
        .await
        .assert_problem(409, "cosign_not_needed");
    assert_eq!(audited(&db, "session.notes.cosign").await, 1);
}
