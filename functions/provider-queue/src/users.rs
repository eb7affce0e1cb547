//! Staff across clinics: users, their access to clinics, and a clinic's prescribers. A user's
//! id is the identity provider's subject: the `sub` of their tokens.
//!
//! - `POST /api/super-admin/providers/{id}/user` `{email, firstName, lastName}` (super admins):
//!   a prescriber profile without a user gets one (the user with that e-mail address, else a
//!   new one), with a prescriber membership in every clinic the profile is assigned to.
//! - `POST /api/super-admin/clinics/{id}/users` `{userId, kind?, isAdmin?, asProvider?}` (super
//!   admins): an existing user gets access to that clinic; with `asProvider` they prescribe
//!   there too, so a prescriber of another clinic becomes shared.
//! - `POST /api/admin/clinic/users` `{email, firstName?, lastName?, kind?, isAdmin?,
//!   asProvider?}` (admins): the same in the admin's own clinic, for the user with that e-mail
//!   address or, with both names, a new one.
//! - `GET /api/providers?clinicId=` (staff): the clinic's prescribers; `clinicId` is the
//!   caller's own clinic, or any for a super admin.
//!
//! `asProvider` is `{titleLine?, deaNumber?, licenseNumber?, licenseState?}`. Adding answers 201
//! with a new membership, 200 when one existed (made active and approved again).

use crate::{admin::clinic_id, clinics::credentials};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    contact,
    db::Operation,
    http::{Incoming, Reply},
    operation, Context, Error,
};

const CREATE_PROVIDER_USER: Operation = operation!("create_provider_user");
const ADD_USER_TO_CLINIC: Operation = operation!("add_user_to_clinic");
const ADD_CLINIC_USER: Operation = operation!("add_clinic_user");
const PROVIDERS: Operation = operation!(read "clinic_providers");

/// What a membership makes its user at the clinic.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Therapist,
    Prescriber,
    Staff,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewUser {
    email: String,
    first_name: String,
    last_name: String,
}

/// Gives a prescriber profile its user.
pub async fn create_provider_user(
    ctx: &Context,
    caller: Claims,
    req: Incoming,
) -> Result<Reply, Error> {
    let provider = req.uuid_param("id")?;
    let user: NewUser = req.json()?;
    req.query_params(&[])?;
    let input = json!({
        "providerId": provider,
        "email": contact::email("email", &user.email)?,
        "firstName": contact::person_name("firstName", &user.first_name)?,
        "lastName": contact::person_name("lastName", &user.last_name)?,
    });
    Ok(Reply::created(
        ctx.db.call(CREATE_PROVIDER_USER, &caller, &input).await?,
    ))
}

/// Who gets access to a clinic — `userId` (super admins) or `email` with, for a new user,
/// `firstName` and `lastName` (admins) — and what access: `kind`, `isAdmin`, `asProvider`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Member {
    user_id: Option<Uuid>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    kind: Option<Kind>,
    is_admin: Option<bool>,
    as_provider: Option<Map<String, Value>>,
}

impl Member {
    /// The access as `app.add_clinic_user` takes it, added to `input`.
    fn with_access(self, mut input: Map<String, Value>) -> Result<Value, Error> {
        if let Some(kind) = self.kind {
            input.insert("kind".into(), json!(kind));
        }
        if let Some(is_admin) = self.is_admin {
            input.insert("isAdmin".into(), json!(is_admin));
        }
        if let Some(as_provider) = self.as_provider {
            input.insert(
                "asProvider".into(),
                Value::Object(credentials(as_provider)?),
            );
        }
        Ok(Value::Object(input))
    }
}

/// A 400 naming `field`, which this route does not take.
fn not_here(field: &str, instead: &str) -> Error {
    Error::invalid_field(
        field,
        format!("Unknown field; this route names the user by {instead}."),
    )
}

/// Gives an existing user access to a clinic (super admins).
pub async fn add_to_clinic(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let clinic = req.uuid_param("id")?;
    let mut body: Member = req.json()?;
    req.query_params(&[])?;
    for (field, given) in [
        ("email", body.email.is_some()),
        ("firstName", body.first_name.is_some()),
        ("lastName", body.last_name.is_some()),
    ] {
        if given {
            return Err(not_here(field, "userId"));
        }
    }
    let user = body
        .user_id
        .take()
        .ok_or_else(|| Error::invalid_field("userId", "Name the user."))?;
    let input = body.with_access(Map::from_iter([
        ("clinicId".to_owned(), json!(clinic)),
        ("userId".to_owned(), json!(user)),
    ]))?;
    added(ctx.db.call(ADD_USER_TO_CLINIC, &caller, &input).await?)
}

/// Gives a user, existing or new, access to the admin's own clinic.
pub async fn add_clinic_user(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let mut body: Member = req.json()?;
    req.query_params(&[])?;
    if body.user_id.is_some() {
        return Err(not_here("userId", "email"));
    }
    let email = body
        .email
        .take()
        .ok_or_else(|| Error::invalid_field("email", "Name the user by their e-mail address."))?;
    let mut input = Map::from_iter([("email".to_owned(), json!(contact::email("email", &email)?))]);
    for (field, name) in [
        ("firstName", body.first_name.take()),
        ("lastName", body.last_name.take()),
    ] {
        if let Some(name) = name {
            input.insert(field.into(), json!(contact::person_name(field, &name)?));
        }
    }
    added(
        ctx.db
            .call(ADD_CLINIC_USER, &caller, &body.with_access(input)?)
            .await?,
    )
}

/// 201 when the membership is new, else 200.
fn added(answer: Value) -> Result<Reply, Error> {
    Ok(if answer["created"] == json!(true) {
        Reply::created(answer)
    } else {
        Reply::ok(answer)
    })
}

/// A clinic's prescribers.
pub async fn list_providers(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let mut input = json!({});
    for (_, value) in req.query_params(&["clinicId"])? {
        input["clinicId"] = json!(clinic_id(value)?);
    }
    req.expect_no_body()?;
    Ok(Reply::json_text(
        ctx.db.relay(PROVIDERS, &caller, &input).await?,
    ))
}
