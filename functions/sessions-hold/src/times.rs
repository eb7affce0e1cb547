//! From the times the client sends to the instants that are held, read by
//! [`wardline_shared::times`] with the request's zone, else the clinic's. An offset sent beside
//! the request's own `time_zone` must be that zone's at that instant. A recurrence is expanded
//! by `rrule` in wall-clock time, so 10:00 stays 10:00 local across DST changes, and each
//! occurrence lasts exactly as long as the first.

use crate::body::{HoldBody, OccurrenceBody, RecurrenceBody};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use wardline_shared::{
    dates::check_year,
    limits::MAX_OCCURRENCES,
    times::{self, localize, zone, Sent},
    Error,
};

/// The longest session.
pub const MAX_LENGTH: Duration = Duration::hours(12);

/// One slot to hold, `[start, end)`, and the input field it came from (for errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub field: String,
}

/// The zone the request names itself, if any.
pub fn requested_zone(body: &HoldBody) -> Result<Option<Tz>, Error> {
    let top = body
        .time_zone
        .as_deref()
        .map(|n| zone("time_zone", n))
        .transpose()?;
    let series = body
        .recurrence
        .as_ref()
        .and_then(|r| r.time_zone.as_deref())
        .map(|n| zone("recurrence.time_zone", n))
        .transpose()?;
    match (top, series) {
        (Some(a), Some(b)) if a != b => Err(Error::invalid_field(
            "recurrence.time_zone",
            "Differs from time_zone; give one zone.",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// Whether resolving the body needs a zone it does not name (then the clinic's is used).
pub fn needs_zone(body: &HoldBody) -> bool {
    let wall = |raw: &str, offset: Option<i32>| {
        offset.is_none() && DateTime::parse_from_rfc3339(raw).is_err()
    };
    body.recurrence.is_some()
        || wall(&body.start_time, body.start_time_offset_minutes)
        || wall(&body.end_time, body.end_time_offset_minutes)
        || body.occurrences.iter().flatten().any(|o| {
            wall(&o.start_time, o.start_time_offset_minutes)
                || wall(&o.end_time, o.end_time_offset_minutes)
        })
}

/// Every slot the body asks for, checked: each 0 < length <= 12 h, at most 200, none
/// overlapping another. `occurrences` that begins with the primary slot is the whole list (the
/// seed web client sends it so); otherwise it lists the slots after the primary.
pub fn slots(body: &HoldBody, zone: Option<Tz>) -> Result<Vec<Slot>, Error> {
    if body.occurrences.is_some() && body.recurrence.is_some() {
        return Err(Error::invalid_field(
            "recurrence",
            "Send occurrences or a recurrence, not both.",
        ));
    }
    let named = requested_zone(body)?;
    let first = slot(
        "",
        (&body.start_time, body.start_time_offset_minutes),
        (&body.end_time, body.end_time_offset_minutes),
        (zone, named),
    )?;
    let mut slots = match (&body.occurrences, &body.recurrence) {
        (Some(listed), _) => {
            let mut slots = listed
                .iter()
                .enumerate()
                .map(|(i, o)| occurrence(i, o, (zone, named)))
                .collect::<Result<Vec<_>, _>>()?;
            if slots.first().map(|s| (s.start, s.end)) != Some((first.start, first.end)) {
                slots.insert(0, first);
            }
            if slots.len() > MAX_OCCURRENCES {
                return Err(Error::invalid_field(
                    "occurrences",
                    format!("At most {MAX_OCCURRENCES} occurrences in all."),
                ));
            }
            slots
        }
        (None, Some(series)) => {
            let zone = zone.ok_or_else(|| {
                Error::invalid_field("recurrence.time_zone", "A recurrence needs a time zone.")
            })?;
            let start = Sent::parse(
                "start_time",
                &body.start_time,
                ("start_time_offset_minutes", body.start_time_offset_minutes),
            )?;
            expand(series, zone, start.wall_in(zone), first.end - first.start)?
        }
        (None, None) => vec![first],
    };
    no_overlaps(&mut slots)?;
    Ok(slots)
}

/// The zone times without an offset are read in, and the zone the request named (offsets
/// must agree with it).
type Zones = (Option<Tz>, Option<Tz>);

fn occurrence(i: usize, o: &OccurrenceBody, zones: Zones) -> Result<Slot, Error> {
    slot(
        &format!("occurrences[{i}]."),
        (&o.start_time, o.start_time_offset_minutes),
        (&o.end_time, o.end_time_offset_minutes),
        zones,
    )
}

fn slot(
    prefix: &str,
    (start, start_offset): (&str, Option<i32>),
    (end, end_offset): (&str, Option<i32>),
    (zone, named): Zones,
) -> Result<Slot, Error> {
    let start_field = format!("{prefix}start_time");
    let end_field = format!("{prefix}end_time");
    let read = |field: &str, raw: &str, offset: Option<i32>| {
        let offset_field = format!("{field}_offset_minutes");
        times::instant(field, raw, (&offset_field, offset), zone, named)
    };
    let start = read(&start_field, start, start_offset)?;
    let end = read(&end_field, end, end_offset)?;
    if end == start {
        return Err(Error::invalid_field(
            end_field,
            "A session cannot be zero minutes long.",
        ));
    }
    if end < start {
        return Err(Error::invalid_field(end_field, "Must be after start_time."));
    }
    if end - start > MAX_LENGTH {
        return Err(Error::invalid_field(
            end_field,
            "A session lasts at most 12 hours.",
        ));
    }
    Ok(Slot {
        start,
        end,
        field: start_field,
    })
}

/// The series' occurrences: `rrule` expands wall-clock times (as floating UTC, so it never
/// drops or moves a DST-affected time), then each is localized by RFC 5545 §3.3.5.
fn expand(
    series: &RecurrenceBody,
    zone: Tz,
    first_wall: NaiveDateTime,
    length: Duration,
) -> Result<Vec<Slot>, Error> {
    let floating = |wall: NaiveDateTime| wall.and_utc().with_timezone(&rrule::Tz::UTC);
    let text = series.rrule.trim();
    let text = text.strip_prefix("RRULE:").unwrap_or(text);
    let mut rule: rrule::RRule<rrule::Unvalidated> = text
        .parse()
        .map_err(|e: rrule::RRuleError| Error::invalid_field("recurrence.rrule", e.to_string()))?;
    if let Some(count) = series.count {
        if count == 0 {
            return Err(Error::invalid_field("recurrence.count", "At least 1."));
        }
        rule = rule.count(count);
    }
    if let Some(until) = &series.until {
        rule = rule.until(floating(until_wall(until, zone)?));
    }
    let rule = rule
        .validate(floating(first_wall))
        .map_err(|e| Error::invalid_field("recurrence.rrule", e.to_string()))?;
    if rule.get_count().is_none() && rule.get_until().is_none() {
        return Err(Error::invalid_field(
            "recurrence.count",
            "A series needs count or until (in the rule or beside it).",
        ));
    }
    let expanded = rrule::RRuleSet::new(floating(first_wall))
        .rrule(rule)
        .all(MAX_OCCURRENCES as u16 + 1);
    // `limited` also means rrule gave up on a rule too sparse to expand: never hold a part.
    if expanded.limited || expanded.dates.len() > MAX_OCCURRENCES {
        return Err(Error::invalid_field(
            "recurrence",
            format!("The series has more than {MAX_OCCURRENCES} occurrences."),
        ));
    }
    // The slot the client sent must be the series' first, or it would silently not be held.
    if expanded.dates.first().map(|d| d.naive_utc()) != Some(first_wall) {
        return Err(Error::invalid_field(
            "recurrence.rrule",
            "start_time is not an occurrence of this rule.",
        ));
    }
    Ok(expanded
        .dates
        .iter()
        .enumerate()
        .map(|(i, date)| {
            let start = localize(zone, date.naive_utc());
            Slot {
                start,
                end: start + length,
                field: format!("recurrence[{i}]"),
            }
        })
        .collect())
}

/// `until` as a wall-clock time: a date includes its whole day.
fn until_wall(raw: &str, zone: Tz) -> Result<NaiveDateTime, Error> {
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        check_year("recurrence.until", date.year())?;
        return Ok(date.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default()));
    }
    Ok(Sent::parse("recurrence.until", raw, ("recurrence.until", None))?.wall_in(zone))
}

/// Occurrences of one request must not overlap each other (the database would refuse the
/// request anyway; this says which).
fn no_overlaps(slots: &mut [Slot]) -> Result<(), Error> {
    let mut order: Vec<usize> = (0..slots.len()).collect();
    order.sort_by_key(|&i| slots[i].start);
    for pair in order.windows(2) {
        let (a, b) = (&slots[pair[0]], &slots[pair[1]]);
        if b.start < a.end {
            let later = pair[0].max(pair[1]);
            return Err(Error::invalid_field(
                slots[later].field.clone(),
                "Overlaps another occurrence of this request.",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> HoldBody {
        let mut base = serde_json::json!({
            "therapist_id": uuid::Uuid::nil(),
            "client_id": uuid::Uuid::nil(),
        });
        base.as_object_mut()
            .unwrap()
            .extend(json.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn field_of(json: serde_json::Value) -> String {
        let b = body(json);
        let zone = requested_zone(&b).and_then(|z| slots(&b, z.or(Some(Tz::UTC))));
        zone.unwrap_err().errors[0].field.clone()
    }

    fn local(zone: Tz, t: DateTime<Utc>) -> String {
        t.with_timezone(&zone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    #[test]
    fn weekly_10am_new_york_stays_10am_across_both_dst_changes() {
        let b = body(serde_json::json!({
            "start_time": "2027-03-02T10:00", "end_time": "2027-03-02T10:50",
            "recurrence": {"rrule": "FREQ=WEEKLY;BYDAY=TU", "time_zone": "America/New_York",
                           "until": "2027-11-16"}
        }));
        let zone = requested_zone(&b).unwrap();
        let slots = slots(&b, zone).unwrap();
        let ny = chrono_tz::America::New_York;
        assert_eq!(slots.len(), 38);
        for s in &slots {
            assert_eq!(
                s.start.with_timezone(&ny).format("%H:%M").to_string(),
                "10:00"
            );
            assert_eq!(s.end - s.start, Duration::minutes(50));
        }
        // EST before 14 March, EDT until 7 November, EST after.
        assert_eq!(slots[0].start.to_rfc3339(), "2027-03-02T15:00:00+00:00");
        assert_eq!(slots[2].start.to_rfc3339(), "2027-03-16T14:00:00+00:00");
        assert_eq!(slots[37].start.to_rfc3339(), "2027-11-16T15:00:00+00:00");
    }

    #[test]
    fn a_skipped_local_time_moves_forward_and_a_repeated_one_is_the_first() {
        let ny = chrono_tz::America::New_York;
        let gap = NaiveDate::from_ymd_opt(2027, 3, 14)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(local(ny, localize(ny, gap)), "2027-03-14 03:30 EDT");
        let fold = NaiveDate::from_ymd_opt(2027, 11, 7)
            .unwrap()
            .and_hms_opt(1, 30, 0)
            .unwrap();
        assert_eq!(local(ny, localize(ny, fold)), "2027-11-07 01:30 EDT");

        let b = body(serde_json::json!({
            "start_time": "2027-03-07T02:30", "end_time": "2027-03-07T03:20",
            "time_zone": "America/New_York",
            "recurrence": {"rrule": "FREQ=WEEKLY", "count": 2}
        }));
        let slots = slots(&b, requested_zone(&b).unwrap()).unwrap();
        assert_eq!(local(ny, slots[1].start), "2027-03-14 03:30 EDT");
        assert_eq!(slots[1].end - slots[1].start, Duration::minutes(50));
    }

    #[test]
    fn offsets_and_instants() {
        let b = body(serde_json::json!({
            "start_time": "2027-01-05T10:00:00", "end_time": "2027-01-05T11:00:00",
            "start_time_offset_minutes": -300, "end_time_offset_minutes": -300
        }));
        assert!(!needs_zone(&b));
        let s = &slots(&b, None).unwrap()[0];
        assert_eq!(s.start.to_rfc3339(), "2027-01-05T15:00:00+00:00");
        let b = body(serde_json::json!({
            "start_time": "2027-01-05T10:00:00Z", "end_time": "2027-01-05T10:30"
        }));
        assert!(needs_zone(&b));
    }

    #[test]
    fn occurrences_beginning_with_the_primary_are_the_whole_list() {
        let slot = |day: u32| {
            serde_json::json!({"start_time": format!("2027-01-{day:02}T10:00:00"),
                               "end_time": format!("2027-01-{day:02}T10:50:00"),
                               "start_time_offset_minutes": -300, "end_time_offset_minutes": -300})
        };
        let mut b = slot(5);
        b["time_zone"] = "America/New_York".into();
        b["occurrences"] = serde_json::json!([slot(5), slot(12)]);
        let b = body(b);
        let held = slots(&b, requested_zone(&b).unwrap()).unwrap();
        let fields: Vec<_> = held.iter().map(|s| s.field.as_str()).collect();
        assert_eq!(
            fields,
            ["occurrences[0].start_time", "occurrences[1].start_time"]
        );
        assert_eq!(held[0].start.to_rfc3339(), "2027-01-05T15:00:00+00:00");
    }

    #[test]
    fn an_offset_must_be_the_named_zones_at_that_time() {
        let mut b = serde_json::json!({
            "start_time": "2027-07-06T10:00:00", "end_time": "2027-07-06T10:50:00",
            "start_time_offset_minutes": -240, "end_time_offset_minutes": -300,
            "time_zone": "America/New_York"
        });
        let err = {
            let b = body(b.clone());
            slots(&b, requested_zone(&b).unwrap()).unwrap_err()
        };
        assert_eq!(err.status, http::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.errors[0].field, "end_time_offset_minutes");
        // Minutes west (JavaScript's getTimezoneOffset) are not minutes east.
        b["end_time_offset_minutes"] = (-240).into();
        b["start_time_offset_minutes"] = 240.into();
        assert_eq!(field_of(b), "start_time_offset_minutes");
    }

    #[test]
    fn bad_input_names_its_field() {
        let t = |s: &str, e: &str| serde_json::json!({"start_time": s, "end_time": e});
        assert_eq!(
            field_of(t("2027-01-05T10:00:00Z", "2027-01-05T09:00:00Z")),
            "end_time"
        );
        assert_eq!(
            field_of(t("2027-01-05T10:00:00Z", "2027-01-05T10:00:00Z")),
            "end_time"
        );
        assert_eq!(
            field_of(t("2027-01-05T10:00:00Z", "2027-01-05T22:01:00Z")),
            "end_time"
        );
        assert_eq!(
            field_of(t("tomorrow", "2027-01-05T10:00:00Z")),
            "start_time"
        );
        let mut tz = t("2027-01-05T10:00", "2027-01-05T11:00");
        tz["time_zone"] = "Mars/Olympus".into();
        assert_eq!(field_of(tz), "time_zone");
        let mut off = t("2027-01-05T10:00", "2027-01-05T11:00");
        off["start_time_offset_minutes"] = 900.into();
        assert_eq!(field_of(off), "start_time_offset_minutes");
        let mut many = t("2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z");
        many["recurrence"] = serde_json::json!({"rrule": "FREQ=DAILY", "count": 201});
        assert_eq!(field_of(many), "recurrence");
        let mut endless = t("2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z");
        endless["recurrence"] = serde_json::json!({"rrule": "FREQ=DAILY"});
        assert_eq!(field_of(endless), "recurrence.count");
        let mut rule = t("2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z");
        rule["recurrence"] = serde_json::json!({"rrule": "FREQ=SOMETIMES", "count": 2});
        assert_eq!(field_of(rule), "recurrence.rrule");
        let mut twice = t("2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z");
        twice["occurrences"] = serde_json::json!([
            {"start_time": "2027-01-06T10:00:00Z", "end_time": "2027-01-06T11:00:00Z"},
            {"start_time": "2027-01-06T10:30:00Z", "end_time": "2027-01-06T11:30:00Z"}]);
        assert_eq!(field_of(twice), "occurrences[1].start_time");
        assert_eq!(
            field_of(t("0000-01-05T10:00:00Z", "2027-01-05T11:00:00Z")),
            "start_time"
        );
        let mut far = t("+262143-12-31T23:00", "2027-01-05T11:00:00Z");
        far["start_time_offset_minutes"] = (-720).into();
        assert_eq!(field_of(far), "start_time");
        let mut empty = t("2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z");
        // 5 January 2027 is a Tuesday: a Monday-only rule cannot start there.
        empty["recurrence"] =
            serde_json::json!({"rrule": "FREQ=WEEKLY;BYDAY=MO", "until": "2027-01-05"});
        assert_eq!(field_of(empty), "recurrence.rrule");
        let mut both = t("2027-01-05T10:00:00Z", "2027-01-05T11:00:00Z");
        both["occurrences"] = serde_json::json!([]);
        both["recurrence"] = serde_json::json!({"rrule": "FREQ=DAILY", "count": 2});
        assert_eq!(field_of(both), "recurrence");
    }
}
