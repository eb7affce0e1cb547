//! `POST /api/portal/auth/refresh` and `/logout`, and what every sign-in answers with.
//!
//! A session is a family of refresh tokens: opaque, 30 days, stored as SHA-256, replaced on
//! every use (`api.portal_refresh`). Presenting a replaced token again means it was copied:
//! the whole family is revoked. Tokens come back in the body and as `HttpOnly; Secure;
//! SameSite=Lax` cookies; the refresh token is read from the cookie or the body.

use http::header::SET_COOKIE;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;
use wardline_shared::portal::input as portal_input;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation,
    portal::{self, PortalConfig, ACCESS_COOKIE, ACCESS_TTL, REFRESH_COOKIE, REFRESH_TTL},
    secret, Context, Error,
};

const REFRESH: Operation = operation!("portal_refresh");
const LOGOUT: Operation = operation!("portal_logout");

/// Where each cookie is sent: the access token to every portal route, the refresh token only
/// to the routes that use it.
const ACCESS_PATH: &str = "/api/portal";
const REFRESH_PATH: &str = "/api/portal/auth";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RefreshBody {
    refresh_token: Option<String>,
}

pub async fn refresh(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let presented = refresh_token(&req)?.ok_or_else(|| {
        Error::invalid_field(
            "refreshToken",
            "A refresh token is required, in the body or its cookie.",
        )
    })?;
    let portal = ctx.portal()?;
    let next = secret::token();
    let mut input = portal_input(portal, &req);
    input.insert("refreshHash".into(), json!(secret::digest(&presented)));
    input.insert("newRefreshHash".into(), json!(secret::digest(&next)));
    let session = ctx
        .db
        .answer(REFRESH, &caller, &Value::Object(input))
        .await?;
    signed_in(portal, session, &next)
}

pub async fn logout(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let presented = refresh_token(&req)?;
    let portal = ctx.portal()?;
    let mut input = portal_input(portal, &req);
    if let Some(token) = presented {
        input.insert("refreshHash".into(), json!(secret::digest(&token)));
    }
    let done = ctx.db.call(LOGOUT, &caller, &Value::Object(input)).await?;
    Reply::ok(done)
        .with_header(
            SET_COOKIE,
            &portal::cookie(ACCESS_COOKIE, "", ACCESS_PATH, Duration::ZERO),
        )?
        .with_header(
            SET_COOKIE,
            &portal::cookie(REFRESH_COOKIE, "", REFRESH_PATH, Duration::ZERO),
        )
}

/// What `api.portal_verify_code` and `api.portal_refresh` answer: whose session it is and
/// until when its refresh token lives.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Started {
    patient_id: Uuid,
    org_id: Uuid,
    refresh_expires_at: String,
}

/// The answer to a sign-in or refresh: a new access token for the session's patient, the new
/// refresh token, both also as cookies. `session` is `{patientId, orgId, refreshExpiresAt}`.
pub fn signed_in(portal: &PortalConfig, session: Started, refresh: &str) -> Result<Reply, Error> {
    let access = portal.signing.issue(session.patient_id, session.org_id)?;
    Reply::ok(json!({
        "accessToken": access,
        "tokenType": "Bearer",
        "expiresIn": ACCESS_TTL.as_secs(),
        "refreshToken": refresh,
        "refreshExpiresAt": session.refresh_expires_at,
        "patientId": session.patient_id,
    }))
    .with_header(
        SET_COOKIE,
        &portal::cookie(ACCESS_COOKIE, &access, ACCESS_PATH, ACCESS_TTL),
    )?
    .with_header(
        SET_COOKIE,
        &portal::cookie(REFRESH_COOKIE, refresh, REFRESH_PATH, REFRESH_TTL),
    )
}

/// The refresh token from the body (`{refreshToken}`) or, with no body, its cookie.
fn refresh_token(req: &Incoming) -> Result<Option<String>, Error> {
    let body: RefreshBody = if req.body.is_empty() {
        RefreshBody::default()
    } else {
        req.json()?
    };
    let token = body
        .refresh_token
        .or_else(|| req.cookie(REFRESH_COOKIE).map(str::to_owned));
    match token {
        Some(token) if token.is_empty() || token.len() > 128 => Err(Error::invalid_field(
            "refreshToken",
            "Expected a refresh token.",
        )),
        token => Ok(token),
    }
}
