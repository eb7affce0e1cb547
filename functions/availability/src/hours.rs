//! The body of `PUT /clinicians/{id}/availability`: weekly hours and date overrides in the
//! clinic's local time (`HH:MM`; `24:00` ends a day). Checked here so that a 400 names the
//! field; the tables' exclusion constraints keep the same rule (no overlaps) in the database.

use chrono::{NaiveDate, NaiveTime, Timelike};
use serde::Deserialize;
use serde_json::{json, Value};
use wardline_shared::{times::date, Error};

/// Ten ranges a day, every day; a year of overrides.
const MAX_WEEKLY_RANGES: usize = 70;
const MAX_OVERRIDES: usize = 366;
const MAX_RANGES_PER_DATE: usize = 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AvailabilityBody {
    weekly_hours: Vec<WeeklyRange>,
    #[serde(default)]
    overrides: Vec<Override>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeeklyRange {
    /// ISO 8601: 1 is Monday, 7 Sunday.
    weekday: u8,
    start: String,
    end: String,
}

/// One local date's own ranges; none closes the date.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    date: String,
    ranges: Vec<Range>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Range {
    start: String,
    end: String,
}

/// Minutes since local midnight, `[start, end)`.
#[derive(Debug, Clone, Copy)]
struct Minutes {
    start: u16,
    end: u16,
}

impl AvailabilityBody {
    /// The body as `api.set_availability` takes it; a 400 naming the first field that is wrong.
    pub fn checked(&self) -> Result<Value, Error> {
        at_most("weeklyHours", self.weekly_hours.len(), MAX_WEEKLY_RANGES)?;
        at_most("overrides", self.overrides.len(), MAX_OVERRIDES)?;
        let mut weekly = Vec::with_capacity(self.weekly_hours.len());
        for (i, h) in self.weekly_hours.iter().enumerate() {
            let field = format!("weeklyHours[{i}]");
            if !(1..=7).contains(&h.weekday) {
                return Err(Error::invalid_field(
                    format!("{field}.weekday"),
                    "An ISO weekday: 1 (Monday) to 7 (Sunday).",
                ));
            }
            weekly.push((h.weekday, minutes(&field, &h.start, &h.end)?, field));
        }
        no_overlaps(&weekly)?;

        let mut dates: Vec<NaiveDate> = Vec::with_capacity(self.overrides.len());
        let mut overrides = Vec::with_capacity(self.overrides.len());
        for (i, o) in self.overrides.iter().enumerate() {
            let field = format!("overrides[{i}]");
            let date = date(&format!("{field}.date"), &o.date)?;
            if dates.contains(&date) {
                return Err(Error::invalid_field(
                    format!("{field}.date"),
                    "Given twice: list each date once, with all its ranges.",
                ));
            }
            dates.push(date);
            at_most(
                &format!("{field}.ranges"),
                o.ranges.len(),
                MAX_RANGES_PER_DATE,
            )?;
            let mut ranges = Vec::with_capacity(o.ranges.len());
            for (j, r) in o.ranges.iter().enumerate() {
                let field = format!("{field}.ranges[{j}]");
                ranges.push(((), minutes(&field, &r.start, &r.end)?, field));
            }
            no_overlaps(&ranges)?;
            overrides.push(json!({
                "date": date.to_string(),
                "ranges": ranges.iter().map(|(_, m, _)| m.json()).collect::<Vec<_>>(),
            }));
        }
        Ok(json!({
            "weeklyHours": weekly
                .iter()
                .map(|(weekday, m, _)| {
                    let mut range = m.json();
                    range["weekday"] = json!(weekday);
                    range
                })
                .collect::<Vec<_>>(),
            "overrides": overrides,
        }))
    }
}

impl Minutes {
    fn json(self) -> Value {
        json!({ "start": clock(self.start), "end": clock(self.end) })
    }
}

fn at_most(field: &str, n: usize, max: usize) -> Result<(), Error> {
    if n > max {
        return Err(Error::invalid_field(
            field,
            format!("At most {max} entries."),
        ));
    }
    Ok(())
}

/// `[start, end)` of one range named `field`.
fn minutes(field: &str, start: &str, end: &str) -> Result<Minutes, Error> {
    let range = Minutes {
        start: time(&format!("{field}.start"), start)?,
        end: time(&format!("{field}.end"), end)?,
    };
    if range.end <= range.start {
        return Err(Error::invalid_field(
            format!("{field}.end"),
            "Must be after start.",
        ));
    }
    Ok(range)
}

/// A local `HH:MM` as minutes since midnight; `24:00` is the end of the day.
fn time(field: &str, raw: &str) -> Result<u16, Error> {
    if raw == "24:00" {
        return Ok(24 * 60);
    }
    NaiveTime::parse_from_str(raw, "%H:%M")
        .ok()
        .filter(|_| raw.len() == 5)
        .map(|t| (t.hour() * 60 + t.minute()) as u16)
        .ok_or_else(|| Error::invalid_field(field, "A local time HH:MM, 00:00 to 24:00."))
}

fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A 400 naming the later of two ranges with the same key (weekday; one date's) that overlap.
fn no_overlaps<K: PartialEq>(ranges: &[(K, Minutes, String)]) -> Result<(), Error> {
    for (i, (key, later, field)) in ranges.iter().enumerate() {
        let clash = ranges[..i].iter().find(|(k, earlier, _)| {
            k == key && earlier.start < later.end && later.start < earlier.end
        });
        if let Some((_, _, earlier)) = clash {
            return Err(Error::invalid_field(
                format!("{field}.start"),
                format!("Overlaps {earlier}."),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(body: Value) -> Result<Value, String> {
        let body: AvailabilityBody = serde_json::from_value(body).map_err(|e| e.to_string())?;
        body.checked()
            .map_err(|e| e.into_problem().errors[0].field.clone())
    }

    #[test]
    fn ranges_are_local_times_and_a_day_ends_at_24() {
        let ok = checked(json!({"weeklyHours": [
            {"weekday": 1, "start": "09:00", "end": "12:00"},
            {"weekday": 1, "start": "12:00", "end": "24:00"},
        ], "overrides": [{"date": "2027-03-10", "ranges": []}]}))
        .unwrap();
        assert_eq!(ok["weeklyHours"][1]["end"], "24:00");
        assert_eq!(ok["overrides"][0]["ranges"], json!([]));
    }

    #[test]
    fn bad_ranges_name_their_field() {
        for (body, field) in [
            (
                json!({"weeklyHours": [{"weekday": 8, "start": "09:00", "end": "10:00"}]}),
                "weeklyHours[0].weekday",
            ),
            (
                json!({"weeklyHours": [{"weekday": 1, "start": "9:00", "end": "10:00"}]}),
                "weeklyHours[0].start",
            ),
            (
                json!({"weeklyHours": [{"weekday": 1, "start": "10:00", "end": "10:00"}]}),
                "weeklyHours[0].end",
            ),
            (
                json!({"weeklyHours": [
                {"weekday": 2, "start": "09:00", "end": "12:00"},
                {"weekday": 2, "start": "11:00", "end": "13:00"}]}),
                "weeklyHours[1].start",
            ),
            (
                json!({"weeklyHours": [], "overrides": [
                {"date": "2027-02-30", "ranges": []}]}),
                "overrides[0].date",
            ),
            (
                json!({"weeklyHours": [], "overrides": [
                {"date": "2027-03-01", "ranges": []}, {"date": "2027-03-01", "ranges": []}]}),
                "overrides[1].date",
            ),
            (
                json!({"weeklyHours": [], "overrides": [{"date": "2027-03-01", "ranges": [
                {"start": "08:00", "end": "10:00"}, {"start": "09:30", "end": "11:00"}]}]}),
                "overrides[0].ranges[1].start",
            ),
        ] {
            assert_eq!(checked(body).unwrap_err(), field);
        }
    }
}
