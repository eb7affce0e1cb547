//! `POST /api/webhooks/twilio/status`: Twilio's status callback of a text message-sender sent
//! (it passes `StatusCallback`), signed like every Twilio webhook ([`crate::twilio`]) for the
//! inbound webhook's URL followed by `/status?outboxId=…`. The final statuses — delivered,
//! undelivered, failed — are recorded on the outbox message the URL names (or else whose
//! provider id is the `MessageSid`: the callback may come before the send is settled), once
//! per message and status (`api.twilio_status`); earlier ones (queued, sent…) and texts Wardline
//! did not send are answered and change nothing.

use crate::{as_sender, twilio};
use serde_json::json;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    delivery::TWILIO_STATUS_SUFFIX,
    http::{Incoming, Reply},
    operation, Context, Error,
};

const STATUS: Operation = operation!("twilio_status");

/// The statuses a text ends in.
const FINAL: [&str; 3] = ["delivered", "undelivered", "failed"];

pub async fn status(ctx: &Context, _caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let params = twilio::verified(ctx, &req, TWILIO_STATUS_SUFFIX)?;
    // The message the callback URL names (message-sender puts it there), if any.
    let mut outbox_id = None;
    for (_, value) in req.query_params(&["outboxId"])? {
        outbox_id =
            Some(value.parse::<uuid::Uuid>().map_err(|_| {
                Error::invalid_field("outboxId", "An outbox message id is a UUID.")
            })?);
    }
    let message_sid = params.message_sid()?;
    let status = params.required("MessageStatus")?;
    if !(1..=40).contains(&status.len())
        || !status.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        return Err(Error::invalid_field(
            "MessageStatus",
            "Expected one of Twilio's message statuses.",
        ));
    }
    if !FINAL.contains(&status) {
        return Ok(Reply::ok(json!({ "outcome": "ignored" })));
    }
    let input = json!({ "messageSid": message_sid, "status": status, "outboxId": outbox_id });
    let answer = ctx.db.call(STATUS, &as_sender(&req), &input).await?;
    Ok(Reply::ok(answer))
}
