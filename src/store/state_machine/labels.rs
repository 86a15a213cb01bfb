//! Features' tags and archive marks: Burgee's own labels, kept beside the feature record.

use super::checks::{check_description, is_direction_override};
use super::{CommandError, Fault, Tx};
use crate::store::changes::Change;
use crate::store::command::{Applied, NewFeature};
use crate::store::records::FeatureLabelsRecord;

/// Longest tag, in characters.
pub const MAX_TAG: usize = 64;
/// Most tags on one feature.
pub const MAX_TAGS: usize = 20;

/// Tags as stored: trimmed, sorted, without repeats; each one printable, not empty and at
/// most [`MAX_TAG`] characters, at most [`MAX_TAGS`] of them.
pub fn normalized_tags(tags: &[String]) -> Result<Vec<String>, CommandError> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() {
            return Err(CommandError::Invalid("a tag cannot be empty".into()));
        }
        if tag.chars().count() > MAX_TAG {
            return Err(CommandError::Invalid(format!(
                "tag {tag:?} is longer than {MAX_TAG} characters"
            )));
        }
        if tag
            .chars()
            .any(|c| c.is_control() || is_direction_override(c) || c == ',')
        {
            return Err(CommandError::Invalid(format!(
                "tag {tag:?} holds a comma or a character that cannot be shown safely"
            )));
        }
        out.push(tag.to_owned());
    }
    out.sort();
    out.dedup();
    if out.len() > MAX_TAGS {
        return Err(CommandError::LimitExceeded(format!(
            "{} tags; a feature carries at most {MAX_TAGS}",
            out.len()
        )));
    }
    Ok(out)
}

impl Tx<'_> {
    pub(super) fn create_tagged_feature(
        &mut self,
        feature: &NewFeature,
        tags: &[String],
    ) -> Result<Applied, Fault> {
        let tags = normalized_tags(tags)?;
        let applied = self.create_feature(feature)?;
        if let Applied::Created { id } = applied {
            self.set_labels(id, |labels| labels.tags = tags);
        }
        Ok(applied)
    }

    pub(super) fn edit_feature(
        &mut self,
        id: u32,
        (description, server_key_only): (Option<&Option<String>>, Option<bool>),
        tags: Option<&[String]>,
        archived: Option<bool>,
    ) -> Result<Applied, Fault> {
        check_description("feature", description.and_then(|d| d.as_deref()))?;
        let tags = tags.map(normalized_tags).transpose()?;
        self.update_feature(id, description, server_key_only)?;
        let now = self.now;
        self.set_labels(id, |labels| {
            if let Some(tags) = tags {
                labels.tags = tags;
            }
            match archived {
                Some(true) if labels.archived_at.is_none() => labels.archived_at = Some(now),
                Some(false) => labels.archived_at = None,
                _ => {}
            }
        });
        Ok(Applied::Updated)
    }

    /// Sets a feature's tags and archive mark as a flags file states them.
    pub(super) fn edit_feature_labels(
        &mut self,
        id: u32,
        tags: &[String],
        archived: bool,
    ) -> Result<(), CommandError> {
        let tags = normalized_tags(tags)?;
        let now = self.now;
        let before = self.work.feature_labels.get(&id).cloned();
        self.set_labels(id, |labels| {
            labels.tags = tags;
            match (archived, labels.archived_at) {
                (true, None) => labels.archived_at = Some(now),
                (false, Some(_)) => labels.archived_at = None,
                _ => {}
            }
        });
        let archive_changed = before.and_then(|l| l.archived_at).is_some() != archived;
        if archive_changed
            && let Some(project_id) = self.work.features.get(&id).map(|f| f.project_id)
        {
            self.touch_project(project_id);
        }
        Ok(())
    }

    /// Changes a feature's labels; labels with nothing in them are not kept.
    fn set_labels(&mut self, id: u32, change: impl FnOnce(&mut FeatureLabelsRecord)) {
        let before = self.work.feature_labels.get(&id).cloned();
        let mut labels = before.clone().unwrap_or_default();
        change(&mut labels);
        let after = (labels != FeatureLabelsRecord::default()).then_some(labels);
        if after != before {
            self.record(Change::FeatureLabels(id, after));
        }
    }

    /// Removes a feature's record and its labels.
    pub(super) fn forget_feature(&mut self, id: u32) {
        if self.work.feature_labels.contains_key(&id) {
            self.record(Change::FeatureLabels(id, None));
        }
        self.record(Change::Feature(id, None));
    }
}
