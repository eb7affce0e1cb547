//! `POST /api/webhooks/twilio/status`: Twilio's status callback of a text message-sender sent
//! (it passes `StatusCallback`), signed like every Twilio webhook ([`crate::twilio`]) for the
//! inbound webhook's URL followed by `/status`. The final statuses — delivered, undelivered,
//! failed — are recorded on the outbox message whose provider id is the `MessageSid`, once per
//! message and status (`api.twilio_status`); earlier ones (queued, sent…) and texts Wardline
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
    let input = json!({ "messageSid": message_sid, "status": status });
    let answer = ctx.db.call(STATUS, &as_sender(&req), &input).await?;
    Ok(Reply::ok(answer))
}
