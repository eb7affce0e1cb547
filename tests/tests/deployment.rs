//! template.yaml's promises that cfn-lint cannot check: every function is the arm64
//! cargo-lambda build, staff routes sit behind the JWT authorizer and only the
//! self-authenticating ones do not, the database is reached through RDS Proxy with TLS
//! required, the prescriptions bucket is encrypted with KMS and refuses plain HTTP, and the
//! audit anchors' bucket locks every version in compliance mode and is kept.

use serde_yaml::Value;
use xtask::workspace_root;

fn template() -> Value {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn resources_of(template: &Value, kind: &str) -> Vec<(String, Value)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(name, r)| (name.as_str().unwrap_or_default().to_owned(), r.clone()))
        .collect()
}

/// The argument of a short-form intrinsic (`!Ref X`, `!Sub "..."`), as serde_yaml keeps tags.
fn intrinsic<'v>(value: &'v Value, function: &str) -> Option<&'v Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == function => Some(&tagged.value),
        _ => None,
    }
}

#[test]
fn every_function_is_an_arm64_cargo_lambda_build_on_provided_al2023_with_json_logs() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"][0].as_str(), Some("arm64"));
    assert_eq!(globals["LoggingConfig"]["LogFormat"].as_str(), Some("JSON"));
    let functions = resources_of(&template, "AWS::Serverless::Function");
    assert!(functions.len() >= 9, "{}", functions.len());
    for (name, function) in functions {
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{name}"
        );
        let props = &function["Properties"];
        for overridden in ["Runtime", "Architectures", "LoggingConfig"] {
            assert!(props[overridden].is_null(), "{name} overrides {overridden}");
        }
    }
}

/// Routes that verify their own callers: the portal (Wardline's patient tokens, or none before
/// sign-in), the providers' signed webhooks and the unsubscribe link (Wardline's MAC).
fn authenticates_itself(path: &str) -> bool {
    path.starts_with("/api/portal/")
        || path.starts_with("/api/webhooks/")
        || path == "/api/email/unsubscribe"
}

#[test]
fn staff_routes_are_behind_the_jwt_authorizer_and_only_self_authenticating_routes_are_not() {
    let template = template();
    let api = &resources_of(&template, "AWS::Serverless::HttpApi")[0].1["Properties"];
    assert_eq!(
        api["Auth"]["DefaultAuthorizer"].as_str(),
        Some("WardlineJwt")
    );
    let jwt = &api["Auth"]["Authorizers"]["WardlineJwt"]["JwtConfiguration"];
    let reference = |v: &Value| {
        intrinsic(v, "Ref")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    assert_eq!(reference(&jwt["issuer"]).as_deref(), Some("JwtIssuer"));
    assert_eq!(
        reference(&jwt["audience"][0]).as_deref(),
        Some("JwtAudience")
    );
    let mut routes = 0;
    for (name, function) in resources_of(&template, "AWS::Serverless::Function") {
        let Some(events) = function["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (event, spec) in events {
            if spec["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            routes += 1;
            let path = spec["Properties"]["Path"].as_str().unwrap();
            let open = spec["Properties"]["Auth"]["Authorizer"].as_str() == Some("NONE");
            assert_eq!(
                open,
                authenticates_itself(path),
                "{name}.{event:?} {path}: authorizer off = {open}"
            );
        }
    }
    assert!(routes > 30, "{routes}");
}

#[test]
fn the_database_is_reached_through_rds_proxy_with_tls_required() {
    let template = template();
    let proxies = resources_of(&template, "AWS::RDS::DBProxy");
    assert_eq!(proxies.len(), 1);
    let proxy = &proxies[0].1["Properties"];
    assert_eq!(proxy["RequireTLS"].as_bool(), Some(true));
    assert_eq!(proxy["DebugLogging"].as_bool(), Some(false));
    let env = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(env["WARDLINE_DB_SSLMODE"].as_str(), Some("verify-full"));
    let url = intrinsic(&env["DATABASE_URL"], "Sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        url.contains("${DatabaseProxy.Endpoint}") && url.contains("{{resolve:secretsmanager:"),
        "{url}"
    );
}

#[test]
fn the_prescriptions_bucket_is_kms_encrypted_private_and_refuses_plain_http() {
    let template = template();
    let bucket = &template["Resources"]["PrescriptionsBucket"]["Properties"];
    let sse = &bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        ["ServerSideEncryptionByDefault"];
    assert_eq!(sse["SSEAlgorithm"].as_str(), Some("aws:kms"));
    for block in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][block].as_bool(),
            Some(true),
            "{block}"
        );
    }
    let statements = template["Resources"]["PrescriptionsBucketPolicy"]["Properties"]
        ["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements")
        .clone();
    assert!(statements.iter().any(|s| {
        s["Effect"].as_str() == Some("Deny")
            && s["Condition"]["Bool"]["aws:SecureTransport"].as_str() == Some("false")
    }));
}

#[test]
fn the_scheduled_jobs_run_on_their_schedules_one_at_a_time() {
    let template = template();
    for (name, event, rate) in [
        ("HoldCleanupFunction", "EveryMinute", "rate(1 minute)"),
        ("MessageSenderFunction", "EveryMinute", "rate(1 minute)"),
        (
            "SessionRemindersFunction",
            "EveryFiveMinutes",
            "rate(5 minutes)",
        ),
        ("AuditAnchorFunction", "EveryFiveMinutes", "rate(5 minutes)"),
    ] {
        let props = &template["Resources"][name]["Properties"];
        assert_eq!(
            props["ReservedConcurrentExecutions"].as_u64(),
            Some(1),
            "{name}"
        );
        let schedule = &props["Events"][event];
        assert_eq!(schedule["Type"].as_str(), Some("ScheduleV2"), "{name}");
        assert_eq!(
            schedule["Properties"]["ScheduleExpression"].as_str(),
            Some(rate),
            "{name}"
        );
    }
}

#[test]
fn the_audit_anchor_bucket_locks_every_version_in_compliance_mode_and_is_kept() {
    let template = template();
    let resource = &template["Resources"]["AuditAnchorBucket"];
    assert_eq!(resource["DeletionPolicy"].as_str(), Some("Retain"));
    assert_eq!(resource["UpdateReplacePolicy"].as_str(), Some("Retain"));
    let bucket = &resource["Properties"];
    assert_eq!(bucket["ObjectLockEnabled"].as_bool(), Some(true));
    assert_eq!(
        bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"].as_str(),
        Some("COMPLIANCE")
    );
    assert_eq!(
        bucket["VersioningConfiguration"]["Status"].as_str(),
        Some("Enabled")
    );
    assert!(
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
            .as_str()
            .is_some()
    );
    for block in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][block].as_bool(),
            Some(true),
            "{block}"
        );
    }
    // The function may put anchors and their retention, nothing else.
    let function = &template["Resources"]["AuditAnchorFunction"]["Properties"];
    let statements = function["Policies"][0]["Statement"]
        .as_sequence()
        .expect("statements");
    assert_eq!(statements.len(), 1);
    let actions: Vec<&str> = statements[0]["Action"]
        .as_sequence()
        .expect("actions")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(actions, ["s3:PutObject", "s3:PutObjectRetention"]);
    let resource = intrinsic(&statements[0]["Resource"], "Sub")
        .and_then(|r| r.as_str())
        .unwrap_or_default();
    assert_eq!(resource, "${AuditAnchorBucket.Arn}/anchors/*");
}
