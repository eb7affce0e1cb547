//! Bounds that Rust checks before the database does (to name the field in a 400), and that the
//! tables keep too. Each is defined here once; `tests/tests/sql_check.rs` reads the matching
//! constraint back from the catalog and fails when the two differ.

/// The most occurrences one booking (a series) may have: `sessions_at_most_200_occurrences`.
pub const MAX_OCCURRENCES: usize = 200;

/// How long a hold lasts, in seconds: at least, unless asked otherwise, and at most
/// (`sessions_hold_at_most_15_minutes`).
pub const HOLD_SECONDS_MIN: i64 = 30;
pub const HOLD_SECONDS_DEFAULT: i64 = 300;
pub const HOLD_SECONDS_MAX: i64 = 900;

/// A clinic's availability settings, in minutes (`app.clinics`' checks, migration 0016): the
/// time kept free around a clinician's sessions, how soon a slot may start, the slot grid.
pub const BUFFER_MINUTES_MAX: u16 = 240;
pub const MIN_NOTICE_MINUTES_MAX: u16 = 43_200;
pub const SLOT_STEP_MINUTES: std::ops::RangeInclusive<u16> = 5..=240;

/// The most characters of a time-off reason (`time_off_reason_check`).
pub const TIME_OFF_REASON_MAX_CHARS: usize = 500;

/// A clinic's appointment settings (`app.clinics`' checks, migrations 0015 and 0018): how late
/// a patient may still cancel, how long a waitlist offer holds, how long after one message
/// notice the next waits.
pub const LATE_CANCEL_HOURS_MAX: u16 = 336;
pub const WAITLIST_OFFER_MINUTES: std::ops::RangeInclusive<u16> = 5..=1440;
pub const MESSAGE_NOTICE_QUIET_MINUTES_MAX: u16 = 10_080;

/// A clinic's reminders (`app.clinics.reminder_hours`, migration 0017): at most this many
/// offsets, each this many hours before a session.
pub const MAX_REMINDERS: usize = 4;
pub const REMINDER_HOURS: std::ops::RangeInclusive<u16> = 1..=336;

/// A service's length in minutes (`services_duration_minutes_check`, migration 0027).
pub const SERVICE_MINUTES: std::ops::RangeInclusive<u16> = 5..=480;
/// Intake (migration 0022): a form's name and a task's title, and a review's comment, in
/// characters (`forms_name_check`, `patient_tasks_title_check`,
/// `task_submissions_review_comment_check`); a form's schema and a submission's answers as
/// JSON, in bytes (`form_versions_schema_size`, and `task_submissions_answers_size` with the
/// 16-byte tag of the sealed answers).
pub const FORM_NAME_MAX_CHARS: usize = 200;
pub const TASK_TITLE_MAX_CHARS: usize = 200;
pub const REVIEW_COMMENT_MAX_CHARS: usize = 2000;
pub const FORM_SCHEMA_MAX_BYTES: usize = 32_768;
pub const FORM_ANSWERS_MAX_BYTES: usize = 32_768;

/// The most characters of a care-team note (`care_team_notes_check`).
pub const CARE_TEAM_NOTES_MAX_CHARS: usize = 1000;

/// The most bytes of text sealed at rest as notes (a session's notes, a patient's medical
/// notes): their ciphertext checks (`session_notes_ciphertext_check`,
/// `patients_medical_notes_ciphertext_check`) allow this plus the 16-byte tag.
pub const NOTES_MAX_BYTES: usize = 32_768;
