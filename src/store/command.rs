//! Commands: every mutation of Burgee's state, as a value.
//!
//! A command is wrapped in an [`Envelope`] that says who asked, for which request and when.
//! Everything random or allocated outside the state machine (keys, token hashes, the
//! timestamp) is chosen before the command is proposed, so that applying it is
//! deterministic: the same log applied anywhere gives the same state. Numeric ids are
//! allocated by the state machine itself, in log order.

use serde::{Deserialize, Serialize};

use super::evaluations::{EvaluationCount, EvaluationKey};
use super::people::{InviteRecord, SetupRecord, TokenAccess};
use super::records::{
    EnvironmentSettingsRecord, RuleRecord, StoredFeatureKind, StoredValue, VariantWeightRecord,
};
use crate::access::{PermSet, RoleRef, Scope, Subject};

mod edits;
mod format;
mod import;
mod manifest;

pub use edits::{EditKind, FeatureEdit, OverrideConfig, RevisionGuard};
pub use format::{COMMAND_FORMAT, supported_command_format};
pub use import::{
    ImportedEnvironment, ImportedFeature, ImportedOption, ImportedSegment, ImportedState,
    ImportedTarget,
};
pub use manifest::{
    EnvironmentPlan, FeaturePlan, FlagPlan, ManifestChange, OverridePlan, Seed, SegmentPlan,
};

/// Who caused a change, for the audit log and permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Actor {
    /// The server itself (initialisation, maintenance).
    System,
    /// An API token (an organisation token, or a user's personal token).
    Token { id: u32, name: String },
    /// A signed-in user (a session).
    User { id: u32, email: String },
    /// An SDK call authenticated with an environment key (identify with traits).
    EnvironmentKey { environment_id: u32 },
    /// The local admin socket in the data directory (the service's own user on the host).
    Local,
    /// Nobody authenticated (a failed login, first-start setup).
    Anonymous,
}

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

/// A command with its context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The command format the command needs ([`Command::since`]).
    pub format: u16,
    pub actor: Actor,
    pub request_id: String,
    pub origin: Origin,
    /// Milliseconds since the epoch, chosen by the proposer.
    pub timestamp: i64,
    pub command: Command,
}

impl Envelope {
    /// A command proposed now, in the current format.
    pub fn now(actor: Actor, request_id: impl Into<String>, command: Command) -> Self {
        Self {
            format: command.since(),
            actor,
            request_id: request_id.into(),
            origin: Origin::default(),
            timestamp: crate::clock::now_millis(),
            command,
        }
    }

    /// The same, from `origin`.
    #[must_use]
    pub fn from_origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }
}

/// A new multivariate option.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOption {
    pub value: StoredValue,
    pub key: Option<String>,
    pub default_weight: f64,
}

/// Partial update of environment settings: `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SettingsPatch {
    /// `Some(None)` makes the environment inherit the project's setting again.
    pub hide_disabled_flags: Option<Option<bool>>,
    pub hide_sensitive_data: Option<bool>,
    pub allow_client_traits: Option<bool>,
    pub use_identity_composite_key_for_hashing: Option<bool>,
    pub use_identity_overrides_in_local_eval: Option<bool>,
}

/// A state's settable parts: `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatePatch {
    pub enabled: Option<bool>,
    pub value: Option<StoredValue>,
    pub variants: Option<Vec<VariantWeightRecord>>,
}

/// A trait written by an identify call; `None` deletes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraitWrite {
    pub key: String,
    pub value: Option<StoredValue>,
}

/// Every mutation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// First start: the default organisation, and optionally an admin token.
    Initialize {
        organisation_name: String,
        /// Random, chosen once: seeds the feature-state UUIDs this instance derives.
        instance_seed: [u8; 16],
        admin_token: Option<NewToken>,
        /// The one-time setup token that creates the first admin user.
        setup: Option<SetupRecord>,
    },
    /// Uses the setup token: creates the first admin user and ends the token.
    CompleteSetup {
        token_hash: [u8; 32],
        user: NewUser,
    },
    CreateApiToken(NewToken),
    RevokeApiToken {
        id: u32,
    },
    /// A new secret for a token; the old one works until `old_expires_at` (or stops now).
    RotateApiToken {
        id: u32,
        token_hash: [u8; 32],
        prefix: String,
        old_expires_at: Option<i64>,
    },
    CreateUser(NewUser),
    UpdateUser {
        id: u32,
        name: Option<String>,
        /// `false` deactivates: the user's sessions end and their tokens stop at once.
        active: Option<bool>,
    },
    DeleteUser {
        id: u32,
    },
    /// A user's own new password (the current one checked by the caller); ends their other
    /// sessions.
    ChangePassword {
        user_id: u32,
        password_hash: String,
        keep_session: Option<u32>,
    },
    /// An admin's reset: a new initial password the user must change, or a new invitation;
    /// every session of the user ends.
    ResetPassword {
        user_id: u32,
        password_hash: Option<String>,
        invite: Option<InviteRecord>,
    },
    /// Sets the password of the user invited with this secret.
    AcceptInvite {
        invite_hash: [u8; 32],
        password_hash: String,
    },
    CreateTeam {
        name: String,
    },
    UpdateTeam {
        id: u32,
        name: String,
    },
    DeleteTeam {
        id: u32,
    },
    AddTeamMember {
        team_id: u32,
        user_id: u32,
    },
    RemoveTeamMember {
        team_id: u32,
        user_id: u32,
    },
    CreateRole {
        name: String,
        description: Option<String>,
        permissions: PermSet,
    },
    UpdateRole {
        id: u32,
        name: Option<String>,
        description: Option<Option<String>>,
        permissions: Option<PermSet>,
    },
    DeleteRole {
        id: u32,
    },
    CreateGrant {
        subject: Subject,
        role: RoleRef,
        scope: Scope,
    },
    DeleteGrant {
        id: u32,
    },
    /// A successful login: a new session.
    CreateSession {
        user_id: u32,
        token_hash: [u8; 32],
        expires_at: i64,
    },
    /// Logout, or an expired session swept.
    EndSession {
        id: u32,
    },
    /// When sessions and tokens were last used (recorded now and then, not audited).
    RecordUse {
        sessions: Vec<(u32, i64)>,
        tokens: Vec<(u32, i64)>,
    },
    /// A security event with no other change (failed login, refused access); a failed login
    /// may lock the account.
    RecordEvent(SecurityEvent),
    /// Removes audit entries older than `before` (at most `max_rows`), leaving a checkpoint.
    PruneAudit {
        before: i64,
        max_rows: u32,
    },
    /// Changes the organisation's settings; `None` keeps the current value.
    UpdateOrganisation {
        name: Option<String>,
        persist_trait_data: Option<bool>,
        stop_serving_flags: Option<bool>,
    },
    CreateProject {
        name: String,
        hide_disabled_flags: bool,
    },
    UpdateProject {
        id: u32,
        name: Option<String>,
        hide_disabled_flags: Option<bool>,
    },
    DeleteProject {
        id: u32,
    },
    CreateEnvironment {
        project_id: u32,
        name: String,
        client_key: String,
        settings: EnvironmentSettingsRecord,
    },
    UpdateEnvironment {
        id: u32,
        expected_revision: Option<u64>,
        name: Option<String>,
        settings: SettingsPatch,
    },
    DeleteEnvironment {
        id: u32,
    },
    CreateFeature(NewFeature),
    UpdateFeature {
        id: u32,
        description: Option<Option<String>>,
        server_key_only: Option<bool>,
    },
    DeleteFeature {
        id: u32,
    },
    /// Changes an environment's default state of a feature.
    SetFeatureState {
        environment_id: u32,
        feature_id: u32,
        expected_revision: Option<u64>,
        patch: StatePatch,
    },
    CreateSegment {
        project_id: u32,
        name: String,
        description: Option<String>,
        rules: Vec<RuleRecord>,
    },
    UpdateSegment {
        id: u32,
        name: Option<String>,
        description: Option<Option<String>>,
        rules: Option<Vec<RuleRecord>>,
    },
    DeleteSegment {
        id: u32,
    },
    /// Creates or changes a segment override; a new one goes last unless a priority is given.
    SetSegmentOverride(SegmentOverrideChange),
    DeleteSegmentOverride {
        environment_id: u32,
        feature_id: u32,
        segment_id: u32,
    },
    /// Reorders all segment overrides of a feature in an environment (first = strongest).
    ReorderSegmentOverrides {
        environment_id: u32,
        feature_id: u32,
        segment_ids: Vec<u32>,
    },
    SetIdentityOverride {
        environment_id: u32,
        feature_id: u32,
        identifier: String,
        patch: StatePatch,
    },
    DeleteIdentityOverride {
        environment_id: u32,
        feature_id: u32,
        identifier: String,
    },
    CreateServerKey {
        environment_id: u32,
        name: String,
        key_hash: [u8; 32],
        prefix: String,
        expires_at: Option<i64>,
    },
    /// A new key beside an old one; the old one works until `old_expires_at`, or until it is
    /// revoked when that is `None`.
    RotateServerKey {
        id: u32,
        key_hash: [u8; 32],
        prefix: String,
        old_expires_at: Option<i64>,
    },
    RevokeServerKey {
        id: u32,
    },
    /// Creates the identity if needed and writes its traits.
    Identify {
        environment_id: u32,
        identifier: String,
        traits: Vec<TraitWrite>,
        max_traits: u32,
    },
    DeleteIdentity {
        environment_id: u32,
        identifier: String,
    },
    /// Deletes identities (with traits) of an environment, about `max_rows` rows at most;
    /// the last step removes its identity overrides too.
    DeleteIdentities {
        environment_id: u32,
        max_rows: u32,
    },
    /// Imports an environment from a Flagsmith environment document.
    ImportEnvironment(Box<ImportedEnvironment>),
    /// One bounded step of removing a deleted environment's identity rows (about
    /// `max_rows` rows); proposed by the server itself until none are left.
    PurgeEnvironment {
        environment_id: u32,
        max_rows: u32,
    },
    /// Evaluation counts a node saw since its last flush, added to the hour of the
    /// envelope's timestamp (recorded now and then, not audited).
    RecordEvaluations {
        counts: Vec<EvaluationCount>,
    },
    /// Removes the listed evaluation rows that are older than `before_hour` or whose feature
    /// or environment is gone (the others are kept: the list is only a proposal).
    PruneEvaluations {
        before_hour: u32,
        rows: Vec<EvaluationKey>,
    },
    /// Every member of the cluster reads command format `to`: switch it on.
    RaiseCommandFormat {
        to: u16,
    },
    /// A new environment beside `source_id` with its settings, every feature's default
    /// state and segment overrides (values, weights, hash seeds), and a new client key.
    CloneEnvironment {
        source_id: u32,
        name: String,
        client_key: String,
        /// Applied over the source's settings.
        settings: SettingsPatch,
    },
    /// Features' configuration in several environments at once: every guarded environment
    /// must still be at its revision, and a refusal of any edit leaves all as they were.
    EditFeatureStates {
        kind: EditKind,
        guards: Vec<RevisionGuard>,
        edits: Vec<FeatureEdit>,
    },
    /// A new feature with tags.
    CreateTaggedFeature {
        feature: NewFeature,
        tags: Vec<String>,
    },
    /// Changes a feature's description, server-key-only flag, tags (replaced whole) or
    /// archive mark; `None` keeps each.
    EditFeature {
        id: u32,
        description: Option<Option<String>>,
        server_key_only: Option<bool>,
        tags: Option<Vec<String>>,
        archived: Option<bool>,
    },
    /// Makes a project match a flags file (`burgee apply`), all of it or nothing.
    ApplyManifest(Box<ManifestChange>),
    /// One bounded step of copying a cloned environment's identity overrides: up to `max`
    /// overrides of `source_id` that `target_id` lacks (an override set there meanwhile
    /// wins), in identifier order.
    CopyIdentityOverrides {
        source_id: u32,
        target_id: u32,
        max: u32,
    },
}

/// A new feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewFeature {
    pub project_id: u32,
    pub name: String,
    pub kind: StoredFeatureKind,
    pub description: Option<String>,
    pub initial_value: StoredValue,
    pub default_enabled: bool,
    pub server_key_only: bool,
    pub options: Vec<NewOption>,
}

/// A segment override to create or change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentOverrideChange {
    pub environment_id: u32,
    pub feature_id: u32,
    pub segment_id: u32,
    /// Where it goes (0 = strongest); `None` keeps it, or puts a new one last.
    pub priority: Option<u32>,
    pub expected_revision: Option<u64>,
    pub patch: StatePatch,
}

/// A new API token, by hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewToken {
    pub name: String,
    pub token_hash: [u8; 32],
    pub prefix: String,
    pub access: TokenAccess,
    /// A personal token: it carries its owner's permissions.
    pub personal: bool,
    pub expires_at: Option<i64>,
}

impl NewToken {
    /// An organisation-wide admin token (the bootstrap token).
    pub fn organisation_admin(name: &str, token_hash: [u8; 32], prefix: String) -> Self {
        use crate::access::{Assignment, BuiltinRole};
        Self {
            name: name.to_owned(),
            token_hash,
            prefix,
            access: TokenAccess::Assignments(vec![Assignment {
                role: RoleRef::Builtin(BuiltinRole::Admin),
                scope: Scope::Organisation,
            }]),
            personal: false,
            expires_at: None,
        }
    }
}

/// A new user: an initial password (which they must change) or an invitation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    pub invite: Option<InviteRecord>,
    /// Also grant the admin role on the organisation.
    pub admin: bool,
}

/// Security events recorded on their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SecurityEvent {
    LoginFailed {
        /// As given (lower case); the account may not exist.
        email: String,
        user_id: Option<u32>,
        /// Lock the account until then.
        lock_until: Option<i64>,
        reason: String,
    },
    AccessDenied {
        method: String,
        path: String,
        permission: String,
    },
    /// The cluster's membership changed (Raft carried out the change itself; this records it).
    MembershipChanged {
        node_id: u64,
        /// `added` or `removed`.
        change: String,
        url: Option<String>,
        voter: bool,
    },
    /// A backup of the whole store began (recorded before its first byte is sent).
    BackupTaken { node_id: u64, applied_index: u64 },
}

/// What applying a command did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Applied {
    Created {
        id: u32,
    },
    Updated,
    Deleted,
    /// An identify call: the identity's id, and whether anything was written.
    Identified {
        identity_id: u32,
        changed: bool,
    },
    /// A bounded bulk delete: how many went, and whether more remain.
    Removed {
        count: u32,
        more: bool,
    },
    /// A bounded bulk copy: how many were copied, and whether more remain.
    Copied {
        count: u32,
        more: bool,
    },
}
