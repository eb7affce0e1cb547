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

/// The most characters of a care-team note (`care_team_notes_check`).
pub const CARE_TEAM_NOTES_MAX_CHARS: usize = 1000;

/// The most bytes of text sealed at rest as notes (a session's notes, a patient's medical
/// notes): their ciphertext checks (`session_notes_ciphertext_check`,
/// `patients_medical_notes_ciphertext_check`) allow this plus the 16-byte tag.
pub const NOTES_MAX_BYTES: usize = 32_768;
