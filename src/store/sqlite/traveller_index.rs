//! Which requests each traveller has, for the traveller's own list, written in sorted batches
//! rather than with each new request.
//!
//! Travellers submit in no particular order, so an index on (traveller, id) cost every new
//! request a page of its own in that index: a 4 KiB page in the log, copied again by the
//! checkpoint, for a 50-byte entry; at full load that one index cost a large share of the
//! server's CPU per submission. So the group writer keeps new entries in memory and moves them into `requests_by_traveller` in key
//! order, a slice with each group it commits: the entries of one traveller, and of
//! travellers side by side, then share their pages.
//!
//! The entries are derived from `clearance_requests`, the record itself. `traveller_index`
//! names the last row whose entry is surely in the table; at every start the store indexes
//! the rows after it again (`SqliteStore::index_travellers_again`), so what the writer held
//! in memory when the process stopped is not lost. Readers take from memory the entries
//! that may not be in the table yet.
//!
//! This holds because only the writer adds requests. A row put into `clearance_requests` by
//! other means, behind the writer's mark, would not be indexed; checking every start for
//! that (a count of both tables) took 40 ms for a million requests with the file cached,
//! and 1.7 s from a cold disk.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// When the writer seals the entries gathered so far into a run, and how much of a run it
/// writes with each group.
#[derive(Debug, Clone, Copy)]
pub(super) struct Batching {
    /// Seal once this many entries are gathered...
    pub seal_at: usize,
    /// ...or once the oldest has waited this long.
    pub seal_after: Duration,
    /// Entries written with each group: twice as many as the group has requests, so a run
    /// is written faster than entries come, yet spread over many commits; but at least
    /// `slice_min` and at most `slice_max`. Most entries need an index page of their own
    /// read and logged, so a slice adds to its group's commit and to the WAL flush that
    /// follows: at 2,000 requests a second, slices of 1,024 gave a p99 of 15.6 ms, slices of
    /// at least 64 7.0 and 8.0 ms, slices of at least 4 3.6–7.0 ms in eight runs.
    pub slice_min: usize,
    pub slice_max: usize,
}

impl Batching {
    /// A larger run shares more pages, and holds more memory (under 100 bytes an entry).
    pub const DEFAULT: Self = Self {
        seal_at: 32_768,
        seal_after: Duration::from_secs(2),
        slice_min: 4,
        slice_max: 1024,
    };
}

/// A sealed run: entries sorted by traveller and id, and the last row of
/// `clearance_requests` they cover.
pub(super) struct Run {
    entries: Vec<(Arc<str>, Uuid)>,
    through: i64,
}

/// Entries of committed requests that may not be in the table yet, shared by the writer and
/// the readers.
#[derive(Default)]
pub(crate) struct Pending {
    runs: Mutex<Runs>,
}

#[derive(Default)]
struct Runs {
    /// Entries of requests committed since the last run was sealed, by traveller.
    filling: HashMap<Arc<str>, Vec<Uuid>>,
    filled: usize,
    /// When the oldest entry in `filling` came.
    since: Option<Instant>,
    /// The run being written to the table; its entries stay here until all are committed.
    draining: Option<Arc<Run>>,
}

impl Pending {
    fn runs(&self) -> MutexGuard<'_, Runs> {
        // The lock guards plain collections that no panic can leave half-changed.
        self.runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ids of the traveller's requests that may not be in the table yet, in no order. A
    /// reader takes these before it reads the table: an entry leaves memory only after its
    /// run's last slice committed, so it is then in whichever of the two it reads second.
    pub(crate) fn ids_of(&self, traveller: &str) -> Vec<Uuid> {
        let runs = self.runs();
        let mut ids = runs.filling.get(traveller).cloned().unwrap_or_default();
        if let Some(run) = &runs.draining {
            let from = run.entries.partition_point(|(t, _)| &**t < traveller);
            ids.extend(
                run.entries[from..]
                    .iter()
                    .take_while(|(t, _)| &**t == traveller)
                    .map(|(_, id)| *id),
            );
        }
        ids
    }
}

/// The writer's side: gathers the entries of the requests it commits, seals them into runs
/// and hands it the next slice to write.
pub(super) struct Drain {
    pending: Arc<Pending>,
    batching: Batching,
    run: Option<Arc<Run>>,
    /// Entries of `run` already committed to the table.
    written: usize,
}

/// The next entries to write with a group, and, with the run's last slice, the row up to
/// which every request is then in the table.
pub(super) struct Slice {
    run: Arc<Run>,
    range: Range<usize>,
}

impl Slice {
    pub fn entries(&self) -> &[(Arc<str>, Uuid)] {
        &self.run.entries[self.range.clone()]
    }

    pub fn completes_through(&self) -> Option<i64> {
        (self.range.end == self.run.entries.len()).then_some(self.run.through)
    }
}

impl Drain {
    pub fn new(pending: Arc<Pending>, batching: Batching) -> Self {
        Self {
            pending,
            batching,
            run: None,
            written: 0,
        }
    }

    /// What to write with the next group, of `requests` requests, if a run is being written.
    pub fn next_slice(&self, requests: usize) -> Option<Slice> {
        let run = self.run.as_ref()?;
        let size = (2 * requests).clamp(self.batching.slice_min, self.batching.slice_max);
        let end = (self.written + size).min(run.entries.len());
        Some(Slice {
            run: run.clone(),
            range: self.written..end,
        })
    }

    /// `slice` is committed: once the whole run is, its entries leave memory.
    pub fn committed(&mut self, slice: &Slice) {
        self.written = slice.range.end;
        if slice.completes_through().is_some() {
            self.run = None;
            self.written = 0;
            self.pending.runs().draining = None;
        }
    }

    /// Gathers the entries of requests just committed.
    pub fn gather<'a>(&mut self, entries: impl IntoIterator<Item = (&'a str, Uuid)>) {
        let mut runs = self.pending.runs();
        for (traveller, id) in entries {
            match runs.filling.get_mut(traveller) {
                Some(ids) => ids.push(id),
                None => {
                    runs.filling.insert(traveller.into(), vec![id]);
                }
            }
            runs.filled += 1;
            runs.since.get_or_insert_with(Instant::now);
        }
    }

    /// Whether the gathered entries should become the next run: none is being written, and
    /// enough are gathered or the oldest has waited long enough.
    pub fn due(&self, now: Instant) -> bool {
        if self.run.is_some() {
            return false;
        }
        let runs = self.pending.runs();
        runs.filled >= self.batching.seal_at
            || runs
                .since
                .is_some_and(|since| now.duration_since(since) >= self.batching.seal_after)
    }

    /// Seals what was gathered into the next run. `through` is the last row of
    /// `clearance_requests` now: every request after the previous run's is among the entries,
    /// since only this writer adds requests. Answers the run's length.
    pub fn seal(&mut self, through: i64) -> usize {
        let mut runs = self.pending.runs();
        // Sorting the travellers and then each one's few ids is far cheaper than sorting
        // every entry.
        let mut travellers: Vec<_> = std::mem::take(&mut runs.filling).into_iter().collect();
        travellers.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        let mut entries = Vec::with_capacity(runs.filled);
        for (traveller, mut ids) in travellers {
            ids.sort_unstable();
            entries.extend(ids.into_iter().map(|id| (traveller.clone(), id)));
        }
        runs.filled = 0;
        runs.since = None;
        let run = Arc::new(Run { entries, through });
        let entries = run.entries.len();
        runs.draining = Some(run.clone());
        self.run = Some(run);
        self.written = 0;
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batching(seal_at: usize, slice: usize) -> Batching {
        Batching {
            seal_at,
            seal_after: Duration::from_secs(3600),
            slice_min: slice,
            slice_max: slice,
        }
    }

    fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
        ids.sort();
        ids
    }

    #[test]
    fn entries_stay_readable_from_memory_until_their_whole_run_is_written() {
        let pending = Arc::new(Pending::default());
        let mut drain = Drain::new(pending.clone(), batching(3, 2));
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        drain.gather([("bob", ids[0]), ("alice", ids[1]), ("bob", ids[2])]);
        assert!(drain.next_slice(1).is_none(), "nothing sealed yet");
        assert!(drain.due(Instant::now()));
        drain.seal(30);
        assert_eq!(sorted(pending.ids_of("bob")), vec![ids[0], ids[2]]);

        // Requests committed while the run is written wait for the next one.
        drain.gather([("bob", ids[3])]);
        assert!(!drain.due(Instant::now()), "one run at a time");

        let first = drain.next_slice(1).unwrap();
        assert_eq!(
            first.entries(),
            &[("alice".into(), ids[1]), ("bob".into(), ids[0])]
        );
        assert_eq!(first.completes_through(), None);
        drain.committed(&first);
        assert_eq!(
            pending.ids_of("alice"),
            vec![ids[1]],
            "until the run is done"
        );

        let last = drain.next_slice(1).unwrap();
        assert_eq!(last.entries(), &[("bob".into(), ids[2])]);
        assert_eq!(last.completes_through(), Some(30));
        drain.committed(&last);
        assert!(pending.ids_of("alice").is_empty());
        assert_eq!(pending.ids_of("bob"), vec![ids[3]]);
        assert!(drain.next_slice(1).is_none());
    }

    #[test]
    fn slices_are_twice_the_group_within_bounds() {
        let batching = Batching {
            slice_min: 4,
            slice_max: 10,
            ..batching(100, 0)
        };
        let mut drain = Drain::new(Arc::new(Pending::default()), batching);
        drain.gather((0..30).map(|_| ("erin", Uuid::now_v7())));
        drain.seal(30);
        let size = |requests| drain.next_slice(requests).unwrap().entries().len();
        assert_eq!((size(1), size(3), size(5), size(200)), (4, 6, 10, 10));
    }

    #[test]
    fn a_slice_not_committed_is_offered_again() {
        let pending = Arc::new(Pending::default());
        let mut drain = Drain::new(pending.clone(), batching(1, 8));
        let id = Uuid::now_v7();
        drain.gather([("carl", id)]);
        drain.seal(1);
        let offered = drain.next_slice(1).unwrap();
        // The group failed: `committed` is not called.
        drop(offered);
        let again = drain.next_slice(1).unwrap();
        assert_eq!(again.entries(), &[("carl".into(), id)]);
        assert_eq!(pending.ids_of("carl"), vec![id]);
    }

    #[test]
    fn gathered_entries_are_sealed_once_the_oldest_has_waited() {
        let batching = Batching {
            seal_after: Duration::from_millis(50),
            ..batching(1000, 8)
        };
        let mut drain = Drain::new(Arc::new(Pending::default()), batching);
        let now = Instant::now();
        assert!(
            !drain.due(now + Duration::from_secs(60)),
            "nothing gathered"
        );
        drain.gather([("dina", Uuid::now_v7())]);
        assert!(!drain.due(now));
        assert!(drain.due(now + Duration::from_secs(1)));
    }
}
