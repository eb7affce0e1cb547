//! `cargo xtask fuzz-api`: schemathesis (PyPI) against the local stack — a throwaway
//! PostgreSQL with the demo data, every function behind the gateway on a free port — driven
//! by the `/openapi.json` the gateway serves, with all of schemathesis's checks. It runs once
//! per caller (a prescriber, a therapist, an admin, a super admin, a portal patient) so requests
//! get past authentication into the handlers, and fails on any 5xx, any answer the document
//! does not describe, any schema-valid request refused (but the refusals of state listed in
//! [`STATE_REFUSALS`]), any schema-violating one accepted, and any error that is not
//! problem+json (`xtask/fuzz_hooks.py`).

use crate::{
    demo, gateway,
    keys::Identity,
    openapi,
    stack::{self, Database, Stack},
    target_dir,
    tools::python_tool,
    workspace_root,
};
use anyhow::{bail, Context as _, Result};
use std::sync::Arc;

/// The schemathesis release this target is written against.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// Every check schemathesis has. `all` also turns on the checks a hooks file registers
/// (schemathesis 4's `ChecksConfig::update` enables every name in its registry under `all`),
/// so the hooks file's `problem_json` runs too.
const CHECKS: &str = "all";

/// The portal every fuzzed request names in `Host` (the demo's first clinic).
const PORTAL_HOST: &str = "maple.portal.localhost";

/// The demo data's ids by kind (a table of `app`), and the parameters and body members that
/// hold such ids: generated requests name real rows half of the time, so they get past the
/// 404s into the handlers' logic.
const ID_KINDS: &[(&str, &[&str])] = &[
    ("clinics", &["body.clinicId"]),
    (
        "clinicians",
        &[
            "path.therapistId",
            "query.therapistId",
            "query.clinicianId",
            "body.therapist_id",
            "body.targetDoctorId",
            "body.additionalTherapistIds[*]",
        ],
    ),
    (
        "patients",
        &["path.patientId", "body.patientId", "body.client_id"],
    ),
    (
        "services",
        &[
            "body.session.serviceId",
            "body.occurrences[*].session.serviceId",
        ],
    ),
    ("providers", &["query.providerId"]),
    ("invoices", &["path.invoiceId"]),
    ("orders", &[]),
];

/// Operations whose `{id}` is of one kind.
const PATH_IDS: &[(&str, &str)] = &[
    (
        r"^/api/(super-admin/)?providers/\{id\}/clinics$",
        "providers",
    ),
    (r"^/api/orders/\{id\}/approve-and-send$", "orders"),
];

/// Refusals of schema-valid requests that no schema can express: the request is well formed,
/// but refused for the state it names (a row, a signature, a hold) or for a rule across
/// fields. For each operation, the status and the `errors[].field` names (regular
/// expressions) the refusal may give, and why. `positive_data_acceptance` (ST202) admits that
/// status for these operations only, and the hooks file's `state_refusal` check holds every
/// such answer to a schema-valid request to the fields listed here: any other field refused
/// with that status is still a failure.
const STATE_REFUSALS: &[(&str, u16, &[&str], &str)] = &[
    // Keyset pages: a cursor is the id (or position) of the last row of a page; one that names
    // no listed row cannot be placed in the order. An empty page would tell the client the
    // list ended when it did not, so it is refused and the client starts over.
    ("GET /patients", 400, &["cursor"], CURSOR),
    ("GET /therapists", 400, &["cursor"], CURSOR),
    ("GET /therapists/new", 400, &["cursor"], CURSOR),
    ("GET /therapists/with-patients", 400, &["cursor"], CURSOR),
    (
        "GET /therapists/{therapistId}/patients",
        400,
        &["cursor"],
        CURSOR,
    ),
    ("GET /v2/doctor/patients/all", 400, &["cursor"], CURSOR),
    ("GET /v2/doctor/patients/summary", 400, &["cursor"], CURSOR),
    ("GET /v2/doctor/patients/archived", 400, &["cursor"], CURSOR),
    ("GET /clients/{clientId}/tasks", 400, &["cursor"], CURSOR),
    ("GET /inbox", 400, &["cursor"], CURSOR),
    ("GET /threads/{id}/messages", 400, &["cursor"], CURSOR),
    ("GET /reschedule-requests", 400, &["cursor"], CURSOR),
    (
        "GET /api/admin/prescription-queue",
        400,
        &["cursor"],
        CURSOR,
    ),
    (
        "GET /api/provider/prescription-queue",
        400,
        &["cursor"],
        CURSOR,
    ),
    ("GET /api/portal/appointments", 400, &["cursor"], CURSOR),
    ("GET /api/portal/threads", 400, &["cursor"], CURSOR),
    (
        "GET /api/portal/threads/{id}/messages",
        400,
        &["cursor"],
        CURSOR,
    ),
    ("GET /api/portal/timeline", 400, &["cursor"], CURSOR),
    ("GET /api/admin/audit/export", 400, &["from", "to"], WINDOW),
    (
        "GET /api/admin/audit",
        400,
        &["cursor", "from", "to"],
        WINDOW,
    ),
    // Windows: `to` at or after `from`, at most N days later (a rule across two parameters);
    // in a query, also the years 1900–2200 (in a body, `Instant`'s pattern says so; schemathesis
    // cannot generate date-time parameters under a pattern).
    ("GET /schedule", 400, &["from", "to"], WINDOW),
    ("GET /availability", 400, &["from", "to"], WINDOW),
    ("GET /feedback/report", 400, &["from", "to"], WINDOW),
    ("GET /referrals/report", 400, &["from", "to"], WINDOW),
    ("POST /clinicians/{id}/time-off", 400, &["endTime"], WINDOW),
    (
        "PUT /clinicians/{id}/availability",
        400,
        &[
            r"weeklyHours\[\d+\]\.end",
            r"overrides\[\d+\]\.ranges\[\d+\]\.end",
            r"weeklyHours\[\d+\]",
            r"overrides\[\d+\]",
            r"overrides\[\d+\]\.date",
        ],
        WINDOW,
    ),
    ("POST /api/portal/waitlist", 400, &["latest"], WINDOW),
    // Times that must still be ahead when the request arrives: the schema knows no "now".
    (
        "POST /sessions/{id}/reschedule",
        400,
        &["start_time", "end_time"],
        FUTURE,
    ),
    (
        "POST /api/portal/appointments/{id}/reschedule-request",
        400,
        &[r"startTimes\[\d+\]"],
        FUTURE,
    ),
    // One of two members or parameters, not both and not neither, where the other members make
    // a `oneOf` the generators and the typed client handle badly; the handler names the field.
    (
        "GET /api/providers/debug",
        400,
        &["providerId", "clinicianId"],
        EXCLUSIVE,
    ),
    (
        "POST /api/portal/auth/otp",
        400,
        &["email", "phone", "inviteToken"],
        EXCLUSIVE,
    ),
    (
        "POST /api/portal/auth/verify",
        400,
        &["email", "phone", "inviteToken"],
        EXCLUSIVE,
    ),
    (
        "POST /api/portal/auth/refresh",
        400,
        &["refreshToken"],
        EXCLUSIVE,
    ),
    (
        "POST /sessions-hold",
        400,
        &["recurrence", "occurrences", r"recurrence\.time_zone"],
        EXCLUSIVE,
    ),
    (
        "POST /api/portal/tasks/{id}/submission",
        400,
        &["documentId", "formVersionId", "answers"],
        EXCLUSIVE,
    ),
    (
        "POST /api/portal/appointments/{id}/feedback",
        400,
        &["nps", "csat"],
        EXCLUSIVE,
    ),
    (
        "POST /clients/{clientId}/tasks",
        400,
        &["consentType", "formId"],
        EXCLUSIVE,
    ),
    (
        "PATCH /api/provider/prescription-queue/{invoiceId}",
        400,
        &["reason"],
        EXCLUSIVE,
    ),
    // Signed links: only a token Wardline signed is one.
    ("GET /api/email/unsubscribe", 400, &["token"], SIGNED),
    ("POST /api/email/unsubscribe", 400, &["token"], SIGNED),
    // State: rows named in the body that must exist and be in a given state (a 422 naming the
    // member, as an unknown id in a path is a 404).
    (
        "POST /sessions-confirm",
        422,
        &[
            "startTimeOffsetMinutes",
            "endTimeOffsetMinutes",
            "timeZone",
            r"occurrences\[\d+\]\..*",
            "holdKey",
            "session.*",
        ],
        STATE,
    ),
    (
        "POST /v2/doctor/patients/assign",
        422,
        &["targetDoctorId", "patientId"],
        STATE,
    ),
    (
        "POST /v2/doctor/patients/invite",
        400,
        &["referralCode"],
        STATE,
    ),
    (
        "POST /therapist-patient-relationships",
        422,
        &["therapistId", "patientId"],
        STATE,
    ),
    ("PUT /threads/{id}/assignee", 422, &["clinicianId"], STATE),
    (
        "POST /api/admin/clinic/users",
        422,
        &["firstName", "lastName", "email"],
        STATE,
    ),
    (
        "POST /api/admin/orders",
        422,
        &["providerId", "patientId", "Idempotency-Key"],
        STATE,
    ),
    ("GET /api/providers", 422, &["clinicId"], STATE),
    (
        "GET /api/admin/prescription-queue",
        422,
        &["clinicId"],
        STATE,
    ),
    (
        "POST /api/super-admin/clinics/{id}/users",
        422,
        &["id"],
        STATE,
    ),
    (
        "POST /v2/doctor/patients/invite",
        422,
        &[r"additionalTherapistIds\[\d+\]"],
        STATE,
    ),
    (
        "POST /sessions-hold",
        422,
        &["client_id", "therapist_id", "serviceId", "service_id"],
        STATE,
    ),
    ("POST /clients/{clientId}/tasks", 422, &["formId"], STATE),
    // Names the schema cannot list: an IANA zone the time-zone database knows, a recurrence
    // rule RFC 5545 reads.
    (
        "POST /sessions-confirm",
        400,
        &["timeZone", r"occurrences\[\d+\]\.timeZone"],
        NAMED,
    ),
    (
        "POST /sessions-hold",
        400,
        &["time_zone", r"recurrence\.rrule"],
        NAMED,
    ),
    // A series ends by a count or an until, in the rule or beside it.
    (
        "POST /sessions-hold",
        400,
        &[r"recurrence\.count", r"recurrence\.until"],
        EXCLUSIVE,
    ),
    ("PATCH /api/admin/clinic", 400, &["timeZone"], NAMED),
    // A day the calendar does not have (30 February), which a pattern cannot rule out.
    (
        "POST /sessions-hold",
        400,
        &[
            "start_time",
            "end_time",
            r"occurrences\[\d+\]\.(start|end)_time",
        ],
        WINDOW,
    ),
    // A wall-clock time's offset must be the one a time with an offset already carries.
    (
        "POST /sessions-hold",
        400,
        &[
            "start_time_offset_minutes",
            "end_time_offset_minutes",
            r"occurrences\[\d+\]\.(start|end)_time_offset_minutes",
        ],
        EXCLUSIVE,
    ),
    // A form's schema is any JSON Schema, but jsonb holds no \u0000 in its text.
    ("POST /forms", 400, &["schema"], NAMED),
    ("POST /forms/{id}/versions", 400, &["schema"], NAMED),
    (
        "POST /sessions-confirm",
        400,
        &["startTimeOffsetMinutes", "endTimeOffsetMinutes"],
        EXCLUSIVE,
    ),
    // Two ids that differ only in case are one id: `uniqueItems` compares the strings.
    (
        "POST /v2/doctor/patients/invite",
        400,
        &[r"additionalTherapistIds\[\d+\]"],
        EXCLUSIVE,
    ),
    // Weekly hours of one day may not overlap one another.
    (
        "PUT /clinicians/{id}/availability",
        400,
        &[r"weeklyHours\[\d+\]\.start"],
        WINDOW,
    ),
    // A due date is today or later.
    ("POST /clients/{clientId}/tasks", 400, &["dueOn"], FUTURE),
    // consentVersion belongs to a consent task only.
    (
        "POST /clients/{clientId}/tasks",
        400,
        &["consentVersion"],
        EXCLUSIVE,
    ),
    // A birth date after today: the schema knows no today.
    (
        "POST /v2/doctor/patients/invite",
        400,
        &["dateOfBirth"],
        FUTURE,
    ),
    ("POST /patients", 400, &["dateOfBirth"], FUTURE),
    ("PATCH /patients/{patientId}", 400, &["dateOfBirth"], FUTURE),
    // A change that changes nothing: every member null (null is "leave as it is").
    ("PATCH /api/admin/services/{id}", 400, &["body"], EMPTY),
    ("PATCH /patients/{patientId}", 400, &["body"], EMPTY),
    // A DEA number's last digit is a checksum of the others.
    (
        "POST /api/admin/clinic/users",
        400,
        &[r"asProvider\.deaNumber"],
        CHECKSUM,
    ),
    (
        "POST /api/super-admin/clinics/{id}/users",
        400,
        &[r"asProvider\.deaNumber"],
        CHECKSUM,
    ),
    (
        "POST /api/super-admin/providers/{id}/clinics",
        400,
        &["deaNumber"],
        CHECKSUM,
    ),
    // A wall-clock time's offset must be its zone's at that time.
    (
        "POST /sessions-hold",
        422,
        &[
            "start_time_offset_minutes",
            "end_time_offset_minutes",
            r"occurrences\[\d+\]\.(start|end)_time_offset_minutes",
        ],
        EXCLUSIVE,
    ),
    // More state: a clinic or user named that does not exist, a hold outside the clinician's
    // published hours.
    ("GET /api/admin/audit", 422, &["clinicId"], STATE),
    (
        "POST /api/super-admin/providers/{id}/clinics",
        422,
        &["clinicId"],
        STATE,
    ),
    // The fuzzer reuses one Idempotency-Key with other bodies: a 422, as designed.
    ("POST /sessions-hold", 422, &["Idempotency-Key"], STATE),
    ("POST /sessions-confirm", 422, &["Idempotency-Key"], STATE),
    (
        "PATCH /v2/doctor/patients/{patientId}/therapists/{therapistId}",
        422,
        &["therapistId"],
        STATE,
    ),
    ("GET /api/admin/audit/export", 422, &["clinicId"], STATE),
    (
        "POST /api/super-admin/clinics/{id}/users",
        422,
        &["userId"],
        STATE,
    ),
    (
        "POST /sessions-hold",
        422,
        &["start_time", "end_time", r"occurrences\[\d+\].*"],
        STATE,
    ),
    // A local time without an offset needs the zone the body names elsewhere.
    (
        "POST /sessions-confirm",
        400,
        &[r"session\..*", r"occurrences\[\d+\]\..*"],
        EXCLUSIVE,
    ),
];

const CURSOR: &str = "a cursor that names no listed row";
const WINDOW: &str = "an end before its start, or too far after it";
const FUTURE: &str = "a time already past";
const EXCLUSIVE: &str = "one of two members, not both or neither";
const SIGNED: &str = "a token Wardline did not sign";
const STATE: &str = "a named row that does not exist or is not in the needed state";
const NAMED: &str = "a zone or rule name no schema can list";
const EMPTY: &str = "a change naming no member with a value";
const CHECKSUM: &str = "a check digit that does not match";

/// One run of schemathesis: who calls, and with which token.
struct Caller {
    label: &'static str,
    token: String,
}

/// Runs schemathesis with at most `max_examples` cases per operation and caller.
pub async fn run(max_examples: u32) -> Result<()> {
    if std::env::var_os("WARDLINE_LOG").is_some() {
        wardline_shared::telemetry::init();
    }
    let st = python_tool("st", SCHEMATHESIS)?;
    let stack = Stack::start(Database::Throwaway).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let jwks_url = format!("{base}/.well-known/jwks.json");
    // The moto guard keeps approve-and-send's S3 and Secrets Manager up for the run.
    let (ctx, _moto) = stack::gateway_context(&stack, &jwks_url).await?;
    let callers = callers(&stack, &ctx).await?;
    let reports = target_dir().join("fuzz-api");
    std::fs::create_dir_all(&reports).with_context(|| format!("creating {}", reports.display()))?;
    let config = reports.join("schemathesis.toml");
    std::fs::write(&config, demo_ids_config(&stack).await?)
        .with_context(|| format!("writing {}", config.display()))?;
    let refusals = reports.join("state-refusals.json");
    std::fs::write(&refusals, serde_json::to_string_pretty(&state_refusals())?)
        .with_context(|| format!("writing {}", refusals.display()))?;
    let app = gateway::router(Arc::new(ctx), stack.keys.jwks()?)?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut failed = Vec::new();
    for caller in &callers {
        println!("\n== cargo xtask fuzz-api: as {}", caller.label);
        let status = tokio::process::Command::new(&st)
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(format!("{base}{}", openapi::PATH))
            .args(["--url", &base, "--checks", CHECKS])
            .args(["--max-examples", &max_examples.to_string()])
            .args(["--generation-database", "none", "--no-color"])
            .args(["--report", "junit", "--report-junit-path"])
            .arg(reports.join(format!("{}.xml", caller.label.replace(' ', "-"))))
            .args([
                "--header",
                &format!("Authorization: Bearer {}", caller.token),
            ])
            .args(["--header", &format!("Host: {PORTAL_HOST}")])
            .env(
                "SCHEMATHESIS_HOOKS",
                workspace_root().join("xtask/fuzz_hooks.py"),
            )
            .env("WARDLINE_FUZZ_STATE_REFUSALS", &refusals)
            .current_dir(&reports)
            .status()
            .await
            .context("running schemathesis")?;
        if !status.success() {
            failed.push(caller.label);
        }
    }
    server.abort();
    stack.stop()?;
    if !failed.is_empty() {
        bail!("cargo xtask fuzz-api: failures as {}", failed.join(", "));
    }
    println!("\n== cargo xtask fuzz-api: no failures");
    Ok(())
}

/// schemathesis's configuration: one dictionary of ids per kind in [`ID_KINDS`], drawn from
/// half of the time by the fields that hold them.
async fn demo_ids_config(stack: &Stack) -> Result<String> {
    let admin = crate::connect(&stack.admin_url).await?;
    let binding = |kind: &str| format!("{{ dictionary = \"{kind}\", probability = 0.5 }}");
    let mut dictionaries = String::new();
    let mut parameters = String::from("[parameters]\n");
    for (kind, fields) in ID_KINDS {
        let ids: Vec<String> = admin
            .query(&format!("select id from app.{kind} order by id"), &[])
            .await?
            .iter()
            .map(|row| format!("\"{}\"", row.get::<_, uuid::Uuid>(0)))
            .collect();
        dictionaries.push_str(&format!(
            "[dictionaries.{kind}]\nvalues = [{}]\n\n",
            ids.join(", ")
        ));
        for field in *fields {
            parameters.push_str(&format!("\"{field}\" = {}\n", binding(kind)));
        }
    }
    // A body over the route's limit is refused with 413 before it is read: a rejection too.
    let mut config =
        format!("[checks.negative_data_rejection]\nexpected-statuses = [{NEGATIVE_STATUSES}]\n\n")
            + &dictionaries
            + &parameters;
    for (path, kind) in PATH_IDS {
        config.push_str(&format!(
            "\n[[operations]]\ninclude-path-regex = '{path}'\nparameters = {{ \"path.id\" = {} }}\n",
            binding(kind)
        ));
    }
    // One entry per operation: schemathesis merges entries that match an operation key by
    // key, so two would not add up.
    let mut listed: Vec<(&str, Vec<String>, Vec<&str>)> = Vec::new();
    for (operation, status, _, reason) in STATE_REFUSALS {
        let at = match listed.iter().position(|(name, _, _)| name == operation) {
            Some(at) => at,
            None => {
                listed.push((operation, Vec::new(), Vec::new()));
                listed.len() - 1
            }
        };
        let (_, statuses, reasons) = &mut listed[at];
        let status = format!("\"{status}\"");
        if !statuses.contains(&status) {
            statuses.push(status);
        }
        if !reasons.contains(reason) {
            reasons.push(reason);
        }
    }
    for (operation, statuses, reasons) in listed {
        config.push_str(&format!(
            "\n# {}\n[[operations]]\ninclude-name = '{operation}'\n\
             checks.positive_data_acceptance.expected-statuses = [{POSITIVE_STATUSES}, {}]\n",
            reasons.join("; "),
            statuses.join(", ")
        ));
    }
    Ok(config)
}

/// What `positive_data_acceptance` expects of a schema-valid request by default (schemathesis
/// 4.32); [`STATE_REFUSALS`] adds one status to it per operation listed there.
const POSITIVE_STATUSES: &str = r#""2xx", "3xx", "401", "403", "404", "409", "429", "5xx""#;

/// What `negative_data_rejection` takes for a rejection (schemathesis 4.32's default) and 413.
const NEGATIVE_STATUSES: &str =
    r#""400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx""#;

/// [`STATE_REFUSALS`] for the hooks file: `{"GET /patients": {"400": ["cursor"]}, …}`.
fn state_refusals() -> serde_json::Value {
    let mut refusals = serde_json::Map::new();
    for (operation, status, fields, _) in STATE_REFUSALS {
        let statuses = refusals
            .entry(operation.to_string())
            .or_insert_with(|| serde_json::json!({}));
        let listed = statuses
            .as_object_mut()
            .expect("an object")
            .entry(status.to_string())
            .or_insert_with(|| serde_json::json!([]));
        for field in *fields {
            listed
                .as_array_mut()
                .expect("an array")
                .push(field.to_string().into());
        }
    }
    refusals.into()
}

/// A prescriber in two clinics, a therapist, a clinic admin, a super admin (made one in this
/// throwaway database) and a patient signed in to the maple portal.
async fn callers(stack: &Stack, ctx: &wardline_shared::Context) -> Result<Vec<Caller>> {
    const DAY: u64 = 86_400;
    let avery = demo::identity("maple", "avery@maple.example")?;
    let admin = crate::connect(&stack.admin_url).await?;
    admin
        .execute(
            "update app.clinicians set is_super_admin = true where id = $1",
            &[&avery.sub],
        )
        .await?;
    let super_admin = Identity {
        app_role: "super_admin",
        ..demo::identity("maple", "avery@maple.example")?
    };
    let jordan = demo::identity("maple", demo::PATIENTS[0].email)?;
    let portal = ctx.portal()?;
    let patient_token = portal.signing.issue(
        jordan.sub,
        jordan.sub,
        jordan.org_id.context("a demo patient has a clinic")?,
    )?;
    let keys = &stack.keys;
    Ok(vec![
        Caller {
            label: "prescriber",
            token: keys.mint(&demo::identity("maple", "dana@wardline.example")?, DAY)?,
        },
        Caller {
            label: "therapist",
            token: keys.mint(&demo::identity("maple", "sam@maple.example")?, DAY)?,
        },
        Caller {
            label: "admin",
            token: keys.mint(&avery, DAY)?,
        },
        Caller {
            label: "super admin",
            token: keys.mint(&super_admin, DAY)?,
        },
        Caller {
            label: "patient",
            token: patient_token,
        },
    ])
}
