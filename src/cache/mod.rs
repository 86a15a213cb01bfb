//! Compiled, immutable snapshots per environment, swapped atomically after each change.
//! SDK requests read only these (plus stored traits for identities): no locks, no storage.

pub mod changes;
pub mod document;
pub mod evaluations;
pub mod representation;
mod snapshot;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

pub use snapshot::{EnvironmentSnapshot, FeatureView};

use crate::store::Catalog;

/// What a server-side key opens: its environment, and when it stops working.
type ServerKeyEntry = (u32, Option<i64>);

/// Who an SDK key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Client,
    Server,
}

/// All environments' snapshots and the key index.
#[derive(Default)]
pub struct Snapshots {
    environments: ArcSwap<HashMap<u32, Arc<EnvironmentSnapshot>>>,
    client_keys: ArcSwap<HashMap<String, u32>>,
    /// Active server-side keys by SHA-256: (environment, expiry).
    server_keys: ArcSwap<HashMap<[u8; 32], ServerKeyEntry>>,
    /// The catalog maps the key indexes were built from: most batches (identify calls)
    /// change neither, and then the indexes are not rebuilt.
    indexed: std::sync::Mutex<Option<KeySources>>,
    /// Real-time subscribers, told of every environment a publication replaced.
    pub changes: changes::Changes,
    /// Evaluation counters of replaced snapshots, still to be drained.
    retired_evaluations: evaluations::Retired,
}

type KeySources = (
    Arc<std::collections::BTreeMap<u32, crate::store::records::EnvironmentRecord>>,
    Arc<std::collections::BTreeMap<u32, crate::store::records::ServerKeyRecord>>,
);

/// Snapshots built for a batch, not yet visible.
#[derive(Clone)]
pub struct StagedSnapshots(Arc<HashMap<u32, Arc<EnvironmentSnapshot>>>);

impl crate::store::Views for Snapshots {
    type Staged = StagedSnapshots;

    fn staged(&self) -> StagedSnapshots {
        StagedSnapshots(self.environments.load_full())
    }

    fn stage(&self, staged: &mut StagedSnapshots, catalog: &Catalog, touched: &BTreeSet<u32>) {
        let started = std::time::Instant::now();
        let environments = Arc::make_mut(&mut staged.0);
        for id in touched {
            let previous = match EnvironmentSnapshot::build(catalog, *id) {
                Some(mut snapshot) => {
                    if let Some(previous) = environments.get(id)
                        && previous.evaluations.same_features(&snapshot.evaluations)
                    {
                        snapshot.evaluations = Arc::clone(&previous.evaluations);
                    }
                    environments.insert(*id, Arc::new(snapshot))
                }
                None => environments.remove(id),
            };
            if let Some(previous) = previous
                && !environments
                    .get(id)
                    .is_some_and(|s| Arc::ptr_eq(&s.evaluations, &previous.evaluations))
            {
                self.retired_evaluations
                    .retire(Arc::clone(&previous.evaluations));
            }
        }
        metrics::histogram!("burgee_snapshot_rebuild_seconds")
            .record(started.elapsed().as_secs_f64());
    }

    fn publish(&self, staged: StagedSnapshots, catalog: &Catalog) {
        let current = Arc::clone(&staged.0);
        let previous = self.environments.swap(staged.0);
        if !Arc::ptr_eq(&previous, &current) {
            self.changes.publish(&previous, &current);
        }
        let mut indexed = self
            .indexed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let unchanged = indexed.as_ref().is_some_and(|(environments, keys)| {
            Arc::ptr_eq(environments, &catalog.environments)
                && Arc::ptr_eq(keys, &catalog.server_keys)
        });
        if unchanged {
            return;
        }
        *indexed = Some((
            Arc::clone(&catalog.environments),
            Arc::clone(&catalog.server_keys),
        ));
        self.client_keys.store(Arc::new(
            catalog
                .environments
                .values()
                .map(|e| (e.client_key.clone(), e.id))
                .collect(),
        ));
        self.server_keys.store(Arc::new(
            catalog
                .server_keys
                .values()
                .filter(|k| k.active)
                .map(|k| (k.key_hash, (k.environment_id, k.expires_at)))
                .collect(),
        ));
    }
}

impl Snapshots {
    /// The environment an SDK key opens, and the key's kind.
    pub fn by_key(&self, key: &str) -> Option<(Arc<EnvironmentSnapshot>, KeyKind)> {
        let (id, kind) = if key.starts_with("ser.") {
            let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
            let (id, expires_at) = *self.server_keys.load().get(&hash)?;
            if expires_at.is_some_and(|at| at <= crate::clock::now_millis()) {
                return None;
            }
            (id, KeyKind::Server)
        } else {
            (*self.client_keys.load().get(key)?, KeyKind::Client)
        };
        Some((Arc::clone(self.environments.load().get(&id)?), kind))
    }

    /// Subscribes to environment `id`'s changes.
    pub fn subscribe(&self, id: u32) -> Option<changes::Subscription> {
        self.changes.subscribe(id, || self.environment(id))
    }

    pub fn environment(&self, id: u32) -> Option<Arc<EnvironmentSnapshot>> {
        self.environments.load().get(&id).cloned()
    }

    /// Every evaluation counted since the last drain, leaving zeros.
    pub fn drain_evaluations(&self) -> Vec<crate::store::evaluations::EvaluationCount> {
        let mut counts = Vec::new();
        for snapshot in self.environments.load().values() {
            snapshot.evaluations.drain(&mut counts);
        }
        self.retired_evaluations.drain(&mut counts);
        counts
    }

    /// Puts back counts that could not be written, into the current counters of their
    /// environment (dropped if it or the feature is gone).
    pub fn restore_evaluations(&self, counts: &[crate::store::evaluations::EvaluationCount]) {
        let environments = self.environments.load();
        for count in counts {
            if let Some(snapshot) = environments.get(&count.environment_id) {
                snapshot.evaluations.restore(count);
            }
        }
    }
}
