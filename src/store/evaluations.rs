//! Evaluation counts: how often each feature was evaluated in each environment, by hour,
//! plus one all-time summary row per environment and feature (at [`SUMMARY_HOUR`]) that
//! keeps "last evaluated" after the hourly rows have aged out.
//!
//! Rows are keyed (environment, feature, hour) and written only through the state
//! machine. Their number is bounded: features that exist × environments × the retained
//! hours, plus one summary each; the periodic prune removes hours past retention and the
//! rows of features and environments that are gone.

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::codec::decode;
use super::embedded::Embedded;
use super::error::StoreError;
use super::tables;

/// The hour key of a feature's all-time summary row.
pub const SUMMARY_HOUR: u32 = u32::MAX;

pub const HOUR_MS: i64 = 3_600_000;

/// (environment, feature, hour).
pub type EvaluationKey = (u32, u32, u32);

/// The hour (since the Unix epoch) that `at_ms` falls in.
pub fn hour_of(at_ms: i64) -> u32 {
    u32::try_from(at_ms.max(0) / HOUR_MS).unwrap_or(SUMMARY_HOUR - 1)
}

/// Counts of one hour, or of all time for a summary row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationRecord {
    /// Evaluations the application reported (`/api/v1/analytics/flags/`).
    pub reported: u64,
    /// Flags the server evaluated and returned (`/identities/`, OFREP).
    pub served: u64,
    pub last_reported_at: Option<i64>,
    pub last_served_at: Option<i64>,
}

impl EvaluationRecord {
    /// Adds counts seen up to `at` (milliseconds); counts saturate rather than wrap.
    pub fn add(&mut self, reported: u64, served: u64, at: i64) {
        if reported > 0 {
            self.reported = self.reported.saturating_add(reported);
            self.last_reported_at = self.last_reported_at.max(Some(at));
        }
        if served > 0 {
            self.served = self.served.saturating_add(served);
            self.last_served_at = self.last_served_at.max(Some(at));
        }
    }

    /// The later of the two last evaluations.
    pub fn last_evaluated_at(&self) -> Option<i64> {
        self.last_reported_at.max(self.last_served_at)
    }
}

/// One feature's counts since the last flush, as a node proposes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationCount {
    pub environment_id: u32,
    pub feature_id: u32,
    pub reported: u64,
    pub served: u64,
}

/// An environment's rows: `features` narrows to one feature, hours are inclusive.
#[derive(Debug, Clone, Copy)]
pub struct EvaluationQuery {
    pub environment_id: u32,
    pub feature_id: Option<u32>,
    pub from_hour: u32,
    pub to_hour: u32,
}

impl EvaluationQuery {
    /// Whether `key` is one of the rows asked for.
    pub fn matches(&self, (environment, feature, hour): EvaluationKey) -> bool {
        environment == self.environment_id
            && self.feature_id.is_none_or(|f| f == feature)
            && (self.from_hour..=self.to_hour).contains(&hour)
    }
}

/// Whether the prune may remove `key`: its hour is past retention, or its feature or
/// environment is gone.
pub fn expired(key: EvaluationKey, before_hour: u32, alive: &dyn Fn(u32, u32) -> bool) -> bool {
    let (environment, feature, hour) = key;
    (hour != SUMMARY_HOUR && hour < before_hour) || !alive(environment, feature)
}

impl Embedded {
    /// The rows `query` asks for, in key order.
    pub fn evaluations(
        &self,
        query: EvaluationQuery,
    ) -> Result<Vec<(EvaluationKey, EvaluationRecord)>, StoreError> {
        let db = self.database()?;
        let txn = db.begin_read()?;
        let table = txn.open_table(tables::EVALUATIONS)?;
        let (first, last) = match query.feature_id {
            Some(f) => (f, f),
            None => (0, u32::MAX),
        };
        let mut rows = Vec::new();
        let range = (query.environment_id, first, 0)..=(query.environment_id, last, u32::MAX);
        for entry in table.range(range)? {
            let (key, value) = entry?;
            let key = key.value();
            if query.matches(key) {
                rows.push((key, decode(value.value())?));
            }
        }
        Ok(rows)
    }

    /// Up to `limit` keys the prune may remove (see [`expired`]).
    pub fn expired_evaluations(
        &self,
        before_hour: u32,
        alive: &dyn Fn(u32, u32) -> bool,
        limit: usize,
    ) -> Result<Vec<EvaluationKey>, StoreError> {
        let db = self.database()?;
        let txn = db.begin_read()?;
        let table = txn.open_table(tables::EVALUATIONS)?;
        let mut keys = Vec::new();
        for entry in table.iter()? {
            let key = entry?.0.value();
            if expired(key, before_hour, alive) {
                keys.push(key);
                if keys.len() == limit {
                    break;
                }
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_saturate() {
        let mut record = EvaluationRecord::default();
        record.add(3, 0, 10);
        record.add(0, 5, 20);
        record.add(u64::MAX, 1, 15);
        assert_eq!(record.reported, u64::MAX);
        assert_eq!(record.served, 6);
        assert_eq!(record.last_reported_at, Some(15));
        assert_eq!(record.last_served_at, Some(20));
        assert_eq!(record.last_evaluated_at(), Some(20));
    }

    #[test]
    fn summaries_expire_only_with_their_feature() {
        let alive = |_: u32, feature: u32| feature != 9;
        assert!(expired((1, 2, 5), 6, &alive));
        assert!(!expired((1, 2, 6), 6, &alive));
        assert!(!expired((1, 2, SUMMARY_HOUR), 6, &alive));
        assert!(expired((1, 9, SUMMARY_HOUR), 6, &alive));
        assert_eq!(hour_of(HOUR_MS * 5 + 1), 5);
        assert_eq!(hour_of(-1), 0);
    }
}
