//! The deployment's migrate function (`functions/migrate`), as CloudFormation and Secrets
//! Manager call it: the master login and the authenticator's secret in moto, the answer PUT
//! to a local stand-in for the pre-signed `ResponseURL`. A fresh database gets the whole
//! schema and `wardline_authenticator` a password it can log in with; a migrated one is left
//! as it is; a failing migration is FAILED with a reason naming no value and leaves nothing
//! applied; a Delete touches nothing; a rotation hands the new password over.

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::put, Router};
use migrate::{Migrator, Settings};
use serde_json::{json, Value};
use std::{
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};
use uuid::Uuid;
use wardline_shared::{config::SslMode, migrate::Sources};
use wardline_tests::{cluster, TestDb};
use xtask::moto::Moto;

/// `wardline_authenticator` is one role of the cluster: the tests that set its password take
/// turns, so each logs in with the password it set.
static ROLE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
static MOTO: OnceLock<Moto> = OnceLock::new();

fn moto() -> &'static Moto {
    MOTO.get_or_init(|| {
        std::thread::spawn(|| Moto::start().expect("starting moto's server"))
            .join()
            .expect("starting moto")
    })
}

/// The answers received: each one's headers and body.
type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// Where the answers go: a local server standing in for the pre-signed S3 URL, stopped with
/// the test's runtime.
struct Answers {
    url: String,
    received: Received,
    server: tokio::task::JoinHandle<()>,
}

impl Answers {
    async fn start() -> Answers {
        let received: Received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route(
                "/cloudformation-answers",
                put(
                    |State(received): State<Received>, headers: HeaderMap, body: Bytes| async move {
                        let body = String::from_utf8_lossy(&body).into_owned();
                        received.lock().unwrap().push((headers, body));
                    },
                ),
            )
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/cloudformation-answers?X-Amz-Signature=presigned",
            listener.local_addr().unwrap()
        );
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Answers {
            url,
            received,
            server,
        }
    }

    /// The one answer received, parsed; its raw text too.
    fn only(&self) -> (Value, String) {
        let received = self.received.lock().unwrap();
        assert_eq!(received.len(), 1, "{received:?}");
        let (headers, body) = &received[0];
        let content_type = headers.get("content-type").map(|v| v.as_bytes().to_vec());
        assert!(
            content_type.as_ref().is_none_or(|v| v.is_empty()),
            "the pre-signed URL is signed without a content type: {content_type:?}"
        );
        (serde_json::from_str(body).unwrap(), body.clone())
    }
}

impl Drop for Answers {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The secrets of one test: the master login (the test cluster's superuser) and a generated
/// authenticator password, as the stack keeps them.
struct Logins {
    master: String,
    authenticator: String,
    password: String,
}

async fn logins(db: &TestDb) -> Logins {
    let admin: tokio_postgres::Config = db.admin_url().parse().unwrap();
    let master_password = admin
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_else(|| "unused-with-trust".into());
    let id = Uuid::new_v4();
    let logins = Logins {
        master: format!("test/master-{id}"),
        authenticator: format!("test/authenticator-{id}"),
        password: Uuid::new_v4().simple().to_string(),
    };
    let master = json!({
        "username": admin.get_user().unwrap_or("postgres"),
        "password": master_password,
    });
    moto()
        .create_secret(&logins.master, &master.to_string())
        .await
        .unwrap();
    let authenticator = json!({"username": "wardline_authenticator", "password": logins.password});
    moto()
        .create_secret(&logins.authenticator, &authenticator.to_string())
        .await
        .unwrap();
    logins
}

fn settings(db: &TestDb, logins: &Logins) -> Settings {
    let admin: tokio_postgres::Config = db.admin_url().parse().unwrap();
    let host = match admin.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        other => panic!("the tests' server is on TCP: {other:?}"),
    };
    Settings {
        host,
        port: admin.get_ports().first().copied().unwrap_or(5432),
        dbname: db.name.clone(),
        master_secret: logins.master.clone(),
        authenticator_secret: logins.authenticator.clone(),
        ssl_mode: SslMode::Disable,
        ca_file: None,
        aws_endpoint: Some(moto().endpoint.clone()),
        connect_wait: Duration::from_secs(5),
    }
}

fn migrator(settings: Settings, sources: Sources) -> Migrator {
    Migrator::new(&moto().sdk_config(), settings, sources).unwrap()
}

/// A request as CloudFormation sends it.
fn request(kind: &str, answers: &Answers, physical_id: Option<&str>) -> Value {
    let mut request = json!({
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:wardline-migrate",
        "ResponseURL": answers.url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/wardline/1",
        "RequestId": Uuid::new_v4().to_string(),
        "ResourceType": "Custom::WardlineSchema",
        "LogicalResourceId": "DatabaseSchema",
        "ResourceProperties": {"ServiceToken": "arn", "CodeVersion": "7"},
    });
    if let Some(id) = physical_id {
        request["PhysicalResourceId"] = json!(id);
        request["OldResourceProperties"] = json!({"ServiceToken": "arn", "CodeVersion": "6"});
    }
    request
}

/// Everything the schema consists of, and when each file was recorded.
async fn fingerprint(db: &TestDb) -> String {
    db.admin
        .query_one(
            "select md5(string_agg(x, '|' order by x)) from (
               select format('%s.%s %s', n.nspname, p.proname, md5(p.prosrc)) as x
                 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                where n.nspname in ('auth', 'api', 'app', 'audit')
               union all
               select format('%s %s %s %s', schemaname, tablename, policyname, qual) from pg_policies
               union all
               select format('%s.%s %s', table_schema, table_name, column_name)
                 from information_schema.columns
                where table_schema in ('app', 'audit', 'wardline_meta')
               union all
               select applied_at::text || name from wardline_meta.applied
             ) s",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Makes this database ask `wardline_authenticator` for its password (the cluster trusts
/// loopback otherwise), and waits until the server applies it.
async fn require_password(db: &TestDb) -> bool {
    let Some(cluster) = cluster() else {
        return false;
    };
    let hba = cluster.dir.join("data").join("pg_hba.conf");
    let text = std::fs::read_to_string(&hba).unwrap();
    let line = format!(
        "host {} wardline_authenticator 127.0.0.1/32 scram-sha-256\n",
        db.name
    );
    if !text.contains(&line) {
        std::fs::write(&hba, format!("{line}{text}")).unwrap();
    }
    db.admin
        .execute("select pg_reload_conf()", &[])
        .await
        .unwrap();
    for _ in 0..50 {
        if log_in(db, "not-the-password").await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server kept trusting wardline_authenticator after the reload");
}

async fn log_in(db: &TestDb, password: &str) -> Result<(), tokio_postgres::Error> {
    let admin: tokio_postgres::Config = db.admin_url().parse().unwrap();
    let mut config = admin.clone();
    config.user("wardline_authenticator").password(password);
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    let answer = client.query_one("select current_user::text", &[]).await;
    drop(client);
    driver.abort();
    let user: String = answer?.get(0);
    assert_eq!(user, "wardline_authenticator");
    Ok(())
}

/// `password` logs `wardline_authenticator` in, another does not; the server keeps a SCRAM
/// verifier, never the text.
async fn assert_password_is(db: &TestDb, password: &str) {
    db.assert_authenticator_password_is_scram(password).await;
    if require_password(db).await {
        log_in(db, password)
            .await
            .unwrap_or_else(|e| panic!("wardline_authenticator could not log in: {e}"));
    }
}

#[tokio::test]
async fn a_fresh_database_gets_the_whole_schema_and_the_authenticator_its_password() {
    let _role = ROLE.lock().await;
    let db = TestDb::empty().await;
    let logins = logins(&db).await;
    let migrator = migrator(settings(&db, &logins), Sources::embedded().unwrap());
    let answers = Answers::start().await;
    migrator
        .handle(request("Create", &answers, None))
        .await
        .unwrap();

    let (answer, text) = answers.only();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["LogicalResourceId"], "DatabaseSchema");
    assert_eq!(
        answer["PhysicalResourceId"],
        json!(format!("wardline-schema:{}@127.0.0.1", db.name))
    );
    assert!(!text.contains(&logins.password));
    let migrations = std::fs::read_dir(xtask::workspace_root().join("db/migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
    let admin_only = 1; // 0001_roles.sql runs as the admin on every run, unrecorded.
    assert_eq!(
        answer["Data"]["MigrationsApplied"],
        json!((migrations - admin_only).to_string())
    );
    let recorded: i64 = db
        .admin
        .query_one(
            "select count(*) from wardline_meta.applied where kind = 'migration'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded as usize, migrations - admin_only);
    let entry_points: i64 = db
        .admin
        .query_one(
            "select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
             where n.nspname = 'api'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(entry_points > 50, "{entry_points}");
    assert_password_is(&db, &logins.password).await;
}

#[tokio::test]
async fn an_already_migrated_database_is_left_as_it_is_and_the_update_succeeds() {
    let _role = ROLE.lock().await;
    let db = TestDb::new().await;
    let before = fingerprint(&db).await;
    let logins = logins(&db).await;
    let migrator = migrator(settings(&db, &logins), Sources::embedded().unwrap());
    let answers = Answers::start().await;
    let physical_id = format!("wardline-schema:{}@127.0.0.1", db.name);
    migrator
        .handle(request("Update", &answers, Some(&physical_id)))
        .await
        .unwrap();

    let (answer, _) = answers.only();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["PhysicalResourceId"], json!(physical_id));
    for applied in [
        "MigrationsApplied",
        "FunctionFilesApplied",
        "PolicyFilesApplied",
    ] {
        assert_eq!(answer["Data"][applied], "0", "{answer}");
    }
    assert_eq!(fingerprint(&db).await, before);
    assert_password_is(&db, &logins.password).await;
}

#[tokio::test]
async fn a_failing_migration_fails_the_deploy_names_no_value_and_leaves_nothing_applied() {
    let _role = ROLE.lock().await;
    let db = TestDb::new().await;
    let before = fingerprint(&db).await;
    let logins = logins(&db).await;
    // Its first statement works, its second fails on a row's value (a patient's name, say).
    let sources = Sources::embedded().unwrap().with_migration(
        "9999_fails.sql",
        "create table app.half_applied (name text unique);
         insert into app.half_applied values ('Jane Roe'), ('Jane Roe');",
    );
    let migrator = migrator(settings(&db, &logins), sources);
    let answers = Answers::start().await;
    let physical_id = format!("wardline-schema:{}@127.0.0.1", db.name);
    migrator
        .handle(request("Update", &answers, Some(&physical_id)))
        .await
        .unwrap();

    let (answer, text) = answers.only();
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(
        reason.contains("9999_fails.sql")
            && reason.contains("SQLSTATE 23505")
            && reason.contains("half_applied_name_key"),
        "{reason}"
    );
    assert!(!text.contains("Jane"), "a value reached the reason: {text}");
    assert!(!text.contains(&logins.password));
    // The runner's one transaction: no new table, no record, no function or policy lost.
    assert_eq!(fingerprint(&db).await, before);
    let table: Option<String> = db
        .admin
        .query_one("select to_regclass('app.half_applied')::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(table, None);
}

#[tokio::test]
async fn a_delete_succeeds_without_reaching_the_database_or_the_secrets() {
    let db = TestDb::new().await;
    let mut settings = settings(
        &db,
        &Logins {
            master: "test/no-such-master".into(),
            authenticator: "test/no-such-authenticator".into(),
            password: String::new(),
        },
    );
    settings.port = 1; // nothing listens there
    let migrator = migrator(settings, Sources::embedded().unwrap());
    let answers = Answers::start().await;
    migrator
        .handle(request("Delete", &answers, Some("wardline-schema:kept")))
        .await
        .unwrap();
    let (answer, _) = answers.only();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["PhysicalResourceId"], "wardline-schema:kept");
}

#[tokio::test]
async fn a_create_that_cannot_read_the_master_secret_fails_with_a_reason() {
    let db = TestDb::empty().await;
    let settings = settings(
        &db,
        &Logins {
            master: "test/no-such-master".into(),
            authenticator: "test/no-such-authenticator".into(),
            password: String::new(),
        },
    );
    let migrator = migrator(settings, Sources::embedded().unwrap());
    let answers = Answers::start().await;
    migrator
        .handle(request("Create", &answers, None))
        .await
        .unwrap();
    let (answer, _) = answers.only();
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    assert!(
        answer["Reason"]
            .as_str()
            .unwrap()
            .contains("test/no-such-master"),
        "{answer}"
    );
    assert!(answer["PhysicalResourceId"].as_str().is_some());
}

#[tokio::test]
async fn rotating_the_authenticator_secret_hands_the_new_password_over() {
    let _role = ROLE.lock().await;
    let db = TestDb::new().await;
    let logins = logins(&db).await;
    let migrator = migrator(settings(&db, &logins), Sources::embedded().unwrap());
    let token = Uuid::new_v4().to_string();
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        migrator
            .handle(json!({
                "Step": step,
                "SecretId": logins.authenticator,
                "ClientRequestToken": token,
            }))
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    let secrets = aws_sdk_secretsmanager::Client::new(&moto().sdk_config());
    let current = secrets
        .get_secret_value()
        .secret_id(&logins.authenticator)
        // By stage: moto answers a plain read with the secret's first version.
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    assert_eq!(current.version_id(), Some(token.as_str()));
    let rotated: Value = serde_json::from_str(current.secret_string().unwrap()).unwrap();
    let password = rotated["password"].as_str().unwrap();
    assert_eq!(rotated["username"], "wardline_authenticator");
    assert_ne!(password, logins.password);
    assert!(
        password.len() == 40 && password.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{}",
        password.len()
    );
    assert_password_is(&db, password).await;
    // Secrets Manager may repeat a step: a finished rotation stays finished.
    migrator
        .handle(json!({
            "Step": "finishSecret",
            "SecretId": logins.authenticator,
            "ClientRequestToken": token,
        }))
        .await
        .unwrap();
    // Another secret is refused.
    let other = migrator
        .handle(json!({
            "Step": "createSecret",
            "SecretId": logins.master,
            "ClientRequestToken": Uuid::new_v4().to_string(),
        }))
        .await;
    assert!(other.is_err(), "{other:?}");
}
