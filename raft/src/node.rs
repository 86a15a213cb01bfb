//! A Raft node: openraft over the segment-file log and a [`Machine`], started from its data
//! directory. A restart never re-initialises: the log and the vote say what it was.
//!
//! With a cluster secret a node speaks to its peers over HTTP ([`crate::network`]); without
//! one it speaks to no peer, which is all a one-member group needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::error::{CheckIsLeaderError, ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Config, Raft, ServerState};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::formats::Formats;
use crate::identity::{ClusterIdentity, IdentityError};
use crate::log_store::LogStore;
use crate::machine::Machine;
use crate::membership::{MemberChange, MembershipError};
use crate::network::{CallError, ClusterSecret, HttpNetwork};
use crate::no_peers::NoPeers;
use crate::serve::Hello;
use crate::state_machine::StateMachine;
use crate::types::{Command, TypeConfig};

/// Why a node could not start or act.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("opening the Raft log: {0}")]
    Log(#[from] crate::error::LogStoreError),
    #[error("the Raft state: {0}")]
    Machine(#[from] crate::machine::MachineError),
    #[error("Raft: {0}")]
    Raft(String),
    #[error("the Raft directory {path}: {reason}")]
    Directory { path: String, reason: String },
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("asking a peer: {0}")]
    Peer(String),
}

/// Why a write did not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum WriteError {
    /// No leader is known, or it cannot be reached (no quorum).
    #[error("no leader can take the write now (the leader is {leader:?})")]
    NotLeader { leader: Option<u64> },
    /// The leader could not be reached to forward the write.
    #[error("the leader cannot be reached: {0}")]
    Unreachable(String),
    /// This node leads, but a majority has not acknowledged it lately: a write would not
    /// commit until the cluster heals.
    #[error("no quorum: a majority of the cluster has not answered for {millis} ms")]
    NoQuorum { millis: u64 },
    /// The node stopped (a storage fault, or shut down).
    #[error("the Raft node stopped: {0}")]
    Stopped(String),
}

/// How long a write waits for an election to find a leader.
const ELECTION_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// How long a leader may go without a majority's acknowledgement before it refuses writes.
const QUORUM_SILENCE_MS: u64 = 1_000;

/// A write's answer and the log index it took.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Written {
    pub index: u64,
    pub answer: Vec<u8>,
}

/// Where a node keeps its files.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: u64,
    /// `log/` (the Raft log), `snapshots/` and `cluster-id` go here.
    pub dir: PathBuf,
    /// The cluster's shared secret; without one the node has no peers.
    pub secret: Option<ClusterSecret>,
    /// Log entries between snapshots; a fifth of that stays in the log after one, so a
    /// follower a little behind catches up from the log rather than a whole snapshot.
    pub snapshot_entries: u64,
    /// How https peers are reached (their roots, this node's client certificate); `None`:
    /// plain http peers only.
    pub peer_tls: Option<rustls::ClientConfig>,
    /// The newest command format this node reads (told to its peers).
    pub command_format: u16,
}

/// A peer's answer to hello, and the formats it told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub hello: Hello,
    /// The newest command format the peer reads.
    pub command_format: u16,
    /// The command format the peer's cluster has switched on.
    pub cluster_format: u16,
}

/// Log entries between snapshots, unless configured.
pub const DEFAULT_SNAPSHOT_ENTRIES: u64 = 5_000;

/// What a node reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub id: u64,
    /// The cluster this node belongs to, once it knows.
    pub cluster_id: Option<String>,
    pub term: u64,
    pub leader: Option<u64>,
    pub is_leader: bool,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    /// Every member's cluster URL.
    pub members: BTreeMap<u64, String>,
    /// The log index the newest snapshot covers.
    pub snapshot: Option<u64>,
    /// The last log index dropped after a snapshot.
    pub purged: Option<u64>,
    /// On the leader: how far each member's log is known to match (its replication lag is
    /// `last_log_index` minus this).
    pub replication: BTreeMap<u64, Option<u64>>,
    /// On the leader: milliseconds since a quorum last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
}

/// A running node.
pub struct Node {
    id: u64,
    raft: Raft<TypeConfig>,
    network: Option<(HttpNetwork, ClusterSecret)>,
    identity: ClusterIdentity,
    formats: Formats,
}

impl Node {
    /// Starts the node over `machine`, from what its directory holds.
    pub async fn start(config: &NodeConfig, machine: Arc<dyn Machine>) -> Result<Self, NodeError> {
        std::fs::create_dir_all(&config.dir).map_err(|e| NodeError::Directory {
            path: config.dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let log = LogStore::open(&config.dir.join("log"))?;
        let state = StateMachine::new(machine, &snapshot_dir(&config.dir))?;
        let settings = Config {
            cluster_name: "burgee".into(),
            heartbeat_interval: 50,
            election_timeout_min: 150,
            election_timeout_max: 300,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(
                config.snapshot_entries.max(1),
            ),
            max_in_snapshot_log_to_keep: config.snapshot_entries / 5,
            replication_lag_threshold: config.snapshot_entries.max(1),
            // Well under the cluster port's body limit.
            snapshot_max_chunk_size: 4 * 1024 * 1024,
            // The last chunk's answer waits for the whole snapshot to be installed (seconds
            // for a large store); openraft's 200 ms default sends it all over again.
            install_snapshot_timeout: 60_000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| NodeError::Raft(e.to_string()))?;
        let settings = Arc::new(settings);
        let identity = ClusterIdentity::load(&config.dir)?;
        let formats = Formats::new(config.command_format);
        let (raft, network) = match &config.secret {
            Some(secret) => {
                let network = HttpNetwork::new(
                    secret.clone(),
                    identity.clone(),
                    config.id,
                    formats.clone(),
                    config.peer_tls.clone(),
                );
                let raft = Raft::new(config.id, settings, network.clone(), log, state).await;
                (raft, Some((network, secret.clone())))
            }
            None => (
                Raft::new(config.id, settings, NoPeers, log, state).await,
                None,
            ),
        };
        let raft = raft.map_err(|e| NodeError::Raft(e.to_string()))?;
        crate::leadership::log_changes(&raft);
        Ok(Self {
            id: config.id,
            raft,
            network,
            identity,
            formats,
        })
    }

    /// Whether this node is the only voter (read in place: it is asked on every admin read).
    pub fn is_alone(&self) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let mut voters = metrics.membership_config.membership().voter_ids();
        voters.next() == Some(self.id) && voters.next().is_none()
    }

    /// Whether this node belongs to a group (its log or vote says so). Asked of Raft itself:
    /// the metrics may not show the stored state yet right after a start.
    pub async fn is_member(&self) -> Result<bool, NodeError> {
        self.raft
            .is_initialized()
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))
    }

    /// Makes this node a one-member group, unless it belongs to a group already.
    pub async fn initialize_alone(&self, address: &str) -> Result<(), NodeError> {
        self.initialize(&BTreeMap::from([(self.id, address.to_owned())]))
            .await
    }

    /// Forms a group of `members` (id → cluster URL), unless this node belongs to one already.
    pub async fn initialize(&self, members: &BTreeMap<u64, String>) -> Result<(), NodeError> {
        let members: BTreeMap<u64, BasicNode> = members
            .iter()
            .map(|(id, url)| (*id, BasicNode::new(url)))
            .collect();
        // The id goes to disk first: the group's first entry is never without it.
        self.identity.ensure()?;
        match self.raft.initialize(members).await {
            Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(NodeError::Raft(e.to_string())),
        }
    }

    /// Proposes a command, through the leader when this node is not it; its answer once
    /// committed by a majority and applied on the leader, and its log index.
    pub async fn write(&self, command: Vec<u8>) -> Result<Written, WriteError> {
        self.check_quorum()?;
        let command = Command(command);
        // While an election runs no leader is known: wait for one (a few election timeouts)
        // rather than refuse the write at once.
        let deadline = tokio::time::Instant::now() + ELECTION_WAIT;
        loop {
            match propose(&self.raft, command.clone()).await {
                Err(WriteError::NotLeader {
                    leader: Some(leader),
                }) if leader != self.id => return self.forward(leader, &command).await,
                Err(WriteError::NotLeader { leader: None })
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                other => return other,
            }
        }
    }

    /// A leader that a majority has not acknowledged within a few election timeouts refuses
    /// writes at once instead of holding them until the cluster heals.
    fn check_quorum(&self) -> Result<(), WriteError> {
        // Read in place: cloning the metrics on every write costs more than the check.
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let voters = metrics
            .membership_config
            .membership()
            .voter_ids()
            .take(2)
            .count();
        if metrics.state != ServerState::Leader || voters < 2 {
            return Ok(());
        }
        match metrics.millis_since_quorum_ack {
            Some(millis) if millis <= QUORUM_SILENCE_MS => Ok(()),
            Some(millis) => Err(WriteError::NoQuorum { millis }),
            // A new leader before its first round of acknowledgements.
            None => Ok(()),
        }
    }

    /// Sends a write to the leader, which proposes and answers it.
    async fn forward(&self, leader: u64, command: &Command) -> Result<Written, WriteError> {
        self.call_member(leader, "/raft/write", command)
            .await
            .map_err(|e| match e {
                None => WriteError::NotLeader {
                    leader: Some(leader),
                },
                Some(e) => WriteError::Unreachable(e.to_string()),
            })?
    }

    /// Calls member `id` on the cluster port; `Err(None)` when it has no known address (or
    /// this node no network).
    async fn call_member<Q: Serialize, A: DeserializeOwned>(
        &self,
        id: u64,
        path: &str,
        body: &Q,
    ) -> Result<A, Option<CallError>> {
        let Some((network, _)) = &self.network else {
            return Err(None);
        };
        // A node can hear from a leader before its view of the membership names it (a
        // learner that just installed a snapshot): wait for the address a little.
        let deadline = tokio::time::Instant::now() + ELECTION_WAIT;
        let address = loop {
            let known = self
                .raft
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .get_node(&id)
                .map(|n| n.addr.clone());
            match known {
                Some(address) => break address,
                None if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                None => return Err(None),
            }
        };
        network.call(&address, path, body).await.map_err(Some)
    }

    /// Which cluster the node at `url` belongs to and which formats it reads (asked before
    /// forming a cluster or adding the node).
    pub async fn hello(&self, url: &str) -> Result<Greeting, NodeError> {
        let Some((network, _)) = &self.network else {
            return Err(NodeError::Peer("this node has no cluster network".into()));
        };
        let (hello, headers): (Hello, _) = network
            .call_told(url, "/raft/hello", &())
            .await
            .map_err(|e| NodeError::Peer(e.to_string()))?;
        let told = |name| crate::formats::told(&headers, name).unwrap_or(1);
        Ok(Greeting {
            command_format: told(crate::formats::FORMAT_HEADER),
            cluster_format: told(crate::formats::CLUSTER_FORMAT_HEADER),
            hello,
        })
    }

    /// This node's command formats and what it heard of its peers'.
    pub fn formats(&self) -> &Formats {
        &self.formats
    }

    /// The id of the cluster this node belongs to, once it knows it.
    pub fn cluster_id(&self) -> Option<String> {
        self.identity.get()
    }

    /// Draws this node's cluster id when it has data but none yet (a group of one written
    /// before nodes kept an id).
    pub fn ensure_cluster_id(&self) -> Result<String, NodeError> {
        Ok(self.identity.ensure()?)
    }

    /// Waits until this node has applied the log up to `index` (a write made through another
    /// node is visible here afterwards).
    pub async fn wait_applied(
        &self,
        index: u64,
        timeout: std::time::Duration,
    ) -> Result<(), WriteError> {
        let applied = self.raft.metrics().borrow().last_applied.map(|l| l.index);
        if applied >= Some(index) {
            return Ok(());
        }
        self.raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index), "the write applied here")
            .await
            .map(|_| ())
            .map_err(|e| WriteError::Unreachable(format!("catching up with the leader: {e}")))
    }

    /// Waits until this node's state holds every write acknowledged anywhere before the call
    /// (Raft's read index: the leader confirms with a quorum that it still leads and says how
    /// far its log was committed; this node applies up to there), so a read after it sees
    /// every acknowledged write.
    pub async fn linearize(&self, timeout: std::time::Duration) -> Result<(), WriteError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let index = match read_index(&self.raft).await {
                Err(WriteError::NotLeader {
                    leader: Some(leader),
                }) if leader != self.id => self
                    .call_member::<_, Result<u64, WriteError>>(leader, "/raft/read-index", &())
                    .await
                    .map_err(|e| match e {
                        None => WriteError::NotLeader {
                            leader: Some(leader),
                        },
                        Some(e) => WriteError::Unreachable(e.to_string()),
                    })?,
                Err(WriteError::NotLeader { leader: None })
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
                other => other,
            }?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            return self.wait_applied(index, left).await;
        }
    }

    /// Changes the cluster's members, through the leader when this node is not it.
    pub async fn change_members(&self, change: MemberChange) -> Result<(), MembershipError> {
        let deadline = tokio::time::Instant::now() + ELECTION_WAIT;
        loop {
            match crate::membership::change(&self.raft, change.clone()).await {
                Err(MembershipError::NotLeader {
                    leader: Some(leader),
                }) if leader != self.id => {
                    return self
                        .call_member::<_, Result<(), MembershipError>>(
                            leader,
                            "/raft/members",
                            &change,
                        )
                        .await
                        .map_err(|e| match e {
                            None => MembershipError::NotLeader {
                                leader: Some(leader),
                            },
                            Some(e) => MembershipError::Unreachable(e.to_string()),
                        })?;
                }
                Err(MembershipError::NotLeader { leader: None })
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                other => return other,
            }
        }
    }

    /// Builds a snapshot of the state now and drops the log it covers.
    pub async fn compact(&self, timeout: std::time::Duration) -> Result<(), NodeError> {
        let applied = self.status().last_applied;
        let trigger = self.raft.trigger();
        trigger
            .snapshot()
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))?;
        let target = applied.unwrap_or(0);
        self.raft
            .wait(Some(timeout))
            .metrics(
                |m| m.snapshot.is_some_and(|s| s.index >= target),
                "a snapshot",
            )
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))?;
        trigger
            .purge_log(target)
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))?;
        // Purging happens in the background, once no replication still reads that log.
        self.raft
            .wait(Some(timeout))
            .metrics(
                |m| m.purged.is_some_and(|p| p.index >= target),
                "the log purged",
            )
            .await
            .map(|_| ())
            .map_err(|e| NodeError::Raft(e.to_string()))
    }

    /// The routes of the cluster port (only with a cluster secret).
    pub fn router(&self) -> Option<axum::Router> {
        self.network.as_ref().map(|(_, secret)| {
            crate::serve::router(
                self.raft.clone(),
                secret.clone(),
                self.identity.clone(),
                self.formats.clone(),
            )
        })
    }

    /// Waits until this node leads (a one-member group elects itself at once).
    pub async fn wait_leader(&self, timeout: std::time::Duration) -> Result<(), NodeError> {
        self.raft
            .wait(Some(timeout))
            .state(ServerState::Leader, "becoming the leader")
            .await
            .map(|_| ())
            .map_err(|e| NodeError::Raft(e.to_string()))
    }

    /// Why the node stopped (a storage fault of its log or state), if it did; it does not
    /// start again in this process.
    pub fn stopped(&self) -> Option<String> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics
            .running_state
            .as_ref()
            .err()
            .map(ToString::to_string)
    }

    pub fn status(&self) -> Status {
        let metrics = self.raft.metrics().borrow().clone();
        Status {
            id: self.id,
            cluster_id: self.identity.get(),
            term: metrics.current_term,
            leader: metrics.current_leader,
            is_leader: metrics.state == ServerState::Leader,
            last_log_index: metrics.last_log_index,
            last_applied: metrics.last_applied.map(|l| l.index),
            voters: metrics.membership_config.membership().voter_ids().collect(),
            learners: metrics
                .membership_config
                .membership()
                .learner_ids()
                .collect(),
            members: metrics
                .membership_config
                .membership()
                .nodes()
                .map(|(id, node)| (*id, node.addr.clone()))
                .collect(),
            snapshot: metrics.snapshot.map(|l| l.index),
            purged: metrics.purged.map(|l| l.index),
            replication: metrics
                .replication
                .iter()
                .flatten()
                .map(|(id, matched)| (*id, matched.map(|l| l.index)))
                .collect(),
            millis_since_quorum_ack: metrics.millis_since_quorum_ack,
        }
    }

    /// Stops the node; what it acknowledged is durable.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))
    }
}

/// On the leader: the log index a read must wait for to see every acknowledged write.
pub(crate) async fn read_index(raft: &Raft<TypeConfig>) -> Result<u64, WriteError> {
    match raft.get_read_log_id().await {
        Ok((read, _applied)) => Ok(read.map_or(0, |l| l.index)),
        Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward))) => {
            Err(WriteError::NotLeader {
                leader: forward.leader_id,
            })
        }
        Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e))) => {
            Err(WriteError::Unreachable(e.to_string()))
        }
        Err(e) => Err(WriteError::Stopped(e.to_string())),
    }
}

/// Proposes `command` on this node as leader.
pub(crate) async fn propose(
    raft: &Raft<TypeConfig>,
    command: Command,
) -> Result<Written, WriteError> {
    match raft.client_write(command).await {
        Ok(response) => Ok(Written {
            index: response.log_id.index,
            answer: response.data.0,
        }),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
            Err(WriteError::NotLeader {
                leader: forward.leader_id,
            })
        }
        Err(RaftError::APIError(other)) => Err(WriteError::Stopped(other.to_string())),
        Err(e) => Err(WriteError::Stopped(e.to_string())),
    }
}

fn snapshot_dir(dir: &Path) -> PathBuf {
    dir.join("snapshots")
}
