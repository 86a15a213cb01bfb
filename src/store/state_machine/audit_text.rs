//! How each command reads in the audit log: its action, target and detail.

use serde_json::{Value, json};

use crate::store::command::{Applied, Command, EditKind, SecurityEvent};

pub(super) fn command_environment(command: &Command) -> Option<u32> {
    match command {
        Command::UpdateEnvironment { id, .. } | Command::DeleteEnvironment { id } => Some(*id),
        Command::SetFeatureState { environment_id, .. }
        | Command::DeleteSegmentOverride { environment_id, .. }
        | Command::ReorderSegmentOverrides { environment_id, .. }
        | Command::SetIdentityOverride { environment_id, .. }
        | Command::DeleteIdentityOverride { environment_id, .. }
        | Command::CreateServerKey { environment_id, .. }
        | Command::Identify { environment_id, .. }
        | Command::DeleteIdentity { environment_id, .. }
        | Command::DeleteIdentities { environment_id, .. } => Some(*environment_id),
        Command::CopyIdentityOverrides { target_id, .. } => Some(*target_id),
        Command::SetSegmentOverride(change) => Some(change.environment_id),
        // One environment's edit belongs to it; one across several to none of them.
        Command::EditFeatureStates { edits, .. } => {
            let first = edits.first()?.environment_id;
            edits
                .iter()
                .all(|e| e.environment_id == first)
                .then_some(first)
        }
        _ => None,
    }
}

/// The action name and the target of a command.
pub(super) fn describe(command: &Command, applied: &Applied) -> (String, String) {
    let created = match applied {
        Applied::Created { id } => id.to_string(),
        _ => String::new(),
    };
    let (action, target) = match command {
        Command::Initialize { .. } => ("instance.initialised", "instance".to_owned()),
        Command::CompleteSetup { user, .. } => (
            "setup.completed",
            format!("user {created} ({})", user.email),
        ),
        Command::CreateApiToken(t) => ("token.created", format!("token {created} ({})", t.name)),
        Command::RevokeApiToken { id } => ("token.revoked", format!("token {id}")),
        Command::RotateApiToken { id, .. } => ("token.rotated", format!("token {id}")),
        Command::CreateUser(u) => ("user.created", format!("user {created} ({})", u.email)),
        Command::UpdateUser {
            id,
            active: Some(false),
            ..
        } => ("user.deactivated", format!("user {id}")),
        Command::UpdateUser { id, .. } => ("user.updated", format!("user {id}")),
        Command::DeleteUser { id } => ("user.deleted", format!("user {id}")),
        Command::ChangePassword { user_id, .. } => {
            ("user.password_changed", format!("user {user_id}"))
        }
        Command::ResetPassword { user_id, .. } => {
            ("user.password_reset", format!("user {user_id}"))
        }
        Command::AcceptInvite { .. } => ("user.invite_accepted", "user".to_owned()),
        Command::CreateTeam { name } => ("team.created", format!("team {created} ({name})")),
        Command::UpdateTeam { id, .. } => ("team.updated", format!("team {id}")),
        Command::DeleteTeam { id } => ("team.deleted", format!("team {id}")),
        Command::AddTeamMember { team_id, user_id } => (
            "team.member_added",
            format!("team {team_id} user {user_id}"),
        ),
        Command::RemoveTeamMember { team_id, user_id } => (
            "team.member_removed",
            format!("team {team_id} user {user_id}"),
        ),
        Command::CreateRole { name, .. } => ("role.created", format!("role {created} ({name})")),
        Command::UpdateRole { id, .. } => ("role.updated", format!("role {id}")),
        Command::DeleteRole { id } => ("role.deleted", format!("role {id}")),
        Command::CreateGrant { .. } => ("grant.created", format!("grant {created}")),
        Command::DeleteGrant { id } => ("grant.deleted", format!("grant {id}")),
        Command::CreateSession { user_id, .. } => ("login.succeeded", format!("user {user_id}")),
        Command::EndSession { id } => ("logout", format!("session {id}")),
        Command::RecordEvent(SecurityEvent::LoginFailed {
            email, lock_until, ..
        }) => (
            if lock_until.is_some() {
                "login.locked"
            } else {
                "login.failed"
            },
            format!("account {email}"),
        ),
        Command::RecordEvent(SecurityEvent::AccessDenied { method, path, .. }) => {
            ("access.denied", format!("{method} {path}"))
        }
        Command::RecordEvent(SecurityEvent::MembershipChanged {
            node_id, change, ..
        }) => (
            if change == "added" {
                "cluster.member_added"
            } else {
                "cluster.member_removed"
            },
            format!("node {node_id}"),
        ),
        Command::RecordEvent(SecurityEvent::BackupTaken { node_id, .. }) => {
            ("backup.taken", format!("node {node_id}"))
        }
        Command::UpdateOrganisation { .. } => ("organisation.updated", "organisation".to_owned()),
        Command::CreateProject { name, .. } => {
            ("project.created", format!("project {created} ({name})"))
        }
        Command::UpdateProject { id, .. } => ("project.updated", format!("project {id}")),
        Command::DeleteProject { id } => ("project.deleted", format!("project {id}")),
        Command::CreateEnvironment { name, .. } => (
            "environment.created",
            format!("environment {created} ({name})"),
        ),
        Command::UpdateEnvironment { id, .. } => {
            ("environment.updated", format!("environment {id}"))
        }
        Command::DeleteEnvironment { id } => ("environment.deleted", format!("environment {id}")),
        Command::CreateFeature(f) | Command::CreateTaggedFeature { feature: f, .. } => {
            ("feature.created", format!("feature {created} ({})", f.name))
        }
        Command::UpdateFeature { id, .. }
        | Command::EditFeature {
            id, archived: None, ..
        } => ("feature.updated", format!("feature {id}")),
        Command::EditFeature {
            id,
            archived: Some(archived),
            ..
        } => (
            if *archived {
                "feature.archived"
            } else {
                "feature.restored"
            },
            format!("feature {id}"),
        ),
        Command::DeleteFeature { id } => ("feature.deleted", format!("feature {id}")),
        Command::SetFeatureState { feature_id, .. } => {
            ("feature_state.updated", format!("feature {feature_id}"))
        }
        Command::CreateSegment { name, .. } => {
            ("segment.created", format!("segment {created} ({name})"))
        }
        Command::UpdateSegment { id, .. } => ("segment.updated", format!("segment {id}")),
        Command::DeleteSegment { id } => ("segment.deleted", format!("segment {id}")),
        Command::SetSegmentOverride(c) => (
            "segment_override.set",
            format!("feature {} segment {}", c.feature_id, c.segment_id),
        ),
        Command::DeleteSegmentOverride {
            feature_id,
            segment_id,
            ..
        } => (
            "segment_override.deleted",
            format!("feature {feature_id} segment {segment_id}"),
        ),
        Command::ReorderSegmentOverrides { feature_id, .. } => (
            "segment_override.reordered",
            format!("feature {feature_id}"),
        ),
        Command::SetIdentityOverride {
            feature_id,
            identifier,
            ..
        } => (
            "identity_override.set",
            format!("identity {identifier:?} feature {feature_id}"),
        ),
        Command::DeleteIdentityOverride {
            feature_id,
            identifier,
            ..
        } => (
            "identity_override.deleted",
            format!("identity {identifier:?} feature {feature_id}"),
        ),
        Command::CreateServerKey { name, .. } => (
            "server_key.created",
            format!("server key {created} ({name})"),
        ),
        Command::RevokeServerKey { id } => ("server_key.revoked", format!("server key {id}")),
        Command::RotateServerKey { id, .. } => ("server_key.rotated", format!("server key {id}")),
        Command::Identify { identifier, .. } => {
            ("identity.traits_set", format!("identity {identifier:?}"))
        }
        Command::DeleteIdentity { identifier, .. } => {
            ("identity.deleted", format!("identity {identifier:?}"))
        }
        Command::DeleteIdentities { .. } => ("identity.deleted_all", "identities".to_owned()),
        Command::ImportEnvironment(i) => {
            ("environment.imported", format!("environment {:?}", i.name))
        }
        Command::PurgeEnvironment { environment_id, .. } => (
            "environment.purged",
            format!("environment {environment_id}"),
        ),
        Command::RecordUse { .. } => ("credentials.used", String::new()),
        Command::PruneAudit { .. } => ("audit.pruned", "audit log".to_owned()),
        Command::RecordEvaluations { .. } => ("evaluations.recorded", String::new()),
        Command::PruneEvaluations { .. } => ("evaluations.pruned", String::new()),
        Command::CloneEnvironment {
            name, source_id, ..
        } => (
            "environment.cloned",
            format!("environment {name:?} (from environment {source_id})"),
        ),
        Command::EditFeatureStates { kind, edits, .. } => {
            let environments: std::collections::BTreeSet<u32> =
                edits.iter().map(|e| e.environment_id).collect();
            let features: std::collections::BTreeSet<u32> =
                edits.iter().map(|e| e.feature_id).collect();
            let action = match kind {
                EditKind::Promotion { .. } => "features.promoted",
                EditKind::BulkEdit => "features.bulk_edited",
                EditKind::Rollback { .. } => "feature.rolled_back",
            };
            (
                action,
                format!(
                    "{} features in {} environments",
                    features.len(),
                    environments.len()
                ),
            )
        }
        Command::CopyIdentityOverrides {
            source_id,
            target_id,
            ..
        } => (
            "identity_overrides.copied",
            format!("environment {target_id} (from environment {source_id})"),
        ),
        Command::ApplyManifest(change) => (
            "project.applied",
            format!("project {:?} (flags file)", change.project_name),
        ),
        Command::RaiseCommandFormat { to } => (
            "cluster.command_format_raised",
            format!("command format {to}"),
        ),
    };
    (action.to_owned(), target)
}

/// What an entry says beyond its record changes.
pub(super) fn detail(command: &Command, applied: &Applied) -> Option<Value> {
    match command {
        Command::RecordEvent(SecurityEvent::LoginFailed {
            reason, lock_until, ..
        }) => Some(json!({"reason": reason, "locked_until": lock_until})),
        Command::RecordEvent(SecurityEvent::AccessDenied { permission, .. }) => {
            Some(json!({"permission": permission}))
        }
        Command::RecordEvent(SecurityEvent::MembershipChanged { url, voter, .. }) => {
            Some(json!({"url": url, "voter": voter}))
        }
        Command::RecordEvent(SecurityEvent::BackupTaken { applied_index, .. }) => {
            Some(json!({"applied_index": applied_index}))
        }
        Command::Identify { traits, .. } => {
            Some(json!({"traits": traits.iter().map(|t| &t.key).collect::<Vec<_>>()}))
        }
        Command::EditFeatureStates { kind, edits, .. } => {
            let environments: std::collections::BTreeSet<u32> =
                edits.iter().map(|e| e.environment_id).collect();
            Some(match kind {
                EditKind::Promotion {
                    from_environment_id,
                } => {
                    json!({"from_environment_id": from_environment_id, "environment_ids": environments})
                }
                EditKind::BulkEdit => json!({"environment_ids": environments}),
                EditKind::Rollback { to_seq } => {
                    json!({"to_seq": to_seq, "environment_ids": environments})
                }
            })
        }
        Command::DeleteIdentities { .. } => match applied {
            Applied::Removed { count, more } => Some(json!({"removed": count, "more": more})),
            _ => None,
        },
        Command::CopyIdentityOverrides { .. } => match applied {
            Applied::Copied { count, more } => Some(json!({"copied": count, "more": more})),
            _ => None,
        },
        _ => None,
    }
}
