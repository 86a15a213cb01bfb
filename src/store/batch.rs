//! Applying a batch of entries in one write transaction and committing it durably.
//!
//! A batch is all or nothing on disk: its entries apply in order inside one redb write
//! transaction (each entry sees the ones before it), and one commit makes them durable
//! together (`Durability::Immediate`), or durable with the next checkpoint when the Raft log
//! holds them meanwhile (`Durability::None`). Until that commit succeeded nothing of the batch is visible
//! to anyone: not in redb (readers see only committed data) and not in memory (the caller
//! publishes the catalog [`Batch::commit`] returns). A storage error anywhere fails the whole
//! batch, and nothing of it is on disk (its entries stay in the Raft log, to be applied again).

use std::collections::BTreeSet;
use std::sync::Arc;

use redb::{Database, Durability, WriteTransaction};

use super::catalog::Catalog;
use super::codec::encode;
use super::command::{Applied, Envelope};
use super::database::Backend;
use super::error::StoreError;
use super::rows::Target;
use super::state_machine::{self, CommandError, Step};
use super::tables;

/// The state machine over one redb database: the durable catalog and the way to extend it.
pub struct StateMachine {
    db: Arc<Database>,
    durable: Arc<Catalog>,
    backend: Backend,
}

/// What a committed batch left: the catalog to publish and the environments it changed.
pub struct Committed {
    pub catalog: Arc<Catalog>,
    pub touched: BTreeSet<u32>,
}

impl StateMachine {
    /// Over an open database, from the catalog it holds.
    pub fn new(db: Arc<Database>, backend: Backend) -> Result<Self, StoreError> {
        let durable = Arc::new(super::database::load(&db)?);
        Ok(Self {
            db,
            durable,
            backend,
        })
    }

    pub fn database(&self) -> &Arc<Database> {
        &self.db
    }

    /// The last durable catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.durable
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Starts a batch on top of the last committed state, made durable by its own commit.
    pub fn begin(&mut self) -> Result<Batch<'_>, StoreError> {
        self.begin_with(Durability::Immediate)
    }

    /// Starts a batch whose commit is not synced to disk: it is durable once a later
    /// [`StateMachine::checkpoint`] is (the Raft log holds its entries until then).
    pub fn begin_unsynced(&mut self) -> Result<Batch<'_>, StoreError> {
        if self.backend.injects_faults() {
            return self.begin_with(Durability::Immediate);
        }
        self.begin_with(Durability::None)
    }

    /// Makes every commit so far durable (one empty synced commit).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.commit()?;
        Ok(())
    }

    fn begin_with(&mut self, durability: Durability) -> Result<Batch<'_>, StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(durability)?;
        let catalog = Catalog::clone(&self.durable);
        Ok(Batch {
            machine: self,
            txn,
            catalog,
            touched: BTreeSet::new(),
            raft: None,
            commands: 0,
        })
    }

    /// Replaces the database after a fault (the caller reopened it) and reloads its state.
    pub fn replace_database(&mut self, db: Arc<Database>) -> Result<(), StoreError> {
        self.durable = Arc::new(super::database::load(&db)?);
        self.db = db;
        Ok(())
    }

    /// Gives up the database handle (to close and reopen the file).
    pub fn into_database(self) -> Arc<Database> {
        self.db
    }
}

/// An open batch. Dropping it without [`Batch::commit`] discards everything in it.
pub struct Batch<'m> {
    machine: &'m mut StateMachine,
    txn: WriteTransaction,
    catalog: Catalog,
    touched: BTreeSet<u32>,
    /// Raft's state after this batch, stored with it.
    raft: Option<Vec<u8>>,
    /// How many commands the batch applied (Raft's own entries not counted).
    commands: usize,
}

impl Batch<'_> {
    /// Counts log entry `index` as applied without a command (Raft's blank and membership
    /// entries), so the store's index stays the log's.
    pub fn advance(&mut self, index: u64) {
        self.catalog.meta.last_applied = self.catalog.meta.last_applied.max(index);
    }

    /// Stores Raft's state (last applied position, membership) in this batch's transaction.
    pub fn set_raft_meta(&mut self, meta: Vec<u8>) {
        self.raft = Some(meta);
    }

    /// The catalog as the batch's entries so far left it.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The environments the batch's entries so far changed.
    pub fn touched(&self) -> &BTreeSet<u32> {
        &self.touched
    }

    /// Applies `envelope` as the next log entry. `publishable` sees the catalog the entry
    /// would leave and the environments it changed; when it says no (with a reason), the entry
    /// becomes a refusal. Returns the entry's answer, or a storage error that fails the batch.
    pub fn apply(
        &mut self,
        envelope: &Envelope,
        publishable: impl FnOnce(&Catalog, &BTreeSet<u32>) -> Result<(), String>,
    ) -> Result<Result<Applied, CommandError>, StoreError> {
        let index = self.catalog.meta.last_applied + 1;
        self.apply_at(index, envelope, publishable)
    }

    /// Applies `envelope` as log entry `index`; an index applied before changes nothing.
    pub fn apply_at(
        &mut self,
        index: u64,
        envelope: &Envelope,
        publishable: impl FnOnce(&Catalog, &BTreeSet<u32>) -> Result<(), String>,
    ) -> Result<Result<Applied, CommandError>, StoreError> {
        self.commands += 1;
        apply_one(
            &self.txn,
            &mut self.catalog,
            &mut self.touched,
            index,
            envelope,
            publishable,
        )
    }

    /// Makes the batch durable; only then is its catalog the machine's durable one.
    pub fn commit(self) -> Result<Committed, StoreError> {
        let Self {
            machine,
            txn,
            catalog,
            touched,
            raft,
            commands,
        } = self;
        {
            let mut meta = txn.open_table(tables::META)?;
            meta.insert("meta", encode(&catalog.meta)?.as_slice())?;
            if let Some(raft) = raft {
                meta.insert(super::snapshot::RAFT_META_KEY, raft.as_slice())?;
            }
        }
        // Fault injection counts the commits of batches with commands only, whatever Raft
        // entries (blank, membership) commit on their own.
        let counted = commands > 0;
        if counted {
            machine.backend.before_commit();
        }
        let committed = txn.commit();
        if counted {
            machine.backend.after_commit();
        }
        committed?;
        let catalog = Arc::new(catalog);
        machine.durable = Arc::clone(&catalog);
        Ok(Committed { catalog, touched })
    }
}

/// Applies `envelope` as log entry `index` on top of `catalog` and writes what it changed
/// to `target` (whose rows the command read): the one way every store applies a command.
/// `publishable` sees the catalog the entry would leave and the environments it changed;
/// when it says no, the entry becomes a refusal. `catalog` and `touched` are advanced.
pub fn apply_one(
    target: &dyn Target,
    catalog: &mut Catalog,
    touched: &mut BTreeSet<u32>,
    index: u64,
    envelope: &Envelope,
    publishable: impl FnOnce(&Catalog, &BTreeSet<u32>) -> Result<(), String>,
) -> Result<Result<Applied, CommandError>, StoreError> {
    let mut decision = match state_machine::apply(target.rows(), catalog, index, envelope)? {
        Step::AlreadyApplied => {
            return Ok(Err(CommandError::Conflict(format!(
                "entry {index} was applied already"
            ))));
        }
        Step::Decided(decision) => *decision,
    };
    if decision.result.is_ok()
        && !decision.touched.is_empty()
        && let Err(reason) = publishable(&decision.catalog, &decision.touched)
    {
        tracing::error!(request_id = %envelope.request_id, %reason, "publishing a command failed; it is refused");
        decision.refuse(catalog, CommandError::Failed(reason));
    }
    target.write(&decision.changes)?;
    touched.extend(decision.touched);
    *catalog = decision.catalog;
    Ok(decision.result)
}
