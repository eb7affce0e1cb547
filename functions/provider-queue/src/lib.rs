//! `provider-queue`: prescribing across clinics. A prescriber sees one queue of everything
//! waiting for them in every clinic they work for, and acts on each item with that item's
//! clinic: its branding, its pharmacy account, their credentials there. Their routes are
//! cross-clinic requests (`auth.begin_cross_clinic_request`): the token's current clinic is
//! set aside and `auth.my_org_ids()` — the clinics the prescriber works for, from four sources
//! — decides what RLS shows (`db/policies/prescribing.sql`). Admins work in their clinic: its
//! queue, orders for one prescriber, refills to approve, its staff and prescribers; a super
//! admin reaches another clinic only where a route says so.
//!
//! - [`queue`]: the merged queue, processing or declining a paid invoice, prescribing or
//!   denying a refill.
//! - [`approve`]: approve-and-send an order — PDF to S3, prescription to the pharmacy.
//! - [`clinics`]: a prescriber's clinic assignments, and how their set of clinics is derived.
//! - [`admin`]: the admins' queue, orders they queue for a prescriber, refills they approve.
//! - [`users`]: users and their access to clinics, a clinic's prescribers.
//! - [`prescription`]: the prescription PDF.
//! - [`outside`]: the S3, Secrets Manager and pharmacy clients, built once per container.

pub mod admin;
pub mod approve;
pub mod clinics;
pub mod outside;
pub mod prescription;
pub mod queue;
pub mod users;

pub use outside::{Outside, Settings};

use http::Method;
use wardline_shared::{
    handler,
    http::{Access, Function, Route, ADMINS, CLINICIANS, SUPER_ADMINS},
};

pub const FUNCTION: Function = Function {
    name: "provider-queue",
    routes: &[
        Route {
            method: Method::GET,
            path: "/api/provider/prescription-queue",
            name: "ReadPrescriptionQueue",
            access: Access::Staff(CLINICIANS),
            handler: handler!(queue::list),
        },
        Route {
            method: Method::PATCH,
            path: "/api/provider/prescription-queue/{invoiceId}",
            name: "ProcessInvoice",
            access: Access::Staff(CLINICIANS),
            handler: handler!(queue::process_invoice),
        },
        Route {
            method: Method::POST,
            path: "/api/orders/{id}/approve-and-send",
            name: "ApproveAndSendOrder",
            access: Access::Staff(CLINICIANS),
            handler: handler!(approve::approve_and_send),
        },
        Route {
            method: Method::GET,
            path: "/api/super-admin/providers/{id}/clinics",
            name: "ReadProviderClinicsAsSuperAdmin",
            access: Access::Staff(SUPER_ADMINS),
            handler: handler!(clinics::list_for_super_admin),
        },
        Route {
            method: Method::POST,
            path: "/api/super-admin/providers/{id}/clinics",
            name: "SaveProviderClinic",
            access: Access::Staff(SUPER_ADMINS),
            handler: handler!(clinics::save),
        },
        Route {
            method: Method::GET,
            path: "/api/providers/{id}/clinics",
            name: "ReadProviderClinics",
            access: Access::Staff(CLINICIANS),
            handler: handler!(clinics::list),
        },
        Route {
            method: Method::GET,
            path: "/api/providers/debug",
            name: "ExplainProviderClinics",
            access: Access::Staff(SUPER_ADMINS),
            handler: handler!(clinics::debug),
        },
        Route {
            method: Method::POST,
            path: "/api/provider/refills/{id}/prescribe",
            name: "PrescribeRefill",
            access: Access::Staff(CLINICIANS),
            handler: handler!(queue::prescribe_refill),
        },
        Route {
            method: Method::POST,
            path: "/api/provider/refills/{id}/deny",
            name: "DenyRefill",
            access: Access::Staff(CLINICIANS),
            handler: handler!(queue::deny_refill),
        },
        Route {
            method: Method::GET,
            path: "/api/admin/prescription-queue",
            name: "ReadAdminPrescriptionQueue",
            access: Access::Staff(ADMINS),
            handler: handler!(admin::queue),
        },
        Route {
            method: Method::POST,
            path: "/api/admin/orders",
            name: "QueueOrder",
            access: Access::Staff(ADMINS),
            handler: handler!(admin::queue_order),
        },
        Route {
            method: Method::POST,
            path: "/api/admin/refills/{id}/approve",
            name: "ApproveRefill",
            access: Access::Staff(ADMINS),
            handler: handler!(admin::approve_refill),
        },
        Route {
            method: Method::POST,
            path: "/api/super-admin/providers/{id}/user",
            name: "CreateProviderUser",
            access: Access::Staff(SUPER_ADMINS),
            handler: handler!(users::create_provider_user),
        },
        Route {
            method: Method::POST,
            path: "/api/super-admin/clinics/{id}/users",
            name: "AddUserToClinic",
            access: Access::Staff(SUPER_ADMINS),
            handler: handler!(users::add_to_clinic),
        },
        Route {
            method: Method::POST,
            path: "/api/admin/clinic/users",
            name: "AddClinicUser",
            access: Access::Staff(ADMINS),
            handler: handler!(users::add_clinic_user),
        },
        Route {
            method: Method::GET,
            path: "/api/providers",
            name: "ListProviders",
            access: Access::Staff(CLINICIANS),
            handler: handler!(users::list_providers),
        },
    ],
};
