//! `portal`: what a signed-in patient does in their clinic's portal. Only a token Wardline's
//! portal issued (`portal-otp` signs patients in) gets in: every route is `Access::Patient`,
//! every call scoped to the clinic its `Host` names (checked against the token in SQL), and RLS
//! shows the patient only their own rows.
//!
//! - [`account`]: the patient's profile, consent history and preferences.
//! - [`appointments`]: their sessions, upcoming or past; confirming, cancelling, asking to
//!   reschedule one.
//! - [`waitlist`]: waiting for freed time with a clinician, and claiming an offer.
//! - [`threads`]: secure messages with their care team.
//! - [`timeline`]: what happened in their care, newest first.
//! - [`documents`]: uploading documents for the care team, and reading those shared back.
//! - [`referrals`]: links to share with friends, and how many joined through them.
//! - [`tasks`]: intake tasks the care team assigned: forms to fill in, documents to hand in.
//! - [`access_log`]: which of the clinic's staff opened their record, and when.

pub mod access_log;
pub mod account;
pub mod appointments;
pub mod documents;
pub mod referrals;
pub mod tasks;
pub mod threads;
pub mod timeline;
pub mod waitlist;

use http::Method;
use wardline_shared::{
    handler,
    http::{Access, Function, Route},
};

pub const FUNCTION: Function = Function {
    name: "portal",
    routes: &[
        Route {
            method: Method::GET,
            path: "/api/portal/me",
            name: "ReadPortalProfile",
            access: Access::Patient,
            handler: handler!(account::me),
        },
        Route {
            method: Method::PUT,
            path: "/api/portal/consent",
            name: "RecordConsent",
            access: Access::Patient,
            handler: handler!(account::record_consent),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/preferences",
            name: "ReadPreferences",
            access: Access::Patient,
            handler: handler!(account::preferences),
        },
        Route {
            method: Method::PUT,
            path: "/api/portal/preferences",
            name: "UpdatePreferences",
            access: Access::Patient,
            handler: handler!(account::update_preferences),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/appointments",
            name: "ListPortalAppointments",
            access: Access::Patient,
            handler: handler!(appointments::list),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/appointments/{id}/confirm",
            name: "ConfirmPortalAppointment",
            access: Access::Patient,
            handler: handler!(appointments::confirm),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/appointments/{id}/cancel",
            name: "CancelPortalAppointment",
            access: Access::Patient,
            handler: handler!(appointments::cancel),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/appointments/{id}/reschedule-request",
            name: "RequestReschedule",
            access: Access::Patient,
            handler: handler!(appointments::request_reschedule),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/appointments/{id}/feedback",
            name: "GiveSessionFeedback",
            access: Access::Patient,
            handler: handler!(appointments::feedback),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/timeline",
            name: "ReadPortalTimeline",
            access: Access::Patient,
            handler: handler!(timeline::list),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/waitlist",
            name: "ListWaitlistEntries",
            access: Access::Patient,
            handler: handler!(waitlist::list),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/waitlist",
            name: "JoinWaitlist",
            access: Access::Patient,
            handler: handler!(waitlist::join),
        },
        Route {
            method: Method::DELETE,
            path: "/api/portal/waitlist/{id}",
            name: "LeaveWaitlist",
            access: Access::Patient,
            handler: handler!(waitlist::leave),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/waitlist/{id}/claim",
            name: "ClaimWaitlistOffer",
            access: Access::Patient,
            handler: handler!(waitlist::claim),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/threads",
            name: "ListPortalThreads",
            access: Access::Patient,
            handler: handler!(threads::list),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/threads",
            name: "StartPortalThread",
            access: Access::Patient,
            handler: handler!(threads::start),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/threads/{id}/messages",
            name: "ListPortalMessages",
            access: Access::Patient,
            handler: handler!(threads::messages),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/threads/{id}/messages",
            name: "PostPortalMessage",
            access: Access::Patient,
            handler: handler!(threads::post),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/threads/{id}/read",
            name: "ReadPortalThread",
            access: Access::Patient,
            handler: handler!(threads::read),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/uploads",
            name: "StartPortalUpload",
            access: Access::Patient,
            handler: handler!(documents::start),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/uploads/{id}/complete",
            name: "CompletePortalUpload",
            access: Access::Patient,
            handler: handler!(documents::complete),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/documents",
            name: "ListPortalDocuments",
            access: Access::Patient,
            handler: handler!(documents::list),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/documents/{id}/download",
            name: "DownloadPortalDocument",
            access: Access::Patient,
            handler: handler!(documents::download),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/referrals",
            name: "ListReferralLinks",
            access: Access::Patient,
            handler: handler!(referrals::list),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/referrals",
            name: "CreateReferralLink",
            access: Access::Patient,
            handler: handler!(referrals::create),
        },
        Route {
            method: Method::DELETE,
            path: "/api/portal/referrals/{id}",
            name: "RevokeReferralLink",
            access: Access::Patient,
            handler: handler!(referrals::revoke),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/access-log",
            name: "ReadPortalAccessLog",
            access: Access::Patient,
            handler: handler!(access_log::list),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/tasks",
            name: "ListPortalTasks",
            access: Access::Patient,
            handler: handler!(tasks::list),
        },
        Route {
            method: Method::GET,
            path: "/api/portal/tasks/{id}",
            name: "ReadPortalTask",
            access: Access::Patient,
            handler: handler!(tasks::read),
        },
        Route {
            method: Method::POST,
            path: "/api/portal/tasks/{id}/submission",
            name: "SubmitPortalTask",
            access: Access::Patient,
            handler: handler!(tasks::submit),
        },
    ],
};
