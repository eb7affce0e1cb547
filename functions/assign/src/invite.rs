//! `POST /v2/doctor/patients/invite`: a new patient, in the care of the inviter (when they are
//! a clinician here) and of every `additionalTherapistIds` clinician, with a single-use portal
//! invite that expires in 72 hours and its e-mail queued in the outbox. All or nothing: one
//! clinician who cannot be added is a 422 naming them, and nothing is created. Adding
//! clinicians needs `therapistPatientAssignment`. Answers 201
//! `{patient, careTeam: [clinician ids], inviteExpiresAt}`. The token is never answered or
//! stored in the clear: the invite keeps its SHA-256, and the queued message carries it sealed
//! (`shared::sealed`, bound to the clinic and patient) for message-sender to open. A
//! `referralCode` attributes the new patient to the referral link they came through (400 when
//! no active link of the clinic has it).

use chrono::{Datelike, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use wardline_shared::{
    auth::Claims,
    contact,
    dates::check_year,
    db::Operation,
    http::{Incoming, Reply},
    operation, sealed, secret, Context, Error,
};

const INVITE: Operation = operation!("invite_patient");

/// At most this many clinicians join with the inviter.
const MAX_ADDITIONAL: usize = 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct InviteBody {
    first_name: String,
    last_name: String,
    email: String,
    phone: Option<String>,
    /// `YYYY-MM-DD`.
    date_of_birth: Option<String>,
    additional_therapist_ids: Option<Vec<Uuid>>,
    /// The code of the referral link the patient came through: they are attributed to it.
    referral_code: Option<String>,
}

pub async fn invite(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let body: InviteBody = req.json()?;
    let first_name = contact::name("firstName", &body.first_name)?;
    let last_name = contact::name("lastName", &body.last_name)?;
    let email = contact::email("email", &body.email)?;
    let phone = body
        .phone
        .as_deref()
        .map(|raw| contact::phone("phone", raw))
        .transpose()?;
    let date_of_birth = body.date_of_birth.as_deref().map(birth_date).transpose()?;
    let additional = body.additional_therapist_ids.unwrap_or_default();
    if body
        .referral_code
        .as_deref()
        .is_some_and(|code| !secret::is_referral_code(code))
    {
        return Err(Error::invalid_field(
            "referralCode",
            "Expected the 12-character code of a referral link.",
        ));
    }
    let keys = ctx.sealing_keys()?;
    check_additional(&additional, caller.sub)?;
    let patient = Uuid::new_v4();
    let token = secret::token();
    let sealed = keys.seal(
        &sealed::invite_token_context(caller.org_id, patient),
        &token,
    )?;
    let mut input = json!({
        "patientId": patient,
        "firstName": first_name,
        "lastName": last_name,
        "email": email,
        "phone": phone,
        "dateOfBirth": date_of_birth,
        "additionalTherapistIds": additional,
        "tokenHash": secret::digest(&token),
        "sealedToken": sealed.to_json(),
    });
    if let Some(code) = body.referral_code {
        input["referralCode"] = json!(code);
    }
    Ok(Reply::created(ctx.db.call(INVITE, &caller, &input).await?))
}

fn birth_date(raw: &str) -> Result<NaiveDate, Error> {
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| Error::invalid_field("dateOfBirth", "Expected a date as YYYY-MM-DD."))?;
    check_year("dateOfBirth", date.year())?;
    if date > Utc::now().date_naive() {
        return Err(Error::invalid_field("dateOfBirth", "Is in the future."));
    }
    Ok(date)
}

/// At most [`MAX_ADDITIONAL`], each once, and not the inviter (who joins anyway).
fn check_additional(ids: &[Uuid], inviter: Uuid) -> Result<(), Error> {
    if ids.len() > MAX_ADDITIONAL {
        return Err(Error::invalid_field(
            "additionalTherapistIds",
            format!("At most {MAX_ADDITIONAL} clinicians."),
        ));
    }
    for (i, id) in ids.iter().enumerate() {
        let field = || format!("additionalTherapistIds[{i}]");
        if *id == inviter {
            return Err(Error::invalid_field(
                field(),
                "The inviter joins the care team anyway; leave them out.",
            ));
        }
        if ids[..i].contains(id) {
            return Err(Error::invalid_field(field(), "Given more than once."));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(result: Result<impl std::fmt::Debug, Error>) -> String {
        result.unwrap_err().into_problem().errors[0].field.clone()
    }

    #[test]
    fn birth_dates_are_checked_and_named() {
        assert!(birth_date("1990-02-28").is_ok());
        for bad in ["1990-02-30", "28/02/1990", "1850-01-01", "2999-01-01"] {
            assert_eq!(field(birth_date(bad)), "dateOfBirth", "{bad}");
        }
    }

    #[test]
    fn additional_clinicians_are_distinct_and_not_the_inviter() {
        let (me, a, b) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert!(check_additional(&[a, b], me).is_ok());
        assert_eq!(
            field(check_additional(&[a, me], me)),
            "additionalTherapistIds[1]"
        );
        assert_eq!(
            field(check_additional(&[a, b, a], me)),
            "additionalTherapistIds[2]"
        );
        assert_eq!(
            field(check_additional(&vec![a; MAX_ADDITIONAL + 1], me)),
            "additionalTherapistIds"
        );
    }
}
