//! `tenant-doctors`: the clinicians a caller can pick as colleagues — the active, approved
//! clinicians of the caller's current clinic, except the caller. Behind the clinic's
//! `therapistPatientAssignment` flag. Which clinic's clinicians are visible is decided by RLS
//! on `app.clinic_memberships`, not by a filter here.

use http::Method;
use serde_json::json;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    handler,
    http::{Access, Function, Incoming, Reply, Route, CLINICIANS},
    operation, Context, Error,
};

pub const FUNCTION: Function = Function {
    name: "tenant-doctors",
    routes: &[Route {
        method: Method::GET,
        path: "/v2/doctor/patients/tenant-doctors",
        name: "ListTenantDoctors",
        access: Access::Staff(CLINICIANS),
        handler: handler!(list),
    }],
};

const LIST: Operation = operation!(read "tenant_doctors");

/// `GET /v2/doctor/patients/tenant-doctors` →
/// `[{id, firstName, lastName, email?, specialization?}]`, sorted by name.
async fn list(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    req.expect_nothing()?;
    Ok(Reply::json_text(
        ctx.db.relay(LIST, &caller, &json!({})).await?,
    ))
}
