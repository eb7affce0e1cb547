//! The load benchmarks' machinery (`cargo xtask bench throughput | delay | contention`): the
//! local gateway on a loopback port, a load generator of N keep-alive HTTP clients, `pgbench`
//! running a route's own `api.*` statement, the core split, and Markdown tables.

use crate::latency::percentile;
use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::Value;
use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};
use wardline_shared::Context;

/// The CPU PostgreSQL runs on; the gateway, the load generator and pgbench share the other.
pub const PG_CPU: usize = 0;
pub const LOAD_CPU: usize = 1;

/// Pins this process (every thread it has and will start, and its children) to
/// [`LOAD_CPU`], and asks `xtask::pg` to start the cluster on [`PG_CPU`]. Call first thing,
/// before any thread or the cluster starts.
pub fn split_cores() -> Result<()> {
    // Single-threaded still: nothing else reads the environment concurrently.
    std::env::set_var("WARDLINE_PG_CPUS", PG_CPU.to_string());
    let mut taskset = std::process::Command::new("taskset");
    taskset.args([
        "-a",
        "-p",
        "-c",
        &LOAD_CPU.to_string(),
        &std::process::id().to_string(),
    ]);
    xtask::pg::run_quiet(taskset).context("pinning the bench to its CPU")
}

/// `CPU model · cores · PostgreSQL version · pgbench version · where each side runs`, with
/// the server's CPUs read back from one of its backends.
pub async fn machine(admin: &tokio_postgres::Client) -> Result<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    // Not available_parallelism: that counts only the CPUs this (pinned) process may use.
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let row = admin
        .query_one(
            "select current_setting('server_version'), pg_backend_pid()",
            &[],
        )
        .await?;
    let (version, backend): (String, i32) = (row.get(0), row.get(1));
    let pgbench = output("pgbench", &["--version"]).await?;
    let pg_cpus = cpu_list(backend).await?;
    let load_cpus = cpu_list(std::process::id() as i32).await?;
    Ok(format!(
        "{model}, {cores} cores; PostgreSQL {version}; {pgbench}. \
         Cores: PostgreSQL on CPU {pg_cpus}, gateway + load generator + pgbench on CPU {load_cpus}."
    ))
}

async fn cpu_list(pid: i32) -> Result<String> {
    let line = output("taskset", &["-c", "-p", &pid.to_string()]).await?;
    Ok(line.rsplit(": ").next().unwrap_or(&line).to_owned())
}

async fn output(program: &str, args: &[&str]) -> Result<String> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The local gateway (`xtask::gateway::router`) serving `ctx` on a loopback port until dropped.
pub struct Gateway {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Gateway {
    pub async fn serve(ctx: Context, jwks: Value) -> Result<Gateway> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let app = xtask::gateway::router(Arc::new(ctx), jwks)?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("gateway: {e}");
            }
        });
        Ok(Gateway { base, server })
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What a client's unit of work is given: its HTTP client (keep-alive), the gateway, which
/// client it is and how many units it has done.
#[derive(Clone)]
pub struct Step {
    pub http: reqwest::Client,
    pub base: Arc<str>,
    pub client: usize,
    pub iteration: u64,
}

/// A client's unit of work (one or more requests) → the final status. An `Err` stops the run:
/// flows fail on any status they do not expect, with the body.
pub type Flow = Arc<dyn Fn(Step) -> BoxFuture<'static, Result<u16>> + Send + Sync>;

/// One HTTP request to the gateway: `(status, body)`. The body stays bytes until a flow needs
/// a member of it: parsing every page of 200 patients would put the load generator's JSON work
/// on the gateway's core, and pgbench, the yardstick, parses nothing.
pub async fn request(
    step: &Step,
    method: reqwest::Method,
    path: &str,
    token: &str,
    idempotency_key: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Bytes)> {
    let mut request = step
        .http
        .request(method, format!("{}{path}", step.base))
        .bearer_auth(token);
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.with_context(|| path.to_owned())?;
    let status = response.status().as_u16();
    Ok((status, response.bytes().await?))
}

/// The body of a 2xx answer; any other status fails the run, with the body.
pub fn ok(path: &str, (status, body): (u16, Bytes)) -> Result<Bytes> {
    if !(200..300).contains(&status) {
        bail!(
            "{path} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(body)
}

/// What a run measured: units started in the measured window and how long each took.
pub struct Run {
    pub seconds: f64,
    /// Sorted.
    pub latencies: Vec<Duration>,
    pub statuses: BTreeMap<u16, usize>,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    pub fn p50(&self) -> Duration {
        percentile(&self.latencies, 0.50)
    }

    pub fn p99(&self) -> Duration {
        percentile(&self.latencies, 0.99)
    }
}

/// `clients` concurrent clients repeat `flow` for `warmup` (not measured) and then `measure`.
pub async fn drive(
    base: &str,
    clients: usize,
    warmup: Duration,
    measure: Duration,
    flow: Flow,
) -> Result<Run> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let base: Arc<str> = base.into();
    let start = Instant::now();
    let (from, until) = (start + warmup, start + warmup + measure);
    let workers: Vec<_> = (0..clients)
        .map(|client| {
            let (flow, http, base) = (flow.clone(), http.clone(), base.clone());
            tokio::spawn(async move {
                let (mut latencies, mut statuses) = (Vec::new(), BTreeMap::new());
                let mut iteration = 0;
                loop {
                    let began = Instant::now();
                    if began >= until {
                        break;
                    }
                    let step = Step {
                        http: http.clone(),
                        base: base.clone(),
                        client,
                        iteration,
                    };
                    let status = flow(step).await?;
                    iteration += 1;
                    if began >= from {
                        latencies.push(began.elapsed());
                        *statuses.entry(status).or_insert(0) += 1;
                    }
                }
                Ok::<_, anyhow::Error>((latencies, statuses))
            })
        })
        .collect();
    let mut run = Run {
        seconds: measure.as_secs_f64(),
        latencies: Vec::new(),
        statuses: BTreeMap::new(),
    };
    for worker in workers {
        let (latencies, statuses) = worker.await??;
        run.latencies.extend(latencies);
        for (status, n) in statuses {
            *run.statuses.entry(status).or_insert(0) += n;
        }
    }
    if run.latencies.is_empty() {
        bail!("no request finished in the measured window");
    }
    run.latencies.sort();
    Ok(run)
}

/// A pgbench script and the variables it reads (`-D name=value`).
pub struct Script {
    pub name: String,
    pub sql: String,
    pub vars: Vec<(&'static str, String)>,
}

/// How pgbench sends each statement.
#[derive(Clone, Copy)]
pub enum Protocol {
    /// One unnamed statement per call, parsed and planned each time, as tokio-postgres sends it.
    Extended,
    /// Prepared once per connection: what a floor needs, planned once like PL/pgSQL's queries.
    Prepared,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Extended => "extended",
            Protocol::Prepared => "prepared",
        }
    }
}

/// Runs `script` with `-c clients -j clients` for `warmup` (discarded) and then `measure`, in
/// `mode`, against `conninfo` → transactions per second. Fails if any client aborted. The script sees `:phase`,
/// 0 in the warm-up and 1 in the measured run (to write different rows in each).
pub async fn pgbench(
    conninfo: &str,
    mode: Protocol,
    script: &Script,
    clients: usize,
    warmup: Duration,
    measure: Duration,
) -> Result<f64> {
    let dir = xtask::target_dir().join("load-bench");
    std::fs::create_dir_all(&dir)?;
    let file: PathBuf = dir.join(format!("{}.sql", script.name));
    std::fs::write(&file, &script.sql)?;
    let mut tps = 0.0;
    for (phase, seconds) in [warmup, measure].into_iter().enumerate() {
        let mut pgbench = tokio::process::Command::new("pgbench");
        pgbench
            .args(["-n", "-M", mode.as_str(), "-c", &clients.to_string()])
            .args(["-j", &clients.to_string()])
            .args(["-T", &seconds.as_secs().max(1).to_string(), "-f"])
            .arg(&file)
            .arg("-D")
            .arg(format!("phase={phase}"));
        for (name, value) in &script.vars {
            pgbench.arg("-D").arg(format!("{name}={value}"));
        }
        let out = pgbench
            .arg(conninfo)
            .output()
            .await
            .context("running pgbench")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "pgbench {} failed ({}):\n{stdout}{}",
                script.name,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tps = stdout
            .lines()
            .find_map(|l| l.strip_prefix("tps = "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("no tps in pgbench's output:\n{stdout}"))?;
    }
    Ok(tps)
}

/// A Markdown table.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    out.push_str(&line(headers.iter().map(|_| "---".to_string()).collect()));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// A duration in milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}
