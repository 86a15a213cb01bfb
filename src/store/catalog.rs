//! The catalog: the whole configuration (organisation, projects, environments, features,
//! segments, feature states, keys and tokens) held in memory as the state machine left it.
//! It is small, changes only through applied commands, and serves admin reads and snapshot
//! builds without touching storage. Identities and traits are not in it (they live in their
//! own tables and scale to millions).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::changes::Change;
use super::people::{
    ApiTokenRecord, GrantRecord, RoleRecord, SessionRecord, SetupRecord, TeamRecord, UserRecord,
};
use super::records::{
    EnvironmentRecord, FeatureLabelsRecord, FeatureRecord, FeatureStateRecord, OrganisationRecord,
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
    pub user: u32,
    pub team: u32,
    pub role: u32,
    pub grant: u32,
    pub session: u32,
}

/// The end of the audit chain, and where it starts after pruning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditHead {
    /// The last entry's sequence number (0: none yet).
    pub seq: u64,
    pub hash: [u8; 32],
    /// Entries up to `base_seq` were pruned; the chain goes on from `base_hash`.
    pub base_seq: u64,
    pub base_hash: [u8; 32],
}

/// Instance-wide facts kept with the catalog.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The log index of the last applied command.
    pub last_applied: u64,
    pub counters: Counters,
    pub instance_seed: [u8; 16],
    pub initialized: bool,
    pub audit: AuditHead,
    /// The unused first-start setup token, if any.
    pub setup: Option<SetupRecord>,
}

/// A secret's owner, found by the secret's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Token(u32),
    Session(u32),
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
    /// Features' tags and archive marks, by feature id (most features have none).
    pub feature_labels: Arc<BTreeMap<u32, FeatureLabelsRecord>>,
    pub server_keys: Arc<BTreeMap<u32, ServerKeyRecord>>,
    pub tokens: Arc<BTreeMap<u32, ApiTokenRecord>>,
    pub users: Arc<BTreeMap<u32, UserRecord>>,
    pub teams: Arc<BTreeMap<u32, TeamRecord>>,
    pub roles: Arc<BTreeMap<u32, RoleRecord>>,
    pub grants: Arc<BTreeMap<u32, GrantRecord>>,
    pub sessions: Arc<BTreeMap<u32, SessionRecord>>,
    /// Tokens and sessions by the hash of their secret.
    pub credentials: Arc<HashMap<[u8; 32], Credential>>,
    /// Deleted environments whose identity rows are still being removed in the background.
    pub purges: Arc<BTreeSet<u32>>,
    /// The command format the cluster has switched on (0: never recorded, which is 1).
    pub command_format: u16,
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
    /// Whether feature `id` is archived (hidden from SDKs and lists).
    pub fn archived(&self, id: u32) -> bool {
        self.feature_labels
            .get(&id)
            .is_some_and(|l| l.archived_at.is_some())
    }

    /// Feature `id`'s tags.
    pub fn tags(&self, id: u32) -> &[String] {
        self.feature_labels.get(&id).map_or(&[], |l| &l.tags)
    }

    /// The newest command format every member of the cluster reads: commands of a newer
    /// one wait until it is switched on.
    pub fn active_command_format(&self) -> u16 {
        self.command_format.max(1)
    }

    /// Folds changes into the catalog; identity rows are not held here and are skipped.
    pub fn apply(&mut self, changes: &[Change]) {
        for change in changes {
            match change {
                Change::CommandFormat(format) => self.command_format = *format,
                Change::Purge(id, pending) => {
                    let purges = Arc::make_mut(&mut self.purges);
                    if *pending {
                        purges.insert(*id);
                    } else {
                        purges.remove(id);
                    }
                }
                Change::Identity { .. }
                | Change::Trait { .. }
                | Change::Evaluation { .. }
                | Change::Audit(..) => {}
                Change::Organisation(id, v) => put(&mut self.organisations, *id, v.as_ref()),
                Change::Project(id, v) => put(&mut self.projects, *id, v.as_ref()),
                Change::Environment(id, v) => put(&mut self.environments, *id, v.as_ref()),
                Change::Feature(id, v) => put(&mut self.features, *id, v.as_ref()),
                Change::Segment(id, v) => put(&mut self.segments, *id, v.as_ref()),
                Change::State(id, v) => put(&mut self.states, *id, v.as_ref()),
                Change::FeatureLabels(id, v) => put(&mut self.feature_labels, *id, v.as_ref()),
                Change::ServerKey(id, v) => put(&mut self.server_keys, *id, v.as_ref()),
                Change::Token(id, v) => {
                    self.reindex(
                        self.tokens.get(id).map(|t| t.token_hash),
                        v.as_ref().map(|t| t.token_hash),
                        Credential::Token(*id),
                    );
                    put(&mut self.tokens, *id, v.as_ref());
                }
                Change::Session(id, v) => {
                    self.reindex(
                        self.sessions.get(id).map(|t| t.token_hash),
                        v.as_ref().map(|t| t.token_hash),
                        Credential::Session(*id),
                    );
                    put(&mut self.sessions, *id, v.as_ref());
                }
                Change::User(id, v) => put(&mut self.users, *id, v.as_ref()),
                Change::Team(id, v) => put(&mut self.teams, *id, v.as_ref()),
                Change::Role(id, v) => put(&mut self.roles, *id, v.as_ref()),
                Change::Grant(id, v) => put(&mut self.grants, *id, v.as_ref()),
            }
        }
    }

    fn reindex(&mut self, old: Option<[u8; 32]>, new: Option<[u8; 32]>, owner: Credential) {
        if old == new {
            return;
        }
        let index = Arc::make_mut(&mut self.credentials);
        if let Some(old) = old {
            index.remove(&old);
        }
        if let Some(new) = new {
            index.insert(new, owner);
        }
    }

    /// Rebuilds the index of secrets (after loading).
    pub fn index_credentials(&mut self) {
        let mut index = HashMap::new();
        for token in self.tokens.values() {
            index.insert(token.token_hash, Credential::Token(token.id));
        }
        for session in self.sessions.values() {
            index.insert(session.token_hash, Credential::Session(session.id));
        }
        self.credentials = Arc::new(index);
    }

    /// A user by e-mail address (case-insensitive).
    pub fn user_by_email(&self, email: &str) -> Option<&UserRecord> {
        let email = email.trim().to_lowercase();
        self.users.values().find(|u| u.email == email)
    }

    /// The active user invited with this secret, while the invitation lasts.
    pub fn user_by_invite(&self, invite_hash: &[u8; 32], now: i64) -> Option<&UserRecord> {
        self.users.values().find(|u| {
            u.active
                && u.invite
                    .as_ref()
                    .is_some_and(|i| i.token_hash == *invite_hash && i.expires_at > now)
        })
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

    /// The project's features SDKs are served: all but the archived ones.
    pub fn served_features(&self, project_id: u32) -> impl Iterator<Item = &FeatureRecord> {
        self.project_features(project_id)
            .filter(move |f| !self.archived(f.id))
    }

    /// Whether `feature_id` is a feature of environment `environment_id`'s project.
    pub fn feature_of_environment(&self, environment_id: u32, feature_id: u32) -> bool {
        match (
            self.environments.get(&environment_id),
            self.features.get(&feature_id),
        ) {
            (Some(environment), Some(feature)) => environment.project_id == feature.project_id,
            _ => false,
        }
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
