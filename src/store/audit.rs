//! The audit log's entries and their hash chain.
//!
//! Every entry carries the hash of the one before it, and its own hash covers everything in
//! it (that previous hash included), so changing, removing or reordering any entry breaks
//! every hash after it. Entries are written by the state machine in the same transaction as
//! the change they record, with the command's own time, so every replica holds the same
//! chain. The last hash (the head) is what an operator records elsewhere to detect a chain
//! rewritten whole.

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::catalog::AuditHead;
use super::codec::decode;
use super::error::StoreError;
use super::tables;

/// One record change inside an entry: the record's kind and id, and its JSON before and
/// after (secrets and their hashes left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditChange {
    pub kind: String,
    pub id: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    /// Milliseconds since the epoch: the command's time.
    pub at: i64,
    /// `user`, `token`, `environment_key`, `system`, `local` or `anonymous`.
    pub actor_kind: String,
    pub actor_id: Option<u32>,
    /// The actor's name at the time (an e-mail address, a token's name).
    pub actor_name: String,
    pub source: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: String,
    pub project_id: Option<u32>,
    pub environment_id: Option<u32>,
    /// e.g. `feature.created`, `login.failed`.
    pub action: String,
    /// e.g. `feature 12`.
    pub target: String,
    pub changes: Vec<AuditChange>,
    /// More about the event, as JSON text (the permission refused, the count removed).
    pub detail: Option<String>,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

impl AuditRecord {
    /// The hash this entry must carry: SHA-256 over the entry with its hash field zeroed.
    pub fn compute_hash(&self) -> Result<[u8; 32], StoreError> {
        let mut unsealed = self.clone();
        unsealed.hash = [0; 32];
        let bytes =
            postcard::to_stdvec(&unsealed).map_err(|e| StoreError::Encode(e.to_string()))?;
        let mut hasher = Sha256::new();
        hasher.update(b"burgee-audit-1");
        hasher.update(&bytes);
        Ok(hasher.finalize().into())
    }

    /// Links the entry after `head` and seals it.
    pub fn seal(&mut self, head: &AuditHead) -> Result<(), StoreError> {
        self.seq = head.seq + 1;
        self.prev_hash = head.hash;
        self.hash = self.compute_hash()?;
        Ok(())
    }
}

/// Hex of a hash.
pub fn hex(hash: &[u8; 32]) -> String {
    use std::fmt::Write as _;
    hash.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// What verifying the chain found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    pub entries: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    /// The hash of the last entry (hex): record it elsewhere.
    pub head: String,
    /// The first entry that does not verify, and why.
    pub first_bad: Option<BadEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadEntry {
    pub seq: u64,
    pub reason: String,
}

/// Walks the chain from its base to its head in bounded memory.
pub fn verify(db: &redb::Database) -> Result<Verification, StoreError> {
    let txn = db.begin_read()?;
    let head: AuditHead = match txn.open_table(tables::META)?.get("meta")? {
        Some(meta) => decode::<super::catalog::Meta>(meta.value())?.audit,
        None => AuditHead::default(),
    };
    let table = txn.open_table(tables::AUDIT)?;
    let rows = table.iter()?.map(|row| {
        let (key, value) = row?;
        Ok((key.value(), value.value().to_vec()))
    });
    verify_rows(&head, rows)
}

/// Walks stored entries (sequence number and encoded entry, in order) against `head`.
pub fn verify_rows(
    head: &AuditHead,
    rows: impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>>,
) -> Result<Verification, StoreError> {
    let mut expected_prev = head.base_hash;
    let mut expected_seq = head.base_seq + 1;
    let mut result = Verification {
        entries: 0,
        first_seq: head.base_seq + 1,
        last_seq: head.base_seq,
        head: hex(&head.base_hash),
        first_bad: None,
    };
    let bad = |seq: u64, reason: String, result: &mut Verification| {
        if result.first_bad.is_none() {
            result.first_bad = Some(BadEntry { seq, reason });
        }
    };
    for row in rows {
        let (seq, value) = row?;
        result.entries += 1;
        result.last_seq = seq;
        let entry: AuditRecord = match decode(&value) {
            Ok(entry) => entry,
            Err(e) => {
                bad(seq, format!("the entry cannot be read: {e}"), &mut result);
                expected_seq = seq + 1;
                continue;
            }
        };
        if seq != expected_seq || entry.seq != seq {
            bad(
                seq,
                format!("expected entry {expected_seq} here"),
                &mut result,
            );
        } else if entry.prev_hash != expected_prev {
            bad(
                seq,
                "it does not link to the entry before it".into(),
                &mut result,
            );
        } else if entry.compute_hash()? != entry.hash {
            bad(
                seq,
                "its content does not match its hash".into(),
                &mut result,
            );
        }
        expected_prev = entry.hash;
        expected_seq = seq + 1;
        result.head = hex(&entry.hash);
    }
    if result.first_bad.is_none() && (result.last_seq != head.seq || expected_prev != head.hash) {
        bad(
            head.seq,
            format!(
                "the chain ends at entry {} but the store's head is entry {}",
                result.last_seq, head.seq
            ),
            &mut result,
        );
    }
    Ok(result)
}

/// Most entries one page reads, whatever its filter keeps.
const MAX_SCAN: usize = 20_000;

/// Up to `limit` entries from `from_seq` on, in order (for pages and streamed exports).
pub fn read_from(
    db: &redb::Database,
    from_seq: u64,
    limit: usize,
    keep: impl FnMut(&AuditRecord) -> bool,
) -> Result<(Vec<AuditRecord>, Option<u64>), StoreError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(tables::AUDIT)?;
    let rows = table.range(from_seq..)?.map(|row| {
        let (key, value) = row?;
        Ok((key.value(), value.value().to_vec()))
    });
    page_rows(rows, limit, keep)
}

/// Up to `limit` of the stored entries (in order) that `keep` accepts, and where the next
/// page starts.
pub fn page_rows(
    rows: impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>>,
    limit: usize,
    mut keep: impl FnMut(&AuditRecord) -> bool,
) -> Result<(Vec<AuditRecord>, Option<u64>), StoreError> {
    let mut out = Vec::new();
    // A filter that matches little must not make one page read the whole log.
    for (scanned, row) in rows.enumerate() {
        let (seq, value) = row?;
        if out.len() == limit || scanned == MAX_SCAN {
            return Ok((out, Some(seq)));
        }
        let entry: AuditRecord = decode(&value)?;
        if keep(&entry) {
            out.push(entry);
        }
    }
    Ok((out, None))
}
