//! `provider-queue`: prescribers across clinics. A prescriber sees one queue of everything
//! waiting for them in every clinic they work for, and acts on each item with that item's
//! clinic: its branding, its pharmacy account, their credentials there. Every route is a
//! cross-clinic request (`auth.begin_cross_clinic_request`): the token's current clinic is set
//! aside and `auth.my_org_ids()` — the clinics the prescriber works for, from four sources —
//! decides what RLS shows (`db/policies/prescribing.sql`).
//!
//! - [`queue`]: the merged queue, and processing or declining a paid invoice.
//! - [`approve`]: approve-and-send an order — PDF to S3, prescription to the pharmacy.
//! - [`clinics`]: a prescriber's clinic assignments, and how their set of clinics is derived.
//! - [`prescription`]: the prescription PDF.
//! - [`outside`]: the S3, Secrets Manager and pharmacy clients, built once per container.

pub mod approve;
pub mod clinics;
pub mod outside;
pub mod prescription;
pub mod queue;

pub use outside::{Outside, Settings};

use http::Method;
use wardline_shared::{
    handler,
    http::{Access, Function, Route, CLINICIANS, SUPER_ADMINS},
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
    ],
};
