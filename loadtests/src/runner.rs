//! Driving load: closed loops (N workers, each sending as soon as its last answer came) and an
//! open loop at a fixed rate whose latencies count from the scheduled send time, so a stall
//! is charged to every request it delayed (no coordinated omission).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::server_metrics::Waits;

/// What one request came to.
pub enum Outcome {
    Ok,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub scenario: String,
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Open loop only: the seconds of the run with the highest p99, worst first, so that a
    /// tail can be told apart as steady (every second alike) or as a few stalls.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub worst_seconds: Vec<Second>,
    /// Open loop only: how late the generator itself began sending (its timer and its own
    /// scheduling), p50 and p99. Counted in the latencies, as the server's delays are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_delay_ms: Option<[f64; 2]>,
    /// CPU time the server and the generator spent per request over the scenario (user and
    /// system, from /proc): steadier than throughput on a shared machine.
    pub server_cpu_us_per_request: Option<f64>,
    pub generator_cpu_us_per_request: Option<f64>,
    /// Write scenarios: new requests per transaction, from the server's own counters.
    pub requests_per_commit: Option<f64>,
    /// Write scenarios on SQLite: the writer's time over each group (writing, committing and
    /// flushing the log, and any checkpoint SQLite ran after the commit), and each new
    /// request's time in the store (queued to answered), from the server's histograms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_writes: Option<Waits>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored: Option<Waits>,
    /// Write scenarios: the server's own time to answer each accepted submission, from its
    /// HTTP histogram.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submissions_answered: Option<Waits>,
}

/// The latency of the requests scheduled within one second of an open-loop run.
#[derive(Debug, Clone, Serialize)]
pub struct Second {
    /// Seconds since the run began.
    pub at: u64,
    pub requests: u64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Figures {
    fn from(scenario: &str, histogram: &Histogram<u64>, errors: u64, elapsed: Duration) -> Self {
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        let requests = histogram.len();
        Self {
            scenario: scenario.to_owned(),
            requests,
            errors,
            seconds: elapsed.as_secs_f64(),
            per_second: requests as f64 / elapsed.as_secs_f64(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: histogram.max() as f64 / 1000.0,
            worst_seconds: Vec::new(),
            send_delay_ms: None,
            server_cpu_us_per_request: None,
            generator_cpu_us_per_request: None,
            requests_per_commit: None,
            group_writes: None,
            stored: None,
            submissions_answered: None,
        }
    }

    /// "9830 group writes, 3 over 10 ms, slowest under 100 ms".
    pub fn disk_waits(&self) -> Option<String> {
        let writes = self.group_writes.as_ref()?;
        Some(format!(
            "{} group writes, {}",
            writes.count,
            writes.describe()
        ))
    }

    /// "60000 submissions answered, 12 over 10 ms, slowest under 25 ms; in the store 3 over
    /// 10 ms, slowest under 25 ms".
    pub fn server_answers(&self) -> Option<String> {
        let answered = self.submissions_answered.as_ref()?;
        let stored = self
            .stored
            .as_ref()
            .map(|s| format!("; in the store {}", s.describe()))
            .unwrap_or_default();
        Some(format!(
            "{} submissions answered, {}{stored}",
            answered.count,
            answered.describe()
        ))
    }

    pub fn print(&self) {
        println!(
            "{:<12} {:>9} req {:>6} err {:>7.1} s {:>10.0}/s  p50 {:>7.2} ms  p90 {:>7.2}  p99 {:>7.2}  p99.9 {:>7.2}  max {:>8.2}",
            self.scenario,
            self.requests,
            self.errors,
            self.seconds,
            self.per_second,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.p999_ms,
            self.max_ms
        );
        if let (Some(server), Some(generator)) = (
            self.server_cpu_us_per_request,
            self.generator_cpu_us_per_request,
        ) {
            let commits = self
                .requests_per_commit
                .map(|r| format!("; {r:.1} requests per commit"))
                .unwrap_or_default();
            println!(
                "             CPU per request: server {server:.0} µs, generator {generator:.0} µs{commits}"
            );
        }
        if let Some(disk) = self.disk_waits() {
            println!("             writer: {disk}");
        }
        if let Some(server) = self.server_answers() {
            println!("             server: {server}");
        }
        if !self.worst_seconds.is_empty() {
            let worst: Vec<String> = self
                .worst_seconds
                .iter()
                .map(|s| format!("s{} p99 {:.1} max {:.1}", s.at, s.p99_ms, s.max_ms))
                .collect();
            println!("             worst seconds (ms): {}", worst.join(", "));
        }
        if let Some([p50, p99]) = self.send_delay_ms {
            println!("             generator's own send delay: p50 {p50:.2} ms, p99 {p99:.2} ms");
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Runs `workers` loops until `deadline` passes or `total` requests were sent.
pub async fn closed_loop<F, Fut>(
    scenario: &str,
    workers: usize,
    deadline: Duration,
    total: Option<u64>,
    send: F,
) -> Figures
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let send = Arc::new(send);
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let end = started + deadline;
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let send = send.clone();
            let issued = issued.clone();
            tokio::spawn(async move {
                let mut histogram = histogram();
                let mut errors = 0;
                loop {
                    let n = issued.fetch_add(1, Ordering::Relaxed);
                    if Instant::now() >= end || total.is_some_and(|t| n >= t) {
                        return (histogram, errors);
                    }
                    let sent = Instant::now();
                    if let Outcome::Error = send(n).await {
                        errors += 1;
                    }
                    let _ = histogram.record(sent.elapsed().as_micros().max(1) as u64);
                }
            })
        })
        .collect();
    let mut merged = histogram();
    let mut errors = 0;
    for task in tasks {
        let (h, e) = task.await.expect("a load worker panicked");
        merged.add(h).expect("histograms share bounds");
        errors += e;
    }
    Figures::from(scenario, &merged, errors, started.elapsed())
}

/// Sends at `rate` per second for `duration`, at most `in_flight` at once.
///
/// A thread of its own paces the sends: tokio's timer fires on whole milliseconds, so every
/// send would start up to a millisecond late, and that lateness would be charged to the
/// server. Latency still counts from the scheduled time, so whatever delay the generator
/// adds is reported, as `send_delay_ms`.
pub async fn open_loop<F, Fut>(
    scenario: &str,
    rate: u64,
    duration: Duration,
    in_flight: usize,
    send: F,
) -> Figures
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    open_loop_until(scenario, rate, duration, in_flight, Arc::default(), send).await
}

/// `open_loop`, which also stops sending once `stop` is set (what the load accompanies ended).
pub async fn open_loop_until<F, Fut>(
    scenario: &str,
    rate: u64,
    duration: Duration,
    in_flight: usize,
    stop: Arc<AtomicBool>,
    send: F,
) -> Figures
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let send = Arc::new(send);
    let slots = Arc::new(Semaphore::new(in_flight));
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let count = (duration.as_secs_f64() * rate as f64) as u64;
    let started = Instant::now();
    let runtime = tokio::runtime::Handle::current();
    let pacer = std::thread::spawn(move || {
        let mut tasks = Vec::with_capacity(count as usize);
        for n in 0..count {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let scheduled = started + interval.mul_f64(n as f64);
            if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let (send, slots) = (send.clone(), slots.clone());
            let second = (scheduled - started).as_secs();
            tasks.push(runtime.spawn(async move {
                let late = scheduled.elapsed();
                let slot = slots
                    .acquire_owned()
                    .await
                    .expect("the semaphore stays open");
                let outcome = send(n).await;
                drop(slot);
                (second, late, scheduled.elapsed(), outcome)
            }));
        }
        tasks
    });
    let tasks = tokio::task::spawn_blocking(move || pacer.join().expect("the pacer panicked"))
        .await
        .expect("the pacer's join ran");
    let mut merged = histogram();
    let mut lateness = histogram();
    let mut by_second: Vec<Histogram<u64>> = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (second, late, latency, outcome) = task.await.expect("a load task panicked");
        let _ = lateness.record(late.as_micros().max(1) as u64);
        let micros = latency.as_micros().max(1) as u64;
        let _ = merged.record(micros);
        let second = second as usize;
        if by_second.len() <= second {
            by_second.resize_with(second + 1, histogram);
        }
        let _ = by_second[second].record(micros);
        if let Outcome::Error = outcome {
            errors += 1;
        }
    }
    let mut figures = Figures::from(scenario, &merged, errors, started.elapsed());
    figures.worst_seconds = worst_seconds(&by_second, 5);
    figures.send_delay_ms = Some([
        lateness.value_at_quantile(0.5) as f64 / 1000.0,
        lateness.value_at_quantile(0.99) as f64 / 1000.0,
    ]);
    figures
}

fn worst_seconds(by_second: &[Histogram<u64>], keep: usize) -> Vec<Second> {
    let mut seconds: Vec<Second> = by_second
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.is_empty())
        .map(|(at, h)| Second {
            at: at as u64,
            requests: h.len(),
            p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
            max_ms: h.max() as f64 / 1000.0,
        })
        .collect();
    seconds.sort_by(|a, b| b.p99_ms.total_cmp(&a.p99_ms));
    seconds.truncate(keep);
    seconds
}

/// Runs a scenario and charges it the CPU time the servers (`servers`, their pids) and this
/// process spent meanwhile.
pub async fn with_cpu<F: Future<Output = Figures>>(servers: &[u32], scenario: F) -> Figures {
    let of_servers = || -> Option<f64> {
        let mut total = 0.0;
        for pid in servers {
            total += cpu_seconds(*pid)?;
        }
        (!servers.is_empty()).then_some(total)
    };
    let before = (of_servers(), cpu_seconds_of("self"));
    let mut figures = scenario.await;
    let after = (of_servers(), cpu_seconds_of("self"));
    let per_request =
        |a: Option<f64>, b: Option<f64>| Some((b? - a?) * 1e6 / figures.requests.max(1) as f64);
    figures.server_cpu_us_per_request = per_request(before.0, after.0);
    figures.generator_cpu_us_per_request = per_request(before.1, after.1);
    figures
}

fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_seconds_of(&pid.to_string())
}

/// User plus system time of a process, from `/proc/<pid>/stat` (fields 14 and 15).
fn cpu_seconds_of(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: count fields after its closing parenthesis.
    let mut fields = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    // /proc counts in USER_HZ, which Linux fixes at 100 whatever the kernel's own tick.
    Some((user + system) as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_seconds_are_the_highest_p99_first_and_skip_empty_seconds() {
        let mut by_second = vec![histogram(), histogram(), histogram(), histogram()];
        for (second, micros) in [(0, 1_000), (1, 9_000), (3, 4_000)] {
            by_second[second].record(micros).unwrap();
        }
        let worst = worst_seconds(&by_second, 2);
        let at: Vec<u64> = worst.iter().map(|s| s.at).collect();
        assert_eq!(at, [1, 3]);
        assert!((worst[0].p99_ms - 9.0).abs() < 0.01, "{}", worst[0].p99_ms);
    }

    #[test]
    fn cpu_time_is_read_for_this_process() {
        let spent = cpu_seconds(std::process::id()).expect("/proc/<pid>/stat is readable");
        assert!(spent >= 0.0);
        assert_eq!(cpu_seconds(u32::MAX), None, "no such process");
    }
}
