//! The texts Wardline sends. An SMS or an e-mail travels through outside providers and lands
//! on lock screens, so it carries no PHI: a template may use only the allow-listed variables
//! [`ALLOWED`] (`code`, `clinicName`, `link`, and a session's `date` and `time`), and [`render`]
//! refuses any other placeholder. A template that names a patient's name, birth date, clinician,
//! service or anything else fails to render, in the unit tests below and at run time, instead
//! of leaking it.

/// The only placeholders a template may contain.
pub const ALLOWED: [&str; 5] = ["code", "clinicName", "link", "date", "time"];

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

/// One kind of message's texts, one for each channel.
#[derive(Debug, Clone, Copy)]
pub struct Texts {
    pub sms: &'static str,
    pub email_subject: &'static str,
    pub email_text: &'static str,
}

/// A sign-in code by either channel.
pub const OTP: Texts = Texts {
    sms: OTP_SMS,
    email_subject: OTP_EMAIL_SUBJECT,
    email_text: OTP_EMAIL_TEXT,
};

/// A new secure message for a patient (`message.new`): that there is one, from which clinic,
/// and the portal's messages page; never who wrote or what.
pub const NEW_MESSAGE: Texts = Texts {
    sms: "{clinicName}: you have a new message in your patient portal: {link} Reply STOP to opt \
          out.",
    email_subject: "You have a new message from {clinicName}",
    email_text: "You have a new message from {clinicName} in the patient portal.

Read it here:
{link}
",
};

/// A new task from the care team for a patient (`task.assigned`): that there is one, from which
/// clinic, and the portal's tasks page; never what it asks for.
pub const NEW_TASK: Texts = Texts {
    sms: "{clinicName}: you have a new task in your patient portal: {link} Reply STOP to opt out.",
    email_subject: "{clinicName} has a new task for you",
    email_text: "{clinicName} has asked you to complete a task in the patient portal.

See it here:
{link}
",
};

/// News a patient reads in the portal, by outbox kind: the portal page its link opens and its
/// texts, which show only the clinic and the link.
pub const PORTAL_NEWS: [(&str, &str, Texts); 2] = [
    ("message.new", "/messages", NEW_MESSAGE),
    ("task.assigned", "/tasks", NEW_TASK),
];

/// The portal page and texts of the news `kind`, if it is news.
pub fn portal_news(kind: &str) -> Option<(&'static str, &'static Texts)> {
    PORTAL_NEWS
        .iter()
        .find(|(name, _, _)| *name == kind)
        .map(|(_, path, texts)| (*path, texts))
}

/// A staff e-mail: subject and text, naming only the clinic.
#[derive(Debug, Clone, Copy)]
pub struct StaffEmail {
    pub subject: &'static str,
    pub text: &'static str,
}

/// Every e-mail to staff, by outbox kind (e-mail only, the clinic's name only):
/// `message.new.staff`, a patient wrote to their care team (no patient, no text);
/// `staff_invite`, an admin added the recipient to the clinic's staff (`POST /therapists`), so
/// they sign in with the identity provider's account of that address; an admin approves their
/// access; `staff_access`, a user was given access to a clinic (the 004 flows: a clinic's or a
/// super admin's), approved at once.
pub const STAFF_EMAILS: [(&str, StaffEmail); 3] = [
    (
        "message.new.staff",
        StaffEmail {
            subject: "{clinicName}: a patient sent a new message",
            text: "A patient sent a new message to {clinicName}. Sign in to Wardline to read it.
",
        },
    ),
    (
        "staff_invite",
        StaffEmail {
            subject: "{clinicName} added you to its team on Wardline",
            text: "{clinicName} has added you to its team on Wardline.

Sign in to Wardline with your organization's account for this e-mail address. You can see
patients once an administrator of {clinicName} has approved your access.

If you were not expecting this, you can ignore this e-mail.
",
        },
    ),
    (
        "staff_access",
        StaffEmail {
            subject: "You now have access to {clinicName} on Wardline",
            text: "{clinicName} has given you access to its clinic on Wardline.

Sign in to Wardline with this e-mail address. If you were not expecting this, you can ignore
this e-mail.
",
        },
    ),
];

/// The texts of the staff e-mail `kind`, if it is one.
pub fn staff_email(kind: &str) -> Option<&'static StaffEmail> {
    STAFF_EMAILS
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, email)| email)
}

/// Every session notice (queued by `app.queue_session_notice`), by outbox kind. The clinician and the service stay out: the link leads
/// to the portal, which shows them to the signed-in patient.
pub const NOTICES: [(&str, Texts); 5] = [
    (
        "session.booked",
        Texts {
            sms: "{clinicName}: your appointment on {date} at {time} is booked. Details: {link} \
                  Reply STOP to opt out.",
            email_subject: "Your appointment with {clinicName} is booked",
            email_text: "Your appointment with {clinicName} is booked for {date} at {time}.

See it in the patient portal:
{link}
",
        },
    ),
    (
        "session.changed",
        Texts {
            sms: "{clinicName}: your appointment has moved to {date} at {time}. Details: {link} \
                  Reply STOP to opt out.",
            email_subject: "Your appointment with {clinicName} has moved",
            email_text: "Your appointment with {clinicName} has moved to {date} at {time}.

See it in the patient portal:
{link}
",
        },
    ),
    (
        "session.cancelled",
        Texts {
            sms: "{clinicName}: your appointment on {date} at {time} is cancelled. Details: \
                  {link} Reply STOP to opt out.",
            email_subject: "Your appointment with {clinicName} is cancelled",
            email_text: "Your appointment with {clinicName} on {date} at {time} is cancelled.

See your appointments in the patient portal:
{link}
",
        },
    ),
    (
        "session.reminder",
        Texts {
            sms: "{clinicName}: a reminder of your appointment on {date} at {time}. Details: \
                  {link} Reply STOP to opt out.",
            email_subject: "Reminder: your appointment with {clinicName}",
            email_text:
                "This is a reminder of your appointment with {clinicName} on {date} at {time}.

See it in the patient portal:
{link}
",
        },
    ),
    (
        "waitlist.offer",
        Texts {
            sms: "{clinicName}: an appointment on {date} at {time} has opened up. To take it: \
                  {link} Reply STOP to opt out.",
            email_subject: "{clinicName} has an opening for you",
            email_text: "An appointment with {clinicName} on {date} at {time} has opened up.

To take it, go to the patient portal:
{link}
",
        },
    ),
];

/// The texts of the session notice `kind`, if it is one.
pub fn notice(kind: &str) -> Option<&'static Texts> {
    NOTICES
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, notice)| notice)
}

/// The values a message may show. Every field is optional; a template that uses a missing one
/// does not render.
#[derive(Debug, Default, Clone, Copy)]
pub struct Vars<'a> {
    pub code: Option<&'a str>,
    pub clinic_name: Option<&'a str>,
    pub link: Option<&'a str>,
    /// A session's date and time of day, in the clinic's zone.
    pub date: Option<&'a str>,
    pub time: Option<&'a str>,
}

impl Vars<'_> {
    fn get(&self, name: &str) -> Result<Option<&str>, TemplateError> {
        match name {
            "code" => Ok(self.code),
            "clinicName" => Ok(self.clinic_name),
            "link" => Ok(self.link),
            "date" => Ok(self.date),
            "time" => Ok(self.time),
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
        date: Some("Tuesday, March 2, 2027"),
        time: Some("3:00 PM EST"),
    };

    /// Every shipped template.
    fn every_template() -> Vec<&'static str> {
        let mut all = vec![
            OTP_SMS,
            OTP_EMAIL_SUBJECT,
            OTP_EMAIL_TEXT,
            INVITE_EMAIL_SUBJECT,
            INVITE_EMAIL_TEXT,
        ];
        let news = PORTAL_NEWS.iter().map(|(_, _, n)| n);
        for notice in NOTICES.iter().map(|(_, n)| n).chain(news) {
            all.extend([notice.sms, notice.email_subject, notice.email_text]);
        }
        for (_, email) in STAFF_EMAILS {
            all.extend([email.subject, email.text]);
        }
        all
    }

    #[test]
    fn every_shipped_template_renders_with_only_allowed_placeholders() {
        for template in every_template() {
            let text = render(template, &ALL).unwrap();
            for name in ALLOWED {
                assert!(!text.contains(&format!("{{{name}}}")), "{text}");
            }
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
            ..Vars::default()
        };
        assert!(render(OTP_SMS, &vars).unwrap().len() <= 160);
    }

    #[test]
    fn every_notice_shows_the_clinic_date_time_and_link_and_nothing_else() {
        let only = |names: &[&str]| Vars {
            code: None,
            clinic_name: names.contains(&"clinicName").then_some("Maple"),
            link: names
                .contains(&"link")
                .then_some("https://maple.portal.example/appointments"),
            date: names.contains(&"date").then_some("Tuesday, March 2, 2027"),
            time: names.contains(&"time").then_some("3:00 PM EST"),
        };
        let all = ["clinicName", "date", "time", "link"];
        for (kind, notice) in NOTICES {
            assert_eq!(super::notice(kind).map(|n| n.sms), Some(notice.sms));
            for template in [notice.sms, notice.email_text] {
                let text = render(template, &only(&all)).unwrap();
                for value in ["Maple", "March 2", "3:00 PM EST", "/appointments"] {
                    assert!(text.contains(value), "{kind}: {text}");
                }
                // Each of the four is needed: none is optional, no other is used.
                for missing in all {
                    let fewer: Vec<&str> = all.into_iter().filter(|n| *n != missing).collect();
                    assert_eq!(
                        render(template, &only(&fewer)),
                        Err(TemplateError::Missing(missing.into())),
                        "{kind}"
                    );
                }
            }
            assert!(render(notice.email_subject, &only(&["clinicName"])).is_ok());
        }
        assert!(super::notice("session.rescheduled").is_none());
        assert!(super::notice("portal_otp").is_none());
    }

    #[test]
    fn portal_news_shows_the_clinic_and_the_link_and_nothing_else() {
        let vars = Vars {
            clinic_name: Some("Maple"),
            link: Some("https://maple.portal.example/tasks"),
            ..Vars::default()
        };
        for (kind, path, texts) in PORTAL_NEWS {
            assert_eq!(super::portal_news(kind).map(|(p, _)| p), Some(path));
            for template in [texts.sms, texts.email_subject, texts.email_text] {
                assert!(render(template, &vars).is_ok(), "{kind}");
            }
            for template in [texts.sms, texts.email_text] {
                let without_link = Vars { link: None, ..vars };
                assert_eq!(
                    render(template, &without_link),
                    Err(TemplateError::Missing("link".into())),
                    "{kind}"
                );
            }
        }
        assert!(super::portal_news("session.booked").is_none());
    }

    #[test]
    fn a_reminder_sms_fits_two_segments_with_a_long_portal_address() {
        let vars = Vars {
            code: None,
            clinic_name: Some("Harbor Counseling Associates"),
            link: Some("https://harbor-counseling.portal.wardline.example/appointments"),
            date: Some("Wednesday, September 29, 2027"),
            time: Some("12:30 PM EDT"),
        };
        for (kind, notice) in NOTICES {
            let text = render(notice.sms, &vars).unwrap();
            assert!(text.len() <= 306, "{kind}: {} characters", text.len());
        }
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
