//! The log's own state: the vote and the last purged log id, in one small file replaced
//! atomically (written beside, synced, renamed over, the directory synced), so a crash
//! leaves the old state or the new, never a mix and never nothing.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::LogStoreError;
use crate::types::{LogId, Vote};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Meta {
    pub vote: Option<Vote>,
    pub last_purged: Option<LogId>,
}

pub(super) struct MetaFile {
    path: PathBuf,
    pub meta: Meta,
}

impl MetaFile {
    pub fn open(dir: &Path) -> Result<Self, LogStoreError> {
        let path = dir.join("meta");
        let meta = match std::fs::read(&path) {
            Ok(bytes) => postcard::from_bytes(&bytes)
                .map_err(|e| LogStoreError::Corrupt(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Meta::default(),
            Err(e) => {
                return Err(LogStoreError::Database(format!(
                    "reading {}: {e}",
                    path.display()
                )));
            }
        };
        Ok(Self { path, meta })
    }

    /// Replaces the stored state with `meta`, durably.
    pub fn store(&mut self, meta: Meta) -> Result<(), LogStoreError> {
        let bytes = postcard::to_stdvec(&meta)?;
        let temporary = self.path.with_extension("tmp");
        let written = (|| {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)?;
            if let Some(dir) = self.path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok::<_, std::io::Error>(())
        })();
        written.map_err(|e| {
            LogStoreError::Database(format!("writing {}: {e}", self.path.display()))
        })?;
        self.meta = meta;
        Ok(())
    }
}
