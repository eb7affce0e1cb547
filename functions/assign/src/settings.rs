//! `GET|PATCH /api/admin/clinic`: the clinic's settings, for its admins — its name, portal
//! (slug and own domain), time zone, SMS number and HELP reply, the prescription letterhead,
//! the pharmacy switch and account reference, and the appointment rules (late cancellation,
//! waitlist offers, reminders, message notices) and whether signed notes need an admin's
//! co-signature. `PATCH` changes the fields it names (a
//! nullable one is cleared by `null`) and answers them all; a value another clinic uses is a
//! 409 `already_in_use` naming the field. The availability settings stay at
//! `PUT /availability/settings`, where the slot search reads them.

use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use wardline_shared::{
    auth::Claims,
    contact,
    dates::{optional_text, required_text},
    db::Operation,
    http::{Incoming, Reply},
    limits::{
        LATE_CANCEL_HOURS_MAX, MAX_REMINDERS, MESSAGE_NOTICE_QUIET_MINUTES_MAX, REMINDER_HOURS,
        WAITLIST_OFFER_MINUTES,
    },
    operation, times, Context, Error,
};

const READ: Operation = operation!(read "clinic_settings");
const UPDATE: Operation = operation!("update_clinic_settings");

/// The lines a prescription's letterhead may carry, in print order (provider-queue).
const LETTERHEAD: [&str; 5] = ["address", "phone", "fax", "email", "website"];

/// A change: every field optional; `Some(None)` is a nullable field sent as `null`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Change {
    #[serde(default, deserialize_with = "not_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    slug: Option<String>,
    #[serde(default, deserialize_with = "present")]
    portal_domain: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    time_zone: Option<String>,
    #[serde(default, deserialize_with = "present")]
    sms_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    sms_help_reply: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    letterhead: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "not_null")]
    pharmacy_enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pharmacy_secret_ref: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    late_cancel_hours: Option<u16>,
    #[serde(default, deserialize_with = "not_null")]
    waitlist_offer_minutes: Option<u16>,
    #[serde(default, deserialize_with = "not_null")]
    reminder_hours: Option<Vec<u16>>,
    #[serde(default, deserialize_with = "not_null")]
    message_notice_quiet_minutes: Option<u16>,
    #[serde(default, deserialize_with = "not_null")]
    notes_cosign_required: Option<bool>,
}

/// A field that is left out or has a value: `null` clears only what may be cleared (the
/// `present` fields), so elsewhere it is a 400 naming the field, never a silent no-op.
fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A field that was sent, `null` or not.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `GET /api/admin/clinic` → the settings.
pub async fn read(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    req.expect_nothing()?;
    Ok(Reply::json_text(
        ctx.db.relay(READ, &caller, &json!({})).await?,
    ))
}

/// `PATCH /api/admin/clinic` with any settings → all of them.
pub async fn update(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let change: Change = req.json()?;
    let settings = checked(change)?;
    if settings.is_empty() {
        return Err(Error::invalid_field("body", "Name at least one setting."));
    }
    let input = json!({ "settings": settings });
    Ok(Reply::ok(ctx.db.call(UPDATE, &caller, &input).await?))
}

/// The change as SQL takes it (camelCase names, checked values), or a 400 naming the field.
fn checked(c: Change) -> Result<Map<String, Value>, Error> {
    let mut out = Map::new();
    if let Some(name) = &c.name {
        out.insert("name".into(), json!(one_line("name", name, 200)?));
    }
    if let Some(slug) = &c.slug {
        if !is_slug(slug) {
            return Err(Error::invalid_field(
                "slug",
                "Lowercase letters, digits and inner hyphens, 1 to 63 characters.",
            ));
        }
        out.insert("slug".into(), json!(slug));
    }
    if let Some(domain) = &c.portal_domain {
        if domain.as_deref().is_some_and(|d| !is_domain(d)) {
            return Err(Error::invalid_field(
                "portalDomain",
                "A lowercase host name such as portal.example-clinic.com.",
            ));
        }
        out.insert("portalDomain".into(), json!(domain));
    }
    if let Some(zone) = &c.time_zone {
        times::zone("timeZone", zone)?;
        out.insert("timeZone".into(), json!(zone));
    }
    if let Some(number) = &c.sms_number {
        let number = number
            .as_deref()
            .map(|n| contact::phone("smsNumber", n))
            .transpose()?;
        out.insert("smsNumber".into(), json!(number));
    }
    if let Some(reply) = &c.sms_help_reply {
        let reply = optional_text("smsHelpReply", reply.as_deref(), 320)?;
        out.insert("smsHelpReply".into(), json!(reply));
    }
    if let Some(letterhead) = &c.letterhead {
        out.insert(
            "letterhead".into(),
            Value::Object(letterhead_lines(letterhead)?),
        );
    }
    if let Some(enabled) = c.pharmacy_enabled {
        out.insert("pharmacyEnabled".into(), json!(enabled));
    }
    if let Some(reference) = &c.pharmacy_secret_ref {
        if reference.as_deref().is_some_and(|r| !is_secret_ref(r)) {
            return Err(Error::invalid_field(
                "pharmacySecretRef",
                "A Secrets Manager secret name or ARN.",
            ));
        }
        out.insert("pharmacySecretRef".into(), json!(reference));
    }
    if let Some(hours) = c.late_cancel_hours {
        out.insert(
            "lateCancelHours".into(),
            json!(within("lateCancelHours", hours, 0..=LATE_CANCEL_HOURS_MAX)?),
        );
    }
    if let Some(minutes) = c.waitlist_offer_minutes {
        out.insert(
            "waitlistOfferMinutes".into(),
            json!(within(
                "waitlistOfferMinutes",
                minutes,
                WAITLIST_OFFER_MINUTES
            )?),
        );
    }
    if let Some(hours) = &c.reminder_hours {
        out.insert("reminderHours".into(), json!(reminders(hours)?));
    }
    if let Some(minutes) = c.message_notice_quiet_minutes {
        out.insert(
            "messageNoticeQuietMinutes".into(),
            json!(within(
                "messageNoticeQuietMinutes",
                minutes,
                0..=MESSAGE_NOTICE_QUIET_MINUTES_MAX
            )?),
        );
    }
    if let Some(required) = c.notes_cosign_required {
        out.insert("notesCosignRequired".into(), json!(required));
    }
    Ok(out)
}

fn one_line<'a>(field: &str, raw: &'a str, max_chars: usize) -> Result<&'a str, Error> {
    let text = required_text(field, raw, max_chars)?;
    if text.contains(['\n', '\t']) {
        return Err(Error::invalid_field(field, "One line."));
    }
    Ok(text)
}

fn within(field: &str, value: u16, range: std::ops::RangeInclusive<u16>) -> Result<u16, Error> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(Error::invalid_field(
            field,
            format!("From {} to {}.", range.start(), range.end()),
        ))
    }
}

/// Distinct offsets, largest first, at most [`MAX_REMINDERS`].
fn reminders(hours: &[u16]) -> Result<Vec<u16>, Error> {
    let mut sorted = hours
        .iter()
        .map(|&h| within("reminderHours", h, REMINDER_HOURS))
        .collect::<Result<Vec<_>, _>>()?;
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    if sorted.len() != hours.len() || sorted.len() > MAX_REMINDERS {
        return Err(Error::invalid_field(
            "reminderHours",
            format!("At most {MAX_REMINDERS} distinct offsets in hours."),
        ));
    }
    Ok(sorted)
}

/// Only the known lines, each one line of 1 to 200 characters.
fn letterhead_lines(sent: &Map<String, Value>) -> Result<Map<String, Value>, Error> {
    let mut lines = Map::new();
    for (key, value) in sent {
        let field = format!("letterhead.{key}");
        if !LETTERHEAD.contains(&key.as_str()) {
            return Err(Error::invalid_field(
                field,
                format!("A letterhead has only {}.", LETTERHEAD.join(", ")),
            ));
        }
        let Some(text) = value.as_str() else {
            return Err(Error::invalid_field(field, "Expected a string."));
        };
        lines.insert(key.clone(), json!(one_line(&field, text, 200)?));
    }
    Ok(lines)
}

/// As `app.clinics.slug`'s check: `^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`.
fn is_slug(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A lowercase DNS name of at least two labels, each a slug.
fn is_domain(s: &str) -> bool {
    s.len() <= 253 && s.contains('.') && s.split('.').all(is_slug)
}

/// As `app.clinics.pharmacy_secret_ref`'s check.
fn is_secret_ref(s: &str) -> bool {
    (1..=2048).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"/_+=.@:-".contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_slugs_and_domains() {
        assert!(is_slug("maple") && is_slug("a") && is_slug("north-side-2"));
        assert!(!is_slug("") && !is_slug("-a") && !is_slug("a-") && !is_slug("Maple"));
        assert!(!is_slug(&"a".repeat(64)));
        assert!(is_domain("portal.maple-clinic.com"));
        assert!(!is_domain("localhost") && !is_domain("Portal.example.com"));
        assert!(!is_domain("a..b"));
    }

    #[test]
    fn reminders_are_distinct_and_largest_first() {
        assert_eq!(reminders(&[24, 72]).unwrap(), vec![72, 24]);
        assert!(reminders(&[24, 24]).is_err());
        assert!(reminders(&[1, 2, 3, 4, 5]).is_err());
        assert!(reminders(&[0]).is_err());
        assert_eq!(reminders(&[]).unwrap(), Vec::<u16>::new());
    }
}
