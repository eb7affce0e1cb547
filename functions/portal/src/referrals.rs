//! Referral links: a patient shares a link to their clinic's portal that carries only a random
//! code (`https://{portal host}/join?ref={code}`, nothing about them); when staff invite
//! someone with that code, the new patient is attributed to the link. The referrer sees how
//! many joined, never who. `POST /api/portal/referrals` (a new link, at most 5 active), `GET`
//! (their links), `DELETE /api/portal/referrals/{id}` (revoke).

use serde_json::{json, Map, Value};
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation,
    portal::input as portal_input,
    secret, Context, Error,
};

const CREATE: Operation = operation!("portal_create_referral_link");
const LIST: Operation = operation!(read "portal_referrals");
const REVOKE: Operation = operation!("portal_revoke_referral_link");

/// The call's input: the portal's, and the URL a code is appended to, on the host the patient
/// reached (SQL checks it is their clinic's portal).
fn input(ctx: &Context, req: &Incoming) -> Result<Map<String, Value>, Error> {
    let mut input = portal_input(ctx.portal()?, req);
    let host = req.header("host").unwrap_or_default().to_ascii_lowercase();
    input.insert(
        "linkBase".into(),
        json!(format!("https://{host}/join?ref=")),
    );
    Ok(input)
}

/// `POST /api/portal/referrals` (no body) → 201, the link.
pub async fn create(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    req.expect_nothing()?;
    let mut input = input(ctx, &req)?;
    input.insert("code".into(), json!(secret::referral_code()));
    Ok(Reply::created(
        ctx.db.call(CREATE, &patient, &Value::Object(input)).await?,
    ))
}

/// `GET /api/portal/referrals` → `{links}`, newest first, each with how many joined.
pub async fn list(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    req.expect_nothing()?;
    let input = input(ctx, &req)?;
    Ok(Reply::json_text(
        ctx.db.relay(LIST, &patient, &Value::Object(input)).await?,
    ))
}

/// `DELETE /api/portal/referrals/{id}` → the link, revoked (again: unchanged).
pub async fn revoke(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let link = req.uuid_param("id")?;
    req.expect_nothing()?;
    let mut input = input(ctx, &req)?;
    input.insert("linkId".into(), json!(link));
    Ok(Reply::ok(
        ctx.db.call(REVOKE, &patient, &Value::Object(input)).await?,
    ))
}
