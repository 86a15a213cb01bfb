//! Whether the store can take writes, for readiness and liveness probes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Storage health as the writer last found it, shared with the probes.
#[derive(Debug, Default)]
pub struct Health {
    /// Why writes fail now, and since when, if they do.
    unavailable: Mutex<Option<(String, Instant)>>,
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
            let since = reason
                .as_ref()
                .map_or_else(Instant::now, |(_, since)| *since);
            *reason = Some((why, since));
        }
    }

    /// Why the store cannot take writes now, or `None` when it can.
    pub fn unavailable(&self) -> Option<String> {
        self.unavailable_for(Duration::ZERO)
    }

    /// Why the store cannot take writes, if it has not for at least `at_least`.
    pub fn unavailable_for(&self, at_least: Duration) -> Option<String> {
        let reason = self.unavailable.lock().ok()?;
        reason
            .as_ref()
            .filter(|(_, since)| since.elapsed() >= at_least)
            .map(|(why, _)| why.clone())
    }
}
