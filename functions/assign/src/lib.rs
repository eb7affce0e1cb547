//! `assign`: care teams — which clinicians treat which patient — and what follows from them,
//! and the clinic's administration. Who may see and change which patient is decided by RLS
//! (`db/policies/patients.sql`, `db/policies/care_team.sql`); the handlers parse, name bad
//! input, and make one call each.
//!
//! - [`care_team`]: assign (self or a colleague), remove, suspend and reactivate.
//! - [`patients`]: the clinic's patients and "my patients", a page at a time, with their
//!   connected clinicians.
//! - [`invite`]: a new patient with their care team and a portal invite, all or nothing.
//! - [`guardians`]: who acts for a patient in the portal (a parent for a child).
//! - [`referrals`]: the admins' report of who referred new patients.
//! - [`flags`], [`settings`], [`services`]: running the clinic, for its admins — feature
//!   flags, settings (portal, SMS, letterhead, pharmacy, appointment rules) and the services
//!   catalogue.

pub mod care_team;
pub mod flags;
pub mod guardians;
pub mod invite;
pub mod patients;
pub mod referrals;
pub mod services;
pub mod settings;

use http::Method;
use wardline_shared::{
    handler,
    http::{Access, Function, Route, ADMINS, CLINICIANS},
};

pub const FUNCTION: Function = Function {
    name: "assign",
    routes: &[
        Route {
            method: Method::POST,
            path: "/v2/doctor/patients/assign",
            name: "AssignPatient",
            access: Access::Staff(CLINICIANS),
            handler: handler!(care_team::assign),
        },
        Route {
            method: Method::DELETE,
            path: "/v2/doctor/patients/{patientId}/therapists/{therapistId}",
            name: "RemoveCareTeamMember",
            access: Access::Staff(CLINICIANS),
            handler: handler!(care_team::remove),
        },
        Route {
            method: Method::PATCH,
            path: "/v2/doctor/patients/{patientId}/therapists/{therapistId}",
            name: "ChangeCareTeamMember",
            access: Access::Staff(CLINICIANS),
            handler: handler!(care_team::set_status),
        },
        Route {
            method: Method::GET,
            path: "/v2/doctor/patients/all",
            name: "ListAllPatients",
            access: Access::Staff(CLINICIANS),
            handler: handler!(patients::all),
        },
        Route {
            method: Method::GET,
            path: "/v2/doctor/patients/summary",
            name: "ListMyPatients",
            access: Access::Staff(CLINICIANS),
            handler: handler!(patients::summary),
        },
        Route {
            method: Method::POST,
            path: "/v2/doctor/patients/invite",
            name: "InvitePatient",
            access: Access::Staff(CLINICIANS),
            handler: handler!(invite::invite),
        },
        Route {
            method: Method::GET,
            path: "/clients/{clientId}/guardians",
            name: "ListGuardians",
            access: Access::Staff(CLINICIANS),
            handler: handler!(guardians::list),
        },
        Route {
            method: Method::POST,
            path: "/clients/{clientId}/guardians",
            name: "AddGuardian",
            access: Access::Staff(CLINICIANS),
            handler: handler!(guardians::add),
        },
        Route {
            method: Method::POST,
            path: "/guardianships/{id}/end",
            name: "EndGuardianship",
            access: Access::Staff(CLINICIANS),
            handler: handler!(guardians::end),
        },
        Route {
            method: Method::GET,
            path: "/referrals/report",
            name: "ReferralReport",
            access: Access::Staff(ADMINS),
            handler: handler!(referrals::report),
        },
        Route {
            method: Method::GET,
            path: "/api/admin/feature-flags",
            name: "ReadFeatureFlags",
            access: Access::Staff(ADMINS),
            handler: handler!(flags::read),
        },
        Route {
            method: Method::PUT,
            path: "/api/admin/feature-flags",
            name: "UpdateFeatureFlags",
            access: Access::Staff(ADMINS),
            handler: handler!(flags::update),
        },
        Route {
            method: Method::GET,
            path: "/api/admin/clinic",
            name: "ReadClinicSettings",
            access: Access::Staff(ADMINS),
            handler: handler!(settings::read),
        },
        Route {
            method: Method::PATCH,
            path: "/api/admin/clinic",
            name: "UpdateClinicSettings",
            access: Access::Staff(ADMINS),
            handler: handler!(settings::update),
        },
        Route {
            method: Method::GET,
            path: "/api/admin/services",
            name: "ListServices",
            access: Access::Staff(ADMINS),
            handler: handler!(services::list),
        },
        Route {
            method: Method::POST,
            path: "/api/admin/services",
            name: "CreateService",
            access: Access::Staff(ADMINS),
            handler: handler!(services::create),
        },
        Route {
            method: Method::PATCH,
            path: "/api/admin/services/{id}",
            name: "UpdateService",
            access: Access::Staff(ADMINS),
            handler: handler!(services::update),
        },
    ],
};
