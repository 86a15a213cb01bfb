//! Features and their per-environment states.

use super::checks::{
    check_name, check_options, check_value, check_variants, derived_uuid, same_name,
};
use super::{CommandError, Fault, Tx};
use crate::store::changes::Change;
use crate::store::command::{Applied, NewFeature, StatePatch};
use crate::store::records::{
    FeatureRecord, FeatureStateRecord, OptionRecord, StateTarget, VariantWeightRecord,
};

impl Tx<'_> {
    pub(super) fn create_feature(&mut self, new: &NewFeature) -> Result<Applied, Fault> {
        self.project(new.project_id)?;
        check_name("feature", &new.name)?;
        self.check_feature_name_free(new.project_id, &new.name)?;
        check_options(new.kind, &new.options)?;
        check_value(&new.initial_value)?;
        let id = Self::next_id(&mut self.work.meta.counters.feature)?;
        let mut options = Vec::with_capacity(new.options.len());
        for option in &new.options {
            options.push(OptionRecord {
                id: Self::next_id(&mut self.work.meta.counters.option)?,
                value: option.value.clone(),
                key: option.key.clone(),
                default_weight: option.default_weight,
            });
        }
        let feature = FeatureRecord {
            id,
            project_id: new.project_id,
            name: new.name.clone(),
            kind: new.kind,
            description: new.description.clone(),
            initial_value: new.initial_value.clone(),
            default_enabled: new.default_enabled,
            server_key_only: new.server_key_only,
            options,
            created_at: self.now,
        };
        self.add_feature(&feature)?;
        Ok(Applied::Created { id })
    }

    /// Refuses a name that another feature of the project has, in any case.
    pub(super) fn check_feature_name_free(
        &self,
        project_id: u32,
        name: &str,
    ) -> Result<(), CommandError> {
        match self
            .work
            .project_features(project_id)
            .find(|f| same_name(&f.name, name))
        {
            Some(existing) => Err(CommandError::Conflict(format!(
                "project {project_id} already has a feature named {:?}",
                existing.name
            ))),
            None => Ok(()),
        }
    }

    /// Records a new feature and gives every environment of its project a default state.
    pub(super) fn add_feature(&mut self, feature: &FeatureRecord) -> Result<(), CommandError> {
        let environments: Vec<u32> = self
            .work
            .project_environments(feature.project_id)
            .map(|e| e.id)
            .collect();
        self.record(Change::Feature(feature.id, Some(feature.clone())));
        for env in environments {
            let state = self.new_state(env, feature, StateTarget::Environment)?;
            self.record(Change::State(state.id, Some(state)));
            self.touch(env);
        }
        Ok(())
    }

    pub(super) fn update_feature(
        &mut self,
        id: u32,
        description: Option<&Option<String>>,
        server_key_only: Option<bool>,
    ) -> Result<Applied, Fault> {
        let mut feature = self.feature(id)?.clone();
        if let Some(description) = description {
            feature.description.clone_from(description);
        }
        if let Some(server_key_only) = server_key_only {
            feature.server_key_only = server_key_only;
        }
        let project_id = feature.project_id;
        self.record(Change::Feature(id, Some(feature)));
        self.touch_project(project_id);
        Ok(Applied::Updated)
    }

    pub(super) fn delete_feature(&mut self, id: u32) -> Result<Applied, Fault> {
        let project_id = self.feature(id)?.project_id;
        let states: Vec<u32> = self
            .work
            .states
            .values()
            .filter(|s| s.feature_id == id)
            .map(|s| s.id)
            .collect();
        for state in states {
            self.record(Change::State(state, None));
        }
        self.forget_feature(id);
        self.touch_project(project_id);
        Ok(Applied::Deleted)
    }

    pub(super) fn set_feature_state(
        &mut self,
        environment_id: u32,
        feature_id: u32,
        expected_revision: Option<u64>,
        patch: &StatePatch,
    ) -> Result<Applied, Fault> {
        self.environment_feature(environment_id, feature_id)?;
        self.check_revision(environment_id, expected_revision)?;
        let feature = self.feature(feature_id)?.clone();
        let state = match self.work.default_state(environment_id, feature_id) {
            Some(state) => state.clone(),
            None => self.new_state(environment_id, &feature, StateTarget::Environment)?,
        };
        self.patch_state(state, &feature, patch)?;
        self.touch(environment_id);
        Ok(Applied::Updated)
    }

    /// A fresh state for a feature in an environment, seeded by its own id.
    pub(super) fn new_state(
        &mut self,
        environment_id: u32,
        feature: &FeatureRecord,
        target: StateTarget,
    ) -> Result<FeatureStateRecord, CommandError> {
        let id = Self::next_id(&mut self.work.meta.counters.state)?;
        Ok(FeatureStateRecord {
            id,
            environment_id,
            feature_id: feature.id,
            target,
            enabled: feature.default_enabled,
            value: feature.initial_value.clone(),
            django_id: Some(u64::from(id)),
            uuid: derived_uuid(&self.work.meta.instance_seed, id),
            variants: feature
                .options
                .iter()
                .map(|o| VariantWeightRecord {
                    option_id: o.id,
                    weight: o.default_weight,
                })
                .collect(),
            updated_at: self.now,
        })
    }

    pub(super) fn patch_state(
        &mut self,
        mut state: FeatureStateRecord,
        feature: &FeatureRecord,
        patch: &StatePatch,
    ) -> Result<(), CommandError> {
        if let Some(enabled) = patch.enabled {
            state.enabled = enabled;
        }
        if let Some(value) = &patch.value {
            check_value(value)?;
            state.value = value.clone();
        }
        if let Some(variants) = &patch.variants {
            check_variants(feature, variants)?;
            state.variants.clone_from(variants);
        }
        state.updated_at = self.now;
        self.record(Change::State(state.id, Some(state)));
        Ok(())
    }
}
