//! Dry runs: a command applied to a copy of the catalog and kept nowhere, so a plan shows
//! exactly what applying would change — the same code decides both. Only commands that read
//! no identity rows and no audit entries can be previewed (catalog commands).

use std::collections::BTreeMap;

use super::audit::record_changes;
use super::{CommandError, Fault, Tx};
use crate::store::audit::{AuditChange, AuditRecord};
use crate::store::catalog::Catalog;
use crate::store::command::Envelope;
use crate::store::error::StoreError;
use crate::store::evaluations::{EvaluationKey, EvaluationRecord};
use crate::store::records::{IdentityRecord, StoredValue};
use crate::store::rows::Rows;

/// Rows for a preview: none may be read.
struct NoRows;

fn refused() -> StoreError {
    StoreError::Internal("a dry run reads no stored rows".into())
}

impl Rows for NoRows {
    fn identity(&self, _: u32, _: &str) -> Result<Option<IdentityRecord>, StoreError> {
        Err(refused())
    }

    fn traits(&self, _: u32, _: &str) -> Result<BTreeMap<String, StoredValue>, StoreError> {
        Err(refused())
    }

    fn next_identifier(&self, _: u32, _: Option<&str>) -> Result<Option<String>, StoreError> {
        Err(refused())
    }

    fn evaluations(
        &self,
        _: &[EvaluationKey],
    ) -> Result<BTreeMap<EvaluationKey, EvaluationRecord>, StoreError> {
        Err(refused())
    }

    fn audit_from(
        &self,
        _: u64,
        _: &mut dyn FnMut(u64, AuditRecord) -> bool,
    ) -> Result<(), StoreError> {
        Err(refused())
    }
}

/// What `envelope` would change in `catalog`, record by record with before and after as the
/// audit log would show them; a refusal is the command's own.
pub fn preview(catalog: &Catalog, envelope: &Envelope) -> Result<Vec<AuditChange>, CommandError> {
    let mut tx = Tx::new(catalog, &NoRows, envelope.timestamp, envelope.actor.clone());
    match tx.command(envelope) {
        Ok(_) => Ok(record_changes(catalog, &tx.changes)),
        Err(Fault::Refused(error)) => Err(error),
        Err(Fault::Storage(error)) => Err(CommandError::Failed(error.to_string())),
    }
}
