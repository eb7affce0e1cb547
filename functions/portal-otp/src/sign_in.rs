//! `POST /api/portal/auth/otp` and `/verify`: one-time-code sign-in, before any identity.
//!
//! Requesting a code always answers the same 202 body, whether or not the address belongs to
//! a patient, and does the same work either way: a code is drawn, HMAC'd and sealed in Rust and
//! the database decides in one statement whether to queue it (`api.portal_request_code`).
//! Codes and addresses reach the database only as HMAC-SHA256 under `WARDLINE_OTP_KEY`; the
//! queued message carries the code sealed for message-sender. Verifying compares digests in
//! constant time in SQL, counts failures (kept even though the answer is an error), and on
//! success starts a session ([`crate::session::signed_in`]).

use crate::session;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::portal::input as portal_input;
use wardline_shared::{
    auth::Claims,
    contact,
    db::Operation,
    http::{Incoming, Reply},
    operation,
    portal::hmac_hex,
    sealed, secret, Context, Error,
};

const REQUEST_CODE: Operation = operation!("portal_request_code");
const VERIFY_CODE: Operation = operation!("portal_verify_code");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CodeRequest {
    email: Option<String>,
    phone: Option<String>,
    invite_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CodeVerification {
    email: Option<String>,
    phone: Option<String>,
    code: String,
    invite_token: Option<String>,
}

pub async fn request_code(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: CodeRequest = req.json()?;
    let (channel, address) = identifier(body.email.as_deref(), body.phone.as_deref())?;
    let invite = body.invite_token.as_deref().map(invite_hash).transpose()?;
    let portal = ctx.portal()?;
    let keys = ctx.sealing_keys()?;
    let identifier_hash = hmac_hex(&portal.otp_key, &["identifier", channel, &address]);
    let code = secret::code();
    let message = Uuid::new_v4();
    let mut input = portal_input(portal, &req);
    input.extend([
        ("channel".into(), json!(channel)),
        ("identifier".into(), json!(address)),
        (
            "codeHash".into(),
            json!(hmac_hex(
                &portal.otp_key,
                &["code", &identifier_hash, &code]
            )),
        ),
        ("identifierHash".into(), json!(identifier_hash)),
        (
            "sealedCode".into(),
            keys.seal(&sealed::otp_code_context(message), &code)?
                .to_json(),
        ),
        ("messageId".into(), json!(message)),
    ]);
    if let Some(hash) = invite {
        input.insert("inviteHash".into(), json!(hash));
    }
    ctx.db
        .call(REQUEST_CODE, &caller, &Value::Object(input))
        .await?;
    Ok(Reply::accepted(json!({
        "status": "accepted",
        "detail": "If this address belongs to a patient of this clinic, a sign-in code is on its way. It works for 10 minutes.",
    })))
}

pub async fn verify_code(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: CodeVerification = req.json()?;
    let (channel, address) = identifier(body.email.as_deref(), body.phone.as_deref())?;
    let code = code(&body.code)?;
    let invite = body.invite_token.as_deref().map(invite_hash).transpose()?;
    let portal = ctx.portal()?;
    let identifier_hash = hmac_hex(&portal.otp_key, &["identifier", channel, &address]);
    let refresh = secret::token();
    let mut input = portal_input(portal, &req);
    input.extend([
        ("channel".into(), json!(channel)),
        ("identifier".into(), json!(address)),
        (
            "codeHash".into(),
            json!(hmac_hex(&portal.otp_key, &["code", &identifier_hash, code])),
        ),
        ("identifierHash".into(), json!(identifier_hash)),
        ("refreshHash".into(), json!(secret::digest(&refresh))),
    ]);
    if let Some(hash) = invite {
        input.insert("inviteHash".into(), json!(hash));
    }
    let session = ctx
        .db
        .answer(VERIFY_CODE, &caller, &Value::Object(input))
        .await?;
    session::signed_in(portal, session, &refresh)
}

/// Which channel and normalised address the body names: exactly one of `email` and `phone`.
fn identifier(email: Option<&str>, phone: Option<&str>) -> Result<(&'static str, String), Error> {
    match (email, phone) {
        (Some(email), None) => Ok(("email", contact::email("email", email)?)),
        (None, Some(phone)) => Ok(("sms", contact::phone("phone", phone.trim())?.to_owned())),
        (Some(_), Some(_)) => Err(Error::invalid_field(
            "phone",
            "Give an e-mail address or a phone number, not both.",
        )),
        (None, None) => Err(Error::invalid_field(
            "email",
            "An e-mail address or a phone number is required.",
        )),
    }
}

/// Six digits, as sent.
fn code(raw: &str) -> Result<&str, Error> {
    let code = raw.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(Error::invalid_field("code", "Expected the 6-digit code."))
    }
}

/// The SHA-256 of an invite link's token, as the invite stores it.
fn invite_hash(token: &str) -> Result<String, Error> {
    let shaped = (20..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !shaped {
        return Err(Error::invalid_field(
            "inviteToken",
            "Expected the token of an invite link.",
        ));
    }
    Ok(secret::digest(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(result: Result<impl std::fmt::Debug, Error>) -> String {
        result.unwrap_err().into_problem().errors[0].field.clone()
    }

    #[test]
    fn exactly_one_identifier_and_a_six_digit_code() {
        assert_eq!(
            identifier(Some(" Ann@Example.org"), None).unwrap(),
            ("email", "ann@example.org".to_owned())
        );
        assert_eq!(
            identifier(None, Some("+14155550123")).unwrap(),
            ("sms", "+14155550123".to_owned())
        );
        assert_eq!(field(identifier(None, None)), "email");
        assert_eq!(
            field(identifier(Some("a@b.co"), Some("+14155550123"))),
            "phone"
        );
        assert_eq!(field(identifier(None, Some("555-0123"))), "phone");
        assert_eq!(code(" 012345 ").unwrap(), "012345");
        for bad in ["12345", "1234567", "12a456", ""] {
            assert_eq!(field(code(bad)), "code", "{bad}");
        }
        assert_eq!(field(invite_hash("short")), "inviteToken");
        assert_eq!(
            field(invite_hash(&"x".repeat(30).replace('x', "%"))),
            "inviteToken"
        );
        assert_eq!(invite_hash(&"a".repeat(43)).unwrap().len(), 64);
    }
}
