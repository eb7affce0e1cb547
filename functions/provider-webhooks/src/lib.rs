//! `provider-webhooks`: what the SMS and e-mail providers tell Wardline after the fact, and
//! the one-click unsubscribe of e-mails. Every route proves where it comes from itself — a
//! provider's signature or a token Wardline made — before anything changes:
//!
//! - [`inbound`]: texts patients send to a clinic (STOP/START opt-outs, HELP), signed by Twilio
//!   ([`twilio`]); as `app_anon` in the clinic that owns the number.
//! - [`sms_status`]: Twilio's status callback of a text message-sender sent.
//! - [`email_events`]: SendGrid's Signed Event Webhook: delivered, dropped, bounces, spam
//!   reports, unsubscribes.
//! - [`unsubscribe`]: `List-Unsubscribe` one-click (RFC 8058) of an e-mail that is not
//!   transactional.
//!
//! The last three report on messages of every clinic: once verified they act as the sender
//! does ([`as_sender`]), and `db/functions/75_delivery.sql` applies each event once, to the
//! message it names, in that message's clinic.

pub mod email_events;
pub mod inbound;
pub mod sms_status;
pub mod twilio;
pub mod unsubscribe;

use http::Method;
use wardline_shared::{
    auth::Claims,
    handler,
    http::{Access, Function, Incoming, Route},
};

pub const FUNCTION: Function = Function {
    name: "provider-webhooks",
    routes: &[
        Route {
            method: Method::POST,
            path: "/api/webhooks/twilio",
            name: "TwilioInboundSms",
            access: Access::TwilioSignature,
            handler: handler!(inbound::inbound),
        },
        Route {
            method: Method::POST,
            path: "/api/webhooks/twilio/status",
            name: "TwilioMessageStatus",
            access: Access::TwilioSignature,
            handler: handler!(sms_status::status),
        },
        Route {
            method: Method::POST,
            path: "/api/webhooks/email",
            name: "EmailEvents",
            access: Access::SendGridSignature,
            handler: handler!(email_events::events),
        },
        Route {
            method: Method::GET,
            path: "/api/email/unsubscribe",
            name: "ConfirmEmailUnsubscribe",
            access: Access::Public,
            handler: handler!(unsubscribe::confirm),
        },
        Route {
            method: Method::POST,
            path: "/api/email/unsubscribe",
            name: "EmailUnsubscribe",
            access: Access::Public,
            handler: handler!(unsubscribe::unsubscribe),
        },
    ],
};

/// The caller a verified report acts as: `app_service`, the sender's role, which reads every
/// clinic's messages and records what became of them. Only after the signature or token is
/// checked: the route itself is open ([`Claims::anonymous`]).
fn as_sender(req: &Incoming) -> Claims {
    Claims::service(&req.request_id)
}
