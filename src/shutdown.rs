//! Telling background tasks to stop: one signal that every periodic loop hears between
//! rounds (mini-redis's `Shutdown`), so SIGTERM ends them within the shutdown timeout.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// The listening end; clone one for each task.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

/// The end that asks every [`Shutdown`] made from it to stop.
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

impl Trigger {
    pub fn pull(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    pub fn new() -> (Trigger, Shutdown) {
        let (trigger, listen) = watch::channel(false);
        (Trigger(trigger), Shutdown(listen))
    }

    /// For work run outside a server (the command line, tests): never asked to stop.
    pub fn never() -> Shutdown {
        let (trigger, listen) = watch::channel(false);
        // The sender stays alive, so `requested` never resolves.
        std::mem::forget(trigger);
        Shutdown(listen)
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once stopping is asked for (or whoever could ask is gone).
    pub async fn requested(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Runs `round` every `interval` until shutdown is asked for; a round that answers `true`
/// found more work, and the next starts at once. A round in progress finishes first.
pub async fn every<F, Round>(interval: Duration, mut shutdown: Shutdown, mut round: F)
where
    F: FnMut() -> Round,
    Round: Future<Output = bool>,
{
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.requested() => return,
        }
        if shutdown.is_requested() {
            return;
        }
        if round().await {
            tick.reset_immediately();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_loop_runs_its_rounds_until_asked_to_stop() {
        let (trigger, shutdown) = Shutdown::new();
        let rounds = Arc::new(AtomicU32::new(0));
        let counted = rounds.clone();
        let task = tokio::spawn(every(Duration::from_millis(10), shutdown, move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { false }
        }));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(rounds.load(Ordering::SeqCst) >= 1, "the loop ran");
        trigger.pull();
        // Without the signal the loop would run for ever.
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .expect("the loop ends when asked")
            .unwrap();
        let after = rounds.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            after,
            "no round after the stop"
        );
    }
}
