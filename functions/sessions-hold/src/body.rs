//! The body of `POST /sessions-hold` exactly as the web client sends it (snake_case). Unknown
//! fields are rejected; every type error names its field.

use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    pub therapist_id: Uuid,
    pub client_id: Uuid,
    pub start_time: String,
    pub end_time: String,
    /// The id the first session will have; generated when absent.
    pub session_id: Option<Uuid>,
    /// How long the hold lasts: 30..=900, 300 when absent.
    pub hold_seconds: Option<i64>,
    /// Offsets for times sent without one, in minutes east of UTC (ISO 8601 sign: New York in
    /// winter is -300).
    pub start_time_offset_minutes: Option<i32>,
    pub end_time_offset_minutes: Option<i32>,
    /// IANA zone in which times without an offset, and a recurrence, are read; an offset sent
    /// beside it must be its offset at that time (422 otherwise).
    pub time_zone: Option<String>,
    /// Every slot, the primary first (as the seed web client sends it), or only the slots
    /// after the primary; held together, all or none.
    pub occurrences: Option<Vec<OccurrenceBody>>,
    pub recurrence: Option<RecurrenceBody>,
    /// An admin's decision to hold outside the clinician's published hours (422
    /// `outside_hours` otherwise; 403 for anyone else who sends `true`).
    pub outside_hours: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OccurrenceBody {
    pub start_time: String,
    pub end_time: String,
    pub start_time_offset_minutes: Option<i32>,
    pub end_time_offset_minutes: Option<i32>,
}

/// A series: an RFC 5545 RRULE expanded from the first slot in `time_zone` (or the clinic's).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurrenceBody {
    pub rrule: String,
    pub time_zone: Option<String>,
    pub count: Option<u32>,
    /// A local date (inclusive) or date-time.
    pub until: Option<String>,
}
