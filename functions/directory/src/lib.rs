//! `directory`: the Fuji36 API's therapists, patients and therapist–patient relationships, and
//! the staff and patient lifecycle, over the same rows the OktaPT routes (`assign`) read and
//! write: clinicians and their clinic memberships, patients, `app.care_team`. Both APIs see one
//! truth.
//!
//! Who may call what is Fuji36's authorization table. The routes below map it to roles; the
//! database enforces it: RLS bounds every row (`db/policies/clinics.sql`, `patients.sql`,
//! `care_team.sql`), and the rows the table gives a therapist "for self" only are one SQL
//! guard, `app.require_self_or_admin` (`db/functions/45_directory.sql`). Each handler
//! parses, names bad input in a 400, and makes one call.
//!
//! - [`therapists`]: create (pending, with a staff invite e-mail), read, list (active, pending,
//!   inactive, with their patients), a therapist's patients, approve, deactivate, reactivate.
//! - [`patients`]: create, read, list, update, archive, restore; medical notes sealed at rest.
//! - [`relationships`]: a therapist joins a patient's care team (or comes back to it), or
//!   leaves it (kept as `Inactive`).

pub mod patients;
pub mod relationships;
pub mod therapists;

use http::Method;
use wardline_shared::{
    handler,
    http::{Access, Function, Route, ADMINS, CLINICIANS},
};

/// Literal paths come before the parameterized ones they would otherwise match
/// (`/therapists/new` before `/therapists/{therapistId}`), as API Gateway prefers them.
pub const FUNCTION: Function = Function {
    name: "directory",
    routes: &[
        Route {
            method: Method::POST,
            path: "/therapists",
            name: "CreateTherapist",
            access: Access::Staff(ADMINS),
            handler: handler!(therapists::create),
        },
        Route {
            method: Method::GET,
            path: "/therapists",
            name: "ListTherapists",
            access: Access::Staff(CLINICIANS),
            handler: handler!(therapists::list),
        },
        Route {
            method: Method::GET,
            path: "/therapists/new",
            name: "ListPendingTherapists",
            access: Access::Staff(ADMINS),
            handler: handler!(therapists::pending),
        },
        Route {
            method: Method::GET,
            path: "/therapists/with-patients",
            name: "ListTherapistsWithPatients",
            access: Access::Staff(ADMINS),
            handler: handler!(therapists::with_patients),
        },
        Route {
            method: Method::GET,
            path: "/therapists/user/{userId}",
            name: "ReadTherapistByUser",
            access: Access::Staff(CLINICIANS),
            handler: handler!(therapists::read_by_user),
        },
        Route {
            method: Method::GET,
            path: "/therapists/{therapistId}",
            name: "ReadTherapist",
            access: Access::Staff(CLINICIANS),
            handler: handler!(therapists::read),
        },
        Route {
            method: Method::GET,
            path: "/therapists/{therapistId}/patients",
            name: "ListTherapistPatients",
            access: Access::Staff(CLINICIANS),
            handler: handler!(therapists::patients),
        },
        Route {
            method: Method::POST,
            path: "/therapists/{therapistId}/approve",
            name: "ApproveTherapist",
            access: Access::Staff(ADMINS),
            handler: handler!(therapists::approve),
        },
        Route {
            method: Method::POST,
            path: "/therapists/{therapistId}/deactivate",
            name: "DeactivateTherapist",
            access: Access::Staff(ADMINS),
            handler: handler!(therapists::deactivate),
        },
        Route {
            method: Method::POST,
            path: "/therapists/{therapistId}/reactivate",
            name: "ReactivateTherapist",
            access: Access::Staff(ADMINS),
            handler: handler!(therapists::reactivate),
        },
        Route {
            method: Method::POST,
            path: "/patients",
            name: "CreatePatient",
            access: Access::Staff(ADMINS),
            handler: handler!(patients::create),
        },
        Route {
            method: Method::GET,
            path: "/patients",
            name: "ListPatients",
            access: Access::Staff(CLINICIANS),
            handler: handler!(patients::list),
        },
        Route {
            method: Method::GET,
            path: "/patients/user/{userId}",
            name: "ReadPatientByUser",
            access: Access::Staff(CLINICIANS),
            handler: handler!(patients::read_by_user),
        },
        Route {
            method: Method::GET,
            path: "/patients/{patientId}",
            name: "ReadPatient",
            access: Access::Staff(CLINICIANS),
            handler: handler!(patients::read),
        },
        Route {
            method: Method::PATCH,
            path: "/patients/{patientId}",
            name: "UpdatePatient",
            access: Access::Staff(ADMINS),
            handler: handler!(patients::update),
        },
        Route {
            method: Method::POST,
            path: "/patients/{patientId}/archive",
            name: "ArchivePatient",
            access: Access::Staff(ADMINS),
            handler: handler!(patients::archive),
        },
        Route {
            method: Method::POST,
            path: "/patients/{patientId}/restore",
            name: "RestorePatient",
            access: Access::Staff(ADMINS),
            handler: handler!(patients::restore),
        },
        Route {
            method: Method::POST,
            path: "/therapist-patient-relationships",
            name: "CreateRelationship",
            access: Access::Staff(CLINICIANS),
            handler: handler!(relationships::create),
        },
        Route {
            method: Method::DELETE,
            path: "/therapist-patient-relationships/{therapistId}/{patientId}",
            name: "EndRelationship",
            access: Access::Staff(CLINICIANS),
            handler: handler!(relationships::end),
        },
    ],
};
