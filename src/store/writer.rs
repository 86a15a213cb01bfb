//! The writer: applies committed log entries a batch at a time and publishes what they leave.
//!
//! Entries committed together form a batch (one transaction, one durable commit; see
//! [`super::batch`]). After the commit the new catalog and the views built from it are
//! published, and only then does the batch count as applied, so an acknowledged write is
//! durable and visible. A panic while applying or staging a command refuses that command
//! alone (on every node alike: it depends on the command and the state only).
//!
//! Batches commit without an fsync: the Raft log is the durable point. Every
//! [`CHECKPOINT_EVERY`] (and before a snapshot is taken) one synced commit makes the batches
//! since the last checkpoint durable; after a crash, openraft applies the log again from the
//! state's durable position. The writer keeps the batches since the last checkpoint, so that
//! when a storage fault makes it reopen the file (which then holds the state of the last
//! checkpoint) it applies them again before it goes on.
//!
//! A storage fault fails the batch, but its entries stay in the Raft log: the writer reopens
//! the database and applies the batch again until storage takes it. Readiness is 503
//! meanwhile and new writes are refused with 503.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::Database;

use super::batch::{Batch, Committed, StateMachine};
use super::catalog::Catalog;
use super::command::{Applied, Envelope};
use super::error::StoreError;
use super::shared::Shared;
use super::state_machine::{CommandError, panic_message};

/// How long a reopen waits for readers to let go of the old database.
const RELEASE_WAIT: Duration = Duration::from_secs(10);
/// How long the writer waits before trying storage again after a fault.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often unsynced batches are made durable (while there are any).
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// Commands since the last checkpoint that make the next batch checkpoint at once.
const CHECKPOINT_COMMANDS: usize = 20_000;

pub type Answer = Result<Applied, CommandError>;

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

/// One committed log entry.
#[derive(Debug, Clone)]
pub enum Entry {
    /// Raft's own entries (blank, membership): nothing to apply.
    Raft(u64),
    /// The commands one node proposed together, applied in order.
    Commands(u64, Vec<Envelope>),
    /// An entry that is not a batch of commands; refused alike on every node.
    Undecodable(u64, String),
}

impl Entry {
    fn index(&self) -> u64 {
        match self {
            Self::Raft(index) | Self::Commands(index, _) | Self::Undecodable(index, _) => *index,
        }
    }
}

/// What one entry answered: an answer per command (none for Raft's own entries), or why the
/// entry could not be read.
pub type EntryAnswer = Result<Vec<Answer>, String>;

/// The state machine and where its results are published.
pub struct Writer<V: Views> {
    /// `None` while the database cannot be opened after a fault.
    machine: Option<StateMachine>,
    shared: Arc<Shared>,
    views: Arc<V>,
    path: PathBuf,
    /// Batches committed since the last checkpoint (entries and Raft state), in order.
    unsynced: Vec<(Vec<Entry>, Vec<u8>)>,
    unsynced_commands: usize,
    checkpointed: Instant,
}

impl<V: Views> Writer<V> {
    pub fn new(machine: StateMachine, shared: Arc<Shared>, views: Arc<V>, path: PathBuf) -> Self {
        Self {
            machine: Some(machine),
            shared,
            views,
            path,
            unsynced: Vec::new(),
            unsynced_commands: 0,
            checkpointed: Instant::now(),
        }
    }

    /// Makes the batches committed so far durable, if there are any and `due` says so.
    pub fn checkpoint_if(&mut self, due: impl FnOnce(&Self) -> bool) -> Result<(), StoreError> {
        if self.unsynced.is_empty() || !due(self) {
            return Ok(());
        }
        let Some(machine) = self.machine.as_ref() else {
            return Ok(());
        };
        machine.checkpoint()?;
        self.unsynced.clear();
        self.unsynced_commands = 0;
        self.checkpointed = Instant::now();
        Ok(())
    }

    /// Whether a checkpoint is due by time or by volume.
    pub fn checkpoint_due(&self) -> bool {
        self.checkpointed.elapsed() >= CHECKPOINT_EVERY
            || self.unsynced_commands >= CHECKPOINT_COMMANDS
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The state machine, reopening the database first when a fault closed it.
    pub fn machine(&mut self) -> Result<&mut StateMachine, StoreError> {
        if self.machine.is_none() {
            self.reopen();
        }
        let reason = || self.shared.health.unavailable().unwrap_or_default();
        match self.machine.as_mut() {
            Some(machine) => Ok(machine),
            None => Err(StoreError::Unavailable(reason())),
        }
    }

    /// Applies `entries` in one batch that stores `raft` with them, publishes the result and
    /// returns one answer per entry. Entries at or below the Raft position the state holds
    /// were applied before and change nothing. Storage faults are retried until storage takes
    /// the batch; only a bug (a panic outside any one command) gives up.
    pub fn apply(
        &mut self,
        entries: Vec<Entry>,
        raft: &[u8],
    ) -> Result<Vec<EntryAnswer>, StoreError> {
        let answers = self.apply_waiting(entries, raft, true)?;
        answers.ok_or_else(|| StoreError::Internal("a patient apply gave up".into()))
    }

    /// [`Writer::apply`] without waiting: `None` (nothing applied) where it would wait out a
    /// storage fault, and no synced checkpoint (the checkpoint thread makes it). After a failed
    /// commit it still reopens the file and looks whether the batch reached the disk, as the
    /// patient apply does: only that attempt holds the answers if it did.
    pub fn try_apply(
        &mut self,
        entries: Vec<Entry>,
        raft: &[u8],
    ) -> Result<Option<Vec<EntryAnswer>>, StoreError> {
        self.apply_waiting(entries, raft, false)
    }

    fn apply_waiting(
        &mut self,
        entries: Vec<Entry>,
        raft: &[u8],
        patient: bool,
    ) -> Result<Option<Vec<EntryAnswer>>, StoreError> {
        let indexes: Vec<u64> = entries.iter().map(Entry::index).collect();
        for attempt in 1.. {
            let started = Instant::now();
            let views = Arc::clone(&self.views);
            let Ok(machine) = self.machine() else {
                if !patient {
                    return Ok(None);
                }
                std::thread::sleep(RETRY_AFTER);
                continue;
            };
            let views = &*views;
            let applied_before = applied_raft_index(machine)?;
            let is_fresh = |e: &Entry| applied_before.is_none_or(|before| e.index() > before);
            let fresh: Vec<&Entry> = entries.iter().filter(|e| is_fresh(e)).collect();
            let outcome =
                catch_unwind(AssertUnwindSafe(|| run_batch(machine, views, &fresh, raft)))
                    .map_err(|panic| {
                        StoreError::Internal(format!(
                            "the writer panicked: {}",
                            panic_message(panic.as_ref())
                        ))
                    })?;
            match outcome {
                BatchEnd::Committed(answers, committed, staged) => {
                    let answers = answered(&indexes, &fresh, answers);
                    self.publish(&committed, staged);
                    // Kept (moved, not copied) until the next checkpoint makes them durable.
                    self.retain(entries.into_iter().filter(is_fresh).collect(), raft);
                    // An impatient apply runs on the async runtime: its synced checkpoint is
                    // left to the checkpoint thread, which looks every CHECKPOINT_EVERY.
                    let due = |w: &Self| patient && w.checkpoint_due();
                    if let Err(error) = self.checkpoint_if(due) {
                        // The batches stay kept; the next checkpoint tries again.
                        tracing::warn!(%error, "a checkpoint failed");
                        metrics::counter!("burgee_storage_faults_total").increment(1);
                    }
                    self.record(started);
                    return Ok(Some(answers));
                }
                BatchEnd::Failed { answers, error } => {
                    let reason = error.to_string();
                    metrics::counter!("burgee_storage_faults_total").increment(1);
                    self.shared
                        .health
                        .set_unavailable(format!("a commit failed: {reason}"));
                    self.reopen();
                    // A commit can fail after the batch reached the disk (its last sync
                    // failed); what the reopened file holds is the truth.
                    let last_index = fresh.last().map(|e| e.index());
                    let on_disk = match self.machine.as_mut() {
                        Some(machine) => applied_raft_index(machine).unwrap_or(None),
                        None => None,
                    };
                    if let Some(answers) =
                        answers.filter(|_| on_disk.is_some() && on_disk >= last_index)
                    {
                        tracing::warn!(%reason, "a commit reported an error, but the batch reached the disk; it stands");
                        self.record(started);
                        return Ok(Some(answered(&indexes, &fresh, answers)));
                    }
                    tracing::error!(%reason, entries = entries.len(), "a batch failed; it is applied again from the log once storage takes it");
                    // A passing fault is retried at once; a lasting one once a second.
                    if attempt > 1 {
                        if !patient {
                            return Ok(None);
                        }
                        std::thread::sleep(RETRY_AFTER);
                    }
                }
            }
        }
        unreachable!("the attempts never run out")
    }

    /// Replaces the whole state with a snapshot and publishes it.
    pub fn install(
        &mut self,
        input: &mut dyn std::io::Read,
        raft: &[u8],
    ) -> Result<(), StoreError> {
        let machine = self.machine()?;
        let db = Arc::clone(machine.database());
        super::snapshot::install(&db, input, raft)?;
        machine.replace_database(db)?;
        let catalog = Arc::clone(machine.catalog());
        self.unsynced.clear();
        self.unsynced_commands = 0;
        self.shared.catalog.store(Arc::clone(&catalog));
        publish_all(&*self.views, &catalog);
        Ok(())
    }

    fn publish(&self, committed: &Committed, staged: V::Staged) {
        self.shared.catalog.store(Arc::clone(&committed.catalog));
        self.views.publish(staged, &committed.catalog);
        self.shared.health.set_available();
        if !committed.catalog.purges.is_empty() {
            self.shared.purge_wakeup.notify_one();
        }
    }

    fn record(&self, started: Instant) {
        let seconds = started.elapsed().as_secs_f64();
        metrics::histogram!("burgee_store_batch_seconds").record(seconds);
        self.shared.record_batch(seconds);
    }

    fn retain(&mut self, fresh: Vec<Entry>, raft: &[u8]) {
        self.unsynced_commands += fresh
            .iter()
            .map(|e| match e {
                Entry::Commands(_, envelopes) => envelopes.len(),
                _ => 0,
            })
            .sum::<usize>();
        self.unsynced.push((fresh, raft.to_vec()));
    }

    /// Reopens the database and applies again what it lost of the batches since the last
    /// checkpoint, then publishes the result.
    pub(super) fn reopen(&mut self) {
        let machine = self.machine.take();
        self.machine = self.reopen_from(machine);
        let Some(machine) = self.machine.as_mut() else {
            return;
        };
        if let Err(error) = replay(machine, &self.unsynced) {
            self.shared
                .health
                .set_unavailable(format!("applying the unsynced batches again: {error}"));
            self.machine = None;
            return;
        }
        self.unsynced.clear();
        self.unsynced_commands = 0;
        self.checkpointed = Instant::now();
        let catalog = Arc::clone(machine.catalog());
        self.shared.catalog.store(Arc::clone(&catalog));
        let views = &*self.views;
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| publish_all(views, &catalog))) {
            tracing::error!(reason = %panic_message(panic.as_ref()), "rebuilding the SDK snapshots after a reopen panicked; they stay as they were");
        }
    }

    /// Closes the database (waiting briefly for readers to let go) and opens it again, so that a
    /// latched I/O error clears and the state comes back from the file (as of its last
    /// checkpoint). `None` when the file cannot be opened now.
    fn reopen_from(&self, machine: Option<StateMachine>) -> Option<StateMachine> {
        let shared = &self.shared;
        let backend = shared.backend.clone();
        shared.db.store(None);
        if let Some(machine) = machine {
            release(machine.into_database());
        }
        let opened = super::database::open(&self.path, &backend)
            .map(Arc::new)
            .and_then(|db| StateMachine::new(Arc::clone(&db), backend).map(|m| (db, m)));
        match opened {
            Ok((db, machine)) => {
                shared.db.store(Some(db));
                if machine.catalog().meta.last_applied != shared.catalog.load().meta.last_applied {
                    shared.catalog.store(Arc::clone(machine.catalog()));
                    let views = &*self.views;
                    let published =
                        catch_unwind(AssertUnwindSafe(|| publish_all(views, machine.catalog())));
                    if let Err(panic) = published {
                        tracing::error!(reason = %panic_message(panic.as_ref()), "rebuilding the SDK snapshots after a reopen panicked; they stay as they were");
                    }
                }
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
}

impl<V: Views> Drop for Writer<V> {
    /// A clean stop leaves nothing for the log to apply again.
    fn drop(&mut self) {
        if let Err(error) = self.checkpoint_if(|_| true) {
            tracing::warn!(%error, "the last checkpoint failed; the log applies those batches again at the next start");
        }
    }
}

/// How a batch ended.
enum BatchEnd<S> {
    Committed(Vec<EntryAnswer>, Committed, S),
    /// Nothing was published. When the failure was the commit itself, `answers` holds what
    /// each entry decided.
    Failed {
        answers: Option<Vec<EntryAnswer>>,
        error: StoreError,
    },
}

/// Applies again, synced this time, the batches the reopened file lost (those past its Raft
/// position); their answers were given already.
fn replay(machine: &mut StateMachine, batches: &[(Vec<Entry>, Vec<u8>)]) -> Result<(), StoreError> {
    let on_disk = applied_raft_index(machine)?;
    for (entries, raft) in batches {
        let lost: Vec<&Entry> = entries
            .iter()
            .filter(|e| on_disk.is_none_or(|before| e.index() > before))
            .collect();
        if lost.is_empty() {
            continue;
        }
        let mut batch = machine.begin()?;
        for entry in lost {
            apply_entry(entry, |envelope| {
                batch.apply(envelope, |_, _| Ok(())).map(|_| ())
            })?
            .ok();
        }
        batch.set_raft_meta(raft.clone());
        batch.commit()?;
    }
    Ok(())
}

/// The Raft position the state holds (entries up to it are applied).
fn applied_raft_index(machine: &StateMachine) -> Result<Option<u64>, StoreError> {
    let meta = burgee_raft::RaftMeta(super::snapshot::raft_meta(machine.database())?);
    meta.last_applied()
        .map_err(|e| StoreError::Corrupt(format!("the stored Raft state: {e}")))
}

/// One answer per entry (by index): what `fresh` (those not applied before) answered, and
/// for an entry applied before, that it was.
fn answered(indexes: &[u64], fresh: &[&Entry], answers: Vec<EntryAnswer>) -> Vec<EntryAnswer> {
    let mut by_index: std::collections::BTreeMap<u64, EntryAnswer> =
        fresh.iter().map(|e| e.index()).zip(answers).collect();
    indexes
        .iter()
        .map(|index| {
            by_index
                .remove(index)
                .unwrap_or_else(|| Err(format!("log entry {index} was applied before")))
        })
        .collect()
}

/// Runs a batch with one rebuild of the views it touched, after its last entry (a burst of
/// toggles of one environment rebuilds it once, not once per toggle). If that rebuild
/// panics, the batch is run again rebuilding after each entry, which refuses the entry that
/// made it panic and keeps the others.
fn run_batch<V: Views>(
    machine: &mut StateMachine,
    views: &V,
    entries: &[&Entry],
    raft: &[u8],
) -> BatchEnd<V::Staged> {
    let failed = |error| BatchEnd::Failed {
        answers: None,
        error,
    };
    let mut batch = match machine.begin_unsynced() {
        Ok(batch) => batch,
        Err(error) => return failed(error),
    };
    let mut answers = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut answer = Vec::new();
        let applied = apply_entry(entry, |envelope| {
            let applied = batch.apply(envelope, |_, _| Ok(()))?;
            answer.push(applied);
            Ok(())
        });
        match applied {
            Ok(Ok(())) => answers.push(Ok(answer)),
            Ok(Err(unreadable)) => answers.push(Err(unreadable)),
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
        return run_batch_staging_each(machine, views, entries, raft);
    }
    answers.iter().flatten().flatten().for_each(count);
    commit(batch, raft, answers, staged)
}

/// A batch whose views are rebuilt after each entry, so a panic while building them refuses
/// only the entry that caused it.
fn run_batch_staging_each<V: Views>(
    machine: &mut StateMachine,
    views: &V,
    entries: &[&Entry],
    raft: &[u8],
) -> BatchEnd<V::Staged> {
    let mut staged = views.staged();
    let mut batch = match machine.begin_unsynced() {
        Ok(batch) => batch,
        Err(error) => {
            return BatchEnd::Failed {
                answers: None,
                error,
            };
        }
    };
    let mut answers = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut answer = Vec::new();
        let applied = apply_entry(entry, |envelope| {
            let applied = batch.apply(envelope, |catalog, touched| {
                stage_checked(views, &mut staged, catalog, touched)
            })?;
            count(&applied);
            answer.push(applied);
            Ok(())
        });
        match applied {
            Ok(Ok(())) => answers.push(Ok(answer)),
            Ok(Err(unreadable)) => answers.push(Err(unreadable)),
            Err(error) => {
                return BatchEnd::Failed {
                    answers: None,
                    error,
                };
            }
        }
    }
    commit(batch, raft, answers, staged)
}

/// Rebuilds the views of `touched` into `staged` from `catalog`, unless that panics: then
/// `staged` stays as it was and the answer says why (the command is refused).
pub fn stage_checked<V: Views>(
    views: &V,
    staged: &mut V::Staged,
    catalog: &Catalog,
    touched: &BTreeSet<u32>,
) -> Result<(), String> {
    let mut trial = staged.clone();
    catch_unwind(AssertUnwindSafe(|| {
        views.stage(&mut trial, catalog, touched);
    }))
    .map(|()| *staged = trial)
    .map_err(|panic| {
        format!(
            "building what SDKs are served panicked: {}",
            panic_message(panic.as_ref())
        )
    })
}

/// Applies each command of `entry` with `apply`; an unreadable entry changes nothing and
/// is answered with why.
fn apply_entry(
    entry: &Entry,
    mut apply: impl FnMut(&Envelope) -> Result<(), StoreError>,
) -> Result<Result<(), String>, StoreError> {
    match entry {
        Entry::Raft(_) => Ok(Ok(())),
        Entry::Commands(_, envelopes) => {
            for envelope in envelopes {
                apply(envelope)?;
            }
            Ok(Ok(()))
        }
        Entry::Undecodable(_, reason) => Ok(Err(format!(
            "the log entry is not a batch of commands: {reason}"
        ))),
    }
}

fn commit<S>(batch: Batch<'_>, raft: &[u8], answers: Vec<EntryAnswer>, staged: S) -> BatchEnd<S> {
    let mut batch = batch;
    batch.set_raft_meta(raft.to_vec());
    match batch.commit() {
        Ok(committed) => BatchEnd::Committed(answers, committed, staged),
        Err(error) => BatchEnd::Failed {
            answers: Some(answers),
            error,
        },
    }
}

fn count(answer: &Answer) {
    let outcome = match answer {
        Ok(_) => "applied",
        Err(CommandError::Failed(_)) => "panicked",
        Err(_) => "refused",
    };
    metrics::counter!("burgee_commands_total", "outcome" => outcome).increment(1);
}

/// Drops the last handle to a database, once readers have let go of theirs.
fn release(db: Arc<Database>) {
    let deadline = Instant::now() + RELEASE_WAIT;
    while Arc::strong_count(&db) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(db);
}

/// Views for a store that serves no SDKs (tools and tests).
pub struct NoViews;

impl Views for NoViews {
    type Staged = ();
    fn staged(&self) {}
    fn stage(&self, (): &mut (), _: &Catalog, _: &BTreeSet<u32>) {}
    fn publish(&self, (): (), _: &Catalog) {}
}
