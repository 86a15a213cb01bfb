//! Checks and lookups shared by every aggregate's commands.

use super::{CommandError, Tx};
use crate::store::command::NewOption;
use crate::store::records::{
    EnvironmentRecord, FeatureRecord, ProjectRecord, SegmentRecord, StoredFeatureKind, StoredValue,
    VariantWeightRecord,
};

/// Longest accepted name of a project, environment, feature, segment or key.
pub const MAX_NAME: usize = 2000;
/// Longest feature-state value text (Flagsmith's default limit).
pub const MAX_VALUE_LEN: usize = 20_000;
/// Longest identifier (Flagsmith's limit).
pub const MAX_IDENTIFIER_LEN: usize = 2000;

/// Longest accepted description of a feature or segment: descriptions ride along in SDK
/// responses, so an unbounded one would bloat every answer.
pub const MAX_DESCRIPTION: usize = 2000;

/// A name people can read: not empty or invisible, no control characters (which could forge
/// lines in logs and tables) and no text-direction overrides (which disguise what is shown).
pub fn check_name(what: &str, name: &str) -> Result<(), CommandError> {
    if !name.chars().any(is_visible) {
        return Err(CommandError::Invalid(format!(
            "{what} name cannot be empty or invisible"
        )));
    }
    if name.chars().count() > MAX_NAME {
        return Err(CommandError::Invalid(format!(
            "{what} name is longer than {MAX_NAME} characters"
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| c.is_control() || is_direction_override(*c))
    {
        return Err(CommandError::Invalid(format!(
            "{what} name holds the character {}, which cannot be shown safely",
            bad.escape_unicode()
        )));
    }
    Ok(())
}

pub fn check_description(what: &str, description: Option<&str>) -> Result<(), CommandError> {
    match description {
        Some(text) if text.chars().count() > MAX_DESCRIPTION => Err(CommandError::Invalid(
            format!("{what} description is longer than {MAX_DESCRIPTION} characters"),
        )),
        Some(text) if text.contains('\0') => Err(CommandError::Invalid(format!(
            "{what} description holds a NUL character"
        ))),
        _ => Ok(()),
    }
}

/// Whether a character shows something (not whitespace, a control or a zero-width mark).
fn is_visible(c: char) -> bool {
    !c.is_whitespace()
        && !c.is_control()
        && !matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{034F}')
        && !is_direction_override(c)
}

pub(super) fn is_direction_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

pub fn check_value(value: &StoredValue) -> Result<(), CommandError> {
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

pub fn check_key(key: &str) -> Result<(), CommandError> {
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

pub fn check_identifier(identifier: &str) -> Result<(), CommandError> {
    if identifier.is_empty() || identifier.chars().count() > MAX_IDENTIFIER_LEN {
        return Err(CommandError::Invalid(format!(
            "an identifier must be 1 to {MAX_IDENTIFIER_LEN} characters"
        )));
    }
    Ok(())
}

pub fn check_options(kind: StoredFeatureKind, options: &[NewOption]) -> Result<(), CommandError> {
    if kind == StoredFeatureKind::Standard && !options.is_empty() {
        return Err(CommandError::Invalid(
            "a standard feature has no multivariate options".into(),
        ));
    }
    let mut total = 0.0;
    for option in options {
        check_value(&option.value)?;
        check_weight("an option", option.default_weight)?;
        total += option.default_weight;
    }
    check_total("option", total)
}

pub fn check_variants(
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
        check_weight("a variant", variant.weight)?;
        total += variant.weight;
    }
    check_total("variant", total)
}

fn check_weight(what: &str, weight: f64) -> Result<(), CommandError> {
    if (0.0..=100.0).contains(&weight) {
        Ok(())
    } else {
        Err(CommandError::Invalid(format!(
            "{what} weight must be from 0 to 100"
        )))
    }
}

fn check_total(what: &str, total: f64) -> Result<(), CommandError> {
    if total > 100.0 {
        return Err(CommandError::Invalid(format!(
            "{what} weights add up to {total}, over 100"
        )));
    }
    Ok(())
}

/// Names are unique within their scope regardless of case, as Flagsmith's feature names are.
pub fn same_name(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// A stable UUID for a feature state, derived from the instance seed and the state's id.
pub fn derived_uuid(seed: &[u8; 16], id: u32) -> String {
    crate::store::records::stable_uuid(&[seed, &id.to_be_bytes()])
}

impl Tx<'_> {
    pub(super) fn next_id(counter: &mut u32) -> Result<u32, CommandError> {
        *counter = counter
            .checked_add(1)
            .ok_or_else(|| CommandError::LimitExceeded("ids of this kind are exhausted".into()))?;
        Ok(*counter)
    }

    pub(super) fn next_position(counter: &mut u64) -> u64 {
        *counter += 1;
        *counter
    }

    pub(super) fn check_revision(
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

    pub(super) fn project(&self, id: u32) -> Result<&ProjectRecord, CommandError> {
        self.work
            .projects
            .get(&id)
            .ok_or_else(|| CommandError::not_found("project", id))
    }

    pub(super) fn environment(&self, id: u32) -> Result<&EnvironmentRecord, CommandError> {
        self.work
            .environments
            .get(&id)
            .ok_or_else(|| CommandError::not_found("environment", id))
    }

    pub(super) fn feature(&self, id: u32) -> Result<&FeatureRecord, CommandError> {
        self.work
            .features
            .get(&id)
            .ok_or_else(|| CommandError::not_found("feature", id))
    }

    pub(super) fn segment(&self, id: u32) -> Result<&SegmentRecord, CommandError> {
        self.work
            .segments
            .get(&id)
            .ok_or_else(|| CommandError::not_found("segment", id))
    }

    /// Checks that an environment and a feature belong to one project.
    pub(super) fn environment_feature(
        &self,
        environment_id: u32,
        feature_id: u32,
    ) -> Result<(), CommandError> {
        let env_project = self.environment(environment_id)?.project_id;
        let feature_project = self.feature(feature_id)?.project_id;
        if env_project != feature_project {
            return Err(CommandError::Invalid(format!(
                "feature {feature_id} belongs to another project than environment {environment_id}"
            )));
        }
        Ok(())
    }
}
