//! Tasks assigned to a patient: `GET|POST /clients/{clientId}/tasks` (the patient's, newest
//! first; assign one), `POST /tasks/{id}/cancel`, `GET /tasks/{id}/submission` (what was handed
//! in last, answers opened here; every read audited in the statement that reads) and `POST
//! /tasks/{id}/accept` or `/return` (with a comment to the patient, who may then hand it in
//! again).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    dates::{optional_text, required_text},
    db::Operation,
    forms,
    http::{Incoming, Reply},
    limits::{REVIEW_COMMENT_MAX_CHARS, TASK_TITLE_MAX_CHARS},
    operation, page,
    portal::{consent_type, CONSENT_VERSION_MAX_CHARS},
    times, Context, Error,
};

const LIST: Operation = operation!(read "client_tasks");
const ASSIGN: Operation = operation!("assign_task");
const CANCEL: Operation = operation!("cancel_task");
const SUBMISSION: Operation = operation!("task_submission");
const REVIEW: Operation = operation!("review_task");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Form,
    Upload,
    Consent,
}

/// A task as the care team assigns it: a form task names its form (whose latest version it
/// pins), a consent task the consent type (and, optionally, the version of its text).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Assign {
    kind: Kind,
    title: String,
    due_on: Option<String>,
    form_id: Option<Uuid>,
    consent_type: Option<String>,
    consent_version: Option<String>,
}

impl Assign {
    /// The task as `api.assign_task` takes it; a 400 naming the first field that is wrong or
    /// does not go with the kind.
    fn input(&self) -> Result<Map<String, Value>, Error> {
        let stray = |field: &str, owner: &str| {
            Error::invalid_field(field, format!("Only a {owner} task takes {field}."))
        };
        let mut input = Map::new();
        input.insert("kind".into(), json!(self.kind));
        let title = required_text("title", &self.title, TASK_TITLE_MAX_CHARS)?;
        input.insert("title".into(), json!(title));
        if let Some(due) = &self.due_on {
            input.insert("dueOn".into(), json!(times::date("dueOn", due)?));
        }
        match (self.kind, self.form_id) {
            (Kind::Form, Some(form)) => {
                input.insert("formId".into(), json!(form));
            }
            (Kind::Form, None) => {
                return Err(Error::invalid_field(
                    "formId",
                    "A form task names its form.",
                ))
            }
            (_, Some(_)) => return Err(stray("formId", "form")),
            (_, None) => {}
        }
        match (self.kind, &self.consent_type, &self.consent_version) {
            (Kind::Consent, Some(kind), version) => {
                input.insert(
                    "consentType".into(),
                    json!(consent_type("consentType", kind)?),
                );
                if let Some(version) = version {
                    let version =
                        required_text("consentVersion", version, CONSENT_VERSION_MAX_CHARS)?;
                    input.insert("consentVersion".into(), json!(version));
                }
            }
            (Kind::Consent, None, _) => {
                return Err(Error::invalid_field(
                    "consentType",
                    "A consent task names the consent type.",
                ))
            }
            (_, Some(_), _) => return Err(stray("consentType", "consent")),
            (_, None, Some(_)) => return Err(stray("consentVersion", "consent")),
            (_, None, None) => {}
        }
        Ok(input)
    }
}

/// What staff say to the patient with a review.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Review {
    comment: Option<String>,
}

fn patient_input(req: &Incoming) -> Result<Map<String, Value>, Error> {
    let mut input = Map::new();
    input.insert("patientId".into(), json!(req.uuid_param("clientId")?));
    Ok(input)
}

fn task_input(req: &Incoming) -> Result<Value, Error> {
    Ok(json!({ "taskId": req.uuid_param("id")? }))
}

/// `GET /clients/{clientId}/tasks?limit&cursor` → `{tasks, nextCursor}`, newest first.
pub async fn list(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let mut input = patient_input(&req)?;
    input.extend(page::keyset(&req, &[])?.0);
    req.expect_no_body()?;
    Ok(Reply::json_text(
        ctx.db.relay(LIST, &caller, &Value::Object(input)).await?,
    ))
}

/// `POST /clients/{clientId}/tasks` with `{kind, title, dueOn?, formId? | consentType?,
/// consentVersion?}` → 201, the task.
pub async fn assign(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let mut input = patient_input(&req)?;
    let body: Assign = req.json()?;
    input.extend(body.input()?);
    Ok(Reply::created(
        ctx.db.call(ASSIGN, &caller, &Value::Object(input)).await?,
    ))
}

/// `POST /tasks/{id}/cancel` → the task, cancelled.
pub async fn cancel(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let input = task_input(&req)?;
    req.expect_nothing()?;
    Ok(Reply::ok(ctx.db.call(CANCEL, &caller, &input).await?))
}

/// `GET /tasks/{id}/submission` → `{task, form?, submission}`, the answers opened.
pub async fn submission(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let input = task_input(&req)?;
    req.expect_nothing()?;
    let mut detail = ctx.db.call(SUBMISSION, &caller, &input).await?;
    forms::open(ctx, &caller, &mut detail)?;
    Ok(Reply::ok(detail))
}

/// `POST /tasks/{id}/accept` with no body or `{comment?}` → the task, accepted.
pub async fn accept(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    review(ctx, caller, req, "accepted").await
}

/// `POST /tasks/{id}/return` with `{comment}` → the task, returned to the patient.
pub async fn send_back(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    review(ctx, caller, req, "returned").await
}

async fn review(
    ctx: &Context,
    caller: Claims,
    req: Incoming,
    decision: &str,
) -> Result<Reply, Error> {
    let mut input = task_input(&req)?;
    req.query_params(&[])?;
    let comment = if req.body.is_empty() {
        None
    } else {
        req.json::<Review>()?.comment
    };
    let comment = optional_text("comment", comment.as_deref(), REVIEW_COMMENT_MAX_CHARS)?;
    if decision == "returned" && comment.is_none() {
        return Err(Error::invalid_field(
            "comment",
            "Say what to change: a returned task needs a comment.",
        ));
    }
    input["decision"] = json!(decision);
    input["comment"] = json!(comment);
    Ok(Reply::ok(ctx.db.call(REVIEW, &caller, &input).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(body: Value) -> String {
        let assign: Assign = serde_json::from_value(body).unwrap();
        assign.input().unwrap_err().errors[0].field.clone()
    }

    #[test]
    fn each_kind_takes_its_own_fields() {
        let form = Uuid::new_v4();
        let ok: Assign = serde_json::from_value(json!({
            "kind": "consent", "title": " Telehealth ", "dueOn": "2027-03-01",
            "consentType": "telehealth", "consentVersion": "v2"
        }))
        .unwrap();
        assert_eq!(
            Value::Object(ok.input().unwrap()),
            json!({"kind": "consent", "title": "Telehealth", "dueOn": "2027-03-01",
                   "consentType": "telehealth", "consentVersion": "v2"})
        );
        for (body, named) in [
            (json!({"kind": "form", "title": "PHQ-9"}), "formId"),
            (
                json!({"kind": "upload", "title": "ID", "formId": form}),
                "formId",
            ),
            (json!({"kind": "consent", "title": "Terms"}), "consentType"),
            (
                json!({"kind": "consent", "title": "T", "consentType": "Terms"}),
                "consentType",
            ),
            (
                json!({"kind": "form", "title": "x", "formId": form, "consentType": "terms"}),
                "consentType",
            ),
            (
                json!({"kind": "upload", "title": "x", "consentVersion": "v1"}),
                "consentVersion",
            ),
            (json!({"kind": "upload", "title": " "}), "title"),
            (
                json!({"kind": "upload", "title": "x", "dueOn": "2027-02-30"}),
                "dueOn",
            ),
        ] {
            assert_eq!(field(body.clone()), named, "{body}");
        }
    }
}
