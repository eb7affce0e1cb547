//! The way out: one adapter per channel (SMS through Twilio's Messages API, e-mail through
//! SendGrid's v3 mail send API), chosen by [`Settings`] read once per container, and the
//! classification of what a provider answered into sent, retry or failed.
//!
//! Delivery is at least once: a timeout may hide a message the provider did send, and it is
//! retried like any other transient failure. Errors recorded in the outbox name the provider,
//! the status and (Twilio) its numeric error code, never a response body, which may echo the
//! recipient.

use crate::templates::TemplateError;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;
use wardline_shared::{contact, delivery::TWILIO_STATUS_SUFFIX, error::ConfigError, Error};

/// Every provider call gives up after this long (and is retried later).
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// What to do with a composed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver through the providers (production).
    Send,
    /// Log the message instead of sending it, and count it as sent: the local stack only (it
    /// prints recipients and codes).
    Log,
}

/// A provider that is not set up: the variable that is missing. Messages of its channel fail
/// with an error naming it; the other channel still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unconfigured(pub &'static str);

/// Twilio's Messages API.
#[derive(Clone)]
pub struct Twilio {
    pub api_base: String,
    pub account_sid: String,
    pub auth_token: String,
    /// The number texts come from when the clinic has none of its own.
    pub from: Option<String>,
    /// Where Twilio reports what became of each text (`WARDLINE_TWILIO_WEBHOOK_URL` followed
    /// by `/status`); none without that setting.
    pub status_callback: Option<String>,
}

impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twilio")
            .field("api_base", &self.api_base)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"[redacted]")
            .field("from", &self.from)
            .field("status_callback", &self.status_callback)
            .finish()
    }
}

/// SendGrid's v3 mail send API.
#[derive(Clone)]
pub struct SendGrid {
    pub api_base: String,
    pub api_key: String,
    /// The sender address; the display name is the clinic's.
    pub from: String,
}

impl std::fmt::Debug for SendGrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendGrid")
            .field("api_base", &self.api_base)
            .field("api_key", &"[redacted]")
            .field("from", &self.from)
            .finish()
    }
}

/// The sender's configuration, read once per container (README, configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    pub sms: Result<Twilio, Unconfigured>,
    pub email: Result<SendGrid, Unconfigured>,
    /// Invite links of clinics without a portal domain go to `{slug}.portal.{this}`.
    pub portal_base_domain: Option<String>,
    /// The one-click unsubscribe route (`WARDLINE_UNSUBSCRIBE_URL`) that e-mails which are not
    /// transactional name in `List-Unsubscribe`; without it they are not sent.
    pub unsubscribe_url: Option<String>,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads any key-value source. A malformed value is an error naming its variable; a
    /// missing provider setting only leaves that channel [`Unconfigured`].
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let get = |name: &str| get(name).filter(|value| !value.trim().is_empty());
        let mode = match get("WARDLINE_MESSAGES_MODE").as_deref() {
            None | Some("send") => Mode::Send,
            Some("log") => Mode::Log,
            Some(other) => {
                return Err(ConfigError::new(
                    "WARDLINE_MESSAGES_MODE",
                    format!("{other:?}: use send or log"),
                ))
            }
        };
        let sms = {
            let status_callback = get("WARDLINE_TWILIO_WEBHOOK_URL")
                .map(|url| {
                    let url = format!("{}{TWILIO_STATUS_SUFFIX}", url.trim());
                    api_base("WARDLINE_TWILIO_WEBHOOK_URL", Some(url), "")
                })
                .transpose()?;
            let api_base = api_base(
                "WARDLINE_TWILIO_API_BASE",
                get("WARDLINE_TWILIO_API_BASE"),
                "https://api.twilio.com",
            )?;
            let from = get("WARDLINE_TWILIO_FROM")
                .map(|from| {
                    if contact::is_e164(&from) {
                        Ok(from)
                    } else {
                        Err(ConfigError::new(
                            "WARDLINE_TWILIO_FROM",
                            "expected an E.164 number such as +14155550123",
                        ))
                    }
                })
                .transpose()?;
            let account_sid = get("WARDLINE_TWILIO_ACCOUNT_SID")
                .map(|sid| {
                    // It becomes a path segment of the API URL.
                    if sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
                        Ok(sid)
                    } else {
                        Err(ConfigError::new(
                            "WARDLINE_TWILIO_ACCOUNT_SID",
                            "expected letters and digits (AC…)",
                        ))
                    }
                })
                .transpose()?;
            match (account_sid, get("WARDLINE_TWILIO_AUTH_TOKEN")) {
                (None, _) => Err(Unconfigured("WARDLINE_TWILIO_ACCOUNT_SID")),
                (Some(_), None) => Err(Unconfigured("WARDLINE_TWILIO_AUTH_TOKEN")),
                (Some(account_sid), Some(auth_token)) => Ok(Twilio {
                    api_base,
                    account_sid,
                    auth_token,
                    from,
                    status_callback,
                }),
            }
        };
        let email = {
            let api_base = api_base(
                "WARDLINE_EMAIL_API_BASE",
                get("WARDLINE_EMAIL_API_BASE"),
                "https://api.sendgrid.com",
            )?;
            let from = get("WARDLINE_EMAIL_FROM")
                .map(|from| {
                    contact::email("WARDLINE_EMAIL_FROM", &from).map_err(|_| {
                        ConfigError::new("WARDLINE_EMAIL_FROM", "expected an e-mail address")
                    })
                })
                .transpose()?;
            match (get("WARDLINE_EMAIL_API_KEY"), from) {
                (None, _) => Err(Unconfigured("WARDLINE_EMAIL_API_KEY")),
                (Some(_), None) => Err(Unconfigured("WARDLINE_EMAIL_FROM")),
                (Some(api_key), Some(from)) => Ok(SendGrid {
                    api_base,
                    api_key,
                    from,
                }),
            }
        };
        let portal_base_domain = get("WARDLINE_PORTAL_BASE_DOMAIN")
            .map(|domain| {
                let domain = domain.trim().to_ascii_lowercase();
                if is_host(&domain) {
                    Ok(domain)
                } else {
                    Err(ConfigError::new(
                        "WARDLINE_PORTAL_BASE_DOMAIN",
                        "expected a domain name such as wardline.example",
                    ))
                }
            })
            .transpose()?;
        let unsubscribe_url = get("WARDLINE_UNSUBSCRIBE_URL")
            .map(|url| api_base("WARDLINE_UNSUBSCRIBE_URL", Some(url), ""))
            .transpose()?;
        Ok(Settings {
            mode,
            sms,
            email,
            portal_base_domain,
            unsubscribe_url,
        })
    }
}

/// An API base URL (or a webhook's) without a trailing slash: https, or http to a loopback
/// stand-in only (so credentials never cross a network in the clear).
fn api_base(
    name: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    let base = value.unwrap_or_else(|| default.to_owned());
    let base = base.trim().trim_end_matches('/').to_owned();
    let authority = if let Some(rest) = base.strip_prefix("https://") {
        rest
    } else if let Some(rest) = base.strip_prefix("http://") {
        let authority = rest.split('/').next().unwrap_or_default();
        let host = if authority.starts_with("[::1]") {
            "[::1]"
        } else {
            authority.split(':').next().unwrap_or_default()
        };
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Err(ConfigError::new(name, "http is allowed to loopback only"));
        }
        rest
    } else {
        return Err(ConfigError::new(
            name,
            format!("{base:?} is not an https URL"),
        ));
    };
    if authority.is_empty() || authority.contains(['?', '#', ' ']) {
        return Err(ConfigError::new(
            name,
            format!("{base:?} is not a base URL"),
        ));
    }
    Ok(base)
}

/// A host name as a link may carry it: lower-case labels, digits, hyphens, dots, a port.
pub(crate) fn is_host(host: &str) -> bool {
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// What became of one message: the outbox's `outcome` and, unless sent, why (no PHI: codes
/// and statuses only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Transient: try again later (with backoff, up to the attempt limit).
    Retry(String),
    /// Permanent: never tried again.
    Failed(String),
}

impl Outcome {
    pub fn failed(error: impl Into<String>) -> Outcome {
        Outcome::Failed(error.into())
    }

    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Retry(_) => "retry",
            Outcome::Failed(_) => "failed",
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Sent => None,
            Outcome::Retry(error) | Outcome::Failed(error) => Some(error),
        }
    }
}

impl From<TemplateError> for Outcome {
    fn from(error: TemplateError) -> Outcome {
        tracing::error!(error = %error, "a message template did not render");
        Outcome::failed("template_error")
    }
}

/// A composed message, ready for its channel's provider.
#[derive(Clone, PartialEq, Eq)]
pub enum Outgoing {
    Sms {
        to: String,
        /// The clinic's own number, if it has one.
        clinic_number: Option<String>,
        body: String,
    },
    Email {
        to: String,
        clinic_name: String,
        subject: String,
        text: String,
        /// The one-click unsubscribe URL of an e-mail that is not transactional.
        unsubscribe: Option<String>,
    },
}

// Bodies hold codes and links, recipients are contact details: neither is ever printed.
impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.channel())
    }
}

impl Outgoing {
    pub fn channel(&self) -> &'static str {
        match self {
            Outgoing::Sms { .. } => "sms",
            Outgoing::Email { .. } => "email",
        }
    }
}

/// A provider's id of a message it accepted (Twilio's SID, SendGrid's `X-Message-Id`), as
/// the outbox keeps it; anything else is not kept.
fn provider_id(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|id| (1..=200).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
}

/// What one send came to: its outcome and, when sent, the provider's id of the message, which
/// the provider's delivery events name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub outcome: Outcome,
    pub provider_message_id: Option<String>,
}

impl From<Outcome> for Attempt {
    fn from(outcome: Outcome) -> Attempt {
        Attempt {
            outcome,
            provider_message_id: None,
        }
    }
}

/// The settings and the one HTTP client of a container.
pub struct Sender {
    settings: Settings,
    http: reqwest::Client,
}

impl Sender {
    /// Built once per container; warns at start when a channel cannot be delivered.
    pub fn new(settings: Settings) -> Result<Sender, Error> {
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            // The providers answer directly; a redirect would be a misconfiguration, and
            // must not carry the credentials anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::internal(format!("message-sender http client: {e}")))?;
        if settings.mode == Mode::Send {
            for (channel, missing) in [
                ("sms", settings.sms.as_ref().err()),
                ("email", settings.email.as_ref().err()),
            ] {
                if let Some(Unconfigured(variable)) = missing {
                    tracing::warn!(
                        channel,
                        variable,
                        "provider not configured: messages of this channel will fail"
                    );
                }
            }
        }
        Ok(Sender { settings, http })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Delivers one composed message (or, in log mode, says it would).
    pub async fn send(&self, id: Uuid, kind: &str, message: &Outgoing) -> Attempt {
        if self.settings.mode == Mode::Log {
            // The local stack's demo data is not real, and a developer signing in to the
            // portal needs the code: log mode prints the message. Never set it in a deployment.
            let (to, text) = match message {
                Outgoing::Sms { to, body, .. } => (to, body),
                Outgoing::Email { to, text, .. } => (to, text),
            };
            tracing::info!(
                message_id = %id,
                kind,
                channel = message.channel(),
                to = %to,
                text = %text,
                "would send (WARDLINE_MESSAGES_MODE=log)"
            );
            return Outcome::Sent.into();
        }
        match message {
            Outgoing::Sms {
                to,
                clinic_number,
                body,
            } => match &self.settings.sms {
                Ok(twilio) => {
                    self.twilio(twilio, id, to, clinic_number.as_deref(), body)
                        .await
                }
                Err(Unconfigured(variable)) => {
                    Outcome::failed(format!("sms_not_configured: {variable} is not set")).into()
                }
            },
            Outgoing::Email {
                to,
                clinic_name,
                subject,
                text,
                unsubscribe,
            } => match &self.settings.email {
                Ok(sendgrid) => {
                    let mail = sendgrid_mail(
                        &sendgrid.from,
                        id,
                        to,
                        clinic_name,
                        subject,
                        text,
                        unsubscribe.as_deref(),
                    );
                    self.sendgrid(sendgrid, &mail).await
                }
                Err(Unconfigured(variable)) => {
                    Outcome::failed(format!("email_not_configured: {variable} is not set")).into()
                }
            },
        }
    }

    async fn twilio(
        &self,
        twilio: &Twilio,
        id: Uuid,
        to: &str,
        clinic_number: Option<&str>,
        body: &str,
    ) -> Attempt {
        let Some(from) = clinic_number.or(twilio.from.as_deref()) else {
            return Outcome::failed("no_sender_number").into();
        };
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            twilio.api_base, twilio.account_sid
        );
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("To", to)
                .append_pair("From", from)
                .append_pair("Body", body);
            // The callback names the message itself: it may arrive before the send is
            // settled and the message knows Twilio's id of it.
            if let Some(url) = &twilio.status_callback {
                form.append_pair("StatusCallback", &format!("{url}?outboxId={id}"));
            }
            form.finish()
        };
        let request = self
            .http
            .post(url)
            .basic_auth(&twilio.account_sid, Some(&twilio.auth_token))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(form);
        match request.send().await {
            // The answer is the message's JSON; its `sid` is what the status callback names.
            Ok(response) if response.status().is_success() => {
                let sid = response.json::<Value>().await.ok();
                Attempt {
                    outcome: Outcome::Sent,
                    provider_message_id: provider_id(sid.as_ref().and_then(|m| m["sid"].as_str())),
                }
            }
            other => answer("twilio", other).await.into(),
        }
    }

    async fn sendgrid(&self, sendgrid: &SendGrid, mail: &Value) -> Attempt {
        let url = format!("{}/v3/mail/send", sendgrid.api_base);
        let request = self
            .http
            .post(url)
            .bearer_auth(&sendgrid.api_key)
            .json(mail);
        match request.send().await {
            Ok(response) if response.status().is_success() => Attempt {
                outcome: Outcome::Sent,
                provider_message_id: provider_id(
                    response
                        .headers()
                        .get("x-message-id")
                        .and_then(|v| v.to_str().ok()),
                ),
            },
            other => answer("sendgrid", other).await.into(),
        }
    }
}

/// SendGrid's v3 mail: plain text in the clinic's name, with the outbox id as a custom
/// argument (SendGrid echoes it in its events) and, for an e-mail that is not transactional,
/// the one-click unsubscribe headers.
fn sendgrid_mail(
    from: &str,
    id: Uuid,
    to: &str,
    clinic_name: &str,
    subject: &str,
    text: &str,
    unsubscribe: Option<&str>,
) -> Value {
    let mut mail = json!({
        "personalizations": [{ "to": [{ "email": to }] }],
        "custom_args": { "outboxId": id },
        "from": { "email": from, "name": clinic_name },
        "subject": subject,
        "content": [{ "type": "text/plain", "value": text }],
        // Click tracking would rewrite the invite link through the provider's redirect
        // domain, putting the token in its logs; opens would track a patient.
        "tracking_settings": {
            "click_tracking": { "enable": false, "enable_text": false },
            "open_tracking": { "enable": false },
        },
    });
    if let Some(link) = unsubscribe {
        // RFC 8058: mail clients offer "unsubscribe" and POST to the link themselves.
        mail["headers"] = json!({
            "List-Unsubscribe": format!("<{link}>"),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        });
    }
    mail
}

/// Reads what a provider answered into an [`Outcome`].
async fn answer(
    provider: &'static str,
    response: Result<reqwest::Response, reqwest::Error>,
) -> Outcome {
    match response {
        Ok(response) => {
            let status = response.status();
            let body = if status.is_client_error() {
                match response.bytes().await {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        tracing::warn!(provider, error = %e, "could not read an error response");
                        Default::default()
                    }
                }
            } else {
                Default::default()
            };
            classify(provider, status, &body)
        }
        Err(error) => transport_failure(provider, &error),
    }
}

/// 2xx sent; 408, 429 and 5xx retried; any other status failed, with Twilio's numeric error
/// `code` when its JSON carries one (e.g. 21610, an unsubscribed recipient).
pub fn classify(provider: &str, status: StatusCode, body: &[u8]) -> Outcome {
    if status.is_success() {
        return Outcome::Sent;
    }
    let described = format!("{provider} {}", status.as_u16());
    if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        return Outcome::Retry(described);
    }
    let code = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|json| json.get("code").and_then(Value::as_u64));
    match code {
        Some(code) => Outcome::Failed(format!("{described} code {code}")),
        None => Outcome::Failed(described),
    }
}

/// Timeouts and connection problems are transient; a request that could not even be built is
/// not.
fn transport_failure(provider: &str, error: &reqwest::Error) -> Outcome {
    // reqwest's error text names the URL, which holds no secret (the credentials travel in
    // headers); it is logged, not stored.
    tracing::warn!(provider, error = %error, "provider request failed");
    if error.is_builder() {
        Outcome::failed(format!("{provider} request could not be built"))
    } else if error.is_timeout() {
        Outcome::Retry(format!("{provider} timeout"))
    } else if error.is_connect() {
        Outcome::Retry(format!("{provider} connection failed"))
    } else {
        Outcome::Retry(format!("{provider} transport error"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(move |k| map.get(k).cloned())
    }

    const FULL: &[(&str, &str)] = &[
        (
            "WARDLINE_TWILIO_ACCOUNT_SID",
            "AC0123456789abcdef0123456789abcdef",
        ),
        ("WARDLINE_TWILIO_AUTH_TOKEN", "token"),
        ("WARDLINE_TWILIO_FROM", "+14155550100"),
        ("WARDLINE_EMAIL_API_KEY", "SG.key"),
        ("WARDLINE_EMAIL_FROM", "Portal@Clinic.Example"),
        ("WARDLINE_PORTAL_BASE_DOMAIN", "Wardline.Example"),
    ];

    #[test]
    fn defaults_send_through_the_real_apis() {
        let s = settings(FULL).unwrap();
        assert_eq!(s.mode, Mode::Send);
        let twilio = s.sms.unwrap();
        assert_eq!(twilio.api_base, "https://api.twilio.com");
        assert_eq!(twilio.from.as_deref(), Some("+14155550100"));
        let sendgrid = s.email.unwrap();
        assert_eq!(sendgrid.api_base, "https://api.sendgrid.com");
        assert_eq!(sendgrid.from, "portal@clinic.example");
        assert_eq!(s.portal_base_domain.as_deref(), Some("wardline.example"));
        assert!(!format!("{sendgrid:?} {twilio:?}").contains("SG.key"));
        assert!(!format!("{twilio:?}").contains("token\""));
    }

    #[test]
    fn missing_provider_settings_leave_only_that_channel_unconfigured() {
        let s = settings(&[("WARDLINE_MESSAGES_MODE", "log")]).unwrap();
        assert_eq!(s.mode, Mode::Log);
        assert_eq!(
            s.sms.unwrap_err(),
            Unconfigured("WARDLINE_TWILIO_ACCOUNT_SID")
        );
        assert_eq!(s.email.unwrap_err(), Unconfigured("WARDLINE_EMAIL_API_KEY"));
        assert_eq!(s.portal_base_domain, None);
        let s = settings(&[
            ("WARDLINE_TWILIO_ACCOUNT_SID", "AC1"),
            ("WARDLINE_EMAIL_API_KEY", "k"),
            ("WARDLINE_EMAIL_FROM", ""),
        ])
        .unwrap();
        assert_eq!(
            s.sms.unwrap_err(),
            Unconfigured("WARDLINE_TWILIO_AUTH_TOKEN")
        );
        assert_eq!(s.email.unwrap_err(), Unconfigured("WARDLINE_EMAIL_FROM"));
    }

    #[test]
    fn malformed_settings_name_their_variable() {
        for (name, value) in [
            ("WARDLINE_MESSAGES_MODE", "dry-run"),
            ("WARDLINE_TWILIO_API_BASE", "ftp://twilio"),
            ("WARDLINE_TWILIO_API_BASE", "http://api.twilio.com"),
            ("WARDLINE_EMAIL_API_BASE", "https://"),
            ("WARDLINE_TWILIO_FROM", "4155550100"),
            ("WARDLINE_TWILIO_ACCOUNT_SID", "AC1/../x"),
            ("WARDLINE_EMAIL_FROM", "not an address"),
            ("WARDLINE_PORTAL_BASE_DOMAIN", "https://wardline.example"),
            ("WARDLINE_PORTAL_BASE_DOMAIN", "bad_domain.example"),
        ] {
            let mut pairs = FULL.to_vec();
            pairs.push((name, value));
            pairs.retain(|(k, v)| *k != name || *v == value);
            let err = settings(&pairs).unwrap_err();
            assert_eq!(err.name, name, "{value}");
        }
        let local = settings(&[
            ("WARDLINE_TWILIO_API_BASE", "http://127.0.0.1:4010/"),
            ("WARDLINE_EMAIL_API_BASE", "http://localhost:4011"),
        ])
        .unwrap();
        assert!(local.sms.is_err());
    }

    #[test]
    fn statuses_are_classified() {
        let ok = |s: u16| classify("twilio", StatusCode::from_u16(s).unwrap(), b"");
        assert_eq!(ok(201), Outcome::Sent);
        assert_eq!(ok(202), Outcome::Sent);
        for status in [408, 429, 500, 502, 503] {
            assert_eq!(ok(status), Outcome::Retry(format!("twilio {status}")));
        }
        assert_eq!(ok(400), Outcome::failed("twilio 400"));
        assert_eq!(ok(301), Outcome::failed("twilio 301"));
        let unsubscribed = br#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient +14155550123", "status": 400}"#;
        let failed = classify("twilio", StatusCode::BAD_REQUEST, unsubscribed);
        assert_eq!(failed, Outcome::failed("twilio 400 code 21610"));
        let sendgrid = br#"{"errors": [{"message": "bad to: ann@example.org"}]}"#;
        assert_eq!(
            classify("sendgrid", StatusCode::BAD_REQUEST, sendgrid),
            Outcome::failed("sendgrid 400"),
            "no body text"
        );
    }

    #[test]
    fn hosts_are_checked() {
        for good in [
            "wardline.example",
            "localhost",
            "portal.a-b.example",
            "localhost:3000",
        ] {
            assert!(is_host(good), "{good}");
        }
        for bad in [
            "",
            "a..b",
            "-a.example",
            "A.example",
            "a.example/x",
            "a:",
            "a:x",
            "a b",
        ] {
            assert!(!is_host(bad), "{bad}");
        }
    }
}
