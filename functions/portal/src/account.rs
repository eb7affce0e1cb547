//! The signed-in patient's own data: `GET /api/portal/me`, `PUT /api/portal/consent` (an
//! append-only history with time, address and client) and `GET|PUT /api/portal/preferences`
//! (SMS, e-mail, portal). Only a token Wardline's portal issued gets in (the routes'
//! `Access::Patient`); RLS lets it see only its own rows.

use serde::Deserialize;
use serde_json::{json, Value};
use wardline_shared::portal::{consent_type, input as portal_input, CONSENT_VERSION_MAX_CHARS};
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
    let consent_type = consent_type("type", &body.consent_type)?;
    let version = required_text("version", &body.version, CONSENT_VERSION_MAX_CHARS)?;
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

/// The client's `User-Agent`, cut at a character boundary to what the history keeps.
fn user_agent(req: &Incoming) -> Option<String> {
    let agent = req.header("user-agent")?;
    let mut end = agent.len().min(USER_AGENT_MAX);
    while !agent.is_char_boundary(end) {
        end -= 1;
    }
    Some(agent[..end].to_owned())
}
