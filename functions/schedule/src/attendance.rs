//! Attendance: `POST /sessions/{id}/complete` and `/no-show`, for a booked session that has
//! started. Marking it the other way corrects it; the same way again changes nothing. Both
//! are audited.

use crate::session_id;
use serde_json::json;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation, Context, Error,
};

const MARK: Operation = operation!("mark_attendance");

pub async fn complete(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    mark(ctx, caller, req, "completed").await
}

pub async fn no_show(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    mark(ctx, caller, req, "no_show").await
}

async fn mark(ctx: &Context, caller: Claims, req: Incoming, outcome: &str) -> Result<Reply, Error> {
    let id = session_id(&req)?;
    req.expect_nothing()?;
    let input = json!({ "sessionId": id, "outcome": outcome });
    Ok(Reply::ok(ctx.db.call(MARK, &caller, &input).await?))
}
