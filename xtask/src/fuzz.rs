//! `cargo xtask fuzz-api`: schemathesis (PyPI) against the local stack — a throwaway
//! PostgreSQL with the demo data, every function behind the gateway on a free port — driven
//! by the `/openapi.json` the gateway serves. It runs once per caller (a prescriber, an admin,
//! a super admin, a portal patient) so requests get past authentication into the handlers, and
//! fails on any 5xx, any answer the document does not describe, and any error that is not
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

/// schemathesis's checks, and the hooks file's `problem_json`.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,problem_json";

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
    let mut config = dictionaries + &parameters;
    for (path, kind) in PATH_IDS {
        config.push_str(&format!(
            "\n[[operations]]\ninclude-path-regex = '{path}'\nparameters = {{ \"path.id\" = {} }}\n",
            binding(kind)
        ));
    }
    Ok(config)
}

/// A prescriber in two clinics, a clinic admin, a super admin (made one in this throwaway
/// database) and a patient signed in to the maple portal.
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
