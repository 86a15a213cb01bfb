//! The catalog: the whole configuration (organisation, projects, environments, features,
//! segments, feature states, keys and tokens) held in memory as the state machine left it.
//! It is small, changes only through applied commands, and serves admin reads and snapshot
//! builds without touching storage. Identities and traits are not in it (they live in their
//! own tables and scale to millions).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::changes::Change;
use super::records::{
    ApiTokenRecord, EnvironmentRecord, FeatureRecord, FeatureStateRecord, OrganisationRecord,
    ProjectRecord, SegmentRecord, ServerKeyRecord, StateTarget,
};

/// Id counters: the next id of each kind (ids start at 1 and are never reused).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub organisation: u32,
    pub project: u32,
    pub environment: u32,
    pub feature: u32,
    pub option: u32,
    pub segment: u32,
    pub state: u32,
    pub server_key: u32,
    pub token: u32,
    pub identity: u32,
    pub segment_position: u64,
}

/// Instance-wide facts kept with the catalog.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The log index of the last applied command.
    pub last_applied: u64,
    pub counters: Counters,
    pub instance_seed: [u8; 16],
    pub initialized: bool,
}

/// The in-memory configuration. Cloning is cheap (shared maps); a change copies only the
/// map it touches.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub meta: Meta,
    pub organisations: Arc<BTreeMap<u32, OrganisationRecord>>,
    pub projects: Arc<BTreeMap<u32, ProjectRecord>>,
    pub environments: Arc<BTreeMap<u32, EnvironmentRecord>>,
    pub features: Arc<BTreeMap<u32, FeatureRecord>>,
    pub segments: Arc<BTreeMap<u32, SegmentRecord>>,
    pub states: Arc<BTreeMap<u32, FeatureStateRecord>>,
    pub server_keys: Arc<BTreeMap<u32, ServerKeyRecord>>,
    pub tokens: Arc<BTreeMap<u32, ApiTokenRecord>>,
    /// Deleted environments whose identity rows are still being removed in the background.
    pub purges: Arc<BTreeSet<u32>>,
}

fn put<T: Clone>(map: &mut Arc<BTreeMap<u32, T>>, id: u32, value: Option<&T>) {
    let map = Arc::make_mut(map);
    match value {
        Some(v) => {
            map.insert(id, v.clone());
        }
        None => {
            map.remove(&id);
        }
    }
}

impl Catalog {
    /// Folds changes into the catalog; identity rows are not held here and are skipped.
    pub fn apply(&mut self, changes: &[Change]) {
        for change in changes {
            match change {
                Change::Purge(id, pending) => {
                    let purges = Arc::make_mut(&mut self.purges);
                    if *pending {
                        purges.insert(*id);
                    } else {
                        purges.remove(id);
                    }
                }
                Change::Identity { .. } | Change::Trait { .. } => {}
                Change::Organisation(id, v) => put(&mut self.organisations, *id, v.as_ref()),
                Change::Project(id, v) => put(&mut self.projects, *id, v.as_ref()),
                Change::Environment(id, v) => put(&mut self.environments, *id, v.as_ref()),
                Change::Feature(id, v) => put(&mut self.features, *id, v.as_ref()),
                Change::Segment(id, v) => put(&mut self.segments, *id, v.as_ref()),
                Change::State(id, v) => put(&mut self.states, *id, v.as_ref()),
                Change::ServerKey(id, v) => put(&mut self.server_keys, *id, v.as_ref()),
                Change::Token(id, v) => put(&mut self.tokens, *id, v.as_ref()),
            }
        }
    }

    /// The default organisation (the first one).
    pub fn organisation(&self) -> Option<&OrganisationRecord> {
        self.organisations.values().next()
    }

    pub fn environment_by_client_key(&self, key: &str) -> Option<&EnvironmentRecord> {
        self.environments.values().find(|e| e.client_key == key)
    }

    pub fn project_environments(
        &self,
        project_id: u32,
    ) -> impl Iterator<Item = &EnvironmentRecord> {
        self.environments
            .values()
            .filter(move |e| e.project_id == project_id)
    }

    pub fn project_features(&self, project_id: u32) -> impl Iterator<Item = &FeatureRecord> {
        self.features
            .values()
            .filter(move |f| f.project_id == project_id)
    }

    /// A project's segments in evaluation order.
    pub fn project_segments(&self, project_id: u32) -> impl Iterator<Item = &SegmentRecord> {
        let mut segments: Vec<&SegmentRecord> = self
            .segments
            .values()
            .filter(|s| s.project_id == project_id)
            .collect();
        segments.sort_by_key(|s| (s.position, s.id));
        segments.into_iter()
    }

    pub fn environment_states(
        &self,
        environment_id: u32,
    ) -> impl Iterator<Item = &FeatureStateRecord> {
        self.states
            .values()
            .filter(move |s| s.environment_id == environment_id)
    }

    /// The environment default state of a feature.
    pub fn default_state(
        &self,
        environment_id: u32,
        feature_id: u32,
    ) -> Option<&FeatureStateRecord> {
        self.environment_states(environment_id)
            .find(|s| s.feature_id == feature_id && s.target == StateTarget::Environment)
    }
}
