//! A snapshot of the whole store, streamed: written from one read transaction (a consistent
//! view) row by row, installed into one write transaction row by row, so a store whose
//! identity tables hold gigabytes is never held whole in memory. The Raft log ships these
//! to a follower that fell behind; backups can use the same format.
//!
//! Format: a magic line, the store format, then frames of `u32 length (LE) + postcard(Row)`
//! ending with [`Row::End`] (which carries the row count, so a truncated file is refused).

use std::io::{Read, Write};

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize};

use super::database::STORE_FORMAT;
use super::error::StoreError;
use super::tables;

const MAGIC: &[u8; 16] = b"burgee-snapshot\n";
/// The `meta` key of Raft's own state, stored with the state it describes.
pub const RAFT_META_KEY: &str = "raft";
/// Largest frame accepted (a row far beyond any record the store writes).
const MAX_FRAME: u32 = 256 << 20;

/// The catalog tables keyed by id, by tag.
pub const RECORD_TABLES: [(u8, TableDefinition<u32, &[u8]>); 14] = [
    (1, tables::ORGANISATIONS),
    (2, tables::PROJECTS),
    (3, tables::ENVIRONMENTS),
    (4, tables::FEATURES),
    (5, tables::SEGMENTS),
    (6, tables::FEATURE_STATES),
    (7, tables::SERVER_KEYS),
    (8, tables::API_TOKENS),
    (9, tables::USERS),
    (10, tables::TEAMS),
    (11, tables::ROLES),
    (12, tables::GRANTS),
    (13, tables::SESSIONS),
    (14, tables::FEATURE_LABELS),
];

/// One row of a store, as snapshots (and migrations between stores) carry it.
#[derive(Debug, Serialize, Deserialize)]
pub enum Row {
    Meta(String, Vec<u8>),
    Record(u8, u32, Vec<u8>),
    Audit(u64, Vec<u8>),
    Identity(u32, String, Vec<u8>),
    Trait(u32, String, String, Vec<u8>),
    Purge(u32),
    End {
        rows: u64,
    },
    /// (environment, feature, hour) → evaluation counts; after `End` in the enum so that the
    /// other variants keep their wire tags.
    Evaluation(u32, u32, u32, Vec<u8>),
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |e| StoreError::Database(format!("{what}: {e}"))
}

struct Writer<'w> {
    out: &'w mut dyn Write,
    rows: u64,
}

impl Writer<'_> {
    fn row(&mut self, row: &Row) -> Result<(), StoreError> {
        let bytes = postcard::to_stdvec(row).map_err(|e| StoreError::Encode(e.to_string()))?;
        let length = u32::try_from(bytes.len())
            .map_err(|_| StoreError::Encode("a row beyond 4 GiB".into()))?;
        self.out
            .write_all(&length.to_le_bytes())
            .map_err(io("writing a snapshot"))?;
        self.out
            .write_all(&bytes)
            .map_err(io("writing a snapshot"))?;
        self.rows += 1;
        Ok(())
    }
}

/// Writes every table of `db` to `out`, as of one read transaction; returns the Raft state
/// stored in that same view (empty if none) and the number of rows written.
pub fn write(db: &Database, out: &mut dyn Write) -> Result<(Vec<u8>, u64), StoreError> {
    out.write_all(MAGIC).map_err(io("writing a snapshot"))?;
    out.write_all(&STORE_FORMAT.to_le_bytes())
        .map_err(io("writing a snapshot"))?;
    let mut writer = Writer { out, rows: 0 };
    let raft = each_row(db, &mut |row| writer.row(&row))?;
    let rows = writer.rows;
    writer.row(&Row::End { rows })?;
    writer.out.flush().map_err(io("writing a snapshot"))?;
    Ok((raft, rows))
}

/// Hands every row of `db` (but Raft's own state, which it returns) to `visit`, as of one
/// read transaction, table by table; [`Row::End`] is not among them.
pub fn each_row(
    db: &Database,
    visit: &mut dyn FnMut(Row) -> Result<(), StoreError>,
) -> Result<Vec<u8>, StoreError> {
    let txn = db.begin_read()?;
    let mut raft = Vec::new();
    for row in txn.open_table(tables::META)?.iter()? {
        let (key, value) = row?;
        if key.value() == RAFT_META_KEY {
            raft = value.value().to_vec();
            continue;
        }
        visit(Row::Meta(key.value().to_owned(), value.value().to_vec()))?;
    }
    for (tag, table) in RECORD_TABLES {
        for row in txn.open_table(table)?.iter()? {
            let (key, value) = row?;
            visit(Row::Record(tag, key.value(), value.value().to_vec()))?;
        }
    }
    for row in txn.open_table(tables::AUDIT)?.iter()? {
        let (key, value) = row?;
        visit(Row::Audit(key.value(), value.value().to_vec()))?;
    }
    for row in txn.open_table(tables::IDENTITIES)?.iter()? {
        let (key, value) = row?;
        let (environment, identifier) = key.value();
        visit(Row::Identity(
            environment,
            identifier.to_owned(),
            value.value().to_vec(),
        ))?;
    }
    for row in txn.open_table(tables::TRAITS)?.iter()? {
        let (key, value) = row?;
        let (environment, identifier, name) = key.value();
        visit(Row::Trait(
            environment,
            identifier.to_owned(),
            name.to_owned(),
            value.value().to_vec(),
        ))?;
    }
    for row in txn.open_table(tables::PURGES)?.iter()? {
        visit(Row::Purge(row?.0.value()))?;
    }
    for row in txn.open_table(tables::EVALUATIONS)?.iter()? {
        let (key, value) = row?;
        let (environment, feature, hour) = key.value();
        visit(Row::Evaluation(
            environment,
            feature,
            hour,
            value.value().to_vec(),
        ))?;
    }
    Ok(raft)
}

fn read_frame(input: &mut dyn Read, buffer: &mut Vec<u8>) -> Result<Row, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(format!("snapshot: {what}"));
    let mut length = [0u8; 4];
    let cut = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            corrupt(e.to_string())
        } else {
            corrupt(format!("it ends early ({e})"))
        }
    };
    input.read_exact(&mut length).map_err(cut)?;
    let length = u32::from_le_bytes(length);
    if length > MAX_FRAME {
        return Err(corrupt(format!("a row of {length} bytes")));
    }
    buffer.resize(length as usize, 0);
    input.read_exact(buffer).map_err(cut)?;
    postcard::from_bytes(buffer).map_err(|e| corrupt(format!("a row cannot be read ({e})")))
}

fn clear(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(tables::META)?.retain(|_, _| false)?;
    for (_, table) in RECORD_TABLES {
        txn.open_table(table)?.retain(|_, _| false)?;
    }
    txn.open_table(tables::AUDIT)?.retain(|_, _| false)?;
    txn.open_table(tables::IDENTITIES)?.retain(|_, _| false)?;
    txn.open_table(tables::TRAITS)?.retain(|_, _| false)?;
    txn.open_table(tables::PURGES)?.retain(|_, _| false)?;
    txn.open_table(tables::EVALUATIONS)?.retain(|_, _| false)?;
    Ok(())
}

/// Replaces every table of `db` with the snapshot read from `input`, and stores `raft` as the
/// Raft state, in one durable write transaction: all of it or, on any error, none.
pub fn install(db: &Database, input: &mut dyn Read, raft: &[u8]) -> Result<(), StoreError> {
    read_header(input)?;
    let mut buffer = Vec::new();
    install_rows(db, &mut || read_frame(input, &mut buffer), raft)
}

/// Reads a whole snapshot without installing it: every row to `visit`, then checks the
/// closing count; returns the number of rows.
pub fn read(
    input: &mut dyn Read,
    visit: &mut dyn FnMut(&Row) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    read_header(input)?;
    let mut buffer = Vec::new();
    let mut rows = 0u64;
    loop {
        match read_frame(input, &mut buffer)? {
            Row::End { rows: expected } if expected == rows => return Ok(rows),
            Row::End { rows: expected } => {
                return Err(StoreError::Corrupt(format!(
                    "snapshot: {rows} rows where it says {expected}"
                )));
            }
            row => visit(&row)?,
        }
        rows += 1;
    }
}

/// The magic line and a store format this binary reads.
fn read_header(input: &mut dyn Read) -> Result<(), StoreError> {
    let mut magic = [0u8; 16];
    input
        .read_exact(&mut magic)
        .map_err(|_| StoreError::Corrupt("snapshot: no header".into()))?;
    if &magic != MAGIC {
        return Err(StoreError::Corrupt(
            "snapshot: not a Burgee snapshot".into(),
        ));
    }
    let mut format = [0u8; 4];
    input
        .read_exact(&mut format)
        .map_err(|_| StoreError::Corrupt("snapshot: no format".into()))?;
    let format = u32::from_le_bytes(format);
    if format != STORE_FORMAT {
        return Err(StoreError::NewerFormat {
            found: format,
            supported: STORE_FORMAT,
        });
    }
    Ok(())
}

/// Replaces every table of `db` with the rows `next` hands out until [`Row::End`] (whose
/// count must match), and stores `raft` as the Raft state, in one durable write
/// transaction: all of it or, on any error, none.
pub fn install_rows(
    db: &Database,
    next: &mut dyn FnMut() -> Result<Row, StoreError>,
    raft: &[u8],
) -> Result<(), StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    clear(&txn)?;
    {
        let mut meta = txn.open_table(tables::META)?;
        let mut records: Vec<_> = RECORD_TABLES
            .iter()
            .map(|(tag, t)| txn.open_table(*t).map(|t| (*tag, t)))
            .collect::<Result<_, _>>()?;
        let mut audit = txn.open_table(tables::AUDIT)?;
        let mut identities = txn.open_table(tables::IDENTITIES)?;
        let mut traits = txn.open_table(tables::TRAITS)?;
        let mut purges = txn.open_table(tables::PURGES)?;
        let mut evaluations = txn.open_table(tables::EVALUATIONS)?;
        let mut rows = 0u64;
        loop {
            match next()? {
                Row::Meta(key, value) => {
                    meta.insert(key.as_str(), value.as_slice())?;
                }
                Row::Record(tag, id, value) => {
                    let (_, table) =
                        records.iter_mut().find(|(t, _)| *t == tag).ok_or_else(|| {
                            StoreError::Corrupt(format!("snapshot: unknown table {tag}"))
                        })?;
                    table.insert(id, value.as_slice())?;
                }
                Row::Audit(seq, value) => {
                    audit.insert(seq, value.as_slice())?;
                }
                Row::Identity(environment, identifier, value) => {
                    identities.insert((environment, identifier.as_str()), value.as_slice())?;
                }
                Row::Trait(environment, identifier, name, value) => {
                    traits.insert(
                        (environment, identifier.as_str(), name.as_str()),
                        value.as_slice(),
                    )?;
                }
                Row::Purge(environment) => {
                    purges.insert(environment, ())?;
                }
                Row::Evaluation(environment, feature, hour, value) => {
                    evaluations.insert((environment, feature, hour), value.as_slice())?;
                }
                Row::End { rows: expected } => {
                    if expected != rows {
                        return Err(StoreError::Corrupt(format!(
                            "snapshot: {rows} rows where it says {expected}"
                        )));
                    }
                    break;
                }
            }
            rows += 1;
        }
        meta.insert(RAFT_META_KEY, raft)?;
    }
    txn.commit()?;
    Ok(())
}

/// The Raft state stored in `db` (empty if none).
pub fn raft_meta(db: &Database) -> Result<Vec<u8>, StoreError> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(tables::META)?;
    Ok(meta
        .get(RAFT_META_KEY)?
        .map(|v| v.value().to_vec())
        .unwrap_or_default())
}

/// Stores `raft` as the Raft state of `db`, durably.
pub fn store_raft_meta(db: &Database, raft: &[u8]) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(tables::META)?;
        meta.insert(RAFT_META_KEY, raft)?;
    }
    txn.commit()?;
    Ok(())
}
