//! Writing a change set to PostgreSQL: collapsed to the last change of each row, then one
//! `UNNEST` statement per table and kind of change (a bulk removal of thousands of rows is
//! a handful of statements, not thousands).

use std::collections::BTreeMap;

use tokio_postgres::Transaction;

use super::statements::Statements;
use crate::store::StoreError;
use crate::store::changes::Change;
use crate::store::codec::{decode, encode};

/// The kind number of a catalog record in `burgee_records`.
pub fn record_kind(change: &Change) -> Option<(i16, u32, Option<Vec<u8>>)> {
    fn row<T: serde::Serialize>(
        kind: i16,
        id: u32,
        value: Option<&T>,
    ) -> Option<(i16, u32, Option<Vec<u8>>)> {
        // Encoding a record the state machine built cannot fail; a failure shows as a
        // missing row kind, which `Plan::add` reports.
        let Ok(value) = value.map(encode).transpose() else {
            return None;
        };
        Some((kind, id, value))
    }
    match change {
        Change::Organisation(id, v) => row(0, *id, v.as_ref()),
        Change::Project(id, v) => row(1, *id, v.as_ref()),
        Change::Environment(id, v) => row(2, *id, v.as_ref()),
        Change::Feature(id, v) => row(3, *id, v.as_ref()),
        Change::Segment(id, v) => row(4, *id, v.as_ref()),
        Change::State(id, v) => row(5, *id, v.as_ref()),
        Change::ServerKey(id, v) => row(6, *id, v.as_ref()),
        Change::Token(id, v) => row(7, *id, v.as_ref()),
        Change::User(id, v) => row(8, *id, v.as_ref()),
        Change::Team(id, v) => row(9, *id, v.as_ref()),
        Change::Role(id, v) => row(10, *id, v.as_ref()),
        Change::Grant(id, v) => row(11, *id, v.as_ref()),
        Change::Session(id, v) => row(12, *id, v.as_ref()),
        Change::FeatureLabels(id, v) => row(13, *id, v.as_ref()),
        Change::Audit(..)
        | Change::CommandFormat(..)
        | Change::Purge(..)
        | Change::Identity { .. }
        | Change::Trait { .. }
        | Change::Evaluation { .. } => None,
    }
}

/// A stored catalog record as the change that puts it in a catalog.
pub fn record_change(kind: i16, id: u32, value: &[u8]) -> Result<Change, StoreError> {
    Ok(match kind {
        0 => Change::Organisation(id, Some(decode(value)?)),
        1 => Change::Project(id, Some(decode(value)?)),
        2 => Change::Environment(id, Some(decode(value)?)),
        3 => Change::Feature(id, Some(decode(value)?)),
        4 => Change::Segment(id, Some(decode(value)?)),
        5 => Change::State(id, Some(decode(value)?)),
        6 => Change::ServerKey(id, Some(decode(value)?)),
        7 => Change::Token(id, Some(decode(value)?)),
        8 => Change::User(id, Some(decode(value)?)),
        9 => Change::Team(id, Some(decode(value)?)),
        10 => Change::Role(id, Some(decode(value)?)),
        11 => Change::Grant(id, Some(decode(value)?)),
        12 => Change::Session(id, Some(decode(value)?)),
        13 => Change::FeatureLabels(id, Some(decode(value)?)),
        other => {
            return Err(StoreError::Corrupt(format!(
                "burgee_records holds a row of unknown kind {other}"
            )));
        }
    })
}

type IdentityKey = (i64, Vec<u8>);
type TraitKey = (i64, Vec<u8>, Vec<u8>);
type EvaluationKey = (i64, i64, i64);

/// A change set collapsed to one final change per row.
#[derive(Default)]
struct Plan {
    records: BTreeMap<(i16, i64), Option<Vec<u8>>>,
    identities: BTreeMap<IdentityKey, Option<Vec<u8>>>,
    traits: BTreeMap<TraitKey, Option<Vec<u8>>>,
    audit: BTreeMap<i64, Option<Vec<u8>>>,
    purges: BTreeMap<i64, bool>,
    evaluations: BTreeMap<EvaluationKey, Option<Vec<u8>>>,
}

impl Plan {
    fn add(&mut self, change: &Change) -> Result<(), StoreError> {
        match change {
            Change::Audit(seq, entry) => {
                let seq = i64::try_from(*seq)
                    .map_err(|_| StoreError::Internal("an audit sequence overflows".into()))?;
                let value = entry.as_deref().map(encode).transpose()?;
                self.audit.insert(seq, value);
            }
            // One database serves every replica: no cluster of versions to wait for.
            Change::CommandFormat(_) => {}
            Change::Purge(id, pending) => {
                self.purges.insert(i64::from(*id), *pending);
            }
            Change::Identity {
                environment_id,
                identifier,
                record,
            } => {
                let key = (i64::from(*environment_id), identifier.as_bytes().to_vec());
                self.identities
                    .insert(key, record.as_ref().map(encode).transpose()?);
            }
            Change::Trait {
                environment_id,
                identifier,
                key,
                value,
            } => {
                let row = (
                    i64::from(*environment_id),
                    identifier.as_bytes().to_vec(),
                    key.as_bytes().to_vec(),
                );
                self.traits
                    .insert(row, value.as_ref().map(encode).transpose()?);
            }
            Change::Evaluation {
                environment_id,
                feature_id,
                hour,
                record,
            } => {
                let key = (
                    i64::from(*environment_id),
                    i64::from(*feature_id),
                    i64::from(*hour),
                );
                self.evaluations
                    .insert(key, record.as_ref().map(encode).transpose()?);
            }
            record => {
                let (kind, id, value) = record_kind(record).ok_or_else(|| {
                    StoreError::Encode(format!("cannot encode the record of {record:?}"))
                })?;
                self.records.insert((kind, i64::from(id)), value);
            }
        }
        Ok(())
    }
}

/// Writes `changes` inside `txn`; returns how many identities the write added (negative:
/// removed).
pub async fn write(
    txn: &Transaction<'_>,
    statements: &Statements,
    changes: &[Change],
) -> Result<i64, StoreError> {
    if changes.is_empty() {
        return Ok(0);
    }
    let mut plan = Plan::default();
    for change in changes {
        plan.add(change)?;
    }
    let (put, gone) = split(plan.records);
    if !put.is_empty() {
        let (kinds, ids): (Vec<i16>, Vec<i64>) = put.iter().map(|((k, i), _)| (*k, *i)).unzip();
        let values: Vec<&[u8]> = put.iter().map(|(_, v)| v.as_slice()).collect();
        txn.execute(&statements.put_records, &[&kinds, &ids, &values])
            .await
            .map_err(super::error)?;
    }
    if !gone.is_empty() {
        let (kinds, ids): (Vec<i16>, Vec<i64>) = gone.iter().copied().unzip();
        txn.execute(&statements.delete_records, &[&kinds, &ids])
            .await
            .map_err(super::error)?;
    }
    let mut added = 0i64;
    let (put, gone) = split(plan.identities);
    if !put.is_empty() {
        let environments: Vec<i64> = put.iter().map(|((e, _), _)| *e).collect();
        let identifiers: Vec<&[u8]> = put.iter().map(|((_, i), _)| i.as_slice()).collect();
        let values: Vec<&[u8]> = put.iter().map(|(_, v)| v.as_slice()).collect();
        let row = txn
            .query_one(
                &statements.put_identities,
                &[&environments, &identifiers, &values],
            )
            .await
            .map_err(super::error)?;
        added += row.get::<_, i64>(0);
    }
    if !gone.is_empty() {
        let environments: Vec<i64> = gone.iter().map(|(e, _)| *e).collect();
        let identifiers: Vec<&[u8]> = gone.iter().map(|(_, i)| i.as_slice()).collect();
        let removed = txn
            .execute(
                &statements.delete_identities,
                &[&environments, &identifiers],
            )
            .await
            .map_err(super::error)?;
        added -= i64::try_from(removed).unwrap_or(i64::MAX);
    }
    let (put, gone) = split(plan.traits);
    if !put.is_empty() {
        let environments: Vec<i64> = put.iter().map(|((e, _, _), _)| *e).collect();
        let identifiers: Vec<&[u8]> = put.iter().map(|((_, i, _), _)| i.as_slice()).collect();
        let keys: Vec<&[u8]> = put.iter().map(|((_, _, k), _)| k.as_slice()).collect();
        let values: Vec<&[u8]> = put.iter().map(|(_, v)| v.as_slice()).collect();
        txn.execute(
            &statements.put_traits,
            &[&environments, &identifiers, &keys, &values],
        )
        .await
        .map_err(super::error)?;
    }
    if !gone.is_empty() {
        let environments: Vec<i64> = gone.iter().map(|(e, _, _)| *e).collect();
        let identifiers: Vec<&[u8]> = gone.iter().map(|(_, i, _)| i.as_slice()).collect();
        let keys: Vec<&[u8]> = gone.iter().map(|(_, _, k)| k.as_slice()).collect();
        txn.execute(
            &statements.delete_traits,
            &[&environments, &identifiers, &keys],
        )
        .await
        .map_err(super::error)?;
    }
    let (put, gone) = split(plan.audit);
    if !put.is_empty() {
        let seqs: Vec<i64> = put.iter().map(|(s, _)| *s).collect();
        let values: Vec<&[u8]> = put.iter().map(|(_, v)| v.as_slice()).collect();
        txn.execute(&statements.put_audit, &[&seqs, &values])
            .await
            .map_err(super::error)?;
    }
    if !gone.is_empty() {
        txn.execute(&statements.delete_audit, &[&gone])
            .await
            .map_err(super::error)?;
    }
    let (pending, done): (Vec<_>, Vec<_>) = plan.purges.into_iter().partition(|(_, p)| *p);
    if !pending.is_empty() {
        let ids: Vec<i64> = pending.into_iter().map(|(id, _)| id).collect();
        txn.execute(&statements.put_purges, &[&ids])
            .await
            .map_err(super::error)?;
    }
    if !done.is_empty() {
        let ids: Vec<i64> = done.into_iter().map(|(id, _)| id).collect();
        txn.execute(&statements.delete_purges, &[&ids])
            .await
            .map_err(super::error)?;
    }
    write_evaluations(txn, statements, plan.evaluations).await?;
    Ok(added)
}

async fn write_evaluations(
    txn: &Transaction<'_>,
    statements: &Statements,
    rows: BTreeMap<EvaluationKey, Option<Vec<u8>>>,
) -> Result<(), StoreError> {
    type Columns = (Vec<i64>, Vec<i64>, Vec<i64>);
    fn columns<'k>(keys: impl Iterator<Item = &'k EvaluationKey>) -> Columns {
        let mut columns = Columns::default();
        for (environment, feature, hour) in keys {
            columns.0.push(*environment);
            columns.1.push(*feature);
            columns.2.push(*hour);
        }
        columns
    }
    let (put, gone) = split(rows);
    if !put.is_empty() {
        let (environments, features, hours) = columns(put.iter().map(|(k, _)| k));
        let values: Vec<&[u8]> = put.iter().map(|(_, v)| v.as_slice()).collect();
        txn.execute(
            &statements.put_evaluations,
            &[&environments, &features, &hours, &values],
        )
        .await
        .map_err(super::error)?;
    }
    if !gone.is_empty() {
        let (environments, features, hours) = columns(gone.iter());
        txn.execute(
            &statements.delete_evaluations,
            &[&environments, &features, &hours],
        )
        .await
        .map_err(super::error)?;
    }
    Ok(())
}

/// Upserts (with their values) and removals of a collapsed table.
fn split<K>(rows: BTreeMap<K, Option<Vec<u8>>>) -> (Vec<(K, Vec<u8>)>, Vec<K>) {
    let mut put = Vec::new();
    let mut gone = Vec::new();
    for (key, value) in rows {
        match value {
            Some(value) => put.push((key, value)),
            None => gone.push(key),
        }
    }
    (put, gone)
}
