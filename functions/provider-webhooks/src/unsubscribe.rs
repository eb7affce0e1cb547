//! `POST /api/email/unsubscribe?token=…`: the one-click unsubscribe (RFC 8058) that every
//! e-mail that is not transactional names in its `List-Unsubscribe` header. The token is the
//! message's id with Wardline's MAC of it ([`wardline_shared::delivery::unsubscribe_token`]),
//! so the link names no address and works for its own message only; a token that does not
//! verify is a 400 naming it and changes nothing. The message's address is then suppressed for
//! its clinic (reason `unsubscribe`, audited; `api.email_unsubscribe`): no more e-mails of
//! kinds that are not transactional. The body (RFC 8058's `List-Unsubscribe=One-Click`, as a
//! form or multipart) says nothing more and is not read.
//!
//! `GET` of the same link (a mail client without one-click opens it in a browser; a scanner
//! may fetch it first) changes nothing: it checks the token and answers a page whose one
//! button posts it.

use crate::as_sender;
use serde_json::json;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    delivery,
    http::{Incoming, Reply},
    operation, Context, Error,
};

const UNSUBSCRIBE: Operation = operation!("email_unsubscribe");

/// The page a browser gets for the link: a button that posts it back.
const CONFIRM_PAGE: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Unsubscribe</title>
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>
<body><form method=\"post\"><p>Stop e-mails such as appointment reminders from this clinic?
Sign-in codes and changes to your appointments will still arrive.</p>
<button type=\"submit\">Unsubscribe</button></form></body></html>
";

pub async fn confirm(ctx: &Context, _caller: Claims, req: Incoming) -> Result<Reply, Error> {
    message_of(ctx, &req)?;
    req.expect_no_body()?;
    Ok(Reply::text("text/html; charset=utf-8", CONFIRM_PAGE.into()))
}

pub async fn unsubscribe(ctx: &Context, _caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let message = message_of(ctx, &req)?;
    #[derive(serde::Deserialize)]
    struct Done {
        outcome: String,
    }
    let done: Done = ctx
        .db
        .answer(
            UNSUBSCRIBE,
            &as_sender(&req),
            &json!({ "messageId": message }),
        )
        .await?;
    Ok(Reply::ok(
        json!({ "unsubscribed": done.outcome != "ignored" }),
    ))
}

/// The message the link's token names, once Wardline's MAC of it verifies; 503 without the
/// key, a 400 naming `token` otherwise.
fn message_of(ctx: &Context, req: &Incoming) -> Result<uuid::Uuid, Error> {
    let key = ctx
        .config
        .delivery
        .unsubscribe_key
        .as_deref()
        .ok_or_else(|| {
            Error::unavailable(
                "unsubscribe_unavailable",
                "Unsubscribe links (WARDLINE_UNSUBSCRIBE_KEY) are not configured on this deployment.",
            )
        })?;
    let token = req
        .query_params(&["token"])?
        .first()
        .map(|(_, token)| *token)
        .ok_or_else(|| {
            Error::invalid_field("token", "The unsubscribe link's token is required.")
        })?;
    delivery::unsubscribe_message(key, token).ok_or_else(|| {
        Error::invalid_field("token", "This is not an unsubscribe link Wardline made.")
    })
}
