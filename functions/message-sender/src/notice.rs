//! Session notices (booked, changed, cancelled, reminder, waitlist offer): the payload carries
//! only the session's id and its start in UTC (`startsAt`); the message shows the clinic's name,
//! the start's date and time in the clinic's zone, and a link to the portal's appointments.

use crate::message::{on_its_channel, portal_link, Claimed};
use crate::providers::{Outcome, Outgoing};
use crate::templates::{Texts, Vars};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;

/// Where a patient sees their appointments in the portal.
pub const APPOINTMENTS_PATH: &str = "/appointments";

/// `Tuesday, March 2, 2027`.
const DATE: &str = "%A, %B %-d, %Y";
/// `3:00 PM EST`: the zone's abbreviation says which clock is meant.
const TIME: &str = "%-I:%M %p %Z";

/// Renders `texts` for the message's channel. A payload without a readable `startsAt` fails
/// the message, as does a clinic without a portal address (as invites do).
pub fn compose(
    message: &Claimed,
    texts: &Texts,
    clinic_name: &str,
    portal_base_domain: Option<&str>,
) -> Result<Outgoing, Outcome> {
    let starts_at = message
        .payload
        .get("startsAt")
        .and_then(Value::as_str)
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .ok_or_else(|| Outcome::failed("malformed_payload"))?
        .with_timezone(&Utc);
    let (date, time) = date_and_time(starts_at, &message.clinic.time_zone);
    let link = portal_link(&message.clinic, portal_base_domain, APPOINTMENTS_PATH)
        .ok_or_else(|| Outcome::failed("no_portal_address"))?;
    let vars = Vars {
        clinic_name: Some(clinic_name),
        link: Some(&link),
        date: Some(&date),
        time: Some(&time),
        ..Vars::default()
    };
    on_its_channel(message, texts, &vars, clinic_name)
}

/// The date and time of `at` on the clinic's clock. A zone PostgreSQL knows but this build of
/// the time zone database does not is shown in UTC, labelled so: never a wrong local time.
pub fn date_and_time(at: DateTime<Utc>, time_zone: &str) -> (String, String) {
    let zone = time_zone.parse::<Tz>().unwrap_or_else(|_| {
        tracing::warn!(time_zone, "unknown time zone; a notice shows UTC");
        Tz::UTC
    });
    let local = at.with_timezone(&zone);
    (
        local.format(DATE).to_string(),
        local.format(TIME).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn dates_and_times_are_the_clinics() {
        let cases = [
            (
                "2027-03-02T20:00:00Z",
                "America/New_York",
                "Tuesday, March 2, 2027",
                "3:00 PM EST",
            ),
            // After the spring change: daylight time.
            (
                "2027-03-15T13:30:00Z",
                "America/New_York",
                "Monday, March 15, 2027",
                "9:30 AM EDT",
            ),
            // The UTC evening is the next morning in Auckland.
            (
                "2027-03-02T20:00:00Z",
                "Pacific/Auckland",
                "Wednesday, March 3, 2027",
                "9:00 AM NZDT",
            ),
            (
                "2027-03-02T20:00:00Z",
                "UTC",
                "Tuesday, March 2, 2027",
                "8:00 PM UTC",
            ),
            (
                "2027-03-02T20:00:00Z",
                "Not/AZone",
                "Tuesday, March 2, 2027",
                "8:00 PM UTC",
            ),
        ];
        for (utc, zone, date, time) in cases {
            assert_eq!(
                date_and_time(at(utc), zone),
                (date.to_owned(), time.to_owned()),
                "{utc} in {zone}"
            );
        }
    }
}
