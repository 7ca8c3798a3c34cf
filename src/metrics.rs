//! Prometheus metrics through the Prometheus project's Rust client (`prometheus-client`),
//! exposed in the OpenMetrics text format. Counters and histograms live in the process;
//! figures that live in the database (queue depth, outbox backlog, re-screening) and the
//! cache's tallies are read at scrape time, so the database's are the same on every instance.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::domain::request::RequestStatus;

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

fn latency() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Store calls that failed for want of the database (not conflicts or missing rows).
pub static STORE_ERRORS: LazyLock<Counter> = LazyLock::new(Counter::default);
/// Redis calls that failed or timed out.
pub static REDIS_ERRORS: LazyLock<Counter> = LazyLock::new(Counter::default);
/// Transactions the new-request writer committed, and the requests they carried: their ratio
/// is how well concurrent submissions share a commit.
pub static GROUP_COMMITS: LazyLock<Counter> = LazyLock::new(Counter::default);
pub static GROUP_COMMITTED_REQUESTS: LazyLock<Counter> = LazyLock::new(Counter::default);
/// How long the new-request writer took over each group: waiting for its turn to write, then
/// writing and committing it, with the log's flush and any checkpoint SQLite ran after.
pub static GROUP_WRITES: LazyLock<Histogram> = LazyLock::new(latency);
/// Each new request's time in the store, from joining the writer's queue to its answer after
/// the flush: set against the HTTP histogram, it places a slow answer inside the store or
/// outside it.
pub static NEW_REQUESTS_STORED: LazyLock<Histogram> = LazyLock::new(latency);

/// Counts one committed group of `requests` new requests.
pub fn group_committed(requests: usize) {
    GROUP_COMMITS.inc();
    GROUP_COMMITTED_REQUESTS.inc_by(requests as u64);
}

/// Records a time in one of the histograms above.
pub fn record(histogram: &Histogram, took: Duration) {
    histogram.observe(took.as_secs_f64());
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Route {
    /// A standard method's name, `OTHER` for any other: no allocation per request, and
    /// no label a client can invent.
    method: &'static str,
    /// The route's pattern (`/v1/clearance-requests/{id}`), never the raw path: bounded labels.
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Tier {
    tier: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Stage {
    stage: String,
}

/// One instance's metrics: its own registry, so several instances in one process (the
/// tests) count apart; the process-wide figures above are registered in each.
pub struct Metrics {
    registry: Registry,
    requests: Family<Route, Counter>,
    durations: Family<Route, Histogram, fn() -> Histogram>,
    decisions: Family<Outcome, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Route, Counter>::default();
        let durations = Family::<Route, Histogram, fn() -> Histogram>::new_with_constructor(
            latency as fn() -> Histogram,
        );
        let decisions = Family::<Outcome, Counter>::default();
        // Counters are registered without `_total`: the encoder adds it to their samples.
        registry.register(
            "clearway_http_requests",
            "HTTP requests by route, method and status.",
            requests.clone(),
        );
        registry.register(
            "clearway_http_request_duration_seconds",
            "Time to answer, by route, method and status.",
            durations.clone(),
        );
        registry.register(
            "clearway_decisions",
            "New requests by the decision they got.",
            decisions.clone(),
        );
        registry.register(
            "clearway_redis_errors",
            "Redis calls that failed or timed out.",
            REDIS_ERRORS.clone(),
        );
        registry.register(
            "clearway_store_errors",
            "Store calls that failed for want of the database.",
            STORE_ERRORS.clone(),
        );
        registry.register(
            "clearway_store_group_commits",
            "Transactions that committed new requests (each carries every request that arrived while the last was written).",
            GROUP_COMMITS.clone(),
        );
        registry.register(
            "clearway_store_group_committed_requests",
            "New requests committed by those transactions.",
            GROUP_COMMITTED_REQUESTS.clone(),
        );
        registry.register(
            "clearway_store_group_write_seconds",
            "Time the SQLite new-request writer took over each group: its turn to write, then writing and committing it (the log's flush and any checkpoint included).",
            GROUP_WRITES.clone(),
        );
        registry.register(
            "clearway_store_new_request_seconds",
            "Each new request's time in the SQLite store: queued for the writer, committed and flushed (unless synchronous = normal), answered.",
            NEW_REQUESTS_STORED.clone(),
        );
        Self {
            registry,
            requests,
            durations,
            decisions,
        }
    }
}

fn standard_method(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    STANDARD
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("OTHER")
}

/// What the database says at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreFigures {
    /// Per stage: items waiting and the submission time of the oldest.
    pub queue: Vec<(String, i64, Option<DateTime<Utc>>)>,
    pub outbox_pending: i64,
    /// E-mail messages waiting to be sent, and given up on.
    pub mail_pending: i64,
    pub mail_failed: i64,
    /// Changes whose e-mail is not yet planned (who is written to, and what).
    pub mail_notices_pending: i64,
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
    /// Counts and times a finished request.
    pub fn observe(&self, method: &str, route: String, status: u16, took: Duration) {
        let key = Route {
            method: standard_method(method),
            route,
            status,
        };
        self.requests.get_or_create(&key).inc();
        self.durations
            .get_or_create(&key)
            .observe(took.as_secs_f64());
    }

    /// Counts a new request's decision.
    pub fn decided(&self, status: RequestStatus) {
        let outcome = Outcome {
            outcome: status.as_str(),
        };
        self.decisions.get_or_create(&outcome).inc();
    }

    /// The exposition text: this instance's registry, then the figures read for this scrape.
    pub fn render(
        &self,
        cache: CacheFigures,
        store: Option<&StoreFigures>,
        now: DateTime<Utc>,
    ) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let scrape = scrape_registry(cache, store, now);
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        let _ = encode_registry(&mut out, &scrape);
        let _ = encode_eof(&mut out);
        out
    }
}

/// The figures read at scrape time, as a registry of their own for this one scrape.
fn scrape_registry(
    cache: CacheFigures,
    store: Option<&StoreFigures>,
    now: DateTime<Utc>,
) -> Registry {
    let mut registry = Registry::default();
    let lookups = Family::<Tier, Counter>::default();
    for (tier, n) in [
        ("local", cache.local_hits),
        ("redis", cache.redis_hits),
        ("store", cache.store_reads),
    ] {
        lookups.get_or_create(&Tier { tier }).inc_by(n);
    }
    registry.register(
        "clearway_area_risk_lookups",
        "Area risk lookups by the tier that answered.",
        lookups,
    );
    let gauge = |value: i64| {
        let gauge = Gauge::<i64>::default();
        gauge.set(value);
        gauge
    };
    registry.register(
        "clearway_redis_up",
        "1 when the Redis tier answers.",
        gauge(i64::from(cache.redis_up)),
    );
    registry.register(
        "clearway_store_up",
        "1 when the figures below could be read from the database.",
        gauge(i64::from(store.is_some())),
    );
    let Some(store) = store else {
        return registry;
    };
    let depth = Family::<Stage, Gauge>::default();
    let age = Family::<Stage, Gauge<f64, AtomicU64>>::default();
    for (stage, waiting, oldest) in &store.queue {
        let label = Stage {
            stage: stage.clone(),
        };
        depth.get_or_create(&label).set(*waiting);
        let seconds = oldest.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
        age.get_or_create(&label).set(seconds);
    }
    registry.register(
        "clearway_escalation_queue_depth",
        "Escalated requests awaiting each stage.",
        depth,
    );
    registry.register(
        "clearway_escalation_queue_oldest_age_seconds",
        "Age of the oldest item awaiting each stage.",
        age,
    );
    for (name, help, value) in [
        (
            "clearway_outbox_pending_deliveries",
            "Webhook deliveries not yet made.",
            store.outbox_pending,
        ),
        (
            "clearway_mail_pending_messages",
            "E-mail messages not yet accepted by the SMTP relay.",
            store.mail_pending,
        ),
        (
            "clearway_mail_failed_messages",
            "E-mail messages given up on (GET /v1/mail lists them with their error).",
            store.mail_failed,
        ),
        (
            "clearway_mail_pending_notices",
            "Changes whose e-mail messages are not yet planned.",
            store.mail_notices_pending,
        ),
        (
            "clearway_rescreen_jobs_pending",
            "Re-screening jobs not yet finished.",
            store.rescreen_jobs_pending,
        ),
        (
            "clearway_rescreen_requests_remaining",
            "Requests those jobs have still to look at.",
            store.rescreen_requests_remaining,
        ),
    ] {
        registry.register(name, help, gauge(value));
    }
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_into_cumulative_buckets() {
        let metrics = Metrics::default();
        let route = || "/v1/areas/{code}".to_owned();
        metrics.observe("GET", route(), 200, Duration::from_micros(800));
        metrics.observe("GET", route(), 200, Duration::from_millis(30));
        metrics.observe("GET", route(), 404, Duration::from_secs(9));
        metrics.decided(RequestStatus::Cleared);
        metrics.decided(RequestStatus::Cleared);
        let text = metrics.render(CacheFigures::default(), None, Utc::now());
        let route = r#"method="GET",route="/v1/areas/{code}""#;
        for line in [
            format!(r#"clearway_http_requests_total{{{route},status="200"}} 2"#),
            format!(
                r#"clearway_http_request_duration_seconds_bucket{{le="0.001",{route},status="200"}} 1"#
            ),
            format!(
                r#"clearway_http_request_duration_seconds_bucket{{le="0.025",{route},status="200"}} 1"#
            ),
            format!(
                r#"clearway_http_request_duration_seconds_bucket{{le="0.05",{route},status="200"}} 2"#
            ),
            format!(
                r#"clearway_http_request_duration_seconds_bucket{{le="5.0",{route},status="404"}} 0"#
            ),
            format!(
                r#"clearway_http_request_duration_seconds_bucket{{le="+Inf",{route},status="404"}} 1"#
            ),
            format!(r#"clearway_http_request_duration_seconds_count{{{route},status="404"}} 1"#),
            r#"clearway_decisions_total{outcome="cleared"} 2"#.to_owned(),
            "clearway_store_up 0".to_owned(),
            "# EOF".to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
    }

    #[test]
    fn scrape_figures_become_gauges_per_stage() {
        let now = Utc::now();
        let store = StoreFigures {
            queue: vec![("hq".into(), 2, Some(now - chrono::Duration::seconds(90)))],
            outbox_pending: 4,
            mail_pending: 3,
            mail_failed: 1,
            mail_notices_pending: 5,
            rescreen_jobs_pending: 1,
            rescreen_requests_remaining: 12,
        };
        let cache = CacheFigures {
            local_hits: 7,
            redis_hits: 0,
            store_reads: 1,
            redis_up: true,
        };
        let text = Metrics::default().render(cache, Some(&store), now);
        for line in [
            r#"clearway_escalation_queue_depth{stage="hq"} 2"#,
            r#"clearway_escalation_queue_oldest_age_seconds{stage="hq"} 90.0"#,
            r#"clearway_area_risk_lookups_total{tier="local"} 7"#,
            "clearway_redis_up 1",
            "clearway_store_up 1",
            "clearway_outbox_pending_deliveries 4",
            "clearway_mail_pending_messages 3",
            "clearway_mail_failed_messages 1",
            "clearway_mail_pending_notices 5",
            "clearway_rescreen_requests_remaining 12",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }
}
