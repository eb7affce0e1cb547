//! `GET /clients/{clientId}`: one patient and their sessions, as RLS shows them to the caller
//! (the blueprint's client page and its route guard): a clinician sees the patient only when
//! they may (care team, or the clinic's all-patients flag) and only their own sessions with
//! them; an admin the clinic's. Anyone else gets the 404 an unknown id gets.

use serde_json::json;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    http::{Incoming, Reply},
    operation, Context, Error,
};

const CLIENT: Operation = operation!(read "client");

pub async fn read(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let id = req.uuid_param("clientId")?;
    req.expect_nothing()?;
    let input = json!({ "patientId": id });
    Ok(Reply::json_text(
        ctx.db.relay(CLIENT, &caller, &input).await?,
    ))
}
