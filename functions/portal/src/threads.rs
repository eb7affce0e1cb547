//! The patient's secure messages with their care team: `GET /api/portal/threads` (theirs, latest
//! first, with unread counts), `POST /api/portal/threads` (write to the care team),
//! `GET|POST /api/portal/threads/{id}/messages` and `POST /api/portal/threads/{id}/read`. The text
//! is sealed before it reaches the database (`shared::messages`); RLS shows a patient only their
//! own threads.

use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    messages, operation, page,
    portal::input as portal_input,
    Context, Error,
};

const THREADS: Operation = operation!(read "portal_threads");
const START: Operation = operation!("portal_start_thread");
const MESSAGES: Operation = operation!(read "portal_messages");
const POST: Operation = operation!("portal_post_message");
const READ: Operation = operation!("portal_read_thread");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    body: String,
}

/// `GET /api/portal/threads?limit&cursor` → `{threads, nextCursor}`.
pub async fn list(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let mut input = portal_input(ctx.portal()?, &req);
    input.extend(page::keyset(&req, &[])?.0);
    req.expect_no_body()?;
    Ok(Reply::json_text(
        ctx.db
            .relay(THREADS, &patient, &Value::Object(input))
            .await?,
    ))
}

/// `POST /api/portal/threads` with `{body}` → 201 `{thread, message}`.
pub async fn start(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: Body = req.json()?;
    let mut input = portal_input(ctx.portal()?, &req);
    input.extend(messages::sealed_input(
        ctx,
        &patient,
        Uuid::new_v4(),
        &body.body,
    )?);
    let mut started = ctx.db.call(START, &patient, &Value::Object(input)).await?;
    messages::open(ctx, &patient, &mut started)?;
    Ok(Reply::created(started))
}

/// `GET /api/portal/threads/{id}/messages?limit&cursor` → `{messages, nextCursor}`, newest
/// first.
pub async fn messages(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let thread = req.uuid_param("id")?;
    let mut input = portal_input(ctx.portal()?, &req);
    input.extend(page::keyset(&req, &[])?.0);
    input.insert("threadId".into(), json!(thread));
    req.expect_no_body()?;
    let mut page = ctx
        .db
        .call(MESSAGES, &patient, &Value::Object(input))
        .await?;
    messages::open(ctx, &patient, &mut page)?;
    Ok(Reply::ok(page))
}

/// `POST /api/portal/threads/{id}/messages` with `{body}` → 201, the message.
pub async fn post(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let thread = req.uuid_param("id")?;
    let body: Body = req.json()?;
    let mut input = portal_input(ctx.portal()?, &req);
    input.extend(messages::sealed_input(ctx, &patient, thread, &body.body)?);
    let posted = ctx.db.call(POST, &patient, &Value::Object(input)).await?;
    let mut answer = json!({ "message": posted });
    messages::open(ctx, &patient, &mut answer)?;
    Ok(Reply::created(answer["message"].take()))
}

/// `POST /api/portal/threads/{id}/read` → `{threadId, readAt}`.
pub async fn read(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let thread = req.uuid_param("id")?;
    req.expect_nothing()?;
    let mut input = portal_input(ctx.portal()?, &req);
    input.insert("threadId".into(), json!(thread));
    Ok(Reply::ok(
        ctx.db.call(READ, &patient, &Value::Object(input)).await?,
    ))
}
