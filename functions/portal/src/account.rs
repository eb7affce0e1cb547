//! The signed-in patient's own data: `GET /api/portal/me`, `PUT /api/portal/consent` (an
//! append-only history with time, address and client) and `GET|PUT /api/portal/preferences`
//! (SMS, e-mail, portal). Only a token Wardline's portal issued gets in (the routes'
//! `Access::Patient`); RLS lets it see only its own rows.

use serde::Deserialize;
use serde_json::{json, Value};
use wardline_shared::portal::input as portal_input;
use wardline_shared::{
    auth::Claims,
    dates::required_text,
    db::Operation,
    http::{Incoming, Reply},
    operation, Context, Error,
};

const ME: Operation = operation!(read "portal_me");
const RECORD_CONSENT: Operation = operation!("portal_record_consent");
const PREFERENCES: Operation = operation!(read "portal_preferences");
const UPDATE_PREFERENCES: Operation = operation!("portal_update_preferences");

/// The user agent kept with a consent, cut to this many bytes.
const USER_AGENT_MAX: usize = 512;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Consent {
    #[serde(rename = "type")]
    consent_type: String,
    version: String,
    granted: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Preferences {
    sms: bool,
    email: bool,
    portal: bool,
}

pub async fn me(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    req.expect_nothing()?;
    let input = Value::Object(portal_input(ctx.portal()?, &req));
    Ok(Reply::json_text(ctx.db.relay(ME, &patient, &input).await?))
}

pub async fn record_consent(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: Consent = req.json()?;
    let consent_type = consent_type(&body.consent_type)?;
    let version = required_text("version", &body.version, 50)?;
    let mut input = portal_input(ctx.portal()?, &req);
    input.extend([
        ("type".into(), json!(consent_type)),
        ("version".into(), json!(version)),
        ("granted".into(), json!(body.granted)),
        ("userAgent".into(), json!(user_agent(&req))),
    ]);
    let recorded = ctx
        .db
        .call(RECORD_CONSENT, &patient, &Value::Object(input))
        .await?;
    Ok(Reply::ok(recorded))
}

pub async fn preferences(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    req.expect_nothing()?;
    let input = Value::Object(portal_input(ctx.portal()?, &req));
    Ok(Reply::json_text(
        ctx.db.relay(PREFERENCES, &patient, &input).await?,
    ))
}

pub async fn update_preferences(
    ctx: &Context,
    patient: Claims,
    req: Incoming,
) -> Result<Reply, Error> {
    let body: Preferences = req.json()?;
    let mut input = portal_input(ctx.portal()?, &req);
    input.extend([
        ("sms".into(), json!(body.sms)),
        ("email".into(), json!(body.email)),
        ("portal".into(), json!(body.portal)),
    ]);
    let saved = ctx
        .db
        .call(UPDATE_PREFERENCES, &patient, &Value::Object(input))
        .await?;
    Ok(Reply::ok(saved))
}

/// A consent type is a short snake_case name the clinic's client chooses (`terms`,
/// `privacy_notice`, `telehealth`, …).
fn consent_type(raw: &str) -> Result<&str, Error> {
    let shaped = (1..=50).contains(&raw.len())
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if shaped {
        Ok(raw)
    } else {
        Err(Error::invalid_field(
            "type",
            "Expected a snake_case consent type such as terms or privacy_notice.",
        ))
    }
}

/// The client's `User-Agent`, cut at a character boundary to what the history keeps.
fn user_agent(req: &Incoming) -> Option<String> {
    let agent = req.header("user-agent")?;
    let mut end = agent.len().min(USER_AGENT_MAX);
    while !agent.is_char_boundary(end) {
        end -= 1;
    }
    Some(agent[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_types_are_snake_case_names() {
        assert!(consent_type("privacy_notice_2").is_ok());
        for bad in ["", "Terms", "1terms", "terms-of-use", &"x".repeat(51)] {
            let err = consent_type(bad).unwrap_err().into_problem();
            assert_eq!(err.errors[0].field, "type", "{bad}");
        }
    }
}
