//! `cargo xtask local | token | test | bench` — see README.md.

use anyhow::{bail, Context as _, Result};
use std::{collections::HashMap, process::Command, sync::Arc};
use xtask::{demo, keys, pg, target_dir, tools::python_tool, workspace_root};

const USAGE: &str = "usage:
  cargo xtask local [--port 3000]          private PostgreSQL + every function on 127.0.0.1
  cargo xtask migrate                      apply sql/ and policies/ to DATABASE_URL (an admin URL)
  cargo xtask token --org <slug> --as <email> [--ttl <seconds>]
  cargo xtask test                         fmt, clippy -D warnings, every test
  cargo xtask bench [<filter>]             the benchmarks (criterion), against a private PostgreSQL";

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
            let keys = keys::DevKeys::load_or_create(&dev_key_path())?;
            println!("{}", keys.mint(&demo::identity(&org, &email)?, ttl)?);
            Ok(())
        }
        Some("migrate") => tokio::runtime::Runtime::new()?.block_on(migrate()),
        Some("test") => test(),
        Some("bench") => bench(args.get(1).map(String::as_str)),
        _ => bail!("{USAGE}"),
    }
}

async fn migrate() -> Result<()> {
    let config = wardline_shared::config::DbConfig::from_lookup(|name| std::env::var(name).ok())?;
    let db = wardline_shared::db::Db::new(&config)?;
    let mut admin = db.client().await?;
    let report = wardline_shared::migrate::apply(&mut admin).await?;
    println!(
        "migrations applied: {:?}, policies applied: {:?}",
        report.migrations, report.policies
    );
    Ok(())
}

fn dev_key_path() -> std::path::PathBuf {
    target_dir().join("wardline-dev").join("dev-es256.pem")
}

/// The local stack's notes key (never used anywhere else); WARDLINE_NOTES_KEYS overrides it.
const DEV_NOTES_KEY: &str = "dev-1:ZGV2LW9ubHktbm90ZXMta2V5LWRvLW5vdC1kZXBsb3k=";
/// The local stack's OTP HMAC key and Twilio token (never used anywhere else).
const DEV_OTP_KEY: &str = "ZGV2LW9ubHktb3RwLWhtYWMta2V5LWRvLW5vdC1kZXBsb3k=";
const DEV_TWILIO_TOKEN: &str = "dev-only-twilio-auth-token";

async fn local(port: u16) -> Result<()> {
    let (admin_url, app_url, cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let db = url
                .parse::<tokio_postgres::Config>()?
                .get_dbname()
                .unwrap_or("wardline")
                .to_owned();
            (
                url.clone(),
                xtask::with_database(&url, &db, Some("wardline_authenticator"))?,
                None,
            )
        }
        Err(_) => {
            let cluster = pg::Cluster::start(
                &target_dir().join("wardline-dev").join("pg"),
                pg::Durability::Durable,
            )?;
            let admin = xtask::connect(&cluster.admin_url("postgres")).await?;
            if admin
                .query_opt("select 1 from pg_database where datname = 'wardline'", &[])
                .await?
                .is_none()
            {
                admin.batch_execute("create database wardline").await?;
            }
            (
                cluster.admin_url("wardline"),
                cluster.app_url("wardline"),
                Some(cluster),
            )
        }
    };
    let mut admin = xtask::connect(&admin_url).await?;
    let report = wardline_shared::migrate::apply(&mut admin)
        .await
        .context("applying sql/ and policies/")?;
    println!(
        "migrations applied: {:?}, policies applied: {:?}",
        report.migrations, report.policies
    );
    demo::seed(&admin).await.context("seeding demo data")?;

    let keys = keys::DevKeys::load_or_create(&dev_key_path())?;
    let portal_key =
        keys::DevKeys::load_or_create(&target_dir().join("wardline-dev").join("portal-es256.pem"))?;
    let base = format!("http://127.0.0.1:{port}");
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", app_url),
        ("WARDLINE_DB_SSLMODE", "disable".into()),
        ("WARDLINE_JWKS_URL", format!("{base}/.well-known/jwks.json")),
        ("WARDLINE_JWT_ISSUER", keys::ISSUER.into()),
        ("WARDLINE_JWT_AUDIENCE", keys::AUDIENCE.into()),
        (
            "WARDLINE_NOTES_KEYS",
            std::env::var("WARDLINE_NOTES_KEYS").unwrap_or_else(|_| DEV_NOTES_KEY.into()),
        ),
        // Portals at {slug}.portal.localhost: curl with -H 'Host: maple.portal.localhost'.
        ("WARDLINE_PORTAL_SIGNING_KEY", portal_key.pem().to_owned()),
        ("WARDLINE_OTP_KEY", DEV_OTP_KEY.into()),
        ("WARDLINE_PORTAL_BASE_DOMAIN", "localhost".into()),
        ("WARDLINE_TWILIO_AUTH_TOKEN", DEV_TWILIO_TOKEN.into()),
        ("WARDLINE_MESSAGES_MODE", "log".into()),
    ]);
    // The local wiring wins; any other setting (WARDLINE_LOG, WARDLINE_MAX_BODY_BYTES, …)
    // comes from the environment as in production.
    let config = wardline_shared::config::Config::from_lookup(|k| {
        env.get(k).cloned().or_else(|| std::env::var(k).ok())
    })?;
    wardline_shared::telemetry::init();
    let mut ctx = wardline_shared::Context::new(config)?;
    // Kept alive (and stopped on exit) with the stack.
    let _moto = match prescribing().await {
        Ok((moto, outside)) => {
            ctx.extensions.insert(outside);
            Some(moto)
        }
        Err(e) => {
            eprintln!("approve-and-send is off (moto could not start): {e:#}");
            None
        }
    };
    let ctx = Arc::new(ctx);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("port {port} is taken; pass --port"))?;

    let dana = keys.mint(&demo::identity("maple", "dana@wardline.example")?, 43_200)?;
    let avery = keys.mint(&demo::identity("maple", "avery@maple.example")?, 43_200)?;
    println!("\nWardline is up on {base} (Ctrl-C stops everything)\n");
    println!("# Dana (therapist in maple and harbor), colleagues at maple:");
    println!(
        "curl -s -H 'Authorization: Bearer {dana}' {base}/v2/doctor/patients/tenant-doctors\n"
    );
    println!("# Avery (maple admin):");
    println!(
        "curl -s -H 'Authorization: Bearer {avery}' {base}/v2/doctor/patients/tenant-doctors\n"
    );
    let (jordan, therapy) = (demo::PATIENTS[0].id, demo::SERVICES[0].id);
    println!("# Dana holds Tuesday 10:00–10:50 (maple's time zone) for Jordan, then confirms it:");
    println!(
        "curl -s -H 'Authorization: Bearer {dana}' -H 'Idempotency-Key: demo-hold-1' \\\n  \
         -d '{{\"therapist_id\": \"{}\", \"client_id\": \"{jordan}\", \
         \"start_time\": \"2027-03-02T10:00\", \"end_time\": \"2027-03-02T10:50\"}}' \\\n  \
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
    println!("curl -s -H 'Authorization: Bearer {avery}' {base}/api/admin/feature-flags\n");
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
        "# Dana's prescription queue across maple and harbor, then she approves harbor's order\n\
         # (harbor's letterhead, pharmacy account and her harbor DEA, whatever her token's clinic):"
    );
    println!("curl -s -H 'Authorization: Bearer {dana}' {base}/api/provider/prescription-queue");
    println!(
        "curl -s -X POST -H 'Authorization: Bearer {dana}' {base}/api/orders/{}/approve-and-send\n",
        demo::ORDERS[1]
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

    // message-sender runs every minute in production; here every 5 s, logging instead of
    // sending.
    let settings = message_sender::Settings::from_lookup(|k| {
        env.get(k).cloned().or_else(|| std::env::var(k).ok())
    })?;
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

    axum::serve(listener, xtask::gateway::router(ctx, keys.jwks()?))
        .with_graceful_shutdown(async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                eprintln!("waiting for Ctrl-C failed: {e}");
            }
        })
        .await?;
    if let Some(cluster) = cluster {
        cluster.stop()?;
    }
    println!("stopped");
    Ok(())
}

/// The criterion benchmarks in `tests/benches/`, each against its own throwaway cluster.
fn bench(filter: Option<&str>) -> Result<()> {
    pg::server_binaries()?;
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["bench", "-p", "wardline-tests", "--benches", "--"])
        .args(filter)
        .current_dir(workspace_root());
    if !cargo.status().context("running cargo bench")?.success() {
        bail!("cargo xtask bench failed");
    }
    Ok(())
}

/// The local stack's prescription outside world: moto's S3 (bucket `wardline-prescriptions`)
/// and Secrets Manager holding each demo clinic's pharmacy account, and the pharmacy stand-in.
async fn prescribing() -> Result<(xtask::moto::Moto, provider_queue::Outside)> {
    const BUCKET: &str = "wardline-prescriptions";
    let moto = tokio::task::block_in_place(xtask::moto::Moto::start)?;
    moto.create_bucket(BUCKET).await?;
    let pharmacy = xtask::pharmacy::Pharmacy::start_on(&tokio::runtime::Handle::current()).await?;
    for clinic in demo::CLINICS {
        let (account, key) = (
            format!("local-{}", clinic.slug),
            format!("local-key-{}", clinic.slug),
        );
        let secret = serde_json::json!({ "accountId": account, "apiKey": key });
        moto.create_secret(&demo::pharmacy_secret(clinic.slug), &secret.to_string())
            .await?;
        pharmacy.add_account(&account, &key);
    }
    let settings = provider_queue::Settings {
        bucket: BUCKET.into(),
        kms_key_id: None,
        pharmacy_url: pharmacy.url.clone(),
        aws_endpoint: Some(moto.endpoint.clone()),
    };
    let outside = provider_queue::Outside::new(&moto.sdk_config(), settings)?;
    println!(
        "prescriptions: s3://{BUCKET} on {}, pharmacy stand-in on {}",
        moto.endpoint, pharmacy.url
    );
    Ok((moto, outside))
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
        let mut child = Command::new(env!("CARGO"))
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
    println!("== cargo xtask test: template");
    let mut lint = Command::new(python_tool("cfn-lint", "cfn-lint==1.58.0")?);
    lint.arg(root.join("template.yaml"));
    pg::run_quiet(lint).context("cfn-lint template.yaml")?;
    println!("== cargo xtask test: all passed");
    println!("{passed} passed, {failed} failed");
    Ok(())
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
