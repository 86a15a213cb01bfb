//! Opening the redb file and loading the catalog from it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable};

use super::catalog::Catalog;
use super::codec::{decode, encode};
use super::error::StoreError;
use super::people::ApiTokenRecord;
use super::records::{
    EnvironmentRecord, FeatureRecord, FeatureStateRecord, OrganisationRecord, ProjectRecord,
    SegmentRecord, ServerKeyRecord,
};
use super::tables;

/// The store's on-disk format; a newer one is refused.
pub const STORE_FORMAT: u32 = 2;

/// How the database file is reached: plainly, or (in test builds) through a backend that
/// can be told to fail.
#[derive(Clone, Default)]
pub struct Backend {
    #[cfg(feature = "fault-injection")]
    pub faults: Option<Arc<super::fault::FaultPlan>>,
}

impl Backend {
    /// Whether commits are planned to fail (test builds): batches are then synced one by one,
    /// so that a planned commit is one that reaches the disk (an unsynced commit may write
    /// nothing at all).
    pub fn injects_faults(&self) -> bool {
        #[cfg(feature = "fault-injection")]
        return self.faults.is_some();
        #[cfg(not(feature = "fault-injection"))]
        false
    }

    /// A batch commit is about to start (fault injection counts and arms here).
    pub fn before_commit(&self) {
        #[cfg(feature = "fault-injection")]
        if let Some(plan) = &self.faults {
            plan.before_commit();
        }
    }

    pub fn after_commit(&self) {
        #[cfg(feature = "fault-injection")]
        if let Some(plan) = &self.faults {
            plan.after_commit();
        }
    }
}

/// Opens (or creates) the database at `path`; creates every table and checks the format.
pub fn open(path: &Path, backend: &Backend) -> Result<Database, StoreError> {
    let locked = |e: redb::DatabaseError| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
            path: path.parent().unwrap_or(path).display().to_string(),
        },
        other => StoreError::Database(other.to_string()),
    };
    #[cfg(feature = "fault-injection")]
    if let Some(plan) = &backend.faults {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let db = Database::builder()
            .create_with_backend(plan.backend(file)?)
            .map_err(locked)?;
        prepare(&db)?;
        return Ok(db);
    }
    let _ = backend;
    let db = Database::create(path).map_err(locked)?;
    prepare(&db)?;
    Ok(db)
}

/// Creates every table, so that reads never meet a missing one, and records or checks the
/// format.
fn prepare(db: &Database) -> Result<(), StoreError> {
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
            Some(STORE_FORMAT) => {}
            Some(1) => {
                drop(meta);
                super::migrate::from_format_1(&txn)?;
                meta = txn.open_table(tables::META)?;
                meta.insert("format", encode(&STORE_FORMAT)?.as_slice())?;
                tracing::info!("the data directory was upgraded to store format {STORE_FORMAT}");
            }
            Some(found) => {
                return Err(StoreError::Corrupt(format!("unknown store format {found}")));
            }
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
        txn.open_table(tables::FEATURE_LABELS)?;
        txn.open_table(tables::SERVER_KEYS)?;
        txn.open_table(tables::API_TOKENS)?;
        txn.open_table(tables::IDENTITIES)?;
        txn.open_table(tables::TRAITS)?;
        txn.open_table(tables::PURGES)?;
        txn.open_table(tables::EVALUATIONS)?;
        for table in [
            tables::USERS,
            tables::TEAMS,
            tables::ROLES,
            tables::GRANTS,
            tables::SESSIONS,
        ] {
            txn.open_table(table)?;
        }
        txn.open_table(tables::AUDIT)?;
    }
    txn.commit()?;
    Ok(())
}

/// Reads the whole catalog (everything but identity rows).
pub fn load(db: &Database) -> Result<Catalog, StoreError> {
    let txn = db.begin_read()?;
    let mut catalog = Catalog::default();
    let meta = txn.open_table(tables::META)?;
    if let Some(value) = meta.get("meta")? {
        catalog.meta = decode(value.value())?;
    }
    if let Some(value) = meta.get(tables::COMMAND_FORMAT_KEY)? {
        catalog.command_format = decode(value.value())?;
    }
    drop(meta);
    catalog.organisations = Arc::new(read_all::<OrganisationRecord>(&txn, tables::ORGANISATIONS)?);
    catalog.projects = Arc::new(read_all::<ProjectRecord>(&txn, tables::PROJECTS)?);
    catalog.environments = Arc::new(read_all::<EnvironmentRecord>(&txn, tables::ENVIRONMENTS)?);
    catalog.features = Arc::new(read_all::<FeatureRecord>(&txn, tables::FEATURES)?);
    catalog.segments = Arc::new(read_all::<SegmentRecord>(&txn, tables::SEGMENTS)?);
    catalog.states = Arc::new(read_all::<FeatureStateRecord>(
        &txn,
        tables::FEATURE_STATES,
    )?);
    catalog.feature_labels = Arc::new(read_all(&txn, tables::FEATURE_LABELS)?);
    catalog.server_keys = Arc::new(read_all::<ServerKeyRecord>(&txn, tables::SERVER_KEYS)?);
    catalog.tokens = Arc::new(read_all::<ApiTokenRecord>(&txn, tables::API_TOKENS)?);
    catalog.users = Arc::new(read_all(&txn, tables::USERS)?);
    catalog.teams = Arc::new(read_all(&txn, tables::TEAMS)?);
    catalog.roles = Arc::new(read_all(&txn, tables::ROLES)?);
    catalog.grants = Arc::new(read_all(&txn, tables::GRANTS)?);
    catalog.sessions = Arc::new(read_all(&txn, tables::SESSIONS)?);
    catalog.index_credentials();
    let mut purges = std::collections::BTreeSet::new();
    for entry in txn.open_table(tables::PURGES)?.iter()? {
        purges.insert(entry?.0.value());
    }
    catalog.purges = Arc::new(purges);
    Ok(catalog)
}

fn read_all<T: serde::de::DeserializeOwned>(
    txn: &redb::ReadTransaction,
    table: redb::TableDefinition<u32, &[u8]>,
) -> Result<BTreeMap<u32, T>, StoreError> {
    let table = txn.open_table(table)?;
    let mut map = BTreeMap::new();
    for entry in table.iter()? {
        let (id, value) = entry?;
        map.insert(id.value(), decode(value.value())?);
    }
    Ok(map)
}

/// (table, key as text, value bytes).
pub type DumpedRow = (&'static str, String, Vec<u8>);

/// Every row of every table, keys rendered as text and values as stored: for comparing two
/// stores byte for byte (replays, snapshots, backups).
pub fn dump(db: &Database) -> Result<Vec<DumpedRow>, StoreError> {
    let txn = db.begin_read()?;
    let mut rows = Vec::new();
    for entry in txn.open_table(tables::META)?.iter()? {
        let (k, v) = entry?;
        rows.push(("meta", k.value().to_owned(), v.value().to_vec()));
    }
    for (name, table) in [
        ("organisations", tables::ORGANISATIONS),
        ("projects", tables::PROJECTS),
        ("environments", tables::ENVIRONMENTS),
        ("features", tables::FEATURES),
        ("segments", tables::SEGMENTS),
        ("feature_states", tables::FEATURE_STATES),
        ("feature_labels", tables::FEATURE_LABELS),
        ("server_keys", tables::SERVER_KEYS),
        ("api_tokens", tables::API_TOKENS),
        ("users", tables::USERS),
        ("teams", tables::TEAMS),
        ("roles", tables::ROLES),
        ("grants", tables::GRANTS),
        ("sessions", tables::SESSIONS),
    ] {
        for entry in txn.open_table(table)?.iter()? {
            let (k, v) = entry?;
            rows.push((name, k.value().to_string(), v.value().to_vec()));
        }
    }
    for entry in txn.open_table(tables::AUDIT)?.iter()? {
        let (k, v) = entry?;
        rows.push(("audit", k.value().to_string(), v.value().to_vec()));
    }
    for entry in txn.open_table(tables::PURGES)?.iter()? {
        rows.push(("purges", entry?.0.value().to_string(), Vec::new()));
    }
    for entry in txn.open_table(tables::IDENTITIES)?.iter()? {
        let (k, v) = entry?;
        rows.push(("identities", format!("{:?}", k.value()), v.value().to_vec()));
    }
    for entry in txn.open_table(tables::TRAITS)?.iter()? {
        let (k, v) = entry?;
        rows.push(("traits", format!("{:?}", k.value()), v.value().to_vec()));
    }
    for entry in txn.open_table(tables::EVALUATIONS)?.iter()? {
        let (k, v) = entry?;
        rows.push((
            "evaluations",
            format!("{:?}", k.value()),
            v.value().to_vec(),
        ));
    }
    Ok(rows)
}
