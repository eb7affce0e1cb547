//! Document uploads (issue 20): a presigned PUT is scoped to its one key and its declared
//! headers (checked by verifying its SigV4 query signature as S3 does, since moto does not);
//! an upload counts only once S3 holds exactly the declared size and type; downloads are
//! presigned GETs, audited; other clinics and other patients get 404; keys carry no PHI.

use hmac::{Hmac, Mac};
use http::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wardline_tests::{
    patient,
    portal::as_patient,
    prescribing::{connect_documents, moto, DOCUMENTS_BUCKET},
    Reply, TestDb, World,
};
use xtask::keys::Identity;

/// The secret moto's clients sign with (`Moto::sdk_config`).
const SECRET: &str = "local";
const PDF: &[u8] = b"%PDF-1.7 a test document";

async fn staff(
    db: &TestDb,
    who: &Identity,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    db.call_as(&records::FUNCTION, who, method, path, body)
        .await
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Whether S3 would accept presigned `url` for `method` sent with `headers`: its SigV4 query
/// signature recomputed over what is actually sent.
fn signature_valid(method: &str, url: &str, headers: &[(&str, &str)]) -> bool {
    let rest = url.split_once("://").unwrap().1;
    let (authority, path_query) = rest.split_at(rest.find('/').unwrap());
    let (path, query) = path_query.split_once('?').unwrap();
    let mut pairs: Vec<(&str, &str)> = query
        .split('&')
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let param = |name: &str| pairs.iter().find(|(k, _)| *k == name).unwrap().1.to_owned();
    let signature = param("X-Amz-Signature");
    let date = param("X-Amz-Date");
    let scope = param("X-Amz-Credential")
        .split_once("%2F")
        .unwrap()
        .1
        .replace("%2F", "/");
    let signed = param("X-Amz-SignedHeaders").replace("%3B", ";");
    pairs.retain(|(k, _)| *k != "X-Amz-Signature");
    pairs.sort();
    let mut canonical_headers = String::new();
    for name in signed.split(';') {
        let value = if name == "host" {
            Some(authority)
        } else {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        let Some(value) = value else { return false };
        canonical_headers.push_str(&format!("{name}:{}\n", value.trim()));
    }
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let canonical = format!(
        "{method}\n{path}\n{}\n{canonical_headers}\n{signed}\nUNSIGNED-PAYLOAD",
        query.join("&")
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = format!("AWS4{SECRET}").into_bytes();
    for part in scope.split('/') {
        key = hmac(&key, part);
    }
    hex::encode(hmac(&key, &to_sign)) == signature
}

/// The headers a presigned answer says to send.
fn upload_headers(upload: &Value) -> Vec<(String, String)> {
    upload["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// Sends `body` to presigned `upload` with its headers, as a browser would.
async fn put(upload: &Value, body: &[u8]) -> u16 {
    let mut request = reqwest::Client::new().put(upload["url"].as_str().unwrap());
    for (name, value) in upload_headers(upload) {
        if !name.eq_ignore_ascii_case("content-length") {
            request = request.header(name, value);
        }
    }
    request
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Puts `body` of `content_type` straight under the document's key (what a tampering client
/// would leave there).
async fn store(clinic: uuid::Uuid, document: &str, body: &[u8], content_type: &str) {
    moto()
        .s3()
        .put_object()
        .bucket(DOCUMENTS_BUCKET)
        .key(format!("documents/{clinic}/{document}"))
        .content_type(content_type)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap();
}

async fn setup() -> (TestDb, World) {
    let mut db = TestDb::new().await;
    connect_documents(&mut db);
    let w = World::create(&db).await;
    (db, w)
}

async fn patient_starts(db: &TestDb, w: &World, content_type: &str, size: usize) -> Reply {
    let started = as_patient(
        db,
        "alpha",
        &w.patient_of_a(),
        Method::POST,
        "/api/portal/uploads",
        Some(
            json!({ "fileName": "Jane Doe referral.pdf", "contentType": content_type,
                     "sizeBytes": size }),
        ),
    )
    .await;
    assert_eq!(started.status, 201, "{started:?}");
    started
}

#[tokio::test]
async fn a_presigned_put_is_scoped_to_its_key_and_declared_headers() {
    let (db, w) = setup().await;
    let started = patient_starts(&db, &w, "application/pdf", PDF.len()).await;
    let document = started.body["document"]["id"].as_str().unwrap().to_owned();
    let upload = &started.body["upload"];
    let url = upload["url"].as_str().unwrap();
    assert_eq!(upload["method"], "PUT");

    // The key: clinic and document only, nothing about the patient.
    let key = format!("documents/{}/{document}", w.clinic_a);
    assert!(
        url.contains(&format!("/{DOCUMENTS_BUCKET}/{key}?")),
        "{url}"
    );
    assert!(
        !url.contains(&w.patient_a.to_string()) && !url.contains("Jane"),
        "{url}"
    );

    let owned = upload_headers(upload);
    let headers: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(signature_valid("PUT", url, &headers), "{url} {headers:?}");
    // Another key, another content type, another size, no SSE-KMS: S3 refuses the signature.
    let other_key = url.replace(&document, &uuid::Uuid::new_v4().to_string());
    assert!(!signature_valid("PUT", &other_key, &headers));
    let swap = |name: &str, value: &'static str| -> Vec<(&str, &str)> {
        headers
            .iter()
            .map(|&(k, v)| {
                if k.eq_ignore_ascii_case(name) {
                    (k, value)
                } else {
                    (k, v)
                }
            })
            .collect()
    };
    assert!(!signature_valid(
        "PUT",
        url,
        &swap("content-type", "image/png")
    ));
    assert!(!signature_valid("PUT", url, &swap("content-length", "999")));
    let without_kms: Vec<(&str, &str)> = headers
        .iter()
        .copied()
        .filter(|(k, _)| !k.starts_with("x-amz-server-side-encryption"))
        .collect();
    assert!(!signature_valid("PUT", url, &without_kms));

    // The browser's PUT lands, SSE-KMS; completion then counts it.
    assert_eq!(put(upload, PDF).await, 200);
    let head = moto()
        .s3()
        .head_object()
        .bucket(DOCUMENTS_BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption().map(|e| e.as_str()),
        Some("aws:kms")
    );
    let done = as_patient(
        &db,
        "alpha",
        &w.patient_of_a(),
        Method::POST,
        &format!("/api/portal/uploads/{document}/complete"),
        None,
    )
    .await;
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(done.body["status"], "available");
    assert!(
        !done.text.contains("documents/"),
        "no key in answers: {}",
        done.text
    );
}

#[tokio::test]
async fn an_upload_differing_from_its_declaration_is_refused() {
    let (db, w) = setup().await;
    for (stored_type, body, field) in [
        (
            "application/pdf",
            &b"%PDF-1.7 longer than declared"[..],
            "sizeBytes",
        ),
        ("image/png", PDF, "contentType"),
    ] {
        let started = patient_starts(&db, &w, "application/pdf", PDF.len()).await;
        let document = started.body["document"]["id"].as_str().unwrap().to_owned();
        let path = format!("/api/portal/uploads/{document}/complete");
        // Nothing uploaded yet: not refused, just not there.
        as_patient(&db, "alpha", &w.patient_of_a(), Method::POST, &path, None)
            .await
            .assert_problem(409, "upload_missing");
        store(w.clinic_a, &document, body, stored_type).await;
        let refused = as_patient(&db, "alpha", &w.patient_of_a(), Method::POST, &path, None).await;
        refused.assert_problem(422, "upload_mismatch");
        assert_eq!(refused.body["errors"][0]["field"], field, "{refused:?}");
        // The refusal sticks: the record is refused, never available, nor downloadable.
        store(w.clinic_a, &document, PDF, "application/pdf").await;
        as_patient(&db, "alpha", &w.patient_of_a(), Method::POST, &path, None)
            .await
            .assert_problem(409, "upload_refused");
        let status: String = db
            .admin
            .query_one(
                "select status from app.documents where id = $1::text::uuid",
                &[&document],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(status, "refused");
        as_patient(
            &db,
            "alpha",
            &w.patient_of_a(),
            Method::GET,
            &format!("/api/portal/documents/{document}/download"),
            None,
        )
        .await
        .assert_problem(404, "document_not_found");
    }
    // A declaration outside the limits is a 400 naming the field.
    for (body, field) in [
        (
            json!({ "contentType": "text/html", "sizeBytes": 10 }),
            "contentType",
        ),
        (
            json!({ "contentType": "image/png", "sizeBytes": 20 * 1024 * 1024 + 1 }),
            "sizeBytes",
        ),
        (
            json!({ "contentType": "image/png", "sizeBytes": 0 }),
            "sizeBytes",
        ),
    ] {
        let reply = as_patient(
            &db,
            "alpha",
            &w.patient_of_a(),
            Method::POST,
            "/api/portal/uploads",
            Some(body),
        )
        .await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{reply:?}");
    }
}

#[tokio::test]
async fn the_care_team_downloads_audited_shares_and_strangers_get_404() {
    let (db, w) = setup().await;
    let started = patient_starts(&db, &w, "application/pdf", PDF.len()).await;
    let document = started.body["document"]["id"].as_str().unwrap().to_owned();
    assert_eq!(put(&started.body["upload"], PDF).await, 200);
    let done = as_patient(
        &db,
        "alpha",
        &w.patient_of_a(),
        Method::POST,
        &format!("/api/portal/uploads/{document}/complete"),
        None,
    )
    .await;
    assert_eq!(done.status, 200, "{done:?}");

    // The care team lists and downloads it; the read is audited.
    let listed = staff(
        &db,
        &w.therapist_of_a(),
        Method::GET,
        &format!("/clients/{}/documents", w.patient_a),
        None,
    )
    .await;
    assert_eq!(
        listed.body["documents"][0]["id"],
        json!(document),
        "{listed:?}"
    );
    let read = staff(
        &db,
        &w.therapist_of_a(),
        Method::GET,
        &format!("/documents/{document}/download"),
        None,
    )
    .await;
    assert_eq!(read.status, 200, "{read:?}");
    let fetched = reqwest::get(read.body["download"]["url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), PDF);
    let audited: i64 = db
        .admin
        .query_one(
            "select count(*) from audit.events where action = 'document.read'
             and target_id = $1 and actor_id = $2",
            &[&document, &w.therapist_a],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1);

    // Another clinic's admin and another patient see nothing.
    staff(
        &db,
        &w.admin_of_b(),
        Method::GET,
        &format!("/documents/{document}/download"),
        None,
    )
    .await
    .assert_problem(404, "document_not_found");
    let other = db.patient(w.clinic_a).await;
    let stranger = patient(other, w.clinic_a);
    as_patient(
        &db,
        "alpha",
        &stranger,
        Method::GET,
        &format!("/api/portal/documents/{document}/download"),
        None,
    )
    .await
    .assert_problem(404, "document_not_found");

    // A staff document reaches the patient only once shared.
    let staff_started = staff(
        &db,
        &w.therapist_of_a(),
        Method::POST,
        &format!("/clients/{}/documents", w.patient_a),
        Some(json!({ "contentType": "image/png", "sizeBytes": 4 })),
    )
    .await;
    assert_eq!(staff_started.status, 201, "{staff_started:?}");
    let shared_id = staff_started.body["document"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(put(&staff_started.body["upload"], b"\x89PNG").await, 200);
    let completed = staff(
        &db,
        &w.therapist_of_a(),
        Method::POST,
        &format!("/documents/{shared_id}/complete"),
        None,
    )
    .await;
    assert_eq!(completed.body["status"], "available", "{completed:?}");
    let mine = as_patient(
        &db,
        "alpha",
        &w.patient_of_a(),
        Method::GET,
        "/api/portal/documents",
        None,
    )
    .await;
    assert_eq!(
        mine.body["documents"].as_array().unwrap().len(),
        1,
        "{mine:?}"
    );
    let shared = staff(
        &db,
        &w.therapist_of_a(),
        Method::POST,
        &format!("/documents/{shared_id}/share"),
        None,
    )
    .await;
    assert_eq!(shared.body["sharedWithPatient"], true, "{shared:?}");
    let mine = as_patient(
        &db,
        "alpha",
        &w.patient_of_a(),
        Method::GET,
        "/api/portal/documents",
        None,
    )
    .await;
    assert_eq!(
        mine.body["documents"][0]["id"],
        json!(shared_id),
        "{mine:?}"
    );
    let got = as_patient(
        &db,
        "alpha",
        &w.patient_of_a(),
        Method::GET,
        &format!("/api/portal/documents/{shared_id}/download"),
        None,
    )
    .await;
    assert_eq!(got.status, 200, "{got:?}");
}
