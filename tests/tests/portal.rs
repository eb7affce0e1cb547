//! The patient portal, outside in: practice resolution, one-time codes and their limits,
//! sessions, the patient's own data, and who may call what. Codes are read the way
//! message-sender reads them: sealed in the outbox.

use http::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_tests::{
    as_user,
    load::Gateway,
    portal::{
        age_sends, form, fresh_code, host, invite, queued_codes, request_code, twilio_signature,
        verify, Call, APPOINTMENTS, CONSENT, LOGOUT, ME, PREFERENCES, REFRESH, TWILIO,
    },
    Reply, TestDb, World, TWILIO_WEBHOOK_URL,
};

const PIA: &str = "pia@test.example";
const PIA_PHONE: &str = "+14155550123";
const ALPHA_NUMBER: &str = "+14155559999";

fn pia() -> Value {
    json!({ "email": PIA })
}

/// The world, with Pia's phone and alpha's SMS number.
async fn world(db: &TestDb) -> World {
    let w = World::create(db).await;
    db.admin
        .batch_execute(&format!(
            "update app.patients set phone = '{PIA_PHONE}' where id = '{}';
             update app.clinics set sms_number = '{ALPHA_NUMBER}' where id = '{}';",
            w.patient_a, w.clinic_a
        ))
        .await
        .unwrap();
    w
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.count(sql, &[]).await
}

async fn audit(db: &TestDb, action: &str, outcome: &str) -> i64 {
    db.count(
        "select count(*) from audit.events where action = $1 and outcome = $2",
        &[&action, &outcome],
    )
    .await
}

/// Signs Pia in at alpha (with a fresh code, whatever was sent before) and returns the reply.
async fn sign_in(db: &TestDb) -> Reply {
    age_sends(db, 3600).await;
    let code = fresh_code(db, "alpha", pia(), PIA).await;
    let signed_in = verify(db, "alpha", pia(), &code).await;
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    signed_in
}

fn cookies(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn known_and_unknown_identifiers_get_byte_identical_answers() {
    let db = TestDb::new().await;
    world(&db).await;
    let known = request_code(&db, "alpha", pia()).await;
    let unknown = request_code(&db, "alpha", json!({"email": "nobody@test.example"})).await;
    let unknown_phone = request_code(&db, "alpha", json!({"phone": "+14155550000"})).await;
    assert_eq!(known.status, 202);
    for other in [&unknown, &unknown_phone] {
        assert_eq!(other.status, known.status);
        assert_eq!(other.text, known.text);
        assert_eq!(
            other.headers.get("content-type"),
            known.headers.get("content-type")
        );
    }
    // Only the patient's code was queued; the unknown addresses left no PII behind.
    assert_eq!(queued_codes(&db, PIA).await.len(), 1);
    assert_eq!(count(&db, "select count(*) from app.outbox").await, 1);
    assert_eq!(
        count(
            &db,
            "select count(*) from app.portal_sign_in where patient_id is null"
        )
        .await,
        2
    );
    // A known address that is rate-limited answers the same too.
    let throttled = request_code(&db, "alpha", pia()).await;
    assert_eq!(throttled.text, known.text);
    assert_eq!(queued_codes(&db, PIA).await.len(), 1);
}

#[tokio::test]
async fn a_code_signs_in_once_and_the_session_reads_only_its_patient() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let code = fresh_code(&db, "alpha", pia(), PIA).await;
    assert_eq!(code.len(), 6);
    let stored: Vec<u8> = db
        .admin
        .query_one(
            "select code_hash from app.portal_sign_in where patient_id = $1",
            &[&w.patient_a],
        )
        .await
        .unwrap()
        .get(0);
    assert_ne!(stored, code.as_bytes(), "only the HMAC is stored");

    let signed_in = verify(&db, "alpha", pia(), &code).await;
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    assert_eq!(signed_in.body["patientId"], json!(w.patient_a));
    assert_eq!(signed_in.body["expiresIn"], 900);
    let set = cookies(&signed_in);
    assert_eq!(set.len(), 2, "{set:?}");
    for cookie in &set {
        assert!(
            cookie.contains("HttpOnly; Secure; SameSite=Lax"),
            "{cookie}"
        );
    }
    assert_eq!(audit(&db, "portal.sign_in", "success").await, 1);

    // The code is used up.
    verify(&db, "alpha", pia(), &code)
        .await
        .assert_problem(401, "invalid_code");

    let token = signed_in.body["accessToken"].as_str().unwrap();
    let me = Call::new(Method::GET, ME, host("alpha"))
        .bearer(token)
        .send(&db)
        .await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["patient"]["id"], json!(w.patient_a));
    assert_eq!(me.body["clinic"]["slug"], "alpha");
    // The access cookie works as well as the header.
    let access_cookie = set[0].split(';').next().unwrap().to_owned();
    let by_cookie = Call::new(Method::GET, ME, host("alpha"))
        .header("cookie", access_cookie)
        .send(&db)
        .await;
    assert_eq!(by_cookie.status, 200, "{by_cookie:?}");
    // At another clinic's portal the session is not valid.
    Call::new(Method::GET, ME, host("beta"))
        .bearer(token)
        .send(&db)
        .await
        .assert_problem(401, "invalid_token");
}

#[tokio::test]
async fn five_wrong_tries_kill_the_code_and_expired_or_foreign_codes_fail() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let code = fresh_code(&db, "alpha", pia(), PIA).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        verify(&db, "alpha", pia(), wrong)
            .await
            .assert_problem(401, "invalid_code");
    }
    verify(&db, "alpha", pia(), &code)
        .await
        .assert_problem(401, "invalid_code");
    assert_eq!(audit(&db, "portal.sign_in", "failure").await, 6);

    // Expired.
    age_sends(&db, 3600).await;
    let code = fresh_code(&db, "alpha", pia(), PIA).await;
    db.admin
        .execute(
            "update app.portal_sign_in set code_expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    verify(&db, "alpha", pia(), &code)
        .await
        .assert_problem(401, "invalid_code");

    // A code from clinic A does not work at clinic B, even for the same address there.
    db.admin
        .execute(
            "insert into app.patients (org_id, first_name, last_name, email)
             values ($1, 'Pia', 'Elsewhere', $2)",
            &[&w.clinic_b, &PIA],
        )
        .await
        .unwrap();
    age_sends(&db, 3600).await;
    let code = fresh_code(&db, "alpha", pia(), PIA).await;
    verify(&db, "beta", pia(), &code)
        .await
        .assert_problem(401, "invalid_code");
    // …and still works where it was issued.
    assert_eq!(verify(&db, "alpha", pia(), &code).await.status, 200);
}

#[tokio::test]
async fn ten_failures_lock_the_identifier_out_for_fifteen_minutes_and_resends_do_not_reset_them() {
    let db = TestDb::new().await;
    world(&db).await;
    let code = fresh_code(&db, "alpha", pia(), PIA).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        verify(&db, "alpha", pia(), wrong).await;
    }
    // A new code does not reset the count.
    age_sends(&db, 120).await;
    let code = fresh_code(&db, "alpha", pia(), PIA).await;
    for _ in 0..4 {
        verify(&db, "alpha", pia(), wrong)
            .await
            .assert_problem(401, "invalid_code");
    }
    verify(&db, "alpha", pia(), wrong).await; // the tenth
    assert_eq!(audit(&db, "portal.lock_out", "denied").await, 1);
    let locked = verify(&db, "alpha", pia(), &code).await;
    locked.assert_problem(429, "locked_out");
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((14 * 60..=15 * 60).contains(&retry), "{retry}");
    // Locked out of requesting codes too (the answer does not say so).
    age_sends(&db, 3600).await;
    assert_eq!(request_code(&db, "alpha", pia()).await.status, 202);
    assert_eq!(queued_codes(&db, PIA).await.len(), 2);

    // Fifteen minutes later it works again.
    db.admin
        .execute(
            "update app.portal_sign_in set locked_until = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let code = fresh_code(&db, "alpha", pia(), PIA).await;
    assert_eq!(verify(&db, "alpha", pia(), &code).await.status, 200);

    // An unknown address locks out the same way: nothing tells the two apart.
    let nobody = json!({"email": "nobody@test.example"});
    for _ in 0..10 {
        verify(&db, "alpha", nobody.clone(), "123456")
            .await
            .assert_problem(401, "invalid_code");
    }
    verify(&db, "alpha", nobody, "123456")
        .await
        .assert_problem(429, "locked_out");
}

#[tokio::test]
async fn sends_are_limited_per_identifier_and_requests_per_source_address() {
    let db = TestDb::new().await;
    world(&db).await;
    request_code(&db, "alpha", pia()).await;
    // Not sooner than 60 s…
    request_code(&db, "alpha", pia()).await;
    assert_eq!(queued_codes(&db, PIA).await.len(), 1);
    // …and at most 5 an hour.
    for sent in 2..=5 {
        age_sends(&db, 61).await;
        request_code(&db, "alpha", pia()).await;
        assert_eq!(queued_codes(&db, PIA).await.len(), sent);
    }
    age_sends(&db, 61).await;
    request_code(&db, "alpha", pia()).await;
    assert_eq!(queued_codes(&db, PIA).await.len(), 5);
    // The hour passes: a sixth.
    age_sends(&db, 3600).await;
    request_code(&db, "alpha", pia()).await;
    assert_eq!(queued_codes(&db, PIA).await.len(), 6);
    // A new code replaces the old one: only the newest works.
    let codes = queued_codes(&db, PIA).await;
    let (older, newest) = (&codes[4], &codes[5]);
    if older != newest {
        verify(&db, "alpha", pia(), older)
            .await
            .assert_problem(401, "invalid_code");
    }
    assert_eq!(verify(&db, "alpha", pia(), newest).await.status, 200);

    // 30 code requests an hour per source address, whatever the address asked about.
    let from_one_address = |i: usize| {
        Call::new(Method::POST, wardline_tests::portal::OTP, host("alpha"))
            .json(json!({"email": format!("n{i}@test.example")}))
            .from_ip("192.0.2.50")
    };
    for i in 0..30 {
        let reply = from_one_address(i).send(&db).await;
        assert_eq!(reply.status, 202, "{i}: {reply:?}");
    }
    let limited = from_one_address(30).send(&db).await;
    limited.assert_problem(429, "rate_limited");
    assert!(limited.headers.contains_key("retry-after"));
    let elsewhere = Call::new(Method::POST, wardline_tests::portal::OTP, host("alpha"))
        .json(json!({"email": "one-more@test.example"}))
        .from_ip("203.0.113.9")
        .send(&db)
        .await;
    assert_eq!(elsewhere.status, 202);
    db.admin
        .execute(
            "update app.portal_rate set window_start = window_start - interval '1 hour'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(from_one_address(31).send(&db).await.status, 202);
}

#[tokio::test]
async fn unknown_hosts_are_404_and_invites_name_their_clinic() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let unknown = Call::new(Method::POST, wardline_tests::portal::OTP, "nowhere.example")
        .json(pia())
        .send(&db)
        .await;
    unknown.assert_problem(404, "unknown_portal");
    Call::new(
        Method::POST,
        wardline_tests::portal::OTP,
        host("no-such-clinic"),
    )
    .json(pia())
    .send(&db)
    .await
    .assert_problem(404, "unknown_portal");

    // A clinic's own portal domain.
    db.admin
        .execute(
            "update app.clinics set portal_domain = 'portal.alpha-clinic.example' where id = $1",
            &[&w.clinic_a],
        )
        .await
        .unwrap();
    let own = Call::new(
        Method::POST,
        wardline_tests::portal::OTP,
        "Portal.Alpha-Clinic.example:443",
    )
    .json(pia())
    .send(&db)
    .await;
    assert_eq!(own.status, 202, "{own:?}");
    assert_eq!(queued_codes(&db, PIA).await.len(), 1);

    // An invite names its clinic where the host names none, and is used up by signing in.
    let token = invite(&db, w.clinic_a, w.patient_a, w.admin_a, "1 day").await;
    age_sends(&db, 3600).await;
    let by_invite = Call::new(
        Method::POST,
        wardline_tests::portal::OTP,
        "api.wardline.test",
    )
    .json(json!({"email": PIA, "inviteToken": token}))
    .send(&db)
    .await;
    assert_eq!(by_invite.status, 202, "{by_invite:?}");
    let code = queued_codes(&db, PIA).await.pop().unwrap();
    let signed_in = Call::new(
        Method::POST,
        wardline_tests::portal::VERIFY,
        "api.wardline.test",
    )
    .json(json!({"email": PIA, "code": code, "inviteToken": token}))
    .send(&db)
    .await;
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    assert_eq!(
        count(
            &db,
            "select count(*) from app.patient_invites where used_at is not null"
        )
        .await,
        1
    );
    // A used invite names nothing any more; at another clinic's host it never did.
    Call::new(
        Method::POST,
        wardline_tests::portal::OTP,
        "api.wardline.test",
    )
    .json(json!({"email": PIA, "inviteToken": token}))
    .send(&db)
    .await
    .assert_problem(400, "invalid_invite");
}

/// What a sign-in can change, as the superuser: queued messages, sign-in state, refresh
/// tokens, used invites, audit events.
async fn portal_state(db: &TestDb) -> Vec<i64> {
    let row = db
        .admin
        .query_one(
            "select (select count(*) from app.outbox), (select count(*) from app.portal_sign_in),
                    (select count(*) from app.portal_refresh_tokens),
                    (select count(*) from app.patient_invites where used_at is not null),
                    (select count(*) from audit.events)",
            &[],
        )
        .await
        .unwrap();
    (0..5).map(|i| row.get(i)).collect()
}

/// An expired invite (expiry now or past) neither names a clinic nor signs in, even with a
/// good code; a live invite of A at B's portal host is refused at both steps; neither changes
/// anything (no message, no sign-in state, no session, the invite unused, no audit event).
#[tokio::test]
async fn expired_invites_and_another_clinics_invites_sign_no_one_in_and_change_nothing() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let neutral = "api.wardline.test";
    let invite_call = |path, host: String, token: &str, code: Option<&str>| {
        let mut body = json!({"email": PIA, "inviteToken": token});
        if let Some(code) = code {
            body["code"] = json!(code);
        }
        Call::new(Method::POST, path, host).json(body)
    };
    let expired = invite(&db, w.clinic_a, w.patient_a, w.admin_a, "0 seconds").await;
    let long_expired = invite(&db, w.clinic_a, w.patient_a, w.admin_a, "-1 hour").await;
    let of_a = invite(&db, w.clinic_a, w.patient_a, w.admin_a, "1 day").await;
    // A good code of alpha, asked for at alpha's host.
    let code = fresh_code(&db, "alpha", pia(), PIA).await;
    let before = portal_state(&db).await;

    for token in [&expired, &long_expired] {
        for (path, code) in [
            (wardline_tests::portal::OTP, None),
            (wardline_tests::portal::VERIFY, Some(code.as_str())),
        ] {
            let reply = invite_call(path, neutral.into(), token, code)
                .send(&db)
                .await;
            reply.assert_problem(400, "invalid_invite");
            assert_eq!(reply.body["errors"][0]["field"], "inviteToken", "{reply:?}");
            // At the invite's own clinic's host too.
            invite_call(path, host("alpha"), token, code)
                .send(&db)
                .await
                .assert_problem(400, "invalid_invite");
        }
    }
    for (path, code) in [
        (wardline_tests::portal::OTP, None),
        (wardline_tests::portal::VERIFY, Some(code.as_str())),
    ] {
        invite_call(path, host("beta"), &of_a, code)
            .send(&db)
            .await
            .assert_problem(400, "invalid_invite");
    }
    assert_eq!(portal_state(&db).await, before);

    // The same code and the live invite at alpha's own host sign in and use the invite.
    let signed_in = invite_call(
        wardline_tests::portal::VERIFY,
        host("alpha"),
        &of_a,
        Some(&code),
    )
    .send(&db)
    .await;
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    assert_eq!(
        count(
            &db,
            "select count(*) from app.patient_invites where used_at is not null"
        )
        .await,
        1
    );
}

/// A refresh token past its expiry (its row aged by 30 days) is 401 `invalid_refresh_token`
/// and rotates nothing.
#[tokio::test]
async fn an_expired_refresh_token_is_refused() {
    let db = TestDb::new().await;
    world(&db).await;
    let session = sign_in(&db).await;
    let token = session.body["refreshToken"].as_str().unwrap();
    let refresh =
        || Call::new(Method::POST, REFRESH, host("alpha")).json(json!({"refreshToken": token}));
    // Aged to one second short of its expiry, it still works, once.
    db.admin
        .batch_execute(
            "update app.portal_refresh_tokens
             set created_at = created_at - interval '30 days' + interval '1 second',
                 expires_at = expires_at - interval '30 days' + interval '1 second'",
        )
        .await
        .unwrap();
    let live = refresh().send(&db).await;
    assert_eq!(live.status, 200, "{live:?}");
    let newer = live.body["refreshToken"].as_str().unwrap();
    db.admin
        .batch_execute(
            "update app.portal_refresh_tokens
             set created_at = created_at - interval '30 days',
                 expires_at = expires_at - interval '30 days'
             where rotated_at is null",
        )
        .await
        .unwrap();
    let before = portal_state(&db).await;
    Call::new(Method::POST, REFRESH, host("alpha"))
        .json(json!({"refreshToken": newer}))
        .send(&db)
        .await
        .assert_problem(401, "invalid_refresh_token");
    assert_eq!(portal_state(&db).await, before);
    assert_eq!(
        count(
            &db,
            "select count(*) from app.portal_refresh_tokens where rotated_at is null"
        )
        .await,
        1
    );
}

/// A patient deleted (`deleted_at` set) after signing in: their unexpired access token is 403
/// `not_a_member` on every portal route (the database no longer recognises them), and their
/// refresh token 401 `invalid_refresh_token`.
#[tokio::test]
async fn a_deleted_patients_tokens_are_refused() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let session = sign_in(&db).await;
    let access = session.body["accessToken"].as_str().unwrap();
    let me = || Call::new(Method::GET, ME, host("alpha")).bearer(access);
    assert_eq!(me().send(&db).await.status, 200);
    db.admin
        .execute(
            "update app.patients set deleted_at = now() where id = $1",
            &[&w.patient_a],
        )
        .await
        .unwrap();
    me().send(&db).await.assert_problem(403, "not_a_member");
    for path in [PREFERENCES, APPOINTMENTS] {
        Call::new(Method::GET, path, host("alpha"))
            .bearer(access)
            .send(&db)
            .await
            .assert_problem(403, "not_a_member");
    }
    let before = portal_state(&db).await;
    Call::new(Method::PUT, CONSENT, host("alpha"))
        .bearer(access)
        .json(json!({"type": "terms", "version": "v2", "granted": true}))
        .send(&db)
        .await
        .assert_problem(403, "not_a_member");
    Call::new(Method::POST, REFRESH, host("alpha"))
        .json(json!({"refreshToken": session.body["refreshToken"]}))
        .send(&db)
        .await
        .assert_problem(401, "invalid_refresh_token");
    assert_eq!(portal_state(&db).await, before);
}

#[tokio::test]
async fn refresh_tokens_rotate_reuse_revokes_the_family_and_logout_revokes() {
    let db = TestDb::new().await;
    world(&db).await;
    let first = sign_in(&db).await;
    let r1 = first.body["refreshToken"].as_str().unwrap().to_owned();
    let refresh = |token: &str| {
        Call::new(Method::POST, REFRESH, host("alpha")).json(json!({"refreshToken": token}))
    };
    let second = refresh(&r1).send(&db).await;
    assert_eq!(second.status, 200, "{second:?}");
    let r2 = second.body["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    assert_eq!(cookies(&second).len(), 2);
    // The refresh cookie works as well as the body.
    let r2_cookie = format!("wardline_portal_refresh={r2}");
    let third = Call::new(Method::POST, REFRESH, host("alpha"))
        .header("cookie", r2_cookie)
        .send(&db)
        .await;
    assert_eq!(third.status, 200, "{third:?}");
    let r3 = third.body["refreshToken"].as_str().unwrap().to_owned();

    // Reusing a rotated token revokes the whole family, the newest token included.
    refresh(&r1)
        .send(&db)
        .await
        .assert_problem(401, "invalid_refresh_token");
    assert_eq!(audit(&db, "portal.refresh_reuse", "denied").await, 1);
    refresh(&r3)
        .send(&db)
        .await
        .assert_problem(401, "invalid_refresh_token");

    // Logout revokes its session and clears the cookies.
    let other = sign_in(&db).await;
    let token = other.body["refreshToken"].as_str().unwrap();
    let out = Call::new(Method::POST, LOGOUT, host("alpha"))
        .json(json!({"refreshToken": token}))
        .send(&db)
        .await;
    assert_eq!(out.status, 200, "{out:?}");
    assert!(cookies(&out).iter().all(|c| c.contains("Max-Age=0")));
    refresh(token)
        .send(&db)
        .await
        .assert_problem(401, "invalid_refresh_token");
    assert_eq!(audit(&db, "portal.sign_out", "success").await, 1);
    // A refresh token of alpha is nothing at beta.
    let third = sign_in(&db).await;
    Call::new(Method::POST, REFRESH, host("beta"))
        .json(json!({"refreshToken": third.body["refreshToken"]}))
        .send(&db)
        .await
        .assert_problem(401, "invalid_refresh_token");
}

#[tokio::test]
async fn consent_is_an_audited_history_and_preferences_are_audited_changes() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let session = sign_in(&db).await;
    let token = session.body["accessToken"].as_str().unwrap();
    let consent = |granted: bool| {
        Call::new(Method::PUT, CONSENT, host("alpha"))
            .bearer(token)
            .header("user-agent", "PortalApp/1.0")
            .json(json!({"type": "terms", "version": "2026-01", "granted": granted}))
    };
    let given = consent(true).send(&db).await;
    assert_eq!(given.status, 200, "{given:?}");
    assert_eq!(given.body["consents"][0]["granted"], true);
    let withdrawn = consent(false).send(&db).await;
    assert_eq!(withdrawn.body["consents"][0]["granted"], false);
    let history = db
        .admin
        .query(
            "select granted, source_ip, user_agent from app.portal_consents
             where patient_id = $1 order by id",
            &[&w.patient_a],
        )
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].get::<_, String>(1), "198.51.100.7");
    assert_eq!(history[0].get::<_, String>(2), "PortalApp/1.0");
    assert_eq!(audit(&db, "portal.consent", "success").await, 2);
    // History is append-only, even for the owner.
    let changed = db
        .admin
        .execute("update app.portal_consents set granted = true", &[])
        .await;
    assert!(changed.is_err());
    Call::new(Method::PUT, CONSENT, host("alpha"))
        .bearer(token)
        .json(json!({"type": "Terms of use", "version": "1", "granted": true}))
        .send(&db)
        .await
        .assert_problem(400, "invalid_input");

    let read = Call::new(Method::GET, PREFERENCES, host("alpha"))
        .bearer(token)
        .send(&db)
        .await;
    assert_eq!(read.body["sms"], true);
    assert_eq!(read.body["smsOptedOut"], false);
    let put = |body: Value| {
        Call::new(Method::PUT, PREFERENCES, host("alpha"))
            .bearer(token)
            .json(body)
    };
    let saved = put(json!({"sms": false, "email": true, "portal": true}))
        .send(&db)
        .await;
    assert_eq!(saved.status, 200, "{saved:?}");
    assert_eq!(saved.body["sms"], false);
    put(json!({"sms": false, "email": true, "portal": true}))
        .send(&db)
        .await;
    assert_eq!(audit(&db, "portal.preferences.update", "success").await, 1);
    let missing = put(json!({"sms": false})).send(&db).await;
    missing.assert_problem(400, "invalid_input");
    assert_eq!(missing.body["errors"][0]["field"], "email");
}

#[tokio::test]
async fn patients_see_only_themselves_in_sql() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let other = db.patient(w.clinic_a).await;
    db.admin
        .batch_execute(&format!(
            "insert into app.portal_consents (org_id, patient_id, consent_type, version, granted)
             values ('{a}', '{other}', 'terms', 'v1', true), ('{a}', '{me}', 'terms', 'v1', true);
             insert into app.patient_preferences (patient_id, org_id, sms, email, portal)
             values ('{other}', '{a}', true, true, true), ('{me}', '{a}', false, true, true);",
            a = w.clinic_a,
            me = w.patient_a,
        ))
        .await
        .unwrap();
    let mut user = db.authenticator().await;
    let me = w.patient_of_a();
    for sql in [
        "select id from app.patients",
        "select patient_id from app.portal_consents",
        "select patient_id from app.patient_preferences",
    ] {
        assert_eq!(
            wardline_tests::ids_as(&mut user, &me, sql).await,
            vec![w.patient_a],
            "{sql}"
        );
    }
    let written = as_user(
        &mut user,
        &me,
        "insert into app.portal_consents (org_id, patient_id, consent_type, version, granted)
         values ($1, $2, 'terms', 'v1', true)",
        &[&w.clinic_a, &other],
    )
    .await;
    assert!(
        matches!(&written, Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)),
        "{written:?}"
    );
    let changed = as_user(
        &mut user,
        &me,
        "update app.patient_preferences set sms = false where patient_id = $1 returning 1",
        &[&other],
    )
    .await
    .unwrap();
    assert!(changed.is_empty());
}

/// Every route of every function but the portal's, with its parameters filled in.
fn staff_routes() -> Vec<(&'static wardline_shared::http::Function, Method, String)> {
    xtask::FUNCTIONS
        .iter()
        .filter(|f| !matches!(f.name, "portal-otp" | "portal"))
        .flat_map(|f| {
            f.routes.iter().map(move |r| {
                let path = r
                    .path
                    .split('/')
                    .map(|s| {
                        if s.starts_with('{') {
                            Uuid::new_v4().to_string()
                        } else {
                            s.to_owned()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                (*f, r.method.clone(), path)
            })
        })
        .collect()
}

#[tokio::test]
async fn patient_tokens_open_no_staff_route_and_staff_tokens_no_portal_route() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let session = sign_in(&db).await;
    let patient = session.body["accessToken"].as_str().unwrap();
    for (function, method, path) in staff_routes() {
        let reply = wardline_tests::send(
            &db.ctx,
            function,
            method.clone(),
            &path,
            Some(patient),
            &[("idempotency-key", "k1")],
            Some("{}"),
        )
        .await;
        assert!(
            [400, 401, 403].contains(&reply.status.as_u16()),
            "{method} {path}: {reply:?}"
        );
        // The same route with an empty body and no query: never a success either.
        let bare = wardline_tests::send(
            &db.ctx,
            function,
            method.clone(),
            &path,
            Some(patient),
            &[],
            None,
        )
        .await;
        assert!(
            [400, 401, 403].contains(&bare.status.as_u16()),
            "{method} {path}: {bare:?}"
        );
    }
    // In SQL too, whatever a handler parses first: every api entry point that is not the
    // portal's refuses a patient before it reads its input — except the schedule, which shows
    // a patient their own booked sessions by design (tests/tests/access.rs).
    let ops: Vec<String> = db
        .admin
        .query(
            "select p.proname::text from pg_proc p
             where p.pronamespace = 'api'::regnamespace
               and pg_get_function_identity_arguments(p.oid) = 'claims jsonb, input jsonb'
               and p.proname !~ '^(portal_|twilio_)' and p.proname <> 'schedule'
             order by 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(ops.len() >= 10, "{ops:?}");
    let user = db.authenticator().await;
    let claims = wardline_tests::claims_json(&w.patient_of_a());
    for op in &ops {
        let refused = user
            .query_one(&format!("select api.{op}($1, '{{}}'::jsonb)"), &[&claims])
            .await
            .expect_err(op);
        let status = refused
            .as_db_error()
            .and_then(|e| wardline_shared::codes::status_of(e.message()));
        assert_eq!(
            status,
            Some(http::StatusCode::FORBIDDEN),
            "api.{op}: {refused:?}"
        );
    }

    let staff = db.token(&w.admin_of_a());
    for (method, path, body) in [
        (Method::GET, ME, None),
        (Method::GET, PREFERENCES, None),
        (
            Method::PUT,
            PREFERENCES,
            Some(json!({"sms": true, "email": true, "portal": true})),
        ),
        (
            Method::PUT,
            CONSENT,
            Some(json!({"type": "terms", "version": "1", "granted": true})),
        ),
    ] {
        let mut call = Call::new(method.clone(), path, host("alpha")).bearer(&staff);
        if let Some(body) = body {
            call = call.json(body);
        }
        call.send(&db).await.assert_problem(403, "patients_only");
    }
    // A "patient" token from the identity provider is no patient token.
    let forged = wardline_tests::keys::claims_for(&w.patient_of_a(), 600);
    let forged = db.sign(&forged);
    Call::new(Method::GET, ME, host("alpha"))
        .bearer(&forged)
        .send(&db)
        .await
        .assert_problem(401, "invalid_token");
}

/// Through the local gateway, as deployed: API Gateway's JWT authorizer refuses a patient
/// token (or none) on a staff route before the function runs, lets staff tokens through and
/// stays off the portal's routes; the client's own address reaches the function as
/// `sourceIp`.
#[tokio::test]
async fn the_gateway_authorizes_staff_routes_first_and_passes_the_source_address() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let ctx = wardline_shared::Context::new(db.config(|_| {})).unwrap();
    let gateway = Gateway::serve(ctx, db.jwks()).await.unwrap();
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .unwrap()
    };
    let schedule = format!(
        "{}/schedule?from=2027-03-01T00:00:00Z&to=2027-03-08T00:00:00Z",
        gateway.base
    );
    let patient = db.token(&w.patient_of_a());
    for token in [Some(patient.as_str()), None, Some("not.a.jwt")] {
        let mut request = from([127, 0, 0, 1]).get(&schedule);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), 401, "{token:?}: {refused:?}");
        // Every answer of a function carries its request id; the authorizer's does not.
        assert!(
            refused.headers().get("x-request-id").is_none(),
            "{refused:?}"
        );
        assert_eq!(
            refused.headers().get("www-authenticate").is_some(),
            token.is_some(),
            "{refused:?}"
        );
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body, json!({"message": "Unauthorized"}));
    }
    let staff = from([127, 0, 0, 1])
        .get(&schedule)
        .bearer_auth(db.token(&w.therapist_of_a()))
        .send()
        .await
        .unwrap();
    assert_eq!(staff.status(), 200, "{staff:?}");

    let consent = from([127, 0, 0, 2])
        .put(format!("{}{CONSENT}", gateway.base))
        .header("host", host("alpha"))
        .bearer_auth(&patient)
        .json(&json!({"type": "terms", "version": "2026-01", "granted": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), 200, "{consent:?}");
    let recorded: String = db
        .admin
        .query_one(
            "select source_ip from app.portal_consents where patient_id = $1",
            &[&w.patient_a],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, "127.0.0.2");
}

/// A webhook call as Twilio makes it, with `signature` (if any) on the header.
fn twilio_call<'a>(params: &[(&str, &str)], signature: Option<String>) -> Call<'a> {
    let mut call = Call::new(Method::POST, TWILIO, "api.wardline.test")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(signature) = signature {
        call = call.header("x-twilio-signature", signature);
    }
    call.body = Some(form(params));
    call
}

/// A webhook call signed as Twilio signs it.
fn signed<'a>(params: &[(&str, &str)]) -> Call<'a> {
    twilio_call(params, Some(twilio_signature(TWILIO_WEBHOOK_URL, params)))
}

fn text(
    sid: &'static str,
    from: &'static str,
    body: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("MessageSid", sid),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", from),
        ("To", ALPHA_NUMBER),
        ("Body", body),
    ]
}

#[tokio::test]
async fn twilio_webhooks_are_signed_idempotent_and_stop_blocks_sms_codes() {
    let db = TestDb::new().await;
    world(&db).await;
    let stop = text("SM00000000000000000000000000000001", PIA_PHONE, " stop ");

    // Forged, missing and stale signatures change nothing.
    let forged = twilio_signature("https://evil.example/api/webhooks/twilio", &stop);
    let start = text("SM00000000000000000000000000000001", PIA_PHONE, "START");
    for call in [
        twilio_call(&stop, Some(forged)),
        twilio_call(&stop, None),
        twilio_call(&start, Some(twilio_signature(TWILIO_WEBHOOK_URL, &stop))),
    ] {
        call.send(&db)
            .await
            .assert_problem(403, "invalid_signature");
    }
    assert_eq!(count(&db, "select count(*) from app.inbound_sms").await, 0);
    assert_eq!(count(&db, "select count(*) from app.sms_opt_outs").await, 0);
    // A signed call with a malformed id is a 400 naming it, not a 500.
    let odd = text("SM-not-an-id", PIA_PHONE, "STOP");
    let reply = signed(&odd).send(&db).await;
    reply.assert_problem(400, "invalid_input");
    assert_eq!(reply.body["errors"][0]["field"], "MessageSid");

    // STOP, delivered twice, is applied once.
    for _ in 0..2 {
        let reply = signed(&stop).send(&db).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.headers["content-type"], "text/xml");
        assert!(
            reply.text.contains("<Response></Response>"),
            "{}",
            reply.text
        );
    }
    assert_eq!(count(&db, "select count(*) from app.inbound_sms").await, 1);
    assert_eq!(audit(&db, "sms.opt_out", "success").await, 1);

    // No SMS code for an opted-out number, though the answer is the same.
    let asked = request_code(&db, "alpha", json!({"phone": PIA_PHONE})).await;
    assert_eq!(asked.status, 202);
    assert_eq!(
        count(&db, "select count(*) from app.outbox where channel = 'sms'").await,
        0
    );
    // E-mail still works.
    request_code(&db, "alpha", pia()).await;
    assert_eq!(queued_codes(&db, PIA).await.len(), 1);

    // HELP gets the clinic's reply as TwiML; START opts back in.
    let help = text("SM00000000000000000000000000000002", PIA_PHONE, "help");
    let reply = signed(&help).send(&db).await;
    assert!(
        reply
            .text
            .contains("<Message>Alpha Clinic: reply STOP to stop texts"),
        "{}",
        reply.text
    );
    let start = text("SM00000000000000000000000000000003", PIA_PHONE, "Unstop");
    assert_eq!(signed(&start).send(&db).await.status, 200);
    age_sends(&db, 3600).await;
    request_code(&db, "alpha", json!({"phone": PIA_PHONE})).await;
    assert_eq!(queued_codes(&db, PIA_PHONE).await.len(), 1);
    assert_eq!(audit(&db, "sms.opt_in", "success").await, 1);
}

/// A patient's own appointments through the local gateway, where the route has no staff
/// authorizer: their booked sessions only (no hold, no one else's, nothing of clinic B, no
/// notes), upcoming soonest first and past latest first, a page at a time by cursor.
#[tokio::test]
async fn a_patient_lists_their_own_appointments_upcoming_and_past_in_pages() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let other = Uuid::new_v4();
    db.admin
        .execute(
            "insert into app.patients (id, org_id, first_name, last_name) values ($1, $2, 'Oli', 'Other')",
            &[&other, &w.clinic_a],
        )
        .await
        .unwrap();
    // (patient, clinic, clinician, status, hours from now): the first four are Pia's and shown.
    let rows = [
        (w.patient_a, w.clinic_a, w.therapist_a, "scheduled", 48),
        (w.patient_a, w.clinic_a, w.both, "cancelled", 24),
        (w.patient_a, w.clinic_a, w.therapist_a, "scheduled", 72),
        (w.patient_a, w.clinic_a, w.therapist_a, "completed", -24),
        (w.patient_a, w.clinic_a, w.therapist_a, "held", 96),
        (other, w.clinic_a, w.therapist_a, "scheduled", 30),
        (w.patient_b, w.clinic_b, w.therapist_b, "scheduled", 36),
    ];
    let mut ids = Vec::new();
    for (patient, clinic, clinician, status, hours) in rows {
        let id: Uuid = db
            .admin
            .query_one(
                "insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                   hold_key, hold_group, hold_expires_at, service_id, cancel_reason, created_by)
                 select $1::uuid, $2::uuid, $3::uuid, $4::text,
                        tstzrange(t, t + interval '50 minutes'),
                        case when $4 = 'held' then gen_random_uuid() end,
                        case when $4 = 'held' then gen_random_uuid() end,
                        case when $4 = 'held' then now() + interval '5 minutes' end,
                        case when $1 = $6 then $7::uuid end,
                        case when $4 = 'cancelled' then 'Unwell' end, $2
                 from (select date_trunc('hour', now()) + make_interval(hours => $5::int) as t) x
                 returning id",
                &[
                    &clinic,
                    &clinician,
                    &patient,
                    &status,
                    &hours,
                    &w.clinic_a,
                    &w.service_a,
                ],
            )
            .await
            .unwrap()
            .get(0);
        ids.push(id);
    }
    let ctx = wardline_shared::Context::new(db.config(|_| {})).unwrap();
    let gateway = Gateway::serve(ctx, db.jwks()).await.unwrap();
    let client = reqwest::Client::new();
    let patient = db.token(&w.patient_of_a());
    let get = |query: String, token: String| {
        let request = client
            .get(format!("{}{APPOINTMENTS}{query}", gateway.base))
            .header("host", host("alpha"))
            .bearer_auth(token);
        async move {
            let reply = request.send().await.unwrap();
            (
                reply.status().as_u16(),
                reply.json::<Value>().await.unwrap(),
            )
        }
    };
    let listed = |page: &Value| -> Vec<Value> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].clone())
            .collect()
    };

    let (status, first) = get("?limit=2".into(), patient.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(listed(&first), [json!(ids[1]), json!(ids[0])]);
    assert_eq!(first["items"][0]["status"], "cancelled");
    assert_eq!(first["items"][1]["clinician"]["lastName"], "Alpha");
    assert_eq!(first["items"][1]["service"]["name"], "Psychotherapy");
    assert!(
        first["items"][0].get("notes").is_none() && first["items"][0].get("sealedNotes").is_none()
    );
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    let (_, second) = get(format!("?limit=2&cursor={cursor}"), patient.clone()).await;
    assert_eq!(listed(&second), [json!(ids[2])]);
    assert_eq!(second["nextCursor"], Value::Null);

    let (_, past) = get("?when=past".into(), patient.clone()).await;
    assert_eq!(listed(&past), [json!(ids[3])]);

    for (query, field) in [
        ("?when=soon", "when"),
        ("?limit=0", "limit"),
        ("?cursor=x", "cursor"),
        ("?sort=asc", "sort"),
    ] {
        let (status, problem) = get(query.into(), patient.clone()).await;
        assert_eq!(
            (status, problem["errors"][0]["field"].as_str()),
            (400, Some(field)),
            "{query}: {problem}"
        );
    }
    // Another patient's session is no cursor of Pia's.
    let (status, _) = get(format!("?cursor={}", ids[5]), patient).await;
    assert_eq!(status, 400);
    // A staff token is not a portal session.
    let (status, problem) = get(String::new(), db.token(&w.therapist_of_a())).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("patients_only"))
    );
}
