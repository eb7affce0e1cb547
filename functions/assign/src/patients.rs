//! `GET /v2/doctor/patients/all` (the whole clinic; `allActivePatientsDashboard`) and
//! `GET /v2/doctor/patients/summary` (the caller's own patients). Both answer
//! `{patients: [...], nextCursor}` a page at a time (`limit`, `cursor`, `search`), sorted by
//! last name, first name and id, in one SQL statement per page. Each patient carries
//! `connectedTherapists` and `isConnectedToMe`; the summary only when the clinic has
//! `therapistPatientAssignment`.

use serde_json::Value;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation,
    page::Page,
    Context, Error,
};

const PAGE: Operation = operation!(read "patients_page");

/// Every active patient of the clinic.
pub async fn all(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    list(ctx, caller, req, "all").await
}

/// The patients the caller is an active care-team member of.
pub async fn summary(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    list(ctx, caller, req, "mine").await
}

async fn list(ctx: &Context, caller: Claims, req: Incoming, scope: &str) -> Result<Reply, Error> {
    let page = Page::from_query(&req)?;
    let mut input = page.input();
    input["scope"] = Value::from(scope);
    Ok(Reply::json_text(ctx.db.relay(PAGE, &caller, &input).await?))
}
