//! `cargo xtask bench portal`: portal sign-in through `dispatch` as Lambda calls it, on the
//! project's own PostgreSQL, against a clinic of 20,000 patients. A code request for a known
//! address and for an unknown one should cost the same (no faster path tells them apart); each
//! call uses an address never asked about before and a new source address, so no limit cuts
//! the work short. Criterion reports the mean; a plain loop then prints p50 and p99 per case,
//! known and unknown requests interleaved so that table growth weighs on both alike.

use criterion::{criterion_group, criterion_main, Criterion};
use http::Method;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use wardline_tests::{
    portal::{host, Call, ME, OTP, VERIFY},
    TestDb, World,
};

const PATIENTS: usize = 20_000;
const PERCENTILE_CALLS: usize = 400;

struct Bench {
    db: TestDb,
    token: String,
    /// Calls so far: each gets its own source address.
    calls: AtomicUsize,
    /// Known addresses used so far: each is asked about once.
    known: AtomicUsize,
}

impl Bench {
    fn next(&self) -> usize {
        self.calls.fetch_add(1, Ordering::Relaxed)
    }

    /// The address of a patient nobody has asked a code for yet.
    fn fresh_patient(&self) -> String {
        let i = self.known.fetch_add(1, Ordering::Relaxed);
        assert!(i < PATIENTS, "the bench ran out of fresh patients");
        format!("p{i}@bench.example")
    }
}

fn source_ip(i: usize) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

async fn request_code(bench: &Bench, known: bool) {
    let i = bench.next();
    let email = if known {
        bench.fresh_patient()
    } else {
        format!("nobody{i}@bench.example")
    };
    let ip = source_ip(i);
    let reply = Call::new(Method::POST, OTP, host("alpha"))
        .json(json!({ "email": email }))
        .from_ip(&ip)
        .send(&bench.db)
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
}

async fn wrong_code(bench: &Bench) {
    let i = bench.next();
    let ip = source_ip(i);
    let reply = Call::new(Method::POST, VERIFY, host("alpha"))
        .json(json!({ "email": format!("p{}@bench.example", i % PATIENTS), "code": "000000" }))
        .from_ip(&ip)
        .send(&bench.db)
        .await;
    assert!([401, 429].contains(&reply.status.as_u16()), "{reply:?}");
}

async fn me(bench: &Bench) {
    let reply = Call::new(Method::GET, ME, host("alpha"))
        .bearer(&bench.token)
        .send(&bench.db)
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

fn setup(rt: &Runtime) -> Bench {
    rt.block_on(async {
        let db = TestDb::new().await;
        let w = World::create(&db).await;
        db.admin
            .execute(
                "insert into app.patients (org_id, first_name, last_name, email)
                 select $1, 'Bench', 'Patient ' || i, 'p' || i || '@bench.example'
                 from generate_series(0, $2::int - 1) i",
                &[&w.clinic_a, &(PATIENTS as i32)],
            )
            .await
            .expect("bench patients");
        db.admin.batch_execute("analyze").await.expect("analyze");
        let token = db.token(&w.patient_of_a());
        Bench {
            db,
            token,
            calls: AtomicUsize::new(0),
            known: AtomicUsize::new(0),
        }
    })
}

fn portal_sign_in(c: &mut Criterion) {
    let rt = Runtime::new().expect("a runtime");
    let bench = setup(&rt);
    let mut group = c.benchmark_group("portal");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("otp/known address", |b| {
        b.to_async(&rt).iter(|| request_code(&bench, true))
    });
    group.bench_function("otp/unknown address", |b| {
        b.to_async(&rt).iter(|| request_code(&bench, false))
    });
    group.bench_function("verify/wrong code", |b| {
        b.to_async(&rt).iter(|| wrong_code(&bench))
    });
    group.bench_function("me", |b| b.to_async(&rt).iter(|| me(&bench)));
    group.finish();

    println!("\nportal latency over {PERCENTILE_CALLS} sequential calls each:");
    let cases = [
        "otp/known address",
        "otp/unknown address",
        "verify/wrong code",
        "me",
    ];
    let mut samples: Vec<Vec<Duration>> = cases.iter().map(|_| Vec::new()).collect();
    rt.block_on(async {
        for _ in 0..PERCENTILE_CALLS {
            for (which, taken) in samples.iter_mut().enumerate() {
                let started = Instant::now();
                match which {
                    0 => request_code(&bench, true).await,
                    1 => request_code(&bench, false).await,
                    2 => wrong_code(&bench).await,
                    _ => me(&bench).await,
                }
                taken.push(started.elapsed());
            }
        }
    });
    for (name, taken) in cases.iter().zip(samples) {
        wardline_tests::latency::report(name, taken);
    }
    drop(bench.db);
}

criterion_group!(benches, portal_sign_in);
criterion_main!(benches);
