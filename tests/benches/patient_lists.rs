//! `cargo xtask bench`: the patient lists on a clinic of 5,000 patients with 3 clinicians
//! each, through `dispatch` as Lambda calls it (token verification, one statement, JSON), on
//! the project's own PostgreSQL. Criterion reports the mean; a plain loop of
//! [`PERCENTILE_CALLS`] calls per case then prints p50 and p99.

use criterion::{criterion_group, criterion_main, Criterion};
use http::Method;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use wardline_shared::Context;
use wardline_tests::{call_with, TestDb, World};

const PERCENTILE_CALLS: usize = 500;

struct Case {
    name: &'static str,
    path: String,
}

struct Bench {
    db: TestDb,
    ctx: Context,
    token: String,
    admin_token: String,
}

fn setup(rt: &Runtime) -> (Bench, Vec<Case>) {
    rt.block_on(async {
        let db = TestDb::new().await;
        let w = World::create(&db).await;
        db.big_clinic(&w).await;
        // A cursor in the middle of the clinic: the 2,500th patient by name.
        let middle: uuid::Uuid = db
            .admin
            .query_one(
                "select id from app.patients where org_id = $1
                 order by last_name, first_name, id offset 2499 limit 1",
                &[&w.clinic_a],
            )
            .await
            .expect("a middle patient")
            .get(0);
        let ctx = Context::new(db.config(|_| {})).expect("a context");
        let token = db.token(&w.therapist_of_a());
        let admin_token = db.token(&w.admin_of_a());
        let cases = vec![
            Case {
                name: "all/first page of 200",
                path: "/v2/doctor/patients/all?limit=200".into(),
            },
            Case {
                name: "all/page of 200 from the middle",
                path: format!("/v2/doctor/patients/all?limit=200&cursor={middle}"),
            },
            Case {
                name: "all/search",
                path: "/v2/doctor/patients/all?limit=50&search=patient%20424".into(),
            },
            Case {
                name: "summary/first page of 200",
                path: "/v2/doctor/patients/summary?limit=200".into(),
            },
        ];
        let bench = Bench {
            db,
            ctx,
            token,
            admin_token,
        };
        (bench, cases)
    })
}

async fn call(bench: &Bench, path: &str, token: &str) {
    let reply = call_with(
        &bench.ctx,
        &assign::FUNCTION,
        Method::GET,
        path,
        Some(token),
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{path}: {reply:?}");
}

fn patient_lists(c: &mut Criterion) {
    let rt = Runtime::new().expect("a runtime");
    let (bench, cases) = setup(&rt);
    let mut group = c.benchmark_group("patient_lists");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(8));
    for case in &cases {
        group.bench_function(case.name, |b| {
            b.to_async(&rt)
                .iter(|| call(&bench, &case.path, &bench.token))
        });
    }
    group.bench_function("all/first page of 200 as admin", |b| {
        b.to_async(&rt).iter(|| {
            call(
                &bench,
                "/v2/doctor/patients/all?limit=200",
                &bench.admin_token,
            )
        })
    });
    group.finish();

    println!("\npatient_lists latency over {PERCENTILE_CALLS} sequential calls each:");
    for case in &cases {
        let samples = rt.block_on(async {
            let mut samples = Vec::with_capacity(PERCENTILE_CALLS);
            for _ in 0..PERCENTILE_CALLS {
                let started = Instant::now();
                call(&bench, &case.path, &bench.token).await;
                samples.push(started.elapsed());
            }
            samples
        });
        wardline_tests::latency::report(case.name, samples);
    }
    drop(bench.db);
}

criterion_group!(benches, patient_lists);
criterion_main!(benches);
