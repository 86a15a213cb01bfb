//! The buffered change set: every table change a command makes, catalog records and identity
//! rows alike, as values. The state machine only ever appends to a change set; writing it to
//! redb (and folding it into the catalog) happens in one place, so a replay, a Raft snapshot
//! or another storage adapter can reuse exactly what the state machine decided.

use redb::WriteTransaction;

use super::codec::encode;
use super::error::StoreError;
use super::records::{
    ApiTokenRecord, EnvironmentRecord, FeatureRecord, FeatureStateRecord, IdentityRecord,
    OrganisationRecord, ProjectRecord, SegmentRecord, ServerKeyRecord, StoredValue,
};
use super::tables;

/// One change: an upsert (`Some`) or a removal (`None`).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Organisation(u32, Option<OrganisationRecord>),
    Project(u32, Option<ProjectRecord>),
    Environment(u32, Option<EnvironmentRecord>),
    Feature(u32, Option<FeatureRecord>),
    Segment(u32, Option<SegmentRecord>),
    State(u32, Option<FeatureStateRecord>),
    ServerKey(u32, Option<ServerKeyRecord>),
    Token(u32, Option<ApiTokenRecord>),
    /// An environment whose identity rows are being removed in the background (`true`), or
    /// whose removal finished (`false`).
    Purge(u32, bool),
    Identity {
        environment_id: u32,
        identifier: String,
        record: Option<IdentityRecord>,
    },
    Trait {
        environment_id: u32,
        identifier: String,
        key: String,
        value: Option<StoredValue>,
    },
}

impl Change {
    /// Whether the change is a row of the identity tables (not held in the catalog).
    pub fn is_identity_row(&self) -> bool {
        matches!(self, Self::Identity { .. } | Self::Trait { .. })
    }
}

/// Writes `changes` into `txn`, in order.
pub fn write(txn: &WriteTransaction, changes: &[Change]) -> Result<(), StoreError> {
    for change in changes {
        match change {
            Change::Organisation(id, v) => put(txn, tables::ORGANISATIONS, *id, v.as_ref())?,
            Change::Project(id, v) => put(txn, tables::PROJECTS, *id, v.as_ref())?,
            Change::Environment(id, v) => put(txn, tables::ENVIRONMENTS, *id, v.as_ref())?,
            Change::Feature(id, v) => put(txn, tables::FEATURES, *id, v.as_ref())?,
            Change::Segment(id, v) => put(txn, tables::SEGMENTS, *id, v.as_ref())?,
            Change::State(id, v) => put(txn, tables::FEATURE_STATES, *id, v.as_ref())?,
            Change::ServerKey(id, v) => put(txn, tables::SERVER_KEYS, *id, v.as_ref())?,
            Change::Token(id, v) => put(txn, tables::API_TOKENS, *id, v.as_ref())?,
            Change::Purge(id, pending) => {
                let mut table = txn.open_table(tables::PURGES)?;
                if *pending {
                    table.insert(*id, ())?;
                } else {
                    table.remove(*id)?;
                }
            }
            Change::Identity {
                environment_id,
                identifier,
                record,
            } => {
                let mut table = txn.open_table(tables::IDENTITIES)?;
                let key = (*environment_id, identifier.as_str());
                match record {
                    Some(record) => {
                        table.insert(key, encode(record)?.as_slice())?;
                    }
                    None => {
                        table.remove(key)?;
                    }
                }
            }
            Change::Trait {
                environment_id,
                identifier,
                key,
                value,
            } => {
                let mut table = txn.open_table(tables::TRAITS)?;
                let row = (*environment_id, identifier.as_str(), key.as_str());
                match value {
                    Some(value) => {
                        table.insert(row, encode(value)?.as_slice())?;
                    }
                    None => {
                        table.remove(row)?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn put<T: serde::Serialize>(
    txn: &WriteTransaction,
    table: redb::TableDefinition<u32, &[u8]>,
    id: u32,
    value: Option<&T>,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(table)?;
    match value {
        Some(v) => {
            table.insert(id, encode(v)?.as_slice())?;
        }
        None => {
            table.remove(id)?;
        }
    }
    Ok(())
}
