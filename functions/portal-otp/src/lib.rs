//! `portal-otp`: the patient portal. Patients reach their clinic's portal at
//! `{slug}.portal.<base domain>` or the clinic's own domain, sign in with a one-time code sent
//! by SMS or e-mail, and hold a 15-minute access token renewed by a rotating refresh token.
//! Every call is scoped to exactly one clinic, resolved in the database from the `Host` (or an
//! invite); what each caller may touch is decided by RLS (`db/policies/portal.sql`).
//!
//! - [`sign_in`]: request a code, verify it (pre-login, as `app_anon`).
//! - [`session`]: refresh and sign out; the tokens and cookies a sign-in answers with.
//! - [`account`]: the signed-in patient's profile, consent history and preferences.
//! - [`appointments`]: the signed-in patient's own sessions, upcoming or past; confirming,
//!   cancelling, asking to reschedule one.
//! - [`waitlist`]: waiting for freed time with a clinician, and claiming an offer.
//!
//! Twilio's inbound texts (STOP/START/HELP) arrive at `provider-webhooks`.

pub mod account;
pub mod appointments;
pub mod session;
pub mod sign_in;
pub mod waitlist;

use http::Method;
use serde_json::{Map, Value};
use wardline_shared::{
    handler,
    http::{Access, Function, Incoming, Route},
    portal::{self, PortalConfig},
};

pub const FUNCTION: Function = Function {
    name: "portal-otp",
    routes: &[
        Route {
            method: Method::POST,
            path: "/api/portal/auth/otp",
            name: "RequestSignInCode",
            access: Access::Public,
            handler: handler!(sign_in::request_code),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/auth/verify",
            name: "VerifySignInCode",
            access: Access::Public,
            handler: handler!(sign_in::verify_code),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/auth/refresh",
            name: "RefreshPortalSession",
            access: Access::Public,
            handler: handler!(session::refresh),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/auth/logout",
            name: "SignOutOfPortal",
            access: Access::Public,
            handler: handler!(session::logout),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/me",
            name: "ReadPortalProfile",
            access: Access::Patient,
            handler: handler!(account::me),
        },
        Route {
            method: Method::PUT,
            path: "/api/portal/consent",
            name: "RecordConsent",
            access: Access::Patient,
            handler: handler!(account::record_consent),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/preferences",
            name: "ReadPreferences",
            access: Access::Patient,
            handler: handler!(account::preferences),
        },
        Route {
            method: Method::PUT,
            path: "/api/portal/preferences",
            name: "UpdatePreferences",
            access: Access::Patient,
            handler: handler!(account::update_preferences),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/appointments",
            name: "ListPortalAppointments",
            access: Access::Patient,
            handler: handler!(appointments::list),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/appointments/{id}/confirm",
            name: "ConfirmPortalAppointment",
            access: Access::Patient,
            handler: handler!(appointments::confirm),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/appointments/{id}/cancel",
            name: "CancelPortalAppointment",
            access: Access::Patient,
            handler: handler!(appointments::cancel),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/appointments/{id}/reschedule-request",
            name: "RequestReschedule",
            access: Access::Patient,
            handler: handler!(appointments::request_reschedule),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/waitlist",
            name: "ListWaitlistEntries",
            access: Access::Patient,
            handler: handler!(waitlist::list),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/waitlist",
            name: "JoinWaitlist",
            access: Access::Patient,
            handler: handler!(waitlist::join),
        },
        Route {
            method: Method::DELETE,
            path: "/api/portal/waitlist/{id}",
            name: "LeaveWaitlist",
            access: Access::Patient,
            handler: handler!(waitlist::leave),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/waitlist/{id}/claim",
            name: "ClaimWaitlistOffer",
            access: Access::Patient,
            handler: handler!(waitlist::claim),
        },
    ],
};

/// The input every portal operation starts from: the clinic the `Host` names and the caller's
/// address (for per-address limits and the consent record).
fn portal_input(portal: &PortalConfig, req: &Incoming) -> Map<String, Value> {
    let mut input = Map::new();
    input.insert(
        "host".into(),
        portal::host_json(req.header("host"), portal.base_domain.as_deref()),
    );
    if let Some(ip) = &req.source_ip {
        input.insert("sourceIp".into(), Value::String(ip.clone()));
    }
    input
}
