//! The buffered change set: every table change a command makes, catalog records and identity
//! rows alike, as values. The state machine only ever appends to a change set; writing it to
//! redb (and folding it into the catalog) happens in one place, so a replay, a Raft snapshot
//! or another storage adapter can reuse exactly what the state machine decided.

use redb::{Table, WriteTransaction};

use super::audit::AuditRecord;
use super::codec::encode;
use super::error::StoreError;
use super::evaluations::EvaluationRecord;
use super::people::{
    ApiTokenRecord, GrantRecord, RoleRecord, SessionRecord, TeamRecord, UserRecord,
};
use super::records::{
    EnvironmentRecord, FeatureLabelsRecord, FeatureRecord, FeatureStateRecord, IdentityRecord,
    OrganisationRecord, ProjectRecord, SegmentRecord, ServerKeyRecord, StoredValue,
};
use super::tables;

/// One change: an upsert (`Some`) or a removal (`None`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Change {
    Organisation(u32, Option<OrganisationRecord>),
    Project(u32, Option<ProjectRecord>),
    Environment(u32, Option<EnvironmentRecord>),
    Feature(u32, Option<FeatureRecord>),
    Segment(u32, Option<SegmentRecord>),
    State(u32, Option<FeatureStateRecord>),
    ServerKey(u32, Option<ServerKeyRecord>),
    Token(u32, Option<ApiTokenRecord>),
    User(u32, Option<UserRecord>),
    Team(u32, Option<TeamRecord>),
    Role(u32, Option<RoleRecord>),
    Grant(u32, Option<GrantRecord>),
    Session(u32, Option<SessionRecord>),
    /// An audit entry appended (`Some`) or pruned (`None`), by sequence number.
    Audit(u64, Option<Box<AuditRecord>>),
    /// An environment whose identity rows are being removed in the background (`true`), or
    /// whose removal finished (`false`).
    Purge(u32, bool),
    /// The cluster switched on a newer command format (every member reads it).
    CommandFormat(u16),
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
    /// A feature's evaluation counts of one hour (or its summary row).
    Evaluation {
        environment_id: u32,
        feature_id: u32,
        hour: u32,
        record: Option<EvaluationRecord>,
    },
    /// A feature's tags and archive mark.
    FeatureLabels(u32, Option<FeatureLabelsRecord>),
}

/// Writes `changes` into `txn`, in order. Each table is opened once per call (a bulk
/// removal writes thousands of rows of the same two tables).
pub fn write(txn: &WriteTransaction, changes: &[Change]) -> Result<(), StoreError> {
    let mut catalog: [Option<Table<'_, u32, &[u8]>>; 14] = Default::default();
    let mut audit = None;
    let mut purges = None;
    let mut identities = None;
    let mut traits = None;
    let mut evaluations = None;
    for change in changes {
        match change {
            Change::Organisation(id, v) => {
                put(txn, &mut catalog[0], tables::ORGANISATIONS, *id, v.as_ref())?;
            }
            Change::Project(id, v) => put(txn, &mut catalog[1], tables::PROJECTS, *id, v.as_ref())?,
            Change::Environment(id, v) => {
                put(txn, &mut catalog[2], tables::ENVIRONMENTS, *id, v.as_ref())?;
            }
            Change::Feature(id, v) => put(txn, &mut catalog[3], tables::FEATURES, *id, v.as_ref())?,
            Change::Segment(id, v) => put(txn, &mut catalog[4], tables::SEGMENTS, *id, v.as_ref())?,
            Change::State(id, v) => put(
                txn,
                &mut catalog[5],
                tables::FEATURE_STATES,
                *id,
                v.as_ref(),
            )?,
            Change::ServerKey(id, v) => {
                put(txn, &mut catalog[6], tables::SERVER_KEYS, *id, v.as_ref())?;
            }
            Change::Token(id, v) => put(txn, &mut catalog[7], tables::API_TOKENS, *id, v.as_ref())?,
            Change::User(id, v) => put(txn, &mut catalog[8], tables::USERS, *id, v.as_ref())?,
            Change::Team(id, v) => put(txn, &mut catalog[9], tables::TEAMS, *id, v.as_ref())?,
            Change::Role(id, v) => put(txn, &mut catalog[10], tables::ROLES, *id, v.as_ref())?,
            Change::Grant(id, v) => put(txn, &mut catalog[11], tables::GRANTS, *id, v.as_ref())?,
            Change::Session(id, v) => {
                put(txn, &mut catalog[12], tables::SESSIONS, *id, v.as_ref())?;
            }
            Change::FeatureLabels(id, v) => {
                put(
                    txn,
                    &mut catalog[13],
                    tables::FEATURE_LABELS,
                    *id,
                    v.as_ref(),
                )?;
            }
            Change::Audit(seq, entry) => {
                let table = opened(&mut audit, || txn.open_table(tables::AUDIT))?;
                match entry {
                    Some(entry) => {
                        table.insert(*seq, encode(entry.as_ref())?.as_slice())?;
                    }
                    None => {
                        table.remove(*seq)?;
                    }
                }
            }
            Change::CommandFormat(format) => {
                txn.open_table(tables::META)?
                    .insert(tables::COMMAND_FORMAT_KEY, encode(format)?.as_slice())?;
            }
            Change::Purge(id, pending) => {
                let table = opened(&mut purges, || txn.open_table(tables::PURGES))?;
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
                let table = opened(&mut identities, || txn.open_table(tables::IDENTITIES))?;
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
                let table = opened(&mut traits, || txn.open_table(tables::TRAITS))?;
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
            Change::Evaluation {
                environment_id,
                feature_id,
                hour,
                record,
            } => {
                let table = opened(&mut evaluations, || txn.open_table(tables::EVALUATIONS))?;
                let key = (*environment_id, *feature_id, *hour);
                match record {
                    Some(record) => {
                        table.insert(key, encode(record)?.as_slice())?;
                    }
                    None => {
                        table.remove(key)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The table in `slot`, opened on first use.
fn opened<T>(
    slot: &mut Option<T>,
    open: impl FnOnce() -> Result<T, redb::TableError>,
) -> Result<&mut T, StoreError> {
    if slot.is_none() {
        *slot = Some(open()?);
    }
    slot.as_mut()
        .ok_or_else(|| StoreError::Internal("a table slot is empty".into()))
}

/// Upserts or removes a catalog record, opening its table once per [`write`].
fn put<'t, T: serde::Serialize>(
    txn: &'t WriteTransaction,
    slot: &mut Option<Table<'t, u32, &'static [u8]>>,
    definition: redb::TableDefinition<'static, u32, &'static [u8]>,
    id: u32,
    value: Option<&T>,
) -> Result<(), StoreError> {
    let table = opened(slot, || txn.open_table(definition))?;
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
