//! `cargo xtask bench cold-start`: each function's stripped release binary, spawned as Lambda
//! would spawn it (against [`RuntimeApi`]), timed from process spawn to its answer to one real
//! event: for an HTTP function its [`probe`](crate::smoke::probe) as an API Gateway HTTP API
//! (payload 2.0) event, which includes the first database connection and the JWKS fetch; for
//! the scheduled ones an EventBridge event. An answer that is not a success fails the bench,
//! so a misconfigured run cannot pass as fast.

use crate::{
    runtime_api::{Outcome, RuntimeApi},
    smoke::probe,
    stack::{Database, Stack},
    target_dir, without_xtask_env, workspace_root, FUNCTIONS,
};
use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    fs::File,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Cold starts per function.
const RUNS: usize = 10;
/// The scheduled (EventBridge) functions, besides the HTTP ones in [`FUNCTIONS`].
const SCHEDULED: &[&str] = &["hold-cleanup", "message-sender", "session-reminders"];

/// Measures every function, or those named in `only` (confirm-booking needs sessions-hold's
/// hold, so name both).
pub async fn run(only: &[String]) -> Result<()> {
    let functions: Vec<&str> = FUNCTIONS
        .iter()
        .map(|f| f.name)
        .chain(SCHEDULED.iter().copied())
        .filter(|name| only.is_empty() || only.iter().any(|o| o == name))
        .collect();
    if functions.len() < only.len() {
        bail!("unknown function among {only:?}");
    }
    // One build per function, as `cargo build --release -p <function>`: each binary with only
    // its own dependencies' features (one build of all would unify them, and every binary
    // would carry the union).
    for function in &functions {
        println!("building {function} (release: fat LTO, minutes on a cold target/)");
        let mut build = Command::new(env!("CARGO"));
        without_xtask_env(&mut build)
            .args(["build", "--release", "-p", function])
            .current_dir(workspace_root());
        if !tokio::task::block_in_place(|| build.status())
            .context("running cargo build --release")?
            .success()
        {
            bail!("cargo build --release -p {function} failed");
        }
    }

    let stack = Stack::start(Database::Throwaway).await?;
    let outcome = measure(&stack, &functions).await;
    stack.stop()?;
    let rows = outcome?;
    println!("\n{}", machine()?);
    println!(
        "\n| function | stripped size x86_64 | arm64 (cargo lambda) | cold start p50 | max |\n|---|---:|---:|---:|---:|"
    );
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

async fn measure(stack: &Stack, functions: &[&str]) -> Result<Vec<String>> {
    let jwks = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let jwks_url = format!("http://{}/.well-known/jwks.json", jwks.local_addr()?);
    let jwks_app = crate::keys::jwks_router(stack.keys.jwks()?);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(jwks, jwks_app).await {
            eprintln!("JWKS server stopped: {e}");
        }
    });
    let env = stack.env(&jwks_url);
    let logs = target_dir().join("cold-start");
    std::fs::create_dir_all(&logs)?;
    let mut answers: HashMap<String, Value> = HashMap::new();
    let mut rows = Vec::new();
    for function in functions {
        let binary = target_dir().join("release").join(function);
        let log_path = logs.join(format!("{function}.log"));
        let log = File::create(&log_path)?;
        let mut times = Vec::with_capacity(RUNS);
        for n in 0..RUNS {
            let (event, expect) = event(function, stack, &answers, n)?;
            let mut api = RuntimeApi::serve(event).await?;
            let started = Instant::now();
            let mut child = tokio::process::Command::new(&binary)
                .envs(&env)
                .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
                .env("AWS_LAMBDA_FUNCTION_NAME", function)
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env(
                    "AWS_LAMBDA_LOG_GROUP_NAME",
                    format!("/aws/lambda/{function}"),
                )
                .env("AWS_LAMBDA_LOG_STREAM_NAME", "cold-start")
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log.try_clone()?)
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("spawning {}", binary.display()))?;
            let outcome = tokio::select! {
                outcome = tokio::time::timeout(Duration::from_secs(30), api.outcome()) => outcome
                    .with_context(|| format!("{function}: no answer in 30 s (see {})", log_path.display()))??,
                status = child.wait() => bail!(
                    "{function} exited ({}) before answering; see {}", status?, log_path.display()
                ),
            };
            let elapsed = started.elapsed();
            child.start_kill()?;
            child.wait().await?;
            let answer = success(function, outcome, expect, &log_path)?;
            answers.insert((*function).to_owned(), answer);
            times.push(elapsed);
        }
        times.sort();
        let row = format!(
            "| {function} | {} | {} | {:.1} ms | {:.1} ms |",
            size(&binary)?,
            arm64_size(function)?,
            ms(times[RUNS / 2]),
            ms(times[RUNS - 1]),
        );
        println!("{row}");
        rows.push(row);
    }
    Ok(rows)
}

/// The event for run `n` of `function` and, for an HTTP function, the status it must answer.
fn event(
    function: &str,
    stack: &Stack,
    answers: &HashMap<String, Value>,
    n: usize,
) -> Result<(Value, Option<u16>)> {
    let now = chrono::Utc::now();
    if SCHEDULED.contains(&function) {
        return Ok((
            json!({
                "version": "0",
                "id": uuid::Uuid::new_v4(),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "000000000000",
                "time": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "region": "us-east-1",
                "resources": [format!("arn:aws:events:us-east-1:000000000000:rule/{function}")],
                "detail": {},
            }),
            None,
        ));
    }
    let probe = probe(function, &stack.keys, answers, n)?;
    let (path, query) = probe
        .path
        .split_once('?')
        .unwrap_or((probe.path.as_str(), ""));
    let mut headers: serde_json::Map<String, Value> = probe
        .headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), json!(value)))
        .collect();
    let host = headers
        .entry("host")
        .or_insert_with(|| json!("api.wardline.example"))
        .clone();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "bench",
            "domainName": host,
            "domainPrefix": "bench",
            "http": {
                "method": probe.method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                // A fresh address per run, like the portal's e-mail, so no limit is reached.
                "sourceIp": format!("198.51.100.{}", n % 250 + 1),
                "userAgent": "wardline-cold-start",
            },
            "requestId": uuid::Uuid::new_v4(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": false,
    });
    if let Some(body) = &probe.body {
        event["body"] = json!(body.to_string());
        event["headers"]["content-type"] = json!("application/json");
    }
    Ok((event, Some(probe.expect)))
}

/// The answer's body (HTTP) or value (scheduled), if the function succeeded as expected.
fn success(function: &str, outcome: Outcome, expect: Option<u16>, log: &Path) -> Result<Value> {
    let answer = match outcome {
        Outcome::Response(answer) => answer,
        Outcome::Error(error) | Outcome::InitError(error) => {
            bail!("{function} failed: {error} (see {})", log.display())
        }
    };
    let Some(expect) = expect else {
        return Ok(answer);
    };
    let status = answer.get("statusCode").and_then(Value::as_u64);
    if status != Some(u64::from(expect)) {
        bail!("{function} answered {answer} (expected status {expect})");
    }
    let body = answer.get("body").and_then(Value::as_str).unwrap_or("null");
    serde_json::from_str(body).with_context(|| format!("{function}'s body is not JSON: {body}"))
}

fn size(binary: &Path) -> Result<String> {
    let bytes = std::fs::metadata(binary)
        .with_context(|| format!("{} is missing", binary.display()))?
        .len();
    Ok(format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0)))
}

/// The size of the arm64 `bootstrap` (the deployed architecture) that `cargo xtask
/// build-check --arm64` left in `target/build-check/arm64/<function>/`, or else the last
/// `cargo lambda build --release --arm64` (or `sam build`) in `target/lambda/<function>/`, or a
/// dash when there is none.
fn arm64_size(function: &str) -> Result<String> {
    /// ELF `e_machine` of AArch64, at offset 18 (little-endian).
    const EM_AARCH64: [u8; 2] = [183, 0];
    for dir in [
        target_dir().join("build-check").join("arm64"),
        target_dir().join("lambda"),
    ] {
        let bootstrap = dir.join(function).join("bootstrap");
        let mut header = [0u8; 20];
        let is_arm64 = match File::open(&bootstrap) {
            Ok(mut file) => {
                std::io::Read::read_exact(&mut file, &mut header)?;
                header[..4] == *b"\x7fELF" && header[18..20] == EM_AARCH64
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(e).with_context(|| format!("opening {}", bootstrap.display())),
        };
        if is_arm64 {
            return size(&bootstrap);
        }
    }
    Ok("—".into())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// `CPU model, N cores, OS` for the report.
fn machine() -> Result<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").context("reading /proc/cpuinfo")?;
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown CPU", |(_, model)| model.trim());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|release| {
            release.lines().find_map(|line| {
                line.strip_prefix("PRETTY_NAME=")
                    .map(|name| name.trim_matches('"').to_owned())
            })
        })
        .unwrap_or_else(|| "unknown OS".into());
    Ok(format!(
        "Machine: {model}, {cores} cores, {os}; PostgreSQL on loopback without TLS; {RUNS} cold \
         starts per function, each a fresh process and a fresh Runtime API."
    ))
}
