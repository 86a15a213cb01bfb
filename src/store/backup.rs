//! Backup files: the store's snapshot stream (one read transaction, row by row: see
//! [`snapshot`]) between a header that says what it is and a SHA-256 of everything before it.
//! Written and read as streams, so a store of gigabytes is never held in memory; a file that
//! is truncated, altered or of an unknown format is refused before anything is restored.
//!
//! Layout: `burgee-backup\n` magic (16 bytes), backup format (u32 LE), header length (u32 LE),
//! header (JSON), the snapshot stream (its own magic, store format, rows, closing count),
//! then the trailer: `sha256\0\0` and the 32-byte digest of all that came before.

use std::io::{Read, Write};
use std::path::Path;

use redb::Database;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::database::{self, Backend, STORE_FORMAT};
use super::error::StoreError;
use super::sealed::{self, BackupKey, Opening};
use super::snapshot::{self, Row};

const MAGIC: &[u8; 16] = b"burgee-backup\n\0\0";
const TRAILER: &[u8; 8] = b"sha256\0\0";
/// The backup file's own layout; the rows inside follow [`STORE_FORMAT`].
pub const BACKUP_FORMAT: u32 = 1;
const MAX_HEADER: u32 = 64 * 1024;

/// What a backup says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub burgee_version: String,
    /// When it was taken, Unix milliseconds.
    pub created_at_ms: i64,
    pub store_format: u32,
    /// The node it was taken from, and its cluster.
    pub node_id: u64,
    pub cluster_id: Option<String>,
    /// The log index applied when the backup began (the backup holds at least this much).
    pub applied_index: u64,
}

impl Header {
    /// A backup of this node's store as it is now.
    pub fn now(store: &super::Embedded, applied_index: u64) -> Self {
        let status = store.node().status();
        Self {
            burgee_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at_ms: crate::clock::now_millis(),
            store_format: STORE_FORMAT,
            node_id: status.id,
            cluster_id: status.cluster_id,
            applied_index,
        }
    }
}

/// What reading a whole backup found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub header: Header,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("backup: {what}"))
}

/// Passes everything written through a SHA-256 and counts it.
struct Hashing<'w> {
    inner: &'w mut dyn Write,
    hash: Sha256,
    bytes: u64,
}

impl Write for Hashing<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(data)?;
        self.hash.update(&data[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Passes everything read through a SHA-256 and counts it.
struct Hashed<'r> {
    inner: &'r mut dyn Read,
    hash: Sha256,
    bytes: u64,
}

impl Read for Hashed<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.hash.update(&buffer[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Writes a backup of `db` to `out`, as of one read transaction.
pub fn write(db: &Database, header: &Header, out: &mut dyn Write) -> Result<Summary, StoreError> {
    let failed = |e: std::io::Error| StoreError::Database(format!("writing the backup: {e}"));
    let json = serde_json::to_vec(header).map_err(|e| StoreError::Encode(e.to_string()))?;
    let length = u32::try_from(json.len()).map_err(|_| StoreError::Encode("header".into()))?;
    let mut hashing = Hashing {
        inner: out,
        hash: Sha256::new(),
        bytes: 0,
    };
    hashing.write_all(MAGIC).map_err(failed)?;
    hashing
        .write_all(&BACKUP_FORMAT.to_le_bytes())
        .map_err(failed)?;
    hashing.write_all(&length.to_le_bytes()).map_err(failed)?;
    hashing.write_all(&json).map_err(failed)?;
    let (_raft, rows) = snapshot::write(db, &mut hashing)?;
    let digest: [u8; 32] = hashing.hash.clone().finalize().into();
    let bytes = hashing.bytes + (TRAILER.len() + digest.len()) as u64;
    let out = hashing.inner;
    out.write_all(TRAILER).map_err(failed)?;
    out.write_all(&digest).map_err(failed)?;
    out.flush().map_err(failed)?;
    Ok(Summary {
        header: header.clone(),
        rows,
        bytes,
        sha256: super::audit::hex(&digest),
    })
}

/// Reads a backup's header, then hands its snapshot stream to `body`; checks the digest and
/// that nothing follows it.
fn read_with<T>(
    input: &mut dyn Read,
    body: &mut dyn FnMut(&mut dyn Read) -> Result<T, StoreError>,
) -> Result<(Header, T, u64, [u8; 32]), StoreError> {
    let mut hashed = Hashed {
        inner: input,
        hash: Sha256::new(),
        bytes: 0,
    };
    let mut magic = [0u8; 16];
    read_part(
        &mut hashed,
        &mut magic,
        "the file is too short to be a Burgee backup",
    )?;
    if &magic != MAGIC {
        return Err(corrupt("not a Burgee backup file"));
    }
    let mut word = [0u8; 4];
    read_part(&mut hashed, &mut word, "it ends in its header")?;
    let format = u32::from_le_bytes(word);
    if format != BACKUP_FORMAT {
        return Err(StoreError::NewerFormat {
            found: format,
            supported: BACKUP_FORMAT,
        });
    }
    read_part(&mut hashed, &mut word, "it ends in its header")?;
    let length = u32::from_le_bytes(word);
    if length > MAX_HEADER {
        return Err(corrupt(format!("a header of {length} bytes")));
    }
    let mut json = vec![0u8; length as usize];
    read_part(&mut hashed, &mut json, "it ends in its header")?;
    let header: Header =
        serde_json::from_slice(&json).map_err(|e| corrupt(format!("its header: {e}")))?;
    if header.store_format > STORE_FORMAT {
        return Err(StoreError::NewerFormat {
            found: header.store_format,
            supported: STORE_FORMAT,
        });
    }
    let outcome = body(&mut hashed)?;
    let digest: [u8; 32] = hashed.hash.clone().finalize().into();
    let bytes = hashed.bytes;
    let input = hashed.inner;
    let mut trailer = [0u8; 40];
    read_part(
        input,
        &mut trailer,
        "it is truncated: the closing checksum is missing (an interrupted backup?)",
    )?;
    if &trailer[..8] != TRAILER {
        return Err(corrupt("the closing checksum is missing"));
    }
    if trailer[8..] != digest {
        return Err(corrupt(
            "the checksum does not match: the file was altered or damaged",
        ));
    }
    let mut extra = [0u8; 1];
    if input.read(&mut extra).map_err(corrupt)? != 0 {
        return Err(corrupt("bytes follow the closing checksum"));
    }
    Ok((header, outcome, bytes + 40, digest))
}

/// The backup inside `input`: as it is, or decrypted with `key` when it was encrypted.
fn plain<'a>(
    input: &'a mut dyn Read,
    key: Option<&'a BackupKey>,
) -> Result<Box<dyn Read + 'a>, StoreError> {
    let mut magic = [0u8; 16];
    let mut seen = 0;
    while seen < magic.len() {
        match input.read(&mut magic[seen..]) {
            Ok(0) => break,
            Ok(n) => seen += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(corrupt(e)),
        }
    }
    if &magic == sealed::MAGIC {
        let key = key.ok_or_else(|| {
            StoreError::Unusable("the backup is encrypted: give its --key-file".into())
        })?;
        return Ok(Box::new(Opening::new(input, key)?));
    }
    Ok(Box::new(
        std::io::Cursor::new(magic[..seen].to_vec()).chain(input),
    ))
}

/// Reads exactly `buffer`; a refusal from decryption says what it is, else `short` does.
fn read_part(input: &mut dyn Read, buffer: &mut [u8], short: &str) -> Result<(), StoreError> {
    input.read_exact(buffer).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            corrupt(e)
        } else {
            corrupt(short)
        }
    })
}

/// Reads a whole backup and checks it, restoring nothing (decrypting it with `key` if it
/// was encrypted).
pub fn verify(input: &mut dyn Read, key: Option<&BackupKey>) -> Result<Summary, StoreError> {
    let mut input = plain(input, key)?;
    let (header, rows, bytes, digest) = read_with(&mut input, &mut |stream| {
        snapshot::read(stream, &mut |_: &Row| Ok(()))
    })?;
    Ok(Summary {
        header,
        rows,
        bytes,
        sha256: super::audit::hex(&digest),
    })
}

/// Restores the backup in `file` into the new data directory `dir`: checked whole first, then
/// installed in one transaction. The directory holds no Raft state, so the server started on
/// it forms a new cluster of one (with a new cluster id) that holds the backup's state.
pub fn restore(file: &Path, dir: &Path, key: Option<&BackupKey>) -> Result<Summary, StoreError> {
    let open = || {
        std::fs::File::open(file)
            .map(std::io::BufReader::new)
            .map_err(|e| StoreError::Unusable(format!("{}: {e}", file.display())))
    };
    let summary = verify(&mut open()?, key)?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| StoreError::Unusable(format!("{}: {e}", dir.display())))?
            .next()
            .is_some()
    {
        return Err(StoreError::Unusable(format!(
            "{} is not empty: restore into a new data directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Unwritable {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let path = dir.join("state.redb");
    let installed = database::open(&path, &Backend::default()).and_then(|db| {
        let mut file = open()?;
        let mut input = plain(&mut file, key)?;
        read_with(&mut input, &mut |stream| {
            snapshot::install(&db, stream, &[])
        })
    });
    if let Err(error) = installed {
        // Nothing half-restored is left to be started by mistake.
        let _ = std::fs::remove_file(&path);
        return Err(error);
    }
    Ok(summary)
}
