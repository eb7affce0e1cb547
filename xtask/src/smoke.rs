//! `cargo xtask smoke`: the real function binaries behind `cargo lambda watch`, routed by the
//! workspace's `[workspace.metadata.lambda.watch.router]`, each called once over HTTP against a
//! throwaway PostgreSQL with the demo data. Also the one representative request per HTTP
//! function ([`probe`]) that the cold-start bench sends too.

use crate::{
    demo,
    keys::{self, DevKeys},
    stack::{Database, Stack},
    target_dir,
    tools::python_tool,
    without_xtask_env, workspace_root, FUNCTIONS,
};
use anyhow::{bail, Context as _, Result};
use chrono::Datelike;
use http::Method;
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// cargo-lambda from PyPI (the package ships the binary and zig).
pub const CARGO_LAMBDA: &str = "cargo-lambda==1.9.2";

/// One request that a function must answer with `expect`.
pub struct Probe {
    pub method: Method,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Value>,
    pub expect: u16,
}

/// The representative request for `function`: a route that reads (and for bookings writes)
/// the database as a demo identity with a valid token, or for `portal-otp` a code request on
/// Maple's portal, which needs no token (for `provider-webhooks` an unsubscribe link). `answers` holds earlier functions' answer bodies:
/// confirm-booking confirms the hold sessions-hold made. `n` varies what must be fresh per
/// call (the portal's address).
pub fn probe(
    function: &str,
    keys: &DevKeys,
    answers: &HashMap<String, Value>,
    n: usize,
) -> Result<Probe> {
    let dana = format!(
        "Bearer {}",
        keys.mint(&demo::identity("maple", "dana@wardline.example")?, 3600)?
    );
    let get = |path: &str| Probe {
        method: Method::GET,
        path: path.into(),
        headers: vec![("authorization", dana.clone())],
        body: None,
        expect: 200,
    };
    Ok(match function {
        "tenant-doctors" => get("/v2/doctor/patients/tenant-doctors"),
        "schedule" => get("/schedule?from=2027-03-01T00:00:00Z&to=2027-03-08T00:00:00Z"),
        "availability" => get(&format!(
            "/availability?clinicianId={}&from=2027-03-01T00:00:00Z&to=2027-03-08T00:00:00Z&duration=60",
            demo::CLINICIANS[1].id
        )),
        "assign" => get("/v2/doctor/patients/summary?limit=20"),
        "provider-queue" => get("/api/provider/prescription-queue"),
        "sessions-hold" => {
            // A Tuesday two months ahead, 15:00–16:00 UTC (an hour of psychotherapy, 90837,
            // inside Dana's hours at maple); the same key replays the same hold.
            let ahead = chrono::Utc::now().date_naive() + chrono::Days::new(60);
            let day = ahead
                + chrono::Days::new(u64::from(
                    (8 - ahead.weekday().num_days_from_monday()) % 7,
                ));
            Probe {
                method: Method::POST,
                headers: vec![
                    ("authorization", dana.clone()),
                    ("idempotency-key", "smoke-hold".into()),
                ],
                body: Some(json!({
                    "therapist_id": demo::CLINICIANS[1].id,
                    "client_id": demo::PATIENTS[0].id,
                    "start_time": format!("{day}T15:00:00Z"),
                    "end_time": format!("{day}T16:00:00Z"),
                })),
                ..get("/sessions-hold")
            }
        }
        "confirm-booking" => {
            let hold = answers
                .get("sessions-hold")
                .and_then(|answer| answer.get("holdKey"))
                .context("confirm-booking needs sessions-hold's holdKey")?;
            Probe {
                method: Method::POST,
                headers: vec![
                    ("authorization", dana.clone()),
                    ("idempotency-key", "smoke-confirm".into()),
                ],
                body: Some(
                    json!({ "holdKey": hold, "session": { "serviceId": demo::SERVICES[0].id } }),
                ),
                ..get("/sessions-confirm")
            }
        }
        "portal-otp" => Probe {
            method: Method::POST,
            path: "/api/portal/auth/otp".into(),
            headers: vec![("host", "maple.portal.localhost".into())],
            body: Some(json!({ "email": format!("smoke-{n}@patients.example") })),
            expect: 202,
        },
        "inbox" => get("/inbox"),
        "directory" => get("/therapists"),
        // A patient id nobody has: authenticated, then 404 from SQL (no S3 call).
        "records" => Probe {
            expect: 404,
            ..get(&format!("/clients/{}/documents", uuid::Uuid::nil()))
        },
        "intake" => get("/forms"),
        // Avery, Maple's admin: the first page of the clinic's trail.
        "audit-trail" => Probe {
            headers: vec![(
                "authorization",
                format!(
                    "Bearer {}",
                    keys.mint(&demo::identity("maple", "avery@maple.example")?, 3600)?
                ),
            )],
            ..get("/api/admin/audit?limit=5")
        },
        // Signed-in patients only: without a portal token the function answers 401 itself.
        "portal" => Probe {
            method: Method::GET,
            path: "/api/portal/me".into(),
            headers: vec![("host", "maple.portal.localhost".into())],
            body: None,
            expect: 401,
        },
        // An unsubscribe link of a message that does not exist: verified, then nothing to do.
        "provider-webhooks" => {
            use base64::{engine::general_purpose::STANDARD, Engine};
            let key = STANDARD.decode(crate::stack::DEV_UNSUBSCRIBE_KEY)?;
            let token = wardline_shared::delivery::unsubscribe_token(&key, uuid::Uuid::new_v4());
            Probe {
                method: Method::POST,
                path: format!("/api/email/unsubscribe?token={token}"),
                headers: Vec::new(),
                body: None,
                expect: 200,
            }
        }
        other => bail!("no probe for function {other}"),
    })
}

/// Kills a process group when dropped, so a failing smoke leaves nothing running.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.0.id());
        for signal in ["-TERM", "-KILL"] {
            match Command::new("kill").args([signal, "--", &pgid]).status() {
                Ok(_) => {}
                Err(e) => eprintln!("kill {signal} {pgid}: {e}"),
            }
            if signal == "-TERM" {
                std::thread::sleep(Duration::from_secs(2));
            }
        }
        if let Err(e) = self.0.wait() {
            eprintln!("waiting for cargo lambda watch: {e}");
        }
    }
}

/// A free loopback port (the listener is closed again; the race is harmless here).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

pub async fn run() -> Result<()> {
    let started = Instant::now();
    let cargo_lambda = tokio::task::block_in_place(|| python_tool("cargo-lambda", CARGO_LAMBDA))?;
    let stack = Stack::start(Database::Throwaway).await?;
    let outcome = smoke(&stack, &cargo_lambda).await;
    stack.stop()?;
    outcome?;
    println!(
        "smoke: every HTTP function answered through cargo lambda watch in {:.0?}",
        started.elapsed()
    );
    Ok(())
}

async fn smoke(stack: &Stack, cargo_lambda: &std::path::Path) -> Result<()> {
    let jwks = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let jwks_url = format!("http://{}/.well-known/jwks.json", jwks.local_addr()?);
    let jwks_app = keys::jwks_router(stack.keys.jwks()?);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(jwks, jwks_app).await {
            eprintln!("JWKS server stopped: {e}");
        }
    });

    let port = free_port()?;
    let env_file = target_dir()
        .join("tmp")
        .join(format!("smoke-{}.env", std::process::id()));
    write_env_file(&stack.env(&jwks_url), &env_file)?;
    // cargo-lambda finds zig (for cross builds) and itself as `cargo lambda` through PATH.
    let venv_bin = cargo_lambda
        .parent()
        .context("cargo-lambda has no directory")?;
    let path = std::env::join_paths(std::iter::once(venv_bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    let mut watch = Command::new(cargo_lambda);
    without_xtask_env(&mut watch)
        .args(["lambda", "watch", "--ignore-changes", "--invoke-address"])
        .args(["127.0.0.1", "--invoke-port", &port.to_string()])
        .args(["--timeout", "900", "--env-file"])
        .arg(&env_file)
        .env("PATH", path)
        .current_dir(workspace_root())
        .stdin(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut watch, 0);
    let outcome = call_every_function(stack, watch, port).await;
    std::fs::remove_file(&env_file).with_context(|| format!("removing {}", env_file.display()))?;
    outcome
}

/// Writes the functions' environment as an env file `cargo lambda watch --env-file` reads:
/// single-quoted values, which may span lines (the portal's PEM key).
pub fn write_env_file(env: &HashMap<&str, String>, path: &std::path::Path) -> Result<()> {
    let mut names: Vec<_> = env.keys().collect();
    names.sort();
    let mut text = String::new();
    for name in names {
        let value = &env[name];
        if value.contains('\'') {
            bail!("{name} holds a single quote, which an env file cannot quote");
        }
        text.push_str(&format!("{name}='{value}'\n"));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

async fn call_every_function(stack: &Stack, mut watch: Command, port: u16) -> Result<()> {
    let _watch = Group(watch.spawn().context("starting cargo lambda watch")?);

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()?;
    wait_until_up(port).await?;

    let mut answers = HashMap::new();
    for function in FUNCTIONS {
        let probe = probe(function.name, &stack.keys, &answers, 0)?;
        let mut request = client.request(probe.method.clone(), format!("{base}{}", probe.path));
        for (name, value) in &probe.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = &probe.body {
            request = request.json(body);
        }
        let started = Instant::now();
        let response = request
            .send()
            .await
            .with_context(|| format!("{} {}", probe.method, probe.path))?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        if status != probe.expect {
            bail!(
                "{}: {} {} answered {status} (expected {}): {text}",
                function.name,
                probe.method,
                probe.path,
                probe.expect
            );
        }
        println!(
            "smoke: {:<16} {} {} → {status} in {:.0?}",
            function.name,
            probe.method,
            probe.path,
            started.elapsed()
        );
        answers.insert(
            function.name.to_owned(),
            serde_json::from_str(&text).unwrap_or(Value::Null),
        );
    }
    Ok(())
}

/// Waits until the watch server accepts connections, at most two minutes.
async fn wait_until_up(port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(e).context("cargo lambda watch did not start listening in 2 minutes")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
