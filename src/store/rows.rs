//! What the state machine reads besides the catalog: identity rows and the audit chain.
//!
//! Every store applies commands through the same [`state_machine::apply`]
//! (super::state_machine::apply); this trait is how it reads the rows that are not held in
//! memory. A redb write transaction implements it (reads see the batch's earlier writes); the
//! PostgreSQL store implements it over its SQL transaction.

use std::collections::BTreeMap;

use redb::{ReadableTable, WriteTransaction};

use super::audit::AuditRecord;
use super::changes::{self, Change};
use super::codec::decode;
use super::error::StoreError;
use super::evaluations::{EvaluationKey, EvaluationRecord};
use super::records::{IdentityRecord, StoredValue};
use super::tables;

/// Reads of rows a command may need, as the store holds them inside the current batch.
pub trait Rows {
    /// The stored identity, if it exists.
    fn identity(
        &self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<Option<IdentityRecord>, StoreError>;

    /// The identity's stored traits, by key.
    fn traits(
        &self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<BTreeMap<String, StoredValue>, StoreError>;

    /// The first identifier of the environment after `after` (`None`: the very first), in
    /// byte order.
    fn next_identifier(
        &self,
        environment_id: u32,
        after: Option<&str>,
    ) -> Result<Option<String>, StoreError>;

    /// The stored evaluation rows among `keys`.
    fn evaluations(
        &self,
        keys: &[EvaluationKey],
    ) -> Result<BTreeMap<EvaluationKey, EvaluationRecord>, StoreError>;

    /// Audit entries from sequence number `from` on, in order, each handed to `visit` until
    /// it answers `false`.
    fn audit_from(
        &self,
        from: u64,
        visit: &mut dyn FnMut(u64, AuditRecord) -> bool,
    ) -> Result<(), StoreError>;
}

/// Where a batch's changes go: the store whose rows the commands read.
pub trait Target {
    /// What commands read, including the changes written so far.
    fn rows(&self) -> &dyn Rows;
    /// Writes one command's changes, in order.
    fn write(&self, changes: &[Change]) -> Result<(), StoreError>;
}

impl Target for WriteTransaction {
    fn rows(&self) -> &dyn Rows {
        self
    }

    fn write(&self, changes: &[Change]) -> Result<(), StoreError> {
        changes::write(self, changes)
    }
}

impl Rows for WriteTransaction {
    fn identity(
        &self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<Option<IdentityRecord>, StoreError> {
        let table = self.open_table(tables::IDENTITIES)?;
        let found = table.get((environment_id, identifier))?;
        found.map(|v| decode(v.value())).transpose()
    }

    fn traits(
        &self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<BTreeMap<String, StoredValue>, StoreError> {
        let table = self.open_table(tables::TRAITS)?;
        let mut traits = BTreeMap::new();
        for entry in table.range((environment_id, identifier, "")..)? {
            let (key, value) = entry?;
            let (e, i, name) = key.value();
            if e != environment_id || i != identifier {
                break;
            }
            traits.insert(name.to_owned(), decode(value.value())?);
        }
        Ok(traits)
    }

    fn next_identifier(
        &self,
        environment_id: u32,
        after: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let table = self.open_table(tables::IDENTITIES)?;
        for entry in table.range((environment_id, after.unwrap_or(""))..)? {
            let (key, _) = entry?;
            let (e, identifier) = key.value();
            if e != environment_id {
                return Ok(None);
            }
            if Some(identifier) != after {
                return Ok(Some(identifier.to_owned()));
            }
        }
        Ok(None)
    }

    fn evaluations(
        &self,
        keys: &[EvaluationKey],
    ) -> Result<BTreeMap<EvaluationKey, EvaluationRecord>, StoreError> {
        let table = self.open_table(tables::EVALUATIONS)?;
        let mut found = BTreeMap::new();
        for key in keys {
            if let Some(value) = table.get(*key)? {
                found.insert(*key, decode(value.value())?);
            }
        }
        Ok(found)
    }

    fn audit_from(
        &self,
        from: u64,
        visit: &mut dyn FnMut(u64, AuditRecord) -> bool,
    ) -> Result<(), StoreError> {
        let table = self.open_table(tables::AUDIT)?;
        for row in table.range(from..)? {
            let (key, value) = row?;
            if !visit(key.value(), decode(value.value())?) {
                break;
            }
        }
        Ok(())
    }
}
