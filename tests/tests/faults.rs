//! Real database faults under a booking load: 8 clients (each its own container: its own
//! context and pool) hold and confirm 2-occurrence series through `dispatch` while the
//! cluster is restarted (`pg_ctl restart -m fast`) or the functions' backends are terminated
//! (`pg_terminate_backend`). Checked afterwards, in SQL: every acknowledged confirmation is
//! booked, no series is half-booked, every clinic's audit chain verifies; and over HTTP: no
//! answer but 2xx, 409 or a 503 with `Retry-After`, and none fails later than 1 s after
//! PostgreSQL accepts connections again. Prints the counts.
//!
//! The two tests take turns ([`EXCLUSIVE`]): a restart ends every connection to this binary's
//! cluster, so no other test may use it meanwhile (which is also why they have a file of
//! their own).

use serde_json::{json, Value};
use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use uuid::Uuid;
use wardline_shared::{http::Function, Context};
use wardline_tests::{
    booking::{key, slot},
    send, Reply, TestDb, World,
};

const CLIENTS: usize = 8;
/// Load before the fault, and after PostgreSQL is back.
const BEFORE: Duration = Duration::from_millis(500);
const AFTER: Duration = Duration::from_millis(1500);
/// How soon a client sends a 503'd request again: sooner than `Retry-After` asks, so the test
/// sees when service returns.
const RETRY_AFTER_503: Duration = Duration::from_millis(100);
/// The promise: nothing fails later than this after PostgreSQL accepts connections again.
const RECOVERY: Duration = Duration::from_secs(1);

static EXCLUSIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One answer a client got.
struct Answer {
    at: Instant,
    status: u16,
    retry_after: bool,
    body: Value,
}

/// What one client saw: every answer, and the sessions of every confirmation answered 200.
#[derive(Default)]
struct Seen {
    answers: Vec<Answer>,
    acknowledged: Vec<Uuid>,
    confirmations: usize,
}

impl Seen {
    /// `POST path` until it is not a 503 (with the same Idempotency-Key each time, as a client
    /// retries), recording every answer.
    async fn post(
        &mut self,
        ctx: &Context,
        (function, path): (&Function, &str),
        token: &str,
        key: &str,
        body: &Value,
    ) -> Reply {
        let body = body.to_string();
        loop {
            let reply = send(
                ctx,
                function,
                http::Method::POST,
                path,
                Some(token),
                &[("idempotency-key", key)],
                Some(&body),
            )
            .await;
            self.answers.push(Answer {
                at: Instant::now(),
                status: reply.status.as_u16(),
                retry_after: reply.headers.contains_key("retry-after"),
                body: reply.body.clone(),
            });
            if reply.status != 503 {
                return reply;
            }
            tokio::time::sleep(RETRY_AFTER_503).await;
        }
    }
}

/// Booking `n` of client `i`: two 50-minute occurrences an hour apart, never overlapping
/// another booking.
fn series(therapist: Uuid, patient: Uuid, i: usize, n: usize) -> Value {
    let at = |hours: usize| {
        let start = chrono::DateTime::parse_from_rfc3339("2027-06-01T00:00:00Z").unwrap()
            + chrono::Duration::hours(hours as i64);
        let end = start + chrono::Duration::minutes(50);
        (start.to_rfc3339(), end.to_rfc3339())
    };
    let hour = 2 * (n * CLIENTS + i);
    let (start, end) = at(hour);
    let (next_start, next_end) = at(hour + 1);
    let mut body = slot(therapist, patient, &start, &end);
    body["occurrences"] = json!([{ "start_time": next_start, "end_time": next_end }]);
    body
}

/// One client: hold, then confirm, until told to stop.
async fn client(
    ctx: Context,
    token: String,
    (therapist, patient, service): (Uuid, Uuid, Uuid),
    i: usize,
    stop: Arc<AtomicBool>,
) -> Seen {
    let mut seen = Seen::default();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let body = series(therapist, patient, i, n);
        n += 1;
        let hold = (&sessions_hold::FUNCTION, "/sessions-hold");
        let held = seen.post(&ctx, hold, &token, &key(), &body).await;
        if held.status != 200 {
            continue;
        }
        let confirm = (&confirm_booking::FUNCTION, "/sessions-confirm");
        let body = json!({"holdKey": held.body["holdKey"], "session": {"serviceId": service}});
        let confirmed = seen.post(&ctx, confirm, &token, &key(), &body).await;
        if confirmed.status == 200 {
            seen.confirmations += 1;
            for session in confirmed.body["sessions"].as_array().into_iter().flatten() {
                seen.acknowledged
                    .push(session["id"].as_str().unwrap().parse().unwrap());
            }
        }
    }
    seen
}

/// Runs the load, `fault` in the middle of it (it answers when PostgreSQL serves again), then
/// checks and prints everything the file's header promises.
async fn under_load(name: &str, db: &TestDb, fault: impl Future<Output = Instant>) {
    let w = World::create(db).await;
    let patients = db.patients(w.clinic_a, CLIENTS).await;
    let token = db.token(&w.therapist_of_a());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = patients
        .iter()
        .enumerate()
        .map(|(i, patient)| {
            let ctx = Context::new(db.config(|_| {})).unwrap();
            let who = (w.therapist_a, *patient, w.service_a);
            tokio::spawn(client(ctx, token.clone(), who, i, stop.clone()))
        })
        .collect();
    tokio::time::sleep(BEFORE).await;
    let started = Instant::now();
    let back = fault.await;
    tokio::time::sleep(AFTER).await;
    stop.store(true, Ordering::SeqCst);
    let mut seen = Seen::default();
    for client in clients {
        let one = client.await.expect("a client panicked");
        seen.answers.extend(one.answers);
        seen.acknowledged.extend(one.acknowledged);
        seen.confirmations += one.confirmations;
    }

    let count = |status: u16| seen.answers.iter().filter(|a| a.status == status).count();
    let last_failure = seen
        .answers
        .iter()
        .filter(|a| a.status >= 500)
        .map(|a| a.at)
        .max();
    let late = last_failure.map_or(Duration::ZERO, |at| at.saturating_duration_since(back));
    let last = match last_failure {
        Some(at) => format!(
            "last failure {:.2} s after it began = {:.2} s after the fault was over",
            at.saturating_duration_since(started).as_secs_f64(),
            late.as_secs_f64()
        ),
        None => "no failure".to_owned(),
    };
    println!(
        "{name}: {} requests, {} acknowledged confirmations ({} sessions), {} × 409, {} × 503, \
         {} × 500; fault over (PostgreSQL serving) {:.2} s after it began, {last}",
        seen.answers.len(),
        seen.confirmations,
        seen.acknowledged.len(),
        count(409),
        count(503),
        count(500),
        (back - started).as_secs_f64(),
    );
    for answer in &seen.answers {
        let retryable = answer.status == 503
            && answer.retry_after
            && answer.body["code"] == "database_unavailable";
        assert!(
            answer.status == 200 || answer.status == 409 || retryable,
            "{name}: only 200, 409 or a retryable 503: {} {}",
            answer.status,
            answer.body
        );
    }
    assert!(
        late <= RECOVERY,
        "{name}: a request failed {late:?} after recovery"
    );
    assert!(
        seen.answers.iter().any(|a| a.at > back && a.status == 200),
        "{name}: nothing succeeded after the fault"
    );

    // The state, read by a fresh connection (the fixture's may have been ended).
    let admin = db.superuser().await;
    let booked: i64 = admin
        .query_one(
            "select count(*) from app.sessions where id = any($1) and status = 'scheduled'",
            &[&seen.acknowledged],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        booked as usize,
        seen.acknowledged.len(),
        "{name}: acknowledged writes lost"
    );
    let half_booked: i64 = admin
        .query_one(
            "select count(*) from (
               select hold_key from app.sessions where hold_key is not null group by hold_key
               having count(*) filter (where status = 'scheduled') not in (0, count(*))) s",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(half_booked, 0, "{name}: half-booked series");
    let broken: i64 = admin
        .query_one(
            "select count(*) from app.clinics where audit.first_broken_link(id) is not null",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(broken, 0, "{name}: an audit chain no longer verifies");
}

/// Stalls every booking behind an exclusive lock on `app.sessions` for a moment, so that each
/// client has a statement in flight when the fault strikes (left alone, this load spends
/// most of its time outside PostgreSQL). The lock lasts as long as the returned connection's
/// transaction.
async fn stall_bookings(db: &TestDb) -> tokio_postgres::Client {
    let blocker = db.superuser().await;
    blocker
        .batch_execute("begin; lock table app.sessions in access exclusive mode")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    blocker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_under_load_loses_nothing_and_answers_no_500() {
    let _turn = EXCLUSIVE.lock().await;
    let Some(cluster) = wardline_tests::cluster() else {
        println!("skipped: DATABASE_URL names a server this test must not restart");
        return;
    };
    let db = TestDb::new().await;
    let url = cluster.admin_url(&db.name);
    under_load("restart", &db, async {
        let _stalled = stall_bookings(&db).await;
        let restart = tokio::task::spawn_blocking(|| cluster.restart());
        // When PostgreSQL accepts connections again: the first one after the first refused.
        let mut down = false;
        let back = loop {
            match xtask::connect(&url).await {
                Ok(_) if down => break Instant::now(),
                Ok(_) => {}
                Err(_) => down = true,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        restart.await.unwrap().expect("pg_ctl restart");
        back
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_backends_under_load_lose_nothing_and_answer_no_500() {
    let _turn = EXCLUSIVE.lock().await;
    let db = TestDb::new().await;
    under_load("pg_terminate_backend", &db, async {
        let mut terminated = 0;
        for _ in 0..5 {
            let stalled = stall_bookings(&db).await;
            let row = db
                .admin
                .query_one(
                    "select count(*) filter (where pg_terminate_backend(pid))
                     from pg_stat_activity
                     where datname = current_database() and usename = 'wardline_authenticator'",
                    &[],
                )
                .await
                .unwrap();
            terminated += row.get::<_, i64>(0);
            stalled.batch_execute("rollback").await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!("pg_terminate_backend: {terminated} backends terminated in 5 rounds");
        // The server never stopped accepting connections: recovery counts from the last kill.
        Instant::now()
    })
    .await;
}
