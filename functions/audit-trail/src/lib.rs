//! `audit-trail`: a clinic's audit trail, for its admins. Every change and every read of PHI is
//! an event in the clinic's hash chain (`db/functions/10_audit.sql`); here admins page through
//! the events ([`events`]) and export a run of the chain as NDJSON with its verification
//! ([`export`]). A super admin names the clinic (`clinicId`); anyone else reads their own.
//! Events hold ids, actions and outcomes, never PHI.
//!
//! `GET /api/admin/audit`, `GET /api/admin/audit/export`.

pub mod events;
pub mod export;

use http::Method;
use wardline_shared::{
    handler,
    http::{Access, Function, Route, ADMINS},
};

pub const FUNCTION: Function = Function {
    name: "audit-trail",
    routes: &[
        Route {
            method: Method::GET,
            path: "/api/admin/audit",
            name: "ListAuditEvents",
            access: Access::Staff(ADMINS),
            handler: handler!(events::list),
        },
        Route {
            method: Method::GET,
            path: "/api/admin/audit/export",
            name: "ExportAuditTrail",
            access: Access::Staff(ADMINS),
            handler: handler!(export::ndjson),
        },
    ],
};
