//! `POST /api/portal/auth/refresh` and `/logout`, and what every sign-in answers with.
//!
//! A session is a family of refresh tokens: opaque, 30 days, stored as SHA-256, replaced on
//! every use (`api.portal_refresh`). Presenting a replaced token again means it was copied:
//! the whole family is revoked. Tokens come back in the body and as `HttpOnly; Secure;
//! SameSite=Lax` cookies; the refresh token is read from the cookie or the body.
//!
//! A session belongs to the account that signed in; its access tokens act for that account or,
//! for a guardian, one of their dependents (`POST /api/portal/auth/act-for`, or `actingFor` on
//! a refresh). The database asks on every request whether the account still may.

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
const ACT_FOR: Operation = operation!("portal_act_for");

/// Where each cookie is sent: the access token to every portal route, the refresh token only
/// to the routes that use it.
const ACCESS_PATH: &str = "/api/portal";
const REFRESH_PATH: &str = "/api/portal/auth";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RefreshBody {
    refresh_token: Option<String>,
    acting_for: Option<Uuid>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ActFor {
    patient_id: Uuid,
}

pub async fn refresh(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body = refresh_body(&req)?;
    let presented = body.refresh_token.ok_or_else(|| {
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
    if let Some(patient) = body.acting_for {
        input.insert("actingFor".into(), json!(patient));
    }
    let session = ctx
        .db
        .answer(REFRESH, &caller, &Value::Object(input))
        .await?;
    signed_in(portal, session, &next)
}

pub async fn logout(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body = refresh_body(&req)?;
    if body.acting_for.is_some() {
        return Err(Error::invalid_field(
            "actingFor",
            "Signing out takes only a refresh token.",
        ));
    }
    let presented = body.refresh_token;
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

/// `POST /api/portal/auth/act-for` with `{patientId}`: a new access token of the same account
/// acting for `patientId` (itself, or a dependent it is an active guardian of; 403
/// `not_a_guardian` otherwise). The session's refresh token stays as it is.
pub async fn act_for(ctx: &Context, account: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: ActFor = req.json()?;
    let portal = ctx.portal()?;
    let mut input = portal_input(portal, &req);
    input.insert("patientId".into(), json!(body.patient_id));
    let acting: Acting = ctx
        .db
        .answer(ACT_FOR, &account, &Value::Object(input))
        .await?;
    let access = acting.access_token(portal)?;
    Reply::ok(acting.with_access(&access, json!({})))
        .with_header(SET_COOKIE, &access_cookie(&access))
}

/// Who a session's access tokens are for, as `api.portal_verify_code`, `api.portal_refresh`
/// and `api.portal_act_for` answer it: the account that signed in, the patient it acts for
/// and whom else it may act for.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Acting {
    account_id: Uuid,
    patient_id: Uuid,
    org_id: Uuid,
    patients: Value,
}

impl Acting {
    fn access_token(&self, portal: &PortalConfig) -> Result<String, Error> {
        portal
            .signing
            .issue(self.account_id, self.patient_id, self.org_id)
    }

    /// The answer's body: the access token and whom it is for, with `more` (the refresh
    /// token's fields after a sign-in or refresh).
    fn with_access(self, access: &str, more: Value) -> Value {
        let mut body = json!({
            "accessToken": access,
            "tokenType": "Bearer",
            "expiresIn": ACCESS_TTL.as_secs(),
            "accountId": self.account_id,
            "patientId": self.patient_id,
            "patients": self.patients,
        });
        if let (Some(body), Value::Object(more)) = (body.as_object_mut(), more) {
            body.extend(more);
        }
        body
    }
}

/// A started or renewed session: who it acts for and until when its refresh token lives.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    #[serde(flatten)]
    acting: Acting,
    refresh_expires_at: String,
}

/// The answer to a sign-in or refresh: a new access token, the new refresh token, both also as
/// cookies.
pub fn signed_in(portal: &PortalConfig, session: Started, refresh: &str) -> Result<Reply, Error> {
    let access = session.acting.access_token(portal)?;
    let body = session.acting.with_access(
        &access,
        json!({"refreshToken": refresh, "refreshExpiresAt": session.refresh_expires_at}),
    );
    Reply::ok(body)
        .with_header(SET_COOKIE, &access_cookie(&access))?
        .with_header(
            SET_COOKIE,
            &portal::cookie(REFRESH_COOKIE, refresh, REFRESH_PATH, REFRESH_TTL),
        )
}

fn access_cookie(access: &str) -> String {
    portal::cookie(ACCESS_COOKIE, access, ACCESS_PATH, ACCESS_TTL)
}

/// The body of a refresh or sign-out, its refresh token taken from the cookie when the body
/// has none.
fn refresh_body(req: &Incoming) -> Result<RefreshBody, Error> {
    let mut body: RefreshBody = if req.body.is_empty() {
        RefreshBody::default()
    } else {
        req.json()?
    };
    body.refresh_token = body
        .refresh_token
        .or_else(|| req.cookie(REFRESH_COOKIE).map(str::to_owned));
    match &body.refresh_token {
        Some(token) if token.is_empty() || token.len() > 128 => Err(Error::invalid_field(
            "refreshToken",
            "Expected a refresh token.",
        )),
        _ => Ok(body),
    }
}
