//! `POST /api/webhooks/email`: SendGrid's Signed Event Webhook. The request must carry
//! `X-Twilio-Email-Event-Webhook-Signature` (base64 DER ECDSA P-256 / SHA-256 over the
//! `X-Twilio-Email-Event-Webhook-Timestamp` header's text followed by the raw body) under
//! SendGrid's public key (`WARDLINE_SENDGRID_WEBHOOK_KEY`; without it the route is a 503, so
//! SendGrid keeps retrying until it is set), and a timestamp at most 5 minutes old and 1 minute
//! ahead; anything else is a 403 that changes nothing.
//!
//! The body is SendGrid's JSON array of events. Each names its message by the `outboxId`
//! custom argument message-sender sends, else by `sg_message_id`, whose part before the first
//! `.` is the `X-Message-Id` recorded at send. `delivered`, `dropped` and `bounce` set the
//! message's delivery status; a bounce (not a temporary `blocked`), a drop or a spam report
//! suppresses the address for every e-mail of the message's clinic, an unsubscribe for those
//! that are not transactional. Each `sg_event_id` is applied once (`api.email_events`); other
//! events and messages that are not Wardline's are counted as ignored. The answer is 200
//! `{accepted, duplicates, ignored}` (SendGrid retries anything else).

use crate::as_sender;
use base64::{engine::general_purpose::STANDARD, Engine};
use p256::ecdsa::{signature::Verifier, Signature, VerifyingKey};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation, Context, Error,
};

const EVENTS: Operation = operation!("email_events");

pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";
/// How old a signed timestamp may be: a captured call replayed later is refused.
const MAX_AGE_SECS: u64 = 5 * 60;
/// How far ahead of this clock a signed timestamp may be (clock skew).
const MAX_AHEAD_SECS: u64 = 60;

/// One event as SendGrid sends it; the fields Wardline reads (it sends many more).
#[derive(Deserialize)]
struct Event {
    event: String,
    sg_event_id: String,
    #[serde(default)]
    sg_message_id: Option<String>,
    /// The custom argument message-sender sends with every e-mail.
    #[serde(default, rename = "outboxId")]
    outbox_id: Option<Uuid>,
    /// A bounce's kind: `bounce` or `blocked` (temporary).
    #[serde(default, rename = "type")]
    bounce_type: Option<String>,
    /// Why a message was dropped: only some reasons are about the address.
    #[serde(default)]
    reason: Option<String>,
}

pub async fn events(ctx: &Context, _caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let key = ctx
        .config
        .delivery
        .sendgrid_webhook_key
        .as_ref()
        .ok_or_else(|| {
            Error::unavailable(
                "email_events_unavailable",
                "E-mail events (WARDLINE_SENDGRID_WEBHOOK_KEY) are not configured on this deployment.",
            )
        })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(Error::internal)?
        .as_secs();
    verify(key, &req, now)?;
    let events: Vec<Event> = req.json_array()?;
    let mut applied = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        if event.sg_event_id.is_empty() || event.sg_event_id.len() > 200 {
            return Err(Error::invalid_field(
                format!("[{i}].sg_event_id"),
                "Expected SendGrid's event id.",
            ));
        }
        if let Some((status, suppress)) = effect(event) {
            // `X-Message-Id` is the part of `sg_message_id` before the first dot.
            let provider_message_id = event
                .sg_message_id
                .as_deref()
                .and_then(|id| id.split('.').next())
                .filter(|id| !id.is_empty() && id.len() <= 200);
            applied.push(json!({
                "eventId": event.sg_event_id,
                "event": event.event,
                "messageId": event.outbox_id,
                "providerMessageId": provider_message_id,
                "status": status,
                "suppress": suppress,
            }));
        }
    }
    let ignored = events.len() - applied.len();
    let mut answer = ctx
        .db
        .call(EVENTS, &as_sender(&req), &json!({ "events": applied }))
        .await?;
    if let Some(count) = answer.get_mut("ignored") {
        *count = Value::from(count.as_u64().unwrap_or_default() + ignored as u64);
    }
    Ok(Reply::ok(answer))
}

/// What an event changes: the message's delivery status and the suppression of its address;
/// `None` for events that change nothing (processed, deferred, opens, clicks…).
fn effect(event: &Event) -> Option<(Option<&'static str>, Option<&'static str>)> {
    match event.event.as_str() {
        "delivered" => Some((Some("delivered"), None)),
        // A drop for the address suppresses it as its cause would; one for the sending
        // account (over quota, spam content, a bad header) is the message's fate only.
        "dropped" => Some((
            Some("dropped"),
            match event.reason.as_deref() {
                Some("Bounced Address" | "Invalid") => Some("bounce"),
                Some("Spam Reporting Address") => Some("spam_report"),
                Some("Unsubscribed Address") => Some("unsubscribe"),
                _ => None,
            },
        )),
        "bounce" if event.bounce_type.as_deref() == Some("blocked") => {
            Some((Some("bounced"), None))
        }
        "bounce" => Some((Some("bounced"), Some("bounce"))),
        "spamreport" => Some((None, Some("spam_report"))),
        "unsubscribe" | "group_unsubscribe" => Some((None, Some("unsubscribe"))),
        _ => None,
    }
}

/// SendGrid's signature of the timestamp and body under `key`, and a timestamp inside the
/// replay window around `now` (Unix seconds); else a 403.
fn verify(key: &VerifyingKey, req: &Incoming, now: u64) -> Result<(), Error> {
    let refused = || {
        Error::forbidden(
            "invalid_signature",
            "The request is not signed with SendGrid's event webhook key in the last 5 minutes.",
        )
    };
    let signature = req
        .header(SIGNATURE_HEADER)
        .and_then(|text| STANDARD.decode(text.trim()).ok())
        .and_then(|der| Signature::from_der(&der).ok())
        .ok_or_else(refused)?;
    let timestamp = req.header(TIMESTAMP_HEADER).ok_or_else(refused)?;
    let at: u64 = timestamp.parse().map_err(|_| refused())?;
    if at.saturating_add(MAX_AGE_SECS) < now || at > now.saturating_add(MAX_AHEAD_SECS) {
        return Err(refused());
    }
    let mut signed = Vec::with_capacity(timestamp.len() + req.body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(&req.body);
    // SendGrid's signers need not make low-S signatures; both forms are the same signature.
    let signature = signature.normalize_s().unwrap_or(signature);
    key.verify(&signed, &signature).map_err(|_| refused())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, bounce_type: Option<&str>) -> Event {
        Event {
            event: name.into(),
            sg_event_id: "e".into(),
            sg_message_id: None,
            outbox_id: None,
            bounce_type: bounce_type.map(str::to_owned),
            reason: None,
        }
    }

    #[test]
    fn events_change_status_and_suppression_as_documented() {
        let of = |name, kind| effect(&event(name, kind));
        assert_eq!(of("delivered", None), Some((Some("delivered"), None)));
        assert_eq!(
            of("bounce", Some("bounce")),
            Some((Some("bounced"), Some("bounce")))
        );
        assert_eq!(of("bounce", Some("blocked")), Some((Some("bounced"), None)));
        assert_eq!(of("dropped", None), Some((Some("dropped"), None)));
        for (reason, suppress) in [
            ("Bounced Address", Some("bounce")),
            ("Invalid", Some("bounce")),
            ("Spam Reporting Address", Some("spam_report")),
            ("Unsubscribed Address", Some("unsubscribe")),
            ("Recipient List over Package Quota", None),
            ("Spam Content (if spam checker app enabled)", None),
        ] {
            let dropped = Event {
                reason: Some(reason.into()),
                ..event("dropped", None)
            };
            assert_eq!(
                effect(&dropped),
                Some((Some("dropped"), suppress)),
                "{reason}"
            );
        }
        assert_eq!(of("spamreport", None), Some((None, Some("spam_report"))));
        assert_eq!(
            of("group_unsubscribe", None),
            Some((None, Some("unsubscribe")))
        );
        for other in [
            "processed",
            "deferred",
            "open",
            "click",
            "group_resubscribe",
        ] {
            assert_eq!(of(other, None), None, "{other}");
        }
    }
}
