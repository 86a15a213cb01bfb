//! The state machine's row reads inside the writer's SQL transaction. The writer runs on
//! a thread of its own, outside the async runtime, so each read waits for its query
//! ([`Handle::block_on`]); the reads see the batch's earlier writes, as redb's do.

use std::collections::BTreeMap;

use tokio::runtime::Handle;
use tokio_postgres::Transaction;

use super::statements::{AUDIT_PAGE, Statements};
use crate::store::StoreError;
use crate::store::audit::AuditRecord;
use crate::store::codec::decode;
use crate::store::evaluations::{EvaluationKey, EvaluationRecord};
use crate::store::records::{IdentityRecord, StoredValue};
use crate::store::rows::Rows;

pub struct SqlRows<'a> {
    pub handle: &'a Handle,
    pub txn: &'a Transaction<'a>,
    pub statements: &'a Statements,
}

fn text(bytes: Vec<u8>, what: &str) -> Result<String, StoreError> {
    String::from_utf8(bytes)
        .map_err(|_| StoreError::Corrupt(format!("a stored {what} is not UTF-8")))
}

impl Rows for SqlRows<'_> {
    fn identity(
        &self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<Option<IdentityRecord>, StoreError> {
        let row = self
            .handle
            .block_on(self.txn.query_opt(
                &self.statements.identity,
                &[&i64::from(environment_id), &identifier.as_bytes()],
            ))
            .map_err(super::error)?;
        row.map(|row| decode(row.get::<_, &[u8]>(0))).transpose()
    }

    fn traits(
        &self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<BTreeMap<String, StoredValue>, StoreError> {
        let rows = self
            .handle
            .block_on(self.txn.query(
                &self.statements.traits,
                &[&i64::from(environment_id), &identifier.as_bytes()],
            ))
            .map_err(super::error)?;
        let mut traits = BTreeMap::new();
        for row in rows {
            let key = text(row.get::<_, Vec<u8>>(0), "trait key")?;
            traits.insert(key, decode(row.get::<_, &[u8]>(1))?);
        }
        Ok(traits)
    }

    fn next_identifier(
        &self,
        environment_id: u32,
        after: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let row = self
            .handle
            .block_on(self.txn.query_opt(
                &self.statements.next_identifier,
                &[
                    &i64::from(environment_id),
                    &after.unwrap_or_default().as_bytes(),
                ],
            ))
            .map_err(super::error)?;
        row.map(|row| text(row.get::<_, Vec<u8>>(0), "identifier"))
            .transpose()
    }

    fn evaluations(
        &self,
        keys: &[EvaluationKey],
    ) -> Result<BTreeMap<EvaluationKey, EvaluationRecord>, StoreError> {
        let mut columns: (Vec<i64>, Vec<i64>, Vec<i64>) = Default::default();
        for (environment, feature, hour) in keys {
            columns.0.push(i64::from(*environment));
            columns.1.push(i64::from(*feature));
            columns.2.push(i64::from(*hour));
        }
        let rows = self
            .handle
            .block_on(self.txn.query(
                &self.statements.evaluations,
                &[&columns.0, &columns.1, &columns.2],
            ))
            .map_err(super::error)?;
        let mut found = BTreeMap::new();
        for row in rows {
            let key = super::evaluations::evaluation_key(&row)?;
            found.insert(key, decode(row.get::<_, &[u8]>(3))?);
        }
        Ok(found)
    }

    fn audit_from(
        &self,
        from: u64,
        visit: &mut dyn FnMut(u64, AuditRecord) -> bool,
    ) -> Result<(), StoreError> {
        let mut next = i64::try_from(from).unwrap_or(i64::MAX);
        loop {
            let rows = self
                .handle
                .block_on(
                    self.txn
                        .query(&self.statements.audit_from, &[&next, &AUDIT_PAGE]),
                )
                .map_err(super::error)?;
            let full = rows.len() as i64 == AUDIT_PAGE;
            for row in rows {
                let seq: i64 = row.get(0);
                next = seq + 1;
                if !visit(seq.unsigned_abs(), decode(row.get::<_, &[u8]>(1))?) {
                    return Ok(());
                }
            }
            if !full {
                return Ok(());
            }
        }
    }
}
