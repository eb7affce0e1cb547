//! The prescription queue's fixture and outside world: a local S3 and Secrets Manager (moto's
//! server, one per test binary, which also holds the documents bucket), the pharmacy stand-in,
//! and three clinics whose prescriber `both` works for A and B (each with its own pharmacy account, letterhead and credentials)
//! but not C.

use crate::{runtime, staff, TestDb, World};
use provider_queue::{Outside, Settings};
use serde_json::json;
use std::sync::OnceLock;
use uuid::Uuid;
use wardline_shared::storage::{DocumentSettings, Documents};
use xtask::{keys::Identity, moto::Moto, pharmacy::Pharmacy};

/// The bucket every test binary's prescriptions go to.
pub const BUCKET: &str = "wardline-prescriptions-test";
/// The bucket every test binary's documents go to.
pub const DOCUMENTS_BUCKET: &str = "wardline-documents-test";

struct Services {
    moto: Moto,
    pharmacy: Pharmacy,
}

static SERVICES: OnceLock<Services> = OnceLock::new();

/// moto and the pharmacy stand-in, started on first use and kept for the whole binary.
fn services() -> &'static Services {
    SERVICES.get_or_init(|| {
        std::thread::spawn(|| {
            let moto = Moto::start().expect("starting moto's server");
            let handle = runtime();
            let pharmacy = handle
                .block_on(Pharmacy::start_on(&handle))
                .expect("starting the pharmacy stand-in");
            handle
                .block_on(moto.create_bucket(BUCKET))
                .expect("creating the test bucket");
            handle
                .block_on(moto.version_bucket(BUCKET))
                .expect("versioning the test bucket");
            handle
                .block_on(moto.create_bucket(DOCUMENTS_BUCKET))
                .expect("creating the documents bucket");
            Services { moto, pharmacy }
        })
        .join()
        .expect("starting the prescribing services")
    })
}

/// The pharmacy stand-in (shared by the binary's tests; accounts are per test).
pub fn pharmacy() -> &'static Pharmacy {
    &services().pharmacy
}

/// The `WARDLINE_PRESCRIPTIONS_KMS_KEY_ID` the tests' functions store PDFs under (SSE-KMS).
pub const KMS_KEY_ID: &str =
    "arn:aws:kms:us-east-1:123456789012:key/8a1e0f36-6d6c-4f7e-9b7a-2f1d3c4b5a69";

/// Lets `db`'s functions send prescriptions: the [`Outside`] extension, against moto and the
/// pharmacy stand-in.
pub fn connect_outside(db: &mut TestDb) {
    let services = services();
    let settings = Settings {
        bucket: BUCKET.into(),
        kms_key_id: Some(KMS_KEY_ID.into()),
        pharmacy_url: services.pharmacy.url.clone(),
        aws_endpoint: Some(services.moto.endpoint.clone()),
    };
    let outside = Outside::new(&services.moto.sdk_config(), settings).expect("outside clients");
    db.ctx.extensions.insert(outside);
}

/// Lets `db`'s functions keep documents: the [`Documents`] extension, against moto, SSE-KMS
/// under [`KMS_KEY_ID`].
pub fn connect_documents(db: &mut TestDb) {
    let moto = &services().moto;
    let settings = DocumentSettings {
        bucket: DOCUMENTS_BUCKET.into(),
        kms_key_id: Some(KMS_KEY_ID.into()),
        aws_endpoint: Some(moto.endpoint.clone()),
    };
    db.ctx
        .extensions
        .insert(Documents::new(&moto.sdk_config(), settings));
}

/// moto's server (started on first use).
pub fn moto() -> &'static Moto {
    &services().moto
}

/// The PDF stored under `key`.
pub async fn stored_pdf(key: &str) -> Vec<u8> {
    object(key, None).await
}

/// Every version put under `key`, newest first (as S3 lists them): how many times it was
/// stored, and what.
pub async fn stored_versions(key: &str) -> Vec<Vec<u8>> {
    let listed = services()
        .moto
        .s3()
        .list_object_versions()
        .bucket(BUCKET)
        .prefix(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("listing the versions of s3://{BUCKET}/{key}: {e:?}"));
    let mut stored = Vec::new();
    for version in listed.versions().iter().filter(|v| v.key() == Some(key)) {
        stored.push(object(key, version.version_id()).await);
    }
    stored
}

/// The bytes of `key`, of `version` or the current one.
async fn object(key: &str, version: Option<&str>) -> Vec<u8> {
    let object = services()
        .moto
        .s3()
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|e| panic!("reading s3://{BUCKET}/{key} ({version:?}): {e:?}"));
    object
        .body
        .collect()
        .await
        .expect("the PDF's bytes")
        .into_bytes()
        .to_vec()
}

/// How the object under `key` is stored: its `ServerSideEncryption` and SSE-KMS key id, as
/// S3's HEAD answers them.
pub async fn stored_encryption(key: &str) -> (Option<String>, Option<String>) {
    let head = services()
        .moto
        .s3()
        .head_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("HEAD s3://{BUCKET}/{key}: {e:?}"));
    (
        head.server_side_encryption().map(|e| e.as_str().to_owned()),
        head.ssekms_key_id().map(str::to_owned),
    )
}

/// The text of a PDF's pages, as a reader would extract it.
pub fn pdf_text(pdf: &[u8]) -> String {
    let document = lopdf::Document::load_mem(pdf).expect("a readable PDF");
    let pages: Vec<u32> = document.get_pages().keys().copied().collect();
    document.extract_text(&pages).expect("the PDF's text")
}

/// A clinic's pharmacy account: its secret (in moto) and the stand-in's account.
#[derive(Debug, Clone)]
pub struct Account {
    pub secret_ref: String,
    pub account_id: String,
    pub api_key: String,
}

/// Creates an account for a clinic and points the clinic at it.
pub async fn pharmacy_account(db: &TestDb, clinic: Uuid) -> Account {
    let account = Account {
        secret_ref: format!("wardline/pharmacy/{}", Uuid::new_v4()),
        account_id: format!("acct-{}", Uuid::new_v4()),
        api_key: format!("key-{}", Uuid::new_v4()),
    };
    services()
        .moto
        .create_secret(
            &account.secret_ref,
            &json!({ "accountId": account.account_id, "apiKey": account.api_key }).to_string(),
        )
        .await
        .expect("creating the pharmacy secret");
    pharmacy().add_account(&account.account_id, &account.api_key);
    db.admin
        .execute(
            "update app.clinics set pharmacy_enabled = true, pharmacy_secret_ref = $2
             where id = $1",
            &[&clinic, &account.secret_ref],
        )
        .await
        .expect("connecting the clinic to its pharmacy account");
    account
}

/// World's clinics A and B plus C. `both` (a member of A and B) has a prescriber profile
/// assigned to A and B with different title lines, DEA numbers and licences; every clinic
/// has a letterhead, a pharmacy account and a patient.
pub struct Prescribing {
    pub w: World,
    pub clinic_c: Uuid,
    pub patient_c: Uuid,
    pub provider: Uuid,
    pub super_admin: Uuid,
    pub accounts: [Account; 3],
}

/// What `both`'s assignment at A and at B says.
pub const TITLE_A: &str = "Dr. Bea Both, MD - Alpha Psychiatry";
pub const DEA_A: &str = "AB1234563";
pub const TITLE_B: &str = "Bea Both, PMHNP - Beta Behavioral";
pub const DEA_B: &str = "BB7654329";

impl Prescribing {
    pub async fn create(db: &TestDb) -> Prescribing {
        let w = World::create(db).await;
        let (clinic_c, patient_c, provider, super_admin) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        db.admin
            .batch_execute(&format!(
                "insert into app.clinics (id, slug, name) values ('{c}', 'gamma', 'Gamma Clinic');
                 insert into app.patients (id, org_id, first_name, last_name, date_of_birth)
                 values ('{patient_c}', '{c}', 'Cora', 'Gamma', '1980-02-03');
                 update app.patients set date_of_birth = '1990-05-06' where id in ('{pa}', '{pb}');
                 update app.clinics set letterhead = jsonb_build_object(
                   'address', name || ', 1 Main Street', 'phone', '+1 555 0100')
                 where id in ('{a}', '{b}', '{c}');
                 update app.clinicians set npi = '1234567893' where id = '{both}';
                 insert into app.clinicians (id, email, first_name, last_name, is_super_admin)
                 values ('{super_admin}', 'root@test.example', 'Sue', 'Root', true);
                 insert into app.providers (id, clinician_id) values ('{provider}', '{both}');
                 insert into app.provider_clinics (provider_id, org_id, is_primary, title_line,
                   dea_number, license_number, license_state) values
                   ('{provider}', '{a}', true, '{TITLE_A}', '{DEA_A}', 'NY-111', 'NY'),
                   ('{provider}', '{b}', false, '{TITLE_B}', '{DEA_B}', 'NJ-222', 'NJ');",
                a = w.clinic_a,
                b = w.clinic_b,
                c = clinic_c,
                pa = w.patient_a,
                pb = w.patient_b,
                both = w.both,
            ))
            .await
            .expect("inserting the prescribing fixture");
        let accounts = [
            pharmacy_account(db, w.clinic_a).await,
            pharmacy_account(db, w.clinic_b).await,
            pharmacy_account(db, clinic_c).await,
        ];
        Prescribing {
            w,
            clinic_c,
            patient_c,
            provider,
            super_admin,
            accounts,
        }
    }

    /// The prescriber, signed in with clinic `current` as their token's clinic.
    pub fn prescriber_at(&self, current: Uuid) -> Identity {
        self.w.both_at(current)
    }

    pub fn super_admin(&self) -> Identity {
        staff(self.super_admin, self.w.clinic_a, "super_admin")
    }

    /// The benchmarks' queue: `clinics` clinics in all (A, B and C plus `bench-4…`), each with a
    /// patient and `per_kind` waiting paid invoices, refills and orders (plus as many handled
    /// ones); the prescriber works for A, B and C. Analyzed afterwards.
    pub async fn queue_workload(&self, db: &TestDb, clinics: i32, per_kind: i32) {
        db.admin
            .batch_execute(&format!(
                "insert into app.clinics (slug, name)
                 select 'bench-' || n, 'Bench clinic ' || n from generate_series(4, {clinics}) n;
                 insert into app.patients (org_id, first_name, last_name)
                 select id, 'Bench', 'Patient' from app.clinics where slug like 'bench-%';
                 insert into app.provider_clinics (provider_id, org_id)
                 values ('{provider}', '{c}');
                 with clinic_patient as (
                   select distinct on (org_id) org_id, id from app.patients order by org_id, id
                 ), work as (
                   select cp.org_id, cp.id as patient_id, n
                   from clinic_patient cp, generate_series(1, {per_kind} * 2) n
                 ), invoices as (
                   insert into app.invoices (org_id, patient_id, description, amount_cents,
                                             status, paid_at, prescription_status, processed_at)
                   select org_id, patient_id, 'Visit', 10000, 'paid',
                          now() - n * interval '1 minute',
                          case when n % 2 = 0 then 'pending' else 'processed' end,
                          case when n % 2 = 0 then null else now() end
                   from work returning 1
                 ), refills as (
                   insert into app.refills (org_id, patient_id, medication, status, queued_at)
                   select org_id, patient_id, 'Sertraline 50 mg',
                          case when n % 2 = 0 then 'PENDING_PROVIDER' else 'PRESCRIBED' end,
                          now() - n * interval '1 minute' - interval '20 seconds'
                   from work returning 1
                 )
                 insert into app.orders (org_id, patient_id, medication, quantity, directions,
                                         status, queued_at)
                 select org_id, patient_id, 'Sertraline', '30 tablets', 'One daily',
                        case when n % 2 = 0 then 'queued_for_provider' else 'cancelled' end,
                        now() - n * interval '1 minute' - interval '40 seconds'
                 from work;
                 analyze;",
                provider = self.provider,
                c = self.clinic_c,
            ))
            .await
            .expect("the queue workload");
    }

    /// The patient of `clinic` in this fixture.
    pub fn patient_of(&self, clinic: Uuid) -> Uuid {
        if clinic == self.w.clinic_a {
            self.w.patient_a
        } else if clinic == self.w.clinic_b {
            self.w.patient_b
        } else {
            self.patient_c
        }
    }
}

/// A paid, unprocessed invoice of `clinic`, paid `minutes_ago`.
pub async fn paid_invoice(db: &TestDb, clinic: Uuid, patient: Uuid, minutes_ago: i32) -> Uuid {
    db.admin
        .query_one(
            "insert into app.invoices (org_id, patient_id, description, amount_cents, status,
                                       paid_at)
             values ($1, $2, 'Initial consultation', 15000, 'paid',
                     now() - make_interval(mins => $3))
             returning id",
            &[&clinic, &patient, &minutes_ago],
        )
        .await
        .expect("inserting an invoice")
        .get(0)
}

/// A refill of `clinic` in `status`, queued `minutes_ago`.
pub async fn refill(
    db: &TestDb,
    clinic: Uuid,
    patient: Uuid,
    status: &str,
    minutes_ago: i32,
) -> Uuid {
    db.admin
        .query_one(
            "insert into app.refills (org_id, patient_id, medication, status, queued_at)
             values ($1, $2, 'Sertraline 50 mg', $3, now() - make_interval(mins => $4))
             returning id",
            &[&clinic, &patient, &status, &minutes_ago],
        )
        .await
        .expect("inserting a refill")
        .get(0)
}

/// An order of `clinic` queued for a prescriber `minutes_ago`.
pub async fn queued_order(db: &TestDb, clinic: Uuid, patient: Uuid, minutes_ago: i32) -> Uuid {
    db.admin
        .query_one(
            "insert into app.orders (org_id, patient_id, medication, strength, quantity,
                                     directions, refills, queued_at)
             values ($1, $2, 'Sertraline', '50 mg', '30 tablets',
                     'Take one tablet by mouth every morning.', 2,
                     now() - make_interval(mins => $3))
             returning id",
            &[&clinic, &patient, &minutes_ago],
        )
        .await
        .expect("inserting an order")
        .get(0)
}
