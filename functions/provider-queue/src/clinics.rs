//! Which clinics a prescriber works for.
//!
//! - `GET /api/providers/{id}/clinics`: the prescriber's assignments, for themself (or a super
//!   admin).
//! - `GET|POST /api/super-admin/providers/{id}/clinics`: the same for super admins, and
//!   creating or changing one assignment (`{clinicId, isPrimary?, titleLine?, deaNumber?,
//!   licenseNumber?, licenseState?, active?}`; fields left out stay as they are, `null`
//!   clears one). 201 when it is new.
//! - `GET /api/providers/debug?providerId=…|clinicianId=…` (super admins): every source of the
//!   prescriber's set of clinics — the user record, user–clinic access, assignments, the
//!   legacy clinic of the profile — whether it counts, and the set.

use serde_json::{json, Map, Value};
use wardline_shared::{
    auth::Claims,
    dates::check_text,
    db::Operation,
    http::{Incoming, Reply},
    operation, Context, Error,
};

const CLINICS: Operation = operation!(read "provider_clinics");
const SAVE: Operation = operation!("save_provider_clinic");
const DEBUG: Operation = operation!(read "provider_debug");

pub async fn list(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    read(ctx, caller, req, false).await
}

pub async fn list_for_super_admin(
    ctx: &Context,
    caller: Claims,
    req: Incoming,
) -> Result<Reply, Error> {
    read(ctx, caller, req, true).await
}

async fn read(
    ctx: &Context,
    caller: Claims,
    req: Incoming,
    super_admin: bool,
) -> Result<Reply, Error> {
    let provider = req.uuid_param("id")?;
    req.expect_nothing()?;
    let input = json!({ "providerId": provider, "superAdmin": super_admin });
    Ok(Reply::json_text(
        ctx.db.relay(CLINICS, &caller, &input).await?,
    ))
}

/// Creates or changes the prescriber's assignment to one clinic.
pub async fn save(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let provider = req.uuid_param("id")?;
    let body: Map<String, Value> = req.json()?;
    let mut input = assignment(body)?;
    input.insert("providerId".into(), json!(provider));
    let saved: Saved = ctx.db.answer(SAVE, &caller, &Value::Object(input)).await?;
    Ok(if saved.created {
        Reply::created(saved.assignment)
    } else {
        Reply::ok(saved.assignment)
    })
}

/// `api.save_provider_clinic`'s answer: the assignment, and whether it is new (201).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    created: bool,
    assignment: Value,
}

/// The body checked field by field (kept as given, so "left out" and `null` stay apart).
fn assignment(body: Map<String, Value>) -> Result<Map<String, Value>, Error> {
    if !body.contains_key("clinicId") {
        return Err(Error::invalid_field("clinicId", "Name the clinic."));
    }
    let mut input = Map::new();
    for (name, value) in body {
        let checked = match (name.as_str(), &value) {
            ("clinicId", Value::String(id)) if id.parse::<uuid::Uuid>().is_ok() => value,
            ("clinicId", _) => return Err(Error::invalid_field(name, "An id is a UUID.")),
            ("isPrimary" | "active", Value::Bool(_)) => value,
            ("isPrimary" | "active", _) => {
                return Err(Error::invalid_field(name, "true or false."))
            }
            _ => match credential(&name, &name, value) {
                Some(checked) => checked?,
                None => {
                    return Err(Error::invalid_field(
                        name,
                        "Unknown field; an assignment has clinicId, isPrimary, titleLine, deaNumber, licenseNumber, licenseState and active.",
                    ))
                }
            },
        };
        input.insert(name, checked);
    }
    Ok(input)
}

/// What a prescriber prescribes under at one clinic, as given to an admin adding them there
/// (`asProvider`): its title line, DEA number and licence, each checked, or `null` to clear it.
pub(crate) fn credentials(body: Map<String, Value>) -> Result<Map<String, Value>, Error> {
    let mut input = Map::new();
    for (name, value) in body {
        let field = format!("asProvider.{name}");
        let checked = credential(&field, &name, value).unwrap_or_else(|| {
            Err(Error::invalid_field(
                &field,
                "Unknown field; asProvider has titleLine, deaNumber, licenseNumber and licenseState.",
            ))
        })?;
        input.insert(name, checked);
    }
    Ok(input)
}

/// Member `name` of an assignment (called `field` in errors) when it is one of its credentials:
/// checked text, or `null`. `None` for any other member.
fn credential(field: &str, name: &str, value: Value) -> Option<Result<Value, Error>> {
    let check = match name {
        "titleLine" => title_line,
        "deaNumber" => dea_number,
        "licenseNumber" => license_number,
        "licenseState" => license_state,
        _ => return None,
    };
    Some(match value {
        Value::Null => Ok(value),
        Value::String(text) => check(field, &text).map(Value::from),
        _ => Err(Error::invalid_field(field, "Text, or null to clear it.")),
    })
}

fn title_line(field: &str, text: &str) -> Result<String, Error> {
    let text = text.trim();
    check_text(field, text)?;
    if !(1..=200).contains(&text.chars().count()) {
        return Err(Error::invalid_field(field, "1 to 200 characters."));
    }
    Ok(text.to_owned())
}

/// Two letters and seven digits whose last is the check digit of the other six.
fn dea_number(field: &str, text: &str) -> Result<String, Error> {
    let dea = text.trim().to_ascii_uppercase();
    let bytes = dea.as_bytes();
    let shaped = bytes.len() == 9
        && bytes[0].is_ascii_uppercase()
        && (bytes[1].is_ascii_uppercase() || bytes[1] == b'9')
        && bytes[2..].iter().all(u8::is_ascii_digit);
    if !shaped {
        return Err(Error::invalid_field(
            field,
            "Two letters and seven digits, e.g. AB1234563.",
        ));
    }
    let d: Vec<u32> = bytes[2..].iter().map(|b| u32::from(b - b'0')).collect();
    if (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 != d[6] {
        return Err(Error::invalid_field(
            field,
            "The check digit does not match: is the number mistyped?",
        ));
    }
    Ok(dea)
}

fn license_number(field: &str, text: &str) -> Result<String, Error> {
    let number = text.trim();
    if !(1..=30).contains(&number.len())
        || !number
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Error::invalid_field(
            field,
            "1 to 30 letters, digits and hyphens.",
        ));
    }
    Ok(number.to_owned())
}

fn license_state(field: &str, text: &str) -> Result<String, Error> {
    let state = text.trim().to_ascii_uppercase();
    if state.len() != 2 || !state.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Error::invalid_field(
            field,
            "A two-letter state code, e.g. NY.",
        ));
    }
    Ok(state)
}

/// How a prescriber's set of clinics is derived, for support.
pub async fn debug(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let params = req.query_params(&["providerId", "clinicianId"])?;
    let [(name, value)] = params.as_slice() else {
        return Err(Error::invalid_field(
            "providerId",
            "Give exactly one of providerId and clinicianId.",
        ));
    };
    let id: uuid::Uuid = value
        .parse()
        .map_err(|_| Error::invalid_field(*name, "An id is a UUID."))?;
    req.expect_no_body()?;
    let input = Value::Object(Map::from_iter([((*name).to_owned(), json!(id))]));
    Ok(Reply::json_text(
        ctx.db.relay(DEBUG, &caller, &input).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(body: Value) -> String {
        let Value::Object(body) = body else {
            unreachable!()
        };
        assignment(body).unwrap_err().into_problem().errors[0]
            .field
            .clone()
    }

    #[test]
    fn every_field_is_checked_and_named() {
        let clinic = uuid::Uuid::new_v4();
        let ok = assignment(
            json!({ "clinicId": clinic, "deaNumber": " ab1234563 ", "licenseState": "ny",
                    "titleLine": null, "isPrimary": true })
            .as_object()
            .cloned()
            .unwrap(),
        )
        .unwrap();
        assert_eq!(ok["deaNumber"], "AB1234563");
        assert_eq!(ok["licenseState"], "NY");
        assert!(ok["titleLine"].is_null());
        assert_eq!(field(json!({ "deaNumber": "AB1234563" })), "clinicId");
        assert_eq!(field(json!({ "clinicId": "x" })), "clinicId");
        assert_eq!(
            field(json!({ "clinicId": clinic, "deaNumber": "AB1234564" })),
            "deaNumber"
        );
        assert_eq!(
            field(json!({ "clinicId": clinic, "deaNumber": "A1234563" })),
            "deaNumber"
        );
        assert_eq!(
            field(json!({ "clinicId": clinic, "licenseState": "New York" })),
            "licenseState"
        );
        assert_eq!(
            field(json!({ "clinicId": clinic, "licenseNumber": "L 1" })),
            "licenseNumber"
        );
        assert_eq!(
            field(json!({ "clinicId": clinic, "titleLine": "" })),
            "titleLine"
        );
        assert_eq!(
            field(json!({ "clinicId": clinic, "isPrimary": "yes" })),
            "isPrimary"
        );
        assert_eq!(field(json!({ "clinicId": clinic, "npi": "1" })), "npi");
    }

    #[test]
    fn credentials_are_checked_and_named_under_as_provider() {
        let check = |body: Value| {
            let Value::Object(body) = body else {
                unreachable!()
            };
            credentials(body)
        };
        let ok = check(json!({ "deaNumber": "ab1234563", "titleLine": null })).unwrap();
        assert_eq!(ok["deaNumber"], "AB1234563");
        assert!(ok["titleLine"].is_null());
        for (bad, name) in [
            (json!({ "deaNumber": "AB1234564" }), "asProvider.deaNumber"),
            (json!({ "licenseState": 12 }), "asProvider.licenseState"),
            (json!({ "isPrimary": true }), "asProvider.isPrimary"),
        ] {
            assert_eq!(check(bad).unwrap_err().into_problem().errors[0].field, name);
        }
    }
}
