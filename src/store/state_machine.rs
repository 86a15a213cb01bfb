//! The state machine: applies one command in one redb write transaction, deterministically.
//!
//! Applying validates the command against the catalog, writes the changed records together
//! with the applied log index, and returns the new catalog. A command that breaks a rule
//! (unknown id, name taken, stale revision) changes nothing but still consumes its index, so
//! every node that applies the same log reaches the same state.

use std::collections::BTreeSet;

use redb::{ReadableTable, WriteTransaction};
use thiserror::Error;

use super::catalog::{Catalog, Change};
use super::codec::{decode, encode};
use super::command::{
    Applied, Command, Envelope, ImportedEnvironment, ImportedTarget, NewOption, SettingsPatch,
    StatePatch, TraitWrite,
};
use super::error::StoreError;
use super::records::{
    ApiTokenRecord, EnvironmentRecord, EnvironmentSettingsRecord, FeatureRecord,
    FeatureStateRecord, IdentityRecord, OptionRecord, OrganisationRecord, ProjectRecord,
    SegmentRecord, ServerKeyRecord, StateTarget, StoredFeatureKind, StoredValue, TokenRole,
    VariantWeightRecord,
};
use super::tables;

/// A command that breaks a rule. Applying it changes nothing.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CommandError {
    #[error("{kind} {id} does not exist")]
    NotFound { kind: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("the environment changed meanwhile: expected revision {expected}, it is at {actual}")]
    RevisionMismatch { expected: u64, actual: u64 },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("the instance is not initialised yet")]
    NotInitialized,
}

impl CommandError {
    fn not_found(kind: &'static str, id: impl std::fmt::Display) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }
}

/// The outcome of applying one command.
pub struct Outcome {
    pub result: Result<Applied, CommandError>,
    /// The catalog after the command (unchanged when it failed).
    pub catalog: Catalog,
    /// Environments whose served flags may have changed.
    pub touched_environments: BTreeSet<u32>,
}

/// Applies `envelope` as log entry `index`: the command's writes and the new applied index
/// commit together, or, when the command is refused, the index alone.
pub fn apply(
    db: &redb::Database,
    catalog: &Catalog,
    index: u64,
    envelope: &Envelope,
    durability: redb::Durability,
) -> Result<Outcome, StoreError> {
    if index <= catalog.meta.last_applied {
        // Already applied (a replayed entry): idempotent.
        return Ok(Outcome {
            result: Err(CommandError::Conflict(format!(
                "entry {index} was applied already"
            ))),
            catalog: catalog.clone(),
            touched_environments: BTreeSet::new(),
        });
    }
    let mut txn = db.begin_write()?;
    txn.set_durability(durability)?;
    let mut tx = Tx::new(catalog, envelope.timestamp);
    let result = tx.command(&txn, &envelope.command);
    let (mut work, changes, touched) = match &result {
        Ok(_) => (tx.work, tx.changes, tx.touched),
        Err(_) => {
            // Drop whatever the refused command wrote; only the index advances.
            txn.abort()?;
            txn = db.begin_write()?;
            txn.set_durability(durability)?;
            (catalog.clone(), Vec::new(), BTreeSet::new())
        }
    };
    work.meta.last_applied = index;
    write_changes(&txn, &changes)?;
    txn.open_table(tables::META)?
        .insert("meta", encode(&work.meta)?.as_slice())?;
    txn.commit()?;
    Ok(Outcome {
        result,
        catalog: work,
        touched_environments: touched,
    })
}

fn write_changes(txn: &WriteTransaction, changes: &[Change]) -> Result<(), StoreError> {
    fn write<T: serde::Serialize>(
        txn: &WriteTransaction,
        table: redb::TableDefinition<u32, &[u8]>,
        id: u32,
        value: Option<&T>,
    ) -> Result<(), StoreError> {
        let mut table = txn.open_table(table)?;
        match value {
            Some(v) => {
                table.insert(id, encode(v)?.as_slice())?;
            }
            None => {
                table.remove(id)?;
            }
        }
        Ok(())
    }
    for change in changes {
        match change {
            Change::Organisation(id, v) => write(txn, tables::ORGANISATIONS, *id, v.as_ref())?,
            Change::Project(id, v) => write(txn, tables::PROJECTS, *id, v.as_ref())?,
            Change::Environment(id, v) => write(txn, tables::ENVIRONMENTS, *id, v.as_ref())?,
            Change::Feature(id, v) => write(txn, tables::FEATURES, *id, v.as_ref())?,
            Change::Segment(id, v) => write(txn, tables::SEGMENTS, *id, v.as_ref())?,
            Change::State(id, v) => write(txn, tables::FEATURE_STATES, *id, v.as_ref())?,
            Change::ServerKey(id, v) => write(txn, tables::SERVER_KEYS, *id, v.as_ref())?,
            Change::Token(id, v) => write(txn, tables::API_TOKENS, *id, v.as_ref())?,
        }
    }
    Ok(())
}

/// Applying one command: a working copy of the catalog plus the changes made to it.
struct Tx {
    work: Catalog,
    changes: Vec<Change>,
    touched: BTreeSet<u32>,
    now: i64,
}

/// Longest accepted name of a project, environment, feature, segment or key.
const MAX_NAME: usize = 2000;

fn check_name(what: &str, name: &str) -> Result<(), CommandError> {
    if name.trim().is_empty() {
        return Err(CommandError::Invalid(format!(
            "{what} name cannot be empty"
        )));
    }
    if name.chars().count() > MAX_NAME {
        return Err(CommandError::Invalid(format!(
            "{what} name is longer than {MAX_NAME} characters"
        )));
    }
    Ok(())
}

impl Tx {
    fn new(catalog: &Catalog, now: i64) -> Self {
        Self {
            work: catalog.clone(),
            changes: Vec::new(),
            touched: BTreeSet::new(),
            now,
        }
    }

    fn next_id(counter: &mut u32) -> Result<u32, CommandError> {
        *counter = counter
            .checked_add(1)
            .ok_or_else(|| CommandError::LimitExceeded("ids of this kind are exhausted".into()))?;
        Ok(*counter)
    }

    fn next_position(counter: &mut u64) -> u64 {
        *counter += 1;
        *counter
    }

    fn record(&mut self, change: Change) {
        self.work.apply(std::slice::from_ref(&change));
        self.changes.push(change);
    }

    /// Marks an environment changed: a new revision and `updated_at`.
    fn touch(&mut self, environment_id: u32) {
        if let Some(env) = self.work.environments.get(&environment_id) {
            let mut env = env.clone();
            if !self.touched.contains(&environment_id) {
                env.revision += 1;
            }
            env.updated_at = self.now;
            self.touched.insert(environment_id);
            self.record(Change::Environment(environment_id, Some(env)));
        }
    }

    fn touch_project(&mut self, project_id: u32) {
        let ids: Vec<u32> = self
            .work
            .project_environments(project_id)
            .map(|e| e.id)
            .collect();
        for id in ids {
            self.touch(id);
        }
    }

    fn check_revision(
        &self,
        environment_id: u32,
        expected: Option<u64>,
    ) -> Result<(), CommandError> {
        let env = self.environment(environment_id)?;
        match expected {
            Some(expected) if expected != env.revision => Err(CommandError::RevisionMismatch {
                expected,
                actual: env.revision,
            }),
            _ => Ok(()),
        }
    }

    fn project(&self, id: u32) -> Result<&ProjectRecord, CommandError> {
        self.work
            .projects
            .get(&id)
            .ok_or_else(|| CommandError::not_found("project", id))
    }

    fn environment(&self, id: u32) -> Result<&EnvironmentRecord, CommandError> {
        self.work
            .environments
            .get(&id)
            .ok_or_else(|| CommandError::not_found("environment", id))
    }

    fn feature(&self, id: u32) -> Result<&FeatureRecord, CommandError> {
        self.work
            .features
            .get(&id)
            .ok_or_else(|| CommandError::not_found("feature", id))
    }

    fn segment(&self, id: u32) -> Result<&SegmentRecord, CommandError> {
        self.work
            .segments
            .get(&id)
            .ok_or_else(|| CommandError::not_found("segment", id))
    }

    /// Environment and feature of one project, or an error naming the mismatch.
    fn environment_feature(
        &self,
        environment_id: u32,
        feature_id: u32,
    ) -> Result<(u32, u32), CommandError> {
        let env_project = self.environment(environment_id)?.project_id;
        let feature_project = self.feature(feature_id)?.project_id;
        if env_project != feature_project {
            return Err(CommandError::Invalid(format!(
                "feature {feature_id} belongs to another project than environment {environment_id}"
            )));
        }
        Ok((environment_id, feature_id))
    }

    /// A fresh state for a feature in an environment, seeded by its own id.
    fn new_state(
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

    fn command(
        &mut self,
        txn: &WriteTransaction,
        command: &Command,
    ) -> Result<Applied, CommandError> {
        if !self.work.meta.initialized && !matches!(command, Command::Initialize { .. }) {
            return Err(CommandError::NotInitialized);
        }
        match command {
            Command::Initialize {
                organisation_name,
                instance_seed,
                admin_token,
            } => {
                if self.work.meta.initialized {
                    return Err(CommandError::Conflict(
                        "the instance is already initialised".into(),
                    ));
                }
                self.work.meta.initialized = true;
                self.work.meta.instance_seed = *instance_seed;
                let id = Self::next_id(&mut self.work.meta.counters.organisation)?;
                self.record(Change::Organisation(
                    id,
                    Some(OrganisationRecord {
                        id,
                        name: organisation_name.clone(),
                        persist_trait_data: true,
                        stop_serving_flags: false,
                        feature_analytics: false,
                        created_at: self.now,
                    }),
                ));
                if let Some(token) = admin_token {
                    self.create_token(token)?;
                }
                Ok(Applied::Created { id })
            }
            Command::CreateApiToken(token) => self.create_token(token),
            Command::UpdateOrganisation {
                name,
                persist_trait_data,
                stop_serving_flags,
            } => {
                let mut organisation = self
                    .work
                    .organisation()
                    .cloned()
                    .ok_or_else(|| CommandError::not_found("organisation", "default"))?;
                if let Some(name) = name {
                    check_name("organisation", name)?;
                    organisation.name = name.clone();
                }
                if let Some(persist) = persist_trait_data {
                    organisation.persist_trait_data = *persist;
                }
                if let Some(stop) = stop_serving_flags {
                    organisation.stop_serving_flags = *stop;
                }
                self.record(Change::Organisation(organisation.id, Some(organisation)));
                let environments: Vec<u32> = self.work.environments.keys().copied().collect();
                for env in environments {
                    self.touch(env);
                }
                Ok(Applied::Updated)
            }
            Command::CreateProject {
                name,
                hide_disabled_flags,
            } => {
                check_name("project", name)?;
                if self.work.projects.values().any(|p| p.name == *name) {
                    return Err(CommandError::Conflict(format!(
                        "a project named {name:?} exists"
                    )));
                }
                let organisation_id = self.work.organisation().map_or(1, |o| o.id);
                let id = Self::next_id(&mut self.work.meta.counters.project)?;
                self.record(Change::Project(
                    id,
                    Some(ProjectRecord {
                        id,
                        organisation_id,
                        name: name.clone(),
                        hide_disabled_flags: *hide_disabled_flags,
                        enable_realtime_updates: false,
                        created_at: self.now,
                    }),
                ));
                Ok(Applied::Created { id })
            }
            Command::UpdateProject {
                id,
                name,
                hide_disabled_flags,
            } => {
                let mut project = self.project(*id)?.clone();
                if let Some(name) = name {
                    check_name("project", name)?;
                    if self
                        .work
                        .projects
                        .values()
                        .any(|p| p.name == *name && p.id != *id)
                    {
                        return Err(CommandError::Conflict(format!(
                            "a project named {name:?} exists"
                        )));
                    }
                    project.name = name.clone();
                }
                if let Some(hide) = hide_disabled_flags {
                    project.hide_disabled_flags = *hide;
                }
                self.record(Change::Project(*id, Some(project)));
                self.touch_project(*id);
                Ok(Applied::Updated)
            }
            Command::DeleteProject { id } => {
                self.project(*id)?;
                let environments: Vec<u32> =
                    self.work.project_environments(*id).map(|e| e.id).collect();
                for env in environments {
                    self.delete_environment(txn, env)?;
                }
                let features: Vec<u32> = self.work.project_features(*id).map(|f| f.id).collect();
                for feature in features {
                    self.record(Change::Feature(feature, None));
                }
                let segments: Vec<u32> = self.work.project_segments(*id).map(|s| s.id).collect();
                for segment in segments {
                    self.record(Change::Segment(segment, None));
                }
                self.record(Change::Project(*id, None));
                Ok(Applied::Deleted)
            }
            Command::CreateEnvironment {
                project_id,
                name,
                client_key,
                settings,
            } => {
                self.project(*project_id)?;
                check_name("environment", name)?;
                check_key(client_key)?;
                if self
                    .work
                    .project_environments(*project_id)
                    .any(|e| e.name == *name)
                {
                    return Err(CommandError::Conflict(format!(
                        "project {project_id} already has an environment named {name:?}"
                    )));
                }
                if self.work.environment_by_client_key(client_key).is_some() {
                    return Err(CommandError::Conflict("that client key is in use".into()));
                }
                let id = Self::next_id(&mut self.work.meta.counters.environment)?;
                self.record(Change::Environment(
                    id,
                    Some(EnvironmentRecord {
                        id,
                        project_id: *project_id,
                        name: name.clone(),
                        client_key: client_key.clone(),
                        settings: settings.clone(),
                        revision: 0,
                        updated_at: self.now,
                        created_at: self.now,
                    }),
                ));
                let features: Vec<FeatureRecord> =
                    self.work.project_features(*project_id).cloned().collect();
                for feature in features {
                    let state = self.new_state(id, &feature, StateTarget::Environment)?;
                    self.record(Change::State(state.id, Some(state)));
                }
                self.touch(id);
                Ok(Applied::Created { id })
            }
            Command::UpdateEnvironment {
                id,
                expected_revision,
                name,
                settings,
            } => {
                self.check_revision(*id, *expected_revision)?;
                let mut env = self.environment(*id)?.clone();
                if let Some(name) = name {
                    check_name("environment", name)?;
                    if self
                        .work
                        .project_environments(env.project_id)
                        .any(|e| e.name == *name && e.id != *id)
                    {
                        return Err(CommandError::Conflict(format!(
                            "an environment named {name:?} exists"
                        )));
                    }
                    env.name = name.clone();
                }
                apply_settings(&mut env.settings, settings);
                self.record(Change::Environment(*id, Some(env)));
                self.touch(*id);
                Ok(Applied::Updated)
            }
            Command::DeleteEnvironment { id } => {
                self.environment(*id)?;
                self.delete_environment(txn, *id)?;
                Ok(Applied::Deleted)
            }
            Command::CreateFeature {
                project_id,
                name,
                kind,
                description,
                initial_value,
                default_enabled,
                server_key_only,
                options,
            } => {
                self.project(*project_id)?;
                check_name("feature", name)?;
                if self
                    .work
                    .project_features(*project_id)
                    .any(|f| f.name == *name)
                {
                    return Err(CommandError::Conflict(format!(
                        "project {project_id} already has a feature named {name:?}"
                    )));
                }
                check_options(*kind, options)?;
                let id = Self::next_id(&mut self.work.meta.counters.feature)?;
                let mut records = Vec::with_capacity(options.len());
                for option in options {
                    records.push(OptionRecord {
                        id: Self::next_id(&mut self.work.meta.counters.option)?,
                        value: option.value.clone(),
                        key: option.key.clone(),
                        default_weight: option.default_weight,
                    });
                }
                let feature = FeatureRecord {
                    id,
                    project_id: *project_id,
                    name: name.clone(),
                    kind: *kind,
                    description: description.clone(),
                    initial_value: initial_value.clone(),
                    default_enabled: *default_enabled,
                    server_key_only: *server_key_only,
                    options: records,
                    created_at: self.now,
                };
                self.record(Change::Feature(id, Some(feature.clone())));
                let environments: Vec<u32> = self
                    .work
                    .project_environments(*project_id)
                    .map(|e| e.id)
                    .collect();
                for env in environments {
                    let state = self.new_state(env, &feature, StateTarget::Environment)?;
                    self.record(Change::State(state.id, Some(state)));
                    self.touch(env);
                }
                Ok(Applied::Created { id })
            }
            Command::UpdateFeature {
                id,
                description,
                server_key_only,
            } => {
                let mut feature = self.feature(*id)?.clone();
                if let Some(description) = description {
                    feature.description = description.clone();
                }
                if let Some(server_key_only) = server_key_only {
                    feature.server_key_only = *server_key_only;
                }
                let project_id = feature.project_id;
                self.record(Change::Feature(*id, Some(feature)));
                self.touch_project(project_id);
                Ok(Applied::Updated)
            }
            Command::DeleteFeature { id } => {
                let project_id = self.feature(*id)?.project_id;
                let states: Vec<u32> = self
                    .work
                    .states
                    .values()
                    .filter(|s| s.feature_id == *id)
                    .map(|s| s.id)
                    .collect();
                for state in states {
                    self.record(Change::State(state, None));
                }
                self.record(Change::Feature(*id, None));
                self.touch_project(project_id);
                Ok(Applied::Deleted)
            }
            Command::SetFeatureState {
                environment_id,
                feature_id,
                expected_revision,
                patch,
            } => {
                self.environment_feature(*environment_id, *feature_id)?;
                self.check_revision(*environment_id, *expected_revision)?;
                let feature = self.feature(*feature_id)?.clone();
                let state = match self.work.default_state(*environment_id, *feature_id) {
                    Some(state) => state.clone(),
                    None => self.new_state(*environment_id, &feature, StateTarget::Environment)?,
                };
                self.patch_state(state, &feature, patch)?;
                self.touch(*environment_id);
                Ok(Applied::Updated)
            }
            Command::CreateSegment {
                project_id,
                name,
                description,
                rules,
            } => {
                self.project(*project_id)?;
                check_name("segment", name)?;
                let id = Self::next_id(&mut self.work.meta.counters.segment)?;
                let position = Self::next_position(&mut self.work.meta.counters.segment_position);
                self.record(Change::Segment(
                    id,
                    Some(SegmentRecord {
                        id,
                        project_id: *project_id,
                        position,
                        name: name.clone(),
                        description: description.clone(),
                        rules: rules.clone(),
                        created_at: self.now,
                    }),
                ));
                self.touch_project(*project_id);
                Ok(Applied::Created { id })
            }
            Command::UpdateSegment {
                id,
                name,
                description,
                rules,
            } => {
                let mut segment = self.segment(*id)?.clone();
                if let Some(name) = name {
                    check_name("segment", name)?;
                    segment.name = name.clone();
                }
                if let Some(description) = description {
                    segment.description = description.clone();
                }
                if let Some(rules) = rules {
                    segment.rules = rules.clone();
                }
                let project_id = segment.project_id;
                self.record(Change::Segment(*id, Some(segment)));
                self.touch_project(project_id);
                Ok(Applied::Updated)
            }
            Command::DeleteSegment { id } => {
                let project_id = self.segment(*id)?.project_id;
                let overrides: Vec<u32> = self
                    .work
                    .states
                    .values()
                    .filter(|s| matches!(s.target, StateTarget::Segment { segment_id, .. } if segment_id == *id))
                    .map(|s| s.id)
                    .collect();
                for state in overrides {
                    self.record(Change::State(state, None));
                }
                self.record(Change::Segment(*id, None));
                self.touch_project(project_id);
                Ok(Applied::Deleted)
            }
            Command::SetSegmentOverride {
                environment_id,
                feature_id,
                segment_id,
                priority,
                expected_revision,
                patch,
            } => {
                self.environment_feature(*environment_id, *feature_id)?;
                self.check_revision(*environment_id, *expected_revision)?;
                let segment = self.segment(*segment_id)?;
                if segment.project_id != self.environment(*environment_id)?.project_id {
                    return Err(CommandError::Invalid(format!(
                        "segment {segment_id} belongs to another project than environment {environment_id}"
                    )));
                }
                let feature = self.feature(*feature_id)?.clone();
                let existing = self.segment_overrides(*environment_id, *feature_id);
                let current = existing
                    .iter()
                    .find(|s| segment_of(s) == Some(*segment_id))
                    .cloned();
                let mut state = match current {
                    Some(state) => state,
                    None => {
                        let last = existing.len() as u32;
                        self.new_state(
                            *environment_id,
                            &feature,
                            StateTarget::Segment {
                                segment_id: *segment_id,
                                priority: last,
                            },
                        )?
                    }
                };
                if let Some(priority) = priority {
                    state.target = StateTarget::Segment {
                        segment_id: *segment_id,
                        priority: *priority,
                    };
                }
                self.patch_state(state, &feature, patch)?;
                if priority.is_some() {
                    self.renumber_overrides(*environment_id, *feature_id, Some(*segment_id));
                }
                self.touch(*environment_id);
                Ok(Applied::Updated)
            }
            Command::DeleteSegmentOverride {
                environment_id,
                feature_id,
                segment_id,
            } => {
                self.environment_feature(*environment_id, *feature_id)?;
                let state = self
                    .segment_overrides(*environment_id, *feature_id)
                    .into_iter()
                    .find(|s| segment_of(s) == Some(*segment_id))
                    .ok_or_else(|| {
                        CommandError::not_found(
                            "segment override",
                            format!("{segment_id} of feature {feature_id}"),
                        )
                    })?;
                self.record(Change::State(state.id, None));
                self.renumber_overrides(*environment_id, *feature_id, None);
                self.touch(*environment_id);
                Ok(Applied::Deleted)
            }
            Command::ReorderSegmentOverrides {
                environment_id,
                feature_id,
                segment_ids,
            } => {
                self.environment_feature(*environment_id, *feature_id)?;
                let existing = self.segment_overrides(*environment_id, *feature_id);
                let mut have: Vec<u32> = existing.iter().filter_map(segment_of).collect();
                let mut want = segment_ids.clone();
                have.sort_unstable();
                want.sort_unstable();
                if have != want {
                    return Err(CommandError::Invalid(format!(
                        "the new order must list each overriding segment once: {have:?}"
                    )));
                }
                for state in existing {
                    let Some(segment_id) = segment_of(&state) else {
                        continue;
                    };
                    let position = segment_ids
                        .iter()
                        .position(|s| *s == segment_id)
                        .unwrap_or(0) as u32;
                    let mut state = state;
                    state.target = StateTarget::Segment {
                        segment_id,
                        priority: position,
                    };
                    self.record(Change::State(state.id, Some(state)));
                }
                self.touch(*environment_id);
                Ok(Applied::Updated)
            }
            Command::SetIdentityOverride {
                environment_id,
                feature_id,
                identifier,
                patch,
            } => {
                self.environment_feature(*environment_id, *feature_id)?;
                check_identifier(identifier)?;
                let feature = self.feature(*feature_id)?.clone();
                let target = StateTarget::Identity {
                    identifier: identifier.clone(),
                };
                let existing = self
                    .work
                    .environment_states(*environment_id)
                    .find(|s| s.feature_id == *feature_id && s.target == target)
                    .cloned();
                let mut state = match existing {
                    Some(state) => state,
                    None => self.new_state(*environment_id, &feature, target)?,
                };
                // Identity overrides always serve their own value: no split.
                state.variants.clear();
                let patch = StatePatch {
                    variants: None,
                    ..patch.clone()
                };
                self.patch_state(state, &feature, &patch)?;
                self.touch(*environment_id);
                Ok(Applied::Updated)
            }
            Command::DeleteIdentityOverride {
                environment_id,
                feature_id,
                identifier,
            } => {
                let target = StateTarget::Identity {
                    identifier: identifier.clone(),
                };
                let state = self
                    .work
                    .environment_states(*environment_id)
                    .find(|s| s.feature_id == *feature_id && s.target == target)
                    .map(|s| s.id)
                    .ok_or_else(|| {
                        CommandError::not_found(
                            "identity override",
                            format!("{identifier:?} of feature {feature_id}"),
                        )
                    })?;
                self.record(Change::State(state, None));
                self.touch(*environment_id);
                Ok(Applied::Deleted)
            }
            Command::CreateServerKey {
                environment_id,
                name,
                key_hash,
                prefix,
            } => {
                self.environment(*environment_id)?;
                check_name("key", name)?;
                if self
                    .work
                    .server_keys
                    .values()
                    .any(|k| k.key_hash == *key_hash)
                {
                    return Err(CommandError::Conflict("that key is in use".into()));
                }
                let id = Self::next_id(&mut self.work.meta.counters.server_key)?;
                self.record(Change::ServerKey(
                    id,
                    Some(ServerKeyRecord {
                        id,
                        environment_id: *environment_id,
                        name: name.clone(),
                        key_hash: *key_hash,
                        prefix: prefix.clone(),
                        active: true,
                        created_at: self.now,
                    }),
                ));
                Ok(Applied::Created { id })
            }
            Command::RevokeServerKey { id } => {
                let mut key = self
                    .work
                    .server_keys
                    .get(id)
                    .cloned()
                    .ok_or_else(|| CommandError::not_found("server key", id))?;
                key.active = false;
                self.record(Change::ServerKey(*id, Some(key)));
                Ok(Applied::Deleted)
            }
            Command::Identify {
                environment_id,
                identifier,
                traits,
                max_traits,
            } => {
                self.environment(*environment_id)?;
                identify(
                    txn,
                    &mut self.work.meta.counters.identity,
                    *environment_id,
                    identifier,
                    traits,
                    *max_traits,
                    self.now,
                )
                .map_err(|e| match e {
                    IdentifyError::Store(e) => CommandError::Invalid(e.to_string()),
                    IdentifyError::Command(e) => e,
                })
            }
            Command::DeleteIdentity {
                environment_id,
                identifier,
            } => {
                self.environment(*environment_id)?;
                let removed = delete_identity(txn, *environment_id, identifier)
                    .map_err(|e| CommandError::Invalid(e.to_string()))?;
                let overrides = self.identity_overrides_of(*environment_id, Some(identifier));
                let had_overrides = !overrides.is_empty();
                for state in overrides {
                    self.record(Change::State(state, None));
                }
                if had_overrides {
                    self.touch(*environment_id);
                }
                if removed || had_overrides {
                    Ok(Applied::Deleted)
                } else {
                    Err(CommandError::not_found("identity", identifier))
                }
            }
            Command::ImportEnvironment(imported) => self.import(txn, imported),
            Command::DeleteIdentities {
                environment_id,
                limit,
            } => {
                self.environment(*environment_id)?;
                let (count, more) = delete_identities(txn, *environment_id, *limit)
                    .map_err(|e| CommandError::Invalid(e.to_string()))?;
                if !more {
                    let overrides = self.identity_overrides_of(*environment_id, None);
                    if !overrides.is_empty() {
                        for state in overrides {
                            self.record(Change::State(state, None));
                        }
                        self.touch(*environment_id);
                    }
                }
                Ok(Applied::Removed { count, more })
            }
        }
    }

    /// Imports a Flagsmith environment: the project by name (created when missing), features
    /// matched by name, segments matched by id, and every seed kept.
    fn import(
        &mut self,
        txn: &WriteTransaction,
        imported: &ImportedEnvironment,
    ) -> Result<Applied, CommandError> {
        check_name("project", &imported.project_name)?;
        check_name("environment", &imported.name)?;
        check_key(&imported.client_key)?;
        let project_id = match self
            .work
            .projects
            .values()
            .find(|p| p.name == imported.project_name)
        {
            Some(project) => project.id,
            None => {
                let id = Self::next_id(&mut self.work.meta.counters.project)?;
                let organisation_id = self.work.organisation().map_or(1, |o| o.id);
                self.record(Change::Project(
                    id,
                    Some(ProjectRecord {
                        id,
                        organisation_id,
                        name: imported.project_name.clone(),
                        hide_disabled_flags: imported.project_hide_disabled_flags,
                        enable_realtime_updates: false,
                        created_at: self.now,
                    }),
                ));
                id
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
                )));
            }
            self.delete_environment(txn, existing.id)?;
        }
        if self
            .work
            .project_environments(project_id)
            .any(|e| e.name == imported.name)
        {
            return Err(CommandError::Conflict(format!(
                "project {:?} already has an environment named {:?}",
                imported.project_name, imported.name
            )));
        }
        // Features, matched by name; option source ids map to our option ids.
        let mut option_ids = std::collections::HashMap::new();
        let mut feature_ids = std::collections::HashMap::new();
        for feature in &imported.features {
            let existing = self
                .work
                .project_features(project_id)
                .find(|f| f.name == feature.name)
                .cloned();
            let record = match existing {
                Some(record) => {
                    for option in &feature.options {
                        let found = record
                            .options
                            .iter()
                            .find(|o| o.value == option.value && o.key == option.key);
                        let Some(found) = found else {
                            return Err(CommandError::Conflict(format!(
                                "feature {:?} exists without the option {:?} this environment uses",
                                feature.name, option.value
                            )));
                        };
                        option_ids.insert((feature.name.clone(), option.source_id), found.id);
                    }
                    record
                }
                None => {
                    check_name("feature", &feature.name)?;
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
                    let record = FeatureRecord {
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
                    };
                    self.record(Change::Feature(id, Some(record.clone())));
                    // Existing environments of the project get a default state for it.
                    let others: Vec<u32> = self
                        .work
                        .project_environments(project_id)
                        .map(|e| e.id)
                        .collect();
                    for env in others {
                        let state = self.new_state(env, &record, StateTarget::Environment)?;
                        self.record(Change::State(state.id, Some(state)));
                        self.touch(env);
                    }
                    record
                }
            };
            feature_ids.insert(feature.name.clone(), record.id);
        }
        // Segments, matched by id: their ids seed percentage splits, so they are kept.
        for segment in &imported.segments {
            match self.work.segments.get(&segment.id) {
                Some(existing) if existing.project_id != project_id => {
                    return Err(CommandError::Conflict(format!(
                        "segment id {} ({:?}) belongs to another project",
                        segment.id, existing.name
                    )));
                }
                Some(existing)
                    if existing.rules != segment.rules || existing.name != segment.name =>
                {
                    return Err(CommandError::Conflict(format!(
                        "segment {} exists as {:?} with other rules",
                        segment.id, existing.name
                    )));
                }
                Some(_) => {}
                None => {
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
        let environment_id = Self::next_id(&mut self.work.meta.counters.environment)?;
        self.record(Change::Environment(
            environment_id,
            Some(EnvironmentRecord {
                id: environment_id,
                project_id,
                name: imported.name.clone(),
                client_key: imported.client_key.clone(),
                settings: imported.settings.clone(),
                revision: 0,
                updated_at: self.now,
                created_at: self.now,
            }),
        ));
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
                    if !self.work.segments.contains_key(segment_id) {
                        return Err(CommandError::Invalid(format!(
                            "override of unknown segment {segment_id}"
                        )));
                    }
                    StateTarget::Segment {
                        segment_id: *segment_id,
                        priority: *priority,
                    }
                }
                ImportedTarget::Identity { identifier } => {
                    check_identifier(identifier)?;
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

    fn create_token(&mut self, token: &super::command::NewToken) -> Result<Applied, CommandError> {
        check_name("token", &token.name)?;
        let id = Self::next_id(&mut self.work.meta.counters.token)?;
        self.record(Change::Token(
            id,
            Some(ApiTokenRecord {
                id,
                name: token.name.clone(),
                token_hash: token.token_hash,
                role: TokenRole::OrganisationAdmin,
                created_at: self.now,
            }),
        ));
        Ok(Applied::Created { id })
    }

    fn delete_environment(&mut self, txn: &WriteTransaction, id: u32) -> Result<(), CommandError> {
        let states: Vec<u32> = self.work.environment_states(id).map(|s| s.id).collect();
        for state in states {
            self.record(Change::State(state, None));
        }
        let keys: Vec<u32> = self
            .work
            .server_keys
            .values()
            .filter(|k| k.environment_id == id)
            .map(|k| k.id)
            .collect();
        for key in keys {
            self.record(Change::ServerKey(key, None));
        }
        // Identities go too; an environment holds few enough for one transaction here, and
        // `DeleteIdentities` empties large ones in bounded batches first.
        loop {
            let (_, more) = delete_identities(txn, id, 10_000)
                .map_err(|e| CommandError::Invalid(e.to_string()))?;
            if !more {
                break;
            }
        }
        self.record(Change::Environment(id, None));
        self.touched.insert(id);
        Ok(())
    }

    fn identity_overrides_of(&self, environment_id: u32, identifier: Option<&str>) -> Vec<u32> {
        self.work
            .environment_states(environment_id)
            .filter(|s| match (&s.target, identifier) {
                (StateTarget::Identity { identifier: i }, Some(wanted)) => i == wanted,
                (StateTarget::Identity { .. }, None) => true,
                _ => false,
            })
            .map(|s| s.id)
            .collect()
    }

    /// Segment overrides of a feature in an environment, strongest first.
    fn segment_overrides(&self, environment_id: u32, feature_id: u32) -> Vec<FeatureStateRecord> {
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
                priority: position as u32,
            };
            if state.target != target {
                state.target = target;
                self.record(Change::State(state.id, Some(state)));
            }
        }
    }

    fn patch_state(
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
            state.variants = variants.clone();
        }
        state.updated_at = self.now;
        self.record(Change::State(state.id, Some(state)));
        Ok(())
    }
}

fn segment_of(state: &FeatureStateRecord) -> Option<u32> {
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

fn apply_settings(settings: &mut EnvironmentSettingsRecord, patch: &SettingsPatch) {
    if let Some(v) = patch.hide_disabled_flags {
        settings.hide_disabled_flags = v;
    }
    if let Some(v) = patch.hide_sensitive_data {
        settings.hide_sensitive_data = v;
    }
    if let Some(v) = patch.allow_client_traits {
        settings.allow_client_traits = v;
    }
    if let Some(v) = patch.use_identity_composite_key_for_hashing {
        settings.use_identity_composite_key_for_hashing = v;
    }
    if let Some(v) = patch.use_identity_overrides_in_local_eval {
        settings.use_identity_overrides_in_local_eval = v;
    }
}

/// Longest feature-state value text (Flagsmith's default limit).
pub const MAX_VALUE_LEN: usize = 20_000;

fn check_value(value: &StoredValue) -> Result<(), CommandError> {
    match value {
        StoredValue::String(s) if s.chars().count() > MAX_VALUE_LEN => Err(CommandError::Invalid(
            format!("a value is longer than {MAX_VALUE_LEN} characters"),
        )),
        StoredValue::Float(f) if !f.is_finite() => Err(CommandError::Invalid(
            "a value must be a finite number".into(),
        )),
        _ => Ok(()),
    }
}

fn check_key(key: &str) -> Result<(), CommandError> {
    if key.len() < 8
        || key.len() > 200
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        return Err(CommandError::Invalid(
            "a key must be 8 to 200 characters of letters, digits, '.', '_' or '-'".into(),
        ));
    }
    Ok(())
}

/// Longest identifier (Flagsmith's limit).
pub const MAX_IDENTIFIER_LEN: usize = 2000;

fn check_identifier(identifier: &str) -> Result<(), CommandError> {
    if identifier.is_empty() || identifier.chars().count() > MAX_IDENTIFIER_LEN {
        return Err(CommandError::Invalid(format!(
            "an identifier must be 1 to {MAX_IDENTIFIER_LEN} characters"
        )));
    }
    Ok(())
}

fn check_options(kind: StoredFeatureKind, options: &[NewOption]) -> Result<(), CommandError> {
    if kind == StoredFeatureKind::Standard && !options.is_empty() {
        return Err(CommandError::Invalid(
            "a standard feature has no multivariate options".into(),
        ));
    }
    let mut total = 0.0;
    for option in options {
        check_value(&option.value)?;
        if !(0.0..=100.0).contains(&option.default_weight) {
            return Err(CommandError::Invalid(
                "an option weight must be from 0 to 100".into(),
            ));
        }
        total += option.default_weight;
    }
    if total > 100.0 {
        return Err(CommandError::Invalid(format!(
            "option weights add up to {total}, over 100"
        )));
    }
    Ok(())
}

fn check_variants(
    feature: &FeatureRecord,
    variants: &[VariantWeightRecord],
) -> Result<(), CommandError> {
    let mut total = 0.0;
    for variant in variants {
        if !feature.options.iter().any(|o| o.id == variant.option_id) {
            return Err(CommandError::Invalid(format!(
                "option {} is not an option of feature {:?}",
                variant.option_id, feature.name
            )));
        }
        if !(0.0..=100.0).contains(&variant.weight) {
            return Err(CommandError::Invalid(
                "a variant weight must be from 0 to 100".into(),
            ));
        }
        total += variant.weight;
    }
    if total > 100.0 {
        return Err(CommandError::Invalid(format!(
            "variant weights add up to {total}, over 100"
        )));
    }
    Ok(())
}

/// A stable UUID for a feature state, derived from the instance seed and the state's id.
fn derived_uuid(seed: &[u8; 16], id: u32) -> String {
    super::records::stable_uuid(&[seed, &id.to_be_bytes()])
}

enum IdentifyError {
    Store(StoreError),
    Command(CommandError),
}

impl From<StoreError> for IdentifyError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

macro_rules! identify_store_error {
    ($($t:ty),*) => {$(
        impl From<$t> for IdentifyError {
            fn from(e: $t) -> Self {
                Self::Store(e.into())
            }
        }
    )*};
}
identify_store_error!(redb::TableError, redb::StorageError);

/// Creates the identity if needed and upserts/deletes its traits.
fn identify(
    txn: &WriteTransaction,
    counter: &mut u32,
    environment_id: u32,
    identifier: &str,
    traits: &[TraitWrite],
    max_traits: u32,
    now: i64,
) -> Result<Applied, IdentifyError> {
    check_identifier(identifier).map_err(IdentifyError::Command)?;
    let mut identities = txn.open_table(tables::IDENTITIES)?;
    let existing = identities
        .get((environment_id, identifier))?
        .map(|v| decode::<IdentityRecord>(v.value()));
    let (identity_id, mut changed) = match existing {
        Some(record) => (record?.id, false),
        None => {
            let id = Tx::next_id(counter).map_err(IdentifyError::Command)?;
            identities.insert(
                (environment_id, identifier),
                encode(&IdentityRecord {
                    id,
                    created_at: now,
                })?
                .as_slice(),
            )?;
            (id, true)
        }
    };
    drop(identities);
    let mut table = txn.open_table(tables::TRAITS)?;
    for write in traits {
        let key = (environment_id, identifier, write.key.as_str());
        match &write.value {
            None => changed |= table.remove(key)?.is_some(),
            Some(value) => {
                let current = table
                    .get(key)?
                    .map(|v| decode::<StoredValue>(v.value()))
                    .transpose()?;
                if current.as_ref() != Some(value) {
                    table.insert(key, encode(value)?.as_slice())?;
                    changed = true;
                }
            }
        }
    }
    let count = table
        .range((environment_id, identifier, "")..)?
        .take_while(|entry| {
            entry.as_ref().is_ok_and(|(k, _)| {
                let (e, i, _) = k.value();
                e == environment_id && i == identifier
            })
        })
        .count();
    if count > max_traits as usize {
        return Err(IdentifyError::Command(CommandError::LimitExceeded(
            format!("an identity can have at most {max_traits} traits"),
        )));
    }
    Ok(Applied::Identified {
        identity_id,
        changed,
    })
}

fn delete_identity(
    txn: &WriteTransaction,
    environment_id: u32,
    identifier: &str,
) -> Result<bool, StoreError> {
    let removed = txn
        .open_table(tables::IDENTITIES)?
        .remove((environment_id, identifier))?
        .is_some();
    let mut traits = txn.open_table(tables::TRAITS)?;
    let keys: Vec<String> = traits
        .range((environment_id, identifier, "")..)?
        .map_while(|entry| {
            let (k, _) = entry.ok()?;
            let (e, i, key) = k.value();
            (e == environment_id && i == identifier).then(|| key.to_owned())
        })
        .collect();
    for key in keys {
        traits.remove((environment_id, identifier, key.as_str()))?;
    }
    Ok(removed)
}

/// Deletes up to `limit` identities of an environment; returns how many, and whether more remain.
fn delete_identities(
    txn: &WriteTransaction,
    environment_id: u32,
    limit: u32,
) -> Result<(u32, bool), StoreError> {
    let identifiers: Vec<String> = {
        let identities = txn.open_table(tables::IDENTITIES)?;
        identities
            .range((environment_id, "")..)?
            .map_while(|entry| {
                let (k, _) = entry.ok()?;
                let (e, identifier) = k.value();
                (e == environment_id).then(|| identifier.to_owned())
            })
            .take(limit as usize + 1)
            .collect()
    };
    let more = identifiers.len() > limit as usize;
    let mut count = 0;
    for identifier in identifiers.iter().take(limit as usize) {
        delete_identity(txn, environment_id, identifier)?;
        count += 1;
    }
    Ok((count, more))
}
