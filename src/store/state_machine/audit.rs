//! The audit entry of each applied command, and pruning.
//!
//! The entry is built from what the command actually changed: each record of its change set
//! with its value before (from the catalog the command started from) and after, secrets and
//! their hashes left out. So every mutation kind is audited the same way, with a structured
//! before/after, without each aggregate writing its own entry.

use serde_json::{Value, json};

use super::audit_text::{command_environment, describe, detail};
use super::{Fault, Tx};
use crate::store::audit::{AuditChange, AuditRecord, hex};
use crate::store::catalog::Catalog;
use crate::store::changes::Change;
use crate::store::command::{Actor, Applied, Command, Envelope};

/// Whether a command gets an audit entry: everything but SDK traffic and the server's own
/// upkeep.
pub fn audited(envelope: &Envelope) -> bool {
    match &envelope.command {
        Command::Identify { .. } => !matches!(envelope.actor, Actor::EnvironmentKey { .. }),
        Command::PurgeEnvironment { .. }
        | Command::RecordUse { .. }
        | Command::PruneAudit { .. }
        | Command::RecordEvaluations { .. }
        | Command::PruneEvaluations { .. } => false,
        _ => true,
    }
}

impl Tx<'_> {
    /// Appends the entry recording `envelope`, whose changes are in `self.changes`.
    pub(super) fn audit(
        &mut self,
        envelope: &Envelope,
        before: &Catalog,
        applied: &Applied,
    ) -> Result<(), Fault> {
        let (action, target) = describe(&envelope.command, applied);
        let changes = record_changes(before, &self.changes);
        let (project_id, environment_id) = self.place(&envelope.command, &changes, before);
        let detail = detail(&envelope.command, applied);
        self.append_entry(
            envelope,
            action,
            target,
            changes,
            project_id,
            environment_id,
            detail,
        )
    }

    /// Appends the entry of a command refused because it gives or takes more than its actor
    /// holds.
    pub(super) fn audit_refusal(&mut self, envelope: &Envelope, reason: &str) -> Result<(), Fault> {
        let (action, target) = describe(&envelope.command, &Applied::Updated);
        let detail = json!({"refused": action, "reason": reason});
        self.append_entry(
            envelope,
            "access.denied".into(),
            target,
            Vec::new(),
            None,
            None,
            Some(detail),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn append_entry(
        &mut self,
        envelope: &Envelope,
        action: String,
        target: String,
        changes: Vec<AuditChange>,
        project_id: Option<u32>,
        environment_id: Option<u32>,
        detail: Option<Value>,
    ) -> Result<(), Fault> {
        let (actor_kind, actor_id, actor_name) = match &envelope.actor {
            Actor::System => ("system", None, "burgee".to_owned()),
            Actor::Token { id, name } => ("token", Some(*id), name.clone()),
            Actor::User { id, email } => ("user", Some(*id), email.clone()),
            Actor::EnvironmentKey { environment_id } => {
                ("environment_key", Some(*environment_id), String::new())
            }
            Actor::Local => ("local", None, "local admin socket".to_owned()),
            Actor::Anonymous => ("anonymous", None, String::new()),
        };
        let mut entry = AuditRecord {
            seq: 0,
            at: self.now,
            actor_kind: actor_kind.to_owned(),
            actor_id,
            actor_name,
            source: envelope.origin.address.clone(),
            user_agent: envelope.origin.user_agent.clone(),
            request_id: envelope.request_id.clone(),
            project_id,
            environment_id,
            action,
            target,
            changes,
            detail: detail.map(|d| d.to_string()),
            prev_hash: [0; 32],
            hash: [0; 32],
        };
        entry.seal(&self.work.meta.audit)?;
        self.work.meta.audit.seq = entry.seq;
        self.work.meta.audit.hash = entry.hash;
        self.changes
            .push(Change::Audit(entry.seq, Some(Box::new(entry))));
        Ok(())
    }

    /// The project and environment an entry belongs to (for filters and per-project views).
    fn place(
        &self,
        command: &Command,
        changes: &[AuditChange],
        before: &Catalog,
    ) -> (Option<u32>, Option<u32>) {
        let environment = command_environment(command).or_else(|| {
            changes
                .iter()
                .find(|c| c.kind == "environment")
                .and_then(|c| c.id.parse().ok())
        });
        let project_of_env = |id: u32| {
            self.work
                .environments
                .get(&id)
                .or_else(|| before.environments.get(&id))
                .map(|e| e.project_id)
        };
        let project = environment
            .and_then(project_of_env)
            .or_else(|| match command {
                Command::UpdateProject { id, .. } | Command::DeleteProject { id } => Some(*id),
                Command::CreateFeature(new) | Command::CreateTaggedFeature { feature: new, .. } => {
                    Some(new.project_id)
                }
                Command::ApplyManifest(change) => self
                    .work
                    .projects
                    .values()
                    .find(|p| p.name == change.project_name)
                    .map(|p| p.id),
                Command::EditFeatureStates { edits, .. } => {
                    edits.first().and_then(|e| project_of_env(e.environment_id))
                }
                Command::CreateSegment { project_id, .. }
                | Command::CreateEnvironment { project_id, .. } => Some(*project_id),
                Command::UpdateFeature { id, .. }
                | Command::EditFeature { id, .. }
                | Command::DeleteFeature { id } => before.features.get(id).map(|f| f.project_id),
                Command::UpdateSegment { id, .. } | Command::DeleteSegment { id } => {
                    before.segments.get(id).map(|s| s.project_id)
                }
                _ => changes
                    .iter()
                    .find(|c| c.kind == "project")
                    .and_then(|c| c.id.parse().ok()),
            });
        (project, environment)
    }

    /// Removes entries older than `before` (at most `max_rows`) and appends a checkpoint
    /// that carries the hash the remaining chain starts from.
    pub(super) fn prune_audit(
        &mut self,
        envelope: &Envelope,
        before: i64,
        max_rows: u32,
    ) -> Result<Applied, Fault> {
        let mut last: Option<(u64, [u8; 32])> = None;
        let mut removed = 0u32;
        let mut more = false;
        self.rows
            .audit_from(self.work.meta.audit.base_seq + 1, &mut |seq, entry| {
                if entry.at >= before {
                    return false;
                }
                if removed == max_rows {
                    more = true;
                    return false;
                }
                last = Some((seq, entry.hash));
                removed += 1;
                true
            })?;
        let Some((through, through_hash)) = last else {
            return Ok(Applied::Removed {
                count: 0,
                more: false,
            });
        };
        let from = self.work.meta.audit.base_seq + 1;
        for seq in from..=through {
            self.changes.push(Change::Audit(seq, None));
        }
        self.work.meta.audit.base_seq = through;
        self.work.meta.audit.base_hash = through_hash;
        let detail = json!({"pruned_from": from, "pruned_through": through, "pruned_through_hash": hex(&through_hash), "count": removed, "older_than": before});
        self.append_entry(
            envelope,
            "audit.pruned".into(),
            "audit log".into(),
            Vec::new(),
            None,
            None,
            Some(detail),
        )?;
        Ok(Applied::Removed {
            count: removed,
            more,
        })
    }
}

/// Each record the changes touched, with its JSON before and after; records whose only
/// change is bookkeeping (an environment's revision) are left out.
pub(super) fn record_changes(before: &Catalog, changes: &[Change]) -> Vec<AuditChange> {
    let mut out: Vec<AuditChange> = Vec::new();
    for change in changes {
        let (kind, id, old, new) = match change {
            Change::Organisation(id, v) => (
                "organisation",
                *id,
                json_of(before.organisations.get(id)),
                json_of(v.as_ref()),
            ),
            Change::Project(id, v) => (
                "project",
                *id,
                json_of(before.projects.get(id)),
                json_of(v.as_ref()),
            ),
            // Most commands only bump their environment's revision: nothing to record.
            Change::Environment(id, Some(after))
                if before.environments.get(id).is_some_and(|b| {
                    b.name == after.name
                        && b.settings == after.settings
                        && b.client_key == after.client_key
                }) =>
            {
                continue;
            }
            Change::Environment(id, v) => (
                "environment",
                *id,
                json_of(before.environments.get(id)),
                json_of(v.as_ref()),
            ),
            Change::Feature(id, v) => (
                "feature",
                *id,
                json_of(before.features.get(id)),
                json_of(v.as_ref()),
            ),
            Change::Segment(id, v) => (
                "segment",
                *id,
                json_of(before.segments.get(id)),
                json_of(v.as_ref()),
            ),
            Change::State(id, v) => (
                "feature_state",
                *id,
                json_of(before.states.get(id)),
                json_of(v.as_ref()),
            ),
            Change::FeatureLabels(id, v) => (
                "feature_labels",
                *id,
                json_of(before.feature_labels.get(id)),
                json_of(v.as_ref()),
            ),
            Change::ServerKey(id, v) => (
                "server_key",
                *id,
                json_of(before.server_keys.get(id)),
                json_of(v.as_ref()),
            ),
            Change::Token(id, v) => (
                "token",
                *id,
                json_of(before.tokens.get(id)),
                json_of(v.as_ref()),
            ),
            Change::User(id, v) => (
                "user",
                *id,
                json_of(before.users.get(id)),
                json_of(v.as_ref()),
            ),
            Change::Team(id, v) => (
                "team",
                *id,
                json_of(before.teams.get(id)),
                json_of(v.as_ref()),
            ),
            Change::Role(id, v) => (
                "role",
                *id,
                json_of(before.roles.get(id)),
                json_of(v.as_ref()),
            ),
            Change::Grant(id, v) => (
                "grant",
                *id,
                json_of(before.grants.get(id)),
                json_of(v.as_ref()),
            ),
            Change::Session(id, v) => (
                "session",
                *id,
                json_of(before.sessions.get(id)),
                json_of(v.as_ref()),
            ),
            Change::Purge(..)
            | Change::CommandFormat(..)
            | Change::Evaluation { .. }
            | Change::Identity { .. }
            | Change::Trait { .. }
            | Change::Audit(..) => continue,
        };
        let (old, new) = (old.map(bookkeeping_removed), new.map(bookkeeping_removed));
        let id = id.to_string();
        // A record changed twice by one command keeps its first before and last after.
        if let Some(seen) = out.iter_mut().find(|c| c.kind == kind && c.id == id) {
            seen.after = new.map(|v| v.to_string());
            continue;
        }
        out.push(AuditChange {
            kind: kind.to_owned(),
            id,
            before: old.map(|v| v.to_string()),
            after: new.map(|v| v.to_string()),
        });
    }
    out.retain(|c| c.before != c.after);
    out
}

fn json_of<T: serde::Serialize>(record: Option<&T>) -> Option<Value> {
    record
        .and_then(|r| serde_json::to_value(r).ok())
        .map(redacted)
}

/// Secrets' hashes and password hashes never go into the log.
fn redacted(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.retain(|k, _| !k.ends_with("_hash"));
        if let Some(invite) = map.get_mut("invite")
            && let Value::Object(invite) = invite
        {
            invite.retain(|k, _| !k.ends_with("_hash"));
        }
    }
    value
}

/// Leaves out fields every change bumps, so a record whose only change is one of them
/// compares equal.
fn bookkeeping_removed(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.remove("revision");
        map.remove("updated_at");
        map.remove("last_seen_at");
        map.remove("last_used_at");
    }
    value
}
