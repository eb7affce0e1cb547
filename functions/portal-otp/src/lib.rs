//! `portal-otp`: signing in to the patient portal. Patients reach their clinic's portal at
//! `{slug}.portal.<base domain>` or the clinic's own domain, sign in with a one-time code sent
//! by SMS or e-mail, and hold a 15-minute access token renewed by a rotating refresh token.
//! Every call is scoped to exactly one clinic, resolved in the database from the `Host` (or an
//! invite); what each caller may touch is decided by RLS (`db/policies/portal.sql`). What a
//! signed-in patient does is the `portal` function's; Twilio's inbound texts (STOP/START/HELP)
//! arrive at `provider-webhooks`.
//!
//! - [`sign_in`]: request a code, verify it (pre-login, as `app_anon`).
//! - [`session`]: refresh, act for a dependent, sign out; the tokens and cookies a sign-in
//!   answers with.

pub mod session;
pub mod sign_in;

use http::Method;
use wardline_shared::{
    handler,
    http::{Access, Function, Route},
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
            path: "/api/portal/auth/act-for",
            name: "ActForPatient",
            access: Access::Patient,
            handler: handler!(session::act_for),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/auth/logout",
            name: "SignOutOfPortal",
            access: Access::Public,
            handler: handler!(session::logout),
        },
    ],
};
