//! The PostgreSQL writer: one thread per replica that applies commands in batches, each
//! batch one SQL transaction.
//!
//! A batch first locks the head row (`SELECT … FOR UPDATE`): writers of every replica
//! serialise on it, so no update is lost and no transaction has to be retried. Holding the
//! lock, the writer catches its catalog up with what other replicas committed (from
//! `burgee_changes`), applies its commands with the same state machine as the embedded store
//! (reading identity rows inside the transaction), writes each command's change set, logs the
//! batch's configuration changes for the other replicas, advances the head and notifies them,
//! all in the one transaction. Only after the commit are the catalog and the SDK views
//! published here and the callers answered: an acknowledged write is durable and visible.
//!
//! A commit whose answer was lost (the connection broke) is looked up by the batch's id once
//! the writer is connected again: the callers hear the truth, or 503 when it cannot be known.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, Transaction};

use super::catch_up::{self, Head};
use super::connect::Connector;
use super::rows::SqlRows;
use super::statements::Statements;
use super::{LogRow, State, write};
use crate::store::StoreError;
use crate::store::batch::apply_one;
use crate::store::catalog::Catalog;
use crate::store::changes::Change;
use crate::store::codec::encode;
use crate::store::command::Envelope;
use crate::store::rows::{Rows, Target};
use crate::store::state_machine::panic_message;
use crate::store::writer::{Answer, Views, stage_checked};

/// At most this many commands go into one transaction.
const MAX_BATCH: usize = 256;
/// How long the writer waits before trying to connect again.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

pub type Reply = oneshot::Sender<Result<Answer, StoreError>>;

/// What the writer thread is asked to do.
pub enum Job {
    Write(Box<Envelope>, Reply),
    /// Another replica committed something: catch up with it.
    CatchUp,
}

pub struct Writer<V: Views> {
    pub handle: Handle,
    pub state: Arc<State>,
    pub views: Arc<V>,
    pub connector: Connector,
    /// The catalog this replica has applied (published as `state.catalog`).
    pub local: Arc<Catalog>,
    pub connection: Option<(Client, Statements)>,
}

/// What one attempt at a batch left.
enum Attempt<S> {
    Committed(Done<S>),
    /// Nothing was written (every command refused without a trace, or nothing to catch up).
    Unchanged(Vec<Answer>, Option<Done<S>>),
    /// Building the views panicked: the batch is run again, staging after each command.
    StagingPanicked,
    Failed(StoreError),
    /// The commit's answer was lost.
    Unknown(Done<S>, uuid::Uuid, u64, StoreError),
}

struct Done<S> {
    catalog: Catalog,
    staged: S,
    answers: Vec<Answer>,
    identity_count: i64,
    /// What catching up and this batch changed among identities.
    caught_up: catch_up::CaughtUp,
}

/// Writes of one command through the SQL transaction, kept for the batch's log row.
struct SqlTarget<'a> {
    rows: SqlRows<'a>,
    added: Cell<i64>,
    /// The configuration changes, for the other replicas.
    logged: RefCell<Vec<Change>>,
    identities: RefCell<BTreeSet<(u32, String)>>,
    wrote: Cell<bool>,
}

impl Target for SqlTarget<'_> {
    fn rows(&self) -> &dyn Rows {
        &self.rows
    }

    fn write(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.wrote.set(true);
        let added = self.rows.handle.block_on(write::write(
            self.rows.txn,
            self.rows.statements,
            changes,
        ))?;
        self.added.set(self.added.get() + added);
        let mut logged = self.logged.borrow_mut();
        let mut identities = self.identities.borrow_mut();
        for change in changes {
            match change {
                Change::Identity {
                    environment_id,
                    identifier,
                    ..
                }
                | Change::Trait {
                    environment_id,
                    identifier,
                    ..
                } => {
                    identities.insert((*environment_id, identifier.clone()));
                }
                Change::Audit(..) | Change::Evaluation { .. } => {}
                other => logged.push(other.clone()),
            }
        }
        Ok(())
    }
}

impl<V: Views> Writer<V> {
    /// Runs until every sender is gone.
    pub fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        while let Some(first) = jobs.blocking_recv() {
            let mut writes = Vec::new();
            let mut next = Some(first);
            while let Some(job) = next.take() {
                if let Job::Write(envelope, reply) = job {
                    writes.push((*envelope, reply));
                }
                if writes.len() < MAX_BATCH {
                    next = jobs.try_recv().ok();
                }
            }
            let started = Instant::now();
            if writes.is_empty() {
                if let Err(error) = self.catch_up() {
                    tracing::warn!(%error, "catching up with PostgreSQL failed");
                    self.connection = None;
                }
            } else {
                self.write(writes);
                metrics::histogram!("burgee_store_batch_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
        }
    }

    fn connected(&mut self) -> Result<&mut (Client, Statements), StoreError> {
        if self.connection.as_ref().is_some_and(|(c, _)| c.is_closed()) {
            self.connection = None;
        }
        if self.connection.is_none() {
            let connected = self.handle.block_on(self.connector.writer());
            match connected {
                Ok(connection) => self.connection = Some(connection),
                Err(error) => {
                    self.state
                        .health
                        .set_unavailable(format!("PostgreSQL cannot be reached: {error}"));
                    std::thread::sleep(RECONNECT_AFTER);
                    return Err(error);
                }
            }
        }
        self.connection
            .as_mut()
            .ok_or_else(|| StoreError::Internal("no connection".into()))
    }

    /// Applies what other replicas committed since this one last looked.
    fn catch_up(&mut self) -> Result<(), StoreError> {
        let local = Arc::clone(&self.local);
        let handle = self.handle.clone();
        let (client, statements) = self.connected()?;
        let txn = super::connect::snapshot(&handle, client)?;
        let head = Head::read(&handle, &txn, &statements.read_head, false)?;
        if head.revision == local.meta.last_applied {
            return Ok(());
        }
        let mut catalog = Catalog::clone(&local);
        let caught_up = catch_up::apply(&handle, &txn, statements, &mut catalog, &head)?;
        drop(txn);
        let mut staged = self.views.staged();
        self.views.stage(&mut staged, &catalog, &caught_up.touched);
        self.publish(
            Done {
                catalog,
                staged,
                answers: Vec::new(),
                identity_count: head.identity_count,
                caught_up,
            },
            false,
        );
        Ok(())
    }

    fn write(&mut self, writes: Vec<(Envelope, Reply)>) {
        let (envelopes, replies): (Vec<Envelope>, Vec<Reply>) = writes.into_iter().unzip();
        let mut attempt = self.attempt(&envelopes, false);
        if matches!(attempt, Attempt::StagingPanicked) {
            attempt = self.attempt(&envelopes, true);
        }
        let answers = match attempt {
            Attempt::Committed(done) => {
                let answers = done.answers.clone();
                self.publish(done, true);
                Ok(answers)
            }
            Attempt::Unchanged(answers, caught_up) => {
                if let Some(done) = caught_up {
                    self.publish(done, false);
                }
                Ok(answers)
            }
            Attempt::StagingPanicked => Err(StoreError::Internal(
                "building what SDKs are served panicked twice".into(),
            )),
            Attempt::Failed(error) => Err(error),
            Attempt::Unknown(done, batch, revision, error) => {
                match self.was_committed(batch, revision) {
                    Some(true) => {
                        tracing::warn!(%error, "a commit reported an error, but the batch was committed; it stands");
                        let answers = done.answers.clone();
                        self.publish(done, true);
                        Ok(answers)
                    }
                    Some(false) => Err(StoreError::Unavailable(format!(
                        "the write was not applied: {error}"
                    ))),
                    None => Err(StoreError::Unavailable(format!(
                        "PostgreSQL failed during the commit; the write may or may not have applied: {error}"
                    ))),
                }
            }
        };
        match answers {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(error) => {
                if error.kind() == crate::store::ErrorKind::Unavailable {
                    self.state.health.set_unavailable(error.to_string());
                    metrics::counter!("burgee_storage_faults_total").increment(1);
                }
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }

    /// Makes `done` this replica's state; `own` when it is this replica's own commit (which
    /// the other replicas are told about).
    fn publish(&mut self, mut done: Done<V::Staged>, own: bool) {
        // Before anyone hears of the change: a read after it must not find the old identity.
        self.forget(&mut done.caught_up);
        let committed = done.catalog.meta.last_applied;
        let catalog = Arc::new(done.catalog);
        self.local = Arc::clone(&catalog);
        self.state.catalog.store(Arc::clone(&catalog));
        self.views.publish(done.staged, &catalog);
        self.state
            .identity_count
            .store(done.identity_count, std::sync::atomic::Ordering::Relaxed);
        self.state.health.set_available();
        if !catalog.purges.is_empty() {
            self.state.purge_wakeup.notify_one();
        }
        if own {
            self.state.committed.send_if_modified(|last| {
                let newer = committed > *last;
                *last = committed.max(*last);
                newer
            });
        }
    }

    /// Records the identities `caught_up` wrote and forgets their cached reads.
    fn forget(&self, caught_up: &mut catch_up::CaughtUp) {
        if let Some(known) = caught_up.known.take() {
            self.state.known.replace(known);
        }
        self.state.known.add(&caught_up.identities);
        if caught_up.reloaded {
            self.state.identities.clear();
        } else if !caught_up.identities.is_empty() {
            self.state.identities.invalidate(&caught_up.identities);
        }
    }

    /// Whether the batch `batch` ending at `revision` was committed (`None`: unknown).
    fn was_committed(&mut self, batch: uuid::Uuid, revision: u64) -> Option<bool> {
        self.connection = None;
        let handle = self.handle.clone();
        for _ in 0..4 {
            let Ok((client, statements)) = self.connected() else {
                continue;
            };
            let revision = i64::try_from(revision).ok()?;
            match handle.block_on(client.query_opt(
                &statements.find_batch,
                &[&revision, &batch.as_bytes().as_slice()],
            )) {
                Ok(found) => return Some(found.is_some()),
                Err(_) => self.connection = None,
            }
        }
        None
    }

    fn attempt(&mut self, envelopes: &[Envelope], stage_each: bool) -> Attempt<V::Staged> {
        let local = Arc::clone(&self.local);
        let handle = self.handle.clone();
        let views = Arc::clone(&self.views);
        let channel = self.state.schema.clone();
        let (client, statements) = match self.connected() {
            Ok(connection) => connection,
            Err(error) => return Attempt::Failed(error),
        };
        let txn = match handle.block_on(client.transaction()) {
            Ok(txn) => txn,
            Err(error) => return Attempt::Failed(super::error(error)),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            run_batch(
                &handle, &txn, statements, &*views, &local, envelopes, stage_each, &channel,
            )
        }));
        let prepared = match outcome {
            Ok(Ok(prepared)) => prepared,
            Ok(Err(error)) => return Attempt::Failed(error),
            Err(panic) => {
                return Attempt::Failed(StoreError::Internal(format!(
                    "the writer panicked: {}",
                    panic_message(panic.as_ref())
                )));
            }
        };
        match prepared {
            Prepared::StagingPanicked => Attempt::StagingPanicked,
            Prepared::Unchanged(answers, caught_up) => Attempt::Unchanged(answers, caught_up),
            Prepared::Commit(done, batch, revision) => match handle.block_on(txn.commit()) {
                Ok(()) => Attempt::Committed(done),
                Err(error) => Attempt::Unknown(done, batch, revision, super::error(error)),
            },
        }
    }
}

enum Prepared<S> {
    Commit(Done<S>, uuid::Uuid, u64),
    Unchanged(Vec<Answer>, Option<Done<S>>),
    StagingPanicked,
}

/// Everything of a batch but its commit.
#[allow(clippy::too_many_arguments)]
fn run_batch<V: Views>(
    handle: &Handle,
    txn: &Transaction<'_>,
    statements: &Statements,
    views: &V,
    local: &Catalog,
    envelopes: &[Envelope],
    stage_each: bool,
    channel: &str,
) -> Result<Prepared<V::Staged>, StoreError> {
    let head = Head::read(handle, txn, &statements.lock_head, true)?;
    let mut catalog = local.clone();
    let caught_up = head.revision != local.meta.last_applied;
    let mut behind = if caught_up {
        catch_up::apply(handle, txn, statements, &mut catalog, &head)?
    } else {
        catch_up::CaughtUp::default()
    };
    let mut touched = std::mem::take(&mut behind.touched);
    let before = catalog.clone();
    let target = SqlTarget {
        rows: SqlRows {
            handle,
            txn,
            statements,
        },
        added: Cell::new(0),
        logged: RefCell::default(),
        identities: RefCell::default(),
        wrote: Cell::new(false),
    };
    let mut staged = views.staged();
    let mut changed = BTreeSet::new();
    let mut answers = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        let index = catalog.meta.last_applied + 1;
        let answer = apply_one(
            &target,
            &mut catalog,
            &mut changed,
            index,
            envelope,
            |catalog, touched| {
                if !stage_each {
                    return Ok(());
                }
                stage_checked(views, &mut staged, catalog, touched)
            },
        )?;
        answers.push(answer);
    }
    if !target.wrote.get() {
        // Nothing to keep: the refusals consume no revision here (no other replica needs them).
        let caught_up = caught_up.then(|| {
            let mut staged = views.staged();
            views.stage(&mut staged, &before, &touched);
            Done {
                catalog: before,
                staged,
                answers: Vec::new(),
                identity_count: head.identity_count,
                caught_up: behind,
            }
        });
        return Ok(Prepared::Unchanged(answers, caught_up));
    }
    touched.extend(changed.iter().copied());
    if !stage_each {
        let built = catch_unwind(AssertUnwindSafe(|| {
            views.stage(&mut staged, &catalog, &touched);
        }));
        if built.is_err() {
            return Ok(Prepared::StagingPanicked);
        }
    } else if caught_up {
        views.stage(&mut staged, &catalog, &touched);
    }
    let batch = uuid::Uuid::new_v4();
    let revision = catalog.meta.last_applied;
    let row = LogRow {
        meta: catalog.meta.clone(),
        touched: changed,
        changes: target.logged.take(),
        identities: target.identities.take().into_iter().collect(),
    };
    behind.identities.extend(row.identities.iter().cloned());
    let added = target.added.get();
    let new_revision = to_i64(revision)?;
    let meta = encode(&catalog.meta)?;
    handle
        .block_on(txn.execute(
            &statements.log_batch,
            &[
                &new_revision,
                &to_i64(head.revision)?,
                &batch.as_bytes().as_slice(),
                &encode(&row)?,
            ],
        ))
        .map_err(super::error)?;
    handle
        .block_on(txn.execute(&statements.write_head, &[&new_revision, &meta, &added]))
        .map_err(super::error)?;
    let payload = format!("{channel} {revision}");
    handle
        .block_on(txn.execute(&statements.notify, &[&super::CHANNEL, &payload]))
        .map_err(super::error)?;
    Ok(Prepared::Commit(
        Done {
            catalog,
            staged,
            answers,
            identity_count: head.identity_count + added,
            caught_up: behind,
        },
        batch,
        revision,
    ))
}

fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Internal("a revision overflows".into()))
}
