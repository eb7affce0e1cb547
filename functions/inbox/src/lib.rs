//! `inbox`: the staff side of secure messaging. Threads are between a patient and their care
//! team: the clinicians with an active care-team row and the clinic's admins read and write
//! them (RLS, `db/policies/messaging.sql`); a clinician leaving the team loses them at once.
//! The text is sealed before it reaches the database and opened here (`shared::messages`).
//!
//! `GET /inbox` (one statement per page, with unread counts), `POST /threads` (write to a
//! patient first), `GET|POST /threads/{id}/messages`, `POST /threads/{id}/read`, `/close`,
//! `/reopen`, and `PUT /threads/{id}/assignee` (hand it to a colleague on the team).

use http::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    handler,
    http::{Access, Function, Incoming, Reply, Route, CLINICIANS},
    messages, operation, page, Context, Error,
};

pub const FUNCTION: Function = Function {
    name: "inbox",
    routes: &[
        Route {
            method: Method::GET,
            path: "/inbox",
            name: "ReadInbox",
            access: Access::Staff(CLINICIANS),
            handler: handler!(inbox),
        },
        Route {
            method: Method::POST,
            path: "/threads",
            name: "StartThread",
            access: Access::Staff(CLINICIANS),
            handler: handler!(start),
        },
        Route {
            method: Method::GET,
            path: "/threads/{id}/messages",
            name: "ListThreadMessages",
            access: Access::Staff(CLINICIANS),
            handler: handler!(messages_page),
        },
        Route {
            method: Method::POST,
            path: "/threads/{id}/messages",
            name: "PostThreadMessage",
            access: Access::Staff(CLINICIANS),
            handler: handler!(post),
        },
        Route {
            method: Method::POST,
            path: "/threads/{id}/read",
            name: "ReadThread",
            access: Access::Staff(CLINICIANS),
            handler: handler!(read),
        },
        Route {
            method: Method::POST,
            path: "/threads/{id}/close",
            name: "CloseThread",
            access: Access::Staff(CLINICIANS),
            handler: handler!(close),
        },
        Route {
            method: Method::POST,
            path: "/threads/{id}/reopen",
            name: "ReopenThread",
            access: Access::Staff(CLINICIANS),
            handler: handler!(reopen),
        },
        Route {
            method: Method::PUT,
            path: "/threads/{id}/assignee",
            name: "AssignThread",
            access: Access::Staff(CLINICIANS),
            handler: handler!(assign),
        },
    ],
};

const INBOX: Operation = operation!(read "inbox");
const START: Operation = operation!("start_thread");
const MESSAGES: Operation = operation!(read "thread_messages");
const POST: Operation = operation!("post_message");
const READ: Operation = operation!("read_thread");
const STATUS: Operation = operation!("set_thread_status");
const ASSIGN: Operation = operation!("assign_thread");

/// `GET /inbox?status=open|closed&mine=true|false&limit&cursor` → `{threads, nextCursor}`, the
/// latest message first, each with its patient and the caller's unread count.
async fn inbox(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let (mut input, rest) = page::keyset(&req, &["status", "mine"])?;
    input.insert("status".into(), json!("open"));
    input.insert("mine".into(), json!(false));
    for (name, value) in rest {
        let value = match (name, value) {
            ("status", "open" | "closed") => json!(value),
            ("status", _) => return Err(Error::invalid_field(name, "open or closed.")),
            (_, "true" | "false") => json!(value == "true"),
            _ => return Err(Error::invalid_field(name, "true or false.")),
        };
        input.insert(name.into(), value);
    }
    req.expect_no_body()?;
    Ok(Reply::json_text(
        ctx.db.relay(INBOX, &caller, &Value::Object(input)).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Start {
    patient_id: Uuid,
    body: String,
}

/// `POST /threads` with `{patientId, body}` → 201 `{thread, message}`.
async fn start(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: Start = req.json()?;
    let mut input = messages::sealed_input(ctx, &caller, Uuid::new_v4(), &body.body)?;
    input.insert("patientId".into(), json!(body.patient_id));
    let mut started = ctx.db.call(START, &caller, &Value::Object(input)).await?;
    messages::open(ctx, &caller, &mut started)?;
    Ok(Reply::created(started))
}

/// `GET /threads/{id}/messages?limit&cursor` → `{messages, nextCursor}`, newest first.
async fn messages_page(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let thread = req.uuid_param("id")?;
    let (mut input, _) = page::keyset(&req, &[])?;
    input.insert("threadId".into(), json!(thread));
    req.expect_no_body()?;
    let mut page = ctx
        .db
        .call(MESSAGES, &caller, &Value::Object(input))
        .await?;
    messages::open(ctx, &caller, &mut page)?;
    Ok(Reply::ok(page))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Post {
    body: String,
}

/// `POST /threads/{id}/messages` with `{body}` → 201, the message.
async fn post(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let thread = req.uuid_param("id")?;
    let body: Post = req.json()?;
    let input = messages::sealed_input(ctx, &caller, thread, &body.body)?;
    let posted = ctx.db.call(POST, &caller, &Value::Object(input)).await?;
    let mut answer = json!({ "message": posted });
    messages::open(ctx, &caller, &mut answer)?;
    Ok(Reply::created(answer["message"].take()))
}

/// `POST /threads/{id}/read` → `{threadId, readAt}`.
async fn read(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let input = json!({ "threadId": req.uuid_param("id")? });
    req.expect_nothing()?;
    Ok(Reply::ok(ctx.db.call(READ, &caller, &input).await?))
}

/// `POST /threads/{id}/close` → the thread, closed.
async fn close(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    set_status(ctx, caller, req, "closed").await
}

/// `POST /threads/{id}/reopen` → the thread, open.
async fn reopen(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    set_status(ctx, caller, req, "open").await
}

async fn set_status(
    ctx: &Context,
    caller: Claims,
    req: Incoming,
    status: &str,
) -> Result<Reply, Error> {
    let input = json!({ "threadId": req.uuid_param("id")?, "status": status });
    req.expect_nothing()?;
    Ok(Reply::ok(ctx.db.call(STATUS, &caller, &input).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Assign {
    /// A clinician on the patient's care team, or null for the whole team.
    clinician_id: Option<Uuid>,
}

/// `PUT /threads/{id}/assignee` with `{clinicianId | null}` → the thread.
async fn assign(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let thread = req.uuid_param("id")?;
    let body: Assign = req.json()?;
    let input = json!({ "threadId": thread, "clinicianId": body.clinician_id });
    Ok(Reply::ok(ctx.db.call(ASSIGN, &caller, &input).await?))
}
