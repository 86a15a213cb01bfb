//! Segments and segment overrides (their order decides which override wins).

use super::checks::{check_name, same_name};
use super::{CommandError, Fault, Tx};
use crate::store::changes::Change;
use crate::store::command::{Applied, SegmentOverrideChange};
use crate::store::records::{FeatureStateRecord, RuleRecord, SegmentRecord, StateTarget};

impl Tx<'_> {
    pub(super) fn create_segment(
        &mut self,
        project_id: u32,
        name: &str,
        description: Option<&String>,
        rules: &[RuleRecord],
    ) -> Result<Applied, Fault> {
        self.project(project_id)?;
        check_name("segment", name)?;
        self.check_segment_name_free(project_id, name, None)?;
        let id = Self::next_id(&mut self.work.meta.counters.segment)?;
        let position = Self::next_position(&mut self.work.meta.counters.segment_position);
        self.record(Change::Segment(
            id,
            Some(SegmentRecord {
                id,
                project_id,
                position,
                name: name.to_owned(),
                description: description.cloned(),
                rules: rules.to_vec(),
                created_at: self.now,
            }),
        ));
        self.touch_project(project_id);
        Ok(Applied::Created { id })
    }

    /// Refuses a name another segment of the project has, in any case.
    pub(super) fn check_segment_name_free(
        &self,
        project_id: u32,
        name: &str,
        except: Option<u32>,
    ) -> Result<(), CommandError> {
        match self
            .work
            .project_segments(project_id)
            .find(|s| Some(s.id) != except && same_name(&s.name, name))
        {
            Some(existing) => Err(CommandError::Conflict(format!(
                "project {project_id} already has a segment named {:?}",
                existing.name
            ))),
            None => Ok(()),
        }
    }

    pub(super) fn update_segment(
        &mut self,
        id: u32,
        name: Option<&str>,
        description: Option<&Option<String>>,
        rules: Option<&Vec<RuleRecord>>,
    ) -> Result<Applied, Fault> {
        let mut segment = self.segment(id)?.clone();
        if let Some(name) = name.filter(|n| *n != segment.name) {
            check_name("segment", name)?;
            self.check_segment_name_free(segment.project_id, name, Some(id))?;
            name.clone_into(&mut segment.name);
        }
        if let Some(description) = description {
            segment.description.clone_from(description);
        }
        if let Some(rules) = rules {
            segment.rules.clone_from(rules);
        }
        let project_id = segment.project_id;
        self.record(Change::Segment(id, Some(segment)));
        self.touch_project(project_id);
        Ok(Applied::Updated)
    }

    pub(super) fn delete_segment(&mut self, id: u32) -> Result<Applied, Fault> {
        let project_id = self.segment(id)?.project_id;
        let overrides: Vec<u32> = self
            .work
            .states
            .values()
            .filter(|s| segment_of(s) == Some(id))
            .map(|s| s.id)
            .collect();
        for state in overrides {
            self.record(Change::State(state, None));
        }
        self.record(Change::Segment(id, None));
        self.touch_project(project_id);
        Ok(Applied::Deleted)
    }

    pub(super) fn set_segment_override(
        &mut self,
        change: &SegmentOverrideChange,
    ) -> Result<Applied, Fault> {
        let SegmentOverrideChange {
            environment_id,
            feature_id,
            segment_id,
            priority,
            expected_revision,
            patch,
        } = change;
        let (environment_id, feature_id, segment_id) = (*environment_id, *feature_id, *segment_id);
        self.environment_feature(environment_id, feature_id)?;
        self.check_revision(environment_id, *expected_revision)?;
        if self.segment(segment_id)?.project_id != self.environment(environment_id)?.project_id {
            return Err(CommandError::Invalid(format!(
                "segment {segment_id} belongs to another project than environment {environment_id}"
            ))
            .into());
        }
        let feature = self.feature(feature_id)?.clone();
        let existing = self.segment_overrides(environment_id, feature_id);
        let current = existing
            .iter()
            .find(|s| segment_of(s) == Some(segment_id))
            .cloned();
        let mut state = match current {
            Some(state) => state,
            None => {
                let last = u32::try_from(existing.len()).unwrap_or(u32::MAX);
                self.new_state(
                    environment_id,
                    &feature,
                    StateTarget::Segment {
                        segment_id,
                        priority: last,
                    },
                )?
            }
        };
        if let Some(priority) = priority {
            state.target = StateTarget::Segment {
                segment_id,
                priority: *priority,
            };
        }
        self.patch_state(state, &feature, patch)?;
        if priority.is_some() {
            self.renumber_overrides(environment_id, feature_id, Some(segment_id));
        }
        self.touch(environment_id);
        Ok(Applied::Updated)
    }

    pub(super) fn delete_segment_override(
        &mut self,
        environment_id: u32,
        feature_id: u32,
        segment_id: u32,
    ) -> Result<Applied, Fault> {
        self.environment_feature(environment_id, feature_id)?;
        let state = self
            .segment_overrides(environment_id, feature_id)
            .into_iter()
            .find(|s| segment_of(s) == Some(segment_id))
            .ok_or_else(|| {
                CommandError::not_found(
                    "segment override",
                    format!("{segment_id} of feature {feature_id}"),
                )
            })?;
        self.record(Change::State(state.id, None));
        self.renumber_overrides(environment_id, feature_id, None);
        self.touch(environment_id);
        Ok(Applied::Deleted)
    }

    pub(super) fn reorder_segment_overrides(
        &mut self,
        environment_id: u32,
        feature_id: u32,
        segment_ids: &[u32],
    ) -> Result<Applied, Fault> {
        self.environment_feature(environment_id, feature_id)?;
        let existing = self.segment_overrides(environment_id, feature_id);
        let mut have: Vec<u32> = existing.iter().filter_map(segment_of).collect();
        let mut want = segment_ids.to_vec();
        have.sort_unstable();
        want.sort_unstable();
        if have != want {
            return Err(CommandError::Invalid(format!(
                "the new order must list each overriding segment once: {have:?}"
            ))
            .into());
        }
        for mut state in existing {
            let Some(segment_id) = segment_of(&state) else {
                continue;
            };
            let position = segment_ids
                .iter()
                .position(|s| *s == segment_id)
                .and_then(|p| u32::try_from(p).ok())
                .unwrap_or(0);
            state.target = StateTarget::Segment {
                segment_id,
                priority: position,
            };
            self.record(Change::State(state.id, Some(state)));
        }
        self.touch(environment_id);
        Ok(Applied::Updated)
    }

    /// Segment overrides of a feature in an environment, strongest first.
    pub(super) fn segment_overrides(
        &self,
        environment_id: u32,
        feature_id: u32,
    ) -> Vec<FeatureStateRecord> {
        let mut states: Vec<FeatureStateRecord> = self
            .work
            .environment_states(environment_id)
            .filter(|s| s.feature_id == feature_id && segment_of(s).is_some())
            .cloned()
            .collect();
        states.sort_by_key(|s| (priority_of(s), s.id));
        states
    }

    /// Makes priorities 0..n in their current order; `moved` wins ties (it was just placed).
    fn renumber_overrides(&mut self, environment_id: u32, feature_id: u32, moved: Option<u32>) {
        let mut states = self.segment_overrides(environment_id, feature_id);
        states.sort_by_key(|s| (priority_of(s), segment_of(s) != moved, s.id));
        for (position, mut state) in states.into_iter().enumerate() {
            let Some(segment_id) = segment_of(&state) else {
                continue;
            };
            let target = StateTarget::Segment {
                segment_id,
                priority: u32::try_from(position).unwrap_or(u32::MAX),
            };
            if state.target != target {
                state.target = target;
                self.record(Change::State(state.id, Some(state)));
            }
        }
    }
}

pub(super) fn segment_of(state: &FeatureStateRecord) -> Option<u32> {
    match state.target {
        StateTarget::Segment { segment_id, .. } => Some(segment_id),
        _ => None,
    }
}

fn priority_of(state: &FeatureStateRecord) -> u32 {
    match state.target {
        StateTarget::Segment { priority, .. } => priority,
        _ => u32::MAX,
    }
}
