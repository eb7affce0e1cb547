//! Times as booking clients send them: an instant (RFC 3339 with an offset), or a wall-clock
//! time read with its `*_offset_minutes` (minutes east of UTC, the ISO 8601 sign: New York in
//! winter is -300) or in an IANA zone. Wall-clock times follow RFC 5545 §3.3.5: a time that a
//! spring-forward skips is read with the offset before the gap (02:30 becomes 03:30), one that
//! a fall-back repeats is the first.

use crate::{dates::check_year, error::Error};
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset,
    TimeZone, Utc,
};
use chrono_tz::Tz;

/// A time as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Instant(DateTime<Utc>),
    Wall(NaiveDateTime),
}

impl Sent {
    /// `raw` read with its offset, if any; `offset_field` names the offset in errors.
    pub fn parse(
        field: &str,
        raw: &str,
        (offset_field, offset_minutes): (&str, Option<i32>),
    ) -> Result<Sent, Error> {
        let offset = match offset_minutes {
            None => None,
            Some(minutes) if (-720..=840).contains(&minutes) => FixedOffset::east_opt(minutes * 60),
            Some(_) => {
                return Err(Error::invalid_field(
                    offset_field,
                    "An offset is between -720 and 840 minutes east of UTC.",
                ))
            }
        };
        if let Ok(instant) = DateTime::parse_from_rfc3339(raw) {
            check_year(field, instant.year())?;
            if offset.is_some_and(|o| o != *instant.offset()) {
                return Err(Error::invalid_field(
                    offset_field,
                    format!("Disagrees with the offset written in {field}."),
                ));
            }
            return Ok(Sent::Instant(instant.to_utc()));
        }
        let wall = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
            .ok_or_else(|| {
                Error::invalid_field(
                    field,
                    "Expected an RFC 3339 date-time such as 2027-03-02T10:00:00-05:00, or a local one such as 2027-03-02T10:00.",
                )
            })?;
        check_year(field, wall.year())?;
        Ok(match offset {
            Some(offset) => Sent::Instant((wall - offset.fix()).and_utc()),
            None => Sent::Wall(wall),
        })
    }

    fn instant(self, zone: Option<Tz>, field: &str) -> Result<DateTime<Utc>, Error> {
        match (self, zone) {
            (Sent::Instant(instant), _) => Ok(instant),
            (Sent::Wall(wall), Some(zone)) => Ok(localize(zone, wall)),
            (Sent::Wall(_), None) => Err(Error::invalid_field(
                field,
                "A time without an offset needs a time zone.",
            )),
        }
    }

    pub fn wall_in(self, zone: Tz) -> NaiveDateTime {
        match self {
            Sent::Instant(instant) => instant.with_timezone(&zone).naive_local(),
            Sent::Wall(wall) => wall,
        }
    }
}

/// A wall-clock time in `zone` as an instant, by RFC 5545 §3.3.5.
pub fn localize(zone: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&wall) {
        LocalResult::Single(t) => t.to_utc(),
        LocalResult::Ambiguous(first, _) => first.to_utc(),
        LocalResult::None => {
            // In a gap: the offset in force before it. Gaps last hours and transitions are
            // months apart, so the offset a day earlier is the one before this gap.
            let before = zone
                .offset_from_utc_datetime(&(wall - Duration::days(1)))
                .fix();
            (wall - before).and_utc()
        }
    }
}

/// An instant that must carry its offset (`2027-03-14T09:00:00-04:00`), within the accepted
/// years; a 400 naming `field` otherwise.
pub fn rfc3339(field: &str, raw: &str) -> Result<DateTime<Utc>, Error> {
    let instant = DateTime::parse_from_rfc3339(raw).map_err(|_| {
        Error::invalid_field(field, "Expected an RFC 3339 date-time with an offset.")
    })?;
    check_year(field, instant.year())?;
    Ok(instant.to_utc())
}

/// A birth date as `YYYY-MM-DD`, within the accepted years and not in the future; a 400 naming
/// `field` otherwise.
pub fn birth_date(field: &str, raw: &str) -> Result<NaiveDate, Error> {
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| Error::invalid_field(field, "Expected a date as YYYY-MM-DD."))?;
    check_year(field, date.year())?;
    if date > Utc::now().date_naive() {
        return Err(Error::invalid_field(field, "Is in the future."));
    }
    Ok(date)
}

/// The widest window one report (feedback, referrals) covers.
pub const REPORT_WINDOW_DAYS: i64 = 366;

/// A report's window `[from, to)` from its query parameters `from` and `to`: both required
/// instants, `to` after `from` and at most [`REPORT_WINDOW_DAYS`] later; a 400 naming the
/// parameter otherwise.
pub fn report_window(params: &[(&str, &str)]) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
    let max_days = REPORT_WINDOW_DAYS;
    let required = |name: &str| {
        let (_, raw) = params
            .iter()
            .find(|(param, _)| *param == name)
            .ok_or_else(|| Error::invalid_field(name, "Required."))?;
        rfc3339(name, raw)
    };
    let (from, to) = (required("from")?, required("to")?);
    if to <= from || to - from > Duration::days(max_days) {
        return Err(Error::invalid_field(
            "to",
            format!("After from, at most {max_days} days later."),
        ));
    }
    Ok((from, to))
}

/// A calendar date `YYYY-MM-DD` within the accepted years; a 400 naming `field` otherwise.
pub fn date(field: &str, raw: &str) -> Result<NaiveDate, Error> {
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| Error::invalid_field(field, "A date YYYY-MM-DD."))?;
    check_year(field, date.year())?;
    Ok(date)
}

/// An IANA zone name from the request; a 400 naming `field` when it is unknown.
pub fn zone(field: &str, name: &str) -> Result<Tz, Error> {
    name.parse::<Tz>().map_err(|_| {
        Error::invalid_field(field, format!("{name:?} is not a known IANA time zone."))
    })
}

/// One sent time as an instant: read with its offset, else in `zone`. An offset sent beside a
/// zone the client named (`named`) must be that zone's offset at that instant, else a 422
/// naming `offset_field`.
pub fn instant(
    field: &str,
    raw: &str,
    (offset_field, offset_minutes): (&str, Option<i32>),
    zone: Option<Tz>,
    named: Option<Tz>,
) -> Result<DateTime<Utc>, Error> {
    let instant = Sent::parse(field, raw, (offset_field, offset_minutes))?.instant(zone, field)?;
    if let Some(named) = named {
        offset_agrees(offset_field, offset_minutes, instant, named)?;
    }
    Ok(instant)
}

fn offset_agrees(
    offset_field: &str,
    offset_minutes: Option<i32>,
    instant: DateTime<Utc>,
    zone: Tz,
) -> Result<(), Error> {
    let in_force = zone.offset_from_utc_datetime(&instant.naive_utc()).fix();
    match offset_minutes {
        Some(minutes) if minutes * 60 != in_force.local_minus_utc() => {
            let detail = format!(
                "{zone} is {} minutes east of UTC at that time, not {minutes}.",
                in_force.local_minus_utc() / 60
            );
            Err(Error::unprocessable(
                "offset_contradicts_time_zone",
                offset_field,
                detail,
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_dates_are_real_past_dates_in_range() {
        assert!(birth_date("dateOfBirth", "1990-02-28").is_ok());
        for bad in ["1990-02-30", "28/02/1990", "1850-01-01", "2999-01-01"] {
            let error = birth_date("dateOfBirth", bad).unwrap_err().into_problem();
            assert_eq!(error.errors[0].field, "dateOfBirth", "{bad}");
        }
    }
}
