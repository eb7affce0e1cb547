//! Care-team calls as the web client makes them, and the fixtures they need.

use crate::{Reply, TestDb, World};
use http::Method;
use serde_json::Value;
use uuid::Uuid;
use xtask::keys::Identity;

impl TestDb {
    /// Calls a route of the `assign` function as `who`, with an optional JSON body.
    pub async fn care(
        &self,
        who: &Identity,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        let body = body.map(Value::to_string);
        self.call(
            &assign::FUNCTION,
            method,
            path,
            Some(&self.token(who)),
            body.as_deref(),
        )
        .await
    }

    /// Clinic A at scale: 5,000 more patients, each in the care of A's three clinicians
    /// (admin, therapist, `both`), with the all-patients dashboard on.
    pub async fn big_clinic(&self, w: &World) {
        self.patients(w.clinic_a, 5_000).await;
        self.set_flag(w.clinic_a, "allActivePatientsDashboard", true)
            .await;
        self.admin
            .batch_execute("analyze")
            .await
            .expect("analyzing the big clinic");
    }

    /// Sets a clinic's feature flag directly (fixture).
    pub async fn set_flag(&self, clinic: Uuid, flag: &str, on: bool) {
        self.admin
            .execute(
                "update app.clinics
                 set feature_flags = feature_flags || jsonb_build_object($2::text, $3::boolean)
                 where id = $1",
                &[&clinic, &flag, &on],
            )
            .await
            .expect("setting a flag");
    }

    /// The care-team row of `patient` and `clinician`: (status, assigned_by), if any.
    pub async fn care_team_row(&self, patient: Uuid, clinician: Uuid) -> Option<(String, Uuid)> {
        self.admin
            .query_opt(
                "select status, assigned_by from app.care_team
                 where patient_id = $1 and clinician_id = $2",
                &[&patient, &clinician],
            )
            .await
            .expect("reading the care team")
            .map(|r| (r.get(0), r.get(1)))
    }

    /// Audit events of `action` in `clinic`.
    pub async fn audit_count(&self, clinic: Uuid, action: &str) -> i64 {
        self.count(
            "select count(*) from audit.events where org_id = $1 and action = $2",
            &[&clinic, &action],
        )
        .await
    }
}
