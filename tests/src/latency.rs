//! What the benchmarks print beside criterion's mean: p50 and p99 of plain sequential calls.

use std::time::Duration;

/// The `p` quantile (0–1) of sorted samples, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// One line: the case, p50 and p99 of its samples.
pub fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "  {:<34} p50 {:>8.2?}  p99 {:>8.2?}",
        name,
        percentile(&samples, 0.50),
        percentile(&samples, 0.99)
    );
}
