//! Booking calls as the web client makes them: holds, confirmations, the schedule.

use crate::{call_with, send, Reply, TestDb};
use http::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::Context;
use xtask::keys::Identity;

/// A hold body for one slot, times as sent (RFC 3339 or local).
pub fn slot(therapist: Uuid, client: Uuid, start: &str, end: &str) -> Value {
    json!({
        "therapist_id": therapist,
        "client_id": client,
        "start_time": start,
        "end_time": end,
    })
}

/// A fresh Idempotency-Key.
pub fn key() -> String {
    Uuid::new_v4().to_string()
}

/// `POST /sessions-hold` on `ctx` with `key`.
pub async fn hold_on(ctx: &Context, token: &str, body: &Value, key: &str) -> Reply {
    send(
        ctx,
        &sessions_hold::FUNCTION,
        Method::POST,
        "/sessions-hold",
        Some(token),
        &[("idempotency-key", key)],
        Some(&body.to_string()),
    )
    .await
}

impl TestDb {
    /// `POST /sessions-hold` as `who` with a fresh key.
    pub async fn hold(&self, who: &Identity, body: &Value) -> Reply {
        hold_on(&self.ctx, &self.token(who), body, &key()).await
    }

    /// `POST /sessions-hold` as `who`, asserting a 200, → the response body.
    pub async fn held(&self, who: &Identity, body: &Value) -> Value {
        let reply = self.hold(who, body).await;
        assert_eq!(reply.status, 200, "hold: {reply:?}");
        reply.body
    }

    /// `POST /sessions-confirm` as `who` with `key`.
    pub async fn confirm_with_key(&self, who: &Identity, body: &Value, key: &str) -> Reply {
        send(
            &self.ctx,
            &confirm_booking::FUNCTION,
            Method::POST,
            "/sessions-confirm",
            Some(&self.token(who)),
            &[("idempotency-key", key)],
            Some(&body.to_string()),
        )
        .await
    }

    /// `POST /sessions-confirm` of `hold_key` as service `service`, with a fresh key.
    pub async fn confirm(&self, who: &Identity, hold_key: &Value, service: Uuid) -> Reply {
        let body = json!({"holdKey": hold_key, "session": {"serviceId": service}});
        self.confirm_with_key(who, &body, &key()).await
    }

    /// Holds `[start, end)` for `therapist` and `patient` as `who`, confirms it as `service`,
    /// and returns the booked session's id.
    pub async fn book(
        &self,
        who: &Identity,
        therapist: Uuid,
        patient: Uuid,
        (start, end): (&str, &str),
        service: Uuid,
    ) -> String {
        let held = self.held(who, &slot(therapist, patient, start, end)).await;
        let confirmed = self.confirm(who, &held["holdKey"], service).await;
        assert_eq!(confirmed.status, 200, "confirm: {confirmed:?}");
        assert_eq!(confirmed.body["sessions"][0]["status"], "scheduled");
        confirmed.body["sessions"][0]["id"]
            .as_str()
            .expect("a session id")
            .to_owned()
    }

    /// A `select count(*) …` as the superuser.
    pub async fn count(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> i64 {
        self.admin
            .query_one(sql, params)
            .await
            .expect("counting rows")
            .get(0)
    }

    /// `DELETE /sessions-hold/{key}` as `who`.
    pub async fn release(&self, who: &Identity, hold_key: &str) -> Reply {
        self.call(
            &sessions_hold::FUNCTION,
            Method::DELETE,
            &format!("/sessions-hold/{hold_key}"),
            Some(&self.token(who)),
            None,
        )
        .await
    }

    /// `GET /schedule?{query}` as `who`.
    pub async fn schedule(&self, who: &Identity, query: &str) -> Reply {
        self.schedule_with(&self.ctx, who, query).await
    }

    /// `GET /schedule?{query}` as `who` on `ctx` (e.g. another notes keyring).
    pub async fn schedule_with(&self, ctx: &Context, who: &Identity, query: &str) -> Reply {
        call_with(
            ctx,
            &schedule::FUNCTION,
            Method::GET,
            &format!("/schedule?{query}"),
            Some(&self.token(who)),
            None,
        )
        .await
    }

    /// A route of the `schedule` function on one session, as `who`.
    pub async fn on_session(
        &self,
        who: &Identity,
        method: Method,
        session: &str,
        action: &str,
        body: &Value,
    ) -> Reply {
        self.on_session_with(&self.ctx, who, method, session, action, body)
            .await
    }

    /// [`TestDb::on_session`] on `ctx`.
    pub async fn on_session_with(
        &self,
        ctx: &Context,
        who: &Identity,
        method: Method,
        session: &str,
        action: &str,
        body: &Value,
    ) -> Reply {
        call_with(
            ctx,
            &schedule::FUNCTION,
            method,
            &format!("/sessions/{session}/{action}"),
            Some(&self.token(who)),
            Some(&body.to_string()),
        )
        .await
    }

    /// Rows of app.sessions of `clinician` that occupy time (held or scheduled), as the
    /// superuser: `(start, end)` pairs, to check that none overlap.
    pub async fn occupied(&self, clinician: Uuid) -> Vec<(String, String)> {
        self.admin
            .query(
                "select lower(during)::text, upper(during)::text from app.sessions
                 where clinician_id = $1 and status in ('held', 'scheduled')
                 order by lower(during)",
                &[&clinician],
            )
            .await
            .expect("reading sessions")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }
}
