//! message-sender against the real outbox and local stand-ins of Twilio and SendGrid: invites
//! and sign-in codes arrive with the right link, code and sender; opted-out numbers get
//! nothing; failures are retried with backoff or failed at once; messages carry no PHI; log
//! mode sends nothing; two runs at once deliver each message exactly once.

use http::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::{collections::HashSet, time::Duration};
use uuid::Uuid;
use wardline_shared::sealed::{otp_code_context, Keyring};
use wardline_tests::providers::{Providers, Sms, EMAIL_FROM, TWILIO_FROM};
use wardline_tests::{TestDb, World, NOTES_KEYS};

const INVITE: &str = "/v2/doctor/patients/invite";
const CLINIC_NUMBER: &str = "+14155550100";

fn keys() -> Keyring {
    Keyring::parse("WARDLINE_NOTES_KEYS", NOTES_KEYS).expect("the tests' keyring")
}

/// Queues a sign-in code as portal-otp does (superuser insert, code sealed to the message).
async fn otp(db: &TestDb, org: Uuid, channel: &str, recipient: &str, code: &str) -> Uuid {
    let id = Uuid::new_v4();
    let sealed = keys().seal(&otp_code_context(id), code).unwrap();
    let payload = json!({ "sealedCode": sealed.to_json() });
    queue(db, id, org, "portal_otp", channel, recipient, &payload).await;
    id
}

async fn queue(
    db: &TestDb,
    id: Uuid,
    org: Uuid,
    kind: &str,
    channel: &str,
    recipient: &str,
    payload: &Value,
) {
    db.admin
        .execute(
            "insert into app.outbox (id, org_id, kind, channel, recipient, payload)
             values ($1, $2, $3, $4, $5, $6)",
            &[&id, &org, &kind, &channel, &recipient, payload],
        )
        .await
        .expect("queueing a message");
}

/// Invites a patient through the real route (as clinic A's therapist). → (patient, message).
async fn invite(db: &TestDb, w: &World, first: &str, last: &str, email: &str) -> (Uuid, Uuid) {
    let body = json!({ "firstName": first, "lastName": last, "email": email });
    let reply = db
        .care(&w.therapist_of_a(), Method::POST, INVITE, Some(&body))
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let patient: Uuid = reply.body["patient"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let message = db
        .admin
        .query_one(
            "select id from app.outbox where kind = 'patient_invite'
             and payload ->> 'patientId' = $1::uuid::text",
            &[&patient],
        )
        .await
        .unwrap()
        .get(0);
    (patient, message)
}

async fn set_sms_number(db: &TestDb, clinic: Uuid, number: &str) {
    db.admin
        .execute(
            "update app.clinics set sms_number = $2 where id = $1",
            &[&clinic, &number],
        )
        .await
        .unwrap();
}

/// An outbox row as the tests inspect it.
#[derive(Debug)]
struct Row {
    status: String,
    attempts: i32,
    last_error: Option<String>,
    sent: bool,
    /// Seconds until the next attempt (negative when due).
    due_in: f64,
    leased: bool,
    payload: Value,
}

async fn row(db: &TestDb, id: Uuid) -> Row {
    let r = db
        .admin
        .query_one(
            "select status, attempts, last_error, sent_at is not null,
                    extract(epoch from next_attempt_at - now())::float8, leased_until is not null,
                    payload
             from app.outbox where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    Row {
        status: r.get(0),
        attempts: r.get(1),
        last_error: r.get(2),
        sent: r.get(3),
        due_in: r.get(4),
        leased: r.get(5),
        payload: r.get(6),
    }
}

async fn make_due(db: &TestDb, id: Uuid) {
    db.admin
        .execute(
            "update app.outbox set next_attempt_at = now() where id = $1",
            &[&id],
        )
        .await
        .unwrap();
}

async fn deliver(db: &TestDb, sender: &message_sender::Sender) -> message_sender::Report {
    message_sender::deliver(&db.ctx, sender, "test-run")
        .await
        .expect("deliver")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn an_invite_email_carries_a_link_to_the_stored_token_and_is_then_sent() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    let sender = providers.sender(&[]);
    let (patient, message) = invite(&db, &w, "Ivy", "Invitee", "ivy@test.example").await;

    let report = deliver(&db, &sender).await;
    assert_eq!(
        (report.sent, report.retried, report.failed, report.batches),
        (1, 0, 0, 1)
    );
    let emails = providers.emails();
    assert_eq!(emails.len(), 1, "{emails:?}");
    let email = &emails[0];
    assert_eq!(email.to, "ivy@test.example");
    assert_eq!(email.from, EMAIL_FROM);
    assert_eq!(email.from_name.as_deref(), Some("Alpha Clinic"));
    assert!(email.subject.contains("Alpha Clinic"), "{}", email.subject);

    let prefix = "https://alpha.portal.wardline.test/invite?token=";
    let start = email.text.find(prefix).expect("a link") + prefix.len();
    let token: String = email.text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert_eq!(token.len(), 43, "{token}");
    let stored: String = db
        .admin
        .query_one(
            "select encode(token_hash, 'hex') from app.patient_invites where patient_id = $1",
            &[&patient],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(hex(&Sha256::digest(token.as_bytes())), stored);

    let sent = row(&db, message).await;
    assert_eq!(
        (sent.status.as_str(), sent.attempts),
        ("sent", 1),
        "{sent:?}"
    );
    assert!(
        sent.sent && !sent.leased && sent.last_error.is_none(),
        "{sent:?}"
    );
    assert!(
        sent.payload.get("sealedToken").is_none(),
        "{}",
        sent.payload
    );
    assert_eq!(sent.payload["patientId"], json!(patient));

    // Nothing is left to send.
    let again = deliver(&db, &sender).await;
    assert_eq!((again.sent, again.batches), (0, 1));
    assert_eq!(providers.emails().len(), 1);
}

#[tokio::test]
async fn invite_links_follow_the_clinic_portal_address() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    db.admin
        .execute(
            "update app.clinics set portal_domain = 'care.alpha.example' where id = $1",
            &[&w.clinic_a],
        )
        .await
        .unwrap();
    invite(&db, &w, "Ivy", "Invitee", "ivy@test.example").await;
    deliver(&db, &providers.sender(&[])).await;
    let emails = providers.emails();
    assert!(
        emails[0]
            .text
            .contains("\nhttps://care.alpha.example/invite?token="),
        "{}",
        emails[0].text
    );

    // No portal domain and no base domain: no address to send the patient to.
    db.admin
        .execute(
            "update app.clinics set portal_domain = null where id = $1",
            &[&w.clinic_a],
        )
        .await
        .unwrap();
    let (_, message) = invite(&db, &w, "Jo", "Other", "jo@test.example").await;
    let report = deliver(
        &db,
        &providers.sender(&[("WARDLINE_PORTAL_BASE_DOMAIN", "")]),
    )
    .await;
    assert_eq!((report.sent, report.failed), (0, 1));
    let failed = row(&db, message).await;
    assert_eq!(failed.status, "failed");
    assert_eq!(failed.last_error.as_deref(), Some("no_portal_address"));
    assert!(failed.payload.get("sealedToken").is_none());
    assert_eq!(providers.emails().len(), 1);
}

#[tokio::test]
async fn an_otp_sms_carries_the_code_from_the_clinic_number() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    set_sms_number(&db, w.clinic_a, CLINIC_NUMBER).await;
    let a = otp(&db, w.clinic_a, "sms", "+14155550123", "482913").await;
    // Clinic B has no number: texts come from the account's default one.
    let b = otp(&db, w.clinic_b, "sms", "+14155550124", "730155").await;

    let report = deliver(&db, &providers.sender(&[])).await;
    assert_eq!((report.sent, report.failed), (2, 0));
    let mut sms = providers.sms();
    sms.sort_by(|x, y| x.to.cmp(&y.to));
    assert_eq!(
        sms,
        [
            Sms {
                to: "+14155550123".into(),
                from: CLINIC_NUMBER.into(),
                body: "Alpha Clinic: your sign-in code is 482913. It expires in 10 minutes. \
                       Reply STOP to opt out."
                    .into(),
            },
            Sms {
                to: "+14155550124".into(),
                from: TWILIO_FROM.into(),
                body: "Beta Clinic: your sign-in code is 730155. It expires in 10 minutes. \
                       Reply STOP to opt out."
                    .into(),
            },
        ]
    );
    for id in [a, b] {
        let sent = row(&db, id).await;
        assert_eq!(sent.status, "sent");
        assert!(sent.sent);
        assert_eq!(sent.payload, json!({}), "the sealed code is dropped");
    }

    // Without a clinic number or a default one there is no sender.
    let c = otp(&db, w.clinic_b, "sms", "+14155550125", "111111").await;
    deliver(&db, &providers.sender(&[("WARDLINE_TWILIO_FROM", "")])).await;
    let failed = row(&db, c).await;
    assert_eq!(
        (failed.status.as_str(), failed.last_error.as_deref()),
        ("failed", Some("no_sender_number"))
    );
    assert_eq!(providers.sms().len(), 2);
}

#[tokio::test]
async fn an_otp_email_carries_the_code() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    let id = otp(&db, w.clinic_b, "email", "quinn@test.example", "246810").await;
    deliver(&db, &providers.sender(&[])).await;
    let emails = providers.emails();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].to, "quinn@test.example");
    assert_eq!(emails[0].from_name.as_deref(), Some("Beta Clinic"));
    assert!(emails[0].text.contains("246810"), "{}", emails[0].text);
    assert!(
        !emails[0].subject.contains("246810"),
        "no code in the subject"
    );
    assert_eq!(row(&db, id).await.status, "sent");
}

#[tokio::test]
async fn an_opted_out_number_gets_nothing() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    set_sms_number(&db, w.clinic_a, CLINIC_NUMBER).await;
    db.admin
        .execute(
            "insert into app.sms_opt_outs (org_id, phone, opted_out) values
               ($1, '+14155550123', true), ($1, '+14155550124', false)",
            &[&w.clinic_a],
        )
        .await
        .unwrap();
    let stopped = otp(&db, w.clinic_a, "sms", "+14155550123", "482913").await;
    let restarted = otp(&db, w.clinic_a, "sms", "+14155550124", "135790").await;

    let report = deliver(&db, &providers.sender(&[])).await;
    assert_eq!(report.sent, 1, "{report:?}");
    let sms = providers.sms();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0].to, "+14155550124", "texted START again");
    let failed = row(&db, stopped).await;
    assert_eq!(failed.status, "failed");
    assert_eq!(failed.last_error.as_deref(), Some("opted_out"));
    assert!(!failed.sent);
    assert_eq!(failed.payload, json!({}));
    assert_eq!(row(&db, restarted).await.status, "sent");
}

#[tokio::test]
async fn a_server_error_is_retried_with_backoff_until_the_attempts_run_out() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    let sender = providers.sender(&[]);
    let id = otp(&db, w.clinic_a, "sms", "+14155550123", "482913").await;
    let oops = json!({ "code": 20500, "message": "Internal Server Error", "status": 500 });

    providers.fail_next(1, 500, oops.clone());
    let report = deliver(&db, &sender).await;
    assert_eq!((report.sent, report.retried, report.failed), (0, 1, 0));
    let pending = row(&db, id).await;
    assert_eq!((pending.status.as_str(), pending.attempts), ("pending", 1));
    assert_eq!(pending.last_error.as_deref(), Some("twilio 500"));
    assert!(!pending.leased);
    assert!(
        pending.due_in > 25.0 && pending.due_in <= 30.0,
        "30 s backoff: {pending:?}"
    );
    assert!(
        pending.payload.get("sealedCode").is_some(),
        "kept for the retry"
    );

    // Not due yet: nothing is claimed.
    let early = deliver(&db, &sender).await;
    assert_eq!((early.sent, early.retried, early.failed), (0, 0, 0));
    assert_eq!(providers.requests(), 1);

    for attempt in 2..=5 {
        make_due(&db, id).await;
        providers.fail_next(1, 500, oops.clone());
        let report = deliver(&db, &sender).await;
        let r = row(&db, id).await;
        assert_eq!(r.attempts, attempt, "{r:?}");
        if attempt < 5 {
            assert_eq!((report.retried, r.status.as_str()), (1, "pending"));
            let backoff = 30.0 * f64::from(1 << (attempt - 1));
            assert!(
                r.due_in > backoff - 5.0 && r.due_in <= backoff,
                "attempt {attempt}: {r:?}"
            );
        } else {
            assert_eq!((report.failed, r.status.as_str()), (1, "failed"));
            assert_eq!(r.last_error.as_deref(), Some("twilio 500"));
            assert!(r.payload.get("sealedCode").is_none());
        }
    }
    assert_eq!(providers.requests(), 5);
    assert!(providers.sms().is_empty());

    // Failed is final.
    make_due(&db, id).await;
    let after = deliver(&db, &sender).await;
    assert_eq!((after.sent, after.retried, after.failed), (0, 0, 0));
}

#[tokio::test]
async fn rate_limits_and_connection_errors_are_retried() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    let sender = providers.sender(&[]);
    let id = otp(&db, w.clinic_a, "email", "pia@test.example", "482913").await;
    providers.fail_next(
        1,
        429,
        json!({ "errors": [{ "message": "too many requests" }] }),
    );
    deliver(&db, &sender).await;
    let r = row(&db, id).await;
    assert_eq!(
        (r.status.as_str(), r.last_error.as_deref()),
        ("pending", Some("sendgrid 429"))
    );

    // Nobody listening: a connection error is transient too.
    make_due(&db, id).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    deliver(
        &db,
        &providers.sender(&[("WARDLINE_EMAIL_API_BASE", &base)]),
    )
    .await;
    let r = row(&db, id).await;
    assert_eq!((r.status.as_str(), r.attempts), ("pending", 2));
    assert_eq!(r.last_error.as_deref(), Some("sendgrid connection failed"));

    make_due(&db, id).await;
    deliver(&db, &sender).await;
    assert_eq!(row(&db, id).await.status, "sent");
    assert_eq!(providers.emails().len(), 1);
}

#[tokio::test]
async fn an_unsubscribed_recipient_fails_at_once() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    let id = otp(&db, w.clinic_a, "sms", "+14155550123", "482913").await;
    providers.fail_next(
        1,
        400,
        json!({
            "code": 21610,
            "message": "Attempt to send to unsubscribed recipient +14155550123",
            "more_info": "https://www.twilio.com/docs/errors/21610",
            "status": 400,
        }),
    );
    let report = deliver(&db, &providers.sender(&[])).await;
    assert_eq!((report.retried, report.failed), (0, 1));
    let r = row(&db, id).await;
    assert_eq!((r.status.as_str(), r.attempts), ("failed", 1));
    let error = r.last_error.unwrap();
    assert!(error.contains("21610"), "{error}");
    assert!(
        !error.contains("+1415"),
        "no recipient in the error: {error}"
    );
    assert!(r.payload.get("sealedCode").is_none());
}

#[tokio::test]
async fn wrong_credentials_are_refused_by_the_providers_and_fail() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    let sms = otp(&db, w.clinic_a, "sms", "+14155550123", "482913").await;
    let email = otp(&db, w.clinic_a, "email", "pia@test.example", "482913").await;
    let sender = providers.sender(&[
        ("WARDLINE_TWILIO_AUTH_TOKEN", "wrong"),
        ("WARDLINE_EMAIL_API_KEY", "SG.wrong"),
    ]);
    let report = deliver(&db, &sender).await;
    assert_eq!(report.failed, 2);
    assert_eq!(
        row(&db, sms).await.last_error.as_deref(),
        Some("twilio 401 code 20003")
    );
    assert_eq!(
        row(&db, email).await.last_error.as_deref(),
        Some("sendgrid 401")
    );
    assert_eq!(providers.requests(), 2);
    assert!(providers.sms().is_empty() && providers.emails().is_empty());
}

#[tokio::test]
async fn one_bad_message_fails_alone() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    let good = otp(&db, w.clinic_a, "email", "pia@test.example", "482913").await;
    // Sealed for another message: it does not open here.
    let moved = Uuid::new_v4();
    let sealed = keys()
        .seal(&otp_code_context(Uuid::new_v4()), "999999")
        .unwrap();
    queue(
        &db,
        moved,
        w.clinic_a,
        "portal_otp",
        "email",
        "pia@test.example",
        &json!({ "sealedCode": sealed.to_json() }),
    )
    .await;
    let unknown = Uuid::new_v4();
    queue(
        &db,
        unknown,
        w.clinic_a,
        "newsletter",
        "email",
        "pia@test.example",
        &json!({}),
    )
    .await;

    let report = deliver(&db, &providers.sender(&[])).await;
    assert_eq!((report.sent, report.failed), (1, 2), "{report:?}");
    assert_eq!(row(&db, good).await.status, "sent");
    let r = row(&db, moved).await;
    assert_eq!(
        (r.status.as_str(), r.last_error.as_deref()),
        ("failed", Some("unreadable_secret"))
    );
    assert_eq!(r.payload, json!({}));
    let r = row(&db, unknown).await;
    assert_eq!(
        (r.status.as_str(), r.last_error.as_deref()),
        ("failed", Some("unknown_kind"))
    );
    assert_eq!(providers.emails().len(), 1);

    // An unconfigured channel fails its messages with an error naming the setting.
    let (_, invite_message) = invite(&db, &w, "Ivy", "Invitee", "ivy@test.example").await;
    let without_email = providers.sender(&[("WARDLINE_EMAIL_API_KEY", "")]);
    deliver(&db, &without_email).await;
    let r = row(&db, invite_message).await;
    assert_eq!(r.status, "failed");
    assert_eq!(
        r.last_error.as_deref(),
        Some("email_not_configured: WARDLINE_EMAIL_API_KEY is not set")
    );
}

#[tokio::test]
async fn messages_carry_no_phi() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    set_sms_number(&db, w.clinic_a, CLINIC_NUMBER).await;
    let (patient, _) = invite(&db, &w, "Marigold", "Quetzalcoatl", "marigold@test.example").await;
    db.admin
        .execute(
            "update app.patients set phone = '+14155550123', date_of_birth = '1990-02-28'
             where id = $1",
            &[&patient],
        )
        .await
        .unwrap();
    otp(&db, w.clinic_a, "sms", "+14155550123", "482913").await;
    otp(&db, w.clinic_a, "email", "marigold@test.example", "482913").await;

    let report = deliver(&db, &providers.sender(&[])).await;
    assert_eq!(report.sent, 3);
    let mut texts: Vec<String> = providers.sms().into_iter().map(|s| s.body).collect();
    for email in providers.emails() {
        texts.push(email.subject);
        texts.push(email.text);
        texts.extend(email.from_name);
    }
    assert_eq!(texts.len(), 1 + 2 * 3);
    for text in texts {
        let lower = text.to_lowercase();
        for phi in ["marigold", "quetzalcoatl", "1990", "02-28"] {
            assert!(!lower.contains(phi), "{phi} in {text:?}");
        }
    }
}

#[tokio::test]
async fn log_mode_sends_nothing_and_marks_messages_sent() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    // The stand-ins would accept them: log mode must not call them at all. (Neither does it
    // need a sender number.)
    let sender = providers.sender(&[
        ("WARDLINE_MESSAGES_MODE", "log"),
        ("WARDLINE_TWILIO_FROM", ""),
    ]);
    let sms = otp(&db, w.clinic_b, "sms", "+14155550123", "482913").await;
    let (_, invite_message) = invite(&db, &w, "Ivy", "Invitee", "ivy@test.example").await;

    let report = deliver(&db, &sender).await;
    assert_eq!((report.sent, report.failed), (2, 0), "{report:?}");
    assert_eq!(providers.requests(), 0);
    for id in [sms, invite_message] {
        let r = row(&db, id).await;
        assert_eq!(r.status, "sent");
        assert!(r.sent);
    }
}

#[tokio::test]
async fn a_run_works_through_several_batches() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    let total = message_sender::BATCH_SIZE + 5;
    for i in 0..total {
        otp(
            &db,
            w.clinic_a,
            "email",
            &format!("p{i}@test.example"),
            "482913",
        )
        .await;
    }
    let report = deliver(&db, &providers.sender(&[])).await;
    assert_eq!((report.sent, report.batches), (total as u64, 2));
    assert_eq!(providers.emails().len(), total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_deliver_each_message_exactly_once() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let providers = Providers::start().await;
    set_sms_number(&db, w.clinic_a, CLINIC_NUMBER).await;
    providers.delay(Duration::from_millis(20));
    let total = 60;
    let mut ids = Vec::new();
    for i in 0..total {
        let phone = format!("+1415555{:04}", 1000 + i);
        ids.push(
            otp(
                &db,
                w.clinic_a,
                "sms",
                &phone,
                &format!("{:06}", 100_000 + i),
            )
            .await,
        );
    }
    let sender = providers.sender(&[]);
    let (one, two) = tokio::join!(
        message_sender::deliver(&db.ctx, &sender, "run-1"),
        message_sender::deliver(&db.ctx, &sender, "run-2"),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.sent + two.sent, total as u64, "{one:?} {two:?}");
    assert!(one.sent > 0 && two.sent > 0, "both ran: {one:?} {two:?}");
    assert_eq!(one.retried + two.retried + one.failed + two.failed, 0);

    let sms = providers.sms();
    assert_eq!(sms.len(), total);
    let recipients: HashSet<&str> = sms.iter().map(|s| s.to.as_str()).collect();
    assert_eq!(recipients.len(), total, "nobody got two texts");
    let codes: HashSet<&str> = sms
        .iter()
        .filter_map(|s| s.body.split("code is ").nth(1))
        .map(|rest| &rest[..6])
        .collect();
    assert_eq!(codes.len(), total);
    let attempts = db
        .admin
        .query_one(
            "select count(*) filter (where status = 'sent' and attempts = 1) from app.outbox
             where id = any($1)",
            &[&ids],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(attempts, total as i64, "each claimed once");
}
