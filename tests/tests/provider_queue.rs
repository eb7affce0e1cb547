//! The prescription queue (issue 6), outside-in: one queue over every clinic a prescriber
//! works for and nothing of the others, acting on items with their own clinic's context, the
//! four sources of clinic membership, approve-and-send against a real S3-compatible server
//! (moto) and the pharmacy stand-in, and assignments.

use futures::future::join_all;
use http::Method;
use serde_json::{json, Value};
use std::{cell::RefCell, time::Duration};
use tokio::{
    sync::{Barrier, Notify},
    time::timeout,
};
use tokio_postgres::error::SqlState;
use uuid::Uuid;
use wardline_tests::{
    as_user, cross_clinic,
    prescribing::{
        connect_outside, paid_invoice, pdf_text, pharmacy, queued_order, refill, stored_encryption,
        stored_pdf, stored_versions, Prescribing, DEA_A, DEA_B, KMS_KEY_ID, TITLE_A, TITLE_B,
    },
    staff, Reply, TestDb,
};
use xtask::{keys::Identity, pharmacy::Received};

const QUEUE: &str = "/api/provider/prescription-queue";

async fn call(
    db: &TestDb,
    who: &Identity,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    db.call_as(&provider_queue::FUNCTION, who, method, path, body)
        .await
}

async fn queue(db: &TestDb, who: &Identity, query: &str) -> Reply {
    call(db, who, Method::GET, &format!("{QUEUE}{query}"), None).await
}

/// Audit events of `clinic`'s chain with this action and outcome.
async fn audited(db: &TestDb, clinic: Uuid, action: &str, outcome: &str) -> i64 {
    db.count(
        "select count(*) from audit.events where org_id = $1 and action = $2 and outcome = $3",
        &[&clinic, &action, &outcome],
    )
    .await
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_prescriber_of_a_and_b_sees_one_sorted_queue_and_nothing_of_c() {
    let db = TestDb::new().await;
    let p = Prescribing::create(&db).await;
    let (a, b, c) = (p.w.clinic_a, p.w.clinic_b, p.clinic_c);
    // Oldest first across clinics and kinds; C's items are the oldest of all.
    let expected = [
        queued_order(&db, b, p.patient_of(b), 90).await,
        paid_invoice(&db, a, p.patient_of(a), 80).await,
        refill(&db, b, p.patient_of(b), "APPROVED", 70).await,
        refill(&db, a, p.patient_of(a), "PENDING_PROVIDER", 60).await,
        paid_invoice(&db, b, p.patient_of(b), 50).await,
        queued_order(&db, a, p.patient_of(a), 40).await,
    ];
    queued_order(&db, c, p.patient_c, 500).await;
    paid_invoice(&db, c, p.patient_c, 500).await;
    refill(&db, c, p.patient_c, "APPROVED", 500).await;
    // Not waiting for a prescriber: left out.
    refill(&db, a, p.patient_of(a), "PENDING_ADMIN", 30).await;
    db.admin
        .execute(
            "insert into app.invoices (org_id, patient_id, description, amount_cents)
             values ($1, $2, 'Unpaid', 100)",
            &[&a, &p.patient_of(a)],
        )
        .await
        .unwrap();

    let reply = queue(&db, &p.prescriber_at(a), "").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let items = &reply.body["items"];
    assert_eq!(
        ids(items),
        expected.iter().map(Uuid::to_string).collect::<Vec<_>>()
    );
    assert_eq!(reply.body["nextCursor"], Value::Null);
    let first = &items[0];
    assert_eq!(first["type"], "order");
    assert_eq!(first["clinicId"], json!(b));
    assert_eq!(first["clinic"]["name"], "Beta Clinic");
    assert_eq!(first["clinic"]["subdomain"], "beta");
    assert_eq!(
        first["clinic"]["pharmacy"],
        json!({ "enabled": true, "configured": true })
    );
    assert_eq!(first["patient"]["firstName"], "Quinn");
    assert_eq!(items[1]["type"], "invoice");
    assert!(items[1]["paidAt"].is_string());
    assert_eq!(items[2]["status"], "APPROVED");
    let queued: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["queuedAt"].as_str().unwrap())
        .collect();
    let sorted = {
        let mut s = queued.clone();
        s.sort();
        s
    };
    assert_eq!(queued, sorted);

    // Pages of two walk the same list; the token's current clinic changes nothing.
    let mut walked = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = queue(&db, &p.prescriber_at(b), &query).await;
        assert_eq!(page.status, 200, "{page:?}");
        walked.extend(ids(&page.body["items"]));
        match page.body["nextCursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(walked, ids(items));

    // The same holds as app_user in SQL, in a cross-clinic request…
    let mut user = db.authenticator().await;
    for table in ["app.invoices", "app.refills", "app.orders", "app.patients"] {
        let rows = as_user(
            &mut user,
            &cross_clinic(p.w.both),
            &format!("select count(*) filter (where org_id = $1), count(*) filter (where org_id <> all($2)) from {table}"),
            &[&c, &vec![a, b]],
        )
        .await
        .unwrap();
        let (of_c, outside): (i64, i64) = (rows[0].get(0), rows[0].get(1));
        assert_eq!((of_c, outside), (0, 0), "{table}");
    }
    let orders = as_user(
        &mut user,
        &cross_clinic(p.w.both),
        "select count(*) from app.orders where status = 'queued_for_provider'",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(orders[0].get::<_, i64>(0), 2);
    // …and a clinic-scoped request sees no queue rows at all, even of its own clinic.
    for table in ["app.invoices", "app.refills", "app.orders"] {
        let rows = as_user(
            &mut user,
            &p.prescriber_at(a),
            &format!("select count(*) from {table}"),
            &[],
        )
        .await
        .unwrap();
        assert_eq!(rows[0].get::<_, i64>(0), 0, "{table}");
    }

    // Bad paging input is a 400 naming the parameter.
    queue(&db, &p.prescriber_at(a), "?cursor=yesterday")
        .await
        .assert_problem(400, "invalid_input");
    let reply = queue(&db, &p.prescriber_at(a), "?limit=0").await;
    reply.assert_problem(400, "invalid_input");
    assert_eq!(reply.body["errors"][0]["field"], "limit");
}

#[tokio::test]
async fn acting_on_an_item_of_clinic_c_is_403_and_changes_nothing() {
    let mut db = TestDb::new().await;
    connect_outside(&mut db);
    let p = Prescribing::create(&db).await;
    let c = p.clinic_c;
    let invoice = paid_invoice(&db, c, p.patient_c, 10).await;
    let order = queued_order(&db, c, p.patient_c, 10).await;
    let events = db.count("select count(*) from audit.events", &[]).await;

    let reply = call(
        &db,
        &p.prescriber_at(p.w.clinic_a),
        Method::PATCH,
        &format!("{QUEUE}/{invoice}"),
        Some(json!({ "status": "processed" })),
    )
    .await;
    reply.assert_problem(403, "clinic_not_in_set");
    let reply = call(
        &db,
        &p.prescriber_at(p.w.clinic_a),
        Method::POST,
        &format!("/api/orders/{order}/approve-and-send"),
        None,
    )
    .await;
    reply.assert_problem(403, "clinic_not_in_set");

    let unchanged = db
        .count(
            "select count(*) from app.invoices i, app.orders o
             where i.id = $1 and i.prescription_status = 'pending' and i.processed_at is null
               and o.id = $2 and o.status = 'queued_for_provider' and o.attempts = 0",
            &[&invoice, &order],
        )
        .await;
    assert_eq!(unchanged, 1);
    assert_eq!(
        db.count("select count(*) from audit.events", &[]).await,
        events
    );
    assert!(pharmacy()
        .prescriptions(&p.accounts[2].account_id)
        .is_empty());
    assert!(pharmacy()
        .requests()
        .iter()
        .all(|r| r.idempotency_key != order.to_string()));

    // Unknown ids are 404s.
    call(
        &db,
        &p.prescriber_at(p.w.clinic_a),
        Method::PATCH,
        &format!("{QUEUE}/{}", Uuid::new_v4()),
        Some(json!({ "status": "processed" })),
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test]
async fn invoices_are_processed_or_declined_once_with_an_audit_event_in_their_clinic() {
    let db = TestDb::new().await;
    let p = Prescribing::create(&db).await;
    let b = p.w.clinic_b;
    let invoice = paid_invoice(&db, b, p.patient_of(b), 10).await;
    let other = paid_invoice(&db, b, p.patient_of(b), 5).await;
    let who = p.prescriber_at(p.w.clinic_a);
    let path = format!("{QUEUE}/{invoice}");

    for (body, field) in [
        (json!({ "status": "declined" }), "reason"),
        (json!({ "status": "declined", "reason": "   " }), "reason"),
        (json!({ "status": "done" }), "status"),
        (json!({ "status": "processed", "note": "x" }), "note"),
        (json!({}), "status"),
    ] {
        let reply = call(&db, &who, Method::PATCH, &path, Some(body.clone())).await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
    }
    call(
        &db,
        &who,
        Method::PATCH,
        &format!("{QUEUE}/not-an-id"),
        Some(json!({ "status": "processed" })),
    )
    .await
    .assert_problem(400, "invalid_input");

    let done = call(
        &db,
        &who,
        Method::PATCH,
        &path,
        Some(json!({ "status": "processed" })),
    )
    .await;
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(done.body["prescriptionStatus"], "processed");
    assert_eq!(done.body["changed"], true);
    assert_eq!(done.body["processedBy"], json!(p.provider));
    let again = call(
        &db,
        &who,
        Method::PATCH,
        &path,
        Some(json!({ "status": "processed" })),
    )
    .await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["changed"], false);
    assert_eq!(again.body["processedAt"], done.body["processedAt"]);
    call(
        &db,
        &who,
        Method::PATCH,
        &path,
        Some(json!({ "status": "declined", "reason": "Duplicate" })),
    )
    .await
    .assert_problem(409, "already_processed");

    let declined = call(
        &db,
        &who,
        Method::PATCH,
        &format!("{QUEUE}/{other}"),
        Some(json!({ "status": "declined", "reason": " Not clinically indicated " })),
    )
    .await;
    assert_eq!(declined.status, 200, "{declined:?}");
    assert_eq!(declined.body["reason"], "Not clinically indicated");

    // One event per change, in B's chain although the token's clinic is A.
    assert_eq!(audited(&db, b, "invoice.processed", "success").await, 1);
    assert_eq!(audited(&db, b, "invoice.declined", "success").await, 1);
    assert_eq!(
        audited(&db, p.w.clinic_a, "invoice.processed", "success").await,
        0
    );
    assert_eq!(db.first_broken_link(b).await, None);

    // Processed invoices leave the queue.
    let reply = queue(&db, &who, "").await;
    assert!(!ids(&reply.body["items"]).contains(&invoice.to_string()));
}

#[tokio::test]
async fn approve_and_send_for_a_clinic_b_order_uses_b_s_account_branding_and_credentials() {
    let mut db = TestDb::new().await;
    connect_outside(&mut db);
    let p = Prescribing::create(&db).await;
    let (a, b) = (p.w.clinic_a, p.w.clinic_b);
    let order = queued_order(&db, b, p.patient_of(b), 10).await;

    // The token's current clinic is A.
    let reply = call(
        &db,
        &p.prescriber_at(a),
        Method::POST,
        &format!("/api/orders/{order}/approve-and-send"),
        Some(json!({})),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["status"], "sent");
    assert_eq!(reply.body["clinicId"], json!(b));
    assert_eq!(reply.body["approvedBy"], json!(p.provider));

    // The pharmacy got it on B's account, with B's key and the prescriber's B credentials.
    let account_b = &p.accounts[1];
    let received = pharmacy().prescriptions(&account_b.account_id);
    assert_eq!(received.len(), 1);
    let rx = &received[0];
    assert_eq!(rx.authorization, format!("Bearer {}", account_b.api_key));
    assert_eq!(rx.idempotency_key, order.to_string());
    assert_eq!(rx.body["clinic"]["name"], "Beta Clinic");
    assert_eq!(rx.body["prescriber"]["titleLine"], TITLE_B);
    assert_eq!(rx.body["prescriber"]["deaNumber"], DEA_B);
    assert_eq!(rx.body["prescriber"]["licenseState"], "NJ");
    assert_eq!(rx.body["patient"]["lastName"], "Patient");
    assert!(reply.body["pharmacyReference"]
        .as_str()
        .is_some_and(|r| r.starts_with("rx_")));
    assert!(pharmacy()
        .prescriptions(&p.accounts[0].account_id)
        .is_empty());

    // The stored PDF carries B's letterhead and the B title line and DEA, nothing of A's.
    let key: String = db
        .admin
        .query_one("select pdf_key from app.orders where id = $1", &[&order])
        .await
        .unwrap()
        .get(0);
    assert_eq!(key, format!("prescriptions/{b}/{order}.pdf"));
    // Stored under SSE-KMS with the configured key.
    assert_eq!(
        stored_encryption(&key).await,
        (Some("aws:kms".to_owned()), Some(KMS_KEY_ID.to_owned()))
    );
    let text = pdf_text(&stored_pdf(&key).await);
    for expected in [
        "Beta Clinic",
        "Beta Clinic, 1 Main Street",
        TITLE_B,
        DEA_B,
        "NJ-222",
        "Quinn Patient",
        "Sertraline 50 mg",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from {text:?}"
        );
    }
    for unexpected in ["Alpha Clinic", TITLE_A, DEA_A] {
        assert!(!text.contains(unexpected), "{unexpected:?} in {text:?}");
    }
    // The PDF the pharmacy received is the stored one.
    let attached = rx.body["document"]["base64"].as_str().unwrap();
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(attached)
            .unwrap(),
        stored_pdf(&key).await
    );

    assert_eq!(
        audited(&db, b, "order.approve_and_send", "success").await,
        1
    );
    // Sent orders leave the queue; approving again is a 409 and sends nothing.
    call(
        &db,
        &p.prescriber_at(a),
        Method::POST,
        &format!("/api/orders/{order}/approve-and-send"),
        None,
    )
    .await
    .assert_problem(409, "order_not_queued");
    assert_eq!(pharmacy().prescriptions(&account_b.account_id).len(), 1);
}

#[tokio::test]
async fn a_pharmacy_failure_leaves_the_order_queued_and_a_retry_makes_exactly_one_prescription() {
    let mut db = TestDb::new().await;
    connect_outside(&mut db);
    let p = Prescribing::create(&db).await;
    let b = p.w.clinic_b;
    let order = queued_order(&db, b, p.patient_of(b), 10).await;
    let account = &p.accounts[1];
    let path = format!("/api/orders/{order}/approve-and-send");
    let who = p.prescriber_at(p.w.clinic_a);

    pharmacy().fail_next(&account.account_id, 1);
    let failed = call(&db, &who, Method::POST, &path, None).await;
    failed.assert_problem(502, "send_failed");
    let row = db
        .admin
        .query_one(
            "select status, attempts, last_error, pharmacy_reference, sending_claim is null
             from app.orders where id = $1",
            &[&order],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "queued_for_provider");
    assert!(row.get::<_, bool>(4), "the failure released the claim");
    assert_eq!(row.get::<_, i32>(1), 1);
    assert_eq!(
        row.get::<_, Option<String>>(2).as_deref(),
        Some("pharmacy: HTTP 503 (unavailable)")
    );
    assert_eq!(row.get::<_, Option<String>>(3), None);
    assert_eq!(
        audited(&db, b, "order.approve_and_send", "failure").await,
        1
    );
    // Still in the queue, with the error shown.
    let listed = queue(&db, &who, "").await;
    let item = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == json!(order))
        .cloned()
        .expect("the order is still queued");
    assert_eq!(item["attempts"], 1);
    assert!(item["lastError"].as_str().unwrap().contains("503"));

    let sent = call(&db, &who, Method::POST, &path, None).await;
    assert_eq!(sent.status, 200, "{sent:?}");
    assert_eq!(sent.body["status"], "sent");
    assert_eq!(pharmacy().prescriptions(&account.account_id).len(), 1);
    let tries: Vec<u16> = pharmacy()
        .requests()
        .iter()
        .filter(|r| r.idempotency_key == order.to_string())
        .map(|r| r.status)
        .collect();
    assert_eq!(tries, vec![503, 201]);
    assert_eq!(
        audited(&db, b, "order.approve_and_send", "success").await,
        1
    );
}

/// Two approvals of one order, each on its own pooled connection, released together by a
/// barrier while the pharmacy holds every request of the order's clinic: the approval that
/// claimed the order waits there, so the other can answer only if it never went out.
#[tokio::test]
async fn two_approvals_at_once_send_one_prescription_and_store_the_pdf_it_carries() {
    let mut db = TestDb::new().await;
    connect_outside(&mut db);
    let p = Prescribing::create(&db).await;
    let b = p.w.clinic_b;
    let order = queued_order(&db, b, p.patient_of(b), 10).await;
    let account = &p.accounts[1];
    let path = format!("/api/orders/{order}/approve-and-send");
    let who = p.prescriber_at(p.w.clinic_a);
    let opened = join_all((0..2).map(|_| db.ctx.db.client())).await;
    assert!(opened.iter().all(Result::is_ok), "two connections at once");
    drop(opened);

    let held = RefCell::new(Some(pharmacy().hold(&account.account_id)));
    let barrier = Barrier::new(2);
    let answered = Notify::new();
    let approve = || async {
        barrier.wait().await;
        let reply = call(&db, &who, Method::POST, &path, None).await;
        let while_held = held.borrow().is_some();
        answered.notify_one();
        (reply, while_held)
    };
    // Once one approval has answered (or after a bound, so the old behaviour fails rather
    // than hangs), the claim it met is read and the pharmacy lets the other through.
    let release = async {
        let one_answered = timeout(Duration::from_secs(10), answered.notified())
            .await
            .is_ok();
        let claim: Option<String> = db
            .admin
            .query_one(
                "select app.iso(sending_until) from app.orders where id = $1",
                &[&order],
            )
            .await
            .unwrap()
            .get(0);
        held.borrow_mut().take();
        (one_answered, claim)
    };
    let ((one, one_held), (two, two_held), (one_answered, claim)) =
        tokio::join!(approve(), approve(), release);

    // One request reached the pharmacy: one prescription…
    let tries: Vec<Received> = pharmacy()
        .requests()
        .into_iter()
        .filter(|r| r.idempotency_key == order.to_string())
        .collect();
    assert_eq!(
        tries.iter().map(|r| r.status).collect::<Vec<_>>(),
        [201],
        "requests for the order"
    );
    // …and one PDF was stored, the one it carried.
    let key = format!("prescriptions/{b}/{order}.pdf");
    let stored = stored_versions(&key).await;
    assert_eq!(stored.len(), 1, "PDFs stored under {key}");
    let attached = tries[0].body["document"]["base64"].as_str().unwrap();
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(attached)
            .unwrap(),
        stored[0]
    );
    // The order was sent once, by that request, and its claim is gone.
    let row = db
        .admin
        .query_one(
            "select status, pharmacy_reference, pdf_key, sending_claim is null from app.orders
             where id = $1",
            &[&order],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "sent");
    assert_eq!(row.get::<_, Option<String>>(2), Some(key));
    assert!(row.get::<_, bool>(3), "the claim is released");
    assert_eq!(
        audited(&db, b, "order.approve_and_send", "success").await,
        1
    );
    assert_eq!(
        audited(&db, b, "order.approve_and_send", "failure").await,
        0
    );

    // The approval that met the claim answered while the other was at the pharmacy, with a
    // 409 saying until when the claim holds; the other was sent.
    assert!(
        one_answered,
        "neither approval answered while the pharmacy held the other"
    );
    let (refused, sent) = match (one_held, two_held) {
        (true, false) => (one, two),
        (false, true) => (two, one),
        both => panic!("exactly one approval answers while the other is held: {both:?}"),
    };
    assert_eq!(refused.status, 409, "{refused:?}");
    assert_eq!(
        refused.body,
        json!({
            "type": "urn:wardline:problem:order_being_sent",
            "title": "Conflict",
            "status": 409,
            "detail": "Another approval is sending this order now; it is sent or back in the queue by sendingUntil.",
            "code": "order_being_sent",
            "sendingUntil": claim.expect("a live claim while the pharmacy holds its sender"),
        })
    );
    assert_eq!(sent.status, 200, "{sent:?}");
    assert_eq!(sent.body["status"], "sent");
    assert_eq!(
        sent.body["pharmacyReference"].as_str(),
        row.get::<_, Option<String>>(1).as_deref()
    );
}

/// A sender that claimed the order and died leaves its claim: approvals are refused until its
/// lease runs out, then one sends.
#[tokio::test]
async fn a_crashed_approval_s_claim_refuses_others_until_it_expires() {
    let mut db = TestDb::new().await;
    connect_outside(&mut db);
    let p = Prescribing::create(&db).await;
    let b = p.w.clinic_b;
    let order = queued_order(&db, b, p.patient_of(b), 10).await;
    let path = format!("/api/orders/{order}/approve-and-send");
    let who = p.prescriber_at(p.w.clinic_a);
    let claim = "update app.orders set sending_claim = gen_random_uuid(),
                 sending_until = now() + make_interval(secs => $2) where id = $1";

    db.admin.execute(claim, &[&order, &30.0]).await.unwrap();
    call(&db, &who, Method::POST, &path, None)
        .await
        .assert_problem(409, "order_being_sent");
    assert!(pharmacy()
        .requests()
        .iter()
        .all(|r| r.idempotency_key != order.to_string()));
    let key = format!("prescriptions/{b}/{order}.pdf");
    assert!(stored_versions(&key).await.is_empty());

    db.admin.execute(claim, &[&order, &-1.0]).await.unwrap();
    let sent = call(&db, &who, Method::POST, &path, None).await;
    assert_eq!(sent.status, 200, "{sent:?}");
    assert_eq!(sent.body["status"], "sent");
    assert_eq!(pharmacy().prescriptions(&p.accounts[1].account_id).len(), 1);
    assert_eq!(stored_versions(&key).await.len(), 1);
    assert_eq!(
        db.count(
            "select count(*) from app.orders where id = $1 and sending_claim is null",
            &[&order]
        )
        .await,
        1
    );
    assert_eq!(
        audited(&db, b, "order.approve_and_send", "success").await,
        1
    );
}

#[tokio::test]
async fn approve_and_send_needs_credentials_a_pharmacy_and_a_configured_deployment() {
    let mut db = TestDb::new().await;
    let p = Prescribing::create(&db).await;
    let a = p.w.clinic_a;
    let order = queued_order(&db, a, p.patient_of(a), 10).await;
    let path = format!("/api/orders/{order}/approve-and-send");
    let who = p.prescriber_at(a);

    call(&db, &who, Method::POST, &path, None)
        .await
        .assert_problem(503, "prescribing_unavailable");
    connect_outside(&mut db);
    call(
        &db,
        &who,
        Method::POST,
        "/api/orders/x/approve-and-send",
        None,
    )
    .await
    .assert_problem(400, "invalid_input");
    let reply = call(
        &db,
        &who,
        Method::POST,
        &path,
        Some(json!({ "force": true })),
    )
    .await;
    reply.assert_problem(400, "invalid_input");
    assert_eq!(reply.body["errors"][0]["field"], "force");

    db.admin
        .execute(
            "update app.clinics set pharmacy_enabled = false where id = $1",
            &[&a],
        )
        .await
        .unwrap();
    call(&db, &who, Method::POST, &path, None)
        .await
        .assert_problem(409, "pharmacy_not_configured");
    db.admin
        .execute(
            "update app.clinics set pharmacy_enabled = true where id = $1;",
            &[&a],
        )
        .await
        .unwrap();
    db.admin
        .execute(
            "update app.provider_clinics set dea_number = null where org_id = $1",
            &[&a],
        )
        .await
        .unwrap();
    call(&db, &who, Method::POST, &path, None)
        .await
        .assert_problem(409, "not_credentialed");
    let unchanged = db
        .count(
            "select count(*) from app.orders where id = $1 and status = 'queued_for_provider' and attempts = 0",
            &[&order],
        )
        .await;
    assert_eq!(unchanged, 1);
}

#[tokio::test]
async fn each_source_of_clinic_membership_alone_grants_the_queue_and_an_inactive_one_does_not() {
    let db = TestDb::new().await;
    let p = Prescribing::create(&db).await;
    let c = p.clinic_c;
    let item = queued_order(&db, c, p.patient_c, 10).await;
    // Where the token says the prescriber is: any clinic; the set decides.
    // Revoked: an inactive clinician is no member of anything and an inactive provider record
    // no prescriber (403); an inactive membership or assignment leaves no clinics (400).
    for (source, grant, revoke, (status, code)) in [
        (
            "user_record",
            "update app.clinicians set home_org_id = $2 where id = $1",
            "update app.clinicians set active = false where id = $1",
            (403, "not_a_member"),
        ),
        (
            "user_clinic_access",
            "insert into app.clinic_memberships (org_id, clinician_id, kind, approved)
             values ($2, $1, 'prescriber', true)",
            "update app.clinic_memberships set active = false where clinician_id = $1",
            (400, "no_clinics"),
        ),
        (
            "provider_assignment",
            "insert into app.provider_clinics (provider_id, org_id)
             select id, $2 from app.providers where clinician_id = $1",
            "update app.provider_clinics set active = false
             where provider_id = (select id from app.providers where clinician_id = $1)",
            (400, "no_clinics"),
        ),
        (
            "provider_record",
            "update app.providers set legacy_org_id = $2 where clinician_id = $1",
            "update app.providers set active = false where clinician_id = $1",
            (403, "not_a_prescriber"),
        ),
    ] {
        let person = Uuid::new_v4();
        db.admin
            .execute(
                "with c as (
                   insert into app.clinicians (id, email, first_name, last_name)
                   values ($1, $2, 'Pat', 'Prescriber') returning id
                 )
                 insert into app.providers (clinician_id) select id from c",
                &[&person, &format!("{person}@test.example")],
            )
            .await
            .unwrap();
        let who = staff(person, c, "therapist");
        let none = queue(&db, &who, "").await;
        none.assert_problem(400, "no_clinics");
        assert_eq!(
            none.body["detail"],
            "Provider must be associated with at least one clinic"
        );

        db.admin.execute(grant, &[&person, &c]).await.unwrap();
        let granted = queue(&db, &who, "").await;
        assert_eq!(granted.status, 200, "{source}: {granted:?}");
        assert_eq!(
            ids(&granted.body["items"]),
            vec![item.to_string()],
            "{source}"
        );
        let debug = call(
            &db,
            &p.super_admin(),
            Method::GET,
            &format!("/api/providers/debug?clinicianId={person}"),
            None,
        )
        .await;
        assert_eq!(debug.status, 200, "{debug:?}");
        assert_eq!(debug.body["clinicIds"], json!([c]), "{source}");
        assert_eq!(debug.body["sources"][0]["source"], source);
        assert_eq!(debug.body["sources"][0]["counted"], true);

        db.admin.execute(revoke, &[&person]).await.unwrap();
        let revoked = queue(&db, &who, "").await;
        revoked.assert_problem(status, code);
        let debug = call(
            &db,
            &p.super_admin(),
            Method::GET,
            &format!("/api/providers/debug?clinicianId={person}"),
            None,
        )
        .await;
        assert_eq!(debug.body["clinicIds"], json!([]), "{source}");
        assert_eq!(debug.body["sources"][0]["counted"], false, "{source}");
    }
}

#[tokio::test]
async fn only_active_prescribers_reach_the_queue() {
    let db = TestDb::new().await;
    let p = Prescribing::create(&db).await;
    // A therapist without a prescriber profile, a patient, and a token for a stranger.
    queue(&db, &p.w.therapist_of_a(), "")
        .await
        .assert_problem(403, "not_a_prescriber");
    queue(&db, &p.w.patient_of_a(), "")
        .await
        .assert_problem(403, "forbidden");
    queue(&db, &staff(Uuid::new_v4(), p.w.clinic_a, "therapist"), "")
        .await
        .assert_problem(403, "not_a_member");
    // The debug explanation is for super admins only.
    call(
        &db,
        &p.prescriber_at(p.w.clinic_a),
        Method::GET,
        &format!("/api/providers/debug?providerId={}", p.provider),
        None,
    )
    .await
    .assert_problem(403, "forbidden");
    let reply = call(
        &db,
        &p.super_admin(),
        Method::GET,
        "/api/providers/debug",
        None,
    )
    .await;
    reply.assert_problem(400, "invalid_input");
}

#[tokio::test]
async fn super_admins_create_and_change_assignments_and_prescribers_read_their_own() {
    let db = TestDb::new().await;
    let p = Prescribing::create(&db).await;
    let (a, c) = (p.w.clinic_a, p.clinic_c);
    let admin_path = format!("/api/super-admin/providers/{}/clinics", p.provider);

    // Not for clinic admins, therapists or the prescriber — refused before the body is read,
    // so a mistyped DEA number is a 403 for them, not a 400.
    for who in [p.w.admin_of_a(), p.w.therapist_of_a(), p.prescriber_at(a)] {
        for body in [
            json!({ "clinicId": c }),
            json!({ "clinicId": c, "deaNumber": "AB1234564" }),
        ] {
            call(&db, &who, Method::POST, &admin_path, Some(body))
                .await
                .assert_problem(403, "forbidden");
        }
        call(&db, &who, Method::GET, &admin_path, None)
            .await
            .assert_problem(403, "forbidden");
    }
    // No token: a 401 whatever the body says.
    db.call(
        &provider_queue::FUNCTION,
        Method::POST,
        &admin_path,
        None,
        Some(r#"{"clinicId": "not an id", "deaNumber": "AB1234564"}"#),
    )
    .await
    .assert_problem(401, "invalid_token");
    let body = json!({ "clinicId": c, "isPrimary": true, "titleLine": "Bea Both, MD - Gamma",
                       "deaNumber": "fb1111119", "licenseNumber": "CT-333", "licenseState": "ct" });
    let created = call(&db, &p.super_admin(), Method::POST, &admin_path, Some(body)).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["deaNumber"], "FB1111119");
    assert_eq!(created.body["licenseState"], "CT");
    assert_eq!(created.body["isPrimary"], true);
    // A partial change leaves the rest; null clears.
    let changed = call(
        &db,
        &p.super_admin(),
        Method::POST,
        &admin_path,
        Some(json!({ "clinicId": c, "titleLine": null })),
    )
    .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(changed.body["titleLine"], Value::Null);
    assert_eq!(changed.body["deaNumber"], "FB1111119");

    // C is now primary, A no longer; the prescriber sees all three, primary first.
    let mine = call(
        &db,
        &p.prescriber_at(a),
        Method::GET,
        &format!("/api/providers/{}/clinics", p.provider),
        None,
    )
    .await;
    assert_eq!(mine.status, 200, "{mine:?}");
    let clinics = mine.body["clinics"].as_array().unwrap();
    assert_eq!(clinics.len(), 3);
    assert_eq!(clinics[0]["clinicId"], json!(c));
    assert_eq!(clinics[0]["clinic"]["name"], "Gamma Clinic");
    assert!(clinics[1..].iter().all(|x| x["isPrimary"] == false));
    let as_admin = call(&db, &p.super_admin(), Method::GET, &admin_path, None).await;
    assert_eq!(as_admin.body, mine.body);
    // Someone else's profile is not found.
    call(
        &db,
        &p.w.therapist_of_a(),
        Method::GET,
        &format!("/api/providers/{}/clinics", p.provider),
        None,
    )
    .await
    .assert_problem(404, "not_found");

    // Bad input names the field; an unknown clinic or provider is named too.
    for (body, status, field) in [
        (
            json!({ "clinicId": c, "deaNumber": "AB1234564" }),
            400,
            "deaNumber",
        ),
        (
            json!({ "clinicId": c, "licenseState": "Connecticut" }),
            400,
            "licenseState",
        ),
        (json!({ "clinicId": c, "active": "no" }), 400, "active"),
        (json!({ "titleLine": "x" }), 400, "clinicId"),
        (json!({ "clinicId": Uuid::new_v4() }), 422, "clinicId"),
    ] {
        let reply = call(
            &db,
            &p.super_admin(),
            Method::POST,
            &admin_path,
            Some(body.clone()),
        )
        .await;
        assert_eq!(reply.status.as_u16(), status, "{body}: {reply:?}");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
    }
    // The database holds the same rule, whoever writes.
    for dea in ["AB1234564", "AB12"] {
        let refused = db
            .admin
            .execute(
                "update app.provider_clinics set dea_number = $2 where org_id = $1",
                &[&c, &dea],
            )
            .await;
        let refused = refused.expect_err(dea);
        let error = refused.as_db_error().expect("a database error");
        assert_eq!(error.code(), &SqlState::CHECK_VIOLATION, "{dea}");
        assert_eq!(
            error.constraint(),
            Some("provider_clinics_dea_number_check"),
            "{dea}"
        );
    }
    call(
        &db,
        &p.super_admin(),
        Method::POST,
        &format!("/api/super-admin/providers/{}/clinics", Uuid::new_v4()),
        Some(json!({ "clinicId": c })),
    )
    .await
    .assert_problem(404, "not_found");

    // Every change is audited in the assignment's clinic; a no-op is not.
    assert_eq!(
        audited(&db, c, "provider_clinic.create", "success").await,
        1
    );
    assert_eq!(
        audited(&db, c, "provider_clinic.update", "success").await,
        1
    );
    // A lost its primary flag: that is a change of A's assignment.
    assert_eq!(
        audited(&db, a, "provider_clinic.update", "success").await,
        1
    );
    let same = call(
        &db,
        &p.super_admin(),
        Method::POST,
        &admin_path,
        Some(json!({ "clinicId": c, "titleLine": null })),
    )
    .await;
    assert_eq!(same.status, 200);
    assert_eq!(
        audited(&db, c, "provider_clinic.update", "success").await,
        1
    );
}

#[tokio::test]
async fn an_order_is_marked_sent_only_while_the_prescriber_is_credentialed_at_its_clinic() {
    let db = TestDb::new().await;
    let p = Prescribing::create(&db).await;
    let order = queued_order(&db, p.w.clinic_a, p.w.patient_a, 5).await;
    let send = "update app.orders set status = 'sent', approved_by = $2, approved_at = now(),
                sent_at = now(), pharmacy_reference = 'rx-1', pdf_key = 'k'
                where id = $1 returning id";
    let mut user = db.authenticator().await;
    let sent = as_user(
        &mut user,
        &cross_clinic(p.w.both),
        send,
        &[&order, &p.provider],
    )
    .await;
    assert_eq!(
        sent.unwrap().len(),
        1,
        "credentialed: the update goes through"
    );
    // The assignment is revoked while the pharmacy call runs: the database refuses the update.
    db.admin
        .execute(
            "update app.provider_clinics set active = false where provider_id = $1 and org_id = $2",
            &[&p.provider, &p.w.clinic_a],
        )
        .await
        .unwrap();
    let refused = as_user(
        &mut user,
        &cross_clinic(p.w.both),
        send,
        &[&order, &p.provider],
    )
    .await
    .unwrap_err();
    assert_eq!(
        refused.code(),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{refused:?}"
    );
}
