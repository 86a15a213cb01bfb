//! What the replicated state must provide: the server implements [`Machine`] over its store,
//! and [`crate::state_machine::StateMachine`] adapts it to openraft.
//!
//! Raft's own bookkeeping (the last applied log position and the membership) reaches the
//! machine as an opaque [`RaftMeta`], which it must store in the same transaction as the
//! changes it records and hand back unchanged: that is what makes applying idempotent after a
//! crash (an entry at or below the stored position is never applied twice).

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::types::{LogId, StoredMembership};

/// Raft's state of the machine, stored with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RaftMeta(pub Vec<u8>);

impl RaftMeta {
    /// The state of a machine that applied `index` entries before it joined Raft (a data
    /// directory of the single-node server): it counts as a one-member group of `node_id` at
    /// `address` whose log up to `index` was compacted away, so the log goes on at `index + 1`.
    pub fn adopted(node_id: u64, address: &str, index: u64) -> Result<Self, MachineError> {
        let log_id = LogId::new(openraft::CommittedLeaderId::new(0, node_id), index);
        let members =
            std::collections::BTreeMap::from([(node_id, openraft::BasicNode::new(address))]);
        let membership =
            openraft::Membership::new(vec![std::collections::BTreeSet::from([node_id])], members);
        Progress {
            last_applied: Some(log_id),
            membership: StoredMembership::new(Some(log_id), membership),
        }
        .encode()
    }

    /// The last log index this state holds, if any.
    pub fn last_applied(&self) -> Result<Option<u64>, MachineError> {
        Ok(Progress::decode(self)?.last_applied.map(|l| l.index))
    }
}

/// What [`RaftMeta`] holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Progress {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

impl Progress {
    pub(crate) fn encode(&self) -> Result<RaftMeta, MachineError> {
        postcard::to_stdvec(self)
            .map(RaftMeta)
            .map_err(|e| MachineError(format!("encoding the raft state: {e}")))
    }

    pub(crate) fn decode(meta: &RaftMeta) -> Result<Self, MachineError> {
        if meta.0.is_empty() {
            return Ok(Self::default());
        }
        postcard::from_bytes(&meta.0)
            .map_err(|e| MachineError(format!("reading the raft state: {e}")))
    }
}

/// One entry to apply: its log index and, for a client write, its command (blank and
/// membership entries carry none and only advance the position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub index: u64,
    pub command: Option<Vec<u8>>,
}

/// A storage fault of the machine: openraft stops the node (it never turns into a refusal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MachineError(pub String);

/// The replicated state. Calls are blocking; the adapter runs them on Tokio's blocking pool
/// (all but [`Machine::try_apply`]).
pub trait Machine: Send + Sync + 'static {
    /// The [`RaftMeta`] stored with the state (empty when none was ever stored).
    fn raft_meta(&self) -> Result<RaftMeta, MachineError>;

    /// Applies `items` in order, in one transaction that also stores `meta`; returns one answer
    /// per item (empty for items without a command).
    fn apply(&self, items: &[Item], meta: &RaftMeta) -> Result<Vec<Vec<u8>>, MachineError>;

    /// Applies like [`Machine::apply`] when that takes no waiting; `None` when it would wait
    /// (for a lock, or out a storage fault), and the batch goes to [`Machine::apply`] on the
    /// blocking pool. Small batches are tried on openraft's own task this way: a trip to the
    /// pool costs more than applying them. It must never sleep or block for long.
    fn try_apply(
        &self,
        items: &[Item],
        meta: &RaftMeta,
    ) -> Option<Result<Vec<Vec<u8>>, MachineError>> {
        let _ = (items, meta);
        None
    }

    /// Writes the whole state, as of one consistent read, to `out` (streamed, never held
    /// whole in memory); returns the [`RaftMeta`] of that same read.
    fn write_snapshot(&self, out: &mut dyn Write) -> Result<RaftMeta, MachineError>;

    /// Replaces the whole state with a snapshot [`Machine::write_snapshot`] wrote, in one
    /// transaction that stores `meta` too.
    fn install_snapshot(&self, input: &mut dyn Read, meta: &RaftMeta) -> Result<(), MachineError>;
}
