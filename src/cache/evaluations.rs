//! Evaluation counters: what SDK traffic evaluated since the last flush, counted in memory
//! with relaxed atomic adds and no locks on the request path.
//!
//! Each environment's snapshot holds the counters for its features, by compiled feature
//! index, so a name or an id is never looked up per flag. A rebuilt snapshot keeps the
//! counters of the one it replaces while the feature set is the same (the usual case: a
//! state or segment changed); otherwise the old counters are retired and drained twice more
//! (requests still holding the old snapshot may add to them). Memory is bounded by the
//! features that exist: counts for unknown feature names are never kept.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::evaluations::EvaluationCount;

/// One environment's counters, by compiled feature index.
#[derive(Debug)]
pub struct EvaluationCounters {
    environment_id: u32,
    feature_ids: Box<[u32]>,
    reported: Box<[AtomicU64]>,
    served: Box<[AtomicU64]>,
    /// Responses that returned every flag: one add instead of one per flag.
    served_all: AtomicU64,
}

impl EvaluationCounters {
    pub fn new(environment_id: u32, feature_ids: Vec<u32>) -> Self {
        let zeros = || feature_ids.iter().map(|_| AtomicU64::new(0)).collect();
        Self {
            environment_id,
            reported: zeros(),
            served: zeros(),
            feature_ids: feature_ids.into_boxed_slice(),
            served_all: AtomicU64::new(0),
        }
    }

    pub fn same_features(&self, other: &Self) -> bool {
        self.environment_id == other.environment_id && self.feature_ids == other.feature_ids
    }

    /// `count` evaluations the application reported for feature `index`.
    pub fn reported(&self, index: usize, count: u64) {
        if let Some(counter) = self.reported.get(index) {
            counter.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// One response with the flags at `indices`.
    pub fn served(&self, indices: impl ExactSizeIterator<Item = usize>) {
        if indices.len() == self.feature_ids.len() {
            self.served_all.fetch_add(1, Ordering::Relaxed);
            return;
        }
        for index in indices {
            if let Some(counter) = self.served.get(index) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Takes the counts so far (leaving zeros) into `out`.
    pub fn drain(&self, out: &mut Vec<EvaluationCount>) {
        let all = self.served_all.swap(0, Ordering::Relaxed);
        for (index, feature_id) in self.feature_ids.iter().enumerate() {
            let reported = self.reported[index].swap(0, Ordering::Relaxed);
            let served = self.served[index]
                .swap(0, Ordering::Relaxed)
                .saturating_add(all);
            if reported > 0 || served > 0 {
                out.push(EvaluationCount {
                    environment_id: self.environment_id,
                    feature_id: *feature_id,
                    reported,
                    served,
                });
            }
        }
    }

    /// Puts counts back that could not be written (they are retried with the next flush).
    pub fn restore(&self, count: &EvaluationCount) {
        if let Some(index) = self.feature_ids.iter().position(|f| *f == count.feature_id) {
            self.reported[index].fetch_add(count.reported, Ordering::Relaxed);
            self.served[index].fetch_add(count.served, Ordering::Relaxed);
        }
    }

    pub fn environment_id(&self) -> u32 {
        self.environment_id
    }
}

/// Counters of replaced snapshots, drained a few more times before they are dropped.
#[derive(Debug, Default)]
pub struct Retired {
    counters: Mutex<Vec<(Arc<EvaluationCounters>, u8)>>,
}

/// How many more flushes drain a retired counter set.
const DRAINS_AFTER_RETIREMENT: u8 = 2;

impl Retired {
    pub fn retire(&self, counters: Arc<EvaluationCounters>) {
        self.lock().push((counters, DRAINS_AFTER_RETIREMENT));
    }

    /// Drains every retired set into `out` and forgets those drained often enough.
    pub fn drain(&self, out: &mut Vec<EvaluationCount>) {
        let mut counters = self.lock();
        for (set, left) in counters.iter_mut() {
            set.drain(out);
            *left = left.saturating_sub(1);
        }
        counters.retain(|(_, left)| *left > 0);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Arc<EvaluationCounters>, u8)>> {
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_per_feature_and_whole_responses() {
        let counters = EvaluationCounters::new(7, vec![10, 11, 12]);
        counters.reported(1, 5);
        counters.reported(9, 5); // no such index: ignored
        counters.served([0, 1, 2].into_iter());
        counters.served([2].into_iter());
        let mut out = Vec::new();
        counters.drain(&mut out);
        let seen: Vec<(u32, u64, u64)> = out
            .iter()
            .map(|c| (c.feature_id, c.reported, c.served))
            .collect();
        assert_eq!(seen, vec![(10, 0, 1), (11, 5, 1), (12, 0, 2)]);
        out.clear();
        counters.drain(&mut out);
        assert!(out.is_empty(), "a drain leaves zeros");
        counters.restore(&EvaluationCount {
            environment_id: 7,
            feature_id: 12,
            reported: 1,
            served: 2,
        });
        counters.drain(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].reported, out[0].served), (1, 2));
    }

    #[test]
    fn retired_counters_are_drained_then_dropped() {
        let retired = Retired::default();
        let counters = Arc::new(EvaluationCounters::new(1, vec![3]));
        retired.retire(Arc::clone(&counters));
        let mut out = Vec::new();
        counters.reported(0, 1);
        retired.drain(&mut out);
        counters.reported(0, 1);
        retired.drain(&mut out);
        counters.reported(0, 1);
        retired.drain(&mut out);
        assert_eq!(out.iter().map(|c| c.reported).sum::<u64>(), 2);
        assert_eq!(Arc::strong_count(&counters), 1, "dropped after two drains");
    }
}
