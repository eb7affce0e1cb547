//! The document routes' common steps, for the portal and the care team alike: SQL keeps the
//! record and answers the object key; the function presigns S3 for that key ([`Documents`]),
//! and at completion tells SQL what S3's HEAD reports, never what the client claims.

use crate::{
    auth::Claims,
    dates::required_text,
    db::Operation,
    storage::{Documents, CONTENT_TYPES, MAX_BYTES},
    Context, Error,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The longest display file name (app.documents keeps the same bound).
const FILE_NAME_CHARS: usize = 200;

/// What the uploader declares before uploading: S3 will take exactly this, nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Declared {
    /// The name shown to readers; may be PHI, so it stays in the database.
    file_name: Option<String>,
    content_type: String,
    size_bytes: u64,
}

impl Declared {
    /// The declaration as SQL input (`fileName`, `contentType`, `sizeBytes`); a 400 naming
    /// the field outside the allow-list or the size bounds.
    fn input(&self) -> Result<Map<String, Value>, Error> {
        if !CONTENT_TYPES.contains(&self.content_type.as_str()) {
            return Err(Error::invalid_field(
                "contentType",
                format!("Upload one of {}.", CONTENT_TYPES.join(", ")),
            ));
        }
        if !(1..=MAX_BYTES).contains(&self.size_bytes) {
            return Err(Error::invalid_field(
                "sizeBytes",
                format!("A document is 1 to {MAX_BYTES} bytes."),
            ));
        }
        let mut input = Map::new();
        if let Some(name) = &self.file_name {
            let name = required_text("fileName", name, FILE_NAME_CHARS)?;
            input.insert("fileName".into(), json!(name));
        }
        input.insert("contentType".into(), json!(self.content_type));
        input.insert("sizeBytes".into(), json!(self.size_bytes));
        Ok(input)
    }
}

/// Records a pending upload (`start`, with `input` and the declaration) and answers 201's
/// `{document, upload}`: the presigned PUT of its key.
pub async fn start(
    ctx: &Context,
    claims: &Claims,
    start: Operation,
    mut input: Map<String, Value>,
    declared: &Declared,
) -> Result<Value, Error> {
    let documents = Documents::of(ctx)?;
    input.extend(declared.input()?);
    input.insert("documentId".into(), json!(Uuid::new_v4()));
    let mut started = ctx.db.call(start, claims, &Value::Object(input)).await?;
    let upload = documents
        .presign_put(
            key(&started)?,
            &declared.content_type,
            declared.size_bytes as i64,
        )
        .await?;
    Ok(json!({ "document": started["document"].take(), "upload": upload }))
}

/// Completes upload `document` (`complete`, with `input`) with what S3 holds under its key:
/// the document, available, or the 422 that refused it.
pub async fn complete(
    ctx: &Context,
    claims: &Claims,
    complete: Operation,
    mut input: Map<String, Value>,
    document: Uuid,
) -> Result<Value, Error> {
    let documents = Documents::of(ctx)?;
    let org = claims.org_id.ok_or_else(Error::not_found)?;
    // The key app.documents requires; another clinic's document is then never looked at.
    let stored = documents
        .stored(&format!("documents/{org}/{document}"))
        .await?
        .map(|s| json!({ "sizeBytes": s.size_bytes, "contentType": s.content_type }));
    input.insert("documentId".into(), json!(document));
    input.insert("stored".into(), stored.unwrap_or(Value::Null));
    ctx.db.call(complete, claims, &Value::Object(input)).await
}

/// The audited read of document `document` (`download`, with `input`): `{document,
/// download}`, a presigned GET good for a couple of minutes.
pub async fn download(
    ctx: &Context,
    claims: &Claims,
    download: Operation,
    mut input: Map<String, Value>,
    document: Uuid,
) -> Result<Value, Error> {
    let documents = Documents::of(ctx)?;
    input.insert("documentId".into(), json!(document));
    let mut read = ctx.db.call(download, claims, &Value::Object(input)).await?;
    let url = documents.presign_get(key(&read)?).await?;
    Ok(json!({ "document": read["document"].take(), "download": url }))
}

fn key(answer: &Value) -> Result<&str, Error> {
    answer["objectKey"]
        .as_str()
        .ok_or_else(|| Error::internal("the document answer has no objectKey"))
}
