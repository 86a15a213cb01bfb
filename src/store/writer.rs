//! The writer thread: applies commands in arrival order, a batch at a time, supervised.
//!
//! Commands that arrive together form a batch (one transaction, one durable commit; see
//! [`super::batch`]). After the commit the new catalog and the views built from it are
//! published, then every caller hears back, so an acknowledged write is durable and visible.
//! A failed batch publishes nothing and answers every caller with a storage error; the writer
//! then reopens the database and goes on from what is on disk. A panic while applying or
//! staging a command refuses that command alone; a panic anywhere else fails the batch.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::Database;
use tokio::sync::{mpsc, oneshot};

use super::batch::{Committed, StateMachine};
use super::catalog::Catalog;
use super::command::{Applied, Envelope};
use super::error::{ErrorKind, StoreError};
use super::shared::Shared;
use super::state_machine::{CommandError, panic_message};

/// At most this many commands share one durable commit.
const MAX_BATCH: usize = 256;
/// How long a reopen waits for readers to let go of the old database.
const RELEASE_WAIT: Duration = Duration::from_secs(10);
/// How often an unopenable database is tried again while no write arrives.
const REOPEN_RETRY: Duration = Duration::from_secs(1);

pub type Answer = Result<Result<Applied, CommandError>, StoreError>;
pub type Request = (Envelope, oneshot::Sender<Answer>);

/// What readers see besides the catalog (compiled SDK snapshots), built from each command's
/// catalog before the batch commits and published with it.
pub trait Views: Send + Sync + 'static {
    /// Views built but not yet visible.
    type Staged: Clone + Send;
    /// The views as published now.
    fn staged(&self) -> Self::Staged;
    /// Rebuilds the views of `touched` environments from `catalog`; may panic.
    fn stage(&self, staged: &mut Self::Staged, catalog: &Catalog, touched: &BTreeSet<u32>);
    /// Makes `staged` visible, with `catalog`.
    fn publish(&self, staged: Self::Staged, catalog: &Catalog);
}

/// Builds the views of every environment of `catalog` and publishes them.
pub fn publish_all<V: Views>(views: &V, catalog: &Catalog) {
    let mut staged = views.staged();
    let all: BTreeSet<u32> = catalog.environments.keys().copied().collect();
    views.stage(&mut staged, catalog, &all);
    views.publish(staged, catalog);
}

/// Marks the writer stopped however its thread ends.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.health.writer_stopped();
    }
}

#[allow(clippy::needless_pass_by_value)] // the thread owns what it is given
pub fn run<V: Views>(
    machine: StateMachine,
    shared: Arc<Shared>,
    views: Arc<V>,
    mut receiver: mpsc::Receiver<Request>,
    path: PathBuf,
) {
    let _guard = StopGuard(Arc::clone(&shared));
    let mut machine = Some(machine);
    loop {
        let first = if machine.is_none() {
            // Without a database, retry the reopen every second even when no write arrives,
            // so the store recovers by itself (readiness is 503 meanwhile).
            match receiver.try_recv() {
                Ok(request) => request,
                Err(mpsc::error::TryRecvError::Empty) => {
                    std::thread::sleep(REOPEN_RETRY);
                    machine = reopen(&shared, &*views, &path, None);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        } else {
            match receiver.blocking_recv() {
                Some(request) => request,
                None => break,
            }
        };
        let mut requests = vec![first];
        while requests.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => requests.push(next),
                Err(_) => break,
            }
        }
        if machine.is_none() {
            machine = reopen(&shared, &*views, &path, None);
        }
        let Some(current) = machine.as_mut() else {
            let reason = shared.health.unavailable().unwrap_or_default();
            for (_, reply) in requests {
                let _ = reply.send(Err(StoreError::Unavailable(reason.clone())));
            }
            continue;
        };
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| run_batch(current, &*views, &requests)))
            .unwrap_or_else(|panic| BatchEnd::Failed {
                answers: None,
                error: StoreError::Internal(format!(
                    "the writer panicked: {}",
                    panic_message(panic.as_ref())
                )),
            });
        match outcome {
            BatchEnd::Committed(answers, committed, staged) => {
                shared.catalog.store(Arc::clone(&committed.catalog));
                views.publish(staged, &committed.catalog);
                shared.health.set_available();
                if !committed.catalog.purges.is_empty() {
                    shared.purge_wakeup.notify_one();
                }
                for ((_, reply), answer) in requests.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            BatchEnd::Failed { answers, error } => {
                let reason = error.to_string();
                metrics::counter!("burgee_storage_faults_total").increment(1);
                machine = reopen(&shared, &*views, &path, machine.take());
                // A commit can fail after the batch reached the disk (its last sync failed);
                // what the reopened file holds is the truth, and then the answers stand.
                let kept = answers.and_then(|(answers, last_index)| {
                    let on_disk = machine.as_ref().map(|m| m.catalog().meta.last_applied);
                    (on_disk == Some(last_index)).then_some(answers)
                });
                match kept {
                    Some(answers) => {
                        tracing::warn!(%reason, "a commit reported an error, but the batch reached the disk; it stands");
                        for ((_, reply), answer) in requests.into_iter().zip(answers) {
                            let _ = reply.send(Ok(answer));
                        }
                    }
                    None => {
                        tracing::error!(%reason, commands = requests.len(), "a batch failed: nothing of it was kept");
                        metrics::counter!("burgee_commands_total", "outcome" => "failed")
                            .increment(requests.len() as u64);
                        for (_, reply) in requests {
                            let _ = reply.send(Err(answer_for(&error, &reason)));
                        }
                    }
                }
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        metrics::histogram!("burgee_store_batch_seconds").record(seconds);
        shared.record_batch(seconds);
    }
}

/// What callers of a failed batch hear: storage faults are worth a retry; corrupt or
/// unreadable data and bugs are not.
fn answer_for(error: &StoreError, reason: &str) -> StoreError {
    let reason = reason.to_owned();
    match error.kind() {
        ErrorKind::Corrupt => StoreError::Corrupt(reason),
        ErrorKind::Internal => StoreError::Internal(reason),
        ErrorKind::Unavailable | ErrorKind::Closed => StoreError::Unavailable(reason),
    }
}

/// How a batch ended.
enum BatchEnd<S> {
    Committed(Vec<Result<Applied, CommandError>>, Committed, S),
    /// Nothing was published. When the failure was the commit itself, `answers` holds what
    /// each entry decided and the index the batch would have reached.
    Failed {
        answers: Option<(Vec<Result<Applied, CommandError>>, u64)>,
        error: StoreError,
    },
}

/// Runs a batch with one rebuild of the views it touched, after its last entry (a burst of
/// toggles of one environment rebuilds it once, not once per toggle). If that rebuild
/// panics, the batch is run again rebuilding after each entry, which refuses the entry that
/// made it panic and keeps the others.
fn run_batch<V: Views>(
    machine: &mut StateMachine,
    views: &V,
    requests: &[Request],
) -> BatchEnd<V::Staged> {
    let failed = |error| BatchEnd::Failed {
        answers: None,
        error,
    };
    let mut batch = match machine.begin() {
        Ok(batch) => batch,
        Err(error) => return failed(error),
    };
    let mut answers = Vec::with_capacity(requests.len());
    for (envelope, _) in requests {
        match batch.apply(envelope, |_, _| Ok(())) {
            Ok(answer) => answers.push(answer),
            Err(error) => return failed(error),
        }
    }
    let mut staged = views.staged();
    let built = catch_unwind(AssertUnwindSafe(|| {
        views.stage(&mut staged, batch.catalog(), batch.touched());
    }));
    if built.is_err() {
        // Nothing of this attempt is kept: the batch is dropped uncommitted.
        drop(batch);
        return run_batch_staging_each(machine, views, requests);
    }
    for answer in &answers {
        count(answer);
    }
    let last_index = batch.catalog().meta.last_applied;
    match batch.commit() {
        Ok(committed) => BatchEnd::Committed(answers, committed, staged),
        Err(error) => BatchEnd::Failed {
            answers: Some((answers, last_index)),
            error,
        },
    }
}

fn count(answer: &Result<Applied, CommandError>) {
    let outcome = match answer {
        Ok(_) => "applied",
        Err(CommandError::Failed(_)) => "panicked",
        Err(_) => "refused",
    };
    metrics::counter!("burgee_commands_total", "outcome" => outcome).increment(1);
}

/// A batch whose views are rebuilt after each entry, so a panic while building them refuses
/// only the entry that caused it.
fn run_batch_staging_each<V: Views>(
    machine: &mut StateMachine,
    views: &V,
    requests: &[Request],
) -> BatchEnd<V::Staged> {
    let failed = |error| BatchEnd::Failed {
        answers: None,
        error,
    };
    let mut staged = views.staged();
    let mut batch = match machine.begin() {
        Ok(batch) => batch,
        Err(error) => return failed(error),
    };
    let mut answers = Vec::with_capacity(requests.len());
    for (envelope, _) in requests {
        let applied = batch.apply(envelope, |catalog, touched| {
            let mut trial = staged.clone();
            catch_unwind(AssertUnwindSafe(|| {
                views.stage(&mut trial, catalog, touched);
            }))
            .map(|()| staged = trial)
            .map_err(|panic| {
                format!(
                    "building what SDKs are served panicked: {}",
                    panic_message(panic.as_ref())
                )
            })
        });
        let answer = match applied {
            Ok(answer) => answer,
            Err(error) => return failed(error),
        };
        count(&answer);
        answers.push(answer);
    }
    let last_index = batch.catalog().meta.last_applied;
    match batch.commit() {
        Ok(committed) => BatchEnd::Committed(answers, committed, staged),
        Err(error) => BatchEnd::Failed {
            answers: Some((answers, last_index)),
            error,
        },
    }
}

/// Closes the database (waiting briefly for readers to let go) and opens it again, so that a
/// latched I/O error clears and the state comes back from the file. `None` when the file
/// cannot be opened now; the next batch tries again.
fn reopen<V: Views>(
    shared: &Shared,
    views: &V,
    path: &std::path::Path,
    machine: Option<StateMachine>,
) -> Option<StateMachine> {
    let backend = shared.backend.clone();
    shared.db.store(None);
    if let Some(machine) = machine {
        release(machine.into_database());
    }
    let opened = super::database::open(path, &backend)
        .map(Arc::new)
        .and_then(|db| StateMachine::new(Arc::clone(&db), backend).map(|m| (db, m)));
    match opened {
        Ok((db, machine)) => {
            shared.db.store(Some(db));
            if machine.catalog().meta.last_applied != shared.catalog.load().meta.last_applied {
                shared.catalog.store(Arc::clone(machine.catalog()));
                let published =
                    catch_unwind(AssertUnwindSafe(|| publish_all(views, machine.catalog())));
                if let Err(panic) = published {
                    tracing::error!(reason = %panic_message(panic.as_ref()), "rebuilding the SDK snapshots after a reopen panicked; they stay as they were");
                }
            }
            shared.health.set_available();
            Some(machine)
        }
        Err(error) => {
            shared
                .health
                .set_unavailable(format!("the database cannot be opened: {error}"));
            None
        }
    }
}

/// Drops the last handle to a database, once readers have let go of theirs.
fn release(db: Arc<Database>) {
    let deadline = Instant::now() + RELEASE_WAIT;
    while Arc::strong_count(&db) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(db);
}
