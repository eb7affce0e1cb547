//! A minimal AWS Lambda Runtime API, enough to run a function's real binary the way Lambda
//! does: the binary polls `GET /2018-06-01/runtime/invocation/next` for an event and posts its
//! answer (or error) back. One instance serves one event to one process: the cold-start bench
//! starts one per spawned binary, so a killed process's pending poll can never take the next
//! process's event.

use anyhow::{Context as _, Result};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    routing::{get, post},
    Json, Router,
};
use serde_json::Value;
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::sync::oneshot;

/// How a function answered its invocation.
#[derive(Debug)]
pub enum Outcome {
    /// `POST …/invocation/{id}/response`: the handler's result.
    Response(Value),
    /// `POST …/invocation/{id}/error`: the handler failed.
    Error(Value),
    /// `POST …/init/error`: the function could not start (bad configuration, …).
    InitError(Value),
}

struct Shared {
    request_id: String,
    /// The event, until the first poll takes it; later polls wait forever, as Lambda's do
    /// between invocations.
    event: Mutex<Option<Value>>,
    reply: Mutex<Option<oneshot::Sender<Outcome>>>,
}

/// The Runtime API on a free loopback port, serving one event; stops when dropped.
pub struct RuntimeApi {
    /// What `AWS_LAMBDA_RUNTIME_API` must be set to.
    pub addr: SocketAddr,
    answer: oneshot::Receiver<Outcome>,
    server: tokio::task::JoinHandle<()>,
}

const INVOKED_ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:wardline-bench";

impl RuntimeApi {
    /// Starts serving `event` to the first process that polls.
    pub async fn serve(event: Value) -> Result<RuntimeApi> {
        let (reply, answer) = oneshot::channel();
        let shared = Arc::new(Shared {
            request_id: uuid::Uuid::new_v4().to_string(),
            event: Mutex::new(Some(event)),
            reply: Mutex::new(Some(reply)),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(|s: State<Arc<Shared>>, id: Path<String>, body: Bytes| {
                    answer_with(s, id, body, Outcome::Response)
                }),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(|s: State<Arc<Shared>>, id: Path<String>, body: Bytes| {
                    answer_with(s, id, body, Outcome::Error)
                }),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("runtime API stopped: {e}");
            }
        });
        Ok(RuntimeApi {
            addr,
            answer,
            server,
        })
    }

    /// Waits for the function's answer to the event (or its init error).
    pub async fn outcome(&mut self) -> Result<Outcome> {
        (&mut self.answer)
            .await
            .context("the runtime API stopped before the function answered")
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Hands out the event with the headers `lambda_runtime` requires.
async fn next(State(shared): State<Arc<Shared>>) -> Result<(HeaderMap, Json<Value>), StatusCode> {
    let Some(event) = lock(&shared.event).take() else {
        return std::future::pending().await;
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + Duration::from_secs(30);
    let mut headers = HeaderMap::new();
    let header = |v: &str| HeaderValue::from_str(v).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR);
    headers.insert("lambda-runtime-aws-request-id", header(&shared.request_id)?);
    headers.insert(
        "lambda-runtime-deadline-ms",
        header(&deadline.as_millis().to_string())?,
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static(INVOKED_ARN),
    );
    Ok((headers, Json(event)))
}

async fn answer_with(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
    outcome: fn(Value) -> Outcome,
) -> StatusCode {
    if id != shared.request_id {
        return StatusCode::NOT_FOUND;
    }
    deliver(&shared, outcome(body_json(&body)))
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    deliver(&shared, Outcome::InitError(body_json(&body)))
}

/// Passes the first answer on; a second one for the same event is a conflict.
fn deliver(shared: &Shared, outcome: Outcome) -> StatusCode {
    match lock(&shared.reply).take() {
        Some(reply) => {
            if reply.send(outcome).is_err() {
                eprintln!("runtime API: an answer came after its waiter gave up");
            }
            StatusCode::ACCEPTED
        }
        None => StatusCode::CONFLICT,
    }
}

/// The posted body as JSON, or as a JSON string when it is not JSON.
fn body_json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}
