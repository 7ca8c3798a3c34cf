//! clearway-load: drives a running clearway with realistic scenarios, prints throughput and
//! latency percentiles, checks that nothing acknowledged was lost, and writes a report.
//! `loadtests/run.sh` starts everything this needs; see loadtests/README.md. One file: the
//! scenarios share the driver and the loss check, and each is a page long.

mod receiver;
mod runner;
mod server_metrics;
mod smtp_sink;
mod verify;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use clearway::auth::{Role, issue_development_token};
use clearway::config::Settings;
use runner::{Figures, Outcome, closed_loop, open_loop, open_loop_until, with_cpu};
use serde::{Deserialize, Serialize};
use serde_json::json;
use server_metrics::StoreCounters;
use verify::{Acks, Verification};
use workload::{ORGS, Workload};

#[derive(Parser, Clone)]
#[command(name = "clearway-load")]
struct Cli {
    #[arg(long)]
    base_url: String,
    /// Another instance of the service on the same store: submissions and the ceiling's reads
    /// alternate between the two; the other scenarios and the server's counters are the first
    /// instance's.
    #[arg(long)]
    also_base_url: Option<String>,
    /// The service's SQLite file or PostgreSQL URL, read after the load to check for losses.
    #[arg(long)]
    db: String,
    /// The service's process id: its CPU time per request, and its memory (RSS) during the
    /// soak. Once per instance: the CPU time is theirs together, the memory the first's.
    #[arg(long)]
    server_pid: Vec<u32>,
    #[arg(long, default_value = "config")]
    config_dir: PathBuf,
    /// `full` (the documented run) or `short` (CI: seconds, a few thousand requests).
    #[arg(long, default_value = "full")]
    profile: String,
    /// Comma-separated: ceiling,areas,submit,fixed-rate,mixed,rescreen,soak.
    #[arg(
        long,
        default_value = "ceiling,areas,submit,fixed-rate,mixed,rescreen,soak"
    )]
    scenarios: String,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    #[arg(long)]
    soak_total: Option<u64>,
    #[arg(long, default_value = "loadtests/reports")]
    report_dir: PathBuf,
    /// A label for the store behind the service, for the report (sqlite, postgres).
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// The port the service sends e-mail to (`mail.smtp_port`, no TLS): a relay listens there,
    /// and the `rescreen` scenario gives its travellers addresses and waits for their mail.
    #[arg(long)]
    smtp_sink_port: Option<u16>,
}

struct Plan {
    seconds: u64,
    fixed_seconds: u64,
    soak_total: u64,
}

#[derive(Deserialize)]
struct Ack {
    id: String,
    status: String,
}

/// Everything the scenarios share: the client, tokens, bodies, and what was acknowledged.
struct Bench {
    base: String,
    /// Where submissions and the ceiling's reads go, by turns (`base` first).
    spread: Vec<String>,
    client: reqwest::Client,
    units: Vec<String>,
    admin: String,
    analyst: String,
    bodies: Vec<(usize, Vec<u8>)>,
    acks: Arc<Acks>,
    failures: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Bench {
    /// Sends submission `n` (cycling through the pre-built bodies) and records its acknowledgement.
    async fn submit(&self, n: u64) -> Outcome {
        let (org, body) = &self.bodies[n as usize % self.bodies.len()];
        let sent = self
            .client
            .post(format!(
                "{}/v1/clearance-requests",
                self.spread[n as usize % self.spread.len()]
            ))
            .bearer_auth(&self.units[*org])
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return self.failed(format!("sending: {e}")),
        };
        if response.status() != 201 {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return self.failed(format!(
                "{status}: {}",
                body.chars().take(200).collect::<String>()
            ));
        }
        match response.json::<Ack>().await {
            Ok(ack) => {
                self.acks.record(ack.id, ack.status);
                Outcome::Ok
            }
            Err(e) => self.failed(format!("reading the answer: {e}")),
        }
    }

    /// Counts a failed submission by what went wrong, so the run can say why it failed.
    fn failed(&self, why: String) -> Outcome {
        *self
            .failures
            .lock()
            .expect("not poisoned")
            .entry(why)
            .or_default() += 1;
        Outcome::Error
    }

    /// The store's counters from the server's `/metrics`.
    async fn store_counters(&self) -> Option<StoreCounters> {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        StoreCounters::parse(&text)
    }

    /// Runs a scenario that submits, and adds how many requests each commit carried, how long
    /// the disk made them wait, and how long the server took to answer them.
    async fn writing(&self, scenario: impl Future<Output = Figures>) -> Figures {
        let before = self.store_counters().await;
        let mut figures = scenario.await;
        if let (Some(before), Some(after)) = (before, self.store_counters().await) {
            figures.requests_per_commit = after.requests_per_commit(&before);
            figures.group_writes = server_metrics::waits(&before.group_writes, &after.group_writes);
            figures.stored = server_metrics::waits(&before.stored, &after.stored);
            figures.submissions_answered =
                server_metrics::waits(&before.submissions_answered, &after.submissions_answered);
        }
        figures
    }

    /// `GET /healthz` of the instance whose turn `n` is.
    async fn health(&self, n: u64) -> Outcome {
        let base = &self.spread[n as usize % self.spread.len()];
        match self.client.get(format!("{base}/healthz")).send().await {
            Ok(r) if r.status().is_success() => match r.bytes().await {
                Ok(_) => Outcome::Ok,
                Err(_) => Outcome::Error,
            },
            _ => Outcome::Error,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Outcome {
        match self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => match r.bytes().await {
                Ok(_) => Outcome::Ok,
                Err(_) => Outcome::Error,
            },
            _ => Outcome::Error,
        }
    }
}

#[derive(Serialize)]
struct Report {
    generated_at: String,
    backend: String,
    /// How many instances of the service served the submissions.
    instances: usize,
    profile: String,
    machine: Machine,
    scenarios: Vec<Figures>,
    submit_to_ceiling: Option<f64>,
    areas_to_ceiling: Option<f64>,
    mixed: Option<serde_json::Value>,
    rescreen: Option<Rescreen>,
    soak: Option<Soak>,
    while_serving: verify::WhileServing,
    verification: Verification,
}

#[derive(Serialize)]
struct Machine {
    cores: usize,
    memory_gib: f64,
}

#[derive(Serialize, Clone)]
struct Soak {
    total: u64,
    /// Throughput of each tenth of the run, in order.
    per_second_by_tenth: Vec<f64>,
    rss_start_kib: Option<u64>,
    rss_after_first_tenth_kib: Option<u64>,
    rss_end_kib: Option<u64>,
    rss_growth_percent: Option<f64>,
}

impl Soak {
    /// Throughput by tenth and the server's memory, as the console and the report print them.
    fn describe(&self) -> String {
        let tenths: Vec<String> = self
            .per_second_by_tenth
            .iter()
            .map(|t| format!("{t:.0}"))
            .collect();
        let rss = match (
            self.rss_start_kib,
            self.rss_after_first_tenth_kib,
            self.rss_end_kib,
            self.rss_growth_percent,
        ) {
            (Some(start), Some(first), Some(end), Some(growth)) => format!(
                "server RSS {} MiB at start, {} MiB after the first tenth, {} MiB at the end ({growth:+.1}% from the first tenth)",
                start / 1024,
                first / 1024,
                end / 1024
            ),
            _ => "server RSS not measured (no --server-pid)".to_owned(),
        };
        format!("per second by tenth [{}]; {rss}", tenths.join(", "))
    }
}

/// Requests per second between successive (time, requests done) marks, from the start.
fn rates(marks: &[(Duration, u64)]) -> Vec<f64> {
    let mut previous = (Duration::ZERO, 0);
    marks
        .iter()
        .map(|&(at, done)| {
            let rate = (done - previous.1) as f64 / (at - previous.0).as_secs_f64().max(1e-3);
            previous = (at, done);
            rate
        })
        .collect()
}

fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn memory_gib() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let plan = match cli.profile.as_str() {
        "short" => Plan {
            seconds: 3,
            fixed_seconds: 3,
            soak_total: 3_000,
        },
        "full" => Plan {
            seconds: 15,
            fixed_seconds: 30,
            soak_total: 1_000_000,
        },
        other => bail!("unknown profile {other}: full or short"),
    };
    let soak_total = cli.soak_total.unwrap_or(plan.soak_total);
    let settings = Settings::load(&cli.config_dir, "development")?;
    let token = |sub: &str, role: Role, org: Option<&str>| {
        issue_development_token(&settings.auth, sub, &[role], org, 24 * 60)
    };
    let units = ORGS
        .iter()
        .map(|org| {
            token(
                &format!("{}-travel-desk", org.to_lowercase()),
                Role::TravelUnit,
                Some(org),
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut workload = Workload::new(2026);
    let bodies = (0..20_000)
        .map(|_| {
            let s = workload.submission();
            (s.org, s.body)
        })
        .collect();
    clearway::startup::install_tls_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.concurrency * 2)
        // Below the server's keep-alive (15 s): a connection the server is closing for
        // idleness must not be picked for the next request, which would then fail.
        .pool_idle_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = cli.base_url.trim_end_matches('/').to_owned();
    let spread = std::iter::once(base.clone())
        .chain(
            cli.also_base_url
                .iter()
                .map(|u| u.trim_end_matches('/').to_owned()),
        )
        .collect();
    let bench = Arc::new(Bench {
        base,
        spread,
        client,
        units,
        admin: token("load-admin", Role::Admin, None)?,
        analyst: token("load-analyst", Role::SecurityAnalyst, None)?,
        bodies,
        acks: Arc::default(),
        failures: Default::default(),
    });
    let wanted: Vec<&str> = cli.scenarios.split(',').map(str::trim).collect();
    let run = Duration::from_secs(plan.seconds);
    let mut figures = Vec::new();
    let mut mixed = None;
    let mut rescreen = None;
    let mut soak = None;
    // A second process reading the store while the server serves, every two seconds.
    let (stop_checks, checks_stop) = tokio::sync::watch::channel(false);
    let checks = tokio::spawn(verify::while_serving(
        cli.db.clone(),
        bench.acks.clone(),
        Duration::from_secs(2),
        checks_stop,
    ));

    println!(
        "clearway-load: {} profile against {} ({} store), {} connections",
        cli.profile,
        bench.spread.join(" and "),
        cli.backend,
        cli.concurrency
    );
    if wanted.contains(&"ceiling") {
        let b = bench.clone();
        let scenario = closed_loop("ceiling", cli.concurrency, run, None, move |n| {
            let b = b.clone();
            async move { b.health(n).await }
        });
        let f = with_cpu(&cli.server_pid, scenario).await;
        f.print();
        figures.push(f);
    }
    if wanted.contains(&"areas") {
        let b = bench.clone();
        let scenario = closed_loop("areas", cli.concurrency, run, None, move |n| {
            let b = b.clone();
            async move {
                let area = workload::AREAS[n as usize % workload::AREAS.len()];
                b.get(&format!("/v1/areas/{area}"), &b.units[0]).await
            }
        });
        let f = with_cpu(&cli.server_pid, scenario).await;
        f.print();
        figures.push(f);
    }
    if wanted.contains(&"submit") {
        let b = bench.clone();
        let scenario = closed_loop("submit", cli.concurrency, run, None, move |n| {
            let b = b.clone();
            async move { b.submit(n).await }
        });
        let f = bench.writing(with_cpu(&cli.server_pid, scenario)).await;
        f.print();
        figures.push(f);
    }
    if wanted.contains(&"fixed-rate") {
        let b = bench.clone();
        let scenario = open_loop(
            "fixed-rate",
            cli.rate,
            Duration::from_secs(plan.fixed_seconds),
            4096,
            move |n| {
                let b = b.clone();
                async move { b.submit(n).await }
            },
        );
        let f = bench.writing(with_cpu(&cli.server_pid, scenario)).await;
        f.print();
        figures.push(f);
    }
    if wanted.contains(&"mixed") {
        let (f, summary) = run_mixed(bench.clone(), run).await;
        f.print();
        println!("             {summary}");
        figures.push(f);
        mixed = Some(summary);
    }
    if wanted.contains(&"rescreen") {
        let sink = match cli.smtp_sink_port {
            Some(port) => Some(smtp_sink::SmtpSink::start(port).await?),
            None => None,
        };
        let (fresh, during, summary) =
            run_rescreen(bench.clone(), cli.concurrency, cli.rate, run, sink.as_ref()).await?;
        for f in [fresh, during.0, during.1] {
            f.print();
            figures.push(f);
        }
        println!("             {}", summary.describe());
        rescreen = Some(summary);
    }
    if wanted.contains(&"soak") {
        let mut summary = None;
        let soaking = async {
            let (f, s) = run_soak(
                bench.clone(),
                cli.concurrency,
                soak_total,
                cli.server_pid.first().copied(),
            )
            .await;
            summary = Some(s);
            f
        };
        let f = bench.writing(with_cpu(&cli.server_pid, soaking)).await;
        let s = summary.expect("the soak ran");
        f.print();
        println!("             {}", s.describe());
        figures.push(f);
        soak = Some(s);
    }

    let _ = stop_checks.send(true);
    let while_serving = checks.await.context("the checks while serving")?;
    println!(
        "verification while serving: {} reads beside the server, the last of {} acknowledged; \
         {} lost, {} mismatched, quick_check {}",
        while_serving.checks,
        while_serving.acknowledged,
        while_serving.lost,
        while_serving.mismatched,
        if while_serving.damaged.is_empty() {
            "ok".to_owned()
        } else {
            while_serving.damaged.join("; ")
        }
    );
    let verification = verify::against_store(&cli.db, &bench.acks)
        .await
        .context("reading the store to verify")?;
    println!(
        "verification: {} acknowledged, {} found with the decision given, {} lost, {} mismatched",
        verification.acknowledged,
        verification.verified,
        verification.lost,
        verification.mismatched
    );
    let by_name = |name: &str| {
        figures
            .iter()
            .find(|f| f.scenario == name)
            .map(|f| f.per_second)
    };
    let ratio = |name: &str| Some(by_name(name)? / by_name("ceiling")?);
    let report = Report {
        generated_at: chrono::Utc::now().to_rfc3339(),
        backend: cli.backend.clone(),
        instances: bench.spread.len(),
        profile: cli.profile.clone(),
        machine: Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: memory_gib(),
        },
        submit_to_ceiling: ratio("submit"),
        areas_to_ceiling: ratio("areas"),
        scenarios: figures,
        mixed: mixed.map(|m| json!(m)),
        rescreen,
        soak,
        while_serving: while_serving.clone(),
        verification: verification.clone(),
    };
    if let Some(r) = report.submit_to_ceiling {
        println!("submit / ceiling = {:.0}%", r * 100.0);
    }
    if let Some(r) = report.areas_to_ceiling {
        println!("areas / ceiling = {:.0}%", r * 100.0);
    }
    write_report(&cli.report_dir, &report)?;
    let submit_errors: u64 = report
        .scenarios
        .iter()
        .filter(|f| {
            matches!(
                f.scenario.as_str(),
                "submit" | "fixed-rate" | "soak" | "mixed" | "rescreen-new" | "rescreen-sub"
            )
        })
        .map(|f| f.errors)
        .sum();
    if !verification.passed() {
        bail!("acknowledged requests were lost or changed");
    }
    if !while_serving.passed() {
        bail!("a read beside the serving server found requests lost or the file damaged");
    }
    if submit_errors > 0 {
        for (why, count) in bench.failures.lock().expect("not poisoned").iter() {
            eprintln!("failed submissions: {count} x {why}");
        }
        bail!("{submit_errors} submissions failed");
    }
    Ok(())
}

/// Submissions while travellers poll, approvers work both queues and an analyst publishes a
/// new SRA every few seconds (each starting a re-screen).
async fn run_mixed(bench: Arc<Bench>, run: Duration) -> (Figures, String) {
    let polls = Arc::new(AtomicU64::new(0));
    let decisions = Arc::new(AtomicU64::new(0));
    let publications = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + run;
    let mut side = Vec::new();
    for worker in 0..4 {
        let (b, polls) = (bench.clone(), polls.clone());
        side.push(tokio::spawn(async move {
            while Instant::now() < end {
                let id = b.acks.seen_id(worker);
                match id {
                    Some(id) => {
                        if let Outcome::Ok = b
                            .get(&format!("/v1/clearance-requests/{id}"), &b.admin)
                            .await
                        {
                            polls.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    None => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }));
    }
    for (stage, role) in [("hq", Role::ApproverHq), ("dg", Role::ApproverDg)] {
        let (b, decisions) = (bench.clone(), decisions.clone());
        side.push(tokio::spawn(async move {
            let settings = Settings::load(std::path::Path::new("config"), "development").ok();
            let Some(token) = settings.and_then(|s| {
                issue_development_token(&s.auth, &format!("load-{stage}"), &[role], None, 60).ok()
            }) else {
                return;
            };
            while Instant::now() < end {
                if decide_one(&b, stage, &token).await {
                    decisions.fetch_add(1, Ordering::Relaxed);
                } else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    {
        let (b, publications) = (bench.clone(), publications.clone());
        side.push(tokio::spawn(async move {
            let mut version = 100 + (chrono::Utc::now().timestamp() % 100_000) as u32 * 10;
            let mut offset = 1;
            while Instant::now() < end {
                let today = chrono::Utc::now().date_naive();
                let body = json!({
                    "area": "ETH-ADD", "version": version,
                    "effective_from": (today + chrono::Days::new(offset)).to_string(),
                    "review_due": (today + chrono::Days::new(300)).to_string(),
                    "security_level": 3, "residual_risk": if version.is_multiple_of(2) { "medium" } else { "high" },
                    "mandatory_measures": ["Security briefing on arrival"],
                });
                let sent = b.client.post(format!("{}/v1/sras", b.base)).bearer_auth(&b.analyst).json(&body).send().await;
                if sent.is_ok_and(|r| r.status() == 201) {
                    publications.fetch_add(1, Ordering::Relaxed);
                }
                version += 1;
                offset += 1;
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
        }));
    }
    let b = bench.clone();
    let figures = closed_loop("mixed", 16, run, None, move |n| {
        let b = b.clone();
        async move { b.submit(n).await }
    })
    .await;
    for task in side {
        let _ = task.await;
    }
    let summary = format!(
        "alongside: {} status polls, {} approver decisions, {} SRA publications",
        polls.load(Ordering::Relaxed),
        decisions.load(Ordering::Relaxed),
        publications.load(Ordering::Relaxed)
    );
    (figures, summary)
}

/// What the `rescreen` scenario's job came to, from the service's own record of it.
#[derive(Serialize, Clone)]
struct Rescreen {
    area: &'static str,
    total: i64,
    processed: i64,
    changed: i64,
    /// From the job's creation (the SRA's publication) to its end, by the server's clock.
    seconds: f64,
    per_second: f64,
    /// The closed-loop submissions just before, in this run.
    fresh_per_second: f64,
    to_fresh: f64,
    /// Distinct requests whose `request.rescreened` webhook event reached their travel unit.
    events_delivered: usize,
    /// How long after the job was seen done the last of them arrived (0: before).
    last_event_after_job_seconds: f64,
    /// With a relay: the messages it accepted from the SRA's publication on (the moves'
    /// and the submissions' meanwhile), and how long after the job the last arrived.
    mail: Option<MailFigures>,
}

#[derive(Serialize, Clone)]
struct MailFigures {
    messages: usize,
    last_after_job_seconds: f64,
}

impl Rescreen {
    fn describe(&self) -> String {
        format!(
            "re-screening {}: {} requests ({} moved) in {:.1} s = {:.0}/s; fresh submissions {:.0}/s; re-screening / fresh = {:.0}%\n\
             webhooks: {} moved requests' events delivered to their travel units, the last {:.1} s after the job was done",
            self.area,
            self.processed,
            self.changed,
            self.seconds,
            self.per_second,
            self.fresh_per_second,
            self.to_fresh * 100.0,
            self.events_delivered,
            self.last_event_after_job_seconds
        ) + &self.mail.as_ref().map_or(String::new(), |m| {
            format!(
                "\ne-mail: {} messages accepted by the relay, the last {:.1} s after the job was done",
                m.messages, m.last_after_job_seconds
            )
        })
    }
}

/// The area whose risk the `rescreen` scenario raises: the low-risk area most generated
/// itineraries visit.
const RESCREENED_AREA: &str = "CHE-GVA";

/// Re-screening under load (issue 32). Fresh submissions for `run` (closed loop: the rate to
/// compare with, and requests to screen), then an SRA raises the area to Very High, which
/// moves nearly every request there, while submissions and status reads go on at `rate`
/// (half each, open loop) until the job is done. Fails if the job's counts do not add up.
async fn run_rescreen(
    bench: Arc<Bench>,
    concurrency: usize,
    rate: u64,
    run: Duration,
    sink: Option<&smtp_sink::SmtpSink>,
) -> anyhow::Result<(Figures, (Figures, Figures), Rescreen)> {
    let b = bench.clone();
    let fresh = closed_loop("rescreen-new", concurrency, run, None, move |n| {
        let b = b.clone();
        async move { b.submit(n).await }
    })
    .await;
    // Every organisation's travel unit hears of its requests' re-screening, from here on.
    let receiver = receiver::Receiver::start()?;
    let mut hooks = Vec::new();
    for token in &bench.units {
        let response = bench
            .client
            .post(format!("{}/v1/webhooks", bench.base))
            .bearer_auth(token)
            .json(&json!({ "url": receiver.url, "events": ["request.rescreened"] }))
            .send()
            .await?;
        if response.status() != 201 {
            bail!(
                "registering a webhook: {} {}",
                response.status(),
                response.text().await?
            );
        }
        let made: serde_json::Value = response.json().await?;
        let id = made["id"].as_str().context("the webhook's id")?.to_owned();
        hooks.push((token, id));
    }
    // With a relay, the travellers get addresses once the submissions' own notices are
    // planned (to nobody): from here on every change to their requests is written to them.
    let mail_before = match sink {
        Some(sink) => {
            let failed = mail_settled(&bench, false).await?;
            directory(&bench, true).await?;
            Some((sink.messages().0, failed))
        }
        None => None,
    };
    let today = chrono::Utc::now().date_naive();
    // Above any version published before, in this run or an earlier one on the same store.
    let version = 1_000_000 + (chrono::Utc::now().timestamp() % 1_000_000_000);
    let body = json!({
        "area": RESCREENED_AREA, "version": version,
        "effective_from": today.to_string(),
        "review_due": (today + chrono::Days::new(90)).to_string(),
        "security_level": 5, "residual_risk": "very_high",
        "mandatory_measures": ["Armoured vehicle movement only"],
    });
    let response = bench
        .client
        .post(format!("{}/v1/sras", bench.base))
        .bearer_auth(&bench.analyst)
        .json(&body)
        .send()
        .await?;
    if response.status() != 201 {
        bail!(
            "publishing the SRA: {} {}",
            response.status(),
            response.text().await?
        );
    }
    let published: serde_json::Value = response.json().await?;
    let job = published["rescreening"]["id"]
        .as_str()
        .context("the publication names its re-screening")?
        .to_owned();

    let done = Arc::new(AtomicBool::new(false));
    let longest = Duration::from_secs(900);
    let b = bench.clone();
    let submitting = tokio::spawn(open_loop_until(
        "rescreen-sub",
        rate.div_ceil(2),
        longest,
        4096,
        done.clone(),
        move |n| {
            let b = b.clone();
            async move { b.submit(n).await }
        },
    ));
    let b = bench.clone();
    let reading = tokio::spawn(open_loop_until(
        "rescreen-read",
        rate / 2,
        longest,
        4096,
        done.clone(),
        move |n| {
            let b = b.clone();
            async move {
                match b.acks.seen_id(n as usize % 64) {
                    Some(id) => {
                        b.get(&format!("/v1/clearance-requests/{id}"), &b.admin)
                            .await
                    }
                    None => Outcome::Error,
                }
            }
        },
    ));
    let started = Instant::now();
    let finished = loop {
        let state: serde_json::Value = bench
            .client
            .get(format!("{}/v1/rescreening/{job}", bench.base))
            .bearer_auth(&bench.analyst)
            .send()
            .await?
            .json()
            .await?;
        if state["status"] == "done" {
            break state;
        }
        if started.elapsed() > longest {
            done.store(true, Ordering::Relaxed);
            bail!("re-screening job {job} not done after {longest:?}: {state}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    done.store(true, Ordering::Relaxed);
    let during = (submitting.await?, reading.await?);
    let number = |key: &str| finished[key].as_i64().unwrap_or(-1);
    let at = |key: &str| {
        finished[key]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    let (Some(created), Some(ended)) = (at("created_at"), at("finished_at")) else {
        bail!("the job's times are missing: {finished}");
    };
    let seconds = ((ended - created).num_microseconds().unwrap_or(0) as f64 / 1e6).max(1e-3);
    let (total, processed, changed) = (number("total"), number("processed"), number("changed"));
    if processed != total || changed > processed || processed <= 0 {
        bail!("the job's counts do not add up: {finished}");
    }
    let per_second = processed as f64 / seconds;
    // Each moved request's event, delivered: the last one's delay after the job ended.
    let job_done = Instant::now();
    let wanted = usize::try_from(changed).unwrap_or(0);
    while receiver.heard.lock().map(|h| h.count()).unwrap_or(0) < wanted
        && job_done.elapsed() < Duration::from_secs(300)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (delivered, last_new) = {
        let heard = receiver.heard.lock().unwrap_or_else(|e| e.into_inner());
        (heard.count(), heard.last_new())
    };
    receiver.stop().await;
    for (token, id) in hooks {
        bench
            .client
            .delete(format!("{}/v1/webhooks/{id}", bench.base))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?;
    }
    if delivered < wanted {
        bail!("{delivered} of {wanted} re-screening events reached the travel units in 300 s");
    }
    let mail = match (sink, mail_before) {
        (Some(sink), Some((before, failed_before))) => {
            let failed = mail_settled(&bench, true).await?;
            if failed > failed_before {
                bail!("{} e-mail messages given up on", failed - failed_before);
            }
            let (messages, last) = sink.messages();
            directory(&bench, false).await?;
            Some(MailFigures {
                messages: messages - before,
                last_after_job_seconds: last
                    .map_or(0.0, |t| t.saturating_duration_since(job_done).as_secs_f64()),
            })
        }
        _ => None,
    };
    let summary = Rescreen {
        area: RESCREENED_AREA,
        total,
        processed,
        changed,
        seconds,
        per_second,
        fresh_per_second: fresh.per_second,
        to_fresh: per_second / fresh.per_second,
        events_delivered: delivered,
        last_event_after_job_seconds: last_new
            .map_or(0.0, |t| t.saturating_duration_since(job_done).as_secs_f64()),
        mail,
    };
    Ok((fresh, during, summary))
}

/// Waits (up to 300 s) until the service has planned every change's e-mail and, if `sent`,
/// handed every message to the relay, by its own `/metrics`; returns how many messages it
/// has given up on.
async fn mail_settled(bench: &Bench, sent: bool) -> anyhow::Result<f64> {
    let started = Instant::now();
    loop {
        let text = bench
            .client
            .get(format!("{}/metrics", bench.base))
            .bearer_auth(&bench.admin)
            .send()
            .await?
            .text()
            .await?;
        let gauge = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
        };
        let notices = gauge("clearway_mail_pending_notices").context("no notices gauge")?;
        let messages = gauge("clearway_mail_pending_messages").context("no messages gauge")?;
        if notices == 0.0 && (!sent || messages == 0.0) {
            return gauge("clearway_mail_failed_messages").context("no failed gauge");
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!("e-mail not settled after 300 s: {notices} notices, {messages} messages pending");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Gives every generated traveller a directory entry with an address, or takes it away.
async fn directory(bench: &Bench, present: bool) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    let results: Vec<anyhow::Result<()>> =
        futures_util::stream::iter((0..workload::TRAVELLERS).map(|n| async move {
            let url = format!("{}/v1/people/t-{n:05}", bench.base);
            let request = if present {
                bench.client.put(url).json(&json!({
                    "name": format!("Traveller {n}"),
                    "email": format!("t-{n:05}@travellers.example"),
                    "language": "en",
                }))
            } else {
                bench.client.delete(url)
            };
            let response = request.bearer_auth(&bench.admin).send().await?;
            if !response.status().is_success() {
                bail!("directory entry t-{n:05}: {}", response.status());
            }
            Ok(())
        }))
        .buffer_unordered(32)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Lists a stage's queue, claims its first item and approves it. Returns whether it decided.
async fn decide_one(bench: &Bench, stage: &str, token: &str) -> bool {
    let Ok(response) = bench
        .client
        .get(format!(
            "{}/v1/escalations?stage={stage}&limit=5",
            bench.base
        ))
        .bearer_auth(token)
        .send()
        .await
    else {
        return false;
    };
    let Ok(queue) = response.json::<serde_json::Value>().await else {
        return false;
    };
    let Some(id) = queue["items"]
        .as_array()
        .and_then(|items| items.first())
        .and_then(|i| i["request"]["id"].as_str().map(str::to_owned))
    else {
        return false;
    };
    let claim = bench
        .client
        .post(format!("{}/v1/escalations/{id}/claim", bench.base))
        .bearer_auth(token)
        .send()
        .await;
    if !claim.is_ok_and(|r| r.status() == 200) {
        return false;
    }
    let decision = bench
        .client
        .post(format!("{}/v1/escalations/{id}/decision", bench.base))
        .bearer_auth(token)
        .json(&json!({"decision": "approve", "comment": "Load test: security plan adequate"}))
        .send()
        .await;
    decision.is_ok_and(|r| r.status() == 200)
}

async fn run_soak(
    bench: Arc<Bench>,
    workers: usize,
    total: u64,
    pid: Option<u32>,
) -> (Figures, Soak) {
    let rss_start = rss_kib(pid);
    let base = bench.acks.len() as u64;
    let tenth = (total / 10).max(1);
    let sampler = {
        let bench = bench.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut marks = Vec::new();
            let mut rss_after_first = None;
            let mut next = tenth;
            while next <= total {
                let done = bench.acks.len() as u64 - base;
                if done >= next {
                    // One mark per look, with the count it saw: a look that finds several
                    // tenths passed (a short run) must not divide them by no time at all.
                    marks.push((started.elapsed(), done));
                    if rss_after_first.is_none() {
                        rss_after_first = rss_kib(pid);
                    }
                    while next <= done {
                        next += tenth;
                    }
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if started.elapsed() > Duration::from_secs(3600) {
                    break;
                }
            }
            (marks, rss_after_first)
        })
    };
    let b = bench.clone();
    let figures = closed_loop(
        "soak",
        workers,
        Duration::from_secs(3600),
        Some(total),
        move |n| {
            let b = b.clone();
            async move { b.submit(n).await }
        },
    )
    .await;
    let (marks, rss_after_first) = sampler.await.unwrap_or_default();
    let per_second = rates(&marks);
    let rss_end = rss_kib(pid);
    let growth = rss_after_first
        .zip(rss_end)
        .map(|(a, b)| (b as f64 - a as f64) / a as f64 * 100.0);
    (
        figures,
        Soak {
            total,
            per_second_by_tenth: per_second,
            rss_start_kib: rss_start,
            rss_after_first_tenth_kib: rss_after_first,
            rss_end_kib: rss_end,
            rss_growth_percent: growth,
        },
    )
}

fn write_report(dir: &std::path::Path, report: &Report) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(report)?;
    let mut md = format!(
        "# clearway load test ({} profile, {} store)\n\n{} · {} cores · {:.0} GiB · load generator on the same machine\n\n\
         | scenario | requests | errors | seconds | per second | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        report.profile,
        report.backend,
        report.generated_at,
        report.machine.cores,
        report.machine.memory_gib
    );
    for f in &report.scenarios {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            f.scenario,
            f.requests,
            f.errors,
            f.seconds,
            f.per_second,
            f.p50_ms,
            f.p90_ms,
            f.p99_ms,
            f.p999_ms,
            f.max_ms
        ));
    }
    for f in &report.scenarios {
        if let Some(disk) = f.disk_waits() {
            md.push_str(&format!("\n{} writer: {disk}\n", f.scenario));
        }
        if let Some(server) = f.server_answers() {
            md.push_str(&format!("\n{} server: {server}\n", f.scenario));
        }
    }
    if let Some(r) = report.submit_to_ceiling {
        md.push_str(&format!("\nsubmit / ceiling: **{:.0}%**", r * 100.0));
    }
    if let Some(r) = report.areas_to_ceiling {
        md.push_str(&format!(
            "; GET /v1/areas/{{code}} / ceiling: **{:.0}%**\n",
            r * 100.0
        ));
    }
    if let Some(m) = &report.mixed {
        md.push_str(&format!("\nmixed: {m}\n"));
    }
    if let Some(s) = &report.soak {
        md.push_str(&format!(
            "\nsoak: {} submissions; {}\n",
            s.total,
            s.describe()
        ));
    }
    let v = &report.verification;
    md.push_str(&format!(
        "\nverification: {} acknowledged, {} found in the store with the decision given, {} lost, {} mismatched\n",
        v.acknowledged, v.verified, v.lost, v.mismatched
    ));
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    std::fs::write(
        dir.join(format!(
            "{stamp}-{}-{}.json",
            report.backend, report.profile
        )),
        &json,
    )?;
    std::fs::write(
        dir.join(format!("{stamp}-{}-{}.md", report.backend, report.profile)),
        &md,
    )?;
    std::fs::write(
        dir.join(format!("latest-{}-{}.json", report.backend, report.profile)),
        &json,
    )?;
    std::fs::write(
        dir.join(format!("latest-{}-{}.md", report.backend, report.profile)),
        &md,
    )?;
    println!(
        "report: {}",
        dir.join(format!("latest-{}-{}.md", report.backend, report.profile))
            .display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::rates;

    #[test]
    fn rates_divide_each_stretch_by_its_own_time() {
        let marks = [
            (Duration::from_secs(1), 100),
            (Duration::from_secs(3), 500),
            (Duration::from_millis(3500), 600),
        ];
        assert_eq!(rates(&marks), [100.0, 200.0, 200.0]);
    }
}
