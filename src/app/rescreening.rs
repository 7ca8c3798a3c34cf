//! Works through re-screening jobs: every request a changed SRA or suspension touches is
//! decided again. Jobs live in the store with a cursor, so any instance can pick one up and
//! a restart finishes what was started.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Deserialize;

use crate::app::clearing::{Clearing, RescreenBatch};
use crate::app::error::AppError;
use crate::shutdown::{Shutdown, every};
use crate::store::{RescreenJob, Store, StoreError};

#[derive(Debug, Clone, Deserialize)]
pub struct RescreenSettings {
    /// Work re-screening jobs in this process.
    pub run: bool,
    pub poll_interval_ms: u64,
    pub batch: u32,
    pub lease_seconds: i64,
}

/// How often a running job's progress (its cursor and counts) and lease are saved.
const SAVE_EVERY: Duration = Duration::from_millis(250);

pub struct Rescreener {
    store: Arc<dyn Store>,
    clearing: Arc<Clearing>,
    settings: RescreenSettings,
    /// Heard between batches: a job left at shutdown keeps its cursor and resumes later.
    shutdown: Shutdown,
}

impl Rescreener {
    pub fn new(store: Arc<dyn Store>, clearing: Arc<Clearing>, settings: RescreenSettings) -> Self {
        Self {
            store,
            clearing,
            settings,
            shutdown: Shutdown::never(),
        }
    }

    /// Works jobs until shutdown; store errors are logged and the job resumes later.
    pub async fn run(mut self, shutdown: Shutdown) {
        self.shutdown = shutdown.clone();
        let interval = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        let this = &self;
        every(interval, shutdown, || async move {
            match this.work_one().await {
                Ok(more) => more,
                Err(e) => {
                    tracing::warn!(error = %e, "re-screening round failed; the job resumes later");
                    false
                }
            }
        })
        .await;
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.settings.lease_seconds.max(5))
    }

    /// Takes the oldest unfinished job and works it to the end, or until shutdown, when it
    /// gives the job back with its cursor for any instance to resume. Returns whether there
    /// was one.
    pub async fn work_one(&self) -> Result<bool, StoreError> {
        let Some(mut job) = self
            .store
            .claim_rescreen_job(Utc::now(), self.lease())
            .await?
        else {
            return Ok(false);
        };
        if let Some(area) = &job.area
            && let Err(problem) = self.clearing.refresh_area(area).await
        {
            tracing::warn!(%problem, job = %job.id, "could not refresh the area before re-screening");
            return Ok(true);
        }
        // Reading and deciding the next batch overlaps writing this one.
        let mut next = self.read_batch(&job, job.cursor).await;
        let mut saved = std::time::Instant::now();
        loop {
            let batch = match next {
                Ok(batch) => batch,
                Err(problem) => return self.give_back(&job, problem).await,
            };
            let done = batch.ids.len() < self.settings.batch as usize;
            let mut following = None;
            if let Some(&last) = batch.ids.last() {
                let read_on = async {
                    match done {
                        true => None,
                        false => Some(self.read_batch(&job, Some(last)).await),
                    }
                };
                let (written, read) =
                    tokio::join!(self.clearing.write_rescreen(&batch, &job), read_on);
                match written {
                    Ok(moved) => job.changed += moved as i64,
                    Err(problem) => return self.give_back(&job, problem).await,
                }
                job.processed += batch.ids.len() as i64;
                job.cursor = Some(last);
                following = read;
            }
            // Requests submitted after the change was counted are screened too (one decided
            // on an instance's stale cache must not slip through): the total grows with them.
            job.total = job.total.max(job.processed);
            if done {
                // Exact at the end: requests withdrawn before their turn are not counted.
                job.total = job.processed;
            }
            // Progress is saved a few times a second, not after every batch: a commit less
            // per batch, and after a crash the batches since are only decided again.
            if done || saved.elapsed() >= SAVE_EVERY || self.shutdown.is_requested() {
                self.store
                    .advance_rescreen_job(&job, Utc::now() + self.lease(), done)
                    .await?;
                saved = std::time::Instant::now();
            }
            if done {
                log_done(&job);
                return Ok(true);
            }
            if self.shutdown.is_requested() {
                // The lease ends now: another instance, or this one restarted, goes on at once.
                self.store
                    .advance_rescreen_job(&job, Utc::now(), false)
                    .await?;
                return Ok(true);
            }
            next = following.unwrap_or_else(|| Ok(RescreenBatch::default()));
        }
    }

    /// The job's next batch after `cursor`, read and decided.
    async fn read_batch(
        &self,
        job: &RescreenJob,
        cursor: Option<uuid::Uuid>,
    ) -> Result<RescreenBatch, AppError> {
        let at = RescreenJob {
            cursor,
            ..job.clone()
        };
        let ids = self
            .store
            .rescreen_candidates(&at, self.settings.batch)
            .await?;
        self.clearing.prepare_rescreen(ids).await
    }

    /// A batch failed: the job keeps its cursor before it, for the next attempt to start
    /// there, and its lease ends now.
    async fn give_back(&self, job: &RescreenJob, problem: AppError) -> Result<bool, StoreError> {
        tracing::warn!(%problem, job = %job.id, "re-screening a batch failed");
        self.store
            .advance_rescreen_job(job, Utc::now(), false)
            .await?;
        Ok(true)
    }
}

fn log_done(job: &RescreenJob) {
    tracing::info!(job = %job.id, area = ?job.area, operator = ?job.operator, processed = job.processed, changed = job.changed, reason = %job.reason, "re-screening finished");
}
