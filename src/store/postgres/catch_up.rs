//! Catching a replica's catalog up with what the others committed: from the batches'
//! logged configuration changes when the log reaches back far enough, else by reloading the
//! whole configuration (at start, and after the log was pruned past this replica).

use std::collections::BTreeSet;

use tokio::runtime::Handle;
use tokio_postgres::{Statement, Transaction};

use super::known_identities::KnownIdentities;
use super::statements::Statements;
use super::{LogRow, write};
use crate::store::StoreError;
use crate::store::catalog::{Catalog, Meta};
use crate::store::codec::decode;

/// The head row: the revision every replica converges on.
pub struct Head {
    pub revision: u64,
    pub meta: Meta,
    pub identity_count: i64,
}

impl Head {
    /// Reads the head with `statement` (the locking or the plain read).
    pub fn read(
        handle: &Handle,
        txn: &Transaction<'_>,
        statement: &Statement,
        locking: bool,
    ) -> Result<Self, StoreError> {
        let row = handle
            .block_on(txn.query_one(statement, &[]))
            .map_err(|e| {
                if locking {
                    super::error(e)
                } else {
                    StoreError::Database(format!("reading the head row: {e}"))
                }
            })?;
        let revision: i64 = row.get(0);
        let meta: &[u8] = row.get(1);
        let meta = if meta.is_empty() {
            Meta::default()
        } else {
            decode(meta)?
        };
        Ok(Self {
            revision: revision.unsigned_abs(),
            meta,
            identity_count: row.get(2),
        })
    }
}

/// What catching up changed.
#[derive(Default)]
pub struct CaughtUp {
    /// Environments whose served flags may have changed.
    pub touched: BTreeSet<u32>,
    /// Identities whose rows changed.
    pub identities: Vec<(u32, String)>,
    /// Everything was reloaded (any identity may have changed).
    pub reloaded: bool,
    /// After a reload: which identities are stored now.
    pub known: Option<KnownIdentities>,
}

/// Brings `catalog` to `head` inside `txn`.
pub fn apply(
    handle: &Handle,
    txn: &Transaction<'_>,
    statements: &Statements,
    catalog: &mut Catalog,
    head: &Head,
) -> Result<CaughtUp, StoreError> {
    let from = i64::try_from(catalog.meta.last_applied).unwrap_or(i64::MAX);
    let rows = handle
        .block_on(txn.query(&statements.changes_since, &[&from]))
        .map_err(super::error)?;
    let mut previous = catalog.meta.last_applied;
    let mut logged = Vec::with_capacity(rows.len());
    let mut chained = true;
    for row in &rows {
        let revision: i64 = row.get(0);
        let before: i64 = row.get(1);
        if before.unsigned_abs() != previous {
            chained = false;
            break;
        }
        previous = revision.unsigned_abs();
        logged.push(decode::<LogRow>(row.get::<_, &[u8]>(2))?);
    }
    if !chained || previous != head.revision {
        tracing::info!(
            from = catalog.meta.last_applied,
            to = head.revision,
            "the change log does not reach back far enough; reloading the configuration"
        );
        *catalog = load(handle, txn, head)?;
        return Ok(CaughtUp {
            touched: catalog.environments.keys().copied().collect(),
            identities: Vec::new(),
            reloaded: true,
            known: Some(KnownIdentities::scan(handle, txn)?),
        });
    }
    let mut caught_up = CaughtUp::default();
    for row in logged {
        catalog.apply(&row.changes);
        caught_up.touched.extend(row.touched);
        caught_up.identities.extend(row.identities);
    }
    catalog.meta = head.meta.clone();
    Ok(caught_up)
}

/// The whole configuration as stored, at `head`.
pub fn load(handle: &Handle, txn: &Transaction<'_>, head: &Head) -> Result<Catalog, StoreError> {
    let rows = handle
        .block_on(txn.query("SELECT kind, id, value FROM burgee_records", &[]))
        .map_err(super::error)?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in &rows {
        let kind: i16 = row.get(0);
        let id: i64 = row.get(1);
        let id = u32::try_from(id)
            .map_err(|_| StoreError::Corrupt(format!("a record id {id} is out of range")))?;
        changes.push(write::record_change(kind, id, row.get(2))?);
    }
    // Replicas share one database and switch no command format on: they propose them all.
    let mut catalog = Catalog {
        command_format: crate::store::command::COMMAND_FORMAT,
        ..Catalog::default()
    };
    catalog.apply(&changes);
    let purges = handle
        .block_on(txn.query("SELECT environment_id FROM burgee_purges", &[]))
        .map_err(super::error)?;
    let mut pending = BTreeSet::new();
    for row in purges {
        let id: i64 = row.get(0);
        pending.insert(u32::try_from(id).map_err(|_| {
            StoreError::Corrupt(format!("a purge of environment {id} is out of range"))
        })?);
    }
    catalog.purges = std::sync::Arc::new(pending);
    catalog.index_credentials();
    catalog.meta = head.meta.clone();
    catalog.meta.last_applied = head.revision;
    Ok(catalog)
}
