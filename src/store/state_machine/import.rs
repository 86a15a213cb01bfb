//! Importing a Flagsmith environment document: the project by name (created when missing),
//! features matched by name, segments matched by id, and every seed kept.

use std::collections::{BTreeSet, HashMap};

use super::checks::{check_key, check_name, check_value, check_variants};
use super::{CommandError, Fault, Tx};
use crate::store::changes::Change;
use crate::store::command::{
    Applied, ImportedEnvironment, ImportedFeature, ImportedSegment, ImportedTarget,
};
use crate::store::records::{
    FeatureRecord, FeatureStateRecord, OptionRecord, SegmentRecord, StateTarget, StoredValue,
    VariantWeightRecord,
};

/// (feature name, option source id) → our option id.
type OptionIds = HashMap<(String, u64), u32>;

impl Tx<'_> {
    pub(super) fn import(&mut self, imported: &ImportedEnvironment) -> Result<Applied, Fault> {
        check_name("project", &imported.project_name)?;
        check_name("environment", &imported.name)?;
        check_key(&imported.client_key)?;
        refuse_clashing_names("feature", imported.features.iter().map(|f| f.name.as_str()))?;
        refuse_clashing_names("segment", imported.segments.iter().map(|s| s.name.as_str()))?;
        let existing_project = self
            .work
            .projects
            .values()
            .find(|p| p.name == imported.project_name)
            .map(|p| p.id);
        let project_id = match existing_project {
            Some(id) => id,
            None => {
                self.insert_project(&imported.project_name, imported.project_hide_disabled_flags)?
            }
        };
        if let Some(existing) = self
            .work
            .environment_by_client_key(&imported.client_key)
            .cloned()
        {
            if !imported.replace {
                return Err(CommandError::Conflict(format!(
                    "an environment with client key {} exists ({:?}); import with replace to overwrite it",
                    imported.client_key, existing.name
                ))
                .into());
            }
            self.delete_environment(existing.id);
        }
        let (feature_ids, option_ids) = self.import_features(project_id, &imported.features)?;
        self.import_segments(project_id, &imported.segments)?;
        let environment_id = self.insert_environment(
            project_id,
            &imported.name,
            &imported.client_key,
            &imported.settings,
        )?;
        let mut has_default = BTreeSet::new();
        for state in &imported.states {
            let feature_id = *feature_ids.get(&state.feature_name).ok_or_else(|| {
                CommandError::Invalid(format!("state of unknown feature {:?}", state.feature_name))
            })?;
            let target = match &state.target {
                ImportedTarget::Environment => {
                    has_default.insert(feature_id);
                    StateTarget::Environment
                }
                ImportedTarget::Segment {
                    segment_id,
                    priority,
                } => {
                    if self.work.segments.get(segment_id).map(|s| s.project_id) != Some(project_id)
                    {
                        return Err(CommandError::Invalid(format!(
                            "override of segment {segment_id}, which is not a segment of this project"
                        ))
                        .into());
                    }
                    StateTarget::Segment {
                        segment_id: *segment_id,
                        priority: *priority,
                    }
                }
                ImportedTarget::Identity { identifier } => {
                    super::checks::check_identifier(identifier)?;
                    StateTarget::Identity {
                        identifier: identifier.clone(),
                    }
                }
            };
            let id = Self::next_id(&mut self.work.meta.counters.state)?;
            let mut variants = Vec::new();
            for (source, weight) in &state.variants {
                let option_id = option_ids
                    .get(&(state.feature_name.clone(), *source))
                    .ok_or_else(|| {
                        CommandError::Invalid(format!(
                            "unknown option {source} of {:?}",
                            state.feature_name
                        ))
                    })?;
                variants.push(VariantWeightRecord {
                    option_id: *option_id,
                    weight: *weight,
                });
            }
            check_value(&state.value)?;
            check_variants(self.feature(feature_id)?, &variants)?;
            self.record(Change::State(
                id,
                Some(FeatureStateRecord {
                    id,
                    environment_id,
                    feature_id,
                    target,
                    enabled: state.enabled,
                    value: state.value.clone(),
                    django_id: state.django_id,
                    uuid: state.uuid.clone(),
                    variants,
                    updated_at: self.now,
                }),
            ));
        }
        // Features of the project the document does not mention still get a default state.
        let missing: Vec<FeatureRecord> = self
            .work
            .project_features(project_id)
            .filter(|f| !has_default.contains(&f.id))
            .cloned()
            .collect();
        for feature in missing {
            let state = self.new_state(environment_id, &feature, StateTarget::Environment)?;
            self.record(Change::State(state.id, Some(state)));
        }
        self.touch(environment_id);
        Ok(Applied::Created { id: environment_id })
    }

    /// Matches features by name (creating the missing ones); maps option source ids to ours.
    fn import_features(
        &mut self,
        project_id: u32,
        features: &[ImportedFeature],
    ) -> Result<(HashMap<String, u32>, OptionIds), Fault> {
        let mut option_ids = HashMap::new();
        let mut feature_ids = HashMap::new();
        for feature in features {
            let existing = self
                .work
                .project_features(project_id)
                .find(|f| f.name == feature.name)
                .cloned();
            let id = match existing {
                Some(record) => {
                    for option in &feature.options {
                        let found = record
                            .options
                            .iter()
                            .find(|o| o.value == option.value && o.key == option.key)
                            .ok_or_else(|| {
                                CommandError::Conflict(format!(
                                    "feature {:?} exists without the option {:?} this environment uses",
                                    feature.name, option.value
                                ))
                            })?;
                        option_ids.insert((feature.name.clone(), option.source_id), found.id);
                    }
                    record.id
                }
                None => {
                    check_name("feature", &feature.name)?;
                    self.check_feature_name_free(project_id, &feature.name)?;
                    let id = Self::next_id(&mut self.work.meta.counters.feature)?;
                    let mut options = Vec::new();
                    for option in &feature.options {
                        let option_id = Self::next_id(&mut self.work.meta.counters.option)?;
                        option_ids.insert((feature.name.clone(), option.source_id), option_id);
                        options.push(OptionRecord {
                            id: option_id,
                            value: option.value.clone(),
                            key: option.key.clone(),
                            default_weight: 0.0,
                        });
                    }
                    self.add_feature(&FeatureRecord {
                        id,
                        project_id,
                        name: feature.name.clone(),
                        kind: feature.kind,
                        description: None,
                        initial_value: StoredValue::Null,
                        default_enabled: false,
                        server_key_only: feature.server_key_only,
                        options,
                        created_at: self.now,
                    })?;
                    id
                }
            };
            feature_ids.insert(feature.name.clone(), id);
        }
        Ok((feature_ids, option_ids))
    }

    /// Matches segments by id: their ids seed percentage splits, so they are kept.
    fn import_segments(
        &mut self,
        project_id: u32,
        segments: &[ImportedSegment],
    ) -> Result<(), Fault> {
        for segment in segments {
            match self.work.segments.get(&segment.id) {
                Some(existing) if existing.project_id != project_id => {
                    return Err(CommandError::Conflict(format!(
                        "segment id {} ({:?}) belongs to another project",
                        segment.id, existing.name
                    ))
                    .into());
                }
                Some(existing)
                    if existing.rules != segment.rules || existing.name != segment.name =>
                {
                    return Err(CommandError::Conflict(format!(
                        "segment {} exists as {:?} with other rules",
                        segment.id, existing.name
                    ))
                    .into());
                }
                Some(_) => {}
                None => {
                    check_name("segment", &segment.name)?;
                    self.check_segment_name_free(project_id, &segment.name, None)?;
                    let counter = &mut self.work.meta.counters.segment;
                    *counter = (*counter).max(segment.id);
                    let position =
                        Self::next_position(&mut self.work.meta.counters.segment_position);
                    self.record(Change::Segment(
                        segment.id,
                        Some(SegmentRecord {
                            id: segment.id,
                            project_id,
                            position,
                            name: segment.name.clone(),
                            description: None,
                            rules: segment.rules.clone(),
                            created_at: self.now,
                        }),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Refuses a document whose names clash (the same name in another case), listing them all.
fn refuse_clashing_names<'a>(
    kind: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), CommandError> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut clashing: Vec<String> = Vec::new();
    for name in names {
        match seen.entry(name.to_lowercase()) {
            std::collections::hash_map::Entry::Occupied(first) => {
                clashing.push(format!("{:?} and {name:?}", first.get()));
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(name);
            }
        }
    }
    if clashing.is_empty() {
        return Ok(());
    }
    Err(CommandError::Conflict(format!(
        "the document has {kind} names that clash with another {kind} of the same name \
         (names are unique regardless of case): {}",
        clashing.join(", ")
    )))
}
