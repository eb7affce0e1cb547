//! `POST /api/email/unsubscribe?token=…`: the one-click unsubscribe (RFC 8058) that every
//! e-mail that is not transactional names in its `List-Unsubscribe` header. The token is the
//! message's id with Wardline's MAC of it ([`wardline_shared::delivery::unsubscribe_token`]),
//! so the link names no address and works for its own message only; a token that does not
//! verify is a 400 naming it and changes nothing. The message's address is then suppressed for
//! its clinic (reason `unsubscribe`, audited; `api.email_unsubscribe`): no more e-mails of
//! kinds that are not transactional. The body (RFC 8058's `List-Unsubscribe=One-Click`, as a
//! form or multipart) says nothing more and is not read.

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

pub async fn unsubscribe(ctx: &Context, _caller: Claims, req: Incoming) -> Result<Reply, Error> {
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
    let message = delivery::unsubscribe_message(key, token).ok_or_else(|| {
        Error::invalid_field("token", "This is not an unsubscribe link Wardline made.")
    })?;
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
