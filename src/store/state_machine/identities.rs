//! Identities, their traits and identity overrides, and the bounded removal of identity
//! rows (GDPR deletion, and the background purge of deleted environments).
//!
//! Identity rows live in their own tables (they scale to millions); commands read them
//! through the store's [`Rows`](crate::store::rows::Rows) and change them only through the change set.

use std::collections::BTreeMap;

use super::checks::check_identifier;
use super::{CommandError, Fault, Tx};
use crate::store::changes::Change;
use crate::store::command::{Applied, StatePatch, TraitWrite};
use crate::store::records::{FeatureStateRecord, IdentityRecord, StateTarget, StoredValue};

impl Tx<'_> {
    /// Creates the identity if needed and upserts or deletes its traits.
    pub(super) fn identify(
        &mut self,
        environment_id: u32,
        identifier: &str,
        traits: &[TraitWrite],
        max_traits: u32,
    ) -> Result<Applied, Fault> {
        self.environment(environment_id)?;
        check_identifier(identifier)?;
        let (identity_id, mut changed, mut current) =
            match self.stored_identity(environment_id, identifier)? {
                Some(record) => (
                    record.id,
                    false,
                    self.stored_traits(environment_id, identifier)?,
                ),
                None => {
                    let id = Self::next_id(&mut self.work.meta.counters.identity)?;
                    self.record(Change::Identity {
                        environment_id,
                        identifier: identifier.to_owned(),
                        record: Some(IdentityRecord {
                            id,
                            created_at: self.now,
                        }),
                    });
                    (id, true, BTreeMap::new())
                }
            };
        for write in traits {
            let differs = match &write.value {
                None => current.remove(&write.key).is_some(),
                Some(value) if current.get(&write.key) == Some(value) => false,
                Some(value) => {
                    current.insert(write.key.clone(), value.clone());
                    true
                }
            };
            if differs {
                changed = true;
                self.record(Change::Trait {
                    environment_id,
                    identifier: identifier.to_owned(),
                    key: write.key.clone(),
                    value: write.value.clone(),
                });
            }
        }
        if current.len() > max_traits as usize {
            return Err(CommandError::LimitExceeded(format!(
                "an identity can have at most {max_traits} traits"
            ))
            .into());
        }
        Ok(Applied::Identified {
            identity_id,
            changed,
        })
    }

    /// Deletes one identity: its row, every trait and its overrides.
    pub(super) fn delete_identity(
        &mut self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<Applied, Fault> {
        self.environment(environment_id)?;
        let removed = self.stored_identity(environment_id, identifier)?.is_some();
        if removed {
            self.remove_identity_rows(environment_id, identifier)?;
        }
        let overrides = self.identity_overrides_of(environment_id, Some(identifier));
        let had_overrides = !overrides.is_empty();
        for state in overrides {
            self.record(Change::State(state, None));
        }
        if had_overrides {
            self.touch(environment_id);
        }
        if removed || had_overrides {
            Ok(Applied::Deleted)
        } else {
            Err(CommandError::not_found("identity", format!("{identifier:?}")).into())
        }
    }

    /// Deletes identities of an environment, about `max_rows` rows at most; when none are
    /// left, its identity overrides go too.
    pub(super) fn delete_identities(
        &mut self,
        environment_id: u32,
        max_rows: u32,
    ) -> Result<Applied, Fault> {
        self.environment(environment_id)?;
        let (count, more) = self.remove_identities(environment_id, max_rows)?;
        if !more {
            let overrides = self.identity_overrides_of(environment_id, None);
            if !overrides.is_empty() {
                for state in overrides {
                    self.record(Change::State(state, None));
                }
                self.touch(environment_id);
            }
        }
        Ok(Applied::Removed { count, more })
    }

    /// One bounded step of removing a deleted environment's identity rows.
    pub(super) fn purge_environment(
        &mut self,
        environment_id: u32,
        max_rows: u32,
    ) -> Result<Applied, Fault> {
        if !self.work.purges.contains(&environment_id) {
            return Err(
                CommandError::not_found("environment being deleted", environment_id).into(),
            );
        }
        let (count, more) = self.remove_identities(environment_id, max_rows)?;
        if !more {
            self.record(Change::Purge(environment_id, false));
        }
        Ok(Applied::Removed { count, more })
    }

    pub(super) fn set_identity_override(
        &mut self,
        environment_id: u32,
        feature_id: u32,
        identifier: &str,
        patch: &StatePatch,
    ) -> Result<Applied, Fault> {
        self.environment_feature(environment_id, feature_id)?;
        check_identifier(identifier)?;
        let feature = self.feature(feature_id)?.clone();
        let target = StateTarget::Identity {
            identifier: identifier.to_owned(),
        };
        let existing = self
            .work
            .environment_states(environment_id)
            .find(|s| s.feature_id == feature_id && s.target == target)
            .cloned();
        let mut state = match existing {
            Some(state) => state,
            None => self.new_state(environment_id, &feature, target)?,
        };
        // Identity overrides always serve their own value: no split.
        state.variants.clear();
        let patch = StatePatch {
            variants: None,
            ..patch.clone()
        };
        self.patch_state(state, &feature, &patch)?;
        self.touch(environment_id);
        Ok(Applied::Updated)
    }

    pub(super) fn delete_identity_override(
        &mut self,
        environment_id: u32,
        feature_id: u32,
        identifier: &str,
    ) -> Result<Applied, Fault> {
        let target = StateTarget::Identity {
            identifier: identifier.to_owned(),
        };
        let state = self
            .work
            .environment_states(environment_id)
            .find(|s| s.feature_id == feature_id && s.target == target)
            .map(|s| s.id)
            .ok_or_else(|| {
                CommandError::not_found(
                    "identity override",
                    format!("{identifier:?} of feature {feature_id}"),
                )
            })?;
        self.record(Change::State(state, None));
        self.touch(environment_id);
        Ok(Applied::Deleted)
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

    /// Removes whole identities of an environment until about `max_rows` rows (identity
    /// plus traits) went; always at least one, so every step makes progress. Returns how
    /// many identities went and whether more remain.
    fn remove_identities(
        &mut self,
        environment_id: u32,
        max_rows: u32,
    ) -> Result<(u32, bool), Fault> {
        let mut rows = 0u64;
        let mut count = 0u32;
        let mut cursor: Option<String> = None;
        loop {
            let Some(identifier) = self.next_identifier(environment_id, cursor.as_deref())? else {
                return Ok((count, false));
            };
            if count > 0 && rows >= u64::from(max_rows) {
                return Ok((count, true));
            }
            rows += 1 + self.remove_identity_rows(environment_id, &identifier)?;
            count += 1;
            cursor = Some(identifier);
        }
    }

    /// Records the removal of an identity's row and traits; returns how many traits went.
    fn remove_identity_rows(
        &mut self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<u64, Fault> {
        let traits = self.stored_traits(environment_id, identifier)?;
        let count = traits.len() as u64;
        for key in traits.into_keys() {
            self.record(Change::Trait {
                environment_id,
                identifier: identifier.to_owned(),
                key,
                value: None,
            });
        }
        self.record(Change::Identity {
            environment_id,
            identifier: identifier.to_owned(),
            record: None,
        });
        Ok(count)
    }

    fn stored_identity(
        &self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<Option<IdentityRecord>, Fault> {
        Ok(self.rows.identity(environment_id, identifier)?)
    }

    fn stored_traits(
        &self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<BTreeMap<String, StoredValue>, Fault> {
        Ok(self.rows.traits(environment_id, identifier)?)
    }

    /// The first identifier of the environment after `cursor` (`None`: the very first), so
    /// past those this command already removed.
    fn next_identifier(
        &self,
        environment_id: u32,
        cursor: Option<&str>,
    ) -> Result<Option<String>, Fault> {
        Ok(self.rows.next_identifier(environment_id, cursor)?)
    }

    pub(super) fn copy_identity_overrides(
        &mut self,
        source_id: u32,
        target_id: u32,
        max: u32,
    ) -> Result<Applied, Fault> {
        let project_id = self.environment(source_id)?.project_id;
        if self.environment(target_id)?.project_id != project_id || source_id == target_id {
            return Err(CommandError::Invalid(
                "identity overrides are copied to another environment of the same project".into(),
            )
            .into());
        }
        let identity_of = |s: &FeatureStateRecord| match &s.target {
            StateTarget::Identity { identifier } => Some((identifier.clone(), s.feature_id)),
            _ => None,
        };
        let have: std::collections::BTreeSet<(String, u32)> = self
            .work
            .environment_states(target_id)
            .filter_map(identity_of)
            .collect();
        let mut wanted: Vec<FeatureStateRecord> = self
            .work
            .environment_states(source_id)
            .filter(|s| identity_of(s).is_some_and(|key| !have.contains(&key)))
            .cloned()
            .collect();
        wanted.sort_by_key(|s| identity_of(s));
        let limit = usize::try_from(max.max(1)).unwrap_or(usize::MAX);
        let more = wanted.len() > limit;
        wanted.truncate(limit);
        let count = u32::try_from(wanted.len()).unwrap_or(u32::MAX);
        for mut state in wanted {
            state.id = Self::next_id(&mut self.work.meta.counters.state)?;
            state.environment_id = target_id;
            state.updated_at = self.now;
            self.record(Change::State(state.id, Some(state)));
        }
        if count > 0 {
            self.touch(target_id);
        }
        Ok(Applied::Copied { count, more })
    }
}
