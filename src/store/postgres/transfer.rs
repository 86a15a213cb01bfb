//! Moving a whole installation between the embedded store and PostgreSQL (`burgee migrate`).
//! Rows travel as the store holds them (the same encoded records on both sides), streamed a
//! page at a time, and land in one transaction on the other side: all of them or none. The
//! target must be empty, so nothing is ever overwritten.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio_postgres::Transaction;

use super::connect::Connector;
use super::statements::Statements;
use super::{error, schema};
use crate::store::database::{self, Backend, STORE_FORMAT};
use crate::store::snapshot::{self, Row};
use crate::store::writer::NoViews;
use crate::store::{Embedded, StoreError, codec};

/// Rows written per statement.
const CHUNK: usize = 1000;
/// Rows read per page.
const PAGE: i64 = 1000;

/// What was moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub records: u64,
    pub identities: u64,
    pub traits: u64,
    pub audit_entries: u64,
}

/// Copies the embedded store in `dir` (which no server may be running on) into the empty
/// PostgreSQL schema `connector` reaches, migrating that schema first.
pub async fn to_postgres(dir: &Path, connector: &Connector) -> Result<Moved, StoreError> {
    // Opening a directory without a store would create one, and migrate nothing.
    if !dir.join("state.redb").is_file() {
        return Err(StoreError::Unusable(format!(
            "{} holds no Burgee store",
            dir.display()
        )));
    }
    // Opening the store applies whatever its log holds beyond the state file.
    let store = Embedded::open(dir, Arc::new(NoViews)).await?;
    let db = store.database()?;
    let mut client = connector.client().await?;
    schema::migrate(&mut client).await?;
    let moved = tokio::task::spawn_blocking(move || {
        let handle = Handle::current();
        let statements = handle.block_on(Statements::prepare(&client))?;
        let txn = handle.block_on(client.transaction()).map_err(error)?;
        refuse_unless_empty(&handle, &txn)?;
        let mut sink = Sink {
            handle: &handle,
            txn: &txn,
            statements: &statements,
            pending: Pending::default(),
            moved: Moved::default(),
            meta: None,
        };
        snapshot::each_row(&db, &mut |row| sink.add(row))?;
        sink.flush()?;
        let (moved, meta) = (sink.moved, sink.meta);
        let meta_bytes = meta.unwrap_or_default();
        let revision = if meta_bytes.is_empty() {
            0
        } else {
            codec::decode::<crate::store::catalog::Meta>(&meta_bytes)?.last_applied
        };
        let revision = i64::try_from(revision)
            .map_err(|_| StoreError::Corrupt("the applied index overflows".into()))?;
        let identities = i64::try_from(moved.identities).unwrap_or(i64::MAX);
        handle
            .block_on(txn.execute(
                "UPDATE burgee_head SET revision = $1, meta = $2, identity_count = $3 WHERE id = 1",
                &[&revision, &meta_bytes, &identities],
            ))
            .map_err(error)?;
        handle.block_on(txn.commit()).map_err(error)?;
        Ok::<_, StoreError>(moved)
    })
    .await
    .map_err(|e| StoreError::Internal(format!("the migration stopped: {e}")))??;
    store.close().await?;
    Ok(moved)
}

fn refuse_unless_empty(handle: &Handle, txn: &Transaction<'_>) -> Result<(), StoreError> {
    let row = handle
        .block_on(txn.query_one(
            "SELECT (SELECT revision FROM burgee_head WHERE id = 1), \
             (SELECT count(*) FROM burgee_records)",
            &[],
        ))
        .map_err(error)?;
    let (revision, records): (i64, i64) = (row.get(0), row.get(1));
    if revision != 0 || records != 0 {
        return Err(StoreError::Unusable(format!(
            "the PostgreSQL schema holds an installation already (revision {revision}, \
             {records} records): migrate into an empty schema"
        )));
    }
    Ok(())
}

type Bytes = Vec<Vec<u8>>;

/// Columns of rows not yet written, per table.
#[derive(Default)]
struct Pending {
    records: (Vec<i16>, Vec<i64>, Bytes),
    identities: (Vec<i64>, Bytes, Bytes),
    traits: (Vec<i64>, Bytes, Bytes, Bytes),
    audit: (Vec<i64>, Bytes),
    purges: Vec<i64>,
    evaluations: (Vec<i64>, Vec<i64>, Vec<i64>, Bytes),
}

/// Rows on their way into PostgreSQL, written a chunk at a time.
struct Sink<'a> {
    handle: &'a Handle,
    txn: &'a Transaction<'a>,
    statements: &'a Statements,
    pending: Pending,
    moved: Moved,
    meta: Option<Vec<u8>>,
}

impl Sink<'_> {
    fn add(&mut self, row: Row) -> Result<(), StoreError> {
        let p = &mut self.pending;
        match row {
            Row::Meta(key, value) => {
                if key == "meta" {
                    self.meta = Some(value);
                }
            }
            Row::Record(tag, id, value) => {
                p.records.0.push(i16::from(tag) - 1);
                p.records.1.push(i64::from(id));
                p.records.2.push(value);
                self.moved.records += 1;
            }
            Row::Identity(environment, identifier, value) => {
                p.identities.0.push(i64::from(environment));
                p.identities.1.push(identifier.into_bytes());
                p.identities.2.push(value);
                self.moved.identities += 1;
            }
            Row::Trait(environment, identifier, key, value) => {
                p.traits.0.push(i64::from(environment));
                p.traits.1.push(identifier.into_bytes());
                p.traits.2.push(key.into_bytes());
                p.traits.3.push(value);
                self.moved.traits += 1;
            }
            Row::Audit(seq, value) => {
                p.audit.0.push(i64::try_from(seq).unwrap_or(i64::MAX));
                p.audit.1.push(value);
                self.moved.audit_entries += 1;
            }
            Row::Purge(environment) => p.purges.push(i64::from(environment)),
            Row::Evaluation(environment, feature, hour, value) => {
                p.evaluations.0.push(i64::from(environment));
                p.evaluations.1.push(i64::from(feature));
                p.evaluations.2.push(i64::from(hour));
                p.evaluations.3.push(value);
            }
            Row::End { .. } => {}
        }
        let waiting = p.records.0.len()
            + p.identities.0.len()
            + p.traits.0.len()
            + p.audit.0.len()
            + p.purges.len()
            + p.evaluations.0.len();
        if waiting >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let p = std::mem::take(&mut self.pending);
        let run = |statement, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]| {
            self.handle
                .block_on(self.txn.execute(statement, params))
                .map_err(error)
        };
        let s = self.statements;
        if !p.records.0.is_empty() {
            run(&s.put_records, &[&p.records.0, &p.records.1, &p.records.2])?;
        }
        if !p.identities.0.is_empty() {
            let (e, i, v) = &p.identities;
            self.handle
                .block_on(self.txn.query_one(&s.put_identities, &[e, i, v]))
                .map_err(error)?;
        }
        if !p.traits.0.is_empty() {
            let (e, i, k, v) = &p.traits;
            run(&s.put_traits, &[e, i, k, v])?;
        }
        if !p.audit.0.is_empty() {
            run(&s.put_audit, &[&p.audit.0, &p.audit.1])?;
        }
        if !p.purges.is_empty() {
            run(&s.put_purges, &[&p.purges])?;
        }
        if !p.evaluations.0.is_empty() {
            let (e, f, h, v) = &p.evaluations;
            run(&s.put_evaluations, &[e, f, h, v])?;
        }
        Ok(())
    }
}

/// Copies the PostgreSQL installation `connector` reaches into a new embedded store in
/// `dir` (which must not hold one), as of one consistent snapshot of the database.
pub async fn from_postgres(connector: &Connector, dir: &Path) -> Result<Moved, StoreError> {
    let path = dir.join("state.redb");
    if path.exists() {
        return Err(StoreError::Unusable(format!(
            "{} holds a store already: migrate into a new data directory",
            dir.display()
        )));
    }
    let mut client = connector.client().await?;
    let current = schema::current_version();
    let migrated = client
        .query_one(
            "SELECT to_regclass('burgee_schema_migrations') IS NOT NULL",
            &[],
        )
        .await
        .map_err(error)?;
    if !migrated.get::<_, bool>(0) {
        return Err(StoreError::Unusable(
            "the PostgreSQL schema holds no Burgee installation".into(),
        ));
    }
    let version: i32 = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM burgee_schema_migrations",
            &[],
        )
        .await
        .map_err(error)?
        .get(0);
    if version.unsigned_abs() > current {
        return Err(StoreError::NewerFormat {
            found: version.unsigned_abs(),
            supported: current,
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Unwritable {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let db = database::open(&path, &Backend::default())?;
    let moved = tokio::task::spawn_blocking(move || {
        let handle = Handle::current();
        let txn = super::connect::snapshot(&handle, &mut client)?;
        let mut source = Source::new(&handle, &txn);
        snapshot::install_rows(&db, &mut || source.next(), &[])?;
        Ok::<_, StoreError>(source.moved)
    })
    .await
    .map_err(|e| StoreError::Internal(format!("the migration stopped: {e}")))
    .and_then(|moved| moved);
    if moved.is_err() {
        // Nothing half-written stays behind: the directory can take the migration again.
        let _ = std::fs::remove_file(&path);
    }
    moved
}

#[derive(Clone, Copy)]
enum Phase {
    Meta,
    Records,
    Audit,
    Identities,
    Traits,
    Purges,
    Evaluations,
    End,
    Done,
}

/// The database's rows in the order a snapshot holds them, a page at a time.
struct Source<'a> {
    handle: &'a Handle,
    txn: &'a Transaction<'a>,
    phase: Phase,
    queued: VecDeque<Row>,
    /// The last key of the previous page, as SQL parameters.
    after: (i64, i64, Vec<u8>, Vec<u8>),
    /// The hour of the last evaluation row of the previous page.
    evaluation_hour: i64,
    rows: u64,
    moved: Moved,
}

impl<'a> Source<'a> {
    fn new(handle: &'a Handle, txn: &'a Transaction<'a>) -> Self {
        Self {
            handle,
            txn,
            phase: Phase::Meta,
            queued: VecDeque::new(),
            after: (-1, -1, Vec::new(), Vec::new()),
            evaluation_hour: -1,
            rows: 0,
            moved: Moved::default(),
        }
    }

    fn next(&mut self) -> Result<Row, StoreError> {
        loop {
            if let Some(row) = self.queued.pop_front() {
                if !matches!(row, Row::End { .. }) {
                    self.rows += 1;
                }
                return Ok(row);
            }
            self.fill()?;
        }
    }

    fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        self.handle
            .block_on(self.txn.query(sql, params))
            .map_err(error)
    }

    /// Queues the next page, moving to the next phase when a table is done.
    fn fill(&mut self) -> Result<(), StoreError> {
        let reset = (-1, -1, Vec::new(), Vec::new());
        match self.phase {
            Phase::Meta => {
                let row = self.query("SELECT meta FROM burgee_head WHERE id = 1", &[])?;
                let meta: Vec<u8> = row.first().map(|r| r.get(0)).unwrap_or_default();
                self.queued
                    .push_back(Row::Meta("format".into(), codec::encode(&STORE_FORMAT)?));
                // PostgreSQL replicas propose every command format: so may the moved store.
                self.queued.push_back(Row::Meta(
                    crate::store::tables::COMMAND_FORMAT_KEY.into(),
                    codec::encode(&crate::store::command::COMMAND_FORMAT)?,
                ));
                if !meta.is_empty() {
                    self.queued.push_back(Row::Meta("meta".into(), meta));
                }
                self.phase = Phase::Records;
            }
            Phase::Records => {
                let kind = i16::try_from(self.after.0).unwrap_or(-1);
                let rows = self.query(
                    "SELECT kind, id, value FROM burgee_records WHERE (kind, id) > ($1, $2) \
                     ORDER BY kind, id LIMIT $3",
                    &[&kind, &self.after.1, &PAGE],
                )?;
                for row in &rows {
                    let (kind, id): (i16, i64) = (row.get(0), row.get(1));
                    self.after = (i64::from(kind), id, Vec::new(), Vec::new());
                    let tag = u8::try_from(kind + 1)
                        .map_err(|_| StoreError::Corrupt(format!("record kind {kind}")))?;
                    let id = u32::try_from(id)
                        .map_err(|_| StoreError::Corrupt(format!("record id {id}")))?;
                    self.queued.push_back(Row::Record(tag, id, row.get(2)));
                    self.moved.records += 1;
                }
                if (rows.len() as i64) < PAGE {
                    self.phase = Phase::Audit;
                    self.after = reset;
                }
            }
            Phase::Audit => {
                let rows = self.query(
                    "SELECT seq, value FROM burgee_audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&self.after.0, &PAGE],
                )?;
                for row in &rows {
                    let seq: i64 = row.get(0);
                    self.after.0 = seq;
                    self.queued
                        .push_back(Row::Audit(seq.unsigned_abs(), row.get(1)));
                    self.moved.audit_entries += 1;
                }
                if (rows.len() as i64) < PAGE {
                    self.phase = Phase::Identities;
                    self.after = reset;
                }
            }
            Phase::Identities => {
                let rows = self.query(
                    "SELECT environment_id, identifier, value FROM burgee_identities \
                     WHERE (environment_id, identifier) > ($1, $2) \
                     ORDER BY environment_id, identifier LIMIT $3",
                    &[&self.after.0, &self.after.2, &PAGE],
                )?;
                for row in &rows {
                    let environment: i64 = row.get(0);
                    let identifier: Vec<u8> = row.get(1);
                    self.after = (environment, 0, identifier.clone(), Vec::new());
                    self.queued.push_back(Row::Identity(
                        environment_id(environment)?,
                        text(identifier)?,
                        row.get(2),
                    ));
                    self.moved.identities += 1;
                }
                if (rows.len() as i64) < PAGE {
                    self.phase = Phase::Traits;
                    self.after = reset;
                }
            }
            Phase::Traits => {
                let rows = self.query(
                    "SELECT environment_id, identifier, key, value FROM burgee_traits \
                     WHERE (environment_id, identifier, key) > ($1, $2, $3) \
                     ORDER BY environment_id, identifier, key LIMIT $4",
                    &[&self.after.0, &self.after.2, &self.after.3, &PAGE],
                )?;
                for row in &rows {
                    let environment: i64 = row.get(0);
                    let identifier: Vec<u8> = row.get(1);
                    let key: Vec<u8> = row.get(2);
                    self.after = (environment, 0, identifier.clone(), key.clone());
                    self.queued.push_back(Row::Trait(
                        environment_id(environment)?,
                        text(identifier)?,
                        text(key)?,
                        row.get(3),
                    ));
                    self.moved.traits += 1;
                }
                if (rows.len() as i64) < PAGE {
                    self.phase = Phase::Purges;
                    self.after = reset;
                }
            }
            Phase::Purges => {
                for row in self.query("SELECT environment_id FROM burgee_purges", &[])? {
                    self.queued
                        .push_back(Row::Purge(environment_id(row.get(0))?));
                }
                self.phase = Phase::Evaluations;
            }
            Phase::Evaluations => {
                let rows = self.query(
                    "SELECT environment_id, feature_id, hour, value FROM burgee_evaluations \
                     WHERE (environment_id, feature_id, hour) > ($1, $2, $3) \
                     ORDER BY environment_id, feature_id, hour LIMIT $4",
                    &[&self.after.0, &self.after.1, &self.evaluation_hour, &PAGE],
                )?;
                for row in &rows {
                    let (environment, feature, hour) = super::evaluations::evaluation_key(row)?;
                    self.after = (
                        i64::from(environment),
                        i64::from(feature),
                        Vec::new(),
                        Vec::new(),
                    );
                    self.evaluation_hour = i64::from(hour);
                    self.queued
                        .push_back(Row::Evaluation(environment, feature, hour, row.get(3)));
                }
                if (rows.len() as i64) < PAGE {
                    self.phase = Phase::End;
                }
            }
            Phase::End => {
                self.queued.push_back(Row::End {
                    rows: self.rows + self.queued.len() as u64,
                });
                self.phase = Phase::Done;
            }
            Phase::Done => {
                return Err(StoreError::Internal("read past the end of the rows".into()));
            }
        }
        Ok(())
    }
}

fn environment_id(id: i64) -> Result<u32, StoreError> {
    u32::try_from(id).map_err(|_| StoreError::Corrupt(format!("environment id {id}")))
}

fn text(bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|_| StoreError::Corrupt("a stored key is not UTF-8".into()))
}
