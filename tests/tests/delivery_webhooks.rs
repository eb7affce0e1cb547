//! Delivery you can trust: message-sender records the provider's id of each message it sends,
//! SendGrid's signed events and Twilio's signed status callbacks update the outbox and the
//! per-clinic suppression list once per provider event, and a one-click unsubscribe stops the
//! e-mails that are not transactional. A forged, replayed or unsigned call changes nothing; a
//! bounced address gets no further e-mail.

use p256::ecdsa::SigningKey;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::sealed::{otp_code_context, Keyring};
use wardline_tests::delivery::{
    email_events, now, post, sendgrid_key, sendgrid_signature, EMAIL_EVENTS, TWILIO_STATUS,
    UNSUBSCRIBE,
};
use wardline_tests::portal::{form, twilio_signature};
use wardline_tests::providers::{Providers, Receipt, UNSUBSCRIBE_URL};
use wardline_tests::{TestDb, World, NOTES_KEYS, TWILIO_WEBHOOK_URL};

const PAT: &str = "pat@patients.example";
const PAT_PHONE: &str = "+14155550177";

/// Queues a sign-in code (superuser insert, sealed as portal-otp seals it). → its id.
async fn code(db: &TestDb, org: Uuid, channel: &str, recipient: &str) -> Uuid {
    let id = Uuid::new_v4();
    let keys = Keyring::parse("WARDLINE_NOTES_KEYS", NOTES_KEYS).unwrap();
    let sealed = keys.seal(&otp_code_context(id), "123456").unwrap();
    queue(
        db,
        id,
        org,
        "portal_otp",
        channel,
        recipient,
        json!({ "sealedCode": sealed.to_json() }),
    )
    .await;
    id
}

/// Queues an e-mail reminder (not transactional). → its id.
async fn reminder(db: &TestDb, org: Uuid, recipient: &str) -> Uuid {
    let id = Uuid::new_v4();
    let payload = json!({ "sessionId": Uuid::new_v4(), "startsAt": "2027-03-02T20:00:00Z" });
    queue(db, id, org, "session.reminder", "email", recipient, payload).await;
    id
}

async fn queue(
    db: &TestDb,
    id: Uuid,
    org: Uuid,
    kind: &str,
    channel: &str,
    recipient: &str,
    payload: Value,
) {
    db.admin
        .execute(
            "insert into app.outbox (id, org_id, kind, channel, recipient, payload)
             values ($1, $2, $3, $4, $5, $6)",
            &[&id, &org, &kind, &channel, &recipient, &payload],
        )
        .await
        .unwrap();
}

/// Delivers what is due through the stand-ins. → the receipts of this run's sends.
async fn deliver(db: &TestDb, providers: &Providers) -> Vec<Receipt> {
    let before = providers.receipts().len();
    message_sender::deliver(&db.ctx, &providers.sender(&[]), "test-run")
        .await
        .unwrap();
    providers.receipts()[before..].to_vec()
}

/// An outbox row's (status, last_error, provider_message_id, delivery_status).
async fn outbox(db: &TestDb, id: Uuid) -> (String, Option<String>, Option<String>, Option<String>) {
    let r = db
        .admin
        .query_one(
            "select status, last_error, provider_message_id, delivery_status
             from app.outbox where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

/// The suppression reason of `email` in `org`.
async fn suppressed(db: &TestDb, org: Uuid, email: &str) -> Option<String> {
    db.admin
        .query_opt(
            "select reason from app.email_suppressions where org_id = $1 and email = $2",
            &[&org, &email],
        )
        .await
        .unwrap()
        .map(|r| r.get(0))
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.admin.query_one(sql, &[]).await.unwrap().get(0)
}

/// What the webhooks changed: provider events, suppressions, delivery statuses, audit events.
async fn changes(db: &TestDb) -> [i64; 4] {
    [
        count(db, "select count(*) from app.provider_events").await,
        count(db, "select count(*) from app.email_suppressions").await,
        count(
            db,
            "select count(*) from app.outbox where delivery_status is not null",
        )
        .await,
        count(
            db,
            "select count(*) from audit.events
             where action like 'message.%' or action = 'email.suppressed'",
        )
        .await,
    ]
}

fn event(name: &str, id: &str, extra: Value) -> Value {
    let mut event = json!({
        "email": PAT,
        "event": name,
        "sg_event_id": id,
        "timestamp": now(),
    });
    for (key, value) in extra.as_object().unwrap() {
        event[key] = value.clone();
    }
    event
}

#[tokio::test]
async fn a_signed_bounce_suppresses_the_address_for_its_clinic_only_and_it_gets_no_more_email() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    let a = code(&db, w.clinic_a, "email", PAT).await;
    let b = code(&db, w.clinic_b, "email", PAT).await;
    let sent = deliver(&db, &providers).await;
    assert_eq!(sent.len(), 2);
    // Each send names its outbox id to SendGrid and keeps SendGrid's id of it.
    for id in [a, b] {
        let receipt = sent
            .iter()
            .find(|r| r.custom_args["outboxId"] == json!(id))
            .expect("the outbox id travels as a custom argument");
        assert_eq!(
            receipt.headers,
            Value::Null,
            "sign-in codes are transactional"
        );
        let (status, _, provider_id, delivery) = outbox(&db, id).await;
        assert_eq!(status, "sent");
        assert_eq!(provider_id.as_deref(), Some(receipt.provider_id.as_str()));
        assert_eq!(delivery, None);
    }

    let bounce = json!([event(
        "bounce",
        "bounce-1",
        json!({ "type": "bounce", "outboxId": a, "sg_message_id": "x.filter0001" })
    )])
    .to_string();
    let reply = email_events(&db, &bounce, now()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        json!({"accepted": 1, "duplicates": 0, "ignored": 0})
    );
    assert_eq!(
        suppressed(&db, w.clinic_a, PAT).await.as_deref(),
        Some("bounce")
    );
    assert_eq!(
        suppressed(&db, w.clinic_b, PAT).await,
        None,
        "clinic A's bounce only"
    );
    assert_eq!(outbox(&db, a).await.3.as_deref(), Some("bounced"));
    assert_eq!(outbox(&db, b).await.3, None);
    let audited = count(
        &db,
        &format!(
            "select count(*) from audit.events where org_id = '{}'
             and action in ('email.suppressed', 'message.bounced')
             and target_id = '{a}' and detail ->> 'reason' is distinct from '{PAT}'",
            w.clinic_a
        ),
    )
    .await;
    assert_eq!(audited, 2);
    assert_eq!(db.first_broken_link(w.clinic_a).await, None);

    // The next e-mails: A's fails at claim, unsent; B's goes out.
    let emails = providers.emails().len();
    let later_a = code(&db, w.clinic_a, "email", PAT).await;
    let later_b = code(&db, w.clinic_b, "email", PAT).await;
    let sent = deliver(&db, &providers).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].custom_args["outboxId"], json!(later_b));
    assert_eq!(providers.emails().len(), emails + 1);
    let (status, error, provider_id, _) = outbox(&db, later_a).await;
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("failed", Some("suppressed"))
    );
    assert_eq!(provider_id, None);
    assert_eq!(outbox(&db, later_b).await.0, "sent");
}

#[tokio::test]
async fn forged_unsigned_stale_and_replayed_email_events_change_nothing() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    let a = code(&db, w.clinic_a, "email", PAT).await;
    deliver(&db, &providers).await;
    let body = json!([event("spamreport", "spam-1", json!({ "outboxId": a }))]).to_string();
    let ts = now().to_string();
    let signed = sendgrid_signature(&sendgrid_key(), &ts, &body);
    let other_key = SigningKey::from_slice(&[0x11; 32]).unwrap();
    let header = |name: &'static str, value: String| (name, value);
    let signature = "x-twilio-email-event-webhook-signature";
    let timestamp = "x-twilio-email-event-webhook-timestamp";
    let stale = (now() - 301).to_string();
    let ahead = (now() + 120).to_string();
    let refused: Vec<(Vec<(&str, String)>, String)> = vec![
        // Signed by another key.
        (
            vec![
                header(signature, sendgrid_signature(&other_key, &ts, &body)),
                header(timestamp, ts.clone()),
            ],
            body.clone(),
        ),
        // No signature, no timestamp, a signature that is not base64 DER.
        (vec![header(timestamp, ts.clone())], body.clone()),
        (vec![header(signature, signed.clone())], body.clone()),
        (
            vec![
                header(signature, "bm90IGEgc2lnbmF0dXJl".into()),
                header(timestamp, ts.clone()),
            ],
            body.clone(),
        ),
        // The signature of another body, or of another timestamp.
        (
            vec![
                header(signature, signed.clone()),
                header(timestamp, ts.clone()),
            ],
            body.replace("spamreport", "unsubscribe"),
        ),
        (
            vec![
                header(signature, signed.clone()),
                header(timestamp, stale.clone()),
            ],
            body.clone(),
        ),
        // Signed properly, but too old (a replay after the window) or from the future.
        (
            vec![
                header(
                    signature,
                    sendgrid_signature(&sendgrid_key(), &stale, &body),
                ),
                header(timestamp, stale),
            ],
            body.clone(),
        ),
        (
            vec![
                header(
                    signature,
                    sendgrid_signature(&sendgrid_key(), &ahead, &body),
                ),
                header(timestamp, ahead),
            ],
            body.clone(),
        ),
    ];
    for (headers, body) in refused {
        let reply = post(&db, EMAIL_EVENTS, &headers, body).await;
        reply.assert_problem(403, "invalid_signature");
        assert!(!reply.text.contains(PAT), "no address in the answer");
    }
    assert_eq!(changes(&db).await, [0; 4]);

    // The same signed event twice (SendGrid retries, or someone replays it in the window):
    // applied once.
    let first = email_events(&db, &body, now()).await;
    assert_eq!(
        first.body,
        json!({"accepted": 1, "duplicates": 0, "ignored": 0})
    );
    let after = changes(&db).await;
    assert_eq!(after, [1, 1, 0, 1]);
    let again = email_events(&db, &body, now()).await;
    assert_eq!(
        again.body,
        json!({"accepted": 0, "duplicates": 1, "ignored": 0})
    );
    assert_eq!(changes(&db).await, after);
    assert_eq!(
        suppressed(&db, w.clinic_a, PAT).await.as_deref(),
        Some("spam_report")
    );

    // Signed nonsense is a 400 naming the field, and changes nothing.
    let missing_id = json!([{ "event": "bounce", "outboxId": a }]).to_string();
    let reply = email_events(&db, &missing_id, now()).await;
    reply.assert_problem(400, "invalid_input");
    assert_eq!(reply.body["errors"][0]["field"], "[0].sg_event_id");
    let reply = email_events(&db, "{\"not\": \"an array\"}", now()).await;
    reply.assert_problem(400, "invalid_input");
    assert_eq!(changes(&db).await, after);
}

#[tokio::test]
async fn delivered_and_dropped_update_the_outbox_row_and_other_events_are_ignored() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    let delivered = code(&db, w.clinic_a, "email", PAT).await;
    let dropped = code(&db, w.clinic_b, "email", "drop@patients.example").await;
    let sent = deliver(&db, &providers).await;
    let sendgrid_id = |id: Uuid| {
        sent.iter()
            .find(|r| r.custom_args["outboxId"] == json!(id))
            .unwrap()
            .provider_id
            .clone()
    };
    let events = json!([
        // Found by SendGrid's message id alone (an event without the custom argument).
        event(
            "delivered",
            "ev-delivered",
            json!({
                "sg_message_id": format!("{}.filterdrecv-5d8f-1-64B0-2.0", sendgrid_id(delivered)),
            })
        ),
        event(
            "dropped",
            "ev-dropped",
            json!({
                "email": "drop@patients.example", "outboxId": dropped, "reason": "Bounced Address",
            })
        ),
        event(
            "processed",
            "ev-processed",
            json!({ "outboxId": delivered })
        ),
        event("open", "ev-open", json!({ "outboxId": delivered })),
        // Not a message of Wardline's.
        event(
            "bounce",
            "ev-stranger",
            json!({ "sg_message_id": "unknown.filter1" })
        ),
    ])
    .to_string();
    let reply = email_events(&db, &events, now()).await;
    assert_eq!(
        reply.body,
        json!({"accepted": 2, "duplicates": 0, "ignored": 3})
    );
    assert_eq!(outbox(&db, delivered).await.3.as_deref(), Some("delivered"));
    assert_eq!(outbox(&db, dropped).await.3.as_deref(), Some("dropped"));
    assert_eq!(
        suppressed(&db, w.clinic_a, PAT).await,
        None,
        "delivered suppresses nothing"
    );
    assert_eq!(
        suppressed(&db, w.clinic_b, "drop@patients.example")
            .await
            .as_deref(),
        Some("bounce"),
        "a drop for a bounced address suppresses it as a bounce"
    );
    let provider_events = count(&db, "select count(*) from app.provider_events").await;
    assert_eq!(
        provider_events, 2,
        "only events that changed something are kept"
    );
}

/// A Twilio status callback, signed (or not) for `url`.
async fn status_callback(
    db: &TestDb,
    params: &[(&str, &str)],
    url: Option<&str>,
) -> wardline_tests::Reply {
    status_callback_for(db, None, params, url).await
}

/// A status callback to the URL naming outbox message `outbox` (as message-sender passes it).
async fn status_callback_for(
    db: &TestDb,
    outbox: Option<Uuid>,
    params: &[(&str, &str)],
    url: Option<&str>,
) -> wardline_tests::Reply {
    let query = outbox
        .map(|id| format!("?outboxId={id}"))
        .unwrap_or_default();
    let mut headers = vec![(
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    if let Some(url) = url {
        headers.push((
            "x-twilio-signature",
            twilio_signature(&format!("{url}{query}"), params),
        ));
    }
    post(
        db,
        &format!("{TWILIO_STATUS}{query}"),
        &headers,
        form(params),
    )
    .await
}

#[tokio::test]
async fn twilio_status_callbacks_are_signed_recorded_once_and_replays_change_nothing() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    let delivered = code(&db, w.clinic_a, "sms", PAT_PHONE).await;
    let undelivered = code(&db, w.clinic_b, "sms", PAT_PHONE).await;
    let sent = deliver(&db, &providers).await;
    let status_url = format!("{TWILIO_WEBHOOK_URL}/status");
    let mut sids = Vec::new();
    for id in [delivered, undelivered] {
        let sid = outbox(&db, id).await.2.expect("Twilio's SID is kept");
        let receipt = sent.iter().find(|r| r.provider_id == sid).unwrap();
        assert_eq!(
            receipt.status_callback.as_deref(),
            Some(format!("{status_url}?outboxId={id}").as_str())
        );
        sids.push(sid);
    }
    let params = |sid: &'static str, status: &'static str| {
        vec![
            ("MessageSid", sid),
            ("MessageStatus", status),
            ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
            ("To", PAT_PHONE),
        ]
    };
    let sid_a: &'static str = Box::leak(sids[0].clone().into_boxed_str());
    let sid_b: &'static str = Box::leak(sids[1].clone().into_boxed_str());
    let done = params(sid_a, "delivered");

    // Unsigned, signed for the inbound URL, the signature of other parameters: 403, nothing
    // changes.
    let other = params(sid_a, "failed");
    for (sent, signed_url) in [
        (&done, None),
        (&done, Some(TWILIO_WEBHOOK_URL)),
        (&other, Some(status_url.as_str())),
    ] {
        let mut headers = vec![(
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        )];
        if let Some(url) = signed_url {
            headers.push(("x-twilio-signature", twilio_signature(url, &done)));
        }
        post(&db, TWILIO_STATUS, &headers, form(sent))
            .await
            .assert_problem(403, "invalid_signature");
    }
    assert_eq!(changes(&db).await, [0; 4]);

    // A status on the way (sent) is answered and recorded nowhere.
    let reply = status_callback(&db, &params(sid_a, "sent"), Some(&status_url)).await;
    assert_eq!(reply.body, json!({ "outcome": "ignored" }));
    assert_eq!(changes(&db).await, [0; 4]);

    // delivered, twice: recorded once.
    for expected in ["accepted", "duplicate"] {
        let reply = status_callback(&db, &done, Some(&status_url)).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body, json!({ "outcome": expected }));
    }
    let mut failed = params(sid_b, "undelivered");
    failed.push(("ErrorCode", "30003"));
    let reply = status_callback(&db, &failed, Some(&status_url)).await;
    assert_eq!(reply.body, json!({ "outcome": "accepted" }));
    assert_eq!(outbox(&db, delivered).await.3.as_deref(), Some("delivered"));
    assert_eq!(
        outbox(&db, undelivered).await.3.as_deref(),
        Some("undelivered")
    );
    assert_eq!(changes(&db).await, [2, 0, 2, 2]);
    let in_a = count(
        &db,
        &format!(
            "select count(*) from audit.events where org_id = '{}' and action = 'message.delivered'",
            w.clinic_a
        ),
    )
    .await;
    assert_eq!(in_a, 1);

    // A callback that comes before the send is settled (Twilio's id not yet recorded) finds
    // its message by the id in its URL.
    let early = code(&db, w.clinic_a, "sms", PAT_PHONE).await;
    let early_sid = "SM00000000000000000000000000000077";
    let reply = status_callback_for(
        &db,
        Some(early),
        &params(early_sid, "failed"),
        Some(&status_url),
    )
    .await;
    assert_eq!(reply.body, json!({ "outcome": "accepted" }), "{reply:?}");
    assert_eq!(outbox(&db, early).await.3.as_deref(), Some("failed"));
    // Signed without the query it was sent to: refused.
    let mut headers = vec![(
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let sent_params = params(early_sid, "undelivered");
    headers.push((
        "x-twilio-signature",
        twilio_signature(&status_url, &sent_params),
    ));
    post(
        &db,
        &format!("{TWILIO_STATUS}?outboxId={early}"),
        &headers,
        form(&sent_params),
    )
    .await
    .assert_problem(403, "invalid_signature");

    // A text Wardline did not send: answered, nothing changes. A malformed status: 400.
    let stranger = params("SM00000000000000000000000000000099", "delivered");
    let reply = status_callback(&db, &stranger, Some(&status_url)).await;
    assert_eq!(reply.body, json!({ "outcome": "ignored" }));
    let reply = status_callback(&db, &params(sid_a, "Delivered!"), Some(&status_url)).await;
    reply.assert_problem(400, "invalid_input");
    assert_eq!(reply.body["errors"][0]["field"], "MessageStatus");
    assert_eq!(
        changes(&db).await,
        [3, 0, 3, 3],
        "the early callback is the third"
    );
}

#[tokio::test]
async fn a_one_click_unsubscribe_stops_reminders_not_sign_in_codes_and_a_bounce_stops_both() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    let first = reminder(&db, w.clinic_a, PAT).await;
    let sent = deliver(&db, &providers).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let link = sent[0].headers["List-Unsubscribe"].as_str().unwrap();
    assert_eq!(
        sent[0].headers["List-Unsubscribe-Post"],
        json!("List-Unsubscribe=One-Click")
    );
    let token = link
        .strip_prefix(&format!("<{UNSUBSCRIBE_URL}?token="))
        .and_then(|rest| rest.strip_suffix('>'))
        .expect("the one-click link");
    assert!(!link.contains(PAT), "the link names no address");

    // A token Wardline did not make, or none: 400 naming it, nothing changes.
    let forged = format!("{}.{}", first.simple(), "0".repeat(32));
    for query in [format!("?token={forged}"), String::new(), "?token=".into()] {
        let reply = post(&db, &format!("{UNSUBSCRIBE}{query}"), &[], "").await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], "token");
    }
    assert_eq!(changes(&db).await, [0; 4]);

    // Opened in a browser (or fetched by a scanner): a page whose button posts the link, and
    // nothing changes; a forged token is a 400 there too.
    let url = format!("{UNSUBSCRIBE}?token={token}");
    let get = |path: String| {
        let request = http::Request::builder()
            .method(http::Method::GET)
            .uri(path)
            .header("host", "api.wardline.test")
            .body(lambda_http::Body::Empty)
            .unwrap();
        wardline_tests::dispatch(&db.ctx, &provider_webhooks::FUNCTION, request)
    };
    let page = get(url.clone()).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.text.contains("<form method=\"post\">"),
        "{}",
        page.text
    );
    assert_eq!(
        page.headers["content-type"].to_str().unwrap(),
        "text/html; charset=utf-8"
    );
    get(format!("{UNSUBSCRIBE}?token={forged}"))
        .await
        .assert_problem(400, "invalid_input");
    assert_eq!(changes(&db).await, [0; 4], "a GET unsubscribes nobody");

    // One click (as mail clients POST it), twice: suppressed once, audited once.
    let one_click = "List-Unsubscribe=One-Click";
    let headers = [(
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    for _ in 0..2 {
        let reply = post(&db, &url, &headers, one_click).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body, json!({ "unsubscribed": true }));
    }
    assert_eq!(
        suppressed(&db, w.clinic_a, PAT).await.as_deref(),
        Some("unsubscribe")
    );
    assert_eq!(changes(&db).await, [1, 1, 0, 1]);

    // The next reminder fails unsent; a sign-in code still goes out.
    let next = reminder(&db, w.clinic_a, PAT).await;
    let otp = code(&db, w.clinic_a, "email", PAT).await;
    let sent = deliver(&db, &providers).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].custom_args["outboxId"], json!(otp));
    let (status, error, _, _) = outbox(&db, next).await;
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("failed", Some("suppressed"))
    );

    // A bounce outranks the unsubscribe: now nothing goes out.
    let bounce = json!([event("bounce", "bounce-9", json!({ "outboxId": otp }))]).to_string();
    assert_eq!(email_events(&db, &bounce, now()).await.status, 200);
    assert_eq!(
        suppressed(&db, w.clinic_a, PAT).await.as_deref(),
        Some("bounce")
    );
    let otp = code(&db, w.clinic_a, "email", PAT).await;
    assert!(deliver(&db, &providers).await.is_empty());
    assert_eq!(outbox(&db, otp).await.1.as_deref(), Some("suppressed"));
}
