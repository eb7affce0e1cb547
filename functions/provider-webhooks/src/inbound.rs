//! `POST /api/webhooks/twilio`: texts patients send to a clinic's number, signed by Twilio
//! ([`crate::twilio`]; anything else is a 403 and changes nothing). One word (any case,
//! trimmed) decides: STOP and its synonyms opt the sender's number out of SMS for the clinic
//! that owns the `To` number, START/YES/UNSTOP opt it back in, HELP/INFO get the clinic's help
//! reply as TwiML. Each `MessageSid` is applied once (`api.twilio_inbound`), as `app_anon`.

use crate::twilio;
use serde_json::json;
use wardline_shared::{
    auth::Claims,
    contact,
    db::Operation,
    http::{Incoming, Reply},
    operation, Context, Error,
};

const INBOUND: Operation = operation!("twilio_inbound");

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
    let params = twilio::verified(ctx, &req, "")?;
    let message_sid = params.message_sid()?;
    let keyword = keyword(params.optional("Body").unwrap_or_default());
    let from = params.required("From")?;
    if keyword.is_some() && !contact::is_e164(from) {
        return Err(Error::invalid_field(
            "From",
            "Expected the sender's E.164 number.",
        ));
    }
    let input = json!({
        "messageSid": message_sid,
        "from": from,
        "to": params.required("To")?,
        "keyword": keyword,
    });
    #[derive(serde::Deserialize)]
    struct Inbound {
        reply: Option<String>,
    }
    let done: Inbound = ctx.db.answer(INBOUND, &caller, &input).await?;
    Ok(Reply::text("text/xml", twiml(done.reply.as_deref())))
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
        assert_eq!(keyword(""), None);
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
