//! Reads of rows that are not held in memory (identities, traits, the audit log), through
//! the read pool. They see committed data only, as the embedded store's readers do.

use tokio_postgres::Client;

use super::{PgStore, error, pool_error};
use crate::store::audit::{self, AuditRecord, Verification};
use crate::store::codec::decode;
use crate::store::records::IdentityRecord;
use crate::store::{StoreError, StoredIdentity};

/// Audit rows fetched per round trip while paging or verifying.
const AUDIT_CHUNK: i64 = 1000;

fn text(bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|_| StoreError::Corrupt("a stored key is not UTF-8".into()))
}

impl PgStore {
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool().get().await.map_err(pool_error)
    }

    /// An identity and its traits (sorted by key): `None` from memory when it was never
    /// stored, else from the cache, or in one round trip.
    pub async fn identity(
        &self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<Option<StoredIdentity>, StoreError> {
        if !self.state().known.may_exist(environment_id, identifier) {
            return Ok(None);
        }
        let cache = &self.state().identities;
        let (known, generation) = cache.get(environment_id, identifier);
        if let Some(found) = known {
            return Ok(found);
        }
        let found = self.read_identity(environment_id, identifier).await?;
        cache.insert(generation, environment_id, identifier, found.clone());
        Ok(found)
    }

    async fn read_identity(
        &self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<Option<StoredIdentity>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT i.value, t.key, t.value FROM burgee_identities i \
                 LEFT JOIN burgee_traits t ON t.environment_id = i.environment_id \
                 AND t.identifier = i.identifier \
                 WHERE i.environment_id = $1 AND i.identifier = $2 ORDER BY t.key",
            )
            .await
            .map_err(error)?;
        let rows = client
            .query(
                &statement,
                &[&i64::from(environment_id), &identifier.as_bytes()],
            )
            .await
            .map_err(error)?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let record: IdentityRecord = decode(first.get::<_, &[u8]>(0))?;
        let mut traits = Vec::new();
        for row in &rows {
            if let Some(key) = row.get::<_, Option<Vec<u8>>>(1) {
                let value: &[u8] = row.get(2);
                traits.push((text(key)?, decode(value)?));
            }
        }
        Ok(Some((record, traits)))
    }

    /// Identities of an environment after `cursor` (by identifier), at most `limit`.
    pub async fn identities(
        &self,
        environment_id: u32,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, IdentityRecord)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT identifier, value FROM burgee_identities \
                 WHERE environment_id = $1 AND identifier > $2 ORDER BY identifier LIMIT $3",
                &[
                    &i64::from(environment_id),
                    &cursor.unwrap_or_default().as_bytes(),
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(error)?;
        rows.into_iter()
            .map(|row| Ok((text(row.get(0))?, decode(row.get::<_, &[u8]>(1))?)))
            .collect()
    }

    /// How many identity and trait rows remain for an environment.
    pub async fn identity_rows(&self, environment_id: u32) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM burgee_identities WHERE environment_id = $1) \
                 + (SELECT count(*) FROM burgee_traits WHERE environment_id = $1)",
                &[&i64::from(environment_id)],
            )
            .await
            .map_err(error)?;
        Ok(row.get::<_, i64>(0).unsigned_abs())
    }

    /// A page of the audit log. Blocking: call from a blocking task.
    pub fn audit_page(
        &self,
        from_seq: u64,
        limit: usize,
        keep: impl FnMut(&AuditRecord) -> bool,
    ) -> Result<(Vec<AuditRecord>, Option<u64>), StoreError> {
        let handle = tokio::runtime::Handle::current();
        let client = handle.block_on(self.client())?;
        audit::page_rows(AuditRows::new(&handle, &client, from_seq), limit, keep)
    }

    /// Walks the audit chain. Blocking: call from a blocking task.
    pub fn audit_verify(&self) -> Result<Verification, StoreError> {
        let handle = tokio::runtime::Handle::current();
        let client = handle.block_on(self.client())?;
        let head = self.catalog().meta.audit.clone();
        let from = head.base_seq + 1;
        audit::verify_rows(&head, AuditRows::new(&handle, &client, from))
    }
}

/// The audit log from a sequence number on, fetched in chunks (bounded memory).
struct AuditRows<'a> {
    handle: &'a tokio::runtime::Handle,
    client: &'a Client,
    next: i64,
    chunk: std::vec::IntoIter<(u64, Vec<u8>)>,
    done: bool,
}

impl<'a> AuditRows<'a> {
    fn new(handle: &'a tokio::runtime::Handle, client: &'a Client, from: u64) -> Self {
        Self {
            handle,
            client,
            next: i64::try_from(from).unwrap_or(i64::MAX),
            chunk: Vec::new().into_iter(),
            done: false,
        }
    }
}

impl Iterator for AuditRows<'_> {
    type Item = Result<(u64, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(row) = self.chunk.next() {
            return Some(Ok(row));
        }
        if self.done {
            return None;
        }
        let rows = self.handle.block_on(self.client.query(
            "SELECT seq, value FROM burgee_audit WHERE seq >= $1 ORDER BY seq LIMIT $2",
            &[&self.next, &AUDIT_CHUNK],
        ));
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                self.done = true;
                return Some(Err(error(e)));
            }
        };
        self.done = (rows.len() as i64) < AUDIT_CHUNK;
        let chunk: Vec<(u64, Vec<u8>)> = rows
            .into_iter()
            .map(|row| (row.get::<_, i64>(0).unsigned_abs(), row.get(1)))
            .collect();
        if let Some((last, _)) = chunk.last() {
            self.next = i64::try_from(*last + 1).unwrap_or(i64::MAX);
        }
        self.chunk = chunk.into_iter();
        self.chunk.next().map(Ok)
    }
}
