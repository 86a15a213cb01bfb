//! The openraft type configuration: commands and answers are opaque bytes (the server's
//! postcard-encoded envelopes and outcomes), node ids are numbers, and snapshots are spooled
//! to files so they are streamed, never held whole in memory.

use serde::{Deserialize, Serialize};

/// A command as the server encoded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command(pub Vec<u8>);

/// What applying a command answered, as the server encoded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer(pub Vec<u8>);

openraft::declare_raft_types!(
    /// Burgee's Raft types.
    pub TypeConfig:
        D = Command,
        R = Answer,
        NodeId = u64,
        Node = openraft::BasicNode,
        SnapshotData = tokio::fs::File,
);

/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<u64>;
pub type Vote = openraft::Vote<u64>;
pub type StorageError = openraft::StorageError<u64>;
pub type StoredMembership = openraft::StoredMembership<u64, openraft::BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<u64, openraft::BasicNode>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
