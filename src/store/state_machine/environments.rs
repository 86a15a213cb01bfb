//! Environments and their server-side keys.

use super::checks::{check_key, check_name};
use super::{CommandError, Fault, Tx};
use crate::store::changes::Change;
use crate::store::command::{Applied, SettingsPatch};
use crate::store::records::{
    EnvironmentRecord, EnvironmentSettingsRecord, FeatureRecord, FeatureStateRecord,
    ServerKeyRecord, StateTarget,
};

impl Tx<'_> {
    pub(super) fn create_environment(
        &mut self,
        project_id: u32,
        name: &str,
        client_key: &str,
        settings: &EnvironmentSettingsRecord,
    ) -> Result<Applied, Fault> {
        self.project(project_id)?;
        let id = self.insert_environment(project_id, name, client_key, settings)?;
        let features: Vec<FeatureRecord> =
            self.work.project_features(project_id).cloned().collect();
        for feature in features {
            let state = self.new_state(id, &feature, StateTarget::Environment)?;
            self.record(Change::State(state.id, Some(state)));
        }
        self.touch(id);
        Ok(Applied::Created { id })
    }

    /// A new environment in the source's project with its settings (`settings` over them),
    /// every default state and segment override as the source has them — enabled, value,
    /// weights and hash seed, so every identity gets the same flags and variants — and a new
    /// client key. Identity overrides and server keys stay with the source.
    pub(super) fn clone_environment(
        &mut self,
        source_id: u32,
        name: &str,
        client_key: &str,
        settings: &SettingsPatch,
    ) -> Result<Applied, Fault> {
        let source = self.environment(source_id)?.clone();
        let mut copied = source.settings.clone();
        apply_settings(&mut copied, settings);
        let id = self.insert_environment(source.project_id, name, client_key, &copied)?;
        let states: Vec<FeatureStateRecord> = self
            .work
            .environment_states(source_id)
            .filter(|s| !matches!(s.target, StateTarget::Identity { .. }))
            .cloned()
            .collect();
        for mut state in states {
            state.id = Self::next_id(&mut self.work.meta.counters.state)?;
            state.environment_id = id;
            state.updated_at = self.now;
            self.record(Change::State(state.id, Some(state)));
        }
        self.touch(id);
        Ok(Applied::Created { id })
    }

    /// Adds an environment record after checking its name and key.
    pub(super) fn insert_environment(
        &mut self,
        project_id: u32,
        name: &str,
        client_key: &str,
        settings: &EnvironmentSettingsRecord,
    ) -> Result<u32, CommandError> {
        check_name("environment", name)?;
        check_key(client_key)?;
        if self
            .work
            .project_environments(project_id)
            .any(|e| e.name == name)
        {
            return Err(CommandError::Conflict(format!(
                "project {project_id} already has an environment named {name:?}"
            )));
        }
        if self.work.environment_by_client_key(client_key).is_some() {
            return Err(CommandError::Conflict("that client key is in use".into()));
        }
        let id = Self::next_id(&mut self.work.meta.counters.environment)?;
        self.record(Change::Environment(
            id,
            Some(EnvironmentRecord {
                id,
                project_id,
                name: name.to_owned(),
                client_key: client_key.to_owned(),
                settings: settings.clone(),
                revision: 0,
                updated_at: self.now,
                created_at: self.now,
            }),
        ));
        Ok(id)
    }

    pub(super) fn update_environment(
        &mut self,
        id: u32,
        expected_revision: Option<u64>,
        name: Option<&str>,
        settings: &SettingsPatch,
    ) -> Result<Applied, Fault> {
        self.check_revision(id, expected_revision)?;
        let mut env = self.environment(id)?.clone();
        if let Some(name) = name {
            check_name("environment", name)?;
            if self
                .work
                .project_environments(env.project_id)
                .any(|e| e.name == name && e.id != id)
            {
                return Err(CommandError::Conflict(format!(
                    "an environment named {name:?} exists"
                ))
                .into());
            }
            name.clone_into(&mut env.name);
        }
        apply_settings(&mut env.settings, settings);
        self.record(Change::Environment(id, Some(env)));
        self.touch(id);
        Ok(Applied::Updated)
    }

    /// Hides an environment at once (its keys stop working, reads miss it) and leaves its
    /// identity rows, which may be millions, to bounded background purges.
    pub(super) fn delete_environment(&mut self, id: u32) {
        let states: Vec<u32> = self.work.environment_states(id).map(|s| s.id).collect();
        for state in states {
            self.record(Change::State(state, None));
        }
        let keys: Vec<u32> = self
            .work
            .server_keys
            .values()
            .filter(|k| k.environment_id == id)
            .map(|k| k.id)
            .collect();
        for key in keys {
            self.record(Change::ServerKey(key, None));
        }
        self.record(Change::Environment(id, None));
        self.record(Change::Purge(id, true));
        self.touched.insert(id);
    }

    pub(super) fn create_server_key(
        &mut self,
        environment_id: u32,
        name: &str,
        key_hash: [u8; 32],
        prefix: &str,
        expires_at: Option<i64>,
    ) -> Result<Applied, Fault> {
        self.environment(environment_id)?;
        if expires_at.is_some_and(|at| at <= self.now) {
            return Err(CommandError::Invalid("the expiry must be in the future".into()).into());
        }
        check_name("key", name)?;
        if self
            .work
            .server_keys
            .values()
            .any(|k| k.key_hash == key_hash)
        {
            return Err(CommandError::Conflict("that key is in use".into()).into());
        }
        let id = Self::next_id(&mut self.work.meta.counters.server_key)?;
        self.record(Change::ServerKey(
            id,
            Some(ServerKeyRecord {
                id,
                environment_id,
                name: name.to_owned(),
                key_hash,
                prefix: prefix.to_owned(),
                active: true,
                expires_at,
                created_at: self.now,
            }),
        ));
        Ok(Applied::Created { id })
    }

    pub(super) fn rotate_server_key(
        &mut self,
        id: u32,
        key_hash: [u8; 32],
        prefix: &str,
        old_expires_at: Option<i64>,
    ) -> Result<Applied, Fault> {
        let mut old = self
            .work
            .server_keys
            .get(&id)
            .filter(|k| k.active)
            .cloned()
            .ok_or_else(|| CommandError::not_found("server key", id))?;
        let name = old.name.clone();
        let new_id = self.create_server_key(old.environment_id, &name, key_hash, prefix, None)?;
        if let Some(at) = old_expires_at {
            if at <= self.now {
                old.active = false;
            } else {
                old.expires_at = Some(old.expires_at.map_or(at, |e| e.min(at)));
            }
            self.record(Change::ServerKey(id, Some(old)));
        }
        Ok(new_id)
    }

    pub(super) fn revoke_server_key(&mut self, id: u32) -> Result<Applied, Fault> {
        let mut key = self
            .work
            .server_keys
            .get(&id)
            .cloned()
            .ok_or_else(|| CommandError::not_found("server key", id))?;
        key.active = false;
        self.record(Change::ServerKey(id, Some(key)));
        Ok(Applied::Deleted)
    }
}

pub(super) fn apply_settings(settings: &mut EnvironmentSettingsRecord, patch: &SettingsPatch) {
    if let Some(v) = patch.hide_disabled_flags {
        settings.hide_disabled_flags = v;
    }
    if let Some(v) = patch.hide_sensitive_data {
        settings.hide_sensitive_data = v;
    }
    if let Some(v) = patch.allow_client_traits {
        settings.allow_client_traits = v;
    }
    if let Some(v) = patch.use_identity_composite_key_for_hashing {
        settings.use_identity_composite_key_for_hashing = v;
    }
    if let Some(v) = patch.use_identity_overrides_in_local_eval {
        settings.use_identity_overrides_in_local_eval = v;
    }
}
