//! `cargo xtask bench throughput | delay | contention | floor` (all with no name): the hot routes
//! under load through the local gateway over real HTTP, on the project's own PostgreSQL, with
//! PostgreSQL on one core and the gateway, load generator and pgbench on the other.
//!
//! - throughput: req/s, p50, p99 at 1, 8 and 32 clients, against pgbench running the route's
//!   own `select api.<op>($claims, $input)` at the same concurrency.
//! - delay: p50/p99 at one client, direct and through a proxy adding 1 ms each way between
//!   the functions and PostgreSQL: the added latency counts the round trips.
//! - contention: 64 clients competing for 16 slots of one therapist, round after round.
//! - floor: each hot route's statements against a hand-written floor (tests/benches/floors/:
//!   the same work and the same JSON under the same RLS, without Wardline's functions around
//!   it; times go through `app.iso`, since pgbench would read `:MI` in a format as a variable),
//!   and a booking into full calendars beside one into empty ones.

use anyhow::{bail, ensure, Context as _, Result};
use chrono::{DateTime, Duration as Hours, TimeZone, Utc};
use rand::Rng;
use reqwest::Method;
use serde_json::{json, Value};
use std::{
    sync::{
        atomic::{AtomicU32, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use uuid::Uuid;
use wardline_shared::Context;
use wardline_tests::{
    booking::{key, slot},
    claims_json,
    delay_proxy::DelayProxy,
    keys::Identity,
    latency::percentile,
    load::{self, drive, ms, ok, pgbench, request, table, Flow, Gateway, Protocol, Script, Step},
    prescribing::Prescribing,
    TestDb,
};

const CONCURRENCY: [usize; 3] = [1, 8, 32];
const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);
/// Added between the functions and PostgreSQL in each direction.
const ONE_WAY_DELAY: Duration = Duration::from_millis(1);
const CONTENDERS: usize = 64;
const SLOTS: u32 = 16;
/// Measured contention rounds (after one warm-up round).
const ROUNDS: usize = 10;
/// Patients of clinic A that the assign route picks from.
const ASSIGNABLE: usize = 16;

fn main() -> Result<()> {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let runs = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let (throughput, delay, contention, floor) = (
        runs("throughput"),
        runs("delay"),
        runs("contention"),
        runs("floor"),
    );
    if !(throughput || delay || contention || floor) {
        // `cargo xtask bench <criterion filter>` runs every bench target; none of this is asked.
        return Ok(());
    }
    load::split_cores()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let w = Workload::create().await?;
        println!(
            "\nMachine: {}\n",
            load::machine(&w.db.admin)
                .await
                .context("describing the machine")?
        );
        if throughput {
            self::throughput(&w).await?;
        }
        if delay {
            self::delay(&w).await?;
        }
        if contention {
            self::contention(&w).await?;
        }
        if floor {
            self::floor(&w).await?;
        }
        Ok(())
    })
}

/// One database with every hot route's data: clinic A with 5,000 patients (3 clinicians each,
/// as the patient-list bench), the prescription queue's 20 clinics (as its bench), and in
/// clinic B 32 therapists and 64 patients to book.
struct Workload {
    db: TestDb,
    p: Prescribing,
    therapists: Vec<Uuid>,
    patients: Vec<Uuid>,
    assignable: Vec<Uuid>,
}

impl Workload {
    async fn create() -> Result<Workload> {
        let db = TestDb::new().await;
        let p = Prescribing::create(&db).await;
        db.big_clinic(&p.w).await;
        p.queue_workload(&db, 20, 1000).await;
        let therapists: Vec<Uuid> = (0..32).map(|_| Uuid::new_v4()).collect();
        db.admin
            .execute(
                "with new as (
                   insert into app.clinicians (id, email, first_name, last_name)
                   select id, 'bench' || n || '@test.example', 'Bench', 'Therapist ' || n
                   from unnest($2::uuid[]) with ordinality t (id, n) returning id
                 )
                 insert into app.clinic_memberships (org_id, clinician_id, approved)
                 select $1, id, true from new",
                &[&p.w.clinic_b, &therapists],
            )
            .await?;
        let patients = db.patients(p.w.clinic_b, CONTENDERS).await;
        // Patients with an address, as a clinic's are: each booking queues its notice.
        db.admin
            .execute(
                "update app.patients set email = 'p-' || id || '@bench.example'
                 where id = any ($1)",
                &[&patients],
            )
            .await?;
        let assignable = db
            .admin
            .query(
                "select id from app.patients where org_id = $1 order by id limit $2",
                &[&p.w.clinic_a, &(ASSIGNABLE as i64)],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        db.admin.batch_execute("analyze").await?;
        let w = Workload {
            db,
            p,
            therapists,
            patients,
            assignable,
        };
        // The sessions table's statistics as a deployment's look: a populated calendar.
        w.create_floor_table().await?;
        w.calendars(true).await?;
        w.calendars(false).await?;
        Ok(w)
    }

    /// The functions' context on this database, with a pool of `connections`.
    fn context(&self, connections: usize, url: Option<String>) -> Result<Context> {
        Ok(Context::new(self.db.config(|c| {
            c.db.pool_size = connections;
            if let Some(url) = url {
                c.db.url = url;
            }
        }))?)
    }

    /// Booked and held sessions go between runs, so each run books into the same empty
    /// calendars.
    async fn clear_calendars(&self) -> Result<()> {
        self.db
            .admin
            .batch_execute("delete from app.sessions; delete from app.idempotency_keys;")
            .await?;
        Ok(())
    }

    fn routes(&self) -> Vec<Route> {
        let w = &self.p.w;
        vec![
            self.booking(),
            self.get(
                "tenant-doctors",
                "/v2/doctor/patients/tenant-doctors",
                w.therapist_of_a(),
                "tenant_doctors",
                json!({}),
            ),
            self.assign(),
            self.get(
                "patients/all, page of 200",
                "/v2/doctor/patients/all?limit=200",
                w.therapist_of_a(),
                "patients_page",
                json!({"limit": 200, "after": null, "search": null, "scope": "all"}),
            ),
            self.get(
                "patients/summary, page of 200",
                "/v2/doctor/patients/summary?limit=200",
                w.therapist_of_a(),
                "patients_page",
                json!({"limit": 200, "after": null, "search": null, "scope": "mine"}),
            ),
            self.get(
                "prescription queue, page of 50",
                "/api/provider/prescription-queue?limit=50",
                self.p.prescriber_at(w.clinic_a),
                "prescription_queue",
                json!({"limit": 50}),
            ),
        ]
    }

    /// A GET route whose statement has a fixed input.
    fn get(&self, name: &str, path: &str, who: Identity, op: &str, input: Value) -> Route {
        let (path, token): (Arc<str>, Arc<str>) = (path.into(), self.db.token(&who).into());
        Route {
            name: name.into(),
            requests: 1,
            books: false,
            flow: Arc::new(move |step: Step| {
                let (path, token) = (path.clone(), token.clone());
                Box::pin(async move {
                    ok(
                        &path,
                        request(&step, Method::GET, &path, &token, None, None).await?,
                    )?;
                    Ok(200)
                })
            }),
            script: Script {
                name: op.into(),
                sql: format!("select api.{op}(:claims::jsonb, :input::jsonb);\n"),
                vars: vec![
                    ("claims", claims_json(&who).to_string()),
                    ("input", input.to_string()),
                ],
            },
        }
    }

    /// `POST /v2/doctor/patients/assign`: therapist A takes on one of 16 patients at random,
    /// whose team they are already on (`changed: false` after the first time).
    fn assign(&self) -> Route {
        let who = self.p.w.therapist_of_a();
        let token: Arc<str> = self.db.token(&who).into();
        let patients = Arc::new(self.assignable.clone());
        let path = "/v2/doctor/patients/assign";
        Route {
            name: "assign".into(),
            requests: 1,
            books: false,
            flow: Arc::new({
                let patients = patients.clone();
                move |step: Step| {
                    let token = token.clone();
                    let patient = patients[rand::thread_rng().gen_range(0..patients.len())];
                    Box::pin(async move {
                        let body = json!({ "patientId": patient });
                        let reply = request(&step, Method::POST, path, &token, None, Some(&body));
                        ok(path, reply.await?)?;
                        Ok(200)
                    })
                }
            }),
            script: Script {
                name: "assign_patient".into(),
                sql: format!(
                    "\\set i random(1, {ASSIGNABLE})\n\
                     select api.assign_patient(:claims::jsonb, jsonb_build_object(\
                     'patientId', (:patients::uuid[])[:i::int], 'targetDoctorId', null, \
                     'notes', null));\n"
                ),
                vars: vec![
                    ("claims", claims_json(&who).to_string()),
                    ("patients", pg_array(&patients)),
                ],
            },
        }
    }

    /// `POST /sessions-hold` then `POST /sessions-confirm`: clinic B's admin books client `i`'s
    /// therapist and patient (their own calendars) into the next free hour.
    fn booking(&self) -> Route {
        let who = self.p.w.admin_of_b();
        let token: Arc<str> = self.db.token(&who).into();
        let (therapists, patients) = (
            Arc::new(self.therapists.clone()),
            Arc::new(self.patients.clone()),
        );
        let service = self.p.w.service_b;
        let flow: Flow = Arc::new({
            let (therapists, patients) = (therapists.clone(), patients.clone());
            move |step: Step| {
                let token = token.clone();
                let start = first_hour() + Hours::hours(step.iteration as i64);
                let body = slot(
                    therapists[step.client],
                    patients[step.client],
                    &start.to_rfc3339(),
                    &(start + Hours::minutes(50)).to_rfc3339(),
                );
                Box::pin(async move {
                    ensure!(
                        hold_and_confirm(&step, &token, &body, service).await?,
                        "a hold in an empty calendar was refused"
                    );
                    Ok(200)
                })
            }
        });
        // The warm-up (phase 0) and the measured run (phase 1) book eleven years apart.
        let hour = "(:first::timestamptz + (:phase::int * 100000 + :n::int) * interval '1 hour')";
        let sql = format!(
            "\\set n :n + 1\n\
             select api.hold_sessions(:claims::jsonb, jsonb_build_object(\
             'idempotencyKey', gen_random_uuid()::text, \
             'clinicianId', (:therapists::uuid[])[:client_id::int + 1], \
             'patientId', (:patients::uuid[])[:client_id::int + 1], \
             'sessionId', null, 'holdSeconds', 300, \
             'occurrences', jsonb_build_array(jsonb_build_object(\
             'start', {hour}, 'end', {hour} + interval '50 minutes')))) ->> 'holdKey' \
             as hold_key \\gset\n\
             select api.confirm_booking(:claims::jsonb, jsonb_build_object(\
             'idempotencyKey', gen_random_uuid()::text, \
             'items', jsonb_build_array(jsonb_build_object(\
             'holdKey', :hold_key::text, 'serviceId', :service::text, 'field', ''))));\n"
        );
        Route {
            name: "sessions-hold + confirm (per booking)".into(),
            requests: 2,
            books: true,
            flow,
            script: Script {
                name: "hold_and_confirm".into(),
                sql,
                vars: vec![
                    ("claims", claims_json(&who).to_string()),
                    ("therapists", pg_array(&therapists)),
                    ("patients", pg_array(&patients)),
                    ("service", service.to_string()),
                    ("first", first_hour().to_rfc3339()),
                    ("n", "0".into()),
                ],
            },
        }
    }
}

/// The first hour the booking route books (every run starts from an empty calendar).
fn first_hour() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 7, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// `{a,b,c}`: a PostgreSQL array literal of uuids.
fn pg_array(ids: &[Uuid]) -> String {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    format!("{{{}}}", ids.join(","))
}

/// A hot route: the gateway's unit of work (one or more requests) and pgbench's transaction
/// doing the same statements.
struct Route {
    name: String,
    /// HTTP requests (and so `api.*` statements) per unit.
    requests: usize,
    /// Writes sessions: calendars are cleared before each run.
    books: bool,
    flow: Flow,
    script: Script,
}

async fn throughput(w: &Workload) -> Result<()> {
    let conninfo = w.db.config(|_| {}).db.url;
    let mut rows = Vec::new();
    for route in w.routes() {
        for clients in CONCURRENCY {
            let gateway = Gateway::serve(w.context(clients, None)?, w.db.jwks()).await?;
            if route.books {
                w.clear_calendars().await?;
            }
            let run = drive(&gateway.base, clients, WARMUP, MEASURE, route.flow.clone()).await?;
            drop(gateway);
            if route.books {
                w.clear_calendars().await?;
            }
            let tps = pgbench(
                &conninfo,
                Protocol::Extended,
                &route.script,
                clients,
                WARMUP,
                MEASURE,
            )
            .await?;
            let row = vec![
                route.name.clone(),
                clients.to_string(),
                format!("{:.0}", run.rate()),
                ms(run.p50()),
                ms(run.p99()),
                format!("{tps:.0}"),
                format!("{:.2}", run.rate() / tps),
            ];
            eprintln!("  {}", row.join(" | "));
            rows.push(row);
        }
    }
    println!(
        "\nThroughput through the gateway (HTTP keep-alive, pool = clients) vs pgbench \
         (-M extended, same statements, -c N -j N), {}s after {}s warm-up each:\n",
        MEASURE.as_secs(),
        WARMUP.as_secs()
    );
    println!(
        "{}",
        table(
            &[
                "route",
                "clients",
                "gateway /s",
                "p50 ms",
                "p99 ms",
                "pgbench tps",
                "gateway ÷ pgbench"
            ],
            &rows
        )
    );
    Ok(())
}

async fn delay(w: &Workload) -> Result<()> {
    let direct: tokio_postgres::Config = w.db.config(|_| {}).db.url.parse()?;
    let upstream = match (direct.get_hosts().first(), direct.get_ports().first()) {
        (Some(tokio_postgres::config::Host::Tcp(host)), Some(port)) => {
            format!("{host}:{port}").parse()?
        }
        _ => bail!("the test database is not on TCP"),
    };
    let proxy = DelayProxy::start(upstream, ONE_WAY_DELAY)?;
    let delayed_url = xtask::with_database(
        &format!("postgres://{}/", proxy.addr),
        &w.db.name,
        Some("wardline_authenticator"),
    )?;
    // What one round trip through the proxy really adds: `select 1`, direct and delayed.
    let mut calibration = Vec::new();
    for url in [w.db.config(|_| {}).db.url, delayed_url.clone()] {
        let client = xtask::connect(&url).await?;
        let mut samples = Vec::new();
        for _ in 0..300 {
            let started = Instant::now();
            client.query_typed("select 1", &[]).await?;
            samples.push(started.elapsed());
        }
        samples.sort();
        calibration.push(percentile(&samples, 0.5));
    }
    let round_trip = calibration[1].saturating_sub(calibration[0]);
    ensure!(
        round_trip > Duration::ZERO,
        "the proxy added no delay: {calibration:?}"
    );

    let base = Gateway::serve(w.context(1, None)?, w.db.jwks()).await?;
    let slow = Gateway::serve(w.context(1, Some(delayed_url))?, w.db.jwks()).await?;
    let mut rows = Vec::new();
    for route in w.routes() {
        let mut runs = Vec::new();
        for gateway in [&base, &slow] {
            if route.books {
                w.clear_calendars().await?;
            }
            runs.push(drive(&gateway.base, 1, WARMUP, MEASURE, route.flow.clone()).await?);
        }
        let added = runs[1].p50().saturating_sub(runs[0].p50());
        let trips = added.as_secs_f64() / round_trip.as_secs_f64();
        let row = vec![
            route.name.clone(),
            route.requests.to_string(),
            ms(runs[0].p50()),
            ms(runs[0].p99()),
            ms(runs[1].p50()),
            ms(runs[1].p99()),
            format!("{trips:.1}"),
            format!("{:.1}", trips / route.requests as f64),
        ];
        eprintln!("  {}", row.join(" | "));
        rows.push(row);
    }
    println!(
        "\nLatency at one client, direct and with {} ms added each way between the functions \
         and PostgreSQL (a delaying TCP proxy). One round trip through it measured +{} ms \
         (`select 1`, p50 {} → {} ms); round trips = added p50 ÷ that:\n",
        ONE_WAY_DELAY.as_millis(),
        ms(round_trip),
        ms(calibration[0]),
        ms(calibration[1]),
    );
    println!(
        "{}",
        table(
            &[
                "route",
                "requests",
                "p50 ms",
                "p99 ms",
                "p50 delayed",
                "p99 delayed",
                "round trips",
                "per request"
            ],
            &rows
        )
    );
    Ok(())
}

/// What the contenders of one round saw.
struct Round {
    seconds: f64,
    holds: usize,
    conflicts: usize,
    bookings: usize,
}

async fn contention(w: &Workload) -> Result<()> {
    w.clear_calendars().await?;
    let gateway = Gateway::serve(w.context(CONTENDERS, None)?, w.db.jwks()).await?;
    let token: Arc<str> = w.db.token(&w.p.w.admin_of_b()).into();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONTENDERS)
        .build()?;
    let base: Arc<str> = gateway.base.as_str().into();
    let mut rounds = Vec::new();
    // Round 0 warms the pool and is not counted.
    for round in 0..=ROUNDS {
        let day = first_hour() + Hours::days(400 + round as i64) + Hours::hours(6);
        let step = Step {
            http: http.clone(),
            base: base.clone(),
            client: 0,
            iteration: 0,
        };
        let r = contend(w, &step, &token, day).await?;
        ensure!(
            r.bookings == SLOTS as usize,
            "round {round}: {} bookings",
            r.bookings
        );
        if round > 0 {
            rounds.push(r);
        }
    }
    let therapist = w.therapists[0];
    let booked: i64 =
        w.db.count(
            "select count(*) from app.sessions where clinician_id = $1 and status = 'scheduled'",
            &[&therapist],
        )
        .await;
    let held: i64 =
        w.db.count(
            "select count(*) from app.sessions where status = 'held'",
            &[],
        )
        .await;
    let overlaps: i64 =
        w.db.count(
            "select count(*) from app.sessions a join app.sessions b
               on a.id < b.id and a.during && b.during
              and (a.clinician_id = b.clinician_id or a.patient_id = b.patient_id)
             where a.status in ('held', 'scheduled') and b.status in ('held', 'scheduled')",
            &[],
        )
        .await;
    let expected = (SLOTS as usize * (ROUNDS + 1)) as i64;
    ensure!(
        booked == expected && held == 0 && overlaps == 0,
        "after contention: {booked} booked (expected {expected}), {held} held, {overlaps} overlapping pairs"
    );
    let seconds: f64 = rounds.iter().map(|r| r.seconds).sum();
    let bookings: usize = rounds.iter().map(|r| r.bookings).sum();
    let mut rates: Vec<f64> = rounds
        .iter()
        .map(|r| r.bookings as f64 / r.seconds)
        .collect();
    rates.sort_by(f64::total_cmp);
    let row = vec![
        ROUNDS.to_string(),
        bookings.to_string(),
        format!("{seconds:.2}"),
        format!("{:.0}", bookings as f64 / seconds),
        format!(
            "{:.0} / {:.0} / {:.0}",
            rates[0],
            rates[rates.len() / 2],
            rates[rates.len() - 1]
        ),
        rounds.iter().map(|r| r.holds).sum::<usize>().to_string(),
        rounds
            .iter()
            .map(|r| r.conflicts)
            .sum::<usize>()
            .to_string(),
        "0".into(),
        format!("{booked} of {expected}"),
        overlaps.to_string(),
    ];
    println!(
        "\nContention: {CONTENDERS} clients through the gateway (pool of {CONTENDERS}) compete \
         for {SLOTS} one-hour slots of one therapist, hold then confirm, each with a fresh \
         Idempotency-Key, until all are booked; {ROUNDS} rounds after a warm-up round. \
         Checked with SQL afterwards (every round, warm-up included):\n"
    );
    println!(
        "{}",
        table(
            &[
                "rounds",
                "bookings",
                "seconds",
                "bookings/s",
                "per round min / median / max",
                "holds tried",
                "409s",
                "other errors",
                "booked rows (SQL)",
                "overlapping pairs (SQL)"
            ],
            &[row]
        )
    );
    Ok(())
}

/// Holds `body`'s slot and confirms it as `service`, each with a fresh Idempotency-Key →
/// `false` when the hold lost a race (409); any other failure is an error.
async fn hold_and_confirm(step: &Step, token: &str, body: &Value, service: Uuid) -> Result<bool> {
    let hold_key = key();
    let held = request(
        step,
        Method::POST,
        "/sessions-hold",
        token,
        Some(&hold_key),
        Some(body),
    );
    let held = held.await?;
    if held.0 == 409 {
        return Ok(false);
    }
    let held: Value = serde_json::from_slice(&ok("/sessions-hold", held)?)?;
    let confirm = json!({"holdKey": held["holdKey"], "session": {"serviceId": service}});
    let confirm_key = key();
    let confirmed = request(
        step,
        Method::POST,
        "/sessions-confirm",
        token,
        Some(&confirm_key),
        Some(&confirm),
    );
    ok("/sessions-confirm", confirmed.await?)?;
    Ok(true)
}

/// One round: every contender picks a slot not yet booked at random, holds it and confirms
/// it, until all [`SLOTS`] are booked. A 409 is a lost race; anything else fails the bench.
async fn contend(w: &Workload, step: &Step, token: &Arc<str>, day: DateTime<Utc>) -> Result<Round> {
    const ALL: u32 = (1 << SLOTS) - 1;
    let booked = Arc::new(AtomicU32::new(0));
    let (holds, conflicts) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let contenders: Vec<_> = (0..CONTENDERS)
        .map(|client| {
            let step = Step {
                client,
                ..step.clone()
            };
            let (token, booked, holds, conflicts) = (
                token.clone(),
                booked.clone(),
                holds.clone(),
                conflicts.clone(),
            );
            let (therapist, patient, service) =
                (w.therapists[0], w.patients[client], w.p.w.service_b);
            tokio::spawn(async move {
                loop {
                    let free = !booked.load(Ordering::SeqCst) & ALL;
                    if free == 0 {
                        return Ok::<_, anyhow::Error>(());
                    }
                    let pick = {
                        let mut rng = rand::thread_rng();
                        let nth = rng.gen_range(0..free.count_ones());
                        (0..SLOTS)
                            .filter(|s| free & (1 << s) != 0)
                            .nth(nth as usize)
                    }
                    .context("a free slot")?;
                    let start = day + Hours::hours(pick as i64);
                    let body = slot(
                        therapist,
                        patient,
                        &start.to_rfc3339(),
                        &(start + Hours::minutes(50)).to_rfc3339(),
                    );
                    holds.fetch_add(1, Ordering::SeqCst);
                    if !hold_and_confirm(&step, &token, &body, service).await? {
                        conflicts.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    let before = booked.fetch_or(1 << pick, Ordering::SeqCst);
                    ensure!(before & (1 << pick) == 0, "slot {pick} was booked twice");
                }
            })
        })
        .collect();
    for contender in contenders {
        contender.await??;
    }
    Ok(Round {
        seconds: started.elapsed().as_secs_f64(),
        holds: holds.load(Ordering::SeqCst),
        conflicts: conflicts.load(Ordering::SeqCst),
        bookings: booked.load(Ordering::SeqCst).count_ones() as usize,
    })
}

/// Live sessions each benchmarked clinician and patient already has in the full-calendar case.
const LIVE_SESSIONS: i32 = 5_000;

/// Where floors/patients.sql takes the summary's filter, and the filter.
const MINE_MARK: &str =
    "    -- {mine}: the bench writes here, for /summary, the caller's own active care teams.";
const MINE_FILTER: &str = "    and p.id = any (array(select t.patient_id from app.care_team t
                          where t.org_id = (select auth.org_id())
                            and t.clinician_id = (select auth.uid()) and t.status = 'active'))";

/// A hot route's real statements beside what PostgreSQL needs for the same work.
struct Floor {
    route: Route,
    floor: Script,
    /// A read: the floor must answer the same bytes as the route's statement.
    same_bytes: bool,
}

impl Workload {
    /// Every hot route with its floor (tests/benches/floors/).
    fn floors(&self) -> Vec<Floor> {
        self.routes()
            .into_iter()
            .map(|route| {
                let (file, sql, extra): (&str, &str, Vec<(&'static str, String)>) =
                    match route.script.name.as_str() {
                        "hold_and_confirm" => {
                            ("booking", include_str!("floors/booking.sql"), vec![])
                        }
                        "tenant_doctors" => (
                            "tenant_doctors",
                            include_str!("floors/tenant_doctors.sql"),
                            vec![],
                        ),
                        "assign_patient" => (
                            "assign",
                            include_str!("floors/assign.sql"),
                            vec![("assignable", ASSIGNABLE.to_string())],
                        ),
                        "prescription_queue" => (
                            "queue",
                            include_str!("floors/queue.sql"),
                            vec![("page", "50".into())],
                        ),
                        _ => {
                            let summary = route.name.contains("summary");
                            (
                                if summary {
                                    "patients_summary"
                                } else {
                                    "patients_all"
                                },
                                include_str!("floors/patients.sql"),
                                vec![("page", "200".into()), ("summary", summary.to_string())],
                            )
                        }
                    };
                // The summary's filter is written into the text: as a parameter it would make
                // the floor's plan serve both pages, and neither well.
                let sql = if route.name.contains("summary") {
                    sql.replace(MINE_MARK, MINE_FILTER)
                } else {
                    sql.to_owned()
                };
                let mut vars = route.script.vars.clone();
                vars.extend(extra);
                Floor {
                    same_bytes: !route.books,
                    floor: Script {
                        name: format!("floor_{file}"),
                        sql,
                        vars,
                    },
                    route,
                }
            })
            .collect()
    }

    /// The booking floor's table: app.sessions' row shape, its two exclusion constraints, an
    /// RLS policy on the clinic.
    async fn create_floor_table(&self) -> Result<()> {
        self.db
            .admin
            .batch_execute(
                "create schema if not exists bench_floor;
                 create table if not exists bench_floor.sessions (like app.sessions
                   including defaults including constraints including indexes including generated);
                 alter table bench_floor.sessions enable row level security;
                 alter table bench_floor.sessions force row level security;
                 drop policy if exists \"the clinic's sessions\" on bench_floor.sessions;
                 create policy \"the clinic's sessions\" on bench_floor.sessions for all to app_user
                   using (org_id = (select auth.org_id())) with check (org_id = (select auth.org_id()));
                 grant usage on schema bench_floor to app_user;
                 grant select, insert on bench_floor.sessions to app_user;",
            )
            .await?;
        Ok(())
    }

    /// Empty calendars (both tables), or with [`LIVE_SESSIONS`] booked sessions for each
    /// benchmarked clinician and patient pair, far from the hours the benchmark books. Only the
    /// full calendars are analyzed: emptied ones keep a populated table's statistics, as a
    /// deployment's sessions table has (plans made for an empty table would scan it).
    async fn calendars(&self, full: bool) -> Result<()> {
        self.clear_calendars().await?;
        self.db
            .admin
            .batch_execute("delete from bench_floor.sessions")
            .await?;
        if full {
            self.db
                .admin
                .execute(
                    "insert into app.sessions (org_id, clinician_id, patient_id, status, during,
                                               created_by)
                     select $1, t, p, 'scheduled',
                            tstzrange(at, at + interval '50 minutes'), $1
                     from unnest($2::uuid[], $3::uuid[]) as pair (t, p),
                          generate_series(0, $4 - 1) k,
                          lateral (select timestamptz '2027-01-04' + k * interval '1 hour' as at) x
                     where t is not null and p is not null",
                    &[
                        &self.p.w.clinic_b,
                        &self.therapists,
                        &self.patients,
                        &LIVE_SESSIONS,
                    ],
                )
                .await?;
            self.db.admin.batch_execute("analyze app.sessions").await?;
        }
        Ok(())
    }
}

/// Runs a pgbench script once over `client` with its variables (and `fixed`, for `\set`
/// random ones) written in as literals: the text of the last row's first column.
async fn answer_of(
    client: &tokio_postgres::Client,
    script: &Script,
    fixed: &[(&str, &str)],
) -> Result<String> {
    let mut vars: Vec<(&str, String)> = script.vars.iter().map(|(n, v)| (*n, v.clone())).collect();
    vars.extend(fixed.iter().map(|(n, v)| (*n, v.to_string())));
    vars.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let commands: String = script
        .sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--") && !l.trim_start().starts_with('\\'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut last = None;
    for command in commands.split(";\n").filter(|c| !c.trim().is_empty()) {
        let mut sql = command.trim().trim_end_matches(';').to_owned();
        for (name, value) in &vars {
            sql = with_literal(&sql, name, value);
        }
        for message in client.simple_query(&sql).await? {
            if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                last = row.get(0).map(str::to_owned);
            }
        }
    }
    last.context("the script answered no row")
}

/// `sql` with every pgbench variable `:name` (not a `::cast`) replaced by `value` quoted.
fn with_literal(sql: &str, name: &str, value: &str) -> String {
    let pattern = format!(":{name}");
    let quoted = format!("'{}'", value.replace('\'', "''"));
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(&pattern) {
        let after = &rest[at + pattern.len()..];
        let is_var = !rest[..at].ends_with(':')
            && !after.starts_with(|c: char| c.is_alphanumeric() || c == '_');
        out.push_str(&rest[..at]);
        out.push_str(if is_var { &quoted } else { &pattern });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `cargo xtask bench floor`: each hot route's real statements and its floor, side by side at
/// 1 and 8 clients in one run (pgbench, `-M extended`, as `wardline_authenticator`), after
/// checking that each read floor answers the same bytes; then a booking into calendars of
/// [`LIVE_SESSIONS`] live sessions beside one into empty ones.
async fn floor(w: &Workload) -> Result<()> {
    let conninfo = w.db.config(|_| {}).db.url;
    let checker = xtask::connect(&conninfo).await?;
    let mut rows = Vec::new();
    let mut empty_booking = Vec::new();
    for case in w.floors() {
        if case.same_bytes {
            let fixed = [("i", "1")];
            let (real, floor) = (
                answer_of(&checker, &case.route.script, &fixed).await?,
                answer_of(&checker, &case.floor, &fixed).await?,
            );
            ensure!(
                real == floor,
                "{}: the floor answers other bytes than the route\n route: {real}\n floor: {floor}",
                case.route.name
            );
        }
        for clients in [1, 8] {
            w.calendars(false).await?;
            let real = pgbench(
                &conninfo,
                Protocol::Prepared,
                &case.route.script,
                clients,
                WARMUP,
                MEASURE,
            )
            .await?;
            w.calendars(false).await?;
            let floor = pgbench(
                &conninfo,
                Protocol::Prepared,
                &case.floor,
                clients,
                WARMUP,
                MEASURE,
            )
            .await?;
            if case.route.books {
                empty_booking.push(real);
            }
            rows.push(floor_row(&case.route.name, clients, real, floor));
        }
    }
    let booking = w
        .routes()
        .into_iter()
        .find(|r| r.books)
        .context("the booking route")?;
    let mut growth = Vec::new();
    for (clients, empty) in [1, 8].into_iter().zip(empty_booking) {
        w.calendars(true).await?;
        let full = pgbench(
            &conninfo,
            Protocol::Prepared,
            &booking.script,
            clients,
            WARMUP,
            MEASURE,
        )
        .await?;
        let row = vec![
            clients.to_string(),
            format!("{empty:.0}"),
            format!("{full:.0}"),
            format!("{:.2}", empty / full),
        ];
        eprintln!("  calendars | {}", row.join(" | "));
        growth.push(row);
    }
    w.calendars(false).await?;
    let pages = w.outside_the_page(&conninfo).await?;
    println!(
        "\nFloor: the route's statements and a hand-written floor (tests/benches/floors/) under the \
         same RLS, pgbench -M prepared as wardline_authenticator, {}s after {}s warm-up each:\n",
        MEASURE.as_secs(),
        WARMUP.as_secs()
    );
    println!(
        "{}",
        table(
            &[
                "route",
                "clients",
                "real /s",
                "real ms per unit",
                "floor /s",
                "floor ÷ real"
            ],
            &rows
        )
    );
    println!(
        "\nA booking (hold + confirm) with {LIVE_SESSIONS} live sessions for the clinician and for \
         the patient, beside one into empty calendars (cost ratio = empty /s ÷ full /s):\n"
    );
    println!(
        "{}",
        table(&["clients", "empty /s", "full /s", "cost ratio"], &growth)
    );
    println!(
        "\nThe patient pages, one client, as they are and with {LATER_PATIENTS} more patients \
         of the clinic, in care, after the page in name order (cost ratio = as is ÷ with more):\n"
    );
    println!(
        "{}",
        table(&["route", "as is /s", "with more /s", "cost ratio"], &pages)
    );
    Ok(())
}

/// Patients the page-growth case adds after the first page.
const LATER_PATIENTS: i32 = 45_000;

impl Workload {
    /// Each patient page at one client, as it is and with [`LATER_PATIENTS`] more patients
    /// of clinic A (each in the care of every clinician there) sorting after the page: a page
    /// must cost what its own rows cost. The extra patients go again afterwards.
    async fn outside_the_page(&self, conninfo: &str) -> Result<Vec<Vec<String>>> {
        let pages: Vec<Route> = self
            .routes()
            .into_iter()
            .filter(|r| r.name.starts_with("patients/"))
            .collect();
        let mut before = Vec::new();
        for page in &pages {
            before.push(
                pgbench(
                    conninfo,
                    Protocol::Prepared,
                    &page.script,
                    1,
                    WARMUP,
                    MEASURE,
                )
                .await?,
            );
        }
        self.db
            .admin
            .execute(
                "with later as (
                   insert into app.patients (org_id, first_name, last_name)
                   select $1, 'Later', 'Zz Later ' || n from generate_series(1, $2::int) n
                   returning id
                 )
                 insert into app.care_team (org_id, patient_id, clinician_id, assigned_by,
                                            updated_by)
                 select $1, later.id, m.clinician_id, m.clinician_id, m.clinician_id
                 from later, app.clinic_memberships m where m.org_id = $1",
                &[&self.p.w.clinic_a, &LATER_PATIENTS],
            )
            .await?;
        self.db
            .admin
            .batch_execute("analyze app.patients, app.care_team")
            .await?;
        let mut rows = Vec::new();
        for (page, before) in pages.iter().zip(before) {
            let after = pgbench(
                conninfo,
                Protocol::Prepared,
                &page.script,
                1,
                WARMUP,
                MEASURE,
            )
            .await?;
            let row = vec![
                page.name.clone(),
                format!("{before:.0}"),
                format!("{after:.0}"),
                format!("{:.2}", before / after),
            ];
            eprintln!("  outside the page | {}", row.join(" | "));
            rows.push(row);
        }
        self.db
            .admin
            .batch_execute(
                "delete from app.care_team t using app.patients p
                   where p.id = t.patient_id and p.first_name = 'Later';
                 delete from app.patients where first_name = 'Later';
                 analyze app.patients, app.care_team;",
            )
            .await?;
        Ok(rows)
    }
}

fn floor_row(name: &str, clients: usize, real: f64, floor: f64) -> Vec<String> {
    let row = vec![
        name.to_owned(),
        clients.to_string(),
        format!("{real:.0}"),
        format!("{:.2}", 1000.0 * clients as f64 / real),
        format!("{floor:.0}"),
        format!("{:.2}", floor / real),
    ];
    eprintln!("  {}", row.join(" | "));
    row
}
