//! Which cluster a node's data belongs to. The node that forms a cluster draws a random id;
//! every other member takes it from the leader's first append or snapshot and keeps it in
//! `cluster-id` beside its log. All cluster traffic carries the sender's id, and a node
//! refuses traffic of another cluster, so a data directory moved between clusters (or a
//! node given the wrong `--initial-cluster`) never mixes two histories.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The header that carries the sender's cluster id (absent while it has none).
pub const CLUSTER_ID_HEADER: &str = "x-burgee-cluster-id";

const FILE: &str = "cluster-id";

/// A node's cluster id, once it has one.
#[derive(Clone, Debug)]
pub struct ClusterIdentity {
    path: PathBuf,
    id: Arc<RwLock<Option<String>>>,
}

/// Why an id was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("this node belongs to cluster {ours}; the peer belongs to cluster {theirs}")]
    Mismatch { ours: String, theirs: String },
    #[error("storing the cluster id in {path}: {reason}")]
    Storage { path: String, reason: String },
    #[error("a cluster id must be 32 hexadecimal characters, not {0:?}")]
    Malformed(String),
}

impl ClusterIdentity {
    /// The id stored in `dir`, if any.
    pub fn load(dir: &Path) -> Result<Self, IdentityError> {
        let path = dir.join(FILE);
        let id = match std::fs::read_to_string(&path) {
            Ok(text) => Some(valid(text.trim())?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(storage(&path, &e)),
        };
        Ok(Self {
            path,
            id: Arc::new(RwLock::new(id)),
        })
    }

    pub fn get(&self) -> Option<String> {
        self.id.read().map(|id| id.clone()).unwrap_or_default()
    }

    /// Draws a new id unless the node has one (it forms a cluster).
    pub fn ensure(&self) -> Result<String, IdentityError> {
        if let Some(id) = self.get() {
            return Ok(id);
        }
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| IdentityError::Storage {
            path: self.path.display().to_string(),
            reason: format!("no randomness: {e}"),
        })?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.adopt(&id)?;
        Ok(id)
    }

    /// Checks a peer's id: the same as ours, or ours taken from it when we have none yet and
    /// `adopt` (only a leader's appends and snapshots teach a node its cluster). A peer
    /// without an id (a new node) passes.
    pub fn check(&self, theirs: Option<&str>, adopt: bool) -> Result<(), IdentityError> {
        let Some(theirs) = theirs else {
            return Ok(());
        };
        match self.get() {
            Some(ours) if ours == theirs => Ok(()),
            Some(ours) => Err(IdentityError::Mismatch {
                ours,
                theirs: theirs.to_owned(),
            }),
            None if adopt => self.adopt(theirs),
            None => Ok(()),
        }
    }

    /// Stores `id` durably (write, sync, rename, sync the directory) before using it.
    fn adopt(&self, id: &str) -> Result<(), IdentityError> {
        let id = valid(id)?;
        let mut guard = self.id.write().map_err(|_| IdentityError::Storage {
            path: self.path.display().to_string(),
            reason: "a poisoned lock".into(),
        })?;
        if let Some(ours) = guard.as_ref() {
            return if *ours == id {
                Ok(())
            } else {
                Err(IdentityError::Mismatch {
                    ours: ours.clone(),
                    theirs: id,
                })
            };
        }
        let temporary = self.path.with_extension("tmp");
        let written = (|| {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(format!("{id}\n").as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)?;
            if let Some(dir) = self.path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok::<_, std::io::Error>(())
        })();
        written.map_err(|e| storage(&self.path, &e))?;
        tracing::info!(cluster_id = %id, "this node now belongs to cluster {id}");
        *guard = Some(id);
        Ok(())
    }
}

fn valid(id: &str) -> Result<String, IdentityError> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(IdentityError::Malformed(id.chars().take(64).collect()))
    }
}

fn storage(path: &Path, error: &std::io::Error) -> IdentityError {
    IdentityError::Storage {
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_id_is_drawn_once_kept_and_guards_against_another_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let identity = ClusterIdentity::load(dir.path()).unwrap();
        assert_eq!(identity.get(), None);
        // Without an id, traffic passes but only a leader's traffic teaches the id.
        identity
            .check(Some("0123456789abcdef0123456789abcdef"), false)
            .unwrap();
        assert_eq!(identity.get(), None);
        let id = identity.ensure().unwrap();
        assert_eq!(identity.ensure().unwrap(), id);
        let reloaded = ClusterIdentity::load(dir.path()).unwrap();
        assert_eq!(reloaded.get(), Some(id.clone()));
        reloaded.check(Some(&id), true).unwrap();
        reloaded.check(None, true).unwrap();
        let other = "0123456789abcdef0123456789abcdef";
        assert!(matches!(
            reloaded.check(Some(other), true),
            Err(IdentityError::Mismatch { .. })
        ));
        assert_eq!(reloaded.get(), Some(id));
    }

    #[test]
    fn a_new_node_adopts_the_leaders_id_and_a_malformed_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let identity = ClusterIdentity::load(dir.path()).unwrap();
        assert!(matches!(
            identity.check(Some("../../etc/passwd"), true),
            Err(IdentityError::Malformed(_))
        ));
        let id = "00112233445566778899aabbccddeeff";
        identity.check(Some(id), true).unwrap();
        assert_eq!(
            ClusterIdentity::load(dir.path()).unwrap().get().as_deref(),
            Some(id)
        );
        std::fs::write(dir.path().join(FILE), "not an id").unwrap();
        assert!(ClusterIdentity::load(dir.path()).is_err());
    }
}
