//! Prometheus metrics: counters and histograms kept in process with atomics, rendered as the
//! text exposition format. Figures that live in the database (queue depth, outbox backlog,
//! re-screening) are read when scraped, so they are the same on every instance.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::http::Method;
use chrono::{DateTime, Utc};

use crate::domain::request::RequestStatus;

/// Store calls that failed for want of the database (not conflicts or missing rows).
pub static STORE_ERRORS: AtomicU64 = AtomicU64::new(0);
/// Redis calls that failed or timed out.
pub static REDIS_ERRORS: AtomicU64 = AtomicU64::new(0);
/// Transactions the new-request writer committed, and the requests they carried: their ratio
/// is how well concurrent submissions share a commit.
pub static GROUP_COMMITS: AtomicU64 = AtomicU64::new(0);
pub static GROUP_COMMITTED_REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Counts one committed group of `requests` new requests.
pub fn group_committed(requests: usize) {
    GROUP_COMMITS.fetch_add(1, Ordering::Relaxed);
    GROUP_COMMITTED_REQUESTS.fetch_add(requests as u64, Ordering::Relaxed);
}

/// How long the new-request writer took over each group: waiting for its turn to write, then
/// writing and committing it, with the log's flush and any checkpoint SQLite ran after.
pub static GROUP_WRITES: Latency = Latency::new();
/// Each new request's time in the store, from joining the writer's queue to its answer after
/// the flush: set against the HTTP histogram, it places a slow answer inside the store or
/// outside it.
pub static NEW_REQUESTS_STORED: Latency = Latency::new();

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RouteKey {
    /// Standard methods are stored inline: no allocation.
    method: Method,
    /// The route's pattern (`/v1/clearance-requests/{id}`), never the raw path: bounded labels.
    route: String,
    status: u16,
}

#[derive(Default)]
pub struct Latency {
    count: AtomicU64,
    sum_micros: AtomicU64,
    /// Observations at or under each bound of `BUCKETS` (cumulative when rendered).
    buckets: [AtomicU64; BUCKETS.len()],
}

impl Latency {
    const fn new() -> Self {
        Self {
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
            buckets: [const { AtomicU64::new(0) }; BUCKETS.len()],
        }
    }

    pub fn record(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Count, sum in microseconds, and the per-bucket (not cumulative) counts.
    fn snapshot(&self) -> (u64, u64, Vec<u64>) {
        (
            self.count.load(Ordering::Relaxed),
            self.sum_micros.load(Ordering::Relaxed),
            self.buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
        )
    }
}

#[derive(Default)]
pub struct Metrics {
    requests: RwLock<HashMap<RouteKey, Latency>>,
    decisions: RwLock<HashMap<&'static str, AtomicU64>>,
}

/// What the database says at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreFigures {
    /// Per stage: items waiting and the submission time of the oldest.
    pub queue: Vec<(String, i64, Option<DateTime<Utc>>)>,
    pub outbox_pending: i64,
    pub rescreen_jobs_pending: i64,
    pub rescreen_requests_remaining: i64,
}

/// What the cache tiers answered, and whether Redis is up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheFigures {
    pub local_hits: u64,
    pub redis_hits: u64,
    pub store_reads: u64,
    pub redis_up: bool,
}

impl Metrics {
    /// Counts a finished request. The common case takes only a read lock.
    pub fn observe(&self, method: &Method, route: String, status: u16, took: Duration) {
        let key = RouteKey {
            method: method.clone(),
            route,
            status,
        };
        let record = |latency: &Latency| latency.record(took);
        if let Ok(map) = self.requests.read()
            && let Some(latency) = map.get(&key)
        {
            record(latency);
            return;
        }
        if let Ok(mut map) = self.requests.write() {
            record(map.entry(key).or_default());
        }
    }

    /// Counts a new request's decision.
    pub fn decided(&self, status: RequestStatus) {
        let outcome = status.as_str();
        if let Ok(map) = self.decisions.read()
            && let Some(count) = map.get(outcome)
        {
            count.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Ok(mut map) = self.decisions.write() {
            map.entry(outcome)
                .or_default()
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The exposition text.
    pub fn render(
        &self,
        cache: CacheFigures,
        store: Option<&StoreFigures>,
        now: DateTime<Utc>,
    ) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let mut requests: Vec<_> = self
            .requests
            .read()
            .map(|m| {
                m.iter()
                    .map(|(k, l)| {
                        let (count, sum, buckets) = l.snapshot();
                        (k.clone(), count, sum, buckets)
                    })
                    .collect()
            })
            .unwrap_or_default();
        requests.sort_by(|a, b| {
            (&a.0.route, a.0.method.as_str(), a.0.status).cmp(&(
                &b.0.route,
                b.0.method.as_str(),
                b.0.status,
            ))
        });

        header(
            &mut out,
            "clearway_http_requests_total",
            "counter",
            "HTTP requests by route, method and status.",
        );
        for (k, count, _, _) in &requests {
            let _ = writeln!(out, "clearway_http_requests_total{{{}}} {count}", labels(k));
        }
        header(
            &mut out,
            "clearway_http_request_duration_seconds",
            "histogram",
            "Time to answer, by route, method and status.",
        );
        for (k, count, sum, buckets) in &requests {
            histogram(
                &mut out,
                "clearway_http_request_duration_seconds",
                &labels(k),
                (*count, *sum, buckets),
            );
        }

        header(
            &mut out,
            "clearway_decisions_total",
            "counter",
            "New requests by the decision they got.",
        );
        let mut decisions: Vec<(&str, u64)> = self
            .decisions
            .read()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (*k, v.load(Ordering::Relaxed)))
                    .collect()
            })
            .unwrap_or_default();
        decisions.sort();
        for (outcome, n) in decisions {
            let _ = writeln!(out, "clearway_decisions_total{{outcome=\"{outcome}\"}} {n}");
        }

        header(
            &mut out,
            "clearway_area_risk_lookups_total",
            "counter",
            "Area risk lookups by the tier that answered.",
        );
        for (tier, n) in [
            ("local", cache.local_hits),
            ("redis", cache.redis_hits),
            ("store", cache.store_reads),
        ] {
            let _ = writeln!(
                out,
                "clearway_area_risk_lookups_total{{tier=\"{tier}\"}} {n}"
            );
        }
        header(
            &mut out,
            "clearway_redis_up",
            "gauge",
            "1 when the Redis tier answers.",
        );
        let _ = writeln!(out, "clearway_redis_up {}", u8::from(cache.redis_up));
        header(
            &mut out,
            "clearway_redis_errors_total",
            "counter",
            "Redis calls that failed or timed out.",
        );
        let _ = writeln!(
            out,
            "clearway_redis_errors_total {}",
            REDIS_ERRORS.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "clearway_store_errors_total",
            "counter",
            "Store calls that failed for want of the database.",
        );
        let _ = writeln!(
            out,
            "clearway_store_errors_total {}",
            STORE_ERRORS.load(Ordering::Relaxed)
        );
        for (name, help, value) in [
            (
                "clearway_store_group_commits_total",
                "Transactions that committed new requests (each carries every request that arrived while the last was written).",
                &GROUP_COMMITS,
            ),
            (
                "clearway_store_group_committed_requests_total",
                "New requests committed by those transactions.",
                &GROUP_COMMITTED_REQUESTS,
            ),
        ] {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }

        for (name, help, latency) in [
            (
                "clearway_store_group_write_seconds",
                "Time the SQLite new-request writer took over each group: its turn to write, then writing and committing it (the log's flush and any checkpoint included).",
                &GROUP_WRITES,
            ),
            (
                "clearway_store_new_request_seconds",
                "Each new request's time in the SQLite store: queued for the writer, committed and flushed (unless synchronous = normal), answered.",
                &NEW_REQUESTS_STORED,
            ),
        ] {
            header(&mut out, name, "histogram", help);
            let (count, sum, buckets) = latency.snapshot();
            histogram(&mut out, name, "", (count, sum, &buckets));
        }

        header(
            &mut out,
            "clearway_store_up",
            "gauge",
            "1 when the figures below could be read from the database.",
        );
        let _ = writeln!(out, "clearway_store_up {}", u8::from(store.is_some()));
        let Some(store) = store else {
            return out;
        };
        header(
            &mut out,
            "clearway_escalation_queue_depth",
            "gauge",
            "Escalated requests awaiting each stage.",
        );
        for (stage, depth, _) in &store.queue {
            let _ = writeln!(
                out,
                "clearway_escalation_queue_depth{{stage=\"{}\"}} {depth}",
                escape(stage)
            );
        }
        header(
            &mut out,
            "clearway_escalation_queue_oldest_age_seconds",
            "gauge",
            "Age of the oldest item awaiting each stage.",
        );
        for (stage, _, oldest) in &store.queue {
            let age = oldest.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
            let _ = writeln!(
                out,
                "clearway_escalation_queue_oldest_age_seconds{{stage=\"{}\"}} {age}",
                escape(stage)
            );
        }
        header(
            &mut out,
            "clearway_outbox_pending_deliveries",
            "gauge",
            "Webhook deliveries not yet made.",
        );
        let _ = writeln!(
            out,
            "clearway_outbox_pending_deliveries {}",
            store.outbox_pending
        );
        header(
            &mut out,
            "clearway_rescreen_jobs_pending",
            "gauge",
            "Re-screening jobs not yet finished.",
        );
        let _ = writeln!(
            out,
            "clearway_rescreen_jobs_pending {}",
            store.rescreen_jobs_pending
        );
        header(
            &mut out,
            "clearway_rescreen_requests_remaining",
            "gauge",
            "Requests those jobs have still to look at.",
        );
        let _ = writeln!(
            out,
            "clearway_rescreen_requests_remaining {}",
            store.rescreen_requests_remaining
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// One histogram's series: cumulative buckets, sum and count, under `labels` (may be empty).
fn histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    (count, sum_micros, buckets): (u64, u64, &[u64]),
) {
    let (open, close, sep) = if labels.is_empty() {
        ("", "", "")
    } else {
        ("{", "}", ",")
    };
    let mut cumulative = 0;
    for (bound, n) in BUCKETS.iter().zip(buckets) {
        cumulative += n;
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
        );
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
    let _ = writeln!(
        out,
        "{name}_sum{open}{labels}{close} {}",
        sum_micros as f64 / 1e6
    );
    let _ = writeln!(out, "{name}_count{open}{labels}{close} {count}");
}

fn labels(k: &RouteKey) -> String {
    format!(
        "method=\"{}\",route=\"{}\",status=\"{}\"",
        k.method.as_str(),
        escape(&k.route),
        k.status
    )
}

/// Label values escape backslash, quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_into_cumulative_buckets() {
        let metrics = Metrics::default();
        let route = || "/v1/areas/{code}".to_owned();
        metrics.observe(&Method::GET, route(), 200, Duration::from_micros(800));
        metrics.observe(&Method::GET, route(), 200, Duration::from_millis(30));
        metrics.observe(&Method::GET, route(), 404, Duration::from_secs(9));
        metrics.decided(RequestStatus::Cleared);
        metrics.decided(RequestStatus::Cleared);
        let text = metrics.render(CacheFigures::default(), None, Utc::now());
        let route = r#"method="GET",route="/v1/areas/{code}""#;
        for line in [
            format!(r#"clearway_http_requests_total{{{route},status="200"}} 2"#),
            format!(
                r#"clearway_http_request_duration_seconds_bucket{{{route},status="200",le="0.001"}} 1"#
            ),
            format!(
                r#"clearway_http_request_duration_seconds_bucket{{{route},status="200",le="0.025"}} 1"#
            ),
            format!(
                r#"clearway_http_request_duration_seconds_bucket{{{route},status="200",le="0.05"}} 2"#
            ),
            format!(
                r#"clearway_http_request_duration_seconds_bucket{{{route},status="404",le="5"}} 0"#
            ),
            format!(
                r#"clearway_http_request_duration_seconds_bucket{{{route},status="404",le="+Inf"}} 1"#
            ),
            format!(r#"clearway_http_request_duration_seconds_count{{{route},status="404"}} 1"#),
            r#"clearway_decisions_total{outcome="cleared"} 2"#.to_owned(),
            "clearway_store_up 0".to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }

    #[test]
    fn an_unlabelled_histogram_has_no_empty_braces() {
        let flushes = Latency::new();
        flushes.record(Duration::from_micros(400));
        flushes.record(Duration::from_millis(30));
        let (count, sum, buckets) = flushes.snapshot();
        let mut text = String::new();
        histogram(&mut text, "wal", "", (count, sum, &buckets));
        for line in [
            r#"wal_bucket{le="0.001"} 1"#,
            r#"wal_bucket{le="0.025"} 1"#,
            r#"wal_bucket{le="0.05"} 2"#,
            r#"wal_bucket{le="+Inf"} 2"#,
            "wal_sum 0.0304",
            "wal_count 2",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
