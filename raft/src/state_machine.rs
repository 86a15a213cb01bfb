//! The state-machine adapter: openraft's `RaftStateMachine` over a [`Machine`].
//!
//! Each `apply` call is one batch: its entries' commands and the resulting Raft progress (last
//! applied position, membership) go to the machine together, so they are stored in one
//! transaction. Snapshots are files ([`SnapshotFiles`]): built by streaming the machine's
//! state from one read into a file, installed by streaming a received file into the machine
//! in one write.

use std::io::{BufReader, BufWriter, Seek as _, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, StorageIOError};

use crate::machine::{Item, Machine, MachineError, Progress};
use crate::snapshots::SnapshotFiles;
use crate::types::{
    Answer, Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// openraft's view of the replicated state. Cloning shares it (the snapshot builder is a clone).
#[derive(Clone)]
pub struct StateMachine {
    machine: Arc<dyn Machine>,
    snapshots: Arc<SnapshotFiles>,
    /// The progress the machine holds, once read (only this adapter changes it), so an apply
    /// needs no read first.
    progress: Option<Progress>,
}

/// Batches of at most this many command bytes are tried on openraft's task
/// ([`Machine::try_apply`]); larger ones (imports, bulk edits) go to the blocking pool.
const INLINE_APPLY_BYTES: usize = 64 * 1024;

fn sm_error(e: &MachineError) -> StorageError {
    StorageIOError::write_state_machine(e).into()
}

fn snapshot_error(e: &MachineError) -> StorageError {
    StorageIOError::write_snapshot(None, e).into()
}

/// Runs blocking machine work on Tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, MachineError> + Send + 'static,
) -> Result<T, MachineError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| MachineError(format!("a storage task failed: {e}")))?
}

impl StateMachine {
    /// Over `machine`, keeping snapshots in `snapshot_dir`.
    pub fn new(machine: Arc<dyn Machine>, snapshot_dir: &Path) -> Result<Self, MachineError> {
        Ok(Self {
            machine,
            snapshots: Arc::new(SnapshotFiles::open(snapshot_dir)?),
            progress: None,
        })
    }

    async fn progress(&mut self) -> Result<Progress, MachineError> {
        if let Some(progress) = &self.progress {
            return Ok(progress.clone());
        }
        let machine = Arc::clone(&self.machine);
        let progress = blocking(move || Progress::decode(&machine.raft_meta()?)).await?;
        self.progress = Some(progress.clone());
        Ok(progress)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let progress = self.progress().await.map_err(|e| sm_error(&e))?;
        Ok((progress.last_applied, progress.membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Answer>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut progress = self.progress().await.map_err(|e| sm_error(&e))?;
        let mut items = Vec::with_capacity(entries.len());
        let mut bytes = 0;
        for entry in entries {
            progress.last_applied = Some(entry.log_id);
            let command = match entry.payload {
                EntryPayload::Normal(command) => Some(command.0),
                EntryPayload::Membership(membership) => {
                    progress.membership = StoredMembership::new(Some(entry.log_id), membership);
                    None
                }
                EntryPayload::Blank => None,
            };
            bytes += command.as_ref().map_or(0, Vec::len);
            items.push(Item {
                index: entry.log_id.index,
                command,
            });
        }
        let meta = progress.encode().map_err(|e| sm_error(&e))?;
        // Until it is known what the machine holds after this batch.
        self.progress = None;
        let tried = (bytes <= INLINE_APPLY_BYTES)
            .then(|| self.machine.try_apply(&items, &meta))
            .flatten();
        let answers = match tried {
            Some(answers) => answers,
            None => {
                let machine = Arc::clone(&self.machine);
                blocking(move || machine.apply(&items, &meta)).await
            }
        }
        .map_err(|e| sm_error(&e))?;
        self.progress = Some(progress);
        Ok(answers.into_iter().map(Answer).collect())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let snapshots = Arc::clone(&self.snapshots);
        let (_, file) = blocking(move || snapshots.partial())
            .await
            .map_err(|e| snapshot_error(&e))?;
        Ok(Box::new(tokio::fs::File::from_std(file)))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        let mut received = snapshot.into_std().await;
        let progress = Progress {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        let raft_meta = progress.encode().map_err(|e| snapshot_error(&e))?;
        self.progress = None;
        let (machine, snapshots, meta) = (
            Arc::clone(&self.machine),
            Arc::clone(&self.snapshots),
            meta.clone(),
        );
        blocking(move || {
            let rewind = |f: &mut std::fs::File| {
                f.seek(SeekFrom::Start(0))
                    .map_err(|e| MachineError(format!("reading a received snapshot: {e}")))
            };
            rewind(&mut received)?;
            machine.install_snapshot(&mut BufReader::new(&mut received), &raft_meta)?;
            // Kept as the current snapshot, for followers that need it later.
            rewind(&mut received)?;
            let (path, mut copy) = snapshots.partial()?;
            std::io::copy(&mut received, &mut copy)
                .map_err(|e| MachineError(format!("keeping a received snapshot: {e}")))?;
            copy.sync_all()
                .map_err(|e| MachineError(format!("keeping a received snapshot: {e}")))?;
            snapshots.keep(&path, &meta)
        })
        .await
        .map_err(|e| snapshot_error(&e))
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let snapshots = Arc::clone(&self.snapshots);
        let current = blocking(move || snapshots.current())
            .await
            .map_err(|e| StorageError::from(StorageIOError::<u64>::read_snapshot(None, &e)))?;
        Ok(current.map(|(meta, file)| Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let (machine, snapshots) = (Arc::clone(&self.machine), Arc::clone(&self.snapshots));
        let (meta, file) = blocking(move || {
            let (path, file) = snapshots.partial()?;
            let mut out = BufWriter::new(file);
            let raft_meta = machine.write_snapshot(&mut out)?;
            let file = out
                .into_inner()
                .map_err(|e| MachineError(format!("writing a snapshot: {e}")))?;
            file.sync_all()
                .map_err(|e| MachineError(format!("writing a snapshot: {e}")))?;
            let progress = Progress::decode(&raft_meta)?;
            let id = match progress.last_applied {
                Some(log_id) => format!("{}-{}-{}", log_id.leader_id.term, log_id.index, unique()),
                None => format!("0-0-{}", unique()),
            };
            let meta = SnapshotMeta {
                last_log_id: progress.last_applied,
                last_membership: progress.membership,
                snapshot_id: id,
            };
            snapshots.keep(&path, &meta)?;
            let (_, file) = snapshots
                .current()?
                .ok_or_else(|| MachineError("the snapshot just built is gone".into()))?;
            Ok((meta, file))
        })
        .await
        .map_err(|e| snapshot_error(&e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        })
    }
}

/// A number that differs between snapshots built at the same position.
fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
