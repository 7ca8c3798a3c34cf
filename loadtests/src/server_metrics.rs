//! What the server's `/metrics` says, read before and after a scenario: how many requests each
//! commit carried, how long the disk kept acknowledgements waiting, and how long the server
//! itself took to answer each submission.

use serde::Serialize;

/// The store's counters at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreCounters {
    pub commits: u64,
    pub committed_requests: u64,
    /// Cumulative `(upper bound in seconds, count)` buckets, `+Inf` last: the writer's time
    /// over each group (its turn, writing, committing with the log's flush).
    pub group_writes: Vec<(f64, u64)>,
    /// Each new request's time in the store: queued, committed, flushed, answered.
    pub stored: Vec<(f64, u64)>,
    /// The server's own time to answer accepted submissions (`POST /v1/clearance-requests`,
    /// 201), from its HTTP histogram: a tail the generator sees but the server does not was
    /// made outside the service (the generator, the kernel, the machine).
    pub submissions_answered: Vec<(f64, u64)>,
}

/// The series of the server's time to answer accepted submissions: its name and labels.
const SUBMISSIONS: (&str, &[(&str, &str)]) = (
    "clearway_http_request_duration_seconds",
    &[
        ("method", "POST"),
        ("route", "/v1/clearance-requests"),
        ("status", "201"),
    ],
);

/// A histogram's change over a scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Waits {
    pub count: u64,
    /// Those slower than 10 ms: a fixed-rate p99 under 10 ms needs them rarer than 1 in 100.
    pub over_10ms: u64,
    /// The upper bound of the slowest one's bucket, in ms; `None` beyond the last bound.
    pub slowest_under_ms: Option<f64>,
}

impl StoreCounters {
    /// Reads the Prometheus text; `None` when the commit counters are missing (PostgreSQL
    /// has no group writer: its histograms stay empty).
    pub fn parse(text: &str) -> Option<Self> {
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<u64>().ok())
        };
        Some(Self {
            commits: value("clearway_store_group_commits_total")?,
            committed_requests: value("clearway_store_group_committed_requests_total")?,
            group_writes: buckets(text, "clearway_store_group_write_seconds", &[]),
            stored: buckets(text, "clearway_store_new_request_seconds", &[]),
            submissions_answered: buckets(text, SUBMISSIONS.0, SUBMISSIONS.1),
        })
    }

    /// Requests per commit since `before`, if anything was committed.
    pub fn requests_per_commit(&self, before: &Self) -> Option<f64> {
        let commits = self.commits.checked_sub(before.commits)?;
        (commits > 0)
            .then(|| (self.committed_requests - before.committed_requests) as f64 / commits as f64)
    }
}

/// The buckets of the histogram `name` whose series carries `labels` (and `le`), whatever
/// the order of its labels (the OpenMetrics encoder writes `le` first).
fn buckets(text: &str, name: &str, labels: &[(&str, &str)]) -> Vec<(f64, u64)> {
    let prefix = format!("{name}_bucket{{");
    text.lines()
        .filter_map(|l| {
            let (set, count) = l.strip_prefix(&prefix)?.split_once("} ")?;
            let pairs = label_pairs(set)?;
            let wanted = labels
                .iter()
                .all(|(k, v)| pairs.iter().any(|(pk, pv)| pk == k && pv == v));
            // Only the series with exactly these labels (and `le`), not a wider one.
            if !wanted || pairs.len() != labels.len() + 1 {
                return None;
            }
            let (_, bound) = pairs.iter().find(|(k, _)| *k == "le")?;
            let bound = if *bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().ok()?
            };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect()
}

/// `a="x",b="y"` as pairs; clearway's label values hold no quotes or commas.
fn label_pairs(set: &str) -> Option<Vec<(&str, &str)>> {
    let mut pairs = Vec::new();
    let mut rest = set;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let end = after.find('"')?;
        pairs.push((key, &after[..end]));
        rest = after[end + 1..].trim_start_matches(',');
    }
    Some(pairs)
}

impl Waits {
    /// "3 over 10 ms, slowest under 100 ms".
    pub fn describe(&self) -> String {
        let slowest = match self.slowest_under_ms {
            Some(ms) => format!("slowest under {ms} ms"),
            None if self.count > 0 => "slowest over 5 s".to_owned(),
            None => "none".to_owned(),
        };
        format!("{} over 10 ms, {slowest}", self.over_10ms)
    }
}

/// What a histogram gained between two readings of the same series. A series the server had
/// not yet written (no submission answered before the scenario) counts as empty.
pub fn waits(before: &[(f64, u64)], after: &[(f64, u64)]) -> Option<Waits> {
    let none_yet: Vec<(f64, u64)>;
    let before = if before.is_empty() {
        none_yet = after.iter().map(|(bound, _)| (*bound, 0)).collect();
        &none_yet
    } else {
        before
    };
    if after.is_empty() || before.len() != after.len() {
        return None;
    }
    let gained: Vec<(f64, u64)> = before
        .iter()
        .zip(after)
        .map(|((_, b), (bound, a))| (*bound, a.saturating_sub(*b)))
        .collect();
    let count = gained.last()?.1;
    let within_10ms = gained
        .iter()
        .filter(|(bound, _)| *bound <= 0.010)
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0);
    let slowest_under_ms = gained
        .iter()
        .find(|(_, n)| *n == count)
        .map(|(bound, _)| bound * 1000.0)
        .filter(|ms| ms.is_finite());
    Some(Waits {
        count,
        over_10ms: count - within_10ms,
        slowest_under_ms: if count == 0 { None } else { slowest_under_ms },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(commits: u64, flushes: [u64; 4]) -> String {
        let [a, b, c, all] = flushes;
        format!(
            "clearway_store_group_commits_total {commits}\n\
             clearway_store_group_committed_requests_total {}\n\
             clearway_store_group_write_seconds_bucket{{le=\"0.001\"}} {a}\n\
             clearway_store_group_write_seconds_bucket{{le=\"0.01\"}} {b}\n\
             clearway_store_group_write_seconds_bucket{{le=\"0.1\"}} {c}\n\
             clearway_store_group_write_seconds_bucket{{le=\"+Inf\"}} {all}\n\
             clearway_store_group_write_seconds_count {all}\n",
            commits * 3
        )
    }

    #[test]
    fn the_change_over_a_scenario_is_counted() {
        let before = StoreCounters::parse(&text(10, [5, 8, 9, 10])).unwrap();
        let after = StoreCounters::parse(&text(110, [90, 105, 109, 110])).unwrap();
        assert_eq!(after.requests_per_commit(&before), Some(3.0));
        let flushes = waits(&before.group_writes, &after.group_writes).unwrap();
        // 100 new flushes: 97 within 10 ms, 3 slower, the slowest within 100 ms.
        assert_eq!(
            flushes,
            Waits {
                count: 100,
                over_10ms: 3,
                slowest_under_ms: Some(100.0)
            }
        );
        assert_eq!(waits(&before.stored, &after.stored), None);
    }

    #[test]
    fn a_flush_beyond_the_last_bound_has_no_bound() {
        let before = StoreCounters::parse(&text(1, [0, 0, 0, 0])).unwrap();
        let after = StoreCounters::parse(&text(2, [0, 0, 0, 1])).unwrap();
        let flushes = waits(&before.group_writes, &after.group_writes).unwrap();
        assert_eq!(
            flushes,
            Waits {
                count: 1,
                over_10ms: 1,
                slowest_under_ms: None
            }
        );
    }

    #[test]
    fn nothing_new_is_no_flush() {
        let same = StoreCounters::parse(&text(1, [1, 1, 1, 1])).unwrap();
        let flushes = waits(&same.group_writes, &same.group_writes).unwrap();
        assert_eq!(
            flushes,
            Waits {
                count: 0,
                over_10ms: 0,
                slowest_under_ms: None
            }
        );
        assert_eq!(same.requests_per_commit(&same), None);
    }

    #[test]
    fn submissions_are_read_from_their_own_series_and_count_from_none() {
        let series = |route: &str, status: u16, counts: [u64; 3]| {
            let [a, b, all] = counts;
            let labels = format!("method=\"POST\",route=\"{route}\",status=\"{status}\"");
            format!(
                "clearway_http_request_duration_seconds_bucket{{le=\"0.005\",{labels}}} {a}\n\
                 clearway_http_request_duration_seconds_bucket{{le=\"0.01\",{labels}}} {b}\n\
                 clearway_http_request_duration_seconds_bucket{{le=\"+Inf\",{labels}}} {all}\n"
            )
        };
        let before = StoreCounters::parse(&text(1, [0, 0, 0, 0])).unwrap();
        assert!(before.submissions_answered.is_empty());
        let after = StoreCounters::parse(&format!(
            "{}{}{}",
            text(2, [0, 0, 0, 0]),
            series("/v1/clearance-requests", 422, [1, 1, 1]),
            series("/v1/clearance-requests", 201, [90, 96, 100]),
        ))
        .unwrap();
        let answered = waits(&before.submissions_answered, &after.submissions_answered);
        assert_eq!(
            answered,
            Some(Waits {
                count: 100,
                over_10ms: 4,
                slowest_under_ms: None
            })
        );
    }

    #[test]
    fn group_writes_and_store_times_are_read_from_their_own_series() {
        let series = |name: &str, within_10ms: u64, all: u64| {
            format!(
                "{name}_bucket{{le=\"0.01\"}} {within_10ms}\n{name}_bucket{{le=\"0.025\"}} {all}\n\
                 {name}_bucket{{le=\"+Inf\"}} {all}\n"
            )
        };
        let counters = "clearway_store_group_commits_total 2\n\
                        clearway_store_group_committed_requests_total 6\n";
        let before = StoreCounters::parse(counters).unwrap();
        let after = StoreCounters::parse(&format!(
            "{}{}{}",
            counters,
            series("clearway_store_group_write_seconds", 7, 8),
            series("clearway_store_new_request_seconds", 20, 23),
        ))
        .unwrap();
        let gained = |before: &[(f64, u64)], after: &[(f64, u64)]| {
            waits(before, after).map(|w| (w.count, w.over_10ms, w.slowest_under_ms))
        };
        assert_eq!(
            gained(&before.group_writes, &after.group_writes),
            Some((8, 1, Some(25.0)))
        );
        assert_eq!(
            gained(&before.stored, &after.stored),
            Some((23, 3, Some(25.0)))
        );
    }
}
