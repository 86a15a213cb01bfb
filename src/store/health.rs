//! Whether the store can take writes, for readiness and liveness probes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// The writer's health, shared with the probes.
#[derive(Debug)]
pub struct Health {
    /// Why writes fail now, if they do.
    unavailable: Mutex<Option<String>>,
    /// False once the writer thread has ended (it never should while the server runs).
    writer_alive: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            unavailable: Mutex::new(None),
            writer_alive: AtomicBool::new(true),
        }
    }
}

impl Health {
    pub fn set_available(&self) {
        if let Ok(mut reason) = self.unavailable.lock()
            && reason.take().is_some()
        {
            tracing::info!("storage is writable again");
        }
    }

    pub fn set_unavailable(&self, why: String) {
        tracing::error!(reason = %why, "storage cannot take writes");
        if let Ok(mut reason) = self.unavailable.lock() {
            *reason = Some(why);
        }
    }

    /// Why the store cannot take writes now, or `None` when it can.
    pub fn unavailable(&self) -> Option<String> {
        if !self.writer_alive() {
            return Some("the store's writer has stopped".into());
        }
        self.unavailable.lock().ok().and_then(|r| r.clone())
    }

    pub fn writer_alive(&self) -> bool {
        self.writer_alive.load(Ordering::SeqCst)
    }

    pub(super) fn writer_stopped(&self) {
        self.writer_alive.store(false, Ordering::SeqCst);
    }
}
