//! Intake forms: a clinic's JSON Schemas and the answers patients give them. A schema is
//! compiled here as Draft 2020-12 (formats checked, `pattern`s on the linear-time `regex`
//! engine, so no schema can make a check run away) with every outside reference refused: the
//! crate is built without its HTTP and file resolvers and runs offline, so a `$ref` to another
//! document fails the schema rather than fetching anything. Answers are checked against the
//! exact version the patient was shown, then sealed (the notes keyring, bound to the clinic,
//! the submission, its task and its form version) before they reach the database, and opened
//! after; SQL holds `{keyId, nonce, ciphertext}` only.

use crate::{
    auth::Claims,
    db::Operation,
    error::{Error, FieldError},
    limits::{FORM_ANSWERS_MAX_BYTES, FORM_SCHEMA_MAX_BYTES},
    sealed, Context,
};
use http::StatusCode;
use jsonschema::{error::ValidationErrorKind, Draft, PatternOptions, ValidationError, Validator};
use serde_json::{json, Map, Value};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};
use uuid::Uuid;

/// The only `$schema` a form may declare (or leave out).
pub const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// The most failing answers one 400 names.
const MAX_ERRORS: usize = 20;

/// Whether any string or key of `value` holds the character U+0000.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(members) => members
            .iter()
            .any(|(key, member)| key.contains('\0') || holds_nul(member)),
        _ => false,
    }
}

/// Compiles a form's `schema`; a 400 naming `schema` when it is larger than
/// [`FORM_SCHEMA_MAX_BYTES`], declares another draft, does not describe an object of answers,
/// is no valid schema, or refers to anything outside itself.
pub fn compile(schema: &Value) -> Result<Validator, Error> {
    let invalid = |detail: String| Error::invalid_field("schema", detail);
    if schema.to_string().len() > FORM_SCHEMA_MAX_BYTES {
        return Err(invalid(format!(
            "A form's schema is at most {FORM_SCHEMA_MAX_BYTES} bytes of JSON."
        )));
    }
    // PostgreSQL's jsonb cannot hold it: refused here, naming the field, not by the database.
    if holds_nul(schema) {
        return Err(invalid(
            "Text may not contain the character \\u0000.".into(),
        ));
    }
    match schema.get("$schema") {
        None => {}
        Some(Value::String(draft)) if draft == DRAFT_2020_12 => {}
        Some(_) => {
            return Err(invalid(format!(
                "Forms are JSON Schema Draft 2020-12: leave out $schema or give {DRAFT_2020_12}."
            )))
        }
    }
    if schema.get("type") != Some(&json!("object")) {
        return Err(invalid(
            "A form's schema describes an object of answers: its root has \"type\": \"object\"."
                .into(),
        ));
    }
    build(schema).map_err(|e| {
        match e.kind() {
        ValidationErrorKind::Referencing(_) => invalid(
            "A form's schema may refer ($ref) only to its own parts; nothing outside it is fetched."
                .into(),
        ),
        _ => invalid(format!("Not a valid JSON Schema: {e}")),
    }
    })
}

/// The validator of `schema` as every form's is built: Draft 2020-12, formats checked, the
/// linear-time pattern engine, nothing fetched. A version read back from the database was
/// checked when it was published, and is only built again.
fn build(schema: &Value) -> Result<Validator, ValidationError<'static>> {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .offline()
        .should_validate_formats(true)
        .with_pattern_options(PatternOptions::regex())
        .build(schema)
}

/// Checks `answers` against a form version's `validator`: a 400 naming each failing answer as
/// `answers` followed by its JSON Pointer (`answers/phq9`; a missing or unexpected answer by
/// its own name) and the rule it breaks — never the value given: answers are PHI.
pub fn check_answers(validator: &Validator, answers: &Value) -> Result<(), Error> {
    let errors: Vec<FieldError> = validator
        .iter_errors(answers)
        .take(MAX_ERRORS)
        .map(|error| {
            let mut field = format!("answers{}", error.instance_path().as_str());
            let named = match error.kind() {
                ValidationErrorKind::Required { property } => property.as_str(),
                ValidationErrorKind::AdditionalProperties { unexpected }
                | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                    unexpected.first().map(String::as_str)
                }
                _ => None,
            };
            if let Some(name) = named {
                field.push('/');
                field.push_str(&name.replace('~', "~0").replace('/', "~1"));
            }
            let detail = format!(
                "This answer does not meet the form's \"{}\" rule.",
                error.kind().keyword()
            );
            FieldError { field, detail }
        })
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    let mut error = Error::new(
        StatusCode::BAD_REQUEST,
        "invalid_input",
        "Some answers do not fit the form; errors name them.",
    );
    error.errors = errors;
    Err(error)
}

/// Compiled form versions, per container. A version never changes, so what was compiled stays
/// good; keyed by clinic and version, so a request never uses another clinic's schema.
type Compiled = HashMap<(Uuid, Uuid), Arc<Validator>>;

static COMPILED: OnceLock<Mutex<Compiled>> = OnceLock::new();

/// The most versions kept compiled; past it the cache starts over.
const COMPILED_MAX: usize = 256;

/// The compiled form version `version` of the caller's clinic: from this container's cache, or
/// read with `read` (input: `input` and `formVersionId`; answering the version with its
/// `schema`, or the 404 of a version the caller may not see) and compiled once. So checking
/// answers costs no round trip when the version is known here, one when it is not.
pub async fn validator(
    ctx: &Context,
    caller: &Claims,
    read: Operation,
    mut input: Map<String, Value>,
    version: Uuid,
) -> Result<Arc<Validator>, Error> {
    let org = caller.org_id.ok_or_else(Error::not_found)?;
    let cache = COMPILED.get_or_init(Mutex::default);
    let cached = cache
        .lock()
        .map_err(|_| Error::internal("the form cache lock is poisoned"))?
        .get(&(org, version))
        .cloned();
    if let Some(validator) = cached {
        return Ok(validator);
    }
    input.insert("formVersionId".into(), json!(version));
    let stored = ctx.db.call(read, caller, &Value::Object(input)).await?;
    let validator = Arc::new(build(&stored["schema"]).map_err(|e| {
        Error::internal(format!(
            "stored form version {version} does not compile: {e}"
        ))
    })?);
    let mut compiled = cache
        .lock()
        .map_err(|_| Error::internal("the form cache lock is poisoned"))?;
    if compiled.len() >= COMPILED_MAX {
        compiled.clear();
    }
    compiled.insert((org, version), validator.clone());
    Ok(validator)
}

/// `{submissionId, formVersionId, sealed}` for the SQL that keeps a form's answers: `answers`
/// (already checked against `version`) within [`FORM_ANSWERS_MAX_BYTES`] (a 400 naming
/// `answers`), sealed under a new submission id of `task`.
pub fn sealed_answers(
    ctx: &Context,
    caller: &Claims,
    task: Uuid,
    version: Uuid,
    answers: &Value,
) -> Result<Map<String, Value>, Error> {
    let text = answers.to_string();
    if text.len() > FORM_ANSWERS_MAX_BYTES {
        return Err(Error::invalid_field(
            "answers",
            format!("Answers are at most {FORM_ANSWERS_MAX_BYTES} bytes of JSON."),
        ));
    }
    let submission = Uuid::new_v4();
    let bound = sealed::task_answers_context(caller.org_id, submission, task, version);
    let sealed = ctx.sealing_keys()?.seal(&bound, &text)?.to_json();
    let mut input = Map::new();
    input.insert("submissionId".into(), json!(submission));
    input.insert("formVersionId".into(), json!(version));
    input.insert("sealed".into(), sealed);
    Ok(input)
}

/// Replaces an answer's `submission.sealed` with `submission.answers`. Answers sealed under a
/// key this deployment no longer holds are left out (`answersUnavailable: true`) and logged,
/// as notes are.
pub fn open(ctx: &Context, caller: &Claims, answer: &mut Value) -> Result<(), Error> {
    let Some(submission) = answer.get_mut("submission").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let Some(stored) = submission.remove("sealed") else {
        return Ok(());
    };
    let keys = ctx.sealing_keys()?;
    let stored = sealed::Sealed::from_json(&stored)?;
    let uuid = |name: &str| -> Result<Uuid, Error> {
        submission
            .get(name)
            .and_then(Value::as_str)
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| Error::internal(format!("a submission without its {name}")))
    };
    let (id, task, version) = (uuid("id")?, uuid("taskId")?, uuid("formVersionId")?);
    if !keys.has_key(&stored.key_id) {
        tracing::error!(submission = %id, key_id = %stored.key_id,
            "answers sealed under a key missing from WARDLINE_NOTES_KEYS");
        submission.insert("answersUnavailable".into(), json!(true));
        return Ok(());
    }
    let bound = sealed::task_answers_context(caller.org_id, id, task, version);
    let text = keys.open(&bound, &stored)?;
    let answers: Value = serde_json::from_str(&text)
        .map_err(|_| Error::internal(format!("submission {id}: sealed answers are not JSON")))?;
    submission.insert("answers".into(), answers);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(schema: &Value) -> String {
        compile(schema).expect_err("refused").errors[0]
            .field
            .clone()
    }

    #[test]
    fn only_offline_draft_2020_12_object_schemas_compile() {
        let ok = json!({"type": "object", "properties": {"phq9": {"type": "integer"}}});
        assert!(compile(&ok).is_ok());
        let declared = json!({"$schema": DRAFT_2020_12, "type": "object"});
        assert!(compile(&declared).is_ok());
        let local = json!({"type": "object", "$defs": {"score": {"type": "integer"}},
                           "properties": {"phq9": {"$ref": "#/$defs/score"}}});
        assert!(compile(&local).is_ok());
        for refused in [
            json!({"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}),
            json!({"type": "object", "properties": {"a": {"$ref": "file:///etc/passwd"}}}),
            json!({"$id": "https://example.com/form", "type": "object",
                   "properties": {"a": {"$ref": "other.json"}}}),
            json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}),
            json!({"type": "array"}),
            json!({"type": "object", "properties": {"a": {"type": "strng"}}}),
            json!({"type": "object", "properties": {"a": {"pattern": "(a"}}}),
            json!({"type": "object", "description": "x".repeat(FORM_SCHEMA_MAX_BYTES)}),
        ] {
            assert_eq!(field_of(&refused), "schema", "{refused}");
        }
        let remote =
            json!({"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}});
        let detail = compile(&remote).unwrap_err().detail.clone();
        assert!(detail.contains("only to its own parts"), "{detail}");
    }

    #[test]
    fn failing_answers_are_named_by_path_and_rule_never_by_value() {
        let validator = compile(&json!({
            "type": "object",
            "required": ["phq9", "a/b"],
            "additionalProperties": false,
            "properties": {
                "phq9": {"type": "integer", "minimum": 0, "maximum": 27},
                "a/b": {"type": "string"},
                "items": {"type": "array", "items": {"type": "string", "format": "date"}},
            },
        }))
        .unwrap();
        assert!(check_answers(&validator, &json!({"phq9": 3, "a/b": "x"})).is_ok());
        let error = check_answers(
            &validator,
            &json!({"phq9": 99, "items": ["2027-01-01", "Jane Doe"], "secret": "SSN 123"}),
        )
        .unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        let mut fields: Vec<&str> = error.errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "answers/a~1b",
                "answers/items/1",
                "answers/phq9",
                "answers/secret"
            ]
        );
        let body = error.body().to_string();
        for value in ["99", "Jane Doe", "SSN"] {
            assert!(!body.contains(value), "{value} in {body}");
        }
        let not_an_object = check_answers(&validator, &json!([1])).unwrap_err();
        assert_eq!(not_an_object.errors[0].field, "answers");
    }
}
