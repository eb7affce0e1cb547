//! The audit trail anchored outside the database (issue 22):
//!
//! - `shared::audit_chain::digest` is PostgreSQL's `audit.event_digest`, byte for byte, over
//!   hundreds of real rows (nested objects, unicode, quotes, control characters, numbers in
//!   every JSON spelling, null members, with and without a patient, the chain outside any
//!   clinic), from PostgreSQL's detail text and from the JSON text as first written;
//! - the `audit-anchor` function writes every chain's head to a bucket made with Object Lock,
//!   in compliance mode with the configured retention, and a rerun writes nothing new;
//! - `cargo xtask audit-verify`'s verifier passes on intact chains and finds a tampered row, a
//!   removed tail (rows deleted and the head moved back, as the owner could) and a rewrite by
//!   the owner after an anchor (every hash and the head recomputed, so
//!   `audit.first_broken_link` says intact) — each in its own chain only.
//!
//! What is checked locally against moto (5.1.18): the bucket is made with Object Lock, every
//! anchor carries mode COMPLIANCE and a retain-until date, and moto refuses to delete a locked
//! version, with or without `x-amz-bypass-governance-retention`. What moto does not enforce,
//! and so is not checked here: shortening a compliance retention (moto lets
//! `PutObjectRetention` change it), the Content-MD5/checksum S3 requires on an Object Lock put
//! (the function sends a SHA-256 checksum), and IAM (the function's role may only put objects
//! and their retention; template.yaml, checked by cfn-lint).

use audit_anchor::{Anchors, Settings};
use aws_sdk_s3::types::ObjectLockMode;
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    OnceLock,
};
use uuid::Uuid;
use wardline_shared::audit_chain::{
    anchor_key, digest, digest_text, verify, Event, Reason, Source, EVENT_COLUMNS, NIL_CHAIN,
};
use wardline_tests::TestDb;
use xtask::{audit_verify, moto::Moto};

static MOTO: OnceLock<Moto> = OnceLock::new();
static NEXT_BUCKET: AtomicUsize = AtomicUsize::new(0);

fn moto() -> &'static Moto {
    MOTO.get_or_init(|| {
        std::thread::spawn(|| Moto::start().expect("starting moto's server"))
            .join()
            .expect("starting moto")
    })
}

/// A fresh bucket as template.yaml makes it (a default retention of one day).
async fn anchor_bucket() -> String {
    let name = format!(
        "wardline-anchors-{}-{}",
        std::process::id(),
        NEXT_BUCKET.fetch_add(1, Ordering::SeqCst)
    );
    moto()
        .create_anchor_bucket(&name, 1)
        .await
        .expect("creating the anchor bucket");
    name
}

fn anchors(bucket: &str) -> Anchors {
    let moto = moto();
    Anchors::new(
        &moto.sdk_config(),
        Settings {
            bucket: bucket.to_owned(),
            retain_days: 3,
            aws_endpoint: Some(moto.endpoint.clone()),
        },
    )
}

/// A fresh bucket, and two chains of six events each, anchored in it.
async fn two_anchored_chains(db: &TestDb) -> (String, Uuid, Uuid) {
    let bucket = anchor_bucket().await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    append(db, Some(a), 6).await;
    append(db, Some(b), 6).await;
    audit_anchor::anchor(&db.ctx, &anchors(&bucket), "anchor")
        .await
        .unwrap();
    (bucket, a, b)
}

/// Appends `n` events to `org`'s chain (null: outside any clinic) as the superuser, through
/// the chaining trigger.
async fn append(db: &TestDb, org: Option<Uuid>, n: i32) {
    db.admin
        .execute(
            "insert into audit.events (org_id, actor_id, actor_role, action, target_type,
                                       target_id, outcome, request_id, detail, patient_id,
                                       prev_hash, hash, chain_seq)
             select $1, gen_random_uuid(), 'admin', 'test.step', 'step', i::text, 'success',
                    'req-' || i, jsonb_build_object('i', i, 'half', i / 2.0),
                    case when i % 2 = 0 then gen_random_uuid() end, '', '', 0
             from generate_series(1, $2::int) i",
            &[&org, &n],
        )
        .await
        .expect("appending events");
}

/// Recomputes every hash of `org`'s chain from its genesis, and its head, consistently.
async fn rechain(db: &TestDb, org: Uuid) {
    db.as_owner(&format!(
        "do $$
             declare
               r record;
               prev bytea := audit.genesis('{org}');
             begin
               for r in select id from audit.events where org_id = '{org}' order by chain_seq loop
                 update audit.events set prev_hash = prev where id = r.id;
                 update audit.events e set hash = audit.event_digest(e) where e.id = r.id
                   returning e.hash into prev;
               end loop;
               update audit.chain_heads set last_hash = prev,
                 last_seq = (select max(chain_seq) from audit.events where org_id = '{org}')
               where chain_key = '{org}';
             end $$"
    ))
    .await;
}

async fn verify_all(db: &TestDb, bucket: &str) -> audit_verify::Report {
    let s3 = moto().s3();
    let mut client = db.superuser().await;
    let bucket = wardline_shared::anchors::AnchorBucket::new(s3, bucket.to_owned());
    audit_verify::verify(&mut client, Some(&bucket))
        .await
        .expect("verifying")
}

async fn versions(bucket: &str) -> Vec<(String, String)> {
    let listed = moto()
        .s3()
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .expect("listing versions");
    let mut versions: Vec<(String, String)> = listed
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap_or_default().to_owned(),
                v.version_id().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    versions.sort();
    versions
}

/// Details as JSON text first written, to be stored as jsonb and hashed by both sides.
const DETAILS: &[&str] = &[
    r#"{}"#,
    r#"{"b": 1, "a": 2, "aa": [1, 2.50, -0, 1e3, 1E-2, 12345678901234567890123, -7.25e-3]}"#,
    r#"{"nested": {"z": {"y": [null, true, false, {"k": "v", "j": []}]}}, "x": null}"#,
    r#"{"u": "é ☃ 𝄞 \u00e9 \ud834\udd1e 中文", "é": 1, "e": 2, "ee": 3, "☃": 4}"#,
    r#"{"q": "she said \"hi\" \\ / \/ '", "key with \"quotes\"": "v"}"#,
    r#"{"c": "\u0001\u001f\b\f\n\r\t\u007f x", "\n": "newline key"}"#,
    r#"{"a":1,"a":2,"b":{"c":1,"c":[3]}}"#,
    "  {  \"spaced\" :\t[ 1 , 2 ]\n, \"n\": -12.5e+2, \"m\": 0.000, \"big\": 1e20, \"z\": -0.0 }  ",
    r#"{"fields": ["first_name", "phone"], "count": 0, "ok": true, "reason": null}"#,
    r#"{"long": "0123456789012345678901234567890123456789012345678901234567890123456789", "deep": [[[[[[1]]]]]]}"#,
];

#[tokio::test]
async fn the_rust_digest_is_postgresqls_over_varied_rows() {
    let db = TestDb::new().await;
    let clinic = Uuid::new_v4();
    // Rows whose detail Rust hashes from the text first written.
    let mut written = Vec::new();
    for (i, detail) in DETAILS.iter().enumerate() {
        for (org, patient) in [
            (Some(clinic), None),
            (Some(clinic), Some(Uuid::new_v4())),
            (None, Some(Uuid::new_v4())),
            (None, None),
        ] {
            let id: i64 = db
                .admin
                .query_one(
                    "insert into audit.events (org_id, actor_id, actor_role, action, target_type,
                                               target_id, outcome, request_id, detail,
                                               patient_id, prev_hash, hash, chain_seq)
                     values ($1, $2, $3, 'note.read', $4, $5, 'denied', $6, $7::text::jsonb, $8,
                             '', '', 0)
                     returning id",
                    &[
                        &org,
                        &(i % 3 != 0).then(Uuid::new_v4),
                        &(i % 2 == 0).then_some("therapist \"x\" \u{1}"),
                        &(i % 4 != 1).then_some("séance"),
                        &(i % 5 != 2).then(|| format!("{i}\t\\{i}")),
                        &(i % 3 != 1).then_some("req-ü"),
                        &detail.to_string(),
                        &patient,
                    ],
                )
                .await
                .expect("inserting an event")
                .get(0);
            written.push((id, detail.to_string()));
        }
    }
    // Many more, with details PostgreSQL builds: numbers, escapes, every control character.
    db.admin
        .execute(
            "insert into audit.events (org_id, actor_id, actor_role, action, target_id, outcome,
                                       request_id, detail, patient_id, prev_hash, hash, chain_seq)
             select case when i % 7 = 0 then null else $1::uuid end, gen_random_uuid(),
                    (array['admin', 'therapist', null])[i % 3 + 1], 'bulk.step_' || (i % 4),
                    chr(i % 31 + 1) || 'id' || i, 'success', null,
                    jsonb_build_object(
                      'n', i, 'f', i / 7.0, 'neg', -i * 1.5, 'e', (i::numeric * 1e-5),
                      'text', chr(i % 31 + 1) || '\"' || chr(i + 160) || chr(i * 13 + 19968),
                      'arr', jsonb_build_array(i, null, i % 2 = 0, jsonb_build_object('k' || i, i)),
                      repeat('k', i % 9), i),
                    case when i % 3 = 0 then gen_random_uuid() end, '', '', 0
             from generate_series(1, 300) i",
            &[&clinic],
        )
        .await
        .expect("inserting bulk events");

    let rows = db
        .admin
        .query(
            &format!("select id, {EVENT_COLUMNS} from audit.events order by id"),
            &[],
        )
        .await
        .unwrap();
    assert!(rows.len() >= 340, "{}", rows.len());
    let mut chains: std::collections::BTreeMap<Uuid, Vec<Event>> = Default::default();
    for row in &rows {
        let id: i64 = row.get(0);
        let event = event_of(row);
        assert_eq!(
            digest(&event).unwrap()[..],
            event.hash[..],
            "event {id}: {}",
            digest_text(&event).unwrap()
        );
        if let Some((_, original)) = written.iter().find(|(w, _)| *w == id) {
            let first = Event {
                detail: original.clone(),
                ..event.clone()
            };
            assert_eq!(
                digest(&first).unwrap()[..],
                event.hash[..],
                "event {id} from {original}: {} against {}",
                digest_text(&first).unwrap(),
                digest_text(&event).unwrap()
            );
        }
        chains.entry(event.chain_key()).or_default().push(event);
    }
    for (key, events) in &chains {
        let verification = verify(*key, events, &[]);
        assert!(verification.ok(), "{verification:?}");
        assert_eq!(verification.events_checked as usize, events.len());
    }
    assert!(chains.contains_key(&NIL_CHAIN) && chains.contains_key(&clinic));
    assert_eq!(db.first_broken_link(clinic).await, None);
}

/// The event of a row selected as `id, {EVENT_COLUMNS}`.
fn event_of(row: &tokio_postgres::Row) -> Event {
    Event {
        org_id: row.get(1),
        chain_seq: row.get(2),
        actor_id: row.get(3),
        actor_role: row.get(4),
        action: row.get(5),
        target_type: row.get(6),
        target_id: row.get(7),
        outcome: row.get(8),
        request_id: row.get(9),
        occurred_at: row.get(10),
        detail: row.get(11),
        patient_id: row.get(12),
        prev_hash: row.get(13),
        hash: row.get(14),
    }
}

#[tokio::test]
async fn heads_are_anchored_locked_once_and_the_chains_verify() {
    let db = TestDb::new().await;
    let bucket = anchor_bucket().await;
    let anchors = anchors(&bucket);
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    append(&db, Some(a), 5).await;
    append(&db, Some(b), 3).await;
    append(&db, None, 2).await;

    let report = audit_anchor::anchor(&db.ctx, &anchors, "anchor-1")
        .await
        .unwrap();
    assert_eq!((report.heads_changed, report.anchored), (3, 3));
    let written = versions(&bucket).await;
    let keys: Vec<&str> = written.iter().map(|(k, _)| k.as_str()).collect();
    let mut expected = vec![anchor_key(a, 5), anchor_key(b, 3), anchor_key(NIL_CHAIN, 2)];
    expected.sort();
    assert_eq!(keys, expected);
    assert!(anchor_key(a, 5).ends_with(&format!("{a}/00000000000000000005.json")));

    // The body: the head and nothing else.
    let s3 = moto().s3();
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(anchor_key(a, 5))
        .send()
        .await
        .unwrap();
    let lock_mode = object.object_lock_mode().cloned();
    let until = object.object_lock_retain_until_date().cloned();
    let body: serde_json::Value =
        serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
    let head: Vec<u8> = db
        .admin
        .query_one(
            "select last_hash from audit.chain_heads where chain_key = $1",
            &[&a],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(body["chainKey"], a.to_string());
    assert_eq!(body["seq"], 5);
    assert_eq!(body["hash"], hex::encode(&head));
    let members: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(members, ["anchoredAt", "chainKey", "hash", "seq"]);
    assert_eq!(lock_mode, Some(ObjectLockMode::Compliance));
    let until = until.expect("a retain-until date").secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((until - now - 3 * 86_400).abs() < 120, "{until} vs {now}");

    // A locked version cannot be deleted, governance bypass or not.
    let (key, version) = &written[0];
    for bypass in [false, true] {
        let deleted = s3
            .delete_object()
            .bucket(&bucket)
            .key(key)
            .version_id(version)
            .bypass_governance_retention(bypass)
            .send()
            .await;
        assert!(deleted.is_err(), "bypass {bypass}: {deleted:?}");
    }
    assert_eq!(versions(&bucket).await, written);

    // Nothing changed: nothing new.
    let again = audit_anchor::anchor(&db.ctx, &anchors, "anchor-2")
        .await
        .unwrap();
    assert_eq!((again.heads_changed, again.anchored), (0, 0));
    assert_eq!(versions(&bucket).await, written);

    let report = verify_all(&db, &bucket).await;
    assert!(report.ok(), "{report}");
    assert_eq!(report.chains.len(), 3);
    assert_eq!(report.chain(a).unwrap().events_checked, 5);
    assert_eq!(report.chain(a).unwrap().anchors_checked, 1);

    // One chain moves on: only its head is anchored, and both anchors verify.
    append(&db, Some(a), 2).await;
    let moved = audit_anchor::anchor(&db.ctx, &anchors, "anchor-3")
        .await
        .unwrap();
    assert_eq!((moved.heads_changed, moved.anchored), (1, 1));
    assert_eq!(versions(&bucket).await.len(), 4);
    let report = verify_all(&db, &bucket).await;
    assert!(report.ok(), "{report}");
    assert_eq!(report.chain(a).unwrap().anchors_checked, 2);
    assert_eq!(report.chain(a).unwrap().last_seq, 7);
}

#[tokio::test]
async fn a_tampered_row_is_found_in_its_chain_only() {
    let db = TestDb::new().await;
    let (bucket, a, b) = two_anchored_chains(&db).await;
    db.as_owner(&format!(
        "update audit.events set detail = '{{\"i\": 99}}' where org_id = '{a}' and chain_seq = 3"
    ))
    .await;
    let report = verify_all(&db, &bucket).await;
    assert!(!report.ok());
    let broken = report.chain(a).unwrap().broken.clone().unwrap();
    assert_eq!((broken.seq, broken.reason), (3, Reason::HashMismatch));
    assert!(report.chain(b).unwrap().ok());
    assert_eq!(db.first_broken_link(a).await, Some(3));
}

#[tokio::test]
async fn a_removed_tail_with_its_head_moved_back_is_found_by_the_anchor() {
    let db = TestDb::new().await;
    let bucket = anchor_bucket().await;
    let anchors = anchors(&bucket);
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    append(&db, Some(a), 8).await;
    append(&db, Some(b), 4).await;
    audit_anchor::anchor(&db.ctx, &anchors, "anchor")
        .await
        .unwrap();
    // The owner removes events 6 to 8 and moves the head back to 5: the database sees an
    // intact chain.
    db.as_owner(&format!(
        "delete from audit.events where org_id = '{a}' and chain_seq > 5;
             update audit.chain_heads h set last_seq = 5,
               last_hash = (select hash from audit.events where org_id = '{a}' and chain_seq = 5)
             where chain_key = '{a}'"
    ))
    .await;
    assert_eq!(db.first_broken_link(a).await, None);
    let report = verify_all(&db, &bucket).await;
    let broken = report.chain(a).unwrap().broken.clone().unwrap();
    assert_eq!(
        (broken.seq, broken.reason),
        (
            6,
            Reason::TailMissing {
                recorded_seq: 8,
                source: Source::Anchor
            }
        )
    );
    assert!(report.chain(b).unwrap().ok());
    assert!(!report.ok());
    // The next run anchors the moved head and says it went back; the old anchor still stands.
    let next = audit_anchor::anchor(&db.ctx, &anchors, "anchor-2")
        .await
        .unwrap();
    assert_eq!((next.anchored, next.heads_behind), (1, 1));
    let report = verify_all(&db, &bucket).await;
    assert_eq!(report.chain(a).unwrap().broken.as_ref().unwrap().seq, 6);
}

#[tokio::test]
async fn a_consistent_rewrite_by_the_owner_after_an_anchor_is_found() {
    let db = TestDb::new().await;
    let (bucket, a, b) = two_anchored_chains(&db).await;
    append(&db, Some(a), 2).await;
    // The owner rewrites event 2 and recomputes every hash after it and the head.
    db.as_owner(&format!(
        "update audit.events set target_id = 'rewritten' where org_id = '{a}' and chain_seq = 2"
    ))
    .await;
    rechain(&db, a).await;
    assert_eq!(db.first_broken_link(a).await, None);
    let report = verify_all(&db, &bucket).await;
    let chain = report.chain(a).unwrap();
    assert_eq!(chain.events_checked, 8);
    let broken = chain.broken.clone().unwrap();
    assert_eq!(
        (broken.seq, broken.reason),
        (
            6,
            Reason::CheckpointMismatch {
                source: Source::Anchor
            }
        )
    );
    assert!(report.chain(b).unwrap().ok());
    assert!(!report.ok());
}

/// The verification line of `who`'s export of their clinic's whole chain.
async fn export_verification(db: &TestDb, who: &xtask::keys::Identity) -> serde_json::Value {
    let reply = db
        .call_as(
            &audit_trail::FUNCTION,
            who,
            http::Method::GET,
            "/api/admin/audit/export",
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let last = reply.text.lines().last().unwrap();
    serde_json::from_str::<serde_json::Value>(last).unwrap()["verification"].clone()
}

/// The admins' export (`GET /api/admin/audit/export`) holds its run to the anchors too: before
/// the owner's rewrite it verifies against the anchor, after it the anchor disagrees.
#[tokio::test]
async fn the_admins_export_finds_a_rewrite_after_an_anchor() {
    let mut db = TestDb::new().await;
    let bucket = anchor_bucket().await;
    db.ctx
        .extensions
        .insert(wardline_shared::anchors::AnchorBucket::new(
            moto().s3(),
            bucket.clone(),
        ));
    let w = wardline_tests::World::create(&db).await;
    let a = w.clinic_a;
    append(&db, Some(a), 6).await;
    audit_anchor::anchor(&db.ctx, &anchors(&bucket), "anchor")
        .await
        .unwrap();
    let intact = export_verification(&db, &w.admin_of_a()).await;
    assert_eq!(intact["verified"], true, "{intact}");
    assert_eq!(intact["anchorsConfigured"], true);
    assert_eq!(intact["anchorsChecked"], 1);

    db.as_owner(&format!(
        "update audit.events set target_id = 'rewritten' where org_id = '{a}' and chain_seq = 2"
    ))
    .await;
    rechain(&db, a).await;
    assert_eq!(db.first_broken_link(a).await, None);
    let rewritten = export_verification(&db, &w.admin_of_a()).await;
    assert_eq!(rewritten["verified"], false, "{rewritten}");
    assert_eq!(rewritten["broken"]["seq"], 6);
    assert!(rewritten["broken"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("anchor mismatch"));
}
