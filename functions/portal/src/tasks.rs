//! The patient's intake tasks: `GET /api/portal/tasks` (what is to do and what was done
//! lately), `GET /api/portal/tasks/{id}` (a task, the form version it pins with its schema, and
//! what the patient handed in last) and `POST /api/portal/tasks/{id}/submission`: a form's
//! answers, checked against the version the patient was shown (`shared::forms`) and sealed, or
//! a document the patient uploaded. A consent task is done by recording that consent
//! (`PUT /api/portal/consent`).

use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    db::Operation,
    forms,
    http::{Incoming, Reply},
    operation,
    portal::input as portal_input,
    Context, Error,
};

const LIST: Operation = operation!(read "portal_tasks");
const READ: Operation = operation!(read "portal_task");
const FORM_VERSION: Operation = operation!(read "portal_form_version");
const SUBMIT: Operation = operation!("portal_submit_task");

/// What a patient hands in: a form's answers with the version they were shown, or an uploaded
/// document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Submission {
    form_version_id: Option<Uuid>,
    answers: Option<Value>,
    document_id: Option<Uuid>,
}

/// `GET /api/portal/tasks` → `{tasks}`.
pub async fn list(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    req.expect_nothing()?;
    let input = portal_input(ctx.portal()?, &req);
    Ok(Reply::json_text(
        ctx.db.relay(LIST, &patient, &Value::Object(input)).await?,
    ))
}

/// `GET /api/portal/tasks/{id}` → `{task, form?, submission?}`, the answers opened.
pub async fn read(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let task = req.uuid_param("id")?;
    req.expect_nothing()?;
    let mut input = portal_input(ctx.portal()?, &req);
    input.insert("taskId".into(), json!(task));
    let mut detail = ctx.db.call(READ, &patient, &Value::Object(input)).await?;
    forms::open(ctx, &patient, &mut detail)?;
    Ok(Reply::ok(detail))
}

/// `POST /api/portal/tasks/{id}/submission` with `{formVersionId, answers}` or `{documentId}` →
/// 201, the task, submitted. Answers that do not fit the version are a 400 naming each
/// (`answers/phq9`) and nothing is kept; a version that is not the task's is a 409
/// `form_version_mismatch`.
pub async fn submit(ctx: &Context, patient: Claims, req: Incoming) -> Result<Reply, Error> {
    let task = req.uuid_param("id")?;
    let body: Submission = req.json()?;
    let portal = portal_input(ctx.portal()?, &req);
    let mut input = portal.clone();
    input.insert("taskId".into(), json!(task));
    match (body.form_version_id, body.answers, body.document_id) {
        (Some(version), Some(answers), None) => {
            let validator = forms::validator(ctx, &patient, FORM_VERSION, portal, version).await?;
            forms::check_answers(&validator, &answers)?;
            input.extend(forms::sealed_answers(
                ctx, &patient, task, version, &answers,
            )?);
        }
        (None, None, Some(document)) => {
            input.insert("submissionId".into(), json!(Uuid::new_v4()));
            input.insert("documentId".into(), json!(document));
        }
        (version, _, document) => {
            let field = if document.is_some() {
                "documentId"
            } else if version.is_none() {
                "formVersionId"
            } else {
                "answers"
            };
            return Err(Error::invalid_field(
                field,
                "Send a form's formVersionId and answers, or an upload's documentId.",
            ));
        }
    }
    Ok(Reply::created(
        ctx.db.call(SUBMIT, &patient, &Value::Object(input)).await?,
    ))
}
