//! Who hears of an environment's change: every real-time subscriber of that environment.
//!
//! Each environment has a watch channel holding its newest snapshot: a subscriber that is
//! slow sees the newest state, never a queue of stale ones, so a subscriber costs one
//! receiver whatever happens, and nothing is ever dropped that the newest state does not
//! include. A short history of recent snapshots lets a client that reconnects resume from
//! the revision it last saw.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::EnvironmentSnapshot;

/// Snapshots kept per environment for clients that resume.
const HISTORY: usize = 32;

#[derive(Default)]
pub struct Changes {
    inner: Mutex<Inner>,
    /// Set at shutdown: every stream ends, so the server can drain.
    closing: watch::Sender<bool>,
}

#[derive(Default)]
struct Inner {
    channels: HashMap<u32, watch::Sender<Arc<EnvironmentSnapshot>>>,
    /// Recent snapshots by environment, oldest first.
    history: HashMap<u32, VecDeque<Arc<EnvironmentSnapshot>>>,
}

/// One subscriber's view of an environment.
pub struct Subscription {
    pub snapshots: watch::Receiver<Arc<EnvironmentSnapshot>>,
    pub closing: watch::Receiver<bool>,
}

impl Changes {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells subscribers of every environment whose snapshot `current` replaced; channels
    /// of environments that are gone close (their streams end).
    pub fn publish(
        &self,
        previous: &HashMap<u32, Arc<EnvironmentSnapshot>>,
        current: &HashMap<u32, Arc<EnvironmentSnapshot>>,
    ) {
        let mut inner = self.inner();
        let Inner { channels, history } = &mut *inner;
        for (id, snapshot) in current {
            if previous
                .get(id)
                .is_some_and(|old| Arc::ptr_eq(old, snapshot))
            {
                continue;
            }
            let recent = history.entry(*id).or_default();
            recent.push_back(Arc::clone(snapshot));
            if recent.len() > HISTORY {
                recent.pop_front();
            }
            if let Some(channel) = channels.get(id) {
                channel.send_replace(Arc::clone(snapshot));
            }
        }
        channels.retain(|id, channel| current.contains_key(id) && !channel.is_closed());
        history.retain(|id, _| current.contains_key(id));
    }

    /// Subscribes to an environment; `current` (called under the lock that publications
    /// take, so no publication falls between it and the subscription) gives its newest
    /// snapshot. `None` when the environment does not exist.
    pub fn subscribe(
        &self,
        environment_id: u32,
        current: impl FnOnce() -> Option<Arc<EnvironmentSnapshot>>,
    ) -> Option<Subscription> {
        let mut inner = self.inner();
        let snapshot = current()?;
        let channel = inner
            .channels
            .entry(environment_id)
            .or_insert_with(|| watch::Sender::new(Arc::clone(&snapshot)));
        Some(Subscription {
            snapshots: channel.subscribe(),
            closing: self.closing.subscribe(),
        })
    }

    /// The snapshot of `environment_id` at `revision`, when it is still in the history.
    pub fn at_revision(
        &self,
        environment_id: u32,
        revision: u64,
    ) -> Option<Arc<EnvironmentSnapshot>> {
        self.inner()
            .history
            .get(&environment_id)?
            .iter()
            .find(|snapshot| snapshot.revision == revision)
            .cloned()
    }

    /// Ends every stream (at shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }
}
