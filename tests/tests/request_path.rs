//! The request path below the handlers: claims that never outlive their transaction on a
//! pooled connection, and the JWT table.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use http::Method;
use serde_json::{json, Value};
use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};
use tenant_doctors::FUNCTION;
use wardline_shared::{
    auth::{AppRole, Claims},
    db::Operation,
    Context,
};
use wardline_tests::{call_with, keys, serve_jwks, TestDb, World};

const PATH: &str = "/v2/doctor/patients/tenant-doctors";

fn claims(sub: uuid::Uuid, org: uuid::Uuid, role: AppRole, request_id: &str) -> Claims {
    Claims {
        sub,
        org_id: Some(org),
        app_role: role,
        patient_id: None,
        request_id: request_id.to_owned(),
        portal_issued: false,
    }
}

/// What a pooled connection carries between requests: claims setting, role, backend pid.
async fn leftover(ctx: &Context) -> (String, String, i32) {
    let client = ctx.db.client().await.unwrap();
    let row = client
        .query_one(
            "select coalesce(current_setting('request.jwt.claims', true), ''), current_user::text, pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

const TENANT_DOCTORS: Operation = wardline_shared::operation!(read "tenant_doctors");

#[tokio::test]
async fn claims_never_outlive_their_transaction_on_a_pooled_connection() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let ctx = Context::new(db.config(|c| c.db.pool_size = 1)).unwrap();
    let first = claims(w.therapist_a, w.clinic_a, AppRole::Therapist, "request-1");
    let second = claims(w.admin_b, w.clinic_b, AppRole::Admin, "request-2");
    let clean = |pid| (String::new(), "wardline_authenticator".to_owned(), pid);
    let (_, _, pid) = leftover(&ctx).await;

    // After a commit.
    ctx.db
        .call(TENANT_DOCTORS, &first, &json!({}))
        .await
        .unwrap();
    assert_eq!(leftover(&ctx).await, clean(pid));

    // After an error raised once the claims and role were set (the clinic's flag is off).
    db.admin
        .execute(
            "update app.clinics set feature_flags = '{}' where id = $1",
            &[&w.clinic_a],
        )
        .await
        .unwrap();
    let failed = ctx
        .db
        .call(TENANT_DOCTORS, &first, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        (failed.status.as_u16(), failed.code.as_str()),
        (403, "feature_disabled")
    );
    assert_eq!(leftover(&ctx).await, clean(pid));

    // After begin_request refused a stranger.
    let stranger = claims(w.therapist_a, w.clinic_b, AppRole::Therapist, "request-x");
    let refused = ctx
        .db
        .call(TENANT_DOCTORS, &stranger, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        (refused.status.as_u16(), refused.code.as_str()),
        (403, "not_a_member")
    );
    assert_eq!(leftover(&ctx).await, clean(pid));

    // A second caller on the same connection.
    ctx.db
        .call(TENANT_DOCTORS, &second, &json!({}))
        .await
        .unwrap();
    assert_eq!(leftover(&ctx).await, clean(pid));
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn every_bad_token_is_a_401_problem() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let good = keys::claims_for(&w.therapist_of_a(), 600);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = good.clone();
        change(&mut claims);
        db.sign(&claims)
    };
    let valid = db.sign(&good);
    let (header, payload, signature) = {
        let mut parts = valid.split('.');
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        )
    };

    // HS256 signed with the public key's bytes: the classic algorithm-confusion attack.
    let jwks = db.jwks();
    let confused = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some(keys::KID.to_owned());
        jsonwebtoken::encode(
            &h,
            &good,
            &jsonwebtoken::EncodingKey::from_secret(jwks.to_string().as_bytes()),
        )
        .unwrap()
    };
    let unknown_kid = format!(
        "{}.{payload}.{signature}",
        b64(&json!({"alg": "ES256", "typ": "JWT", "kid": "someone-elses-key"}))
    );
    let flipped = {
        let mut sig = signature.clone().into_bytes();
        sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
        format!("{header}.{payload}.{}", String::from_utf8(sig).unwrap())
    };

    // Verified once, the good token is remembered: what differs from it, even by one byte of
    // its signature, is still verified in full (below).
    let reply = db
        .call(&FUNCTION, Method::GET, PATH, Some(&valid), None)
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");

    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!("{}.{payload}.", b64(&json!({"alg": "none", "typ": "JWT"}))),
        ),
        ("HS256 against an ES256 key", confused),
        ("expired", with(&|c| c["exp"] = json!(now() - 120))),
        ("not yet valid", with(&|c| c["nbf"] = json!(now() + 300))),
        (
            "wrong issuer",
            with(&|c| c["iss"] = json!("https://evil.example")),
        ),
        (
            "wrong audience",
            with(&|c| c["aud"] = json!("someone-else")),
        ),
        (
            "missing sub",
            with(&|c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
        ),
        (
            "missing exp",
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        (
            "missing nbf",
            with(&|c| {
                c.as_object_mut().unwrap().remove("nbf");
            }),
        ),
        ("sub not a uuid", with(&|c| c["sub"] = json!("auth0|12345"))),
        ("unknown app_role", with(&|c| c["app_role"] = json!("root"))),
        (
            "no clinic",
            with(&|c| {
                c.as_object_mut().unwrap().remove("org_id");
            }),
        ),
        (
            "nil clinic",
            with(&|c| c["org_id"] = json!(uuid::Uuid::nil())),
        ),
        (
            "exp as a string",
            with(&|c| c["exp"] = json!((now() + 600).to_string())),
        ),
        ("bad signature", flipped),
        ("unknown kid", unknown_kid),
        ("garbage", "not.a.jwt".into()),
        ("empty", String::new()),
    ];
    for (name, token) in cases {
        let reply = db
            .call(&FUNCTION, Method::GET, PATH, Some(&token), None)
            .await;
        assert_eq!(reply.status, 401, "{name}: {reply:?}");
        reply.assert_problem(401, "invalid_token");
        assert_eq!(
            reply.headers["www-authenticate"], "Bearer error=\"invalid_token\"",
            "{name}"
        );
    }
    let reply = db.call(&FUNCTION, Method::GET, PATH, None, None).await;
    reply.assert_problem(401, "invalid_token");

    // And the good one still works.
    let reply = db
        .call(&FUNCTION, Method::GET, PATH, Some(&valid), None)
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn a_remembered_token_still_expires() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let ctx = Context::new(db.config(|c| c.jwt.leeway = Duration::ZERO)).unwrap();
    let mut claims = keys::claims_for(&w.therapist_of_a(), 600);
    let expires = now() + 2;
    claims["exp"] = json!(expires);
    let token = db.sign(&claims);
    for _ in 0..2 {
        let reply = call_with(&ctx, &FUNCTION, Method::GET, PATH, Some(&token), None).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    while now() <= expires {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reply = call_with(&ctx, &FUNCTION, Method::GET, PATH, Some(&token), None).await;
    reply.assert_problem(401, "invalid_token");
    assert_eq!(reply.body["detail"], "The token has expired.");
}

/// A context of its own, reading keys from `url`, with the JWT settings changed by `tweak`.
fn jwks_context(
    db: &TestDb,
    url: &str,
    tweak: impl FnOnce(&mut wardline_shared::config::JwtConfig),
) -> Context {
    Context::new(db.config(|c| {
        c.jwt.keys = wardline_shared::config::KeySource::JwksUrl(url.to_owned());
        tweak(&mut c.jwt);
    }))
    .unwrap()
}

#[tokio::test]
async fn jwks_is_cached_and_an_unknown_kid_refetches_at_most_once_per_interval() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let (url, hits) = serve_jwks(db.jwks()).await.unwrap();
    let token = db.token(&w.therapist_of_a());
    let valid = token.split('.').collect::<Vec<_>>();
    let unknown = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "ES256", "typ": "JWT", "kid": "rotated-away"})),
        valid[1],
        valid[2]
    );

    let slow = jwks_context(&db, &url, |jwt| {
        jwt.jwks_refetch_interval = Duration::from_secs(3600)
    });
    for _ in 0..3 {
        let reply = call_with(&slow, &FUNCTION, Method::GET, PATH, Some(&token), None).await;
        assert_eq!(reply.status, 200);
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "one fetch serves every request"
    );
    for _ in 0..3 {
        call_with(&slow, &FUNCTION, Method::GET, PATH, Some(&unknown), None)
            .await
            .assert_problem(401, "invalid_token");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "unknown kids within the interval fetch nothing"
    );

    let eager = jwks_context(&db, &url, |jwt| jwt.jwks_refetch_interval = Duration::ZERO);
    call_with(&eager, &FUNCTION, Method::GET, PATH, Some(&unknown), None)
        .await
        .assert_problem(401, "invalid_token");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "an unknown kid past the interval refetches"
    );

    let short_lived = jwks_context(&db, &url, |jwt| jwt.jwks_max_age = Duration::ZERO);
    for _ in 0..2 {
        let reply = call_with(
            &short_lived,
            &FUNCTION,
            Method::GET,
            PATH,
            Some(&token),
            None,
        )
        .await;
        assert_eq!(reply.status, 200);
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        4,
        "keys past their maximum age are fetched again"
    );
}

#[tokio::test]
async fn an_unreachable_jwks_is_a_503_not_a_500() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let ctx = Context::new(db.config(|c| {
        c.jwt.keys =
            wardline_shared::config::KeySource::JwksUrl("http://127.0.0.1:9/jwks.json".into());
    }))
    .unwrap();
    call_with(
        &ctx,
        &FUNCTION,
        Method::GET,
        PATH,
        Some(&db.token(&w.therapist_of_a())),
        None,
    )
    .await
    .assert_problem(503, "auth_unavailable");
}

#[tokio::test]
async fn an_hs256_deployment_accepts_only_hs256_tokens_with_its_secret() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let secret = "0123456789abcdef0123456789abcdef-dev";
    let ctx = Context::new(db.config(|c| {
        c.jwt.keys = wardline_shared::config::KeySource::Hs256Secret(secret.into());
        c.jwt.algorithms = vec![jsonwebtoken::Algorithm::HS256];
    }))
    .unwrap();
    let claims = keys::claims_for(&w.therapist_of_a(), 600);
    let sign = |key: &[u8]| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(key),
        )
        .unwrap()
    };
    let reply = call_with(
        &ctx,
        &FUNCTION,
        Method::GET,
        PATH,
        Some(&sign(secret.as_bytes())),
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    call_with(
        &ctx,
        &FUNCTION,
        Method::GET,
        PATH,
        Some(&sign(b"another-secret-another-secret-xx")),
        None,
    )
    .await
    .assert_problem(401, "invalid_token");
    // An ES256 token is refused by the allow-list.
    call_with(
        &ctx,
        &FUNCTION,
        Method::GET,
        PATH,
        Some(&db.token(&w.therapist_of_a())),
        None,
    )
    .await
    .assert_problem(401, "invalid_token");
}

#[tokio::test]
async fn text_the_database_cannot_store_is_a_400_not_a_500() {
    let db = TestDb::new().await;
    let refused = db
        .admin
        .query_one("select $1::jsonb", &[&json!({"reason": "a\u{0}b"})])
        .await
        .unwrap_err();
    let error = wardline_shared::Error::from(refused);
    assert_eq!(error.body()["status"], 400);
    assert_eq!(error.body()["code"], "invalid_input");
}

/// A request stuck behind a lock, past its `lock_timeout` (set inside its own statement) or,
/// with a longer one, past its statement deadline (then cancelled): a 503 `busy` with
/// `Retry-After` that names no SQL, nothing left waiting, and the connection serves the next.
#[tokio::test]
async fn waiting_past_lock_timeout_or_the_statement_deadline_is_a_503_busy() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let caller = claims(w.therapist_a, w.clinic_a, AppRole::Therapist, "stuck");
    let mut locker = db.superuser().await;
    let lock = locker.transaction().await.unwrap();
    lock.batch_execute("lock table app.clinic_memberships in access exclusive mode")
        .await
        .unwrap();
    let ms = Duration::from_millis;
    let mut contexts = Vec::new();
    for (lock_timeout, statement_timeout, cause) in [(200, 60_000, "55P03"), (60_000, 300, "57014")]
    {
        let ctx = Context::new(db.config(|c| {
            c.db.pool_size = 1;
            c.db.lock_timeout = ms(lock_timeout);
            c.db.statement_timeout = ms(statement_timeout);
        }))
        .unwrap();
        let started = Instant::now();
        let error = ctx
            .db
            .call(TENANT_DOCTORS, &caller, &json!({}))
            .await
            .unwrap_err();
        let waited = started.elapsed();
        assert_eq!((error.status.as_u16(), error.code.as_str()), (503, "busy"));
        assert!(
            error
                .headers
                .iter()
                .any(|(name, value)| name == "retry-after" && value == "1"),
            "{error:?}"
        );
        assert!(
            error.internal.as_deref().unwrap_or("").starts_with(cause),
            "{error:?}"
        );
        assert!(!error.body().to_string().contains("clinic_memberships"));
        assert!(
            waited < ms(lock_timeout.min(statement_timeout) + 1500),
            "{waited:?}"
        );
        contexts.push(ctx);
    }
    let waiting = db
        .count(
            "select count(*) from pg_stat_activity
             where usename = 'wardline_authenticator' and wait_event_type = 'Lock'",
            &[],
        )
        .await;
    assert_eq!(waiting, 0, "a timed-out statement is still waiting");
    lock.rollback().await.unwrap();
    for ctx in &contexts {
        ctx.db
            .call(TENANT_DOCTORS, &caller, &json!({}))
            .await
            .unwrap();
    }
}
