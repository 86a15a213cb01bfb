//! Fault injection for tests (cargo feature `fault-injection`, never on by default).
//!
//! `BURGEE_FAULT_COMMITS` lists batch commits (counted from 1 since the process started) during
//! which the disk refuses every write and sync: `3` or `3,5`, or `3..` for the third and every
//! later one (the disk is gone). A command named `fault:panic-apply` (a project, feature or
//! segment name) panics inside apply; an environment named `fault:panic-snapshot` panics while
//! its snapshot is built.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use redb::StorageBackend;
use redb::backends::FileBackend;

use super::command::{Command, NewFeature};
use super::error::StoreError;

pub const PANIC_APPLY: &str = "fault:panic-apply";
pub const PANIC_SNAPSHOT: &str = "fault:panic-snapshot";

/// Which commits fail.
#[derive(Debug, Default)]
pub struct FaultPlan {
    commits: Vec<u64>,
    from: Option<u64>,
    counted: AtomicU64,
    armed: Arc<AtomicBool>,
}

impl FaultPlan {
    /// The plan in `BURGEE_FAULT_COMMITS`, if any.
    pub fn from_env() -> Option<Arc<Self>> {
        let text = std::env::var("BURGEE_FAULT_COMMITS").ok()?;
        let mut plan = Self::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.strip_suffix("..") {
                Some(from) => plan.from = from.parse().ok(),
                None => plan.commits.extend(part.parse::<u64>().ok()),
            }
        }
        Some(Arc::new(plan))
    }

    /// A file backend that fails while a planned commit runs.
    pub fn backend(&self, file: File) -> Result<FaultyBackend, StoreError> {
        Ok(FaultyBackend {
            inner: FileBackend::new(file).map_err(|e| StoreError::Database(e.to_string()))?,
            armed: Arc::clone(&self.armed),
        })
    }

    /// Called before each batch commit: arms the disk to fail when this one is planned.
    pub fn before_commit(&self) {
        let n = self.counted.fetch_add(1, Ordering::SeqCst) + 1;
        let fail = self.commits.contains(&n) || self.from.is_some_and(|from| n >= from);
        if fail {
            tracing::warn!(
                commit = n,
                "injected storage fault: the disk refuses this commit"
            );
        }
        self.armed.store(fail, Ordering::SeqCst);
    }

    /// Called after each batch commit: a one-off fault ends, a lost disk stays lost.
    pub fn after_commit(&self) {
        let n = self.counted.load(Ordering::SeqCst);
        if self.from.is_none_or(|from| n < from) {
            self.armed.store(false, Ordering::SeqCst);
        }
    }
}

/// A [`FileBackend`] whose writes and syncs fail while armed.
#[derive(Debug)]
pub struct FaultyBackend {
    inner: FileBackend,
    armed: Arc<AtomicBool>,
}

impl FaultyBackend {
    fn check(&self) -> io::Result<()> {
        if self.armed.load(Ordering::SeqCst) {
            Err(io::Error::other("injected storage fault"))
        } else {
            Ok(())
        }
    }
}

impl StorageBackend for FaultyBackend {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check()?;
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.check()?;
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check()?;
        self.inner.write(offset, data)
    }
    fn close(&self) -> io::Result<()> {
        self.inner.close()
    }
    fn try_lock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.inner.try_lock_range(start, end)
    }
    fn try_lock_shared_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }
    fn lock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.inner.lock_range(start, end)
    }
    fn lock_shared_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.inner.lock_shared_range(start, end)
    }
    fn unlock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.inner.unlock_range(start, end)
    }
    fn query_lock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

/// Panics inside apply for a command that carries the marker name.
pub fn panic_if_asked(command: &Command) {
    let name = match command {
        Command::CreateProject { name, .. }
        | Command::CreateFeature(NewFeature { name, .. })
        | Command::CreateSegment { name, .. } => name.as_str(),
        _ => return,
    };
    assert!(
        name != PANIC_APPLY,
        "injected panic while applying a command"
    );
}

/// Panics while building the snapshot of an environment with the marker name.
pub fn panic_if_snapshot_asked(environment_name: &str) {
    assert!(
        environment_name != PANIC_SNAPSHOT,
        "injected panic while building a snapshot"
    );
}
