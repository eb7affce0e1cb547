//! `POST /api/webhooks/twilio`: texts patients send to a clinic's number. The request must
//! carry Twilio's `X-Twilio-Signature` (HMAC-SHA1 under the account's auth token of the URL
//! Twilio called followed by every form parameter, sorted, as name then value), compared in
//! constant time; anything else is a 403 and changes nothing. One word (any case, trimmed)
//! decides: STOP and its synonyms opt the sender's number out of SMS for the clinic that owns
//! the `To` number, START/YES/UNSTOP opt it back in, HELP/INFO get the clinic's help reply as
//! TwiML. Each `MessageSid` is applied once (`api.twilio_inbound`).

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha1::Sha1;
use wardline_shared::{
    auth::Claims,
    contact,
    db::Operation,
    http::{Incoming, Reply},
    operation, Context, Error,
};

const INBOUND: Operation = operation!("twilio_inbound");

/// The path Twilio calls, for the signed URL when none is configured.
const PATH: &str = "/api/webhooks/twilio";

const OPT_OUT: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
const OPT_IN: &[&str] = &["START", "YES", "UNSTOP"];
const HELP: &[&str] = &["HELP", "INFO"];

pub async fn inbound(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let portal = ctx.portal()?;
    let auth_token = portal.twilio_auth_token.as_deref().ok_or_else(|| {
        Error::unavailable(
            "twilio_unavailable",
            "Inbound SMS (WARDLINE_TWILIO_AUTH_TOKEN) is not configured on this deployment.",
        )
    })?;
    let params: Vec<(String, String)> = form_urlencoded::parse(&req.body).into_owned().collect();
    let url = match &portal.twilio_webhook_url {
        Some(url) => url.clone(),
        None => format!("https://{}{PATH}", req.header("host").unwrap_or_default()),
    };
    let signature = req.header("x-twilio-signature").unwrap_or_default();
    if !signature_matches(auth_token, &url, &params, signature) {
        return Err(Error::forbidden(
            "invalid_signature",
            "The request is not signed by Twilio for this URL.",
        ));
    }
    let param = |name: &'static str| -> Result<&str, Error> {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| Error::invalid_field(name, "Twilio always sends this parameter."))
    };
    let message_sid = message_sid(param("MessageSid")?)?;
    let keyword = keyword(param("Body").unwrap_or_default());
    let from = param("From")?;
    if keyword.is_some() && !contact::is_e164(from) {
        return Err(Error::invalid_field(
            "From",
            "Expected the sender's E.164 number.",
        ));
    }
    let input = json!({
        "messageSid": message_sid,
        "from": from,
        "to": param("To")?,
        "keyword": keyword,
    });
    #[derive(serde::Deserialize)]
    struct Inbound {
        reply: Option<String>,
    }
    let done: Inbound = ctx.db.answer(INBOUND, &caller, &input).await?;
    Ok(Reply::text("text/xml", twiml(done.reply.as_deref())))
}

/// Twilio's request validation: base64 HMAC-SHA1 of the URL and the sorted parameters.
pub fn signature_matches(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let Ok(expected) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(auth_token.as_bytes()) else {
        return false;
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac.verify_slice(&expected).is_ok()
}

/// Twilio's message id, shaped as `app.inbound_sms` keeps it (letters and digits).
fn message_sid(raw: &str) -> Result<&str, Error> {
    if (10..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(raw)
    } else {
        Err(Error::invalid_field(
            "MessageSid",
            "Expected Twilio's message id.",
        ))
    }
}

/// What one word of a text asks for: `stop`, `start`, `help`, or nothing.
fn keyword(body: &str) -> Option<&'static str> {
    let word = body.trim().to_ascii_uppercase();
    if OPT_OUT.contains(&word.as_str()) {
        Some("stop")
    } else if OPT_IN.contains(&word.as_str()) {
        Some("start")
    } else if HELP.contains(&word.as_str()) {
        Some("help")
    } else {
        None
    }
}

/// A TwiML response, with the reply message when there is one.
fn twiml(reply: Option<&str>) -> String {
    let message = reply
        .map(|text| format!("<Message>{}</Message>", xml_escape(text)))
        .unwrap_or_default();
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{message}</Response>")
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_one_word_in_any_case() {
        assert_eq!(keyword("  stop "), Some("stop"));
        assert_eq!(keyword("OptOut"), Some("stop"));
        assert_eq!(keyword("unstop"), Some("start"));
        assert_eq!(keyword("Info"), Some("help"));
        assert_eq!(keyword("stop please"), None);
        assert!(message_sid("SM0123456789abcdef").is_ok());
        for bad in ["SM1", "SM-0123456789", &"S".repeat(65)] {
            let err = message_sid(bad).unwrap_err().into_problem();
            assert_eq!(err.errors[0].field, "MessageSid", "{bad}");
        }
        assert_eq!(keyword(""), None);
    }

    #[test]
    fn twilio_s_documented_example_signature_verifies() {
        // Twilio's own example (TwilioDevEd/api-snippets, security/signature_validation).
        let params: Vec<(String, String)> = [
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert!(signature_matches(
            "12345",
            url,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!signature_matches(
            "12345",
            url,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B9="
        ));
        assert!(!signature_matches("12345", url, &params, ""));
    }

    #[test]
    fn replies_are_escaped() {
        assert_eq!(
            twiml(Some("A&B <clinic>")),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>A&amp;B &lt;clinic&gt;</Message></Response>"
        );
        assert!(twiml(None).ends_with("<Response></Response>"));
    }
}
