//! template.yaml's promises that cfn-lint cannot check: every function is the arm64
//! cargo-lambda build of its own package with the release profile as tested, staff routes sit
//! behind the JWT authorizer and only the self-authenticating ones do not, the database is
//! reached through RDS Proxy with TLS required, the prescriptions bucket is encrypted with KMS
//! and refuses plain HTTP, whatever keeps or decrypts data outlives the stack, every function
//! has its log group, tracing and alarms, the audit anchors' bucket locks every version in
//! compliance mode, the schema is migrated by a custom resource before any function that needs
//! it, a created Aurora cluster is encrypted, protected, backed up, private and kept, and the
//! authenticator secret rotates through the migrate function.

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
    assert_public_access_blocked(bucket);
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
    assert_public_access_blocked(bucket);
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

/// The logical ids a `DependsOn` names (one or a list).
fn depends_on(resource: &Value) -> Vec<String> {
    match &resource["DependsOn"] {
        Value::String(one) => vec![one.clone()],
        Value::Sequence(many) => many
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_schema_is_migrated_by_a_custom_resource_before_every_function_that_needs_it() {
    let template = template();
    let schema = &template["Resources"]["DatabaseSchema"];
    assert_eq!(
        schema["Type"].as_str(),
        Some("AWS::CloudFormation::CustomResource")
    );
    let props = &schema["Properties"];
    let token = intrinsic(&props["ServiceToken"], "GetAtt").and_then(Value::as_str);
    assert_eq!(token, Some("MigrateFunction.Arn"));
    // A new version of the function (its code embeds db/) changes a property: the run repeats.
    let version = intrinsic(&props["CodeVersion"], "Ref").and_then(Value::as_str);
    assert_eq!(version, Some("MigrateFunction.Version"));
    assert!(props["ServiceTimeout"].as_u64().is_some_and(|t| t <= 3600));

    let migrate = &template["Resources"]["MigrateFunction"];
    assert_eq!(
        migrate["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("migrate")
    );
    assert!(
        migrate["Properties"]["Events"].is_null(),
        "no route, no schedule"
    );
    assert!(depends_on(migrate).is_empty());
    for (name, function) in resources_of(&template, "AWS::Serverless::Function") {
        if name != "MigrateFunction" {
            assert!(
                depends_on(&function).iter().any(|d| d == "DatabaseSchema"),
                "{name} may start before the schema is there"
            );
        }
    }
    // Only the migrate function reads the master login.
    let env = &migrate["Properties"]["Environment"]["Variables"];
    assert!(!env["WARDLINE_MASTER_SECRET_ARN"].is_null());
    let globals = serde_yaml::to_string(&template["Globals"]).unwrap();
    assert!(!globals.contains("Master"), "{globals}");
    for (name, function) in resources_of(&template, "AWS::Serverless::Function") {
        let text = serde_yaml::to_string(&function).unwrap();
        assert_eq!(
            text.contains("DatabaseMasterSecretArn") || text.contains("MasterUserSecret"),
            name == "MigrateFunction",
            "{name}"
        );
    }
}

fn cargo_manifest(path: &std::path::Path) -> toml::Value {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `sam build` runs `cargo lambda build --release --bin <Binary>` in the function's CodeUri:
/// the package's own directory (so only its dependencies' features), with cargo-lambda's
/// release optimizations off (they set `panic = "abort"` and a CPU target), and copies the
/// bootstrap from the workspace's `target/lambda/<Binary>/`, where cargo-lambda writes it
/// unless `lambda_dir` says otherwise. `cargo xtask build-check` reads the built artifact.
#[test]
fn sam_builds_each_function_alone_with_the_release_profile_as_tested() {
    let manifest = cargo_manifest(&workspace_root().join("Cargo.toml"));
    assert_eq!(
        manifest["profile"]["release"]["panic"].as_str(),
        Some("unwind"),
        "lambda_runtime answers a panicking handler with an error only if panics unwind"
    );
    let build = &manifest["workspace"]["metadata"]["lambda"]["build"];
    assert_eq!(build["disable_optimizations"].as_bool(), Some(true));
    assert!(
        build.get("lambda_dir").is_none(),
        "sam build copies from target/lambda"
    );
    for (name, function) in resources_of(&template(), "AWS::Serverless::Function") {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} names no Binary"));
        let code_uri = function["Properties"]["CodeUri"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(code_uri, format!("functions/{binary}"), "{name}");
        let package = cargo_manifest(&workspace_root().join(code_uri).join("Cargo.toml"));
        assert_eq!(package["package"]["name"].as_str(), Some(binary), "{name}");
    }
}

/// Every one of S3's four public-access blocks is on for `bucket` (its `Properties`).
fn assert_public_access_blocked(bucket: &Value) {
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
}

fn is_retained(resource: &Value) -> bool {
    resource["DeletionPolicy"].as_str() == Some("Retain")
        && resource["UpdateReplacePolicy"].as_str() == Some("Retain")
}

/// A database outlives the stack as itself or as its final snapshot (a created cluster keeps
/// no running copy nobody asked for; deletion protection refuses the delete anyway).
fn is_kept(resource: &Value) -> bool {
    ["Retain", "Snapshot"].contains(&resource["DeletionPolicy"].as_str().unwrap_or_default())
        && ["Retain", "Snapshot"]
            .contains(&resource["UpdateReplacePolicy"].as_str().unwrap_or_default())
}

#[test]
fn whatever_keeps_or_decrypts_data_outlives_the_stack() {
    let template = template();
    for kind in [
        "AWS::KMS::Key",
        "AWS::S3::Bucket",
        "AWS::SecretsManager::Secret",
        "AWS::Logs::LogGroup",
    ] {
        for (name, resource) in resources_of(&template, kind) {
            assert!(is_retained(&resource), "{name} ({kind}) is not retained");
        }
    }
    for kind in ["AWS::RDS::DBCluster", "AWS::RDS::DBInstance"] {
        for (name, resource) in resources_of(&template, kind) {
            // An Aurora cluster's instance is compute: the data is the cluster's.
            if !resource["Properties"]["DBClusterIdentifier"].is_null() {
                continue;
            }
            assert!(
                is_kept(&resource),
                "{name} ({kind}) is neither retained nor snapshotted"
            );
        }
    }
}

/// `!If [condition, then, else]` → (condition, then, else).
fn if_of(value: &Value) -> Option<(&str, &Value, &Value)> {
    match intrinsic(value, "If")?.as_sequence()?.as_slice() {
        [condition, then, otherwise] => Some((condition.as_str()?, then, otherwise)),
        _ => None,
    }
}

fn ref_of(value: &Value) -> Option<&str> {
    intrinsic(value, "Ref").and_then(Value::as_str)
}

/// The function resource a `!Sub "/aws/lambda/${XFunction}"` log group name is for.
fn log_group_function(group: &Value) -> Option<String> {
    let name = intrinsic(&group["Properties"]["LogGroupName"], "Sub")?.as_str()?;
    Some(
        name.strip_prefix("/aws/lambda/${")?
            .strip_suffix('}')?
            .to_owned(),
    )
}

#[test]
fn every_function_logs_to_its_own_retained_log_group_and_alarms_on_throttles() {
    let template = template();
    let groups: Vec<String> = resources_of(&template, "AWS::Logs::LogGroup")
        .into_iter()
        .filter_map(|(name, group)| {
            let function = log_group_function(&group)?;
            assert_eq!(
                ref_of(&group["Properties"]["RetentionInDays"]),
                Some("LogRetentionDays"),
                "{name}"
            );
            Some(function)
        })
        .collect();
    let throttled: Vec<String> = resources_of(&template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, alarm)| alarm["Properties"]["MetricName"].as_str() == Some("Throttles"))
        .filter_map(|(_, alarm)| {
            ref_of(&alarm["Properties"]["Dimensions"][0]["Value"]).map(str::to_owned)
        })
        .collect();
    for (name, _) in resources_of(&template, "AWS::Serverless::Function") {
        assert!(
            groups.contains(&name),
            "{name} has no log group /aws/lambda/${{{name}}}"
        );
        assert!(throttled.contains(&name), "{name} has no throttles alarm");
    }
}

#[test]
fn a_created_database_is_encrypted_protected_backed_up_private_and_kept() {
    let template = template();
    let resources = &template["Resources"];
    let cluster = &resources["DatabaseCluster"];
    assert_eq!(cluster["Condition"].as_str(), Some("CreateDatabase"));
    assert_eq!(cluster["DeletionPolicy"].as_str(), Some("Snapshot"));
    assert_eq!(cluster["UpdateReplacePolicy"].as_str(), Some("Snapshot"));
    let props = &cluster["Properties"];
    assert_eq!(props["Engine"].as_str(), Some("aurora-postgresql"));
    assert_eq!(props["StorageEncrypted"].as_bool(), Some(true));
    assert_eq!(
        intrinsic(&props["KmsKeyId"], "GetAtt").and_then(Value::as_str),
        Some("DatabaseKey.Arn")
    );
    assert_eq!(props["DeletionProtection"].as_bool(), Some(true));
    assert_eq!(props["ManageMasterUserPassword"].as_bool(), Some(true));
    assert!(props["MasterUserPassword"].is_null());
    assert!(!props["ServerlessV2ScalingConfiguration"].is_null());
    // Point-in-time recovery spans the backup retention: at least a week by default.
    let retention = intrinsic(&props["BackupRetentionPeriod"], "Ref")
        .and_then(Value::as_str)
        .unwrap();
    let default = template["Parameters"][retention]["Default"]
        .as_u64()
        .unwrap();
    assert!(default >= 7, "{default}");

    let key = &resources["DatabaseKey"];
    assert_eq!(key["DeletionPolicy"].as_str(), Some("Retain"));
    assert_eq!(key["UpdateReplacePolicy"].as_str(), Some("Retain"));
    assert_eq!(key["Properties"]["EnableKeyRotation"].as_bool(), Some(true));

    let writer = &resources["DatabaseWriter"]["Properties"];
    assert_eq!(writer["DBInstanceClass"].as_str(), Some("db.serverless"));
    assert_eq!(writer["PubliclyAccessible"].as_bool(), Some(false));
    assert_eq!(writer["EnablePerformanceInsights"].as_bool(), Some(true));

    // In the private subnets, reachable from the proxy only.
    let subnets = &resources["DatabaseSubnetGroup"]["Properties"]["SubnetIds"];
    assert_eq!(
        intrinsic(subnets, "Ref").and_then(Value::as_str),
        Some("SubnetIds")
    );
    let ingress = resources["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"]
        .as_sequence()
        .unwrap();
    assert_eq!(ingress.len(), 1);
    assert_eq!(
        intrinsic(&ingress[0]["SourceSecurityGroupId"], "Ref").and_then(Value::as_str),
        Some("ProxySecurityGroup")
    );
}

#[test]
fn the_authenticator_secret_rotates_through_the_migrate_function_when_asked_to() {
    let template = template();
    let rotation = &template["Resources"]["AuthenticatorRotation"];
    assert_eq!(
        rotation["Type"].as_str(),
        Some("AWS::SecretsManager::RotationSchedule")
    );
    assert_eq!(rotation["Condition"].as_str(), Some("RotateAuthenticator"));
    let props = &rotation["Properties"];
    assert_eq!(
        intrinsic(&props["SecretId"], "Ref").and_then(Value::as_str),
        Some("AuthenticatorSecret")
    );
    assert_eq!(
        intrinsic(&props["RotationLambdaARN"], "GetAtt").and_then(Value::as_str),
        Some("MigrateFunction.Arn")
    );
    assert!(depends_on(rotation).iter().any(|d| d == "DatabaseSchema"));
}

#[test]
fn tracing_is_active_unless_the_parameter_turns_it_off() {
    let template = template();
    let (condition, then, otherwise) =
        if_of(&template["Globals"]["Function"]["Tracing"]).expect("Tracing: !If [...]");
    assert_eq!(
        (condition, then.as_str(), otherwise.as_str()),
        ("TracingIsActive", Some("Active"), Some("PassThrough"))
    );
    let equals = intrinsic(&template["Conditions"]["TracingIsActive"], "Equals")
        .and_then(Value::as_sequence)
        .expect("TracingIsActive: !Equals [...]");
    assert_eq!(ref_of(&equals[0]), Some("ActiveTracing"));
    assert_eq!(equals[1].as_str(), Some("true"));
    for (name, function) in resources_of(&template, "AWS::Serverless::Function") {
        assert!(
            function["Properties"]["Tracing"].is_null(),
            "{name} overrides Tracing"
        );
    }
}

/// The alarms read the metrics `shared::metrics` writes, in the namespace the functions are
/// given, and notify the SNS topic only when one is set.
#[test]
fn the_alarms_read_the_functions_metrics_and_notify_only_a_topic_that_is_set() {
    let template = template();
    let namespace = intrinsic(
        &template["Globals"]["Function"]["Environment"]["Variables"]["WARDLINE_METRICS_NAMESPACE"],
        "Sub",
    )
    .and_then(Value::as_str)
    .expect("WARDLINE_METRICS_NAMESPACE: !Sub ...")
    .to_owned();
    let line = wardline_shared::metrics::Request {
        request_id: "r",
        function: "f",
        method: "GET",
        route: "R",
        template: "/r",
        status: 200,
        code: None,
        latency: std::time::Duration::ZERO,
        database: Some(std::time::Duration::ZERO),
    }
    .line("N", 0);
    let mut read = Vec::new();
    for (name, alarm) in resources_of(&template, "AWS::CloudWatch::Alarm") {
        let props = &alarm["Properties"];
        for actions in ["AlarmActions", "OKActions"] {
            let (condition, then, otherwise) =
                if_of(&props[actions]).unwrap_or_else(|| panic!("{name}.{actions}: !If"));
            assert_eq!(condition, "HasAlarmTopic", "{name}");
            assert_eq!(ref_of(&then[0]), Some("AlarmTopicArn"), "{name}");
            assert_eq!(ref_of(otherwise), Some("AWS::NoValue"), "{name}");
        }
        if props["Namespace"].as_str() == Some("AWS/Lambda") {
            continue;
        }
        let sub = intrinsic(&props["Namespace"], "Sub").and_then(Value::as_str);
        assert_eq!(sub, Some(namespace.as_str()), "{name}");
        let metric = props["MetricName"].as_str().unwrap_or_default();
        assert!(
            line[metric].is_number(),
            "{name} reads {metric}, which no request writes"
        );
        // The stack-wide metrics: no dimensions.
        assert!(props["Dimensions"].is_null(), "{name}");
        read.push(metric.to_owned());
    }
    read.sort();
    assert_eq!(read, ["DatabaseUnavailable", "Status5xx"]);
    let templ = &template["Parameters"]["AlarmTopicArn"];
    assert_eq!(templ["Default"].as_str(), Some(""));
}
