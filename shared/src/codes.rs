//! The error contract: every code Wardline answers, with its one status and what it means.
//! SQL raises codes (`api.fail`), Rust builds them (`Error::forbidden`, `Error::unprocessable`,
//! …) and the SQLSTATE table maps PostgreSQL's; all of them are listed here, once, and nowhere
//! else chooses a status. `openapi.yaml`'s `Problem.code` is this list (`tests/tests/openapi.rs`),
//! `tests/tests/sql_check.rs` fails for a code SQL or Rust raises that is missing here or a code
//! here that nothing raises, and a debug build panics when an error is built with a code or
//! status the contract does not give it.

use http::StatusCode;

/// One code of the contract.
#[derive(Debug, Clone, Copy)]
pub struct Code {
    pub code: &'static str,
    pub status: StatusCode,
    pub meaning: &'static str,
}

const fn code(status: StatusCode, code: &'static str, meaning: &'static str) -> Code {
    Code {
        code,
        status,
        meaning,
    }
}

/// Every code, by status, then by name.
pub const CODES: &[Code] = &[
    code(
        StatusCode::BAD_REQUEST,
        "invalid_input",
        "A parameter, header or body member is malformed, missing or out of bounds; `errors` names each field.",
    ),
    code(
        StatusCode::BAD_REQUEST,
        "invalid_invite",
        "The invite link is used, expired or belongs to another clinic.",
    ),
    code(
        StatusCode::BAD_REQUEST,
        "invalid_referral_code",
        "No active referral link of this clinic has this code.",
    ),
    code(
        StatusCode::BAD_REQUEST,
        "no_clinics",
        "The prescriber works for no clinic yet.",
    ),
    code(
        StatusCode::UNAUTHORIZED,
        "invalid_code",
        "The one-time code is wrong, expired or already used.",
    ),
    code(
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
        "The portal's refresh token is unknown, rotated or revoked: sign in again.",
    ),
    code(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "No bearer token, or one that is malformed, unsigned, expired or issued for another clinic or audience.",
    ),
    code(
        StatusCode::FORBIDDEN,
        "assigned_to_another_provider",
        "An admin queued this order for another prescriber.",
    ),
    code(
        StatusCode::FORBIDDEN,
        "clinic_not_in_set",
        "The item belongs to a clinic the prescriber does not work for.",
    ),
    code(
        StatusCode::FORBIDDEN,
        "feature_disabled",
        "The clinic has not switched on the feature this route belongs to.",
    ),
    code(
        StatusCode::FORBIDDEN,
        "forbidden",
        "The caller's role may not do this here.",
    ),
    code(
        StatusCode::FORBIDDEN,
        "invalid_signature",
        "A provider webhook is not signed as the provider signs (Twilio, SendGrid).",
    ),
    code(
        StatusCode::FORBIDDEN,
        "not_a_guardian",
        "The portal account may act only for itself and its active dependents.",
    ),
    code(
        StatusCode::FORBIDDEN,
        "not_a_member",
        "The token's user has no active membership of that kind in its clinic (deactivated, archived, or a guardianship ended).",
    ),
    code(
        StatusCode::FORBIDDEN,
        "not_a_prescriber",
        "The route is for active prescribers.",
    ),
    code(
        StatusCode::FORBIDDEN,
        "not_session_clinician",
        "Only the session's clinician signs its note.",
    ),
    code(
        StatusCode::FORBIDDEN,
        "own_note",
        "A note is co-signed by someone other than its signer.",
    ),
    code(
        StatusCode::FORBIDDEN,
        "patients_only",
        "The route is for patients signed in to the portal.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "care_team_member_not_found",
        "The clinician is not on a care team of this patient that the caller can see.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "document_not_found",
        "No document with this id is available to the caller.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "form_not_found",
        "No form with this id is visible to the caller.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "guardianship_not_found",
        "No guardianship with this id is visible to the caller.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "hold_not_found",
        "No hold with this key is visible to the caller.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "not_found",
        "No route at this path, or no item with this id in the caller's clinic.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "note_not_found",
        "The session has no note the caller may see.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "patient_not_found",
        "No live patient with this id is visible to the caller.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "referral_link_not_found",
        "The patient has no referral link with this id.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "reschedule_request_not_found",
        "No reschedule request with this id is visible to the caller.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "service_not_found",
        "No service of the caller's clinic has this id.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "session_not_found",
        "No session with this id is visible to the caller.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "submission_not_found",
        "Nothing was handed in for this task yet.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "task_not_found",
        "No task with this id is visible to the caller.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "therapist_not_found",
        "No therapist of this clinic has this id.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "thread_not_found",
        "No thread with this id is visible to the caller.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "unknown_portal",
        "No clinic's portal is at the request's host.",
    ),
    code(
        StatusCode::NOT_FOUND,
        "waitlist_entry_not_found",
        "The patient has no waitlist entry with this id.",
    ),
    code(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "The path exists, but not with this method; `Allow` lists those it has.",
    ),
    code(
        StatusCode::CONFLICT,
        "already_exists",
        "A unique value is taken.",
    ),
    code(
        StatusCode::CONFLICT,
        "already_in_use",
        "Another clinic already uses this value (a portal slug or domain, an SMS number); `errors` names the field.",
    ),
    code(
        StatusCode::CONFLICT,
        "already_processed",
        "The invoice was processed or declined already.",
    ),
    code(
        StatusCode::CONFLICT,
        "care_team_member_suspended",
        "The clinician is suspended from the patient's care team; an admin can reactivate them.",
    ),
    code(
        StatusCode::CONFLICT,
        "clinician_exists",
        "Wardline already has a staff member with this id.",
    ),
    code(
        StatusCode::CONFLICT,
        "conflict",
        "A concurrent request took the same time or changed the same data: read again and retry.",
    ),
    code(
        StatusCode::CONFLICT,
        "cosign_not_needed",
        "The note needs no co-signature, or has one already.",
    ),
    code(
        StatusCode::CONFLICT,
        "feedback_given",
        "The session has its feedback already.",
    ),
    code(
        StatusCode::CONFLICT,
        "form_archived",
        "The form is archived.",
    ),
    code(
        StatusCode::CONFLICT,
        "form_version_mismatch",
        "The task asks for another version of the form: read the task again.",
    ),
    code(
        StatusCode::CONFLICT,
        "guardian_exists",
        "The patient is already an active guardian of the client.",
    ),
    code(
        StatusCode::CONFLICT,
        "hold_expired",
        "A hold expired, was released or is confirmed already; nothing was booked.",
    ),
    code(
        StatusCode::CONFLICT,
        "idempotency_key_in_flight",
        "A request with this Idempotency-Key is still running: retry shortly.",
    ),
    code(
        StatusCode::CONFLICT,
        "invoice_not_paid",
        "Only paid invoices are processed.",
    ),
    code(
        StatusCode::CONFLICT,
        "late_cancellation",
        "Too close to the appointment to cancel in the portal; the patient calls the clinic.",
    ),
    code(
        StatusCode::CONFLICT,
        "no_offer",
        "The waitlist entry has no offer to claim.",
    ),
    code(
        StatusCode::CONFLICT,
        "not_a_session",
        "Notes belong to booked sessions, not holds.",
    ),
    code(
        StatusCode::CONFLICT,
        "not_attendable",
        "Attendance is recorded for booked sessions only.",
    ),
    code(
        StatusCode::CONFLICT,
        "not_cancellable",
        "The session is not booked (a hold is released instead).",
    ),
    code(
        StatusCode::CONFLICT,
        "not_confirmable",
        "Only a booked appointment that has not started is confirmed.",
    ),
    code(
        StatusCode::CONFLICT,
        "not_credentialed",
        "The prescriber has no active assignment with a DEA number and licence at the clinic.",
    ),
    code(
        StatusCode::CONFLICT,
        "not_rateable",
        "Feedback is for sessions that took place.",
    ),
    code(
        StatusCode::CONFLICT,
        "not_reschedulable",
        "Only a booked appointment that has not started is moved.",
    ),
    code(
        StatusCode::CONFLICT,
        "not_shareable",
        "Only an available document the care team uploaded is shared.",
    ),
    code(
        StatusCode::CONFLICT,
        "not_started",
        "Attendance is recorded once the session has started.",
    ),
    code(
        StatusCode::CONFLICT,
        "note_locked",
        "The note is signed and locked: add an addendum instead.",
    ),
    code(
        StatusCode::CONFLICT,
        "note_not_signed",
        "The note must be signed first.",
    ),
    code(
        StatusCode::CONFLICT,
        "offer_expired",
        "The waitlist offer lapsed and passed to the next patient waiting.",
    ),
    code(
        StatusCode::CONFLICT,
        "order_being_sent",
        "Another approval is sending this order now.",
    ),
    code(
        StatusCode::CONFLICT,
        "order_not_queued",
        "The order is not queued for a prescriber.",
    ),
    code(
        StatusCode::CONFLICT,
        "patient_exists",
        "The clinic already has a patient with this e-mail address.",
    ),
    code(
        StatusCode::CONFLICT,
        "patient_has_upcoming_sessions",
        "A patient with sessions or holds ahead is not archived.",
    ),
    code(
        StatusCode::CONFLICT,
        "pharmacy_not_configured",
        "The clinic has no pharmacy connection.",
    ),
    code(
        StatusCode::CONFLICT,
        "provider_has_user",
        "The provider already has a user.",
    ),
    code(
        StatusCode::CONFLICT,
        "refill_wrong_state",
        "The refill is not in the state this step needs.",
    ),
    code(
        StatusCode::CONFLICT,
        "request_decided",
        "The reschedule request was decided already.",
    ),
    code(
        StatusCode::CONFLICT,
        "slot_unavailable",
        "An occurrence overlaps a hold or a booked session; nothing was held.",
    ),
    code(
        StatusCode::CONFLICT,
        "task_closed",
        "The task is accepted, completed or cancelled already.",
    ),
    code(
        StatusCode::CONFLICT,
        "task_kind_mismatch",
        "The task is done another way (a consent task by recording the consent).",
    ),
    code(
        StatusCode::CONFLICT,
        "task_not_open",
        "The task takes no submission now.",
    ),
    code(
        StatusCode::CONFLICT,
        "task_not_submitted",
        "Only a task handed in and awaiting review is accepted or returned.",
    ),
    code(
        StatusCode::CONFLICT,
        "therapist_inactive",
        "The therapist is inactive here: reactivate them first.",
    ),
    code(
        StatusCode::CONFLICT,
        "thread_closed",
        "The thread is closed.",
    ),
    code(
        StatusCode::CONFLICT,
        "too_many_referral_links",
        "The patient has the most active referral links allowed.",
    ),
    code(
        StatusCode::CONFLICT,
        "too_many_threads",
        "The patient has the most open conversations allowed.",
    ),
    code(
        StatusCode::CONFLICT,
        "upload_missing",
        "Nothing was uploaded for this document yet.",
    ),
    code(
        StatusCode::CONFLICT,
        "upload_refused",
        "The upload was refused; start a new one.",
    ),
    code(
        StatusCode::CONFLICT,
        "user_is_a_provider",
        "The user already has a prescriber profile.",
    ),
    code(
        StatusCode::CONFLICT,
        "waitlist_full",
        "The patient waits in the most places allowed.",
    ),
    code(
        StatusCode::CONFLICT,
        "waitlist_offer",
        "The hold is a waitlist offer, claimed or turned down in the portal.",
    ),
    code(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "The body is larger than the route accepts.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "clinician_inactive",
        "The clinician or user named is not active in this clinic.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "clinician_not_approved",
        "The clinician named has not been approved in this clinic yet.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "clinician_not_found",
        "The clinician or user named is not one of this clinic's.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "contradicts_hold",
        "A restated member differs from what was held; nothing was booked.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "The Idempotency-Key was used with a different request.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_a_clinician",
        "The staff member named is not a clinician.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_on_care_team",
        "The clinician named is not on the patient's active care team.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_proposed",
        "The start time chosen is not one of those proposed.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "offset_contradicts_time_zone",
        "A time's offset contradicts the time zone sent with it.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "outside_hours",
        "An occurrence is outside the clinician's hours or in their time off.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "patient_not_active",
        "The patient named is not an active patient of this clinic.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "provider_not_at_clinic",
        "The provider named does not prescribe at this clinic.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "service_not_available",
        "The service named is not an active service of this clinic.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_clinic",
        "No clinic has this id.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_form",
        "No form of the caller's clinic has this id.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_patient",
        "No patient of the caller's clinic has this id.",
    ),
    code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "upload_mismatch",
        "The uploaded file differs from what was declared; it was refused.",
    ),
    code(
        StatusCode::TOO_MANY_REQUESTS,
        "locked_out",
        "Too many wrong codes for this address or number: try again later.",
    ),
    code(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests from this address: try again later (`Retry-After`).",
    ),
    code(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "A fault of Wardline's; its cause is logged, never shown.",
    ),
    code(
        StatusCode::BAD_GATEWAY,
        "send_failed",
        "The pharmacy could not be reached or refused; the order stays queued and retrying is safe.",
    ),
    code(
        StatusCode::SERVICE_UNAVAILABLE,
        "anchor_storage_unavailable",
        "The audit anchors' bucket did not answer: retry.",
    ),
    code(
        StatusCode::SERVICE_UNAVAILABLE,
        "auth_unavailable",
        "The identity provider's keys could not be fetched: retry.",
    ),
    code(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "The database was too busy or the request too slow: retry after `Retry-After`.",
    ),
    code(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "The database cannot be reached (restart, failover): retry after `Retry-After`.",
    ),
    code(
        StatusCode::SERVICE_UNAVAILABLE,
        "email_events_unavailable",
        "E-mail events cannot be verified: their key is not configured.",
    ),
    code(
        StatusCode::SERVICE_UNAVAILABLE,
        "portal_unavailable",
        "The portal is not configured in this deployment.",
    ),
    code(
        StatusCode::SERVICE_UNAVAILABLE,
        "prescribing_unavailable",
        "Prescribing is not configured in this deployment.",
    ),
    code(
        StatusCode::SERVICE_UNAVAILABLE,
        "sealing_unavailable",
        "The keys that seal notes and messages are not configured.",
    ),
    code(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        "The document store is not configured, or did not answer: retry.",
    ),
    code(
        StatusCode::SERVICE_UNAVAILABLE,
        "twilio_unavailable",
        "SMS webhooks cannot be verified: Twilio is not configured.",
    ),
    code(
        StatusCode::SERVICE_UNAVAILABLE,
        "unsubscribe_unavailable",
        "Unsubscribe links cannot be verified: their key is not configured.",
    ),
];

/// The contract's entry for `code`, if it has one.
pub fn lookup(code: &str) -> Option<&'static Code> {
    CODES.iter().find(|known| known.code == code)
}

/// The status of `code`, if the contract has it.
pub fn status_of(code: &str) -> Option<StatusCode> {
    lookup(code).map(|known| known.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_is_listed_once_in_order_with_a_meaning() {
        for pair in CODES.windows(2) {
            assert!(
                (pair[0].status, pair[0].code) < (pair[1].status, pair[1].code),
                "{} and {} out of order or listed twice",
                pair[0].code,
                pair[1].code
            );
        }
        let mut names: Vec<&str> = CODES.iter().map(|c| c.code).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CODES.len(), "a code with two statuses");
        for code in CODES {
            assert!(
                code.code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{} is not snake_case",
                code.code
            );
            assert!(code.meaning.ends_with('.'), "{}: a sentence", code.code);
        }
    }
}
