//! Identities (and the knowledge that one does not exist) this replica read recently, so an
//! SDK that identifies the same users again is served from memory, as in the embedded store.
//!
//! The writer invalidates what each batch touched (its own, and the other replicas' from the
//! change log) before it answers or publishes, and clears everything when it reloads. Every
//! invalidation advances a generation; a read that raced one (it may hold the value from
//! before) is not cached, so the cache never brings back an overwritten identity. Another
//! replica's change reaches this cache when this replica catches up with it, as flag
//! changes do.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use crate::store::StoredIdentity;

/// Identities kept at most (the oldest go first).
const CAPACITY: usize = 100_000;

type Key = (u32, String);

#[derive(Default)]
pub struct IdentityCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    /// By environment, then identifier (looked up by `&str`: no allocation per SDK call).
    entries: HashMap<u32, HashMap<String, Option<StoredIdentity>>>,
    len: usize,
    /// Insertion order, for eviction (may name entries removed since).
    order: VecDeque<Key>,
}

impl IdentityCache {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Some(found)` when known (`found` is `None` for an identity that does not exist), and
    /// the generation to hand to [`IdentityCache::insert`] after a miss.
    pub fn get(
        &self,
        environment_id: u32,
        identifier: &str,
    ) -> (Option<Option<StoredIdentity>>, u64) {
        let inner = self.inner();
        let found = inner
            .entries
            .get(&environment_id)
            .and_then(|identities| identities.get(identifier))
            .cloned();
        (found, inner.generation)
    }

    /// Keeps what a read found, unless an invalidation happened since `generation`.
    pub fn insert(
        &self,
        generation: u64,
        environment_id: u32,
        identifier: &str,
        found: Option<StoredIdentity>,
    ) {
        let mut inner = self.inner();
        if inner.generation != generation {
            return;
        }
        let fresh = inner
            .entries
            .entry(environment_id)
            .or_default()
            .insert(identifier.to_owned(), found)
            .is_none();
        if fresh {
            inner.len += 1;
            inner
                .order
                .push_back((environment_id, identifier.to_owned()));
        }
        while inner.len > CAPACITY {
            let Some((environment_id, identifier)) = inner.order.pop_front() else {
                break;
            };
            inner.remove(environment_id, &identifier);
        }
    }

    /// Forgets the identities a batch changed.
    pub fn invalidate<'k>(&self, keys: impl IntoIterator<Item = &'k (u32, String)>) {
        let mut inner = self.inner();
        inner.generation += 1;
        for (environment_id, identifier) in keys {
            inner.remove(*environment_id, identifier);
        }
    }

    /// Forgets everything (after a reload).
    pub fn clear(&self) {
        let mut inner = self.inner();
        inner.generation += 1;
        inner.entries.clear();
        inner.order.clear();
        inner.len = 0;
    }
}

impl Inner {
    fn remove(&mut self, environment_id: u32, identifier: &str) {
        if let Some(identities) = self.entries.get_mut(&environment_id)
            && identities.remove(identifier).is_some()
        {
            self.len -= 1;
        }
    }
}
