//! `intake`: the staff side of intake. Admins define forms as JSON Schemas in immutable
//! versions ([`forms`]); the patient's care team (clinicians with an active care-team row) and
//! the clinic's admins assign the patient tasks — a form to fill in, a document to upload, a
//! consent to give — read what was handed in (every read audited) and accept it or return it
//! with a comment ([`tasks`]). RLS (`db/policies/intake.sql`) decides who sees which task; the
//! patient's side is the portal's (`functions/portal/src/tasks.rs`).
//!
//! `GET|POST /forms`, `GET /forms/{id}`, `POST /forms/{id}/versions`, `POST
//! /forms/{id}/archive`; `GET|POST /clients/{clientId}/tasks`, `POST /tasks/{id}/cancel`, `GET
//! /tasks/{id}/submission`, `POST /tasks/{id}/accept` and `/return`.

pub mod forms;
pub mod tasks;

use http::Method;
use wardline_shared::{
    handler,
    http::{Access, Function, Route, ADMINS, CLINICIANS},
};

pub const FUNCTION: Function = Function {
    name: "intake",
    routes: &[
        Route {
            method: Method::GET,
            path: "/forms",
            name: "ListForms",
            access: Access::Staff(CLINICIANS),
            handler: handler!(forms::list),
        },
        Route {
            method: Method::POST,
            path: "/forms",
            name: "CreateForm",
            access: Access::Staff(ADMINS),
            handler: handler!(forms::create),
        },
        Route {
            method: Method::GET,
            path: "/forms/{id}",
            name: "ReadForm",
            access: Access::Staff(CLINICIANS),
            handler: handler!(forms::read),
        },
        Route {
            method: Method::POST,
            path: "/forms/{id}/versions",
            name: "PublishFormVersion",
            access: Access::Staff(ADMINS),
            handler: handler!(forms::publish),
        },
        Route {
            method: Method::POST,
            path: "/forms/{id}/archive",
            name: "ArchiveForm",
            access: Access::Staff(ADMINS),
            handler: handler!(forms::archive),
        },
        Route {
            method: Method::GET,
            path: "/clients/{clientId}/tasks",
            name: "ListClientTasks",
            access: Access::Staff(CLINICIANS),
            handler: handler!(tasks::list),
        },
        Route {
            method: Method::POST,
            path: "/clients/{clientId}/tasks",
            name: "AssignTask",
            access: Access::Staff(CLINICIANS),
            handler: handler!(tasks::assign),
        },
        Route {
            method: Method::POST,
            path: "/tasks/{id}/cancel",
            name: "CancelTask",
            access: Access::Staff(CLINICIANS),
            handler: handler!(tasks::cancel),
        },
        Route {
            method: Method::GET,
            path: "/tasks/{id}/submission",
            name: "ReadTaskSubmission",
            access: Access::Staff(CLINICIANS),
            handler: handler!(tasks::submission),
        },
        Route {
            method: Method::POST,
            path: "/tasks/{id}/accept",
            name: "AcceptTask",
            access: Access::Staff(CLINICIANS),
            handler: handler!(tasks::accept),
        },
        Route {
            method: Method::POST,
            path: "/tasks/{id}/return",
            name: "ReturnTask",
            access: Access::Staff(CLINICIANS),
            handler: handler!(tasks::send_back),
        },
    ],
};
