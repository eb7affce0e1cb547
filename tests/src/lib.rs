//! The integration-test harness. Each test binary starts one throwaway PostgreSQL cluster
//! (or uses `DATABASE_URL`), migrates a template database once, and gives every test its own
//! database cloned from it, so tests are isolated and run in parallel. A dev ES256 key is
//! served as JWKS, and functions are called through the same `dispatch` the Lambda runtime
//! uses, with the real roles and RLS policies underneath.

use anyhow::{Context as _, Result};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, OnceLock,
};
use tokio_postgres::Client;
use uuid::Uuid;
use wardline_shared::{config::Config, http::Function, Context};
use xtask::keys::{DevKeys, Identity};

pub use xtask::keys;

pub mod booking;
pub mod care;
pub mod delay_proxy;
pub mod delivery;
pub mod latency;
pub mod load;
pub mod portal;
pub mod prescribing;
pub mod providers;
pub mod tls;

struct Shared {
    /// Superuser URL of the server (any database).
    admin_url: String,
    template: String,
    keys: DevKeys,
    /// The portal's signing key (PKCS#8 PEM), fresh per test binary.
    portal_key: DevKeys,
    jwks_url: String,
    /// The runtime that serves JWKS for the whole binary.
    runtime: tokio::runtime::Handle,
    cluster: Option<xtask::pg::Cluster>,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

/// The portal settings the test functions run with: portals at `{slug}.portal.wardline.test`,
/// Twilio calling [`TWILIO_WEBHOOK_URL`] signed with [`TWILIO_AUTH_TOKEN`].
pub const PORTAL_BASE_DOMAIN: &str = "wardline.test";
pub const OTP_KEY: &str = "b3RwLWtleS1mb3ItdGVzdHMtb25seS0zMi1ieXRlcyE=";
pub const TWILIO_AUTH_TOKEN: &str = "test-twilio-auth-token";
pub const TWILIO_WEBHOOK_URL: &str = "https://api.wardline.test/api/webhooks/twilio";

/// The notes keyring the test functions run with (two keys: rotation is exercised).
pub const NOTES_KEYS: &str = "test-2:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,test-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

fn shared() -> &'static Shared {
    SHARED.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => return tx.send(Err(anyhow::Error::from(e))).unwrap_or(()),
            };
            let handle = runtime.handle().clone();
            let setup = runtime.block_on(start(handle));
            let failed = setup.is_err();
            if tx.send(setup).is_err() || failed {
                return;
            }
            // Keep serving JWKS for as long as the test binary runs.
            runtime.block_on(std::future::pending::<()>());
        });
        match rx.recv() {
            Ok(Ok(shared)) => shared,
            Ok(Err(e)) => panic!("test harness setup failed: {e:?}"),
            Err(e) => panic!("test harness setup thread died: {e}"),
        }
    })
}

async fn start(runtime: tokio::runtime::Handle) -> Result<Shared> {
    let (admin_url, cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let exe = std::env::current_exe()?;
            let name = exe
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("tests")
                .to_owned();
            let dir = xtask::target_dir()
                .join("test-pg")
                .join(format!("{name}-{}", std::process::id()));
            let cluster = xtask::pg::Cluster::start(&dir, xtask::pg::Durability::Throwaway)?;
            (cluster.admin_url("postgres"), Some(cluster))
        }
    };
    let template = format!("wardline_tpl_{}", std::process::id());
    let admin = xtask::connect(&admin_url).await?;
    admin
        .batch_execute(&format!("create database {template}"))
        .await?;
    drop(admin);
    let mut template_admin =
        xtask::connect(&xtask::with_database(&admin_url, &template, None)?).await?;
    wardline_shared::migrate::apply(&mut template_admin)
        .await
        .context("migrating the template database")?;
    drop(template_admin);

    let keys = DevKeys::generate()?;
    let (jwks_url, _) = serve_jwks_on(&runtime, keys.jwks()?).await?;
    Ok(Shared {
        admin_url,
        template,
        keys,
        portal_key: DevKeys::generate()?,
        jwks_url,
        runtime,
        cluster,
    })
}

async fn serve_jwks_on(
    runtime: &tokio::runtime::Handle,
    jwks: Value,
) -> Result<(String, Arc<AtomicUsize>)> {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr()?);
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        axum::serve(listener, app).await
    });
    Ok((url, hits))
}

/// The runtime that lives as long as the test binary: for stand-ins shared by its tests.
pub fn runtime() -> tokio::runtime::Handle {
    shared().runtime.clone()
}

/// This binary's own cluster; `None` with `DATABASE_URL` (a server the tests must not restart).
pub fn cluster() -> Option<&'static xtask::pg::Cluster> {
    shared().cluster.as_ref()
}

/// A JWKS endpoint of its own, counting its requests (for cache and refetch tests).
pub async fn serve_jwks(jwks: Value) -> Result<(String, Arc<AtomicUsize>)> {
    let shared = shared();
    serve_jwks_on(&shared.runtime, jwks).await
}

/// A fresh, migrated database for one test.
pub struct TestDb {
    pub name: String,
    /// Superuser connection to this database: fixtures and inspection, bypassing RLS.
    pub admin: Client,
    pub ctx: Context,
}

impl TestDb {
    pub async fn new() -> TestDb {
        TestDb::create().await.expect("creating the test database")
    }

    async fn create() -> Result<TestDb> {
        let shared = shared();
        let name = format!(
            "{}_t{}",
            shared.template,
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        let server = xtask::connect(&shared.admin_url).await?;
        server
            .batch_execute(&format!(
                "create database {name} template {}",
                shared.template
            ))
            .await?;
        let admin = xtask::connect(&xtask::with_database(&shared.admin_url, &name, None)?).await?;
        let ctx = Context::new(TestDb::config_for(&name, |_| {})?)?;
        Ok(TestDb { name, admin, ctx })
    }

    /// A fresh, empty database (nothing migrated into it; the cluster's roles exist), for the
    /// deployment's migrate function to start from.
    pub async fn empty() -> TestDb {
        async {
            let shared = shared();
            let name = format!(
                "{}_e{}",
                shared.template,
                NEXT_DB.fetch_add(1, Ordering::SeqCst)
            );
            let server = xtask::connect(&shared.admin_url).await?;
            server
                .batch_execute(&format!("create database {name} template template0"))
                .await?;
            let admin =
                xtask::connect(&xtask::with_database(&shared.admin_url, &name, None)?).await?;
            let ctx = Context::new(TestDb::config_for(&name, |_| {})?)?;
            anyhow::Ok(TestDb { name, admin, ctx })
        }
        .await
        .expect("creating an empty database")
    }

    /// The superuser's connection settings for this database (key=value).
    pub fn admin_url(&self) -> String {
        xtask::with_database(&shared().admin_url, &self.name, None).expect("a connection string")
    }

    fn config_for(name: &str, tweak: impl FnOnce(&mut Config)) -> Result<Config> {
        let shared = shared();
        let app_url =
            xtask::with_database(&shared.admin_url, name, Some("wardline_authenticator"))?;
        let jwks_url = shared.jwks_url.clone();
        let portal_key = shared.portal_key.pem().to_owned();
        let mut config = Config::from_lookup(|k| {
            Some(match k {
                "DATABASE_URL" => app_url.clone(),
                "WARDLINE_DB_SSLMODE" => "disable".into(),
                "WARDLINE_JWKS_URL" => jwks_url.clone(),
                "WARDLINE_JWT_ISSUER" => keys::ISSUER.into(),
                "WARDLINE_JWT_AUDIENCE" => keys::AUDIENCE.into(),
                "WARDLINE_NOTES_KEYS" => NOTES_KEYS.into(),
                "WARDLINE_PORTAL_SIGNING_KEY" => portal_key.clone(),
                "WARDLINE_OTP_KEY" => OTP_KEY.into(),
                "WARDLINE_PORTAL_BASE_DOMAIN" => PORTAL_BASE_DOMAIN.into(),
                "WARDLINE_TWILIO_AUTH_TOKEN" => TWILIO_AUTH_TOKEN.into(),
                "WARDLINE_TWILIO_WEBHOOK_URL" => TWILIO_WEBHOOK_URL.into(),
                "WARDLINE_SENDGRID_WEBHOOK_KEY" => delivery::sendgrid_public_key(),
                "WARDLINE_UNSUBSCRIBE_KEY" => delivery::UNSUBSCRIBE_KEY.into(),
                _ => return None,
            })
        })?;
        tweak(&mut config);
        Ok(config)
    }

    /// The configuration this database's functions run with, changed by `tweak`.
    pub fn config(&self, tweak: impl FnOnce(&mut Config)) -> Config {
        TestDb::config_for(&self.name, tweak).expect("test configuration")
    }

    /// Another superuser connection to this database (for concurrent fixtures).
    pub async fn superuser(&self) -> Client {
        self.connect_as(None).await
    }

    /// Runs `sql` as the database owner could tamper with the audit trail: as the superuser,
    /// with the append-only triggers off.
    pub async fn as_owner(&self, sql: &str) {
        self.admin
            .batch_execute(&format!(
                "begin; set local session_replication_role = replica; {sql}; commit;"
            ))
            .await
            .expect("tampering as the owner");
    }

    /// Asserts that the server keeps `wardline_authenticator`'s password as a SCRAM verifier,
    /// never as the text `password`.
    pub async fn assert_authenticator_password_is_scram(&self, password: &str) {
        let stored: String = self
            .admin
            .query_one(
                "select rolpassword from pg_authid where rolname = 'wardline_authenticator'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
        assert!(!stored.contains(password));
    }

    /// The first broken link of `clinic`'s audit chain (`audit.first_broken_link`); `None`
    /// when the chain verifies.
    pub async fn first_broken_link(&self, clinic: Uuid) -> Option<i64> {
        self.admin
            .query_one("select audit.first_broken_link($1)", &[&clinic])
            .await
            .unwrap()
            .get(0)
    }

    /// A connection as `wardline_authenticator`, the role functions log in as.
    pub async fn authenticator(&self) -> Client {
        self.connect_as(Some("wardline_authenticator")).await
    }

    async fn connect_as(&self, user: Option<&str>) -> Client {
        let url = xtask::with_database(&shared().admin_url, &self.name, user)
            .expect("a connection string");
        xtask::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connecting as {user:?}: {e}"))
    }

    /// `n` new patients of `org`, each in the care of every clinician of `org` (so any of
    /// them may book the patient).
    pub async fn patients(&self, org: Uuid, n: usize) -> Vec<Uuid> {
        self.admin
            .query(
                "with new as (
                   insert into app.patients (org_id, first_name, last_name)
                   select $1, 'Extra', 'Patient ' || i from generate_series(1, $2::int) i
                   returning id
                 ), team as (
                   insert into app.care_team (org_id, patient_id, clinician_id, assigned_by,
                                              updated_by)
                   select $1, new.id, m.clinician_id, m.clinician_id, m.clinician_id
                   from new, app.clinic_memberships m where m.org_id = $1
                 )
                 select id from new",
                &[&org, &(n as i32)],
            )
            .await
            .expect("inserting patients")
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// One new patient of `org` (see [`TestDb::patients`]).
    pub async fn patient(&self, org: Uuid) -> Uuid {
        self.patients(org, 1).await[0]
    }

    /// A valid token for `who`: staff tokens signed by the key the JWKS serves (the identity
    /// provider), patient tokens by the portal's key, as in production.
    pub fn token(&self, who: &Identity) -> String {
        if who.app_role == "patient" {
            let (Some(patient), Some(org)) = (who.patient_id, who.org_id) else {
                panic!("a patient identity needs patient_id and org_id: {who:?}");
            };
            return self
                .ctx
                .portal()
                .expect("the tests configure the portal")
                .signing
                .issue(who.sub, patient, org)
                .expect("issuing a patient token");
        }
        shared().keys.mint(who, 600).expect("minting a token")
    }

    /// Signs arbitrary claims with the portal's key, as Wardline's own patient tokens are (for
    /// tokens the portal would never issue).
    pub fn sign_as_portal(&self, claims: &Value) -> String {
        self.ctx
            .portal()
            .expect("the tests configure the portal")
            .signing
            .sign(claims)
            .expect("signing")
    }

    /// Signs arbitrary claims with the served key (for broken-token tests).
    pub fn sign(&self, claims: &Value) -> String {
        shared().keys.sign(claims).expect("signing")
    }

    pub fn jwks(&self) -> Value {
        shared().keys.jwks().expect("jwks")
    }

    /// Calls `function` as `who` (a token of theirs), with a JSON body when there is one.
    pub async fn call_as(
        &self,
        function: &Function,
        who: &Identity,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let body = body.map(|b| b.to_string());
        self.call(
            function,
            method,
            path,
            Some(&self.token(who)),
            body.as_deref(),
        )
        .await
    }

    /// Calls `function` as API Gateway would, through `dispatch`.
    pub async fn call(
        &self,
        function: &Function,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        call_with(&self.ctx, function, method, path, token, body).await
    }
}

/// Calls `function` on any context.
pub async fn call_with(
    ctx: &Context,
    function: &Function,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    send(ctx, function, method, path, token, &[], body).await
}

/// Calls `function` with extra request headers (e.g. `Idempotency-Key`).
pub async fn send(
    ctx: &Context,
    function: &Function,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let mut request = http::Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some(text) => lambda_http::Body::Text(text.to_owned()),
        None => lambda_http::Body::Empty,
    };
    let request = request.body(body).expect("building a request");
    dispatch(ctx, function, request).await
}

/// Runs a prepared request through `dispatch`, as API Gateway would.
pub async fn dispatch(
    ctx: &Context,
    function: &Function,
    request: http::Request<lambda_http::Body>,
) -> Reply {
    let response = wardline_shared::http::dispatch(function, ctx, request).await;
    let status = response.status();
    let headers = response.headers().clone();
    let text = match response.body() {
        lambda_http::Body::Text(text) => text.clone(),
        lambda_http::Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    };
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body exactly as sent.
    pub text: String,
}

impl Reply {
    /// Asserts a problem+json response with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "status of {self:?}");
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "content type of {self:?}"
        );
        assert_eq!(self.body["code"], json!(code), "code of {self:?}");
        assert_eq!(
            self.body["status"],
            json!(status),
            "body status of {self:?}"
        );
    }
}

/// Two clinics with staff and patients, for tests to build on. Clinic A has the
/// `therapistPatientAssignment` flag; B too, unless a test turns it off. Each clinic's
/// patient is in the care of its therapist and of `both`.
pub struct World {
    pub clinic_a: Uuid,
    pub clinic_b: Uuid,
    /// Admin of A.
    pub admin_a: Uuid,
    /// Therapist in A only.
    pub therapist_a: Uuid,
    /// Therapist in both A and B.
    pub both: Uuid,
    /// Admin of B.
    pub admin_b: Uuid,
    /// Therapist in B only.
    pub therapist_b: Uuid,
    pub patient_a: Uuid,
    pub patient_b: Uuid,
    /// Active services (CPT 90837) of A and of B.
    pub service_a: Uuid,
    pub service_b: Uuid,
}

impl World {
    /// Inserts the fixture as the superuser.
    pub async fn create(db: &TestDb) -> World {
        let w = World {
            clinic_a: Uuid::new_v4(),
            clinic_b: Uuid::new_v4(),
            admin_a: Uuid::new_v4(),
            therapist_a: Uuid::new_v4(),
            both: Uuid::new_v4(),
            admin_b: Uuid::new_v4(),
            therapist_b: Uuid::new_v4(),
            patient_a: Uuid::new_v4(),
            patient_b: Uuid::new_v4(),
            service_a: Uuid::new_v4(),
            service_b: Uuid::new_v4(),
        };
        let sql = format!(
            "insert into app.clinics (id, slug, name, feature_flags) values
               ('{a}', 'alpha', 'Alpha Clinic', '{{\"therapistPatientAssignment\": true}}'),
               ('{b}', 'beta', 'Beta Clinic', '{{\"therapistPatientAssignment\": true}}');
             insert into app.clinicians (id, email, first_name, last_name, specialization) values
               ('{admin_a}', 'admin.a@test.example', 'Ada', 'Admin', null),
               ('{therapist_a}', 'therapist.a@test.example', 'Tom', 'Alpha', 'CBT'),
               ('{both}', 'both@test.example', 'Bea', 'Both', 'Psychiatry'),
               ('{admin_b}', 'admin.b@test.example', 'Bob', 'Beta-Admin', null),
               ('{therapist_b}', 'therapist.b@test.example', 'Tia', 'Beta', null);
             insert into app.clinic_memberships (org_id, clinician_id, kind, is_admin, approved) values
               ('{a}', '{admin_a}', 'therapist', true, true),
               ('{a}', '{therapist_a}', 'therapist', false, true),
               ('{a}', '{both}', 'prescriber', false, true),
               ('{b}', '{both}', 'prescriber', false, true),
               ('{b}', '{admin_b}', 'therapist', true, true),
               ('{b}', '{therapist_b}', 'therapist', false, true);
             insert into app.patients (id, org_id, first_name, last_name, email) values
               ('{patient_a}', '{a}', 'Pia', 'Patient', 'pia@test.example'),
               ('{patient_b}', '{b}', 'Quinn', 'Patient', 'quinn@test.example');
             insert into app.care_team (org_id, patient_id, clinician_id, assigned_by, updated_by) values
               ('{a}', '{patient_a}', '{therapist_a}', '{admin_a}', '{admin_a}'),
               ('{a}', '{patient_a}', '{both}', '{admin_a}', '{admin_a}'),
               ('{b}', '{patient_b}', '{therapist_b}', '{admin_b}', '{admin_b}'),
               ('{b}', '{patient_b}', '{both}', '{admin_b}', '{admin_b}');
             insert into app.services (id, org_id, name, cpt_code) values
               ('{service_a}', '{a}', 'Psychotherapy', '90837'),
               ('{service_b}', '{b}', 'Psychotherapy', '90837');",
            a = w.clinic_a,
            b = w.clinic_b,
            admin_a = w.admin_a,
            therapist_a = w.therapist_a,
            both = w.both,
            admin_b = w.admin_b,
            therapist_b = w.therapist_b,
            patient_a = w.patient_a,
            patient_b = w.patient_b,
            service_a = w.service_a,
            service_b = w.service_b,
        );
        db.admin
            .batch_execute(&sql)
            .await
            .expect("inserting the world");
        w
    }

    pub fn admin_of_a(&self) -> Identity {
        staff(self.admin_a, self.clinic_a, "admin")
    }

    pub fn therapist_of_a(&self) -> Identity {
        staff(self.therapist_a, self.clinic_a, "therapist")
    }

    pub fn both_at(&self, clinic: Uuid) -> Identity {
        staff(self.both, clinic, "therapist")
    }

    pub fn admin_of_b(&self) -> Identity {
        staff(self.admin_b, self.clinic_b, "admin")
    }

    pub fn patient_of_a(&self) -> Identity {
        Identity {
            sub: self.patient_a,
            org_id: Some(self.clinic_a),
            app_role: "patient",
            patient_id: Some(self.patient_a),
        }
    }
}

pub fn staff(sub: Uuid, org: Uuid, role: &'static str) -> Identity {
    Identity {
        sub,
        org_id: Some(org),
        app_role: role,
        patient_id: None,
    }
}

/// A patient of `org` signed in to its portal (acting for themselves).
pub fn patient(id: Uuid, org: Uuid) -> Identity {
    Identity {
        sub: id,
        org_id: Some(org),
        app_role: "patient",
        patient_id: Some(id),
    }
}

/// A pre-login portal caller (app_anon) that has entered clinic `org`.
pub fn anonymous_at(org: Uuid) -> Identity {
    Identity {
        sub: Uuid::nil(),
        org_id: Some(org),
        app_role: ANONYMOUS,
        patient_id: None,
    }
}

/// The `app_role` of [`anonymous_at`] identities: no role in the claims at all.
pub const ANONYMOUS: &str = "anonymous";

/// A clinician in a cross-clinic request (the prescription queue): no current clinic, their
/// set of clinics from `auth.my_org_ids()`.
pub fn cross_clinic(sub: Uuid) -> Identity {
    Identity {
        sub,
        org_id: None,
        app_role: "therapist",
        patient_id: None,
    }
}

/// A super admin in an all-clinics request (the admins' queue without a clinic): no current
/// clinic, every clinic's prescription work.
pub fn all_clinics(sub: Uuid) -> Identity {
    Identity {
        sub,
        org_id: None,
        app_role: "super_admin",
        patient_id: None,
    }
}

/// Runs `sql` as app_user with `who`'s claims (as app_anon in `who`'s clinic for
/// [`anonymous_at`], cross-clinic for [`cross_clinic`], in every clinic for [`all_clinics`]),
/// in a transaction that is rolled back.
pub async fn as_user(
    client: &mut Client,
    who: &Identity,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let begin = if who.org_id.is_none() && who.app_role == "therapist" {
        "select auth.begin_cross_clinic_request($1)"
    } else {
        "select auth.begin_request($1)"
    };
    tx.execute(begin, &[&claims_json(who)]).await?;
    if who.app_role == ANONYMOUS {
        tx.execute("select auth.enter_clinic($1)", &[&who.org_id])
            .await?;
    }
    if who.org_id.is_none() && who.app_role == "super_admin" {
        tx.execute("select auth.act_in_all_clinics()", &[]).await?;
    }
    let result = tx.query(sql, params).await;
    tx.rollback().await?;
    result
}

/// The uuids `sql` (one column) returns for `who` as app_user, sorted.
pub async fn ids_as(client: &mut Client, who: &Identity, sql: &str) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = as_user(client, who, sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect();
    ids.sort();
    ids
}

/// The canonical claims `auth.begin_request` receives for `who`.
pub fn claims_json(who: &Identity) -> Value {
    if who.app_role == ANONYMOUS {
        return json!({ "request_id": "test" });
    }
    json!({
        "sub": who.sub,
        "org_id": who.org_id,
        "app_role": who.app_role,
        "patient_id": who.patient_id,
        "request_id": "test",
    })
}
