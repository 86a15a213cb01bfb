//! Which identities may exist, per environment, held in memory so that an SDK identifying a
//! user nobody has stored yet (the common case for anonymous and new users) is answered
//! without a database round trip, as the embedded store answers it from its own file.
//!
//! Built by one scan at start (and after a reload), in the same snapshot as the
//! configuration, then extended with every identity a batch writes — this replica's before
//! it answers, the other replicas' when it catches up with them, exactly when flag changes
//! arrive. Deletions are not removed (a Bloom filter cannot forget): a deleted identity is a
//! false positive and is read from the database, which finds nothing.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::{PoisonError, RwLock};

use futures_util::TryStreamExt;
use tokio::runtime::Handle;
use tokio_postgres::Transaction;

use super::bloom::{Bloom, Hashes};
use crate::store::StoreError;

#[derive(Default)]
pub struct KnownIdentities {
    environments: RwLock<HashMap<u32, Bloom>>,
}

impl KnownIdentities {
    /// `false` when no identity `identifier` is stored in the environment.
    pub fn may_exist(&self, environment_id: u32, identifier: &str) -> bool {
        let environments = self
            .environments
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        environments
            .get(&environment_id)
            .is_some_and(|filter| filter.may_contain(Hashes::of(identifier)))
    }

    /// Records identities a batch wrote.
    pub fn add<'k>(&self, keys: impl IntoIterator<Item = &'k (u32, String)>) {
        let mut environments = self
            .environments
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for (environment_id, identifier) in keys {
            environments
                .entry(*environment_id)
                .or_insert_with(|| Bloom::with_capacity(0))
                .insert(Hashes::of(identifier.as_str()));
        }
    }

    /// Takes what a fresh scan found.
    pub fn replace(&self, scanned: Self) {
        let scanned = scanned
            .environments
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        *self
            .environments
            .write()
            .unwrap_or_else(PoisonError::into_inner) = scanned;
    }

    /// Bytes the filters hold.
    pub fn bytes(&self) -> usize {
        self.environments
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(Bloom::bytes)
            .sum()
    }

    /// Every stored identity, read in `txn` (streamed: only their hashes are held while the
    /// filters are sized).
    pub fn scan(handle: &Handle, txn: &Transaction<'_>) -> Result<Self, StoreError> {
        let hashes = handle.block_on(async {
            let rows = txn
                .query_raw(
                    "SELECT environment_id, identifier FROM burgee_identities",
                    std::iter::empty::<i64>(),
                )
                .await?;
            let mut rows = pin!(rows);
            let mut hashes: HashMap<u32, Vec<Hashes>> = HashMap::new();
            while let Some(row) = rows.try_next().await? {
                let environment_id: i64 = row.get(0);
                let identifier: &[u8] = row.get(1);
                // The filter hashes identifiers as text; stored ones are always UTF-8.
                let identifier = String::from_utf8_lossy(identifier);
                hashes
                    .entry(u32::try_from(environment_id).unwrap_or(u32::MAX))
                    .or_default()
                    .push(Hashes::of(identifier.as_ref()));
            }
            Ok::<_, tokio_postgres::Error>(hashes)
        });
        let hashes = hashes.map_err(super::error)?;
        let environments = hashes
            .into_iter()
            .map(|(environment_id, members)| {
                let mut filter = Bloom::with_capacity(members.len());
                for member in members {
                    filter.insert(member);
                }
                (environment_id, filter)
            })
            .collect();
        Ok(Self {
            environments: RwLock::new(environments),
        })
    }
}
