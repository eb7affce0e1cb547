//! A stand-in for the pharmacy's prescription API, speaking the protocol the provider-queue
//! client follows, so tests can check what was sent, replay idempotently and inject outages.
//!
//! `POST {url}/v1/prescriptions` with `Authorization: Bearer <apiKey>`,
//! `X-Pharmacy-Account: <accountId>`, `Idempotency-Key: <key>` (1–255 visible ASCII),
//! `Content-Type: application/json` and a JSON object body whose `"externalId"` equals the
//! Idempotency-Key. Checked in this order, every response `application/json`:
//!
//! - 400 `{"error":"invalid_request","detail":…}`: a header missing or malformed.
//! - 401 `{"error":"unauthorized"}`: unknown account, or not that account's bearer key.
//! - 503 `{"error":"unavailable"}`: a failure injected with [`Pharmacy::fail_next`] (one consumed
//!   per request); nothing stored.
//!
//! While a test holds an account ([`Pharmacy::hold`]), requests naming it wait before any of
//! that is checked, until the hold is dropped.
//! - 400 `invalid_request`: the body is not a JSON object, or `externalId` ≠ Idempotency-Key.
//! - 201 `{"id":"rx_<n>","status":"received"}`: a new (account, Idempotency-Key).
//! - 200 with the first response's body: a replay; nothing new stored.

use anyhow::Result;
use axum::{
    body::Bytes,
    extract::State as Extract,
    http::{header, HeaderMap, StatusCode},
    routing::post,
    Json, Router,
};
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};
use tokio::sync::Semaphore;

/// One request as the stand-in saw it. Missing headers are recorded as `""`; a body that is
/// not JSON is recorded as a JSON string of its (lossy UTF-8) text.
#[derive(Debug, Clone)]
pub struct Received {
    pub account: String,
    pub idempotency_key: String,
    /// The whole `Authorization` header, `Bearer …` included.
    pub authorization: String,
    pub body: Value,
    /// The status the stand-in answered with.
    pub status: u16,
}

/// A running stand-in; clones share its state.
#[derive(Clone)]
pub struct Pharmacy {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Account id → API key.
    keys: HashMap<String, String>,
    /// Account id → injected failures still to serve.
    failures: HashMap<String, usize>,
    /// Account id → the gate its requests wait at while a test holds it (never opened, only
    /// closed, which lets everyone through).
    holds: HashMap<String, Arc<Semaphore>>,
    /// Account id → its prescriptions, in arrival order.
    prescriptions: HashMap<String, Vec<Stored>>,
    requests: Vec<Received>,
    /// The last `rx_<n>` handed out.
    issued: u64,
}

/// A stored prescription: the first request for its key and the body answered to it.
struct Stored {
    received: Received,
    response: Value,
}

impl Pharmacy {
    /// Binds 127.0.0.1:0 and serves on the given runtime (tests keep one runtime alive for the
    /// whole test binary).
    pub async fn start_on(runtime: &tokio::runtime::Handle) -> Result<Pharmacy> {
        let state = Arc::new(Mutex::new(State::default()));
        let app = Router::new()
            .route("/v1/prescriptions", post(create_prescription))
            .with_state(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        runtime.spawn(async move {
            let served = match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => axum::serve(listener, app).await,
                Err(e) => Err(e),
            };
            if let Err(e) = served {
                eprintln!("pharmacy stand-in stopped: {e}");
            }
        });
        Ok(Pharmacy { url, state })
    }

    /// Registers an account (or replaces its key), keeping any prescriptions it holds.
    pub fn add_account(&self, account_id: &str, api_key: &str) {
        self.lock()
            .keys
            .insert(account_id.to_owned(), api_key.to_owned());
    }

    /// The account's next `times` authorized requests fail with 503 (replacing any still
    /// pending), as an outage would.
    pub fn fail_next(&self, account_id: &str, times: usize) {
        self.lock().failures.insert(account_id.to_owned(), times);
    }

    /// The account's requests wait, unanswered, until the returned hold is dropped: so a test
    /// can act while a sender is provably in the middle of its pharmacy call.
    pub fn hold(&self, account_id: &str) -> Hold {
        let gate = Arc::new(Semaphore::new(0));
        self.lock()
            .holds
            .insert(account_id.to_owned(), gate.clone());
        Hold {
            state: self.state.clone(),
            account: account_id.to_owned(),
            gate,
        }
    }

    /// The prescriptions an account holds: one per Idempotency-Key, in arrival order (the first
    /// request's record).
    pub fn prescriptions(&self, account_id: &str) -> Vec<Received> {
        self.lock()
            .prescriptions
            .get(account_id)
            .map(|stored| stored.iter().map(|s| s.received.clone()).collect())
            .unwrap_or_default()
    }

    /// Every request that reached the stand-in (including failures and replays), in order.
    pub fn requests(&self) -> Vec<Received> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// An account held by [`Pharmacy::hold`]; dropping it lets the waiting requests through.
pub struct Hold {
    state: Arc<Mutex<State>>,
    account: String,
    gate: Arc<Semaphore>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        lock(&self.state).holds.remove(&self.account);
        self.gate.close();
    }
}

/// A poisoned lock only means a test panicked elsewhere; the state is still usable.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

async fn create_prescription(
    Extract(state): Extract<Arc<Mutex<State>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    let mut received = Received {
        account: text("x-pharmacy-account"),
        idempotency_key: text("idempotency-key"),
        authorization: text("authorization"),
        body: serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())),
        status: 0,
    };
    let held = lock(&state).holds.get(&received.account).cloned();
    if let Some(gate) = held {
        // Only ever closed: an error is the hold's end.
        let _closed = gate.acquire().await;
    }
    let mut state = lock(&state);
    let (status, response) = respond(&mut state, &headers, &received);
    received.status = status.as_u16();
    if status == StatusCode::CREATED {
        state
            .prescriptions
            .entry(received.account.clone())
            .or_default()
            .push(Stored {
                received: received.clone(),
                response: response.clone(),
            });
    }
    state.requests.push(received);
    (status, Json(response))
}

/// The status and body for one request, consuming an injected failure or a prescription
/// number where the protocol says so; storing is left to the caller.
fn respond(state: &mut State, headers: &HeaderMap, received: &Received) -> (StatusCode, Value) {
    if let Err(detail) = check_headers(headers) {
        return invalid(detail);
    }
    let account = received.account.as_str();
    let key = received.idempotency_key.as_str();
    let authorized = state.keys.get(account).is_some_and(|api_key| {
        received.authorization.strip_prefix("Bearer ") == Some(api_key.as_str())
    });
    if !authorized {
        return (StatusCode::UNAUTHORIZED, json!({ "error": "unauthorized" }));
    }
    if let Some(pending) = state.failures.get_mut(account).filter(|n| **n > 0) {
        *pending -= 1;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": "unavailable" }),
        );
    }
    let Some(object) = received.body.as_object() else {
        return invalid("the body must be a JSON object");
    };
    if object.get("externalId").and_then(Value::as_str) != Some(key) {
        return invalid("externalId must be a string equal to the Idempotency-Key");
    }
    let replay = state
        .prescriptions
        .get(account)
        .and_then(|stored| stored.iter().find(|s| s.received.idempotency_key == key));
    if let Some(first) = replay {
        return (StatusCode::OK, first.response.clone());
    }
    state.issued += 1;
    (
        StatusCode::CREATED,
        json!({ "id": format!("rx_{}", state.issued), "status": "received" }),
    )
}

/// Every header the protocol requires is present and well formed.
fn check_headers(headers: &HeaderMap) -> Result<(), &'static str> {
    let present = |name: &str| headers.get(name).is_some();
    if !present(header::AUTHORIZATION.as_str()) {
        return Err("missing Authorization");
    }
    if !present("x-pharmacy-account") {
        return Err("missing X-Pharmacy-Account");
    }
    let Some(key) = headers.get("idempotency-key") else {
        return Err("missing Idempotency-Key");
    };
    let key = key.as_bytes();
    if key.is_empty() || key.len() > 255 || !key.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err("Idempotency-Key must be 1-255 visible ASCII characters");
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err("Content-Type must be application/json");
    }
    Ok(())
}

fn invalid(detail: &str) -> (StatusCode, Value) {
    (
        StatusCode::BAD_REQUEST,
        json!({ "error": "invalid_request", "detail": detail }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(
        pharmacy: &Pharmacy,
        account: &str,
        api_key: &str,
        key: &str,
        body: Value,
    ) -> Result<(u16, Value)> {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/prescriptions", pharmacy.url))
            .bearer_auth(api_key)
            .header("X-Pharmacy-Account", account)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await?;
        Ok((response.status().as_u16(), response.json().await?))
    }

    async fn started() -> Result<Pharmacy> {
        let pharmacy = Pharmacy::start_on(&tokio::runtime::Handle::current()).await?;
        pharmacy.add_account("acct_1", "key_1");
        Ok(pharmacy)
    }

    #[tokio::test]
    async fn new_then_replay_answers_the_same_id() -> Result<()> {
        let pharmacy = started().await?;
        let body = json!({ "externalId": "k1", "drug": "amoxicillin" });
        let (status, first) = post(&pharmacy, "acct_1", "key_1", "k1", body.clone()).await?;
        assert_eq!(status, 201);
        assert_eq!(first, json!({ "id": "rx_1", "status": "received" }));
        let (status, replay) = post(&pharmacy, "acct_1", "key_1", "k1", body.clone()).await?;
        assert_eq!(status, 200);
        assert_eq!(replay, first);
        let held = pharmacy.prescriptions("acct_1");
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].body, body);
        assert_eq!(held[0].authorization, "Bearer key_1");
        assert_eq!(held[0].status, 201);
        let statuses: Vec<u16> = pharmacy.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [201, 200]);
        Ok(())
    }

    #[tokio::test]
    async fn a_held_account_answers_only_after_the_hold_is_dropped() -> Result<()> {
        let pharmacy = started().await?;
        let held = pharmacy.hold("acct_1");
        let waiting = tokio::spawn({
            let pharmacy = pharmacy.clone();
            async move {
                post(
                    &pharmacy,
                    "acct_1",
                    "key_1",
                    "k1",
                    json!({ "externalId": "k1" }),
                )
                .await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!waiting.is_finished());
        assert!(pharmacy.requests().is_empty());
        drop(held);
        let (status, _) = waiting.await??;
        assert_eq!(status, 201);
        Ok(())
    }

    #[tokio::test]
    async fn wrong_key_or_unknown_account_is_unauthorized() -> Result<()> {
        let pharmacy = started().await?;
        let body = json!({ "externalId": "k1" });
        let (status, error) = post(&pharmacy, "acct_1", "key_2", "k1", body.clone()).await?;
        assert_eq!(status, 401);
        assert_eq!(error, json!({ "error": "unauthorized" }));
        let (status, _) = post(&pharmacy, "acct_2", "key_1", "k1", body).await?;
        assert_eq!(status, 401);
        assert!(pharmacy.prescriptions("acct_1").is_empty());
        assert_eq!(pharmacy.requests().len(), 2);
        Ok(())
    }

    #[tokio::test]
    async fn injected_failure_then_success() -> Result<()> {
        let pharmacy = started().await?;
        pharmacy.fail_next("acct_1", 1);
        let body = json!({ "externalId": "k1" });
        let (status, error) = post(&pharmacy, "acct_1", "key_1", "k1", body.clone()).await?;
        assert_eq!(status, 503);
        assert_eq!(error, json!({ "error": "unavailable" }));
        assert!(pharmacy.prescriptions("acct_1").is_empty());
        let (status, created) = post(&pharmacy, "acct_1", "key_1", "k1", body).await?;
        assert_eq!(status, 201);
        assert_eq!(created["id"], "rx_1");
        assert_eq!(pharmacy.prescriptions("acct_1").len(), 1);
        Ok(())
    }

    #[tokio::test]
    async fn external_id_must_match_the_idempotency_key() -> Result<()> {
        let pharmacy = started().await?;
        let (status, error) = post(
            &pharmacy,
            "acct_1",
            "key_1",
            "k1",
            json!({ "externalId": "k2" }),
        )
        .await?;
        assert_eq!(status, 400);
        assert_eq!(error["error"], "invalid_request");
        let (status, _) = post(&pharmacy, "acct_1", "key_1", "k1", json!(["k1"])).await?;
        assert_eq!(status, 400);
        assert!(pharmacy.prescriptions("acct_1").is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn missing_header_is_invalid() -> Result<()> {
        let pharmacy = started().await?;
        let response = reqwest::Client::new()
            .post(format!("{}/v1/prescriptions", pharmacy.url))
            .bearer_auth("key_1")
            .header("X-Pharmacy-Account", "acct_1")
            .json(&json!({ "externalId": "k1" }))
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 400);
        let error: Value = response.json().await?;
        assert_eq!(error["detail"], "missing Idempotency-Key");
        Ok(())
    }
}
