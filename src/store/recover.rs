//! Recovery after a cluster lost its majority: the data directory of a stopped survivor
//! becomes a cluster of one that holds its state, which `burgee cluster add` then grows. Its
//! old Raft directory is kept aside (`raft.replaced-<unix seconds>`), never deleted.

use std::path::Path;

use super::database::{self, Backend};
use super::{StoreError, snapshot};

/// What [`cluster_of_one`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The Raft log index the state holds; the new log goes on after it.
    pub applied: u64,
    /// Where the old Raft directory went, if there was one.
    pub kept: Option<std::path::PathBuf>,
}

/// Makes the stopped node's data in `dir` a cluster of one of node `node_id` at `advertise`.
/// Refused while a server has the directory open.
pub fn cluster_of_one(dir: &Path, node_id: u64, advertise: &str) -> Result<Recovered, StoreError> {
    let path = dir.join("state.redb");
    if !path.is_file() {
        return Err(StoreError::Internal(format!(
            "{} holds no state.redb: nothing to recover",
            dir.display()
        )));
    }
    let backend = Backend {
        #[cfg(feature = "fault-injection")]
        faults: None,
    };
    let db = database::open(&path, &backend)?;
    let meta = burgee_raft::RaftMeta(snapshot::raft_meta(&db)?);
    let applied = meta
        .last_applied()
        .map_err(|e| StoreError::Internal(e.to_string()))?
        .unwrap_or(0);
    let alone = burgee_raft::RaftMeta::adopted(node_id, advertise, applied)
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    let raft = dir.join("raft");
    let kept = if raft.exists() {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let aside = dir.join(format!("raft.replaced-{seconds}"));
        std::fs::rename(&raft, &aside)
            .map_err(|e| StoreError::Internal(format!("moving {} aside: {e}", raft.display())))?;
        Some(aside)
    } else {
        None
    };
    snapshot::store_raft_meta(&db, &alone.0)?;
    Ok(Recovered { applied, kept })
}
