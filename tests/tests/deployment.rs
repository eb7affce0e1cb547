//! template.yaml's promises that cfn-lint cannot check: every function is the arm64
//! cargo-lambda build, staff routes sit behind the JWT authorizer and only the
//! self-authenticating ones do not, the database is reached through RDS Proxy with TLS
//! required, the prescriptions bucket is encrypted with KMS and refuses plain HTTP, and the
//! audit anchors' bucket locks every version in compliance mode and is kept, the schema is
//! migrated by a custom resource before any function that needs it, a created Aurora cluster
//! is encrypted, protected, backed up, private and kept, and the authenticator secret rotates
//! through the migrate function.

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
