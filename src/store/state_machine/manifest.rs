//! `ApplyManifest`: a project made to match a flags file, in one command. Everything is
//! matched by name (segments by id first: their id seeds percentage splits); what the file
//! does not mention is left as it is; only what differs is written, so applying the same
//! file twice changes nothing the second time.

use super::checks::{check_name, check_value, check_variants, same_name};
use super::{CommandError, Fault, Tx};
use crate::store::changes::Change;
use crate::store::command::{
    Applied, EnvironmentPlan, FeaturePlan, FlagPlan, ManifestChange, NewFeature, OverrideConfig,
    Seed, SegmentPlan,
};
use crate::store::records::{
    EnvironmentSettingsRecord, FeatureRecord, FeatureStateRecord, SegmentRecord, StateTarget,
    StoredValue, VariantWeightRecord,
};

impl Tx<'_> {
    pub(super) fn apply_manifest(&mut self, change: &ManifestChange) -> Result<Applied, Fault> {
        self.check_guards(&change.guards)?;
        let project_id = self.manifest_project(change)?;
        for segment in &change.segments {
            self.manifest_segment(project_id, segment)?;
        }
        for feature in &change.features {
            self.manifest_feature(project_id, feature)?;
        }
        for environment in &change.environments {
            self.manifest_environment(project_id, environment)?;
        }
        Ok(Applied::Updated)
    }

    fn manifest_project(&mut self, change: &ManifestChange) -> Result<u32, Fault> {
        let existing = self
            .work
            .projects
            .values()
            .find(|p| p.name == change.project_name)
            .cloned();
        match existing {
            Some(mut project) => {
                if project.hide_disabled_flags != change.hide_disabled_flags {
                    project.hide_disabled_flags = change.hide_disabled_flags;
                    self.record(Change::Project(project.id, Some(project.clone())));
                    self.touch_project(project.id);
                }
                Ok(project.id)
            }
            None => match self.create_project(&change.project_name, change.hide_disabled_flags)? {
                Applied::Created { id } => Ok(id),
                _ => Err(CommandError::Failed("a project was not created".into()).into()),
            },
        }
    }

    /// A segment by its id (kept: it seeds splits), else by name; created when neither.
    fn manifest_segment(&mut self, project_id: u32, plan: &SegmentPlan) -> Result<(), Fault> {
        check_name("segment", &plan.name)?;
        let by_id = plan.id.and_then(|id| self.work.segments.get(&id).cloned());
        let existing = match by_id {
            Some(segment) if segment.project_id != project_id => {
                return Err(CommandError::Conflict(format!(
                    "segment id {} ({:?}) belongs to another project",
                    segment.id, segment.name
                ))
                .into());
            }
            Some(segment) => Some(segment),
            None if plan.id.is_some() => None,
            None => self
                .work
                .project_segments(project_id)
                .find(|s| same_name(&s.name, &plan.name))
                .cloned(),
        };
        let except = existing.as_ref().map(|s| s.id);
        self.check_segment_name_free(project_id, &plan.name, except)?;
        let segment = match existing {
            Some(mut segment) => {
                let wanted = (&plan.name, &plan.description, &plan.rules);
                if (&segment.name, &segment.description, &segment.rules) == wanted {
                    return Ok(());
                }
                segment.name.clone_from(&plan.name);
                segment.description.clone_from(&plan.description);
                segment.rules.clone_from(&plan.rules);
                segment
            }
            None => {
                let id = match plan.id {
                    Some(id) => {
                        let counter = &mut self.work.meta.counters.segment;
                        *counter = (*counter).max(id);
                        id
                    }
                    None => Self::next_id(&mut self.work.meta.counters.segment)?,
                };
                SegmentRecord {
                    id,
                    project_id,
                    position: Self::next_position(&mut self.work.meta.counters.segment_position),
                    name: plan.name.clone(),
                    description: plan.description.clone(),
                    rules: plan.rules.clone(),
                    created_at: self.now,
                }
            }
        };
        self.record(Change::Segment(segment.id, Some(segment)));
        self.touch_project(project_id);
        Ok(())
    }

    /// A feature by name; created when missing. An existing feature's options cannot
    /// change (their order decides variants), only their default weights.
    fn manifest_feature(&mut self, project_id: u32, plan: &FeaturePlan) -> Result<(), Fault> {
        let existing = self
            .work
            .project_features(project_id)
            .find(|f| same_name(&f.name, &plan.name))
            .cloned();
        let id = match existing {
            None => {
                let new = NewFeature {
                    project_id,
                    name: plan.name.clone(),
                    kind: plan.kind,
                    description: plan.description.clone(),
                    initial_value: plan.initial_value.clone(),
                    default_enabled: plan.default_enabled,
                    server_key_only: plan.server_key_only,
                    options: plan.options.clone(),
                };
                match self.create_feature(&new)? {
                    Applied::Created { id } => id,
                    _ => {
                        return Err(CommandError::Failed("a feature was not created".into()).into());
                    }
                }
            }
            Some(feature) => {
                self.update_manifest_feature(feature, plan)?;
                self.work
                    .project_features(project_id)
                    .find(|f| same_name(&f.name, &plan.name))
                    .map_or(0, |f| f.id)
            }
        };
        self.edit_feature_labels(id, &plan.tags, plan.archived)?;
        Ok(())
    }

    fn update_manifest_feature(
        &mut self,
        mut feature: FeatureRecord,
        plan: &FeaturePlan,
    ) -> Result<(), CommandError> {
        let options: Vec<(&StoredValue, &Option<String>)> =
            feature.options.iter().map(|o| (&o.value, &o.key)).collect();
        let wanted: Vec<(&StoredValue, &Option<String>)> =
            plan.options.iter().map(|o| (&o.value, &o.key)).collect();
        if feature.kind != plan.kind || options != wanted {
            return Err(CommandError::Invalid(format!(
                "feature {:?} exists with other type or options; its options decide variants \
                 and cannot change in place",
                feature.name
            )));
        }
        check_value(&plan.initial_value)?;
        let before = feature.clone();
        feature.name.clone_from(&plan.name);
        feature.description.clone_from(&plan.description);
        feature.initial_value = plan.initial_value.clone();
        feature.default_enabled = plan.default_enabled;
        feature.server_key_only = plan.server_key_only;
        for (option, wanted) in feature.options.iter_mut().zip(&plan.options) {
            option.default_weight = wanted.default_weight;
        }
        if feature != before {
            let project_id = feature.project_id;
            self.record(Change::Feature(feature.id, Some(feature)));
            self.touch_project(project_id);
        }
        Ok(())
    }

    fn manifest_environment(
        &mut self,
        project_id: u32,
        plan: &EnvironmentPlan,
    ) -> Result<(), Fault> {
        let existing = self
            .work
            .project_environments(project_id)
            .find(|e| e.name == plan.name)
            .map(|e| e.id);
        let id = match existing {
            Some(id) => id,
            None => {
                match self.create_environment(
                    project_id,
                    &plan.name,
                    &plan.new_client_key,
                    &EnvironmentSettingsRecord::default(),
                )? {
                    Applied::Created { id } => id,
                    _ => {
                        return Err(
                            CommandError::Failed("an environment was not created".into()).into(),
                        );
                    }
                }
            }
        };
        let mut env = self.environment(id)?.clone();
        let before = env.settings.clone();
        super::environments::apply_settings(&mut env.settings, &plan.settings);
        if env.settings != before {
            self.record(Change::Environment(id, Some(env)));
            self.touch(id);
        }
        for flag in &plan.flags {
            self.manifest_flag(project_id, id, flag)?;
        }
        Ok(())
    }

    fn manifest_flag(
        &mut self,
        project_id: u32,
        environment_id: u32,
        plan: &FlagPlan,
    ) -> Result<(), CommandError> {
        let feature = self
            .work
            .project_features(project_id)
            .find(|f| same_name(&f.name, &plan.feature))
            .cloned()
            .ok_or_else(|| {
                CommandError::Invalid(format!(
                    "flags name feature {:?}, which the project does not have",
                    plan.feature
                ))
            })?;
        let mut state = match self.work.default_state(environment_id, feature.id) {
            Some(state) => state.clone(),
            None => self.new_state(environment_id, &feature, StateTarget::Environment)?,
        };
        let before = state.clone();
        check_value(&plan.value)?;
        state.enabled = plan.enabled;
        state.value = plan.value.clone();
        if let Some(variants) = &plan.variants {
            state.variants = weights(&feature, variants)?;
            check_variants(&feature, &state.variants)?;
        }
        if let Some(seed) = &plan.seed {
            set_seed(&mut state, seed);
        }
        if state != before {
            state.updated_at = self.now;
            self.record(Change::State(state.id, Some(state)));
            self.touch(environment_id);
        }
        let Some(overrides) = &plan.segment_overrides else {
            return Ok(());
        };
        let mut configs = Vec::with_capacity(overrides.len());
        for o in overrides {
            let segment = self
                .work
                .project_segments(project_id)
                .find(|s| same_name(&s.name, &o.segment))
                .map(|s| s.id)
                .ok_or_else(|| {
                    CommandError::Invalid(format!(
                        "an override of {:?} names segment {:?}, which the project does not have",
                        feature.name, o.segment
                    ))
                })?;
            configs.push(OverrideConfig {
                segment_id: segment,
                enabled: o.enabled,
                value: o.value.clone(),
                variants: weights(&feature, &o.variants)?,
            });
        }
        let changes_before = self.changes.len();
        self.replace_segment_overrides(environment_id, &feature, &configs)?;
        for (o, config) in overrides.iter().zip(&configs) {
            let Some(seed) = &o.seed else { continue };
            let found = self
                .segment_overrides(environment_id, feature.id)
                .into_iter()
                .find(|s| super::segments::segment_of(s) == Some(config.segment_id));
            if let Some(mut state) = found {
                let before = state.clone();
                set_seed(&mut state, seed);
                if state != before {
                    self.record(Change::State(state.id, Some(state)));
                }
            }
        }
        if self.changes.len() != changes_before {
            self.touch(environment_id);
        }
        Ok(())
    }
}

/// Weights by option value as stored (by option id), in the feature's option order.
fn weights(
    feature: &FeatureRecord,
    variants: &[(StoredValue, f64)],
) -> Result<Vec<VariantWeightRecord>, CommandError> {
    variants
        .iter()
        .map(|(value, weight)| {
            let option = feature
                .options
                .iter()
                .find(|o| o.value == *value)
                .ok_or_else(|| {
                    CommandError::Invalid(format!(
                        "feature {:?} has no option {value:?}",
                        feature.name
                    ))
                })?;
            Ok(VariantWeightRecord {
                option_id: option.id,
                weight: *weight,
            })
        })
        .collect()
}

fn set_seed(state: &mut FeatureStateRecord, seed: &Seed) {
    match seed {
        Seed::Number(n) => state.django_id = Some(*n),
        Seed::Uuid(uuid) => {
            state.django_id = None;
            uuid.clone_into(&mut state.uuid);
        }
    }
}
