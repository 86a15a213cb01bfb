//! The storage seam: commands, the state machine that applies them to redb, the in-memory
//! catalog, and reads of identities and traits.
//!
//! One writer thread applies commands in log order. Commands that arrive together are
//! group-committed: each applies in its own transaction, and only the last of a batch is
//! made durable (fsync), which makes all of them durable; callers hear back after that.

pub mod catalog;
mod codec;
pub mod command;
mod error;
pub mod records;
pub mod state_machine;
mod tables;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use redb::{Database, Durability, ReadableDatabase, ReadableTable};
use tokio::sync::{mpsc, oneshot};

pub use catalog::Catalog;
pub use command::{Applied, Command, Envelope};
pub use error::StoreError;
pub use records::StoredValue;
pub use state_machine::CommandError;

use codec::{decode, encode};
use records::{
    ApiTokenRecord, EnvironmentRecord, FeatureRecord, FeatureStateRecord, IdentityRecord,
    OrganisationRecord, ProjectRecord, SegmentRecord, ServerKeyRecord,
};

/// The store's on-disk format; a newer one is refused.
const STORE_FORMAT: u32 = 1;
/// At most this many commands share one durable commit.
const MAX_BATCH: usize = 256;

/// Called after each batch is durable: the new catalog and the environments it changed.
pub type Observer = Box<dyn Fn(&Arc<Catalog>, &BTreeSet<u32>) + Send + Sync>;

type Reply = oneshot::Sender<Result<Result<Applied, CommandError>, StoreError>>;

/// An identity and its traits, sorted by key.
pub type StoredIdentity = (IdentityRecord, Vec<(String, StoredValue)>);

/// A handle to the store; clone freely.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    catalog: Arc<ArcSwap<Catalog>>,
    sender: mpsc::Sender<(Envelope, Reply)>,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the store in `dir`; refuses a directory in use by another process,
    /// one it cannot write, or data from a newer format. `observer` hears of every change.
    pub fn open(dir: &Path, observer: Observer) -> Result<Self, StoreError> {
        let unwritable = |e: std::io::Error| StoreError::Unwritable {
            path: dir.display().to_string(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(unwritable)?;
        let probe = dir.join(".burgee-write-test");
        std::fs::write(&probe, b"").map_err(unwritable)?;
        let _ = std::fs::remove_file(&probe);
        let path = dir.join("state.redb");
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: dir.display().to_string(),
            },
            other => StoreError::Database(other.to_string()),
        })?;
        let catalog = load(&db)?;
        let db = Arc::new(db);
        let catalog = Arc::new(ArcSwap::from_pointee(catalog));
        let (sender, receiver) = mpsc::channel(4096);
        let writer_db = Arc::clone(&db);
        let writer_catalog = Arc::clone(&catalog);
        std::thread::Builder::new()
            .name("burgee-writer".into())
            .spawn(move || writer(&writer_db, &writer_catalog, receiver, &observer))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(Self {
            db,
            catalog,
            sender,
            path,
        })
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// Where the data lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Proposes a command and waits until it is applied and durable.
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

    /// An identity and its traits (sorted by key), if it exists.
    pub fn identity(
        &self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<Option<StoredIdentity>, StoreError> {
        let txn = self.db.begin_read()?;
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
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(tables::IDENTITIES)?.len()?)
    }

    /// Identities of an environment after `cursor` (by identifier), at most `limit`.
    pub fn identities(
        &self,
        environment_id: u32,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, IdentityRecord)>, StoreError> {
        let txn = self.db.begin_read()?;
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
}

fn load(db: &Database) -> Result<Catalog, StoreError> {
    // Create every table so that reads never meet a missing one.
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(tables::META)?;
        let format = meta
            .get("format")?
            .map(|v| decode::<u32>(v.value()))
            .transpose()?;
        match format {
            Some(found) if found > STORE_FORMAT => {
                return Err(StoreError::NewerFormat {
                    found,
                    supported: STORE_FORMAT,
                });
            }
            Some(_) => {}
            None => {
                meta.insert("format", encode(&STORE_FORMAT)?.as_slice())?;
            }
        }
        txn.open_table(tables::ORGANISATIONS)?;
        txn.open_table(tables::PROJECTS)?;
        txn.open_table(tables::ENVIRONMENTS)?;
        txn.open_table(tables::FEATURES)?;
        txn.open_table(tables::SEGMENTS)?;
        txn.open_table(tables::FEATURE_STATES)?;
        txn.open_table(tables::SERVER_KEYS)?;
        txn.open_table(tables::API_TOKENS)?;
        txn.open_table(tables::IDENTITIES)?;
        txn.open_table(tables::TRAITS)?;
    }
    txn.commit()?;

    let txn = db.begin_read()?;
    let mut catalog = Catalog::default();
    if let Some(meta) = txn.open_table(tables::META)?.get("meta")? {
        catalog.meta = decode(meta.value())?;
    }
    fn read_all<T: serde::de::DeserializeOwned>(
        txn: &redb::ReadTransaction,
        table: redb::TableDefinition<u32, &[u8]>,
    ) -> Result<std::collections::BTreeMap<u32, T>, StoreError> {
        let table = txn.open_table(table)?;
        let mut map = std::collections::BTreeMap::new();
        for entry in table.iter()? {
            let (id, value) = entry?;
            map.insert(id.value(), decode(value.value())?);
        }
        Ok(map)
    }
    catalog.organisations = Arc::new(read_all::<OrganisationRecord>(&txn, tables::ORGANISATIONS)?);
    catalog.projects = Arc::new(read_all::<ProjectRecord>(&txn, tables::PROJECTS)?);
    catalog.environments = Arc::new(read_all::<EnvironmentRecord>(&txn, tables::ENVIRONMENTS)?);
    catalog.features = Arc::new(read_all::<FeatureRecord>(&txn, tables::FEATURES)?);
    catalog.segments = Arc::new(read_all::<SegmentRecord>(&txn, tables::SEGMENTS)?);
    catalog.states = Arc::new(read_all::<FeatureStateRecord>(
        &txn,
        tables::FEATURE_STATES,
    )?);
    catalog.server_keys = Arc::new(read_all::<ServerKeyRecord>(&txn, tables::SERVER_KEYS)?);
    catalog.tokens = Arc::new(read_all::<ApiTokenRecord>(&txn, tables::API_TOKENS)?);
    Ok(catalog)
}

/// The writer thread: applies commands in arrival order, group-committing each batch.
fn writer(
    db: &Database,
    catalog: &ArcSwap<Catalog>,
    mut receiver: mpsc::Receiver<(Envelope, Reply)>,
    observer: &Observer,
) {
    while let Some(first) = receiver.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut current = catalog.load_full();
        let mut touched = BTreeSet::new();
        let mut replies = Vec::with_capacity(batch.len());
        let last = batch.len() - 1;
        for (position, (envelope, reply)) in batch.into_iter().enumerate() {
            let durability = if position == last {
                Durability::Immediate
            } else {
                Durability::None
            };
            let index = current.meta.last_applied + 1;
            let answer = if envelope.format > command::COMMAND_FORMAT {
                Ok(Err(CommandError::Invalid(format!(
                    "command format {} is newer than this node's {}",
                    envelope.format,
                    command::COMMAND_FORMAT
                ))))
            } else {
                match state_machine::apply(db, &current, index, &envelope, durability) {
                    Ok(outcome) => {
                        touched.extend(outcome.touched_environments);
                        current = Arc::new(outcome.catalog);
                        Ok(outcome.result)
                    }
                    Err(error) => Err(error),
                }
            };
            let outcome = match &answer {
                Ok(Ok(_)) => "applied",
                Ok(Err(_)) => "refused",
                Err(_) => "failed",
            };
            metrics::counter!("burgee_commands_total", "outcome" => outcome).increment(1);
            replies.push((reply, answer));
        }
        // When the batch's final (durable) commit failed, the earlier ones are not durable
        // yet: commit durably once more, or report the failure to everyone.
        let mut durable: Result<(), StoreError> = Ok(());
        if matches!(replies.last(), Some((_, Err(_)))) {
            durable = (|| {
                let mut txn = db.begin_write()?;
                txn.set_durability(Durability::Immediate)?;
                txn.commit()?;
                Ok(())
            })();
        }
        catalog.store(Arc::clone(&current));
        observer(&current, &touched);
        for (reply, answer) in replies {
            let answer = match (&durable, answer) {
                (Err(e), _) => Err(StoreError::Database(e.to_string())),
                (Ok(()), answer) => answer,
            };
            let _ = reply.send(answer);
        }
    }
}
