//! Twilio's signed webhooks (inbound texts, message status): the request must carry
//! `X-Twilio-Signature`, the base64 HMAC-SHA1 under the account's auth token of the URL Twilio
//! called followed by every form parameter, sorted, as name then value, compared in constant
//! time; anything else is a 403 that changes nothing.

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use wardline_shared::{http::Incoming, Context, Error};

/// The inbound webhook's path; the status callback is this followed by
/// [`wardline_shared::delivery::TWILIO_STATUS_SUFFIX`].
pub const INBOUND_PATH: &str = "/api/webhooks/twilio";

/// A webhook call's form parameters, once its signature is Twilio's for the URL of the
/// inbound webhook followed by `suffix` (`WARDLINE_TWILIO_WEBHOOK_URL`, else
/// `https://{Host}/api/webhooks/twilio`). 503 without an auth token, 403 for any other
/// signature.
pub fn verified(ctx: &Context, req: &Incoming, suffix: &str) -> Result<Params, Error> {
    let delivery = &ctx.config.delivery;
    let auth_token = delivery.twilio_auth_token.as_deref().ok_or_else(|| {
        Error::unavailable(
            "twilio_unavailable",
            "Twilio's webhooks (WARDLINE_TWILIO_AUTH_TOKEN) are not configured on this deployment.",
        )
    })?;
    let params: Vec<(String, String)> = form_urlencoded::parse(&req.body).into_owned().collect();
    let mut url = match &delivery.twilio_webhook_url {
        Some(url) => format!("{url}{suffix}"),
        None => format!(
            "https://{}{INBOUND_PATH}{suffix}",
            req.header("host").unwrap_or_default()
        ),
    };
    // Twilio signs the whole URL it called, query included (the status callback's
    // `outboxId`).
    if !req.query.is_empty() {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &req.query {
            query.append_pair(name, value);
        }
        url = format!("{url}?{}", query.finish());
    }
    let signature = req.header("x-twilio-signature").unwrap_or_default();
    if !signature_matches(auth_token, &url, &params, signature) {
        return Err(Error::forbidden(
            "invalid_signature",
            "The request is not signed by Twilio for this URL.",
        ));
    }
    Ok(Params(params))
}

/// The verified form parameters of a Twilio call.
pub struct Params(Vec<(String, String)>);

impl Params {
    /// A parameter Twilio always sends; a 400 naming it when missing.
    pub fn required(&self, name: &'static str) -> Result<&str, Error> {
        self.optional(name)
            .ok_or_else(|| Error::invalid_field(name, "Twilio always sends this parameter."))
    }

    pub fn optional(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `MessageSid`, shaped as the tables keep it (letters and digits).
    pub fn message_sid(&self) -> Result<&str, Error> {
        let raw = self.required("MessageSid")?;
        if (10..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(raw)
        } else {
            Err(Error::invalid_field(
                "MessageSid",
                "Expected Twilio's message id.",
            ))
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn message_sids_are_letters_and_digits() {
        let sid = |raw: &str| Params(params(&[("MessageSid", raw)]));
        assert!(sid("SM0123456789abcdef").message_sid().is_ok());
        for bad in ["SM1", "SM-0123456789", &"S".repeat(65)] {
            let err = sid(bad).message_sid().unwrap_err().into_problem();
            assert_eq!(err.errors[0].field, "MessageSid", "{bad}");
        }
        let missing = Params(Vec::new()).message_sid().unwrap_err().into_problem();
        assert_eq!(missing.errors[0].field, "MessageSid");
    }

    #[test]
    fn twilio_s_documented_example_signature_verifies() {
        // Twilio's own example (TwilioDevEd/api-snippets, security/signature_validation).
        let params = params(&[
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
        ]);
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
}
