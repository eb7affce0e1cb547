//! Structured JSON logs for CloudWatch. Fields are ids, routes, statuses and timings only:
//! nothing a handler logs may contain PHI (names, contact details, notes, dates of birth).

use std::sync::Once;
use tracing_subscriber::EnvFilter;

static INIT: Once = Once::new();

/// Installs the JSON subscriber once per process. `WARDLINE_LOG` (or `RUST_LOG`) filters,
/// default `info`.
pub fn init() {
    INIT.call_once(|| {
        let filter = std::env::var("WARDLINE_LOG")
            .or_else(|_| std::env::var("RUST_LOG"))
            .ok()
            .and_then(|spec| EnvFilter::try_new(spec).ok())
            .unwrap_or_else(|| EnvFilter::new("info"));
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_target(false)
            .with_env_filter(filter)
            .init();
    });
}
