//! The storage seam: commands, the state machine that applies them to redb, the in-memory
//! catalog, and reads of identities and traits.
//!
//! Layout: [`command`] (every mutation, as a value), [`state_machine`] (the one `apply`, with a
//! file per aggregate), [`changes`] (the buffered change set every command produces and the
//! one place that writes it), [`batch`] (entries applied in one transaction, one durable
//! commit), [`writer`] (the supervised writer thread), [`database`] (opening the file, loading
//! the catalog), [`catalog`] (the configuration in memory), [`purge`] (background removal of
//! deleted environments' rows), [`health`] (what the probes report).

pub mod audit;
pub mod batch;
pub mod catalog;
pub mod changes;
mod codec;
pub mod command;
pub mod database;
mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod health;
mod migrate;
pub mod people;
mod purge;
pub mod records;
pub mod replicated;
pub mod retention;
mod shared;
pub mod snapshot;
pub mod state_machine;
mod tables;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase};
use tokio::sync::{mpsc, oneshot};

pub use catalog::Catalog;
pub use command::{Applied, Command, Envelope};
pub use error::{ErrorKind, StoreError};
pub use records::StoredValue;
pub use state_machine::CommandError;
pub use writer::Views;

use codec::decode;
use database::Backend;
use records::IdentityRecord;
use shared::Shared;

/// An identity and its traits, sorted by key.
pub type StoredIdentity = (IdentityRecord, Vec<(String, StoredValue)>);

/// A handle to the store; clone freely.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
    sender: mpsc::Sender<writer::Request>,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the store in `dir`; refuses a directory in use by another process,
    /// one it cannot write, or data from a newer format. `views` are built for every
    /// environment now and kept current with every command.
    pub fn open<V: Views>(dir: &Path, views: Arc<V>) -> Result<Self, StoreError> {
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
        writer::publish_all(&*views, machine.catalog());
        let shared = Arc::new(Shared::new(db, Arc::clone(machine.catalog()), backend));
        let (sender, receiver) = mpsc::channel(4096);
        let writer_shared = Arc::clone(&shared);
        let writer_path = path.clone();
        std::thread::Builder::new()
            .name("burgee-writer".into())
            .spawn(move || writer::run(machine, writer_shared, views, receiver, writer_path))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(Self {
            shared,
            sender,
            path,
        })
    }

    /// Starts removing the rows of deleted environments in the background (and resumes a
    /// removal a restart interrupted). Needs a Tokio runtime.
    pub fn start_background_work(&self) {
        tokio::spawn(purge::run(self.clone()));
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
        self.shared.health.unavailable()
    }

    /// Whether the writer thread runs.
    pub fn writer_alive(&self) -> bool {
        self.shared.health.writer_alive()
    }

    /// Proposes a command and waits until it is applied, durable and visible.
    pub async fn execute(
        &self,
        envelope: Envelope,
    ) -> Result<Result<Applied, CommandError>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((envelope, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
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

    fn database(&self) -> Result<Arc<Database>, StoreError> {
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
