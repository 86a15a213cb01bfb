//! Proposes commands to Raft in batches: the commands that wait while the batch before is in
//! flight go into one log entry together, so concurrent writes share one log append (one
//! fsync), one replication round and one apply. openraft flushes each proposal on its own, so
//! batching has to happen before it. One entry is in flight at a time: every entry costs a
//! trip through Raft's tasks, the log's thread and the state machine, and a second entry in
//! flight halves the entries' size without hiding that cost on two cores (measured in
//! docs/benchmarks.md, in a group of one and of three).

use std::sync::Arc;

use burgee_raft::{Node, WriteError};
use tokio::sync::{mpsc, oneshot};

use super::command::Envelope;
use super::error::StoreError;
use super::writer::{Answer, EntryAnswer};

/// At most this many commands go into one log entry.
const MAX_BATCH: usize = 256;
/// How many times a batch lets other tasks run before it is proposed, as long as each time
/// brought more commands (measured in docs/benchmarks.md: 0 gave 13 commands per entry under
/// 32 clients, 3 gave 20 and the CPU per command of the single-node writer before Raft).
const GATHER_YIELDS: usize = 3;

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
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        drain(&mut receiver, &mut batch);
        // While commands keep arriving, let the tasks that are about to send one run first:
        // a larger entry spreads its fixed cost over more commands, and when nothing else is
        // ready a yield costs next to nothing.
        for _ in 0..GATHER_YIELDS {
            let before = batch.len();
            tokio::task::yield_now().await;
            drain(&mut receiver, &mut batch);
            if batch.len() == before || batch.len() >= MAX_BATCH {
                break;
            }
        }
        // Meanwhile the next batch fills up in the queue.
        propose(&node, batch).await;
    }
}

/// Takes what waits in the queue, up to a full batch.
fn drain(receiver: &mut mpsc::Receiver<(Envelope, Reply)>, batch: &mut Vec<(Envelope, Reply)>) {
    while batch.len() < MAX_BATCH {
        match receiver.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
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
