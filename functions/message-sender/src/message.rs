//! A claimed outbox message and what it becomes before a provider sees it: its sealed secret
//! opened (the invite token, the sign-in code), its link built and its template rendered
//! (session notices: [`crate::notice`]).
//! Anything wrong with one message fails that message alone, with a short error code, and is
//! logged by id; the rest of the batch goes on.

use crate::notice;
use crate::providers::{is_host, Outcome, Outgoing};
use crate::templates::{self, render, Vars};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;
use wardline_shared::{
    delivery,
    sealed::{self, Keyring, Sealed},
};

/// One message as `api.outbox_claim` answers it.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claimed {
    pub id: Uuid,
    pub org_id: Uuid,
    pub kind: String,
    pub channel: String,
    pub recipient: String,
    #[serde(default)]
    pub payload: Value,
    /// Including this one.
    pub attempts: i32,
    pub clinic: Clinic,
    /// An e-mail that is not transactional: it names its one-click unsubscribe.
    #[serde(default)]
    pub unsubscribable: bool,
}

/// What the templates and providers may use of the message's clinic.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Clinic {
    pub name: String,
    pub slug: String,
    pub portal_domain: Option<String>,
    pub sms_number: Option<String>,
    /// IANA name: a notice's date and time are the clinic's.
    pub time_zone: String,
}

// The recipient and payload are contact details and secrets: never printed.
impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("kind", &self.kind)
            .field("channel", &self.channel)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Turns a claimed message into what its provider sends. `keys` is the sealing keyring, if
/// configured; `portal_base_domain` places invite links of clinics without a portal domain.
pub fn compose(
    message: &Claimed,
    keys: Option<&Keyring>,
    portal_base_domain: Option<&str>,
) -> Result<Outgoing, Outcome> {
    let clinic_name = display_name(&message.clinic.name);
    match message.kind.as_str() {
        "portal_otp" => {
            let code = open(
                message,
                keys,
                &sealed::otp_code_context(message.id),
                "sealedCode",
            )?;
            let vars = Vars {
                code: Some(&code),
                clinic_name: Some(&clinic_name),
                ..Vars::default()
            };
            on_its_channel(message, &templates::OTP, &vars, &clinic_name)
        }
        "patient_invite" => {
            if message.channel != "email" {
                return Err(Outcome::failed("unsupported_channel"));
            }
            let patient = message
                .payload
                .get("patientId")
                .and_then(Value::as_str)
                .and_then(|id| id.parse::<Uuid>().ok())
                .ok_or_else(|| Outcome::failed("malformed_payload"))?;
            let context = sealed::invite_token_context(Some(message.org_id), patient);
            let token = open(message, keys, &context, "sealedToken")?;
            let link = invite_link(&message.clinic, portal_base_domain, &token)
                .ok_or_else(|| Outcome::failed("no_portal_address"))?;
            let vars = Vars {
                clinic_name: Some(&clinic_name),
                link: Some(&link),
                ..Vars::default()
            };
            Ok(Outgoing::Email {
                to: message.recipient.clone(),
                subject: render(templates::INVITE_EMAIL_SUBJECT, &vars)?,
                text: render(templates::INVITE_EMAIL_TEXT, &vars)?,
                clinic_name,
                unsubscribe: None,
            })
        }
        kind => {
            if let Some((path, texts)) = templates::portal_news(kind) {
                let link = portal_link(&message.clinic, portal_base_domain, path)
                    .ok_or_else(|| Outcome::failed("no_portal_address"))?;
                let vars = Vars {
                    clinic_name: Some(&clinic_name),
                    link: Some(&link),
                    ..Vars::default()
                };
                return on_its_channel(message, texts, &vars, &clinic_name);
            }
            if let Some(texts) = templates::staff_email(kind) {
                return staff_email(message, texts, clinic_name);
            }
            match templates::notice(kind) {
                Some(texts) => notice::compose(message, texts, &clinic_name, portal_base_domain),
                None => Err(Outcome::failed("unknown_kind")),
            }
        }
    }
}

/// An e-mail to a member of staff, in the clinic's name and naming nothing but the clinic.
fn staff_email(
    message: &Claimed,
    texts: &templates::StaffEmail,
    clinic_name: String,
) -> Result<Outgoing, Outcome> {
    if message.channel != "email" {
        return Err(Outcome::failed("unsupported_channel"));
    }
    let vars = Vars {
        clinic_name: Some(&clinic_name),
        ..Vars::default()
    };
    Ok(Outgoing::Email {
        to: message.recipient.clone(),
        subject: render(texts.subject, &vars)?,
        text: render(texts.text, &vars)?,
        clinic_name,
        unsubscribe: None,
    })
}

/// The message rendered from `texts` for its channel: an SMS from the clinic's number, or an
/// e-mail in the clinic's name.
pub(crate) fn on_its_channel(
    message: &Claimed,
    texts: &templates::Texts,
    vars: &Vars,
    clinic_name: &str,
) -> Result<Outgoing, Outcome> {
    match message.channel.as_str() {
        "sms" => Ok(Outgoing::Sms {
            to: message.recipient.clone(),
            clinic_number: message.clinic.sms_number.clone(),
            body: render(texts.sms, vars)?,
        }),
        "email" => Ok(Outgoing::Email {
            to: message.recipient.clone(),
            subject: render(texts.email_subject, vars)?,
            text: render(texts.email_text, vars)?,
            clinic_name: clinic_name.to_owned(),
            unsubscribe: None,
        }),
        _ => Err(Outcome::failed("unsupported_channel")),
    }
}

/// Gives an e-mail that is not transactional (`api.outbox_claim` says which) its one-click
/// unsubscribe link, `{url}?token=…` ([`delivery::unsubscribe_token`]); without the key or
/// the URL it is not sent at all.
pub fn with_unsubscribe(
    outgoing: Outgoing,
    message: &Claimed,
    key: Option<&[u8]>,
    url: Option<&str>,
) -> Result<Outgoing, Outcome> {
    match outgoing {
        Outgoing::Email {
            to,
            clinic_name,
            subject,
            text,
            unsubscribe: None,
        } if message.unsubscribable => {
            let (Some(key), Some(url)) = (key, url) else {
                return Err(Outcome::failed("unsubscribe_not_configured"));
            };
            let token = delivery::unsubscribe_token(key, message.id);
            Ok(Outgoing::Email {
                to,
                clinic_name,
                subject,
                text,
                unsubscribe: Some(format!("{url}?token={token}")),
            })
        }
        other => Ok(other),
    }
}

/// Opens the payload's sealed `field`. No keyring is a deployment problem that a fix makes
/// good, so the message waits (retry); a value that does not open never will (failed).
fn open(
    message: &Claimed,
    keys: Option<&Keyring>,
    context: &str,
    field: &str,
) -> Result<String, Outcome> {
    let Some(keys) = keys else {
        return Err(Outcome::Retry("sealing_unavailable".into()));
    };
    let opened = message
        .payload
        .get(field)
        .ok_or_else(|| wardline_shared::Error::internal(format!("no {field} in the payload")))
        .and_then(Sealed::from_json)
        .and_then(|sealed| keys.open(context, &sealed));
    opened.map_err(|error| {
        tracing::error!(
            message_id = %message.id,
            kind = %message.kind,
            error = %error,
            "a message's secret did not open"
        );
        Outcome::failed("unreadable_secret")
    })
}

/// `https://{portalDomain}/invite?token=…`, else `https://{slug}.portal.{base}/invite?token=…`;
/// `None` when the clinic has no portal address at all.
pub fn invite_link(
    clinic: &Clinic,
    portal_base_domain: Option<&str>,
    token: &str,
) -> Option<String> {
    let token: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
    portal_link(
        clinic,
        portal_base_domain,
        &format!("/invite?token={token}"),
    )
}

/// `https://{portalDomain}{path}`, else `https://{slug}.portal.{base}{path}`; `None` when the
/// clinic has no portal address at all.
pub fn portal_link(
    clinic: &Clinic,
    portal_base_domain: Option<&str>,
    path: &str,
) -> Option<String> {
    let host = match (clinic.portal_domain.as_deref(), portal_base_domain) {
        (Some(domain), _) if is_host(domain) => domain.to_owned(),
        (_, Some(base)) => format!("{}.portal.{base}", clinic.slug),
        _ => return None,
    };
    Some(format!("https://{host}{path}"))
}

/// The clinic's name as a one-line display name (subjects, the e-mail sender's name).
fn display_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEYS: &str = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    fn clinic(portal_domain: Option<&str>) -> Clinic {
        Clinic {
            name: "Maple\nClinic ".into(),
            slug: "maple".into(),
            portal_domain: portal_domain.map(str::to_owned),
            sms_number: Some("+14155550100".into()),
            time_zone: "America/New_York".into(),
        }
    }

    fn message(kind: &str, channel: &str, payload: Value) -> Claimed {
        Claimed {
            id: Uuid::new_v4(),
            org_id: Uuid::new_v4(),
            kind: kind.into(),
            channel: channel.into(),
            recipient: "+14155550123".into(),
            payload,
            attempts: 1,
            clinic: clinic(None),
            unsubscribable: false,
        }
    }

    #[test]
    fn invite_links_use_the_portal_domain_or_the_base() {
        let token = "abc-DEF_123";
        assert_eq!(
            invite_link(
                &clinic(Some("portal.maple.example")),
                Some("w.example"),
                token
            )
            .unwrap(),
            "https://portal.maple.example/invite?token=abc-DEF_123"
        );
        assert_eq!(
            invite_link(&clinic(None), Some("w.example"), token).unwrap(),
            "https://maple.portal.w.example/invite?token=abc-DEF_123"
        );
        assert_eq!(invite_link(&clinic(None), None, token), None);
        assert_eq!(
            invite_link(&clinic(None), Some("w.example"), "a+b/c=").unwrap(),
            "https://maple.portal.w.example/invite?token=a%2Bb%2Fc%3D"
        );
    }

    #[test]
    fn an_otp_opens_for_its_own_message_only() {
        let keys = Keyring::parse("TEST", KEYS).unwrap();
        let mut m = message("portal_otp", "sms", json!({}));
        let sealed = keys
            .seal(&sealed::otp_code_context(m.id), "123456")
            .unwrap();
        m.payload = json!({ "sealedCode": sealed.to_json() });
        match compose(&m, Some(&keys), None).unwrap() {
            Outgoing::Sms {
                body,
                clinic_number,
                ..
            } => {
                assert!(body.starts_with("Maple Clinic: your sign-in code is 123456."));
                assert_eq!(clinic_number.as_deref(), Some("+14155550100"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            compose(&m, None, None).unwrap_err(),
            Outcome::Retry("sealing_unavailable".into())
        );
        let mut moved = m.clone();
        moved.id = Uuid::new_v4();
        assert_eq!(
            compose(&moved, Some(&keys), None).unwrap_err(),
            Outcome::failed("unreadable_secret")
        );
        let mut email = m.clone();
        email.channel = "email".into();
        assert!(matches!(
            compose(&email, Some(&keys), None),
            Ok(Outgoing::Email { .. })
        ));
    }

    #[test]
    fn unknown_kinds_and_bad_payloads_fail() {
        let keys = Keyring::parse("TEST", KEYS).unwrap();
        let m = message("newsletter", "email", json!({}));
        assert_eq!(
            compose(&m, Some(&keys), None).unwrap_err(),
            Outcome::failed("unknown_kind")
        );
        let m = message("patient_invite", "email", json!({ "patientId": "nope" }));
        assert_eq!(
            compose(&m, Some(&keys), Some("w.example")).unwrap_err(),
            Outcome::failed("malformed_payload")
        );
        let m = message("patient_invite", "sms", json!({}));
        assert_eq!(
            compose(&m, Some(&keys), None).unwrap_err(),
            Outcome::failed("unsupported_channel")
        );
    }

    #[test]
    fn a_notice_shows_the_clinic_date_time_and_link_on_either_channel() {
        let payload = json!({ "sessionId": Uuid::nil(), "startsAt": "2027-03-02T20:00:00Z" });
        let sms = message("session.reminder", "sms", payload.clone());
        match compose(&sms, None, Some("w.example")).unwrap() {
            Outgoing::Sms { body, .. } => assert_eq!(
                body,
                "Maple Clinic: a reminder of your appointment on Tuesday, March 2, 2027 at \
                 3:00 PM EST. Details: https://maple.portal.w.example/appointments \
                 Reply STOP to opt out."
            ),
            other => panic!("{other:?}"),
        }
        let email = message("session.cancelled", "email", payload);
        match compose(&email, None, Some("w.example")).unwrap() {
            Outgoing::Email { subject, text, .. } => {
                assert_eq!(subject, "Your appointment with Maple Clinic is cancelled");
                assert!(
                    text.contains("on Tuesday, March 2, 2027 at 3:00 PM EST"),
                    "{text}"
                );
                assert!(text.contains("\nhttps://maple.portal.w.example/appointments\n"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            compose(&sms, None, None).unwrap_err(),
            Outcome::failed("no_portal_address")
        );
        for payload in [json!({}), json!({ "startsAt": "tomorrow" })] {
            let m = message("session.booked", "sms", payload);
            assert_eq!(
                compose(&m, None, Some("w.example")).unwrap_err(),
                Outcome::failed("malformed_payload")
            );
        }
    }

    #[test]
    fn only_unsubscribable_emails_get_an_unsubscribe_link() {
        let payload = json!({ "sessionId": Uuid::nil(), "startsAt": "2027-03-02T20:00:00Z" });
        let mut m = message("session.reminder", "email", payload);
        let url = "https://api.w.example/api/email/unsubscribe";
        let composed = compose(&m, None, Some("w.example")).unwrap();
        let plain = with_unsubscribe(composed.clone(), &m, Some(b"k"), Some(url)).unwrap();
        assert!(matches!(
            plain,
            Outgoing::Email {
                unsubscribe: None,
                ..
            }
        ));
        m.unsubscribable = true;
        match with_unsubscribe(composed.clone(), &m, Some(b"k"), Some(url)).unwrap() {
            Outgoing::Email {
                unsubscribe: Some(link),
                ..
            } => {
                let token = link.strip_prefix(&format!("{url}?token=")).unwrap();
                assert_eq!(delivery::unsubscribe_message(b"k", token), Some(m.id));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            with_unsubscribe(composed, &m, None, Some(url)).unwrap_err(),
            Outcome::failed("unsubscribe_not_configured")
        );
    }

    #[test]
    fn staff_invites_are_emails_naming_only_the_clinic() {
        for (kind, subject_is, text_starts) in [
            (
                "staff_invite",
                "Maple Clinic added you to its team on Wardline",
                "Maple Clinic has added you to its team",
            ),
            (
                "staff_access",
                "You now have access to Maple Clinic on Wardline",
                "Maple Clinic has given you access",
            ),
        ] {
            let mut m = message(kind, "email", json!({ "clinicianId": Uuid::nil() }));
            m.recipient = "nia@test.example".into();
            match compose(&m, None, None).unwrap() {
                Outgoing::Email {
                    to, subject, text, ..
                } => {
                    assert_eq!(to, "nia@test.example");
                    assert_eq!(subject, subject_is);
                    assert!(text.starts_with(text_starts), "{text}");
                }
                other => panic!("{other:?}"),
            }
            let sms = message(kind, "sms", json!({}));
            assert_eq!(
                compose(&sms, None, None).unwrap_err(),
                Outcome::failed("unsupported_channel")
            );
        }
    }

    #[test]
    fn an_invite_without_a_portal_address_fails() {
        let keys = Keyring::parse("TEST", KEYS).unwrap();
        let mut m = message("patient_invite", "email", json!({}));
        let patient = Uuid::new_v4();
        let sealed = keys
            .seal(
                &sealed::invite_token_context(Some(m.org_id), patient),
                "tok",
            )
            .unwrap();
        m.payload = json!({ "patientId": patient, "sealedToken": sealed.to_json() });
        assert_eq!(
            compose(&m, Some(&keys), None).unwrap_err(),
            Outcome::failed("no_portal_address")
        );
        match compose(&m, Some(&keys), Some("w.example")).unwrap() {
            Outgoing::Email {
                text, clinic_name, ..
            } => {
                assert!(text.contains("https://maple.portal.w.example/invite?token=tok\n"));
                assert_eq!(clinic_name, "Maple Clinic");
            }
            other => panic!("{other:?}"),
        }
    }
}
