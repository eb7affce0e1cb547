//! A clinic's forms: `GET /forms` (each with its latest version), `GET /forms/{id}` (every
//! version with its schema), and for admins `POST /forms` (a form and its version 1), `POST
//! /forms/{id}/versions` (the next version; versions never change, so what a patient was shown
//! stays readable) and `POST /forms/{id}/archive` (assigned no more). A schema is checked here
//! before it is stored (`shared::forms::compile`): Draft 2020-12, an object of answers, no
//! outside references.

use serde::Deserialize;
use serde_json::{json, Value};
use wardline_shared::{
    auth::Claims,
    dates::required_text,
    db::Operation,
    forms,
    http::{Incoming, Reply},
    limits::FORM_NAME_MAX_CHARS,
    operation, Context, Error,
};

const LIST: Operation = operation!(read "forms");
const READ: Operation = operation!(read "form");
const CREATE: Operation = operation!("create_form");
const PUBLISH: Operation = operation!("publish_form_version");
const ARCHIVE: Operation = operation!("archive_form");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewForm {
    name: String,
    schema: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewVersion {
    schema: Value,
}

/// `GET /forms` → `{forms}`, by name.
pub async fn list(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    req.expect_nothing()?;
    Ok(Reply::json_text(
        ctx.db.relay(LIST, &caller, &json!({})).await?,
    ))
}

/// `GET /forms/{id}` → the form with `versions`, newest first.
pub async fn read(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let input = json!({ "formId": req.uuid_param("id")? });
    req.expect_nothing()?;
    Ok(Reply::json_text(ctx.db.relay(READ, &caller, &input).await?))
}

/// `POST /forms` with `{name, schema}` → 201 `{form, version}`.
pub async fn create(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: NewForm = req.json()?;
    let name = required_text("name", &body.name, FORM_NAME_MAX_CHARS)?;
    forms::compile(&body.schema)?;
    let input = json!({ "name": name, "schema": body.schema });
    Ok(Reply::created(ctx.db.call(CREATE, &caller, &input).await?))
}

/// `POST /forms/{id}/versions` with `{schema}` → 201, the version.
pub async fn publish(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let form = req.uuid_param("id")?;
    let body: NewVersion = req.json()?;
    forms::compile(&body.schema)?;
    let input = json!({ "formId": form, "schema": body.schema });
    Ok(Reply::created(ctx.db.call(PUBLISH, &caller, &input).await?))
}

/// `POST /forms/{id}/archive` → the form, archived.
pub async fn archive(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let input = json!({ "formId": req.uuid_param("id")? });
    req.expect_nothing()?;
    Ok(Reply::ok(ctx.db.call(ARCHIVE, &caller, &input).await?))
}
