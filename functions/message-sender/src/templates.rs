//! The texts Wardline sends. An SMS or an e-mail travels through outside providers and lands
//! on lock screens, so it carries no PHI: a template may use only the allow-listed variables
//! [`ALLOWED`] (`code`, `clinicName`, `link`), and [`render`] refuses any other placeholder. A
//! template that names a patient's name, birth date or anything else fails to render, in the
//! unit tests below and at run time, instead of leaking it.

/// The only placeholders a template may contain.
pub const ALLOWED: [&str; 3] = ["code", "clinicName", "link"];

/// A sign-in code by SMS: short enough for one segment with most clinic names.
pub const OTP_SMS: &str =
    "{clinicName}: your sign-in code is {code}. It expires in 10 minutes. Reply STOP to opt out.";

pub const OTP_EMAIL_SUBJECT: &str = "Your {clinicName} sign-in code";

pub const OTP_EMAIL_TEXT: &str = "Your sign-in code for the {clinicName} patient portal is {code}.

It expires in 10 minutes. If you did not ask for a code, you can ignore this e-mail.
";

pub const INVITE_EMAIL_SUBJECT: &str = "{clinicName} invites you to its patient portal";

pub const INVITE_EMAIL_TEXT: &str = "{clinicName} has invited you to its patient portal.

Set up your account with this link:
{link}

The link works once and expires in 72 hours. If you were not expecting it, you can ignore this
e-mail.
";

/// The values a message may show. Every field is optional; a template that uses a missing one
/// does not render.
#[derive(Debug, Default, Clone, Copy)]
pub struct Vars<'a> {
    pub code: Option<&'a str>,
    pub clinic_name: Option<&'a str>,
    pub link: Option<&'a str>,
}

impl Vars<'_> {
    fn get(&self, name: &str) -> Result<Option<&str>, TemplateError> {
        match name {
            "code" => Ok(self.code),
            "clinicName" => Ok(self.clinic_name),
            "link" => Ok(self.link),
            _ => Err(TemplateError::NotAllowed(name.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A placeholder outside [`ALLOWED`]: the template would show something it must not.
    #[error("placeholder {{{0}}} is not allowed in a message")]
    NotAllowed(String),
    /// An allowed placeholder this message has no value for.
    #[error("placeholder {{{0}}} has no value")]
    Missing(String),
    /// A `{` without its `}`.
    #[error("unclosed placeholder")]
    Unclosed,
}

/// Fills `{name}` placeholders from `vars` in one pass (values are not scanned again, so a
/// clinic name containing braces is shown as it is).
pub fn render(template: &str, vars: &Vars) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('}').ok_or(TemplateError::Unclosed)?;
        let name = &after[..end];
        let value = vars
            .get(name)?
            .ok_or_else(|| TemplateError::Missing(name.to_owned()))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Vars = Vars {
        code: Some("123456"),
        clinic_name: Some("Maple {Clinic}"),
        link: Some("https://maple.portal.example/invite?token=abc"),
    };

    #[test]
    fn every_shipped_template_renders_with_only_allowed_placeholders() {
        for template in [
            OTP_SMS,
            OTP_EMAIL_SUBJECT,
            OTP_EMAIL_TEXT,
            INVITE_EMAIL_SUBJECT,
            INVITE_EMAIL_TEXT,
        ] {
            let text = render(template, &ALL).unwrap();
            assert!(
                !text.contains("{code}") && !text.contains("{link}"),
                "{text}"
            );
        }
        assert_eq!(
            render(OTP_SMS, &ALL).unwrap(),
            "Maple {Clinic}: your sign-in code is 123456. It expires in 10 minutes. \
             Reply STOP to opt out."
        );
        assert!(render(INVITE_EMAIL_TEXT, &ALL)
            .unwrap()
            .contains("\nhttps://maple.portal.example/invite?token=abc\n"));
    }

    #[test]
    fn the_otp_sms_fits_one_segment_with_a_typical_clinic_name() {
        let vars = Vars {
            code: Some("123456"),
            clinic_name: Some("Harbor Counseling Associates"),
            link: None,
        };
        assert!(render(OTP_SMS, &vars).unwrap().len() <= 160);
    }

    #[test]
    fn placeholders_outside_the_allow_list_are_refused() {
        for (template, name) in [
            ("Hello {firstName}", "firstName"),
            ("{clinicName} for {lastName}", "lastName"),
            ("{dateOfBirth}", "dateOfBirth"),
            ("{}", ""),
            ("{ code }", " code "),
        ] {
            assert_eq!(
                render(template, &ALL),
                Err(TemplateError::NotAllowed(name.into())),
                "{template}"
            );
        }
    }

    #[test]
    fn missing_values_and_unclosed_braces_are_errors() {
        let no_code = Vars { code: None, ..ALL };
        assert_eq!(
            render(OTP_SMS, &no_code),
            Err(TemplateError::Missing("code".into()))
        );
        assert_eq!(render("code {code", &ALL), Err(TemplateError::Unclosed));
        assert_eq!(
            render("no placeholders", &Vars::default()).unwrap(),
            "no placeholders"
        );
    }
}
