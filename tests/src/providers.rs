//! Local stand-ins for the SMS and e-mail providers message-sender talks to: Twilio's Messages
//! API (`POST /2010-04-01/Accounts/{sid}/Messages.json`, basic auth, form body, 201) and
//! SendGrid's v3 mail send (`POST /v3/mail/send`, bearer key, JSON, 202), on `127.0.0.1:0`.
//! They check credentials as the real ones do (401 otherwise), record every request they
//! accept with their id of it ([`Receipt`]: Twilio's SID, SendGrid's `X-Message-Id`), and can
//! be told to fail the next requests with a given status and body.

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use message_sender::{Sender, Settings};
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};
use uuid::Uuid;

pub const TWILIO_ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_TOKEN: &str = "stand-in-twilio-token";
/// The `From` of texts when the clinic has no number of its own.
pub const TWILIO_FROM: &str = "+15005550006";
pub const SENDGRID_API_KEY: &str = "SG.stand-in-key";
pub const EMAIL_FROM: &str = "portal@wardline.test";
/// Where e-mails that are not transactional send their one-click unsubscribe.
pub const UNSUBSCRIBE_URL: &str = "https://api.wardline.test/api/email/unsubscribe";

/// A text Twilio accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    pub to: String,
    pub from: String,
    pub body: String,
}

/// An e-mail SendGrid accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub from: String,
    pub from_name: Option<String>,
    pub subject: String,
    pub text: String,
}

/// What a provider kept of an accepted message for its later reports: its id of the message
/// (Twilio's SID, SendGrid's `X-Message-Id`) and what the sender asked it to report with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub to: String,
    pub provider_id: String,
    /// Twilio: the `StatusCallback` URL.
    pub status_callback: Option<String>,
    /// SendGrid: `custom_args` (echoed in its events) and `headers`.
    pub custom_args: Value,
    pub headers: Value,
}

#[derive(Default)]
struct Recorded {
    sms: Vec<Sms>,
    emails: Vec<Email>,
    receipts: Vec<Receipt>,
    /// Every request that reached the stand-in, accepted or not.
    requests: usize,
    /// How many of the next authenticated requests fail, and with what.
    failures: usize,
    failure: Option<(StatusCode, Value)>,
    delay: Duration,
}

type Shared = Arc<Mutex<Recorded>>;

fn lock(state: &Shared) -> MutexGuard<'_, Recorded> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The running stand-ins. Served on the test's own runtime.
#[derive(Clone)]
pub struct Providers {
    /// `http://127.0.0.1:{port}`: the API base of both providers.
    pub base_url: String,
    state: Shared,
}

impl Providers {
    pub async fn start() -> Providers {
        let state: Shared = Arc::default();
        let app = Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(twilio))
            .route("/v3/mail/send", post(sendgrid))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the provider stand-in");
        let base_url = format!(
            "http://{}",
            listener.local_addr().expect("the stand-in's address")
        );
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("provider stand-in stopped: {e}");
            }
        });
        Providers { base_url, state }
    }

    /// Settings that send through these stand-ins with the right credentials; `overrides`
    /// replace single variables (an empty value unsets one).
    pub fn settings(&self, overrides: &[(&str, &str)]) -> Settings {
        let mut env: HashMap<&str, String> = HashMap::from([
            ("WARDLINE_TWILIO_API_BASE", self.base_url.clone()),
            ("WARDLINE_TWILIO_ACCOUNT_SID", TWILIO_ACCOUNT_SID.into()),
            ("WARDLINE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN.into()),
            ("WARDLINE_TWILIO_FROM", TWILIO_FROM.into()),
            ("WARDLINE_EMAIL_API_BASE", self.base_url.clone()),
            ("WARDLINE_EMAIL_API_KEY", SENDGRID_API_KEY.into()),
            ("WARDLINE_EMAIL_FROM", EMAIL_FROM.into()),
            (
                "WARDLINE_PORTAL_BASE_DOMAIN",
                crate::PORTAL_BASE_DOMAIN.into(),
            ),
            (
                "WARDLINE_TWILIO_WEBHOOK_URL",
                crate::TWILIO_WEBHOOK_URL.into(),
            ),
            ("WARDLINE_UNSUBSCRIBE_URL", UNSUBSCRIBE_URL.into()),
        ]);
        for (name, value) in overrides {
            env.insert(name, (*value).to_owned());
        }
        Settings::from_lookup(|name| env.get(name).cloned()).expect("stand-in settings")
    }

    /// A [`Sender`] with [`Providers::settings`].
    pub fn sender(&self, overrides: &[(&str, &str)]) -> Sender {
        Sender::new(self.settings(overrides)).expect("a sender")
    }

    pub fn sms(&self) -> Vec<Sms> {
        lock(&self.state).sms.clone()
    }

    pub fn receipts(&self) -> Vec<Receipt> {
        lock(&self.state).receipts.clone()
    }

    pub fn emails(&self) -> Vec<Email> {
        lock(&self.state).emails.clone()
    }

    /// Requests received, including refused and failed ones.
    pub fn requests(&self) -> usize {
        lock(&self.state).requests
    }

    /// The next `n` requests with valid credentials are answered `status` with `body`.
    pub fn fail_next(&self, n: usize, status: u16, body: Value) {
        let status = StatusCode::from_u16(status).expect("a status code");
        let mut state = lock(&self.state);
        state.failures = n;
        state.failure = Some((status, body));
    }

    /// Every answer waits this long first (to make concurrent runs overlap).
    pub fn delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }
}

/// Counts the request and waits the configured delay.
async fn arrive(state: &Shared) {
    let delay = {
        let mut state = lock(state);
        state.requests += 1;
        state.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// The answer of a failure [`Providers::fail_next`] asked for, if one is due (checked only
/// once credentials passed, as the real APIs do).
fn injected_failure(state: &Shared) -> Option<Response> {
    let mut state = lock(state);
    if state.failures == 0 {
        return None;
    }
    state.failures -= 1;
    let (status, body) = state.failure.clone()?;
    Some((status, Json(body)).into_response())
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, Json(body)).into_response()
}

async fn twilio(
    State(state): State<Shared>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    arrive(&state).await;
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{TWILIO_ACCOUNT_SID}:{TWILIO_TOKEN}"))
    );
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str());
    if !authorized || sid != TWILIO_ACCOUNT_SID {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    if let Some(failure) = injected_failure(&state) {
        return failure;
    }
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return twilio_error(StatusCode::BAD_REQUEST, 20001, "Expected a form body");
    }
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let field = |name: &str| form.get(name).filter(|v| !v.is_empty()).cloned();
    let (Some(to), Some(from), Some(text)) = (field("To"), field("From"), field("Body")) else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To', 'From' and 'Body' are required.",
        );
    };
    let sid = format!("SM{}", Uuid::new_v4().simple());
    let answer = json!({
        "sid": sid,
        "account_sid": TWILIO_ACCOUNT_SID,
        "to": to,
        "from": from,
        "body": text,
        "status": "queued",
    });
    let mut recorded = lock(&state);
    recorded.receipts.push(Receipt {
        to: to.clone(),
        provider_id: sid,
        status_callback: field("StatusCallback"),
        custom_args: Value::Null,
        headers: Value::Null,
    });
    recorded.sms.push(Sms {
        to,
        from,
        body: text,
    });
    drop(recorded);
    (StatusCode::CREATED, Json(answer)).into_response()
}

fn sendgrid_error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "field": null, "help": null }] });
    (status, Json(body)).into_response()
}

async fn sendgrid(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    arrive(&state).await;
    let expected = format!("Bearer {SENDGRID_API_KEY}");
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str());
    if !authorized {
        return sendgrid_error(
            StatusCode::UNAUTHORIZED,
            "The provided authorization grant is invalid, expired, or revoked",
        );
    }
    if let Some(failure) = injected_failure(&state) {
        return failure;
    }
    let Ok(mail) = serde_json::from_str::<Value>(&body) else {
        return sendgrid_error(StatusCode::BAD_REQUEST, "Bad Request");
    };
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let plain = mail["content"].as_array().and_then(|parts| {
        parts
            .iter()
            .find(|part| part["type"] == "text/plain")
            .and_then(|part| text(&part["value"]))
    });
    let email = (
        text(&mail["personalizations"][0]["to"][0]["email"]),
        text(&mail["from"]["email"]),
        text(&mail["subject"]),
        plain,
    );
    let (Some(to), Some(from), Some(subject), Some(text_body)) = email else {
        return sendgrid_error(
            StatusCode::BAD_REQUEST,
            "personalizations, from, subject and content are required",
        );
    };
    // SendGrid's id of the message; its events' `sg_message_id` starts with it.
    let message_id = Uuid::new_v4().simple().to_string();
    let mut recorded = lock(&state);
    recorded.receipts.push(Receipt {
        to: to.clone(),
        provider_id: message_id.clone(),
        status_callback: None,
        custom_args: mail["custom_args"].clone(),
        headers: mail["headers"].clone(),
    });
    recorded.emails.push(Email {
        to,
        from,
        from_name: text(&mail["from"]["name"]),
        subject,
        text: text_body,
    });
    drop(recorded);
    (StatusCode::ACCEPTED, [("x-message-id", message_id)]).into_response()
}
