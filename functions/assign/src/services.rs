//! The clinic's services catalogue, for its admins: `GET /api/admin/services` (every service,
//! active or not), `POST /api/admin/services` `{name, cptCode, durationMinutes}` and `PATCH
//! /api/admin/services/{id}` (any of those and `active`). An active name is unique in the
//! clinic, whatever its case (409 `already_in_use`). A CPT code Wardline's table
//! (`app.cpt_codes`) does not list books without units, as booking records it. Retiring a
//! service (`active: false`) keeps its sessions and stops new bookings of it.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use wardline_shared::{
    auth::Claims,
    dates::required_text,
    db::Operation,
    http::{Incoming, Reply},
    limits::SERVICE_MINUTES,
    operation, Context, Error,
};

const LIST: Operation = operation!(read "services");
const CREATE: Operation = operation!("create_service");
const UPDATE: Operation = operation!("update_service");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewService {
    name: String,
    cpt_code: String,
    duration_minutes: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Change {
    name: Option<String>,
    cpt_code: Option<String>,
    duration_minutes: Option<u16>,
    active: Option<bool>,
}

/// `GET /api/admin/services` → `{services}`, active first, by name.
pub async fn list(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    req.expect_nothing()?;
    Ok(Reply::json_text(
        ctx.db.relay(LIST, &caller, &json!({})).await?,
    ))
}

/// `POST /api/admin/services` → 201, the service.
pub async fn create(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: NewService = req.json()?;
    let input = fields(Change {
        name: Some(body.name),
        cpt_code: Some(body.cpt_code),
        duration_minutes: Some(body.duration_minutes),
        active: None,
    })?;
    Ok(Reply::created(
        ctx.db.call(CREATE, &caller, &Value::Object(input)).await?,
    ))
}

/// `PATCH /api/admin/services/{id}` → the service.
pub async fn update(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let service = req.uuid_param("id")?;
    let change: Change = req.json()?;
    let mut input = fields(change)?;
    if input.is_empty() {
        return Err(Error::invalid_field("body", "Name at least one field."));
    }
    input.insert("serviceId".into(), json!(service));
    Ok(Reply::ok(
        ctx.db.call(UPDATE, &caller, &Value::Object(input)).await?,
    ))
}

/// The fields sent, checked, as SQL takes them.
fn fields(c: Change) -> Result<Map<String, Value>, Error> {
    let mut out = Map::new();
    if let Some(name) = &c.name {
        let name = required_text("name", name, 200)?;
        if name.contains(['\n', '\t']) {
            return Err(Error::invalid_field("name", "One line."));
        }
        out.insert("name".into(), json!(name));
    }
    if let Some(code) = &c.cpt_code {
        let shaped = code.len() == 5
            && code.bytes().take(4).all(|b| b.is_ascii_digit())
            && code
                .bytes()
                .last()
                .is_some_and(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        if !shaped {
            return Err(Error::invalid_field(
                "cptCode",
                "A CPT code: four digits and a digit or capital letter, such as 90837.",
            ));
        }
        out.insert("cptCode".into(), json!(code));
    }
    if let Some(minutes) = c.duration_minutes {
        if !SERVICE_MINUTES.contains(&minutes) {
            return Err(Error::invalid_field(
                "durationMinutes",
                format!(
                    "From {} to {} minutes.",
                    SERVICE_MINUTES.start(),
                    SERVICE_MINUTES.end()
                ),
            ));
        }
        out.insert("durationMinutes".into(), json!(minutes));
    }
    if let Some(active) = c.active {
        out.insert("active".into(), json!(active));
    }
    Ok(out)
}
