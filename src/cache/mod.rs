//! Compiled, immutable snapshots per environment, swapped atomically after each change.
//! SDK requests read only these (plus stored traits for identities): no locks, no storage.

pub mod document;
mod snapshot;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

pub use snapshot::{EnvironmentSnapshot, FeatureView};

use crate::store::Catalog;

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
    /// SHA-256 of active server keys → environment.
    server_keys: ArcSwap<HashMap<[u8; 32], u32>>,
}

impl Snapshots {
    /// Rebuilds the snapshots of `touched` environments (all when `None`) and the key index.
    pub fn refresh(&self, catalog: &Catalog, touched: Option<&BTreeSet<u32>>) {
        let started = std::time::Instant::now();
        let mut environments = HashMap::clone(&self.environments.load());
        match touched {
            None => {
                environments.clear();
                for id in catalog.environments.keys() {
                    if let Some(snapshot) = EnvironmentSnapshot::build(catalog, *id) {
                        environments.insert(*id, Arc::new(snapshot));
                    }
                }
            }
            Some(ids) => {
                for id in ids {
                    match EnvironmentSnapshot::build(catalog, *id) {
                        Some(snapshot) => environments.insert(*id, Arc::new(snapshot)),
                        None => environments.remove(id),
                    };
                }
            }
        }
        self.environments.store(Arc::new(environments));
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
                .map(|k| (k.key_hash, k.environment_id))
                .collect(),
        ));
        metrics::histogram!("burgee_snapshot_rebuild_seconds")
            .record(started.elapsed().as_secs_f64());
    }

    /// The environment an SDK key opens, and the key's kind.
    pub fn by_key(&self, key: &str) -> Option<(Arc<EnvironmentSnapshot>, KeyKind)> {
        let (id, kind) = if key.starts_with("ser.") {
            let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
            (*self.server_keys.load().get(&hash)?, KeyKind::Server)
        } else {
            (*self.client_keys.load().get(key)?, KeyKind::Client)
        };
        Some((Arc::clone(self.environments.load().get(&id)?), kind))
    }

    pub fn environment(&self, id: u32) -> Option<Arc<EnvironmentSnapshot>> {
        self.environments.load().get(&id).cloned()
    }
}
