//! The organisation and its admin API tokens.

use super::checks::check_name;
use super::{CommandError, Fault, Tx};
use crate::store::changes::Change;
use crate::store::command::{Applied, NewToken};
use crate::store::people::SetupRecord;
use crate::store::records::OrganisationRecord;

impl Tx<'_> {
    pub(super) fn initialize(
        &mut self,
        organisation_name: &str,
        instance_seed: [u8; 16],
        admin_token: Option<&NewToken>,
        setup: Option<&SetupRecord>,
    ) -> Result<Applied, Fault> {
        if self.work.meta.initialized {
            return Err(
                CommandError::Conflict("the instance is already initialised".into()).into(),
            );
        }
        check_name("organisation", organisation_name)?;
        self.work.meta.initialized = true;
        self.work.meta.instance_seed = instance_seed;
        self.work.meta.setup = setup.cloned();
        let id = Self::next_id(&mut self.work.meta.counters.organisation)?;
        self.record(Change::Organisation(
            id,
            Some(OrganisationRecord {
                id,
                name: organisation_name.to_owned(),
                persist_trait_data: true,
                stop_serving_flags: false,
                feature_analytics: false,
                created_at: self.now,
            }),
        ));
        if let Some(token) = admin_token {
            self.create_token(token)?;
        }
        Ok(Applied::Created { id })
    }

    pub(super) fn update_organisation(
        &mut self,
        name: Option<&str>,
        persist_trait_data: Option<bool>,
        stop_serving_flags: Option<bool>,
    ) -> Result<Applied, Fault> {
        let mut organisation = self
            .work
            .organisation()
            .cloned()
            .ok_or_else(|| CommandError::not_found("organisation", "default"))?;
        if let Some(name) = name {
            check_name("organisation", name)?;
            name.clone_into(&mut organisation.name);
        }
        if let Some(persist) = persist_trait_data {
            organisation.persist_trait_data = persist;
        }
        if let Some(stop) = stop_serving_flags {
            organisation.stop_serving_flags = stop;
        }
        self.record(Change::Organisation(organisation.id, Some(organisation)));
        // Both settings shape every environment's SDK answers.
        self.touch_all();
        Ok(Applied::Updated)
    }
}
