//! `records`: the care team's side of patient documents. The clinicians with an active
//! care-team row and the clinic's admins read a patient's documents (RLS,
//! `db/policies/documents.sql`), upload for them and share what they uploaded to the patient's
//! portal. Files move between browser and S3 through short-lived presigned URLs; every read is
//! audited.
//!
//! `GET|POST /clients/{clientId}/documents` (list; declare an upload),
//! `POST /documents/{id}/complete`, `GET /documents/{id}/download` and
//! `POST /documents/{id}/share`.

use http::Method;
use serde_json::{json, Map, Value};
use wardline_shared::{
    auth::Claims,
    db::Operation,
    documents::{self, Declared},
    handler,
    http::{Access, Function, Incoming, Reply, Route, CLINICIANS},
    operation, Context, Error,
};

pub const FUNCTION: Function = Function {
    name: "records",
    routes: &[
        Route {
            method: Method::GET,
            path: "/clients/{clientId}/documents",
            name: "ListClientDocuments",
            access: Access::Staff(CLINICIANS),
            handler: handler!(list),
        },
        Route {
            method: Method::POST,
            path: "/clients/{clientId}/documents",
            name: "StartClientUpload",
            access: Access::Staff(CLINICIANS),
            handler: handler!(start),
        },
        Route {
            method: Method::POST,
            path: "/documents/{id}/complete",
            name: "CompleteClientUpload",
            access: Access::Staff(CLINICIANS),
            handler: handler!(complete),
        },
        Route {
            method: Method::GET,
            path: "/documents/{id}/download",
            name: "DownloadDocument",
            access: Access::Staff(CLINICIANS),
            handler: handler!(download),
        },
        Route {
            method: Method::POST,
            path: "/documents/{id}/share",
            name: "ShareDocument",
            access: Access::Staff(CLINICIANS),
            handler: handler!(share),
        },
    ],
};

const LIST: Operation = operation!(read "documents");
const START: Operation = operation!("staff_upload_start");
const COMPLETE: Operation = operation!("staff_upload_complete");
const DOWNLOAD: Operation = operation!("document_download");
const SHARE: Operation = operation!("share_document");

fn patient_input(req: &Incoming) -> Result<Map<String, Value>, Error> {
    let mut input = Map::new();
    input.insert("patientId".into(), json!(req.uuid_param("clientId")?));
    Ok(input)
}

/// `GET /clients/{clientId}/documents` → `{documents}`, newest first.
async fn list(ctx: &Context, claims: Claims, req: Incoming) -> Result<Reply, Error> {
    let input = patient_input(&req)?;
    req.expect_nothing()?;
    Ok(Reply::json_text(
        ctx.db.relay(LIST, &claims, &Value::Object(input)).await?,
    ))
}

/// `POST /clients/{clientId}/documents` with `{fileName?, contentType, sizeBytes}` → 201
/// `{document, upload}`.
async fn start(ctx: &Context, claims: Claims, req: Incoming) -> Result<Reply, Error> {
    let input = patient_input(&req)?;
    let declared: Declared = req.json()?;
    Ok(Reply::created(
        documents::start(ctx, &claims, START, input, &declared).await?,
    ))
}

/// `POST /documents/{id}/complete` → the document, available; 422 `upload_mismatch` when S3
/// holds another size or type.
async fn complete(ctx: &Context, claims: Claims, req: Incoming) -> Result<Reply, Error> {
    let document = req.uuid_param("id")?;
    req.expect_nothing()?;
    Ok(Reply::ok(
        documents::complete(ctx, &claims, COMPLETE, Map::new(), document).await?,
    ))
}

/// `GET /documents/{id}/download` → `{document, download}`, audited.
async fn download(ctx: &Context, claims: Claims, req: Incoming) -> Result<Reply, Error> {
    let document = req.uuid_param("id")?;
    req.expect_nothing()?;
    Ok(Reply::ok(
        documents::download(ctx, &claims, DOWNLOAD, Map::new(), document).await?,
    ))
}

/// `POST /documents/{id}/share` → the document, readable in the patient's portal.
async fn share(ctx: &Context, claims: Claims, req: Incoming) -> Result<Reply, Error> {
    let document = req.uuid_param("id")?;
    req.expect_nothing()?;
    Ok(Reply::ok(
        ctx.db
            .call(SHARE, &claims, &json!({ "documentId": document }))
            .await?,
    ))
}
