//! Burgee's Raft replication. openraft (0.9, storage v2) runs inside this crate and its types
//! never leave it: the server sees commands and answers as bytes, node ids as numbers, and
//! storage as the traits this crate defines.
//!
//! Layout: [`types`] (the openraft type configuration), [`log_store`] (the Raft log in its own
//! redb file: an append is acknowledged only after a durable commit), [`machine`] (what the
//! replicated state must provide), [`state_machine`] (openraft's state machine over it, with
//! snapshots as streamed files), [`network`] and [`serve`] (cluster traffic, both sides),
//! [`identity`] (which cluster a node belongs to), [`formats`] (which command formats the
//! members read), [`membership`] (changes online), `error`
//! (storage errors as openraft wants them).

mod error;
pub mod formats;
pub mod identity;
mod leadership;
pub mod log_store;
pub mod machine;
pub mod membership;
pub mod network;
mod no_peers;
pub mod node;
pub mod serve;
mod snapshots;
pub mod state_machine;
pub mod types;

pub use error::LogStoreError;
pub use formats::Formats;
pub use log_store::LogStore;
pub use machine::{Item, Machine, MachineError, RaftMeta};
pub use membership::{MemberChange, MembershipError};
pub use network::ClusterSecret;
pub use node::{
    DEFAULT_SNAPSHOT_ENTRIES, Greeting, Node, NodeConfig, NodeError, Status, WriteError, Written,
};
pub use state_machine::StateMachine;
