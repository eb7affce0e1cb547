//! `cargo xtask bench queue`: the prescription queue of a prescriber who works for 3 of 20
//! clinics, each with 1,000 paid invoices, 1,000 refills and 1,000 queued orders (plus as many
//! handled ones), through `dispatch` as Lambda calls it: token, one cross-clinic statement,
//! JSON. Criterion reports the mean; a plain loop of [`PERCENTILE_CALLS`] calls per case then
//! prints p50 and p99.

use criterion::{criterion_group, criterion_main, Criterion};
use http::Method;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use wardline_tests::{call_with, prescribing::Prescribing, TestDb};

const PERCENTILE_CALLS: usize = 300;
const CLINICS: i32 = 20;
const PER_KIND: i32 = 1000;

struct Bench {
    db: TestDb,
    token: String,
}

fn setup(rt: &Runtime) -> (Bench, Vec<(&'static str, String)>) {
    rt.block_on(async {
        let db = TestDb::new().await;
        let p = Prescribing::create(&db).await;
        p.queue_workload(&db, CLINICS, PER_KIND).await;
        let token = db.token(&p.prescriber_at(p.w.clinic_a));
        let middle = {
            let reply = call_with(
                &db.ctx,
                &provider_queue::FUNCTION,
                Method::GET,
                "/api/provider/prescription-queue?limit=200",
                Some(&token),
                None,
            )
            .await;
            reply.body["nextCursor"]
                .as_str()
                .expect("a second page")
                .to_owned()
        };
        let cases = vec![
            ("first page of 50", "?limit=50".to_owned()),
            ("first page of 200", "?limit=200".to_owned()),
            ("second page of 200", format!("?limit=200&cursor={middle}")),
        ];
        (Bench { db, token }, cases)
    })
}

async fn call(bench: &Bench, query: &str) {
    let path = format!("/api/provider/prescription-queue{query}");
    let reply = call_with(
        &bench.db.ctx,
        &provider_queue::FUNCTION,
        Method::GET,
        &path,
        Some(&bench.token),
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{path}: {reply:?}");
}

fn prescription_queue(c: &mut Criterion) {
    let rt = Runtime::new().expect("a runtime");
    let (bench, cases) = setup(&rt);
    let mut group = c.benchmark_group("prescription_queue");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(8));
    for (name, query) in &cases {
        group.bench_function(*name, |b| b.to_async(&rt).iter(|| call(&bench, query)));
    }
    group.finish();

    println!("\nprescription_queue latency over {PERCENTILE_CALLS} sequential calls each:");
    for (name, query) in &cases {
        let samples = rt.block_on(async {
            let mut samples = Vec::with_capacity(PERCENTILE_CALLS);
            for _ in 0..PERCENTILE_CALLS {
                let started = Instant::now();
                call(&bench, query).await;
                samples.push(started.elapsed());
            }
            samples
        });
        wardline_tests::latency::report(name, samples);
    }
    drop(bench.db);
}

criterion_group!(benches, prescription_queue);
criterion_main!(benches);
