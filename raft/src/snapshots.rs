//! Snapshot files: each snapshot is a file in its own directory, written once and then
//! streamed (openraft sends it in chunks), never held whole in memory. `current.meta` names
//! the newest; older files are removed once a newer one is in place.

use std::io::{Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::machine::MachineError;
use crate::types::SnapshotMeta;

const CURRENT: &str = "current.meta";

#[derive(Debug)]
pub struct SnapshotFiles {
    dir: PathBuf,
    counter: AtomicU64,
}

fn io(what: &str) -> impl Fn(std::io::Error) -> MachineError + '_ {
    move |e| MachineError(format!("{what}: {e}"))
}

impl SnapshotFiles {
    pub fn open(dir: &Path) -> Result<Self, MachineError> {
        std::fs::create_dir_all(dir).map_err(io("creating the snapshot directory"))?;
        // Files of interrupted builds or transfers.
        for entry in std::fs::read_dir(dir).map_err(io("reading the snapshot directory"))? {
            let path = entry.map_err(io("reading the snapshot directory"))?.path();
            if path.extension().is_some_and(|e| e == "partial") {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            counter: AtomicU64::new(0),
        })
    }

    /// A new, empty file for a snapshot being built or received.
    pub fn partial(&self) -> Result<(PathBuf, std::fs::File), MachineError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("{}-{n}.partial", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io("creating a snapshot file"))?;
        Ok((path, file))
    }

    fn file_of(&self, id: &str) -> PathBuf {
        // Snapshot ids are built here from numbers; anything else is refused by `keep`.
        self.dir.join(format!("snapshot-{id}"))
    }

    /// Makes the durable file at `partial` the current snapshot, described by `meta`.
    pub fn keep(&self, partial: &Path, meta: &SnapshotMeta) -> Result<(), MachineError> {
        if !meta
            .snapshot_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(MachineError(format!(
                "snapshot id {:?} is not one of ours",
                meta.snapshot_id
            )));
        }
        let target = self.file_of(&meta.snapshot_id);
        std::fs::rename(partial, &target).map_err(io("placing a snapshot file"))?;
        let bytes = postcard::to_stdvec(meta)
            .map_err(|e| MachineError(format!("encoding snapshot metadata: {e}")))?;
        let staged = self.dir.join(format!("{CURRENT}.partial"));
        let mut file = std::fs::File::create(&staged).map_err(io("writing snapshot metadata"))?;
        file.write_all(&bytes)
            .map_err(io("writing snapshot metadata"))?;
        file.sync_all().map_err(io("writing snapshot metadata"))?;
        std::fs::rename(&staged, self.dir.join(CURRENT))
            .map_err(io("placing snapshot metadata"))?;
        sync_dir(&self.dir)?;
        for entry in std::fs::read_dir(&self.dir).map_err(io("reading the snapshot directory"))? {
            let path = entry.map_err(io("reading the snapshot directory"))?.path();
            let old = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snapshot-"))
                && path != target;
            if old {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(())
    }

    /// The current snapshot's metadata and its file, opened at its start.
    pub fn current(&self) -> Result<Option<(SnapshotMeta, std::fs::File)>, MachineError> {
        let bytes = match std::fs::read(self.dir.join(CURRENT)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("reading snapshot metadata")(e)),
        };
        let meta: SnapshotMeta = postcard::from_bytes(&bytes)
            .map_err(|e| MachineError(format!("reading snapshot metadata: {e}")))?;
        let mut file = std::fs::File::open(self.file_of(&meta.snapshot_id))
            .map_err(io("opening the current snapshot"))?;
        file.seek(SeekFrom::Start(0))
            .map_err(io("opening the current snapshot"))?;
        Ok(Some((meta, file)))
    }
}

fn sync_dir(dir: &Path) -> Result<(), MachineError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing the snapshot directory"))
}
