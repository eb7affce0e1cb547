//! `cargo xtask local | psql | migrate | token | routes | test | smoke | fuzz-api | bench` — see
//! README.md.

use anyhow::{bail, Context as _, Result};
use std::{process::Command, sync::Arc};
use xtask::{
    demo, pg,
    stack::{self, Database, Stack},
    tools::{python_module, python_tool, python_tool_in},
    workspace_root,
};

const USAGE: &str = "usage:
  cargo xtask local [--port 3000]          private PostgreSQL + every function on 127.0.0.1
  cargo xtask psql [<psql args>…]          psql as superuser on the local stack's database
  cargo xtask migrate                      apply db/ to DATABASE_URL (an admin URL)
  cargo xtask token --org <slug> --as <email> [--ttl <seconds>]
  cargo xtask audit-verify [--database-url URL] [--bucket B] [--endpoint URL]
                                           recompute every audit chain, hold it to its S3 anchors
  cargo xtask routes                       write Cargo.toml's router and template.yaml's events from the route tables
  cargo xtask test                         fmt, clippy -D warnings, every test, smoke, lint, typed client
  cargo xtask client                       regenerate the TypeScript client's types, type-check its example
  cargo xtask lint                         cfn-lint (serverless rules) and sam validate --lint on template.yaml, openapi.yaml's validator
  cargo xtask build-check [--arm64] [<fn>…]  build as sam build does; the artifact's panic strategy must be the profile's
  cargo xtask smoke                        every HTTP function's binary behind cargo lambda watch, called once
  cargo xtask fuzz-api [--max-examples N]  schemathesis against the local stack, from /openapi.json
  cargo xtask bench [<filter>]             the benchmarks (criterion), against a private PostgreSQL
  cargo xtask bench throughput|delay|contention   load through the local gateway (tests/benches/load.rs)
  cargo xtask bench floor                  each hot route's SQL beside a hand-written floor (tests/benches/floors/)
  cargo xtask bench cold-start [<fn>…]     release binaries: stripped sizes, spawn to first answer";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match args.first().map(String::as_str) {
        Some("local") => {
            let port = flag("--port").unwrap_or_else(|| "3000".into()).parse()?;
            tokio::runtime::Runtime::new()?.block_on(local(port))
        }
        Some("token") => {
            let (Some(org), Some(email)) = (flag("--org"), flag("--as")) else {
                bail!("{USAGE}");
            };
            let ttl = flag("--ttl").unwrap_or_else(|| "43200".into()).parse()?;
            let keys = stack::dev_keys()?;
            println!("{}", keys.mint(&demo::identity(&org, &email)?, ttl)?);
            Ok(())
        }
        Some("psql") => psql(&args[1..]),
        Some("migrate") => tokio::runtime::Runtime::new()?.block_on(migrate()),
        Some("routes") => xtask::routes::write(),
        Some("audit-verify") => {
            let ok =
                tokio::runtime::Runtime::new()?.block_on(xtask::audit_verify::run(&args[1..]))?;
            if !ok {
                std::process::exit(1);
            }
            Ok(())
        }
        Some("test") => test(),
        Some("client") => xtask::typed_client::check(),
        Some("lint") => lint(),
        Some("fuzz-api") => {
            let max_examples = flag("--max-examples")
                .unwrap_or_else(|| "25".into())
                .parse()?;
            tokio::runtime::Runtime::new()?.block_on(xtask::fuzz::run(max_examples))
        }
        Some("build-check") => xtask::build_check::run(&args[1..]),
        Some("smoke") => tokio::runtime::Runtime::new()?.block_on(xtask::smoke::run()),
        Some("bench") if args.get(1).is_some_and(|a| a == "cold-start") => {
            pg::server_binaries()?;
            tokio::runtime::Runtime::new()?.block_on(xtask::cold_start::run(&args[2..]))
        }
        Some("bench") => bench(args.get(1).map(String::as_str)),
        _ => bail!("{USAGE}"),
    }
}

async fn migrate() -> Result<()> {
    let config = wardline_shared::config::DbConfig::from_lookup(|name| std::env::var(name).ok())?;
    let db = wardline_shared::db::Db::new(&config)?;
    let mut admin = db.client().await?;
    let report = wardline_shared::migrate::apply(&mut admin).await?;
    println!("{report}");
    if let Ok(password) = std::env::var("WARDLINE_AUTHENTICATOR_PASSWORD") {
        wardline_shared::migrate::set_authenticator_password(&admin, &password).await?;
        println!("wardline_authenticator's password set");
    }
    Ok(())
}

/// psql on the local stack's database as its superuser: `DATABASE_URL` when set, else the
/// cluster of a running `cargo xtask local`; when none runs, the cluster is started (migrated
/// and seeded, as `local` would) for this psql session only.
fn psql(args: &[String]) -> Result<()> {
    let psql = pg::server_binaries()?.join("psql");
    let run = |url: &str| -> Result<()> {
        let status = Command::new(&psql)
            .arg(url)
            .args(args)
            .status()
            .context("running psql")?;
        if !status.success() {
            bail!("psql exited with {status}");
        }
        Ok(())
    };
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return run(&url);
    }
    if let Some(port) = pg::running_port(&stack::dev_cluster_dir()) {
        return run(&format!("postgres://postgres@127.0.0.1:{port}/wardline"));
    }
    eprintln!(
        "The local stack's database is not running: starting it for this psql session only \
         (`cargo xtask local` keeps it up with the functions)."
    );
    let runtime = tokio::runtime::Runtime::new()?;
    let stack = runtime.block_on(Stack::start(Database::Dev))?;
    let result = run(&stack.admin_url);
    stack.stop()?;
    result
}

async fn local(port: u16) -> Result<()> {
    let stack = Stack::start(Database::Dev).await?;
    // Swagger UI for /docs, from the npm registry on first use; the API works without it.
    if let Err(e) = tokio::task::block_in_place(xtask::api_reference::install) {
        eprintln!("the API reference page (/docs) is off: {e:#}");
    }
    let keys = &stack.keys;
    let base = format!("http://127.0.0.1:{port}");
    let jwks_url = format!("{base}/.well-known/jwks.json");
    // For `cargo lambda watch --env-file target/wardline-dev/watch.env` (README).
    let watch_env = xtask::target_dir().join("wardline-dev").join("watch.env");
    xtask::smoke::write_env_file(&stack.env(&jwks_url), &watch_env)?;
    wardline_shared::telemetry::init();
    // The moto guard keeps S3 and Secrets Manager up (and stops them on exit) with the stack.
    let (ctx, moto) = stack::gateway_context(&stack, &jwks_url).await?;
    let ctx = Arc::new(ctx);
    // audit-anchor's schedule, locally: every chain head that changed, to moto's Object Lock
    // bucket each minute, so the trail's export and `cargo xtask audit-verify` have anchors.
    if let Some(anchors) = ctx.extensions.get::<audit_anchor::Anchors>().cloned() {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                if let Err(e) = audit_anchor::anchor(&ctx, &anchors, "local-anchor").await {
                    eprintln!("anchoring the audit chains failed: {e}");
                }
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("port {port} is taken; pass --port"))?;

    let dana = keys.mint(&demo::identity("maple", "dana@wardline.example")?, 43_200)?;
    let avery = keys.mint(&demo::identity("maple", "avery@maple.example")?, 43_200)?;
    let sam = keys.mint(&demo::identity("maple", "sam@maple.example")?, 43_200)?;
    println!("\nWardline is up on {base} (Ctrl-C stops everything)\n");
    if stack.owns_cluster() {
        println!(
            "# PostgreSQL (superuser; `cargo xtask psql` opens it), and as the functions log in:"
        );
        println!("{}\n{}\n", stack.admin_url, stack.app_url);
    } else {
        println!(
            "# PostgreSQL: DATABASE_URL's server; the functions log in as wardline_authenticator\n"
        );
    }
    println!("# API reference: {base}/docs (the description itself: {base}/openapi.json)\n");
    println!("# Dana (therapist in maple and harbor), colleagues at maple:");
    println!(
        "curl -s -H 'Authorization: Bearer {dana}' {base}/v2/doctor/patients/tenant-doctors\n"
    );
    println!("# Avery (maple admin):");
    println!(
        "curl -s -H 'Authorization: Bearer {avery}' {base}/v2/doctor/patients/tenant-doctors\n"
    );
    println!(
        "# Maple's audit trail (every read of PHI is an event), and its export verified against\n\
         # the chain heads anchored each minute; the same check over every chain from outside:"
    );
    println!("curl -s -H 'Authorization: Bearer {avery}' '{base}/api/admin/audit?limit=5'");
    println!("curl -s -H 'Authorization: Bearer {avery}' {base}/api/admin/audit/export");
    if let Some(moto) = &moto {
        println!(
            "cargo xtask audit-verify --bucket {} --endpoint {}\n",
            stack::ANCHOR_BUCKET,
            moto.endpoint
        );
    }
    let (jordan, therapy) = (demo::PATIENTS[0].id, demo::SERVICES[0].id);
    println!(
        "# Dana holds Tuesday 10:00–11:00 (maple's time zone) for Jordan, then confirms it as \
         psychotherapy (90837: one unit; 10:00–10:50 would be one unit of 90834):"
    );
    println!(
        "curl -s -H 'Authorization: Bearer {dana}' -H 'Idempotency-Key: demo-hold-1' \\\n  \
         -d '{{\"therapist_id\": \"{}\", \"client_id\": \"{jordan}\", \
         \"start_time\": \"2027-03-02T10:00\", \"end_time\": \"2027-03-02T11:00\"}}' \\\n  \
         {base}/sessions-hold",
        demo::CLINICIANS[1].id
    );
    println!(
        "curl -s -H 'Authorization: Bearer {dana}' -H 'Idempotency-Key: demo-confirm-1' \\\n  \
         -d '{{\"holdKey\": \"<holdKey from above>\", \"session\": {{\"serviceId\": \"{therapy}\"}}}}' \\\n  \
         {base}/sessions-confirm"
    );
    println!(
        "curl -s -H 'Authorization: Bearer {dana}' \\\n  \
         '{base}/schedule?from=2027-03-01T00:00:00Z&to=2027-03-08T00:00:00Z'\n"
    );
    println!(
        "# Dana's free hours at maple (Monday to Thursday, 09:00–17:00 New York), around her\n\
         # sessions in both clinics; then her hours and time off:"
    );
    println!(
        "curl -s -H 'Authorization: Bearer {dana}' \\\n  \
         '{base}/availability?clinicianId={dana_id}&from=2027-03-01T00:00:00Z&to=2027-03-08T00:00:00Z&duration=60'",
        dana_id = demo::CLINICIANS[1].id
    );
    println!(
        "curl -s -H 'Authorization: Bearer {dana}' {base}/clinicians/{}/availability\n",
        demo::CLINICIANS[1].id
    );
    println!(
        "# Care teams: Dana's patients with their clinicians; Avery adds Dana to Morgan's team:"
    );
    println!(
        "curl -s -H 'Authorization: Bearer {dana}' '{base}/v2/doctor/patients/summary?limit=20'"
    );
    println!(
        "curl -s -H 'Authorization: Bearer {avery}' \\\n  \
         -d '{{\"patientId\": \"{}\", \"targetDoctorId\": \"{}\"}}' \\\n  \
         {base}/v2/doctor/patients/assign",
        demo::PATIENTS[1].id,
        demo::CLINICIANS[1].id
    );
    println!("curl -s -H 'Authorization: Bearer {avery}' {base}/api/admin/feature-flags");
    println!("curl -s -H 'Authorization: Bearer {avery}' {base}/api/admin/clinic");
    println!(
        "curl -s -X PATCH -H 'Authorization: Bearer {avery}' -d '{{\"lateCancelHours\": 48}}' \\\n  \
         {base}/api/admin/clinic"
    );
    println!("curl -s -H 'Authorization: Bearer {avery}' {base}/api/admin/services\n");
    println!(
        "# Jordan signs in to maple's portal: the code appears in this log within seconds\n\
         # (message-sender in log mode), then verify it and read the profile:"
    );
    let portal = "-H 'Host: maple.portal.localhost' -H 'Content-Type: application/json'";
    println!(
        "curl -s {portal} -d '{{\"email\": \"{}\"}}' {base}/api/portal/auth/otp",
        demo::PATIENTS[0].email
    );
    println!(
        "curl -s {portal} -d '{{\"email\": \"{}\", \"code\": \"<code>\"}}' \\\n  \
         {base}/api/portal/auth/verify",
        demo::PATIENTS[0].email
    );
    println!("curl -s {portal} -H 'Authorization: Bearer <accessToken>' {base}/api/portal/me\n");
    println!(
        "# Jordan is Riley's parent: the sign-in lists both; act for Riley (then /api/portal/me\n\
         # is Riley's), and Sam lists Riley's guardians (or ends it: POST /guardianships/<id>/end):"
    );
    println!(
        "curl -s {portal} -H 'Authorization: Bearer <accessToken>' \\\n  \
         -d '{{\"patientId\": \"{}\"}}' {base}/api/portal/auth/act-for",
        demo::RILEY
    );
    println!(
        "curl -s -H 'Authorization: Bearer {sam}' {base}/clients/{}/guardians\n",
        demo::RILEY
    );
    println!(
        "# Jordan's referral link (a random code, nothing about Jordan); Avery invites a friend\n\
         # with its code, and Jordan's link then counts one:"
    );
    println!(
        "curl -s -X POST {portal} -H 'Authorization: Bearer <accessToken>' {base}/api/portal/referrals"
    );
    println!(
        "curl -s -H 'Authorization: Bearer {avery}' \\\n  \
         -d '{{\"firstName\": \"Alex\", \"lastName\": \"Friend\", \"email\": \"alex@patients.example\", \
         \"referralCode\": \"<code>\"}}' \\\n  {base}/v2/doctor/patients/invite\n"
    );
    let (jordans, morgans) = (demo::JORDANS_SESSION, demo::MORGANS_PAST_SESSION);
    let appointment = format!("{base}/api/portal/appointments/{jordans}");
    println!(
        "# Jordan's appointments: confirm Tuesday's, ask to move it (or cancel it: Morgan, on\n\
         # Sam's waitlist, then gets an offer of its time at GET {base}/api/portal/waitlist):"
    );
    println!(
        "curl -s {portal} -H 'Authorization: Bearer <accessToken>' {base}/api/portal/appointments"
    );
    println!(
        "curl -s -X POST {portal} -H 'Authorization: Bearer <accessToken>' {appointment}/confirm"
    );
    println!(
        "curl -s {portal} -H 'Authorization: Bearer <accessToken>' \\\n  \
         -d '{{\"startTimes\": [\"2027-03-10T15:00:00Z\"], \"note\": \"Afternoons suit me\"}}' \\\n  \
         {appointment}/reschedule-request"
    );
    println!(
        "curl -s -X POST {portal} -H 'Authorization: Bearer <accessToken>' {appointment}/cancel"
    );
    println!(
        "curl -s {portal} -H 'Authorization: Bearer <accessToken>' \\\n  \
         -d '{{\"clinicianId\": \"{}\", \"earliest\": \"2027-03-01T00:00:00Z\", \
         \"latest\": \"2027-03-31T00:00:00Z\"}}' {base}/api/portal/waitlist",
        demo::CLINICIANS[2].id
    );
    println!(
        "curl -s -X POST {portal} -H 'Authorization: Bearer <accessToken>' \\\n  \
         {base}/api/portal/waitlist/<entry id>/claim\n"
    );
    println!(
        "# Sam approves Jordan's request, or moves the session himself; records Morgan's \
         attendance;\n# reads Jordan's page:"
    );
    println!("curl -s -H 'Authorization: Bearer {sam}' {base}/reschedule-requests");
    println!(
        "curl -s -H 'Authorization: Bearer {sam}' -d '{{\"startTime\": \"2027-03-10T15:00:00Z\"}}' \\\n  \
         {base}/reschedule-requests/<request id>/approve"
    );
    println!(
        "curl -s -H 'Authorization: Bearer {sam}' \\\n  \
         -d '{{\"start_time\": \"2027-03-11T15:00:00Z\", \"end_time\": \"2027-03-11T15:50:00Z\"}}' \\\n  \
         {base}/sessions/{jordans}/reschedule"
    );
    println!("curl -s -X POST -H 'Authorization: Bearer {sam}' {base}/sessions/{morgans}/no-show");
    println!(
        "curl -s -H 'Authorization: Bearer {sam}' {base}/clients/{}\n",
        demo::PATIENTS[0].id
    );
    let thread = demo::JORDANS_THREAD;
    println!("# Jordan's conversation with the care team, from both sides (sealed at rest):");
    println!("curl -s {portal} -H 'Authorization: Bearer <accessToken>' {base}/api/portal/threads");
    println!(
        "curl -s {portal} -H 'Authorization: Bearer <accessToken>' \\\n  \
         -d '{{\"body\": \"Thank you!\"}}' {base}/api/portal/threads/{thread}/messages"
    );
    println!("curl -s -H 'Authorization: Bearer {sam}' {base}/inbox");
    println!("curl -s -H 'Authorization: Bearer {sam}' {base}/threads/{thread}/messages");
    println!(
        "curl -s -H 'Authorization: Bearer {sam}' -d '{{\"body\": \"See you then.\"}}' \\\n  \
         {base}/threads/{thread}/messages"
    );
    println!("curl -s -X POST -H 'Authorization: Bearer {sam}' {base}/threads/{thread}/close\n");
    let (tasks, jordan) = (demo::JORDANS_TASKS, demo::PATIENTS[0].id);
    println!(
        "# Intake: Jordan's tasks (the PHQ-9 pins version 1 of its form, and answers are checked\n\
         # against it, then sealed); Sam reads what was handed in (audited) and returns it:"
    );
    println!("curl -s {portal} -H 'Authorization: Bearer <accessToken>' {base}/api/portal/tasks");
    println!(
        "curl -s {portal} -H 'Authorization: Bearer <accessToken>' \\\n  \
         -d '{{\"formVersionId\": \"{}\", \"answers\": {{\"phq9\": 9}}}}' \\\n  \
         {base}/api/portal/tasks/{}/submission",
        demo::FORM_VERSIONS[0],
        tasks[0]
    );
    println!("curl -s -H 'Authorization: Bearer {sam}' {base}/clients/{jordan}/tasks");
    println!(
        "curl -s -H 'Authorization: Bearer {sam}' {base}/tasks/{}/submission",
        tasks[3]
    );
    println!(
        "curl -s -H 'Authorization: Bearer {sam}' -d '{{\"comment\": \"Please list your medications.\"}}' \\\n  \
         {base}/tasks/{}/return",
        tasks[3]
    );
    println!("curl -s -H 'Authorization: Bearer {avery}' {base}/forms\n");
    println!(
        "# Dana's prescription queue across maple and harbor, then she approves harbor's order\n\
         # (harbor's letterhead, pharmacy account and her harbor DEA, whatever her token's clinic):"
    );
    println!("curl -s -H 'Authorization: Bearer {dana}' {base}/api/provider/prescription-queue");
    println!(
        "curl -s -X POST -H 'Authorization: Bearer {dana}' {base}/api/orders/{}/approve-and-send\n",
        demo::ORDERS[1]
    );
    println!(
        "# Avery's RX queue (maple's invoices, refills and orders), Avery approving Jordan's \
         refill,\n# and queueing an order for Dana alone (her queue shows it; no other \
         prescriber's does):"
    );
    println!("curl -s -H 'Authorization: Bearer {avery}' {base}/api/admin/prescription-queue");
    println!(
        "curl -s -X POST -H 'Authorization: Bearer {avery}' {base}/api/admin/refills/{}/approve",
        demo::REFILLS[1]
    );
    println!(
        "curl -s -H 'Authorization: Bearer {avery}' -H 'Idempotency-Key: demo-order-1' \\\n  \
         -d '{{\"patientId\": \"{}\", \"providerId\": \"{}\", \"medication\": \"Escitalopram\", \
         \"strength\": \"10 mg\", \"quantity\": \"30 tablets\", \"directions\": \"One every \
         morning.\"}}' \\\n  {base}/api/admin/orders\n",
        demo::PATIENTS[1].id,
        demo::DANA_PROVIDER
    );
    println!("# Other identities: cargo xtask token --org harbor --as lee@harbor.example\n");

    // hold-cleanup runs every minute in production; here too.
    let sweeper = ctx.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            if let Err(e) = hold_cleanup::sweep(&sweeper, "local-sweep").await {
                eprintln!("hold-cleanup: {e}");
            }
        }
    });

    // session-reminders runs every 5 minutes in production; here every minute.
    let reminders = ctx.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            if let Err(e) = session_reminders::queue(&reminders, "local-reminders").await {
                eprintln!("session-reminders: {e}");
            }
        }
    });

    // message-sender runs every minute in production; here every 5 s, logging instead of
    // sending.
    let settings = message_sender::Settings::from_lookup(stack.lookup(&jwks_url))?;
    let sender = message_sender::Sender::new(settings)?;
    let outbox = ctx.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            if let Err(e) = message_sender::deliver(&outbox, &sender, "local-sender").await {
                eprintln!("message-sender: {e}");
            }
        }
    });

    axum::serve(listener, xtask::gateway::router(ctx, keys.jwks()?)?)
        .with_graceful_shutdown(async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                eprintln!("waiting for Ctrl-C failed: {e}");
            }
        })
        .await?;
    stack.stop()?;
    println!("stopped");
    Ok(())
}

/// The criterion benchmarks in `tests/benches/`, each against its own throwaway cluster.
fn bench(filter: Option<&str>) -> Result<()> {
    pg::server_binaries()?;
    let mut cargo = Command::new(env!("CARGO"));
    xtask::without_xtask_env(&mut cargo)
        .args(["bench", "-p", "wardline-tests"])
        .current_dir(workspace_root());
    match filter {
        // The load benchmarks by name run only their own target (tests/benches/load.rs).
        Some(load @ ("throughput" | "delay" | "contention" | "floor")) => {
            cargo.args(["--bench", "load", "--", load])
        }
        _ => cargo.args(["--benches", "--"]).args(filter),
    };
    if !cargo.status().context("running cargo bench")?.success() {
        bail!("cargo xtask bench failed");
    }
    Ok(())
}

/// Everything CI runs.
fn test() -> Result<()> {
    pg::server_binaries()?;
    let root = workspace_root();
    let steps: &[(&str, &[&str])] = &[
        ("format", &["fmt", "--all", "--", "--check"]),
        (
            "lint",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
        ("test", &["test", "--workspace", "--no-fail-fast"]),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, args) in steps {
        println!("== cargo xtask test: {name}");
        let mut child = xtask::without_xtask_env(&mut Command::new(env!("CARGO")))
            .args(*args)
            .current_dir(&root)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("running cargo {}", args.join(" ")))?;
        // Echo libtest's output while counting its results for the closing line.
        if let Some(stdout) = child.stdout.take() {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let line = line?;
                println!("{line}");
                if let Some((p, f)) = libtest_counts(&line) {
                    passed += p;
                    failed += f;
                }
            }
        }
        if !child.wait()?.success() {
            println!("{passed} passed, {failed} failed");
            bail!("cargo xtask test: {name} failed");
        }
    }
    // The real binaries behind cargo-lambda's server and the workspace router (~15 s warm).
    println!("== cargo xtask test: smoke");
    tokio::runtime::Runtime::new()?.block_on(xtask::smoke::run())?;
    lint()?;
    // openapi.yaml → TypeScript types → the example client under `tsc --strict` (~10 s warm).
    println!("== cargo xtask test: typed client");
    xtask::typed_client::check()?;
    println!("== cargo xtask test: all passed");
    println!("{passed} passed, {failed} failed");
    Ok(())
}

/// The deployment and the API description, linted: cfn-lint with the serverless rules and
/// `sam validate --lint` on template.yaml, openapi-spec-validator on openapi.yaml (~20 s once
/// the tools are installed). Part of `cargo xtask test`, and `cargo xtask lint` alone.
fn lint() -> Result<()> {
    let root = workspace_root();
    println!("== cargo xtask test: template");
    let mut lint = Command::new(python_tool("cfn-lint", "cfn-lint==1.58.0")?);
    python_module("cfn_lint_serverless", "cfn-lint-serverless==0.3.6")?;
    // The serverless rules too (log retention, tracing, …); the template's Metadata lists
    // the one it ignores and why.
    lint.args(["--append-rules", "cfn_lint_serverless.rules", "--"])
        .arg(root.join("template.yaml"));
    pg::run_quiet(lint).context("cfn-lint template.yaml")?;
    // What SAM itself says (its transform and its own cfn-lint), offline: no AWS account is
    // asked. aws-sam-cli has a venv of its own (~340 MB; its pins would move the shared one's).
    let mut validate = Command::new(python_tool_in("sam-venv", "sam", "aws-sam-cli==1.170.0")?);
    validate
        .args(["validate", "--lint", "--template"])
        .arg(root.join("template.yaml"))
        .env("SAM_CLI_TELEMETRY", "0")
        .env(
            "AWS_DEFAULT_REGION",
            std::env::var("AWS_DEFAULT_REGION").unwrap_or_else(|_| "us-east-1".into()),
        );
    pg::run_quiet(validate).context("sam validate --lint template.yaml")?;
    println!("== cargo xtask test: API description");
    let mut lint = Command::new(python_tool(
        "openapi-spec-validator",
        "openapi-spec-validator==0.9.0",
    )?);
    lint.arg(root.join("openapi.yaml"));
    pg::run_quiet(lint).context("openapi-spec-validator openapi.yaml")
}

/// `test result: ok. 7 passed; 0 failed; …` → (7, 0).
fn libtest_counts(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("test result: ")?;
    let number_before = |word: &str| {
        rest.split(';')
            .find_map(|part| part.trim().strip_suffix(word))
            .and_then(|n| n.trim().rsplit(' ').next()?.parse().ok())
    };
    Some((number_before(" passed")?, number_before(" failed")?))
}
