//! A log that an earlier version kept in a redb file (`raft-log.redb`) moves into the
//! segment files once, at open: its vote, last purged id and entries are written and synced
//! there before the old file is removed, so a crash halfway leaves the old file to move again.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::meta::{Meta, MetaFile};
use super::wal::Wal;
use crate::error::LogStoreError;
use crate::types::{Entry, LogId, Vote};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_state");

/// Moves the log at `old` (if there is one) into `dir`.
pub(super) fn from_redb(old: &Path, dir: &Path) -> Result<(), LogStoreError> {
    if !old.is_file() {
        return Ok(());
    }
    tracing::info!(from = %old.display(), to = %dir.display(), "moving the Raft log into segment files");
    let db = Database::open(old)?;
    let txn = db.begin_read()?;
    let state = txn.open_table(STATE)?;
    let read = |key: &str| -> Result<Option<Vec<u8>>, LogStoreError> {
        Ok(state.get(key)?.map(|v| v.value().to_vec()))
    };
    let vote: Option<Vote> = read("vote")?
        .map(|b| postcard::from_bytes(&b))
        .transpose()?;
    let last_purged: Option<LogId> = read("last_purged")?
        .map(|b| postcard::from_bytes(&b))
        .transpose()?;
    // A half-done earlier move starts over.
    for item in std::fs::read_dir(dir)
        .map_err(|e| LogStoreError::Database(format!("listing {}: {e}", dir.display())))?
    {
        let path = item
            .map_err(|e| LogStoreError::Database(e.to_string()))?
            .path();
        if path.extension().is_some_and(|x| x == "seg") {
            std::fs::remove_file(&path).map_err(|e| {
                LogStoreError::Database(format!("removing {}: {e}", path.display()))
            })?;
        }
    }
    let mut wal = Wal::open(dir)?;
    let log = txn.open_table(LOG)?;
    let mut rows: Vec<(u64, Vec<u8>)> = Vec::new();
    for row in log.iter()? {
        let (index, bytes) = row?;
        // Checked on the way: a damaged entry stops the move with the old file intact.
        let _: Entry = postcard::from_bytes(bytes.value())?;
        rows.push((index.value(), bytes.value().to_vec()));
        if rows.len() == 1024 {
            append(&mut wal, &mut rows)?;
        }
    }
    append(&mut wal, &mut rows)?;
    wal.sync()?;
    MetaFile::open(dir)?.store(Meta { vote, last_purged })?;
    drop(log);
    drop(state);
    drop(txn);
    drop(db);
    std::fs::remove_file(old)
        .map_err(|e| LogStoreError::Database(format!("removing {}: {e}", old.display())))?;
    Ok(())
}

fn append(wal: &mut Wal, rows: &mut Vec<(u64, Vec<u8>)>) -> Result<(), LogStoreError> {
    let borrowed: Vec<(u64, &[u8])> = rows.iter().map(|(i, b)| (*i, b.as_slice())).collect();
    wal.append(&borrowed)?;
    rows.clear();
    Ok(())
}
