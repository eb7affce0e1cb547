//! No double booking under contention: 64 hold requests for overlapping slots, released
//! together by a barrier over a pool of 64 connections opened beforehand, through the
//! functions. Exactly one wins; the rest are 409s that name the clash; SQL finds one row and
//! no two rows that occupy time overlap; the audit chains still verify. Prints the hold rate.

use futures::future::join_all;
use serde_json::Value;
use std::{sync::Arc, time::Instant};
use tokio::sync::Barrier;
use uuid::Uuid;
use wardline_shared::Context;
use wardline_tests::{
    booking::{hold_on, key, slot},
    keys::Identity,
    staff, Reply, TestDb, World,
};

const WRITERS: usize = 64;

/// Slot `i` of the contest: starts `i` minutes after 10:00 and lasts 90 minutes, so every two
/// slots overlap (all contain 11:03–11:30).
fn contested(therapist: Uuid, client: Uuid, i: usize) -> Value {
    let start = chrono_like(10 * 60 + i);
    let end = chrono_like(10 * 60 + i + 90);
    slot(therapist, client, &start, &end)
}

/// 2027-05-04 00:00 UTC plus `minutes`, as RFC 3339.
fn chrono_like(minutes: usize) -> String {
    let (day, minute) = (4 + minutes / 1440, minutes % 1440);
    format!("2027-05-{day:02}T{:02}:{:02}:00Z", minute / 60, minute % 60)
}

/// Fires every request at once on a context with a connection per writer: the pool's
/// connections are opened first, then one task per request waits on a barrier and all are
/// released together. Asserts they overlapped in time (more than one request was sent before
/// the first answer came back), so a run that serialized them would fail.
async fn race(db: &TestDb, requests: Vec<(Identity, Value)>) -> Vec<Reply> {
    let ctx = Arc::new(Context::new(db.config(|c| c.db.pool_size = WRITERS)).unwrap());
    let opened = join_all((0..WRITERS).map(|_| ctx.db.client())).await;
    assert!(opened.iter().all(Result::is_ok), "opening the pool");
    drop(opened);
    let barrier = Arc::new(Barrier::new(requests.len()));
    let started = Instant::now();
    let tasks = requests.iter().map(|(who, body)| {
        let (ctx, barrier, token, body) =
            (ctx.clone(), barrier.clone(), db.token(who), body.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            let sent = Instant::now();
            let reply = hold_on(&ctx, &token, &body, &key()).await;
            (sent, Instant::now(), reply)
        })
    });
    let timed: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let first_answer = timed.iter().map(|t| t.1).min().unwrap();
    let overlapping = timed.iter().filter(|t| t.0 < first_answer).count();
    assert!(overlapping > 1, "the requests ran one after another");
    let replies: Vec<Reply> = timed.into_iter().map(|t| t.2).collect();
    let conflicts = replies.iter().filter(|r| r.status == 409).count();
    println!(
        "contention: {} hold requests ({overlapping} sent before the first answer) in {:.3} s = {:.0} requests/s; {} × 409 ({:.1}%)",
        replies.len(),
        elapsed,
        replies.len() as f64 / elapsed,
        conflicts,
        100.0 * conflicts as f64 / replies.len() as f64
    );
    replies
}

fn winners(replies: &[Reply]) -> Vec<&Reply> {
    for reply in replies {
        assert!(
            reply.status == 200 || reply.status == 409,
            "only 200 or 409: {reply:?}"
        );
    }
    replies.iter().filter(|r| r.status == 200).collect()
}

fn assert_no_overlaps(rows: &[(String, String)]) {
    for pair in rows.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "overlapping rows: {rows:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clinician_64_patients_one_winner() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let clients = db.patients(w.clinic_a, WRITERS).await;
    let requests = clients
        .iter()
        .enumerate()
        .map(|(i, c)| (w.therapist_of_a(), contested(w.therapist_a, *c, i)))
        .collect();
    let replies = race(&db, requests).await;
    assert_eq!(winners(&replies).len(), 1);
    for loser in replies.iter().filter(|r| r.status == 409) {
        loser.assert_problem(409, "slot_unavailable");
        let conflict = &loser.body["conflicts"][0];
        assert_eq!(conflict["occurrence"], 1);
        assert_eq!(conflict["reason"], "clinician_busy");
        // The blocker is a live hold of the same clinic: when to retry is known.
        assert!(conflict["retryAfter"].is_string(), "{loser:?}");
        assert!(loser.headers.contains_key("retry-after"), "{loser:?}");
    }
    let rows = db.occupied(w.therapist_a).await;
    assert_eq!(rows.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_patient_two_clinicians_one_winner() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    // The admin books for both clinicians, alternating, always the same patient.
    let clinician_of = |i: usize| {
        if i.is_multiple_of(2) {
            w.therapist_a
        } else {
            w.admin_a
        }
    };
    let requests = (0..WRITERS)
        .map(|i| (w.admin_of_a(), contested(clinician_of(i), w.patient_a, i)))
        .collect();
    let replies = race(&db, requests).await;
    assert_eq!(winners(&replies).len(), 1);
    let winner_clinician: Uuid = db
        .admin
        .query_one(
            "select clinician_id from app.sessions where status = 'held'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    for (i, reply) in replies.iter().enumerate() {
        if reply.status != 409 {
            continue;
        }
        reply.assert_problem(409, "slot_unavailable");
        // The winner's own clinician is busy; the other clinician clashes only on the patient.
        let expected = if clinician_of(i) == winner_clinician {
            "clinician_busy"
        } else {
            "patient_busy"
        };
        assert_eq!(reply.body["conflicts"][0]["reason"], expected, "{reply:?}");
    }
    let rows: Vec<(String, String)> = db
        .admin
        .query(
            "select lower(during)::text, upper(during)::text from app.sessions
             where patient_id = $1 and status in ('held', 'scheduled') order by lower(during)",
            &[&w.patient_a],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clinician_in_two_clinics_one_winner_and_the_loser_learns_nothing() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let in_a = db.patients(w.clinic_a, WRITERS / 2).await;
    let in_b = db.patients(w.clinic_b, WRITERS / 2).await;
    let requests: Vec<(Identity, Value)> = (0..WRITERS)
        .map(|i| {
            let (clinic, client) = if i % 2 == 0 {
                (w.clinic_a, in_a[i / 2])
            } else {
                (w.clinic_b, in_b[i / 2])
            };
            (
                staff(w.both, clinic, "therapist"),
                contested(w.both, client, i),
            )
        })
        .collect();
    let replies = race(&db, requests.clone()).await;
    assert_eq!(winners(&replies).len(), 1);
    let (winner_clinic, winner_patient, winner_session): (Uuid, Uuid, Uuid) = db
        .admin
        .query_one(
            "select org_id, patient_id, id from app.sessions where status = 'held'",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .unwrap();
    let mut cross_clinic_losers = 0;
    for ((who, _), reply) in requests.iter().zip(&replies) {
        if reply.status != 409 {
            continue;
        }
        let conflict = &reply.body["conflicts"][0];
        assert_eq!(conflict["reason"], "clinician_busy");
        if who.org_id != Some(winner_clinic) {
            cross_clinic_losers += 1;
            // Nothing about the other clinic's hold: not when it ends, not whose it is.
            assert!(conflict.get("retryAfter").is_none(), "{reply:?}");
            assert!(!reply.headers.contains_key("retry-after"), "{reply:?}");
            let text = reply.body.to_string();
            assert!(!text.contains(&winner_patient.to_string()), "{text}");
            assert!(!text.contains(&winner_session.to_string()), "{text}");
            assert!(!text.contains(&winner_clinic.to_string()), "{text}");
        }
    }
    assert_eq!(cross_clinic_losers, WRITERS / 2);
    let rows = db.occupied(w.both).await;
    assert_eq!(rows.len(), 1);
    assert_no_overlaps(&rows);
    assert_eq!(db.first_broken_link(w.clinic_a).await, None);
    assert_eq!(db.first_broken_link(w.clinic_b).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncontended_holds_all_succeed_and_never_overlap() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    let clients = db.patients(w.clinic_a, WRITERS).await;
    // Back-to-back 30-minute slots: touching, never overlapping.
    let requests = clients
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let body = slot(
                w.therapist_a,
                *c,
                &chrono_like(8 * 60 + 30 * i),
                &chrono_like(8 * 60 + 30 * (i + 1)),
            );
            (w.therapist_of_a(), body)
        })
        .collect();
    let replies = race(&db, requests).await;
    assert_eq!(winners(&replies).len(), WRITERS);
    let rows = db.occupied(w.therapist_a).await;
    assert_eq!(rows.len(), WRITERS);
    assert_no_overlaps(&rows);
    // 64 writers appended to one clinic's audit chain at once: one event each, chain intact.
    assert_eq!(
        db.audit_count(w.clinic_a, "session.hold").await,
        WRITERS as i64
    );
    assert_eq!(db.first_broken_link(w.clinic_a).await, None);
}
