//! What the store's handles and its writer thread share.

use std::sync::Mutex;

use arc_swap::{ArcSwap, ArcSwapOption};
use redb::Database;

use super::catalog::Catalog;
use super::database::Backend;
use super::health::Health;

pub struct Shared {
    /// `None` while the writer reopens the file after a fault.
    pub db: ArcSwapOption<Database>,
    /// The published (durable) catalog.
    pub catalog: ArcSwap<Catalog>,
    pub health: Health,
    /// Wakes the background purge of deleted environments.
    pub purge_wakeup: tokio::sync::Notify,
    pub backend: Backend,
    /// The longest batch since the process started, in seconds (the longest writer stall).
    longest_batch: Mutex<f64>,
}

impl Shared {
    pub fn new(
        db: std::sync::Arc<Database>,
        catalog: std::sync::Arc<Catalog>,
        backend: Backend,
    ) -> Self {
        Self {
            db: ArcSwapOption::from(Some(db)),
            catalog: ArcSwap::from(catalog),
            health: Health::default(),
            purge_wakeup: tokio::sync::Notify::new(),
            backend,
            longest_batch: Mutex::new(0.0),
        }
    }

    pub fn record_batch(&self, seconds: f64) {
        if let Ok(mut longest) = self.longest_batch.lock()
            && seconds > *longest
        {
            *longest = seconds;
            metrics::gauge!("burgee_store_longest_batch_seconds").set(seconds);
        }
    }
}
