//! The log's files: append-only segments (`{first index:020}.seg`, a new one past 64 MiB),
//! each a run of records `[length u32][crc32 u32][postcard entry]`. Appending is a write at
//! the end and one `fdatasync` per group (see `flusher`); truncating cuts a segment at a
//! record; purging deletes whole segments. On open every record is checked: a torn record
//! at the end of the last segment (a crash mid-write, never acknowledged: cut short, the
//! file's final record, one followed only by zeros, or one with a zeroed sector as unwritten
//! pages read) is cut off with what follows; damage anywhere else is an error, never
//! silently skipped. Files grow in zero-filled steps ahead of their records, so a zeroed
//! header is where a segment's records end.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::LogStoreError;
use crate::types::Entry;

/// A segment takes appends until it is this long (small in unit tests, to cross segments).
const SEGMENT_BYTES: u64 = if cfg!(test) { 4096 } else { 64 * 1024 * 1024 };
/// Segments grow by zero-filled steps of this size ahead of the records: a sync of records
/// written over zeros leaves the file's size alone, so `fdatasync` writes no inode (a second
/// synchronous write on every append otherwise).
const PREALLOCATE: u64 = if cfg!(test) { 1024 } else { 1024 * 1024 };
/// Larger records are refused as damage (a length read from a torn header).
const MAX_RECORD: u32 = 256 * 1024 * 1024;
const HEADER: u64 = 8;

/// Where an entry's record lies.
#[derive(Debug, Clone, Copy)]
struct Location {
    /// The first index of its segment (the segment's key).
    segment: u64,
    offset: u64,
    len: u32,
}

struct Segment {
    path: PathBuf,
    file: Arc<File>,
    /// Where its records end.
    len: u64,
    /// The file's size: zeros from `len` to here.
    allocated: u64,
}

/// Syncs to make, taken from the [`Wal`] so they run without holding it.
pub(super) struct Syncs {
    files: Vec<(Arc<File>, PathBuf)>,
    dir: Option<PathBuf>,
}

impl Syncs {
    pub fn run(self) -> Result<(), LogStoreError> {
        for (file, path) in self.files {
            file.sync_data().map_err(|e| io("syncing", &path, &e))?;
        }
        if let Some(dir) = self.dir {
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("syncing", &dir, &e))?;
        }
        Ok(())
    }
}

/// The segments and where each entry is.
pub(super) struct Wal {
    dir: PathBuf,
    segments: BTreeMap<u64, Segment>,
    index: BTreeMap<u64, Location>,
    /// Segments written since the last sync (the active one, and one just rolled over).
    dirty: Vec<u64>,
    /// A segment file was created or removed: the directory must be synced too.
    dir_dirty: bool,
}

impl Wal {
    /// Opens the segments in `dir` (created if missing), checking every record.
    pub fn open(dir: &Path) -> Result<Self, LogStoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, &e))?;
        let mut firsts: Vec<(u64, PathBuf)> = Vec::new();
        for item in std::fs::read_dir(dir).map_err(|e| io("listing", dir, &e))? {
            let path = item.map_err(|e| io("listing", dir, &e))?.path();
            let first = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(first) = first {
                firsts.push((first, path));
            }
        }
        firsts.sort();
        let mut wal = Self {
            dir: dir.to_owned(),
            segments: BTreeMap::new(),
            index: BTreeMap::new(),
            dirty: Vec::new(),
            dir_dirty: false,
        };
        let count = firsts.len();
        for (n, (first, path)) in firsts.into_iter().enumerate() {
            if let Some(last) = wal.last_index()
                && first != last + 1
            {
                return Err(LogStoreError::Corrupt(format!(
                    "{} starts at entry {first}, but the segment before it ends at {last}",
                    path.display()
                )));
            }
            wal.load(first, path, n + 1 == count)?;
        }
        Ok(wal)
    }

    /// Reads one segment's records into the index; cuts a torn tail of the last one.
    fn load(&mut self, first: u64, path: PathBuf, last: bool) -> Result<(), LogStoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io("opening", &path, &e))?;
        let size = file.metadata().map_err(|e| io("reading", &path, &e))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, &file);
        let mut offset = 0u64;
        let mut expected = first;
        let mut allocated = size;
        while offset < size {
            match read_record(&mut reader, size - offset) {
                Ok(None) => {
                    // The zeroed tail of a preallocated file: the records end here.
                    if zeros_to_end(&mut reader) {
                        break;
                    }
                    if !last {
                        return Err(LogStoreError::Corrupt(format!(
                            "{} at byte {offset}: data after the end of its records",
                            path.display()
                        )));
                    }
                    tracing::warn!(segment = %path.display(), offset, "cutting off a torn write after the end of the Raft log's records (a crash mid-write; it was never acknowledged)");
                    file.set_len(offset)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| io("truncating", &path, &e))?;
                    allocated = offset;
                    break;
                }
                Ok(Some(entry)) => {
                    let index = entry.0.log_id.index;
                    if index != expected {
                        return Err(LogStoreError::Corrupt(format!(
                            "{}: entry {index} where {expected} belongs",
                            path.display()
                        )));
                    }
                    self.index.insert(
                        index,
                        Location {
                            segment: first,
                            offset,
                            len: entry.1,
                        },
                    );
                    offset += HEADER + u64::from(entry.1);
                    expected += 1;
                }
                // Torn also when nothing but zeros follows it: the last write, over the
                // preallocated tail.
                Err(bad) if last && (bad.torn(offset, size) || zeros_to_end(&mut reader)) => {
                    let why = bad.why;
                    tracing::warn!(segment = %path.display(), offset, %why, "cutting off a torn record at the end of the Raft log (a crash mid-write; it was never acknowledged)");
                    file.set_len(offset)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| io("truncating", &path, &e))?;
                    allocated = offset;
                    break;
                }
                Err(bad) => {
                    return Err(LogStoreError::Corrupt(format!(
                        "{} at byte {offset}: {}",
                        path.display(),
                        bad.why
                    )));
                }
            }
        }
        drop(reader);
        self.segments.insert(
            first,
            Segment {
                path,
                file: Arc::new(file),
                len: offset,
                allocated,
            },
        );
        Ok(())
    }

    /// Appends encoded entries `(index, bytes)` (unsynced until [`Wal::sync`]).
    pub fn append(&mut self, rows: &[(u64, &[u8])]) -> Result<(), LogStoreError> {
        let Some(&(first_index, _)) = rows.first() else {
            return Ok(());
        };
        let active = match self.segments.last_key_value() {
            Some((first, segment)) if segment.len < SEGMENT_BYTES => *first,
            _ => self.create(first_index)?,
        };
        let segment = self
            .segments
            .get_mut(&active)
            .ok_or_else(|| LogStoreError::Database("the active segment is gone".into()))?;
        let mut buffer = Vec::with_capacity(rows.iter().map(|(_, b)| b.len() + 8).sum());
        let mut locations = Vec::with_capacity(rows.len());
        for (index, bytes) in rows {
            let len = u32::try_from(bytes.len())
                .ok()
                .filter(|l| *l <= MAX_RECORD)
                .ok_or_else(|| LogStoreError::Database("a Raft entry over 256 MiB".into()))?;
            locations.push((*index, segment.len + buffer.len() as u64, len));
            buffer.extend_from_slice(&len.to_le_bytes());
            buffer.extend_from_slice(&crc32(bytes).to_le_bytes());
            buffer.extend_from_slice(bytes);
        }
        let records = buffer.len() as u64;
        let end = segment.len + records;
        if end > segment.allocated {
            let allocated = end.div_ceil(PREALLOCATE) * PREALLOCATE;
            buffer.resize(buffer.len() + (allocated - end) as usize, 0);
            segment.allocated = allocated;
        }
        segment
            .file
            .write_all_at(&buffer, segment.len)
            .map_err(|e| io("writing", &segment.path, &e))?;
        segment.len = end;
        if !self.dirty.contains(&active) {
            self.dirty.push(active);
        }
        for (index, offset, len) in locations {
            self.index.insert(
                index,
                Location {
                    segment: active,
                    offset,
                    len,
                },
            );
        }
        Ok(())
    }

    fn create(&mut self, first: u64) -> Result<u64, LogStoreError> {
        let path = self.dir.join(format!("{first:020}.seg"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| io("creating", &path, &e))?;
        self.segments.insert(
            first,
            Segment {
                path,
                file: Arc::new(file),
                len: 0,
                allocated: 0,
            },
        );
        self.dir_dirty = true;
        Ok(first)
    }

    /// What must be synced to make everything written so far durable.
    pub fn syncs(&mut self) -> Syncs {
        let files = std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|first| self.segments.get(&first))
            .map(|s| (Arc::clone(&s.file), s.path.clone()))
            .collect();
        let dir = std::mem::take(&mut self.dir_dirty).then(|| self.dir.clone());
        Syncs { files, dir }
    }

    /// Makes everything written so far durable.
    pub fn sync(&mut self) -> Result<(), LogStoreError> {
        self.syncs().run()
    }

    /// Drops the entries from `from` on: their segment is cut there, later ones deleted.
    pub fn truncate(&mut self, from: u64) -> Result<(), LogStoreError> {
        let Some(location) = self.index.get(&from).copied() else {
            return Ok(());
        };
        self.index.retain(|index, _| *index < from);
        let later: Vec<u64> = self
            .segments
            .range(location.segment + 1..)
            .map(|(first, _)| *first)
            .collect();
        for first in later {
            self.remove(first)?;
        }
        if location.offset == 0 {
            self.remove(location.segment)?;
        } else if let Some(segment) = self.segments.get_mut(&location.segment) {
            segment
                .file
                .set_len(location.offset)
                .and_then(|()| segment.file.sync_data())
                .map_err(|e| io("truncating", &segment.path, &e))?;
            segment.len = location.offset;
            segment.allocated = location.offset;
        }
        // Durable now: entries dropped must never come back after a crash.
        self.sync()
    }

    /// Forgets the entries up to `through`, deleting the segments that hold nothing else.
    pub fn purge(&mut self, through: u64) -> Result<(), LogStoreError> {
        self.index.retain(|index, _| *index > through);
        let firsts: Vec<u64> = self.segments.keys().copied().collect();
        for pair in firsts.windows(2) {
            // Every entry of this segment is below the next segment's first.
            if pair[1] <= through + 1 {
                self.remove(pair[0])?;
            }
        }
        self.sync()
    }

    fn remove(&mut self, first: u64) -> Result<(), LogStoreError> {
        if let Some(segment) = self.segments.remove(&first) {
            std::fs::remove_file(&segment.path).map_err(|e| io("removing", &segment.path, &e))?;
            self.dirty.retain(|d| *d != first);
            self.dir_dirty = true;
        }
        Ok(())
    }

    pub fn last_index(&self) -> Option<u64> {
        self.index.last_key_value().map(|(index, _)| *index)
    }

    pub fn last_entry(&self) -> Result<Option<Entry>, LogStoreError> {
        match self.last_index() {
            Some(index) => self.read(index),
            None => Ok(None),
        }
    }

    /// The indexes held in `range`.
    pub fn indexes(&self, range: (std::ops::Bound<u64>, std::ops::Bound<u64>)) -> Vec<u64> {
        self.index.range(range).map(|(index, _)| *index).collect()
    }

    /// Entry `index`, read from its segment.
    pub fn read(&self, index: u64) -> Result<Option<Entry>, LogStoreError> {
        let Some(location) = self.index.get(&index) else {
            return Ok(None);
        };
        let segment = self
            .segments
            .get(&location.segment)
            .ok_or_else(|| LogStoreError::Corrupt(format!("no segment for entry {index}")))?;
        let mut record = vec![0u8; (HEADER as usize) + location.len as usize];
        segment
            .file
            .read_exact_at(&mut record, location.offset)
            .map_err(|e| io("reading", &segment.path, &e))?;
        let (entry, _) = decode(&record)
            .map_err(|why| LogStoreError::Corrupt(format!("{}: {why}", segment.path.display())))?;
        Ok(Some(entry))
    }
}

/// A record that does not read back whole.
struct BadRecord {
    why: String,
    /// Cut short by the end of the file.
    short: bool,
    /// Its bytes (header included), when they could be read.
    bytes: Vec<u8>,
}

impl BadRecord {
    /// Whether it looks like a write a crash interrupted, not damage to written data.
    fn torn(&self, offset: u64, size: u64) -> bool {
        let final_record = offset + self.bytes.len() as u64 == size;
        // Pages a crash left unwritten read back as zeros.
        let zeroed_sector = (0..self.bytes.len())
            .filter(|i| (offset + *i as u64).is_multiple_of(512))
            .any(|i| {
                let end = (i + 512).min(self.bytes.len());
                end - i == 512 && self.bytes[i..end].iter().all(|b| *b == 0)
            });
        self.short || final_record || zeroed_sector
    }
}

/// Reads one record from `reader` (at most `left` bytes remain): the entry and its length,
/// or `None` at a zeroed header (no record has length 0: the preallocated tail).
fn read_record(reader: &mut impl Read, left: u64) -> Result<Option<(Entry, u32)>, BadRecord> {
    let short = |why: String| BadRecord {
        why,
        short: true,
        bytes: Vec::new(),
    };
    if left < HEADER {
        return Err(short("a record header cut short".into()));
    }
    let mut header = [0u8; HEADER as usize];
    reader
        .read_exact(&mut header)
        .map_err(|e| short(format!("reading a header: {e}")))?;
    if header == [0; HEADER as usize] {
        return Ok(None);
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    if len > MAX_RECORD || u64::from(len) > left - HEADER {
        return Err(short(format!("a record of {len} bytes cut short")));
    }
    let mut record = header.to_vec();
    record.resize(HEADER as usize + len as usize, 0);
    reader
        .read_exact(&mut record[HEADER as usize..])
        .map_err(|e| short(format!("reading a record: {e}")))?;
    decode(&record).map(Some).map_err(|why| BadRecord {
        why,
        short: false,
        bytes: record,
    })
}

/// Whether everything `reader` has left is zeros.
fn zeros_to_end(reader: &mut impl Read) -> bool {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => return true,
            Ok(n) if chunk[..n].iter().all(|b| *b == 0) => {}
            Ok(_) | Err(_) => return false,
        }
    }
}

fn decode(record: &[u8]) -> Result<(Entry, u32), String> {
    let len = u32::from_le_bytes([record[0], record[1], record[2], record[3]]);
    let crc = u32::from_le_bytes([record[4], record[5], record[6], record[7]]);
    let body = &record[HEADER as usize..];
    if crc32(body) != crc {
        return Err("a record whose checksum does not match".into());
    }
    let entry = postcard::from_bytes(body).map_err(|e| format!("a record: {e}"))?;
    Ok((entry, len))
}

fn io(what: &str, path: &Path, error: &std::io::Error) -> LogStoreError {
    LogStoreError::Database(format!("{what} {}: {error}", path.display()))
}

/// CRC-32 (IEEE), to tell a torn or damaged record from a whole one.
fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut n = 0;
        while n < 256 {
            let mut c = n as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[n] = c;
            n += 1;
        }
        table
    };
    let mut crc = !0u32;
    for byte in bytes {
        crc = TABLE[((crc ^ u32::from(*byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
    }
}
