//! Evaluation counts: adding a node's counts to the current hour and the all-time summary,
//! and pruning rows past retention or of features that are gone.

use std::collections::BTreeMap;

use super::{CommandError, Fault, Tx};
use crate::store::changes::Change;
use crate::store::command::{Actor, Applied};
use crate::store::evaluations::{
    EvaluationCount, EvaluationKey, EvaluationRecord, SUMMARY_HOUR, expired, hour_of,
};

/// Rows one command may touch: a flush or prune proposal larger than this is refused
/// (the server proposes in smaller pieces).
pub const MAX_EVALUATION_ROWS: usize = 20_000;

impl Tx<'_> {
    /// Adds `counts` to the envelope's hour and to each feature's summary. Counts for
    /// features or environments that are gone are dropped.
    pub(super) fn record_evaluations(
        &mut self,
        counts: &[EvaluationCount],
    ) -> Result<Applied, Fault> {
        self.system_only("recording evaluations")?;
        if counts.len() * 2 > MAX_EVALUATION_ROWS {
            return Err(CommandError::LimitExceeded(format!(
                "at most {} evaluation counts per command",
                MAX_EVALUATION_ROWS / 2
            ))
            .into());
        }
        let hour = hour_of(self.now);
        let mut added: BTreeMap<EvaluationKey, (u64, u64)> = BTreeMap::new();
        for count in counts {
            if !self
                .work
                .feature_of_environment(count.environment_id, count.feature_id)
            {
                continue;
            }
            for hour in [hour, SUMMARY_HOUR] {
                let entry = added
                    .entry((count.environment_id, count.feature_id, hour))
                    .or_default();
                entry.0 = entry.0.saturating_add(count.reported);
                entry.1 = entry.1.saturating_add(count.served);
            }
        }
        let keys: Vec<EvaluationKey> = added.keys().copied().collect();
        let mut stored = self.rows.evaluations(&keys)?;
        for (key, (reported, served)) in added {
            let mut record: EvaluationRecord = stored.remove(&key).unwrap_or_default();
            record.add(reported, served, self.now);
            let (environment_id, feature_id, hour) = key;
            self.record(Change::Evaluation {
                environment_id,
                feature_id,
                hour,
                record: Some(record),
            });
        }
        Ok(Applied::Updated)
    }

    /// Removes the listed rows that [`expired`] allows; the rest of the list is ignored.
    pub(super) fn prune_evaluations(
        &mut self,
        before_hour: u32,
        rows: &[EvaluationKey],
    ) -> Result<Applied, Fault> {
        self.system_only("pruning evaluations")?;
        if rows.len() > MAX_EVALUATION_ROWS {
            return Err(CommandError::LimitExceeded(format!(
                "at most {MAX_EVALUATION_ROWS} evaluation rows per command"
            ))
            .into());
        }
        // Retention is counted back from the command's own time, whatever it proposes.
        let before_hour = before_hour.min(hour_of(self.now));
        let catalog = &self.work;
        let alive =
            |environment: u32, feature: u32| catalog.feature_of_environment(environment, feature);
        let removed: Vec<EvaluationKey> = rows
            .iter()
            .copied()
            .filter(|key| expired(*key, before_hour, &alive))
            .collect();
        // Only rows that exist: the count says what went.
        let removed = self.rows.evaluations(&removed)?;
        let count = u32::try_from(removed.len()).unwrap_or(u32::MAX);
        for (environment_id, feature_id, hour) in removed.into_keys() {
            self.record(Change::Evaluation {
                environment_id,
                feature_id,
                hour,
                record: None,
            });
        }
        Ok(Applied::Removed { count, more: false })
    }

    fn system_only(&self, what: &str) -> Result<(), Fault> {
        if matches!(self.actor, Actor::System) {
            Ok(())
        } else {
            Err(CommandError::Forbidden(format!("{what} is for the server itself")).into())
        }
    }
}
