//! The patient's documents: `POST /api/portal/uploads` (declare a file, get a presigned PUT),
//! `POST /api/portal/uploads/{id}/complete` (it counts once S3 holds exactly what was declared),
//! `GET /api/portal/documents` (their uploads and what the care team shared) and
//! `GET /api/portal/documents/{id}/download` (a short-lived presigned GET, audited). The steps
//! are shared with the care team's routes (`shared::documents`).

use serde_json::Value;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    documents::{self, Declared},
    http::{Incoming, Reply},
    operation,
    portal::input as portal_input,
    Context, Error,
};

const START: Operation = operation!("portal_upload_start");
const COMPLETE: Operation = operation!("portal_upload_complete");
const LIST: Operation = operation!(read "portal_documents");
const DOWNLOAD: Operation = operation!("portal_document_download");

/// `POST /api/portal/uploads` with `{fileName?, contentType, sizeBytes}` → 201 `{document,
/// upload}`.
pub async fn start(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let declared: Declared = req.json()?;
    let input = portal_input(ctx.portal()?, &req);
    Ok(Reply::created(
        documents::start(ctx, &patient, START, input, &declared).await?,
    ))
}

/// `POST /api/portal/uploads/{id}/complete` → the document, available; 422 `upload_mismatch`
/// when S3 holds another size or type.
pub async fn complete(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let document = req.uuid_param("id")?;
    req.expect_nothing()?;
    let input = portal_input(ctx.portal()?, &req);
    Ok(Reply::ok(
        documents::complete(ctx, &patient, COMPLETE, input, document).await?,
    ))
}

/// `GET /api/portal/documents` → `{documents}`, newest first.
pub async fn list(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    req.expect_nothing()?;
    let input = portal_input(ctx.portal()?, &req);
    Ok(Reply::json_text(
        ctx.db.relay(LIST, &patient, &Value::Object(input)).await?,
    ))
}

/// `GET /api/portal/documents/{id}/download` → `{document, download}`.
pub async fn download(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let document = req.uuid_param("id")?;
    req.expect_nothing()?;
    let input = portal_input(ctx.portal()?, &req);
    Ok(Reply::ok(
        documents::download(ctx, &patient, DOWNLOAD, input, document).await?,
    ))
}
