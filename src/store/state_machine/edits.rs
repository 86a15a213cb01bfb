//! Features' configuration edited in several environments at once (promotions, bulk edits).
//! Every guard is checked before anything changes, and the command is one transaction: a
//! refused edit leaves every environment as it was.

use std::collections::BTreeSet;

use super::checks::{check_value, check_variants};
use super::segments::segment_of;
use super::{CommandError, Fault, StaleRevision, Tx};
use crate::store::changes::Change;
use crate::store::command::{Applied, FeatureEdit, OverrideConfig, RevisionGuard};
use crate::store::records::{FeatureRecord, StateTarget};

/// The most edits one command carries (features × environments).
pub const MAX_EDITS: usize = 10_000;

impl Tx<'_> {
    pub(super) fn edit_feature_states(
        &mut self,
        guards: &[RevisionGuard],
        edits: &[FeatureEdit],
    ) -> Result<Applied, Fault> {
        if edits.len() > MAX_EDITS {
            return Err(CommandError::LimitExceeded(format!(
                "{} edits in one change; at most {MAX_EDITS}",
                edits.len()
            ))
            .into());
        }
        self.check_guards(guards)?;
        let mut seen = BTreeSet::new();
        for edit in edits {
            if !seen.insert((edit.environment_id, edit.feature_id)) {
                return Err(CommandError::Invalid(format!(
                    "feature {} is edited twice in environment {}",
                    edit.feature_id, edit.environment_id
                ))
                .into());
            }
            self.apply_edit(edit)?;
        }
        Ok(Applied::Updated)
    }

    /// Refuses the command if any guarded environment moved on, naming every one that did.
    pub(super) fn check_guards(&self, guards: &[RevisionGuard]) -> Result<(), CommandError> {
        let mut stale = Vec::new();
        for guard in guards {
            let actual = self.environment(guard.environment_id)?.revision;
            if actual != guard.revision {
                stale.push(StaleRevision {
                    environment_id: guard.environment_id,
                    expected: guard.revision,
                    actual,
                });
            }
        }
        if stale.is_empty() {
            Ok(())
        } else {
            Err(CommandError::EnvironmentsChanged(stale))
        }
    }

    fn apply_edit(&mut self, edit: &FeatureEdit) -> Result<(), CommandError> {
        let (environment_id, feature_id) = (edit.environment_id, edit.feature_id);
        self.environment_feature(environment_id, feature_id)?;
        let feature = self.feature(feature_id)?.clone();
        let patch = &edit.default;
        if patch.enabled.is_some() || patch.value.is_some() || patch.variants.is_some() {
            let state = match self.work.default_state(environment_id, feature_id) {
                Some(state) => state.clone(),
                None => self.new_state(environment_id, &feature, StateTarget::Environment)?,
            };
            self.patch_state(state, &feature, patch)?;
        }
        if let Some(overrides) = &edit.segment_overrides {
            self.replace_segment_overrides(environment_id, &feature, overrides)?;
        }
        self.touch(environment_id);
        Ok(())
    }

    /// Makes the feature's segment overrides in the environment exactly `wanted`, in order.
    /// A segment that overrides already keeps its state (and hash seed); the others are new.
    pub(super) fn replace_segment_overrides(
        &mut self,
        environment_id: u32,
        feature: &FeatureRecord,
        wanted: &[OverrideConfig],
    ) -> Result<(), CommandError> {
        let project_id = self.environment(environment_id)?.project_id;
        let mut segments = BTreeSet::new();
        for config in wanted {
            if !segments.insert(config.segment_id) {
                return Err(CommandError::Invalid(format!(
                    "segment {} overrides feature {:?} twice",
                    config.segment_id, feature.name
                )));
            }
            if self.segment(config.segment_id)?.project_id != project_id {
                return Err(CommandError::Invalid(format!(
                    "segment {} belongs to another project than environment {environment_id}",
                    config.segment_id
                )));
            }
            check_value(&config.value)?;
            check_variants(feature, &config.variants)?;
        }
        let existing = self.segment_overrides(environment_id, feature.id);
        for state in &existing {
            if segment_of(state).is_some_and(|s| !segments.contains(&s)) {
                self.record(Change::State(state.id, None));
            }
        }
        for (position, config) in wanted.iter().enumerate() {
            let target = StateTarget::Segment {
                segment_id: config.segment_id,
                priority: u32::try_from(position).unwrap_or(u32::MAX),
            };
            let current = existing
                .iter()
                .find(|s| segment_of(s) == Some(config.segment_id));
            let mut state = match current {
                Some(state) => state.clone(),
                None => self.new_state(environment_id, feature, target.clone())?,
            };
            let unchanged = current.is_some()
                && state.target == target
                && state.enabled == config.enabled
                && state.value == config.value
                && state.variants == config.variants;
            if unchanged {
                continue;
            }
            state.target = target;
            state.enabled = config.enabled;
            state.value = config.value.clone();
            state.variants.clone_from(&config.variants);
            state.updated_at = self.now;
            self.record(Change::State(state.id, Some(state)));
        }
        Ok(())
    }
}
