//! The state machine: applies one command, deterministically, as the change set it makes.
//!
//! [`apply`] is the one entry point and [`Tx::command`] the one dispatch; each aggregate's
//! commands live in their own file (`organisation`, `projects`, `environments`, `features`,
//! `segments`, `identities`, `import`) as methods of [`Tx`], with the checks they share in
//! `checks`. A command reads the catalog and, for identity rows and the audit chain, the
//! store's [`Rows`]; it writes nothing itself: every change goes into [`Tx::changes`], which the
//! caller writes to storage in one place ([`super::changes::write`]).
//!
//! A command that breaks a rule (unknown id, name taken, stale revision) is a refusal: it
//! changes nothing but still consumes its log index, so every node that applies the same log
//! reaches the same state. A command that panics becomes the same kind of recorded refusal.
//! A storage error is not a refusal: it fails the whole batch, which then consumes nothing.

mod audit;
mod audit_text;
mod checks;
mod cluster;
mod credentials;
#[cfg(test)]
mod edit_tests;
mod edits;
mod environments;
mod escalation;
#[cfg(test)]
mod evaluation_tests;
mod evaluations;
mod features;
#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod harness;
mod identities;
mod import;
mod labels;
mod manifest;
mod organisation;
mod people;
mod precheck;
mod preview;
mod projects;
#[cfg(test)]
mod replay_tests;
mod segments;
mod teams;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use thiserror::Error;

use super::catalog::Catalog;
use super::changes::Change;
use super::command::{Actor, Applied, Command, Envelope};
use super::error::StoreError;
use super::rows::Rows;

pub use checks::{MAX_DESCRIPTION, MAX_IDENTIFIER_LEN, MAX_VALUE_LEN, check_identifier};
pub use edits::MAX_EDITS;
pub use evaluations::MAX_EVALUATION_ROWS;
pub use people::{MAX_EMAIL, check_email};
pub use precheck::precheck;
pub use preview::preview;

/// A command that breaks a rule. Applying it changes nothing. It travels as an answer (the
/// Raft log's state machine sends it back to the node that proposed the command).
#[derive(Debug, Clone, PartialEq, Error, serde::Serialize, serde::Deserialize)]
pub enum CommandError {
    #[error("{kind} {id} does not exist")]
    NotFound { kind: String, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("the environment changed meanwhile: expected revision {expected}, it is at {actual}")]
    RevisionMismatch { expected: u64, actual: u64 },
    #[error("{0}")]
    Invalid(String),
    /// The actor may not do this (decided with the state, e.g. a token wider than its creator).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("the instance is not initialised yet")]
    NotInitialized,
    /// A command of a newer format than the cluster has switched on: it waits until every
    /// member runs a version that reads it (a rolling upgrade is under way).
    #[error(
        "this change needs command format {needed}, which the cluster switches on once every \
         member runs a version that reads it (it runs {active}): finish the upgrade of every \
         node and retry"
    )]
    UpgradeInProgress { needed: u16, active: u16 },
    /// Applying (or publishing) the command hit a bug; it was refused as a whole.
    #[error("the command could not be applied: {0}")]
    Failed(String),
    /// Environments a command was planned against changed meanwhile.
    #[error("{}", describe_stale(.0))]
    EnvironmentsChanged(Vec<StaleRevision>),
}

/// An environment that moved on: the revision planned against, and the one it is at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StaleRevision {
    pub environment_id: u32,
    pub expected: u64,
    pub actual: u64,
}

fn describe_stale(stale: &[StaleRevision]) -> String {
    let list: Vec<String> = stale
        .iter()
        .map(|s| {
            format!(
                "environment {} is at revision {}, not {}",
                s.environment_id, s.actual, s.expected
            )
        })
        .collect();
    format!(
        "the environments changed meanwhile ({}): review the change again",
        list.join("; ")
    )
}

impl CommandError {
    pub(crate) fn not_found(kind: &'static str, id: impl std::fmt::Display) -> Self {
        Self::NotFound {
            kind: kind.to_owned(),
            id: id.to_string(),
        }
    }
}

/// Why a command did not apply: a refusal (recorded, deterministic) or a storage fault
/// (fails the batch).
#[derive(Debug)]
pub(crate) enum Fault {
    Refused(CommandError),
    Storage(StoreError),
}

impl From<CommandError> for Fault {
    fn from(e: CommandError) -> Self {
        Self::Refused(e)
    }
}

impl<E: Into<StoreError>> From<E> for Fault {
    fn from(e: E) -> Self {
        Self::Storage(e.into())
    }
}

/// What applying one entry decided.
pub enum Step {
    /// The entry's index was applied before: nothing changes (a replayed entry).
    AlreadyApplied,
    Decided(Box<Decision>),
}

/// The outcome of a new entry, not yet written anywhere.
pub struct Decision {
    pub result: Result<Applied, CommandError>,
    /// The catalog after the entry (the previous one with the index advanced, when refused).
    pub catalog: Catalog,
    /// What to write; empty when refused.
    pub changes: Vec<Change>,
    /// Environments whose served flags may have changed.
    pub touched: BTreeSet<u32>,
}

impl Decision {
    /// Turns the decision into a refusal: nothing of it is kept but the consumed index.
    pub fn refuse(&mut self, before: &Catalog, error: CommandError) {
        let mut catalog = before.clone();
        catalog.meta.last_applied = self.catalog.meta.last_applied;
        self.catalog = catalog;
        self.changes.clear();
        self.touched.clear();
        self.result = Err(error);
    }
}

/// Applies `envelope` as log entry `index` on top of `catalog`, reading identity rows and
/// the audit chain through `rows` (which hold the batch's earlier entries). Returns a storage error only for
/// a storage fault; everything else is a decision.
pub fn apply(
    rows: &dyn Rows,
    catalog: &Catalog,
    index: u64,
    envelope: &Envelope,
) -> Result<Step, StoreError> {
    if index <= catalog.meta.last_applied {
        return Ok(Step::AlreadyApplied);
    }
    let mut tx = Tx::new(catalog, rows, envelope.timestamp, envelope.actor.clone());
    let supported = super::command::supported_command_format();
    let needed = envelope.command.needs_active();
    let outcome = if envelope.format > supported {
        Err(Fault::Refused(CommandError::Invalid(format!(
            "command format {} is newer than this node's {supported}",
            envelope.format
        ))))
    } else if needed > catalog.active_command_format() {
        Err(Fault::Refused(CommandError::UpgradeInProgress {
            needed,
            active: catalog.active_command_format(),
        }))
    } else {
        catch_unwind(AssertUnwindSafe(|| {
            let applied = tx.command(envelope)?;
            if audit::audited(envelope) {
                tx.audit(envelope, catalog, &applied)?;
            }
            Ok(applied)
        }))
        .unwrap_or_else(|panic| {
            let reason = panic_message(panic.as_ref());
            tracing::error!(request_id = %envelope.request_id, %reason, "applying a command panicked; it is refused");
            Err(Fault::Refused(CommandError::Failed(reason)))
        })
    };
    let mut decision = match outcome {
        Ok(applied) => Decision {
            result: Ok(applied),
            catalog: tx.work,
            changes: tx.changes,
            touched: tx.touched,
        },
        Err(Fault::Storage(error)) => return Err(error),
        // Refused for giving or taking more than the actor holds: a security event, audited.
        Err(Fault::Refused(CommandError::Forbidden(reason))) if audit::audited(envelope) => {
            let mut denied = Tx::new(catalog, rows, envelope.timestamp, envelope.actor.clone());
            match denied.audit_refusal(envelope, &reason) {
                Ok(()) => Decision {
                    result: Err(CommandError::Forbidden(reason)),
                    catalog: denied.work,
                    changes: denied.changes,
                    touched: BTreeSet::new(),
                },
                Err(Fault::Storage(error)) => return Err(error),
                Err(Fault::Refused(error)) => Decision {
                    result: Err(error),
                    catalog: catalog.clone(),
                    changes: Vec::new(),
                    touched: BTreeSet::new(),
                },
            }
        }
        Err(Fault::Refused(error)) => Decision {
            result: Err(error),
            catalog: catalog.clone(),
            changes: Vec::new(),
            touched: BTreeSet::new(),
        },
    };
    decision.catalog.meta.last_applied = index;
    Ok(Step::Decided(Box::new(decision)))
}

/// The text of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Applying one command: a working copy of the catalog plus the changes made to it.
pub(crate) struct Tx<'t> {
    work: Catalog,
    changes: Vec<Change>,
    touched: BTreeSet<u32>,
    now: i64,
    /// Who proposed the command.
    actor: Actor,
    /// For reading identity rows and the audit chain; never written through here.
    rows: &'t dyn Rows,
}

impl<'t> Tx<'t> {
    fn new(catalog: &Catalog, rows: &'t dyn Rows, now: i64, actor: Actor) -> Self {
        Self {
            work: catalog.clone(),
            changes: Vec::new(),
            touched: BTreeSet::new(),
            now,
            actor,
            rows,
        }
    }

    /// The one dispatch.
    fn command(&mut self, envelope: &Envelope) -> Result<Applied, Fault> {
        let command = &envelope.command;
        if !self.work.meta.initialized && !matches!(command, Command::Initialize { .. }) {
            return Err(CommandError::NotInitialized.into());
        }
        #[cfg(feature = "fault-injection")]
        super::fault::panic_if_asked(command);
        precheck(command)?;
        self.check_escalation(command)?;
        match command {
            Command::Initialize {
                organisation_name,
                instance_seed,
                admin_token,
                setup,
            } => self.initialize(
                organisation_name,
                *instance_seed,
                admin_token.as_ref(),
                setup.as_ref(),
            ),
            Command::CompleteSetup { token_hash, user } => self.complete_setup(token_hash, user),
            Command::RaiseCommandFormat { to } => self.raise_command_format(*to),
            Command::CloneEnvironment {
                source_id,
                name,
                client_key,
                settings,
            } => self.clone_environment(*source_id, name, client_key, settings),
            Command::EditFeatureStates { guards, edits, .. } => {
                self.edit_feature_states(guards, edits)
            }
            Command::ApplyManifest(change) => self.apply_manifest(change),
            Command::CopyIdentityOverrides {
                source_id,
                target_id,
                max,
            } => self.copy_identity_overrides(*source_id, *target_id, *max),
            Command::CreateTaggedFeature { feature, tags } => {
                self.create_tagged_feature(feature, tags)
            }
            Command::EditFeature {
                id,
                description,
                server_key_only,
                tags,
                archived,
            } => self.edit_feature(
                *id,
                (description.as_ref(), *server_key_only),
                tags.as_deref(),
                *archived,
            ),
            Command::CreateApiToken(token) => self.create_token(token),
            Command::RevokeApiToken { id } => self.revoke_token(*id),
            Command::RotateApiToken {
                id,
                token_hash,
                prefix,
                old_expires_at,
            } => self.rotate_token(*id, *token_hash, prefix, *old_expires_at),
            Command::CreateUser(user) => self.create_user(user),
            Command::UpdateUser { id, name, active } => {
                self.update_user(*id, name.as_deref(), *active)
            }
            Command::DeleteUser { id } => self.delete_user(*id),
            Command::ChangePassword {
                user_id,
                password_hash,
                keep_session,
            } => self.change_password(*user_id, password_hash, *keep_session),
            Command::ResetPassword {
                user_id,
                password_hash,
                invite,
            } => self.reset_password(*user_id, password_hash.as_ref(), invite.as_ref()),
            Command::AcceptInvite {
                invite_hash,
                password_hash,
            } => self.accept_invite(invite_hash, password_hash),
            Command::CreateTeam { name } => self.create_team(name),
            Command::UpdateTeam { id, name } => self.update_team(*id, name),
            Command::DeleteTeam { id } => self.delete_team(*id),
            Command::AddTeamMember { team_id, user_id } => {
                self.set_team_member(*team_id, *user_id, true)
            }
            Command::RemoveTeamMember { team_id, user_id } => {
                self.set_team_member(*team_id, *user_id, false)
            }
            Command::CreateRole {
                name,
                description,
                permissions,
            } => self.create_role(name, description.as_ref(), *permissions),
            Command::UpdateRole {
                id,
                name,
                description,
                permissions,
            } => self.update_role(*id, name.as_deref(), description.as_ref(), *permissions),
            Command::DeleteRole { id } => self.delete_role(*id),
            Command::CreateGrant {
                subject,
                role,
                scope,
            } => self.add_grant(*subject, *role, *scope),
            Command::DeleteGrant { id } => self.delete_grant(*id),
            Command::CreateSession {
                user_id,
                token_hash,
                expires_at,
            } => self.create_session(*user_id, *token_hash, *expires_at),
            Command::EndSession { id } => self.end_session(*id),
            Command::RecordUse { sessions, tokens } => Ok(self.record_use(sessions, tokens)),
            Command::RecordEvent(event) => self.record_event(event),
            Command::RecordEvaluations { counts } => self.record_evaluations(counts),
            Command::PruneEvaluations { before_hour, rows } => {
                self.prune_evaluations(*before_hour, rows)
            }
            Command::PruneAudit { before, max_rows } => {
                self.prune_audit(envelope, *before, *max_rows)
            }
            Command::UpdateOrganisation {
                name,
                persist_trait_data,
                stop_serving_flags,
            } => {
                self.update_organisation(name.as_deref(), *persist_trait_data, *stop_serving_flags)
            }
            Command::CreateProject {
                name,
                hide_disabled_flags,
            } => self.create_project(name, *hide_disabled_flags),
            Command::UpdateProject {
                id,
                name,
                hide_disabled_flags,
            } => self.update_project(*id, name.as_deref(), *hide_disabled_flags),
            Command::DeleteProject { id } => self.delete_project(*id),
            Command::CreateEnvironment {
                project_id,
                name,
                client_key,
                settings,
            } => self.create_environment(*project_id, name, client_key, settings),
            Command::UpdateEnvironment {
                id,
                expected_revision,
                name,
                settings,
            } => self.update_environment(*id, *expected_revision, name.as_deref(), settings),
            Command::DeleteEnvironment { id } => {
                self.environment(*id)?;
                self.delete_environment(*id);
                Ok(Applied::Deleted)
            }
            Command::PurgeEnvironment {
                environment_id,
                max_rows,
            } => self.purge_environment(*environment_id, *max_rows),
            Command::CreateFeature(new) => self.create_feature(new),
            Command::UpdateFeature {
                id,
                description,
                server_key_only,
            } => self.update_feature(*id, description.as_ref(), *server_key_only),
            Command::DeleteFeature { id } => self.delete_feature(*id),
            Command::SetFeatureState {
                environment_id,
                feature_id,
                expected_revision,
                patch,
            } => self.set_feature_state(*environment_id, *feature_id, *expected_revision, patch),
            Command::CreateSegment {
                project_id,
                name,
                description,
                rules,
            } => self.create_segment(*project_id, name, description.as_ref(), rules),
            Command::UpdateSegment {
                id,
                name,
                description,
                rules,
            } => self.update_segment(*id, name.as_deref(), description.as_ref(), rules.as_ref()),
            Command::DeleteSegment { id } => self.delete_segment(*id),
            Command::SetSegmentOverride(change) => self.set_segment_override(change),
            Command::DeleteSegmentOverride {
                environment_id,
                feature_id,
                segment_id,
            } => self.delete_segment_override(*environment_id, *feature_id, *segment_id),
            Command::ReorderSegmentOverrides {
                environment_id,
                feature_id,
                segment_ids,
            } => self.reorder_segment_overrides(*environment_id, *feature_id, segment_ids),
            Command::SetIdentityOverride {
                environment_id,
                feature_id,
                identifier,
                patch,
            } => self.set_identity_override(*environment_id, *feature_id, identifier, patch),
            Command::DeleteIdentityOverride {
                environment_id,
                feature_id,
                identifier,
            } => self.delete_identity_override(*environment_id, *feature_id, identifier),
            Command::CreateServerKey {
                environment_id,
                name,
                key_hash,
                prefix,
                expires_at,
            } => self.create_server_key(*environment_id, name, *key_hash, prefix, *expires_at),
            Command::RotateServerKey {
                id,
                key_hash,
                prefix,
                old_expires_at,
            } => self.rotate_server_key(*id, *key_hash, prefix, *old_expires_at),
            Command::RevokeServerKey { id } => self.revoke_server_key(*id),
            Command::Identify {
                environment_id,
                identifier,
                traits,
                max_traits,
            } => self.identify(*environment_id, identifier, traits, *max_traits),
            Command::DeleteIdentity {
                environment_id,
                identifier,
            } => self.delete_identity(*environment_id, identifier),
            Command::DeleteIdentities {
                environment_id,
                max_rows,
            } => self.delete_identities(*environment_id, *max_rows),
            Command::ImportEnvironment(imported) => self.import(imported),
        }
    }

    fn record(&mut self, change: Change) {
        // The catalog skips identity rows itself.
        self.work.apply(std::slice::from_ref(&change));
        self.changes.push(change);
    }

    /// Marks an environment changed: a new revision (once per command) and `updated_at`.
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

    fn touch_all(&mut self) {
        let ids: Vec<u32> = self.work.environments.keys().copied().collect();
        for id in ids {
            self.touch(id);
        }
    }
}
