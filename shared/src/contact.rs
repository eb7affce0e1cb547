//! The shapes of the addresses Wardline writes to: e-mail and E.164 phone numbers, as patients
//! are created with them (invites) and sign in with them (the portal), and the names people
//! are created with (patients, staff). One definition, so an address that was accepted once is
//! accepted everywhere.

use crate::{dates::required_text, error::Error};

/// A person's first or last name: one line of 1 to 100 characters (what `app.patients` and
/// `app.clinicians` keep), trimmed. A 400 names `field`.
pub fn name<'a>(field: &str, raw: &'a str) -> Result<&'a str, Error> {
    let name = required_text(field, raw, 100)?;
    if name.contains(['\n', '\t']) {
        return Err(Error::invalid_field(field, "A name is one line."));
    }
    Ok(name)
}

/// Lower-cased, and shaped like an address: what the database's own check allows, and a
/// domain with a dot. Deliverability is the message's test. A 400 names `field`.
pub fn email(field: &str, raw: &str) -> Result<String, Error> {
    let email = raw.trim().to_lowercase();
    let shaped = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if (1..=64).contains(&local.len()) && !domain.contains('@')
                && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'));
    if !shaped {
        return Err(Error::invalid_field(field, "Expected an e-mail address."));
    }
    Ok(email)
}

/// E.164: `+`, a country code that does not start with 0, 7 to 15 digits in all. A 400 names
/// `field`.
pub fn phone<'a>(field: &str, raw: &'a str) -> Result<&'a str, Error> {
    if is_e164(raw) {
        Ok(raw)
    } else {
        Err(Error::invalid_field(
            field,
            "Expected an E.164 number such as +14155550123.",
        ))
    }
}

/// Whether `raw` is an E.164 number (what `app.patients.phone` and Twilio's `From` hold).
pub fn is_e164(raw: &str) -> bool {
    let digits = raw.strip_prefix('+').unwrap_or_default();
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(result: Result<impl std::fmt::Debug, Error>) -> String {
        result.unwrap_err().into_problem().errors[0].field.clone()
    }

    #[test]
    fn names_are_one_line_of_at_most_100_characters() {
        assert_eq!(name("firstName", " Ann ").unwrap(), "Ann");
        assert_eq!(field(name("firstName", "  ")), "firstName");
        assert_eq!(field(name("lastName", &"x".repeat(101))), "lastName");
        assert_eq!(field(name("lastName", "A\nB")), "lastName");
    }

    #[test]
    fn emails_and_phones_are_checked_and_named() {
        assert_eq!(
            email("email", " Ann@Example.ORG ").unwrap(),
            "ann@example.org"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.org",
            "ann@example",
            "a b@example.org",
            "a@b@c.d",
        ] {
            assert_eq!(field(email("email", bad)), "email", "{bad}");
        }
        assert_eq!(phone("phone", "+14155550123").unwrap(), "+14155550123");
        for bad in [
            "4155550123",
            "+0415555",
            "+1415",
            "+1415555012345678",
            "+1-415-555",
        ] {
            assert_eq!(field(phone("to", bad)), "to", "{bad}");
        }
    }
}
