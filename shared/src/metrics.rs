//! The one line each request is logged with, written as a CloudWatch embedded-metric-format
//! (EMF) document: CloudWatch Logs turns its members into metrics as it ingests the line, so
//! the functions publish metrics without an agent, a client or a network call, and the alarms
//! in template.yaml read them. The line names the function, the route (its name and
//! template, never the path), the status, the error code and timings: no ids but the
//! request's, nothing a caller sent, so no PHI.
//!
//! Every metric is written on every request, 0 or 1 for the counters, so a metric's average is
//! a rate (`Status5xx` averaged over a minute is that minute's 5xx rate) and its sum a count.
//! Dimensions are the function alone and nothing (the whole stack): one dimension per route
//! would make some 1,500 custom metrics, each billed; the route stays a member of the line for
//! Logs Insights (`stats count(*) by route`).

use std::{cell::Cell, time::Duration};

/// Where the metrics go unless `WARDLINE_METRICS_NAMESPACE` names another (template.yaml names
/// one per stack, so two stacks in one account keep their alarms apart).
pub const DEFAULT_NAMESPACE: &str = "Wardline";

/// The routes that put sessions on a calendar: their 409s are booking conflicts (a slot taken
/// by someone else first), counted apart from other 409s. `tests/tests/routes.rs` checks that
/// each names a route.
pub const BOOKING_ROUTES: &[&str] = &[
    "HoldSessions",
    "ConfirmBooking",
    "RescheduleSession",
    "ApproveRescheduleRequest",
    "ClaimWaitlistOffer",
];

/// What one request did, as [`dispatch`](crate::http::dispatch) saw it.
pub struct Request<'a> {
    pub request_id: &'a str,
    pub function: &'a str,
    pub method: &'a str,
    /// The route's name (its template.yaml event), or `(unmatched)`.
    pub route: &'a str,
    /// The route's path template (`/sessions/{id}/cancel`), never the request's path.
    pub template: &'a str,
    pub status: u16,
    /// The problem's `code` when the answer is an error.
    pub code: Option<&'a str>,
    pub latency: Duration,
    /// Time spent waiting on PostgreSQL ([`Db`](crate::db::Db)'s statements), when the request
    /// reached it.
    pub database: Option<Duration>,
}

impl Request<'_> {
    /// The EMF document: the log line's members, the metric values, and `_aws` declaring which
    /// members are metrics, in which namespace, under which dimensions.
    pub fn line(&self, namespace: &str, timestamp_ms: u128) -> serde_json::Value {
        let class = self.status / 100;
        let count = |yes: bool| u8::from(yes);
        let mut metrics = vec![
            serde_json::json!({"Name": "Requests", "Unit": "Count"}),
            serde_json::json!({"Name": "Status2xx", "Unit": "Count"}),
            serde_json::json!({"Name": "Status4xx", "Unit": "Count"}),
            serde_json::json!({"Name": "Status5xx", "Unit": "Count"}),
            serde_json::json!({"Name": "Status503", "Unit": "Count"}),
            serde_json::json!({"Name": "DatabaseUnavailable", "Unit": "Count"}),
            serde_json::json!({"Name": "BookingConflicts", "Unit": "Count"}),
            serde_json::json!({"Name": "Latency", "Unit": "Milliseconds"}),
        ];
        let mut line = serde_json::json!({
            "timestamp": timestamp_ms,
            "level": "INFO",
            "message": "request",
            "request_id": self.request_id,
            "function": self.function,
            "method": self.method,
            "route": self.route,
            "template": self.template,
            "status": self.status,
            "Requests": 1,
            "Status2xx": count(class == 2),
            "Status4xx": count(class == 4),
            "Status5xx": count(class == 5),
            "Status503": count(self.status == 503),
            "DatabaseUnavailable": count(self.code == Some("database_unavailable")),
            "BookingConflicts": count(self.status == 409 && BOOKING_ROUTES.contains(&self.route)),
            "Latency": milliseconds(self.latency),
        });
        if let Some(code) = self.code {
            line["code"] = code.into();
        }
        if let Some(database) = self.database {
            metrics.push(serde_json::json!({"Name": "DatabaseLatency", "Unit": "Milliseconds"}));
            line["DatabaseLatency"] = milliseconds(database).into();
        }
        line["_aws"] = serde_json::json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["function"], []],
                "Metrics": metrics,
            }],
        });
        line
    }
}

fn milliseconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Writes the request's line to stdout (Lambda sends it to CloudWatch Logs), when the log
/// filter lets `info` through — as the request line always was; Lambda's
/// `ApplicationLogLevel` reads its `level`.
pub fn emit(request: &Request<'_>) {
    if !tracing::enabled!(tracing::Level::INFO) {
        return;
    }
    let namespace = std::env::var("WARDLINE_METRICS_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty());
    let timestamp_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_millis())
        .unwrap_or_default();
    let line = request.line(
        namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE),
        timestamp_ms,
    );
    println!("{line}");
}

tokio::task_local! {
    /// The database time of the request being dispatched on this task.
    static DATABASE: Cell<Option<Duration>>;
}

/// Runs `request` (a handler, on the dispatching task) and returns what it spent waiting on
/// the database, if it reached it.
pub async fn timing_database<T>(
    request: impl std::future::Future<Output = T>,
) -> (T, Option<Duration>) {
    DATABASE
        .scope(Cell::new(None), async {
            let output = request.await;
            (output, DATABASE.with(Cell::get))
        })
        .await
}

/// Adds one statement's time to the request's database time (nothing outside a request: the
/// scheduled jobs, tests calling [`Db`](crate::db::Db) directly).
pub fn add_database_time(elapsed: Duration) {
    let _ = DATABASE.try_with(|total| total.set(Some(total.get().unwrap_or_default() + elapsed)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn request(route: &'static str, status: u16, code: Option<&'static str>) -> Request<'static> {
        Request {
            request_id: "req-1",
            function: "sessions-hold",
            method: "POST",
            route,
            template: "/sessions-hold",
            status,
            code,
            latency: Duration::from_micros(12_345),
            database: Some(Duration::from_micros(8_000)),
        }
    }

    /// The member names of `_aws`'s one metric directive, each with a numeric value at the top
    /// level of the line, as CloudWatch requires (a declared metric without a value is dropped).
    fn declared_metrics(line: &Value) -> Vec<String> {
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        directive["Metrics"]
            .as_array()
            .expect("Metrics")
            .iter()
            .map(|m| {
                let name = m["Name"].as_str().expect("Name").to_owned();
                assert!(line[&name].is_number(), "{name} has no numeric value");
                assert!(m["Unit"].is_string(), "{name} has no unit");
                name
            })
            .collect()
    }

    #[test]
    fn a_request_line_is_an_emf_document_with_every_metric_and_its_dimensions() {
        let line = request("HoldSessions", 200, None).line("Wardline/test", 1_700_000_000_000);
        assert_eq!(line["_aws"]["Timestamp"], json!(1_700_000_000_000u64));
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Wardline/test");
        assert_eq!(directive["Dimensions"], json!([["function"], []]));
        // Every dimension is a string member of the line.
        assert_eq!(line["function"], "sessions-hold");
        assert_eq!(
            declared_metrics(&line),
            [
                "Requests",
                "Status2xx",
                "Status4xx",
                "Status5xx",
                "Status503",
                "DatabaseUnavailable",
                "BookingConflicts",
                "Latency",
                "DatabaseLatency"
            ]
        );
        assert_eq!(line["Requests"], 1);
        assert_eq!(line["Status2xx"], 1);
        assert_eq!(line["Status5xx"], 0);
        assert_eq!(line["Latency"], 12.345);
        assert_eq!(line["DatabaseLatency"], 8.0);
        assert_eq!(line["level"], "INFO");
    }

    #[test]
    fn the_line_holds_route_names_status_and_timings_only() {
        let line = request("HoldSessions", 200, None).line("Wardline", 0);
        let mut members: Vec<&str> = line
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        members.sort_unstable();
        assert_eq!(
            members,
            [
                "BookingConflicts",
                "DatabaseLatency",
                "DatabaseUnavailable",
                "Latency",
                "Requests",
                "Status2xx",
                "Status4xx",
                "Status503",
                "Status5xx",
                "_aws",
                "function",
                "level",
                "message",
                "method",
                "request_id",
                "route",
                "status",
                "template",
                "timestamp"
            ]
        );
    }

    #[test]
    fn statuses_count_in_their_classes_and_the_special_ones_apart() {
        let conflict = request("HoldSessions", 409, Some("slot_taken")).line("W", 0);
        assert_eq!(
            (
                conflict["Status4xx"].clone(),
                conflict["BookingConflicts"].clone()
            ),
            (json!(1), json!(1))
        );
        assert_eq!(conflict["code"], "slot_taken");
        let other_conflict = request("AssignClinician", 409, Some("exists")).line("W", 0);
        assert_eq!(other_conflict["BookingConflicts"], 0);
        let down = request("HoldSessions", 503, Some("database_unavailable")).line("W", 0);
        assert_eq!(
            [
                &down["Status5xx"],
                &down["Status503"],
                &down["DatabaseUnavailable"]
            ],
            [&json!(1), &json!(1), &json!(1)]
        );
        let busy = request("HoldSessions", 503, Some("busy")).line("W", 0);
        assert_eq!(busy["DatabaseUnavailable"], 0);
        assert_eq!(busy["Status503"], 1);
    }

    #[test]
    fn a_request_that_never_reached_the_database_has_no_database_latency() {
        let mut unmatched = request("(unmatched)", 404, Some("not_found"));
        unmatched.database = None;
        let line = unmatched.line("W", 0);
        assert!(line.get("DatabaseLatency").is_none());
        assert!(!declared_metrics(&line).contains(&"DatabaseLatency".to_owned()));
    }

    #[tokio::test]
    async fn database_time_adds_up_within_a_request_and_is_ignored_outside_one() {
        add_database_time(Duration::from_millis(5));
        let ((), total) = timing_database(async {
            add_database_time(Duration::from_millis(2));
            add_database_time(Duration::from_millis(3));
        })
        .await;
        assert_eq!(total, Some(Duration::from_millis(5)));
        let ((), none) = timing_database(async {}).await;
        assert_eq!(none, None);
    }
}
