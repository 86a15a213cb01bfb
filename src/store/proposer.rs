//! Proposes commands to Raft in batches: the commands that wait while earlier batches are in
//! flight go into one log entry together, so concurrent writes share one log append (one
//! fsync), one replication round and one apply. openraft flushes each proposal on its own, so
//! batching has to happen before it.

use std::sync::Arc;

use burgee_raft::{Node, WriteError};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::command::Envelope;
use super::error::StoreError;
use super::writer::{Answer, EntryAnswer};

/// At most this many commands go into one log entry.
const MAX_BATCH: usize = 256;
/// Batches in flight at once: while they are, the next one fills up. Two keep the log's
/// sync and the apply of the entry before it overlapping while batches stay large; more only
/// make entries smaller (each entry costs a sync and a trip through Raft's tasks), fewer
/// stop the overlap (measured in docs/benchmarks.md).
const IN_FLIGHT: usize = 2;
/// How long the next batch waits at most for the log's sync of the one before.
const SYNC_WAIT: std::time::Duration = std::time::Duration::from_millis(5);

/// What a proposed command answered, and the log index of its entry.
pub struct Proposed {
    pub index: u64,
    pub answer: Answer,
}

type Reply = oneshot::Sender<Result<Proposed, StoreError>>;

/// Hands commands to the batching task.
pub struct Proposer {
    sender: mpsc::Sender<(Envelope, Reply)>,
}

impl Proposer {
    /// Starts the batching task (needs a Tokio runtime).
    pub fn start(node: Arc<Node>) -> Self {
        let (sender, receiver) = mpsc::channel(16 * MAX_BATCH);
        tokio::spawn(run(node, receiver));
        Self { sender }
    }

    /// Proposes `envelope`; its answer once the entry holding it is committed and applied on
    /// the leader.
    pub async fn propose(&self, envelope: Envelope) -> Result<Proposed, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((envelope, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(node: Arc<Node>, mut receiver: mpsc::Receiver<(Envelope, Reply)>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        // A free slot first: while none is, the queue is where the next batch grows.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Some(first) = receiver.recv().await else {
            return;
        };
        if slots.available_permits() + 1 < IN_FLIGHT {
            // Another entry is in flight: while its log sync runs, let this one fill up.
            node.wait_log_synced(SYNC_WAIT).await;
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let node = Arc::clone(&node);
        tokio::spawn(async move {
            propose(&node, batch).await;
            drop(slot);
        });
    }
}

async fn propose(node: &Node, batch: Vec<(Envelope, Reply)>) {
    let (envelopes, replies): (Vec<Envelope>, Vec<Reply>) = batch.into_iter().unzip();
    metrics::histogram!("burgee_proposal_commands").record(envelopes.len() as f64);
    let bytes = match postcard::to_stdvec(&envelopes) {
        Ok(bytes) => bytes,
        Err(e) => return fail(replies, &StoreError::Encode(e.to_string())),
    };
    let written = match node.write(bytes).await {
        Ok(written) => written,
        Err(error) => return fail(replies, &write_error(error)),
    };
    let answers = match postcard::from_bytes::<EntryAnswer>(&written.answer) {
        Ok(Ok(answers)) if answers.len() == replies.len() => answers,
        Ok(Ok(answers)) => {
            let why = format!(
                "the log answered {} of {} commands",
                answers.len(),
                replies.len()
            );
            return fail(replies, &StoreError::Internal(why));
        }
        Ok(Err(why)) => return fail(replies, &StoreError::Internal(why)),
        Err(e) => {
            let why = format!("an answer of the log does not decode: {e}");
            return fail(replies, &StoreError::Internal(why));
        }
    };
    for (reply, answer) in replies.into_iter().zip(answers) {
        let _ = reply.send(Ok(Proposed {
            index: written.index,
            answer,
        }));
    }
}

fn fail(replies: Vec<Reply>, error: &StoreError) {
    for reply in replies {
        let _ = reply.send(Err(same(error)));
    }
}

/// The same error again (store errors are not `Clone`: some wrap I/O errors as text).
fn same(error: &StoreError) -> StoreError {
    let text = error.to_string();
    match error {
        StoreError::NoQuorum(reason) => StoreError::NoQuorum(reason.clone()),
        StoreError::Unavailable(reason) => StoreError::Unavailable(reason.clone()),
        StoreError::Closed => StoreError::Closed,
        StoreError::Encode(reason) => StoreError::Encode(reason.clone()),
        _ => StoreError::Internal(text),
    }
}

/// What a caller hears of a write Raft could not take.
pub fn write_error(error: WriteError) -> StoreError {
    match error {
        WriteError::NotLeader { .. } | WriteError::Unreachable(_) | WriteError::NoQuorum { .. } => {
            StoreError::NoQuorum(error.to_string())
        }
        WriteError::Stopped(reason) => {
            StoreError::Unavailable(format!("the Raft node stopped: {reason}"))
        }
    }
}
