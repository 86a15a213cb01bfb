//! The checks of a command that need no state (names, sizes, keys, values, weights). The API
//! edge runs them before proposing, so a request the state machine would refuse for these
//! reasons never takes a log index; the state machine runs them again as the authority.

use super::CommandError;
use super::checks::{
    check_description, check_identifier, check_key, check_name, check_options, check_value,
};
use super::labels::normalized_tags;
use crate::store::command::{Command, ManifestChange, NewFeature, StatePatch, TraitWrite};

fn check_new_feature(new: &NewFeature) -> Result<(), CommandError> {
    check_name("feature", &new.name)?;
    check_description("feature", new.description.as_deref())?;
    check_value(&new.initial_value)?;
    check_options(new.kind, &new.options)
}

fn check_manifest(change: &ManifestChange) -> Result<(), CommandError> {
    check_name("project", &change.project_name)?;
    for segment in &change.segments {
        check_name("segment", &segment.name)?;
    }
    for feature in &change.features {
        check_new_feature(&NewFeature {
            project_id: 0,
            name: feature.name.clone(),
            kind: feature.kind,
            description: feature.description.clone(),
            initial_value: feature.initial_value.clone(),
            default_enabled: feature.default_enabled,
            server_key_only: feature.server_key_only,
            options: feature.options.clone(),
        })?;
        normalized_tags(&feature.tags)?;
    }
    for environment in &change.environments {
        check_name("environment", &environment.name)?;
        check_key(&environment.new_client_key)?;
    }
    Ok(())
}

pub fn precheck(command: &Command) -> Result<(), CommandError> {
    match command {
        Command::Initialize {
            organisation_name, ..
        } => check_name("organisation", organisation_name),
        Command::CreateApiToken(token) => check_name("token", &token.name),
        Command::UpdateOrganisation { name, .. } => name
            .as_deref()
            .map_or(Ok(()), |n| check_name("organisation", n)),
        Command::CreateProject { name, .. } => check_name("project", name),
        Command::UpdateProject { name, .. } => {
            name.as_deref().map_or(Ok(()), |n| check_name("project", n))
        }
        Command::CreateEnvironment {
            name, client_key, ..
        }
        | Command::CloneEnvironment {
            name, client_key, ..
        } => {
            check_name("environment", name)?;
            check_key(client_key)
        }
        Command::UpdateEnvironment { name, .. } => name
            .as_deref()
            .map_or(Ok(()), |n| check_name("environment", n)),
        Command::CreateFeature(new) => check_new_feature(new),
        Command::CreateTaggedFeature { feature, tags } => {
            check_new_feature(feature)?;
            normalized_tags(tags).map(|_| ())
        }
        Command::UpdateFeature { description, .. } => {
            check_description("feature", description.as_ref().and_then(|d| d.as_deref()))
        }
        Command::EditFeature {
            description, tags, ..
        } => {
            check_description("feature", description.as_ref().and_then(|d| d.as_deref()))?;
            tags.as_deref()
                .map_or(Ok(()), |t| normalized_tags(t).map(|_| ()))
        }
        Command::SetFeatureState { patch, .. }
        | Command::SetSegmentOverride(crate::store::command::SegmentOverrideChange {
            patch, ..
        }) => check_patch(patch),
        Command::CreateSegment {
            name, description, ..
        } => {
            check_name("segment", name)?;
            check_description("segment", description.as_deref())
        }
        Command::UpdateSegment {
            name, description, ..
        } => {
            if let Some(name) = name {
                check_name("segment", name)?;
            }
            check_description("segment", description.as_ref().and_then(|d| d.as_deref()))
        }
        Command::SetIdentityOverride {
            identifier, patch, ..
        } => {
            check_identifier(identifier)?;
            check_patch(patch)
        }
        Command::CreateServerKey { name, .. } => check_name("key", name),
        Command::ApplyManifest(change) => check_manifest(change),
        Command::EditFeatureStates { edits, .. } => {
            if edits.len() > super::edits::MAX_EDITS {
                return Err(CommandError::LimitExceeded(format!(
                    "{} edits in one change; at most {}",
                    edits.len(),
                    super::edits::MAX_EDITS
                )));
            }
            for edit in edits {
                check_patch(&edit.default)?;
                for config in edit.segment_overrides.iter().flatten() {
                    check_value(&config.value)?;
                }
            }
            Ok(())
        }
        Command::Identify {
            identifier, traits, ..
        } => {
            check_identifier(identifier)?;
            traits.iter().try_for_each(check_trait)
        }
        Command::ImportEnvironment(imported) => {
            check_name("project", &imported.project_name)?;
            check_name("environment", &imported.name)?;
            check_key(&imported.client_key)
        }
        Command::DeleteProject { .. }
        | Command::DeleteEnvironment { .. }
        | Command::PurgeEnvironment { .. }
        | Command::CopyIdentityOverrides { .. }
        | Command::DeleteFeature { .. }
        | Command::DeleteSegment { .. }
        | Command::DeleteSegmentOverride { .. }
        | Command::ReorderSegmentOverrides { .. }
        | Command::DeleteIdentityOverride { .. }
        | Command::RevokeServerKey { .. }
        | Command::RotateServerKey { .. }
        | Command::DeleteIdentity { .. }
        | Command::DeleteIdentities { .. }
        | Command::RevokeApiToken { .. }
        | Command::RotateApiToken { .. }
        | Command::DeleteUser { .. }
        | Command::ChangePassword { .. }
        | Command::ResetPassword { .. }
        | Command::AcceptInvite { .. }
        | Command::DeleteTeam { .. }
        | Command::AddTeamMember { .. }
        | Command::RemoveTeamMember { .. }
        | Command::DeleteRole { .. }
        | Command::CreateGrant { .. }
        | Command::DeleteGrant { .. }
        | Command::CreateSession { .. }
        | Command::EndSession { .. }
        | Command::RecordUse { .. }
        | Command::RecordEvent(_)
        | Command::PruneAudit { .. }
        | Command::RecordEvaluations { .. }
        | Command::PruneEvaluations { .. }
        | Command::RaiseCommandFormat { .. } => Ok(()),
        Command::CreateUser(user) | Command::CompleteSetup { user, .. } => {
            super::people::check_email(&user.email.trim().to_lowercase())?;
            check_name("user", &user.name)
        }
        Command::UpdateUser { name, .. } => {
            name.as_deref().map_or(Ok(()), |n| check_name("user", n))
        }
        Command::CreateTeam { name } | Command::UpdateTeam { name, .. } => check_name("team", name),
        Command::CreateRole {
            name, description, ..
        } => {
            check_name("role", name)?;
            check_description("role", description.as_deref())
        }
        Command::UpdateRole {
            name, description, ..
        } => {
            if let Some(name) = name {
                check_name("role", name)?;
            }
            check_description("role", description.as_ref().and_then(Option::as_deref))
        }
    }
}

/// Longest trait name (Flagsmith's limit; the API edges check it too).
const MAX_TRAIT_KEY: usize = 200;

/// A trait name of 1 to 200 characters; a value checked like a feature value (the API edges
/// hold trait text to 2 000 characters, as Flagsmith does).
fn check_trait(write: &TraitWrite) -> Result<(), CommandError> {
    let length = write.key.chars().count();
    if length == 0 || length > MAX_TRAIT_KEY {
        return Err(CommandError::Invalid(format!(
            "a trait name must be 1 to {MAX_TRAIT_KEY} characters"
        )));
    }
    write.value.as_ref().map_or(Ok(()), check_value)
}

fn check_patch(patch: &StatePatch) -> Result<(), CommandError> {
    patch.value.as_ref().map_or(Ok(()), check_value)
}
