//! The embedded store: redb files in the data directory, written by the Raft node's state
//! machine (a group of one on a single node).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use burgee_raft::{ClusterSecret, Node, NodeConfig};
use redb::{Database, ReadableDatabase};

use super::catalog::Catalog;
use super::codec::decode;
use super::database::{self, Backend};
#[cfg(feature = "fault-injection")]
use super::fault;
use super::records::IdentityRecord;
use super::shared::Shared;
use super::{
    Applied, CommandError, Envelope, StoreError, StoredIdentity, Views, audit, batch, proposer,
    replicated, snapshot, tables, writer,
};

/// The embedded store: redb under a Raft group (of one, or a cluster).
#[derive(Clone)]
pub struct Embedded {
    shared: Arc<Shared>,
    node: Arc<Node>,
    proposer: Arc<proposer::Proposer>,
    /// Set by [`Store::close`]: writes after it are refused without reaching the stopped node.
    closed: Arc<std::sync::atomic::AtomicBool>,
    path: PathBuf,
}

/// How long a write waits for storage that stopped taking writes while it was on its way,
/// before its caller hears 503 (the write stays in the log and applies once storage recovers).
const UNAVAILABLE_GRACE: Duration = Duration::from_secs(2);
/// How long a write waits to be committed by a majority before its caller hears 503 (it may
/// still apply, if the cluster heals before a new leader replaces the entry).
const COMMIT_WAIT: Duration = Duration::from_secs(15);
/// How long a linearizable read waits for the leader to confirm the cluster's state.
const READ_INDEX_WAIT: Duration = Duration::from_secs(5);
/// How often a waiting write looks at the storage's health.
const HEALTH_POLL: Duration = Duration::from_millis(100);

/// This node's place in the Raft group.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub id: u64,
    /// The cluster's shared secret; without one the node has no peers (a group of one).
    pub secret: Option<ClusterSecret>,
    /// The URL peers reach this node's cluster port at.
    pub advertise: String,
    /// Raft log entries between snapshots.
    pub snapshot_entries: u64,
    /// How https peers are reached; `None`: plain http.
    pub peer_tls: Option<rustls::ClientConfig>,
}

impl NodeOptions {
    /// A node of its own, with no peers.
    pub fn single() -> Self {
        Self {
            id: 1,
            secret: None,
            advertise: "http://127.0.0.1:0".into(),
            snapshot_entries: burgee_raft::DEFAULT_SNAPSHOT_ENTRIES,
            peer_tls: None,
        }
    }
}

impl Embedded {
    /// Opens (or creates) a store of its own in `dir` (a one-member Raft group); see
    /// [`Embedded::open_node`].
    pub async fn open<V: Views>(dir: &Path, views: Arc<V>) -> Result<Self, StoreError> {
        let store = Self::open_node(dir, views, &NodeOptions::single()).await?;
        store
            .node
            .initialize_alone(&NodeOptions::single().advertise)
            .await
            .map_err(raft_error)?;
        store
            .node
            .wait_leader(Duration::from_secs(30))
            .await
            .map_err(raft_error)?;
        // Its whole log is committed: applied before the store is handed out.
        if let Some(last) = store.node.status().last_log_index {
            store
                .node
                .wait_applied(last, Duration::from_secs(30))
                .await
                .map_err(proposer::write_error)?;
        }
        Ok(store)
    }

    /// Opens (or creates) the store in `dir` and starts its Raft node; refuses a directory in
    /// use by another process, one it cannot write, or data from a newer format. A directory
    /// the single-node server wrote before it ran on Raft becomes a one-member group whose log
    /// goes on after its last write. `views` are built for every environment now and kept
    /// current with every applied entry.
    pub async fn open_node<V: Views>(
        dir: &Path,
        views: Arc<V>,
        options: &NodeOptions,
    ) -> Result<Self, StoreError> {
        let unwritable = |e: std::io::Error| StoreError::Unwritable {
            path: dir.display().to_string(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(unwritable)?;
        let probe = dir.join(".burgee-write-test");
        std::fs::write(&probe, b"").map_err(unwritable)?;
        let _ = std::fs::remove_file(&probe);
        let path = dir.join("state.redb");
        let backend = Backend {
            #[cfg(feature = "fault-injection")]
            faults: fault::FaultPlan::from_env(),
        };
        let db = Arc::new(database::open(&path, &backend)?);
        let machine = batch::StateMachine::new(Arc::clone(&db), backend.clone())?;
        let applied = machine.catalog().meta.last_applied;
        if applied > 0 && snapshot::raft_meta(&db)?.is_empty() {
            let adopted = burgee_raft::RaftMeta::adopted(options.id, &options.advertise, applied)
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            snapshot::store_raft_meta(&db, &adopted.0)?;
            tracing::info!(
                applied,
                "the data directory joins Raft as a group of one; its log goes on after its last write"
            );
        }
        writer::publish_all(&*views, machine.catalog());
        let shared = Arc::new(Shared::new(db, Arc::clone(machine.catalog()), backend));
        let writer = writer::Writer::new(machine, Arc::clone(&shared), views, path.clone());
        let replicated = replicated::Replicated::new(writer);
        let config = NodeConfig {
            id: options.id,
            dir: dir.join("raft"),
            secret: options.secret.clone(),
            snapshot_entries: options.snapshot_entries,
            peer_tls: options.peer_tls.clone(),
            command_format: crate::store::command::supported_command_format(),
        };
        // The state file's lock (taken above) keeps a second process from the log too.
        let node = Node::start(&config, replicated).await.map_err(raft_error)?;
        let node = Arc::new(node);
        Ok(Self {
            shared,
            proposer: Arc::new(proposer::Proposer::start(Arc::clone(&node))),
            closed: Arc::default(),
            node,
            path,
        })
    }

    /// The Raft node under the store.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Stops the Raft node; what it acknowledged is durable.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.node.shutdown().await.map_err(raft_error)
    }

    pub(crate) fn purge_wakeup(&self) -> &tokio::sync::Notify {
        &self.shared.purge_wakeup
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.shared.catalog.load_full()
    }

    /// Where the data lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the store cannot take writes now, if it cannot.
    pub fn unavailable(&self) -> Option<String> {
        if let Some(reason) = self.node.stopped() {
            return Some(format!("the Raft node stopped: {reason}"));
        }
        self.shared.health.unavailable()
    }

    /// Whether the writer (the Raft node that applies every write) runs.
    pub fn writer_alive(&self) -> bool {
        self.node.stopped().is_none()
    }

    /// Proposes a command and waits until it is committed, applied, durable and visible here.
    pub async fn execute(
        &self,
        envelope: Envelope,
    ) -> Result<Result<Applied, CommandError>, StoreError> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        if let Some(reason) = self.unavailable() {
            return Err(StoreError::Unavailable(reason));
        }
        // A member of an older version could not read the entry (nor the rest of its batch):
        // such a command is not proposed until the cluster switches its format on.
        let (needed, active) = (
            envelope.command.needs_active(),
            self.catalog().active_command_format(),
        );
        if needed > active {
            return Ok(Err(CommandError::UpgradeInProgress { needed, active }));
        }
        let proposed = self.proposer.propose(envelope);
        tokio::pin!(proposed);
        let deadline = tokio::time::Instant::now() + COMMIT_WAIT;
        loop {
            tokio::select! {
                proposed = &mut proposed => {
                    let proposed = proposed?;
                    // Made through another node: visible here once applied here too.
                    self.node
                        .wait_applied(proposed.index, COMMIT_WAIT)
                        .await
                        .map_err(proposer::write_error)?;
                    return Ok(proposed.answer);
                }
                () = tokio::time::sleep(HEALTH_POLL) => {
                    // A group of one commits what it logs: only a cluster can lack a majority.
                    if tokio::time::Instant::now() >= deadline && self.node.status().voters.len() > 1 {
                        return Err(StoreError::NoQuorum(format!(
                            "the write was not committed within {} s; it may still apply if the cluster heals",
                            COMMIT_WAIT.as_secs()
                        )));
                    }
                    if let Some(reason) = self.shared.health.unavailable_for(UNAVAILABLE_GRACE) {
                        return Err(StoreError::Unavailable(format!(
                            "{reason} (the write is in the log and applies once storage recovers)"
                        )));
                    }
                }
            }
        }
    }

    /// Waits until this node's state holds every write acknowledged anywhere in the cluster
    /// before the call (a linearizable read follows); 503 `no_quorum` when no leader can
    /// confirm it within a few seconds. Immediate in a group of one, whose acknowledged
    /// writes are applied before they are acknowledged.
    pub async fn linearize(&self) -> Result<(), StoreError> {
        if self.node.is_alone() {
            return Ok(());
        }
        match tokio::time::timeout(READ_INDEX_WAIT, self.node.linearize(READ_INDEX_WAIT)).await {
            Ok(done) => done.map_err(proposer::write_error),
            Err(_) => Err(StoreError::NoQuorum(format!(
                "no leader confirmed the cluster's state within {} s: a read that must see \
                 every acknowledged write cannot be served (send `Burgee-Consistency: stale` \
                 for this node's own state)",
                READ_INDEX_WAIT.as_secs()
            ))),
        }
    }

    /// Up to `limit` audit entries from `from_seq` that `keep` accepts, and where the next
    /// page starts. Blocking: call from a blocking task.
    pub fn audit_page(
        &self,
        from_seq: u64,
        limit: usize,
        keep: impl FnMut(&audit::AuditRecord) -> bool,
    ) -> Result<(Vec<audit::AuditRecord>, Option<u64>), StoreError> {
        audit::read_from(&*self.database()?, from_seq, limit, keep)
    }

    /// Walks the audit chain. Blocking: call from a blocking task.
    pub fn audit_verify(&self) -> Result<audit::Verification, StoreError> {
        audit::verify(&*self.database()?)
    }

    pub(crate) fn database(&self) -> Result<Arc<Database>, StoreError> {
        self.shared
            .db
            .load_full()
            .ok_or_else(|| StoreError::Unavailable("the database is being reopened".into()))
    }

    /// An identity and its traits (sorted by key), if it exists.
    pub fn identity(
        &self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<Option<StoredIdentity>, StoreError> {
        let db = self.database()?;
        let txn = db.begin_read()?;
        let identities = txn.open_table(tables::IDENTITIES)?;
        let Some(record) = identities.get((environment_id, identifier))? else {
            return Ok(None);
        };
        let record: IdentityRecord = decode(record.value())?;
        let traits = txn.open_table(tables::TRAITS)?;
        let mut values = Vec::new();
        for entry in traits.range((environment_id, identifier, "")..)? {
            let (key, value) = entry?;
            let (e, i, name) = key.value();
            if e != environment_id || i != identifier {
                break;
            }
            values.push((name.to_owned(), decode(value.value())?));
        }
        Ok(Some((record, values)))
    }

    /// How many identities are stored, over all environments.
    pub fn identity_count(&self) -> Result<u64, StoreError> {
        use redb::ReadableTableMetadata;
        let db = self.database()?;
        let txn = db.begin_read()?;
        Ok(txn.open_table(tables::IDENTITIES)?.len()?)
    }

    /// Identities of an environment after `cursor` (by identifier), at most `limit`.
    pub fn identities(
        &self,
        environment_id: u32,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, IdentityRecord)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let db = self.database()?;
        let txn = db.begin_read()?;
        let identities = txn.open_table(tables::IDENTITIES)?;
        let mut out = Vec::new();
        for entry in identities.range((environment_id, cursor.unwrap_or(""))..)? {
            let (key, value) = entry?;
            let (e, identifier) = key.value();
            if e != environment_id {
                break;
            }
            if Some(identifier) == cursor {
                continue;
            }
            out.push((identifier.to_owned(), decode(value.value())?));
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// How many identity and trait rows remain for an environment (0 once purged).
    pub fn identity_rows(&self, environment_id: u32) -> Result<u64, StoreError> {
        let db = self.database()?;
        let txn = db.begin_read()?;
        let mut rows = 0;
        for entry in txn
            .open_table(tables::IDENTITIES)?
            .range((environment_id, "")..)?
        {
            if entry?.0.value().0 != environment_id {
                break;
            }
            rows += 1;
        }
        for entry in txn
            .open_table(tables::TRAITS)?
            .range((environment_id, "", "")..)?
        {
            if entry?.0.value().0 != environment_id {
                break;
            }
            rows += 1;
        }
        Ok(rows)
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(raft_error)`
fn raft_error(error: burgee_raft::NodeError) -> StoreError {
    StoreError::Database(error.to_string())
}
