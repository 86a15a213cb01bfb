//! The writer's statements, prepared once per connection (an unprepared statement costs a
//! second round trip on every call).

use tokio_postgres::{Client, Statement};

use crate::store::StoreError;

pub struct Statements {
    pub lock_head: Statement,
    pub read_head: Statement,
    pub write_head: Statement,
    pub changes_since: Statement,
    pub log_batch: Statement,
    pub find_batch: Statement,
    pub identity: Statement,
    pub traits: Statement,
    pub next_identifier: Statement,
    pub audit_from: Statement,
    pub put_records: Statement,
    pub delete_records: Statement,
    pub put_identities: Statement,
    pub delete_identities: Statement,
    pub put_traits: Statement,
    pub delete_traits: Statement,
    pub put_audit: Statement,
    pub delete_audit: Statement,
    pub put_purges: Statement,
    pub delete_purges: Statement,
    pub evaluations: Statement,
    pub put_evaluations: Statement,
    pub delete_evaluations: Statement,
    pub notify: Statement,
}

/// Audit entries read per round trip while pruning.
pub const AUDIT_PAGE: i64 = 512;

impl Statements {
    pub async fn prepare(client: &Client) -> Result<Self, StoreError> {
        let p = |sql: &'static str| async move { client.prepare(sql).await.map_err(super::error) };
        Ok(Self {
            lock_head: p("SELECT revision, meta, identity_count FROM burgee_head WHERE id = 1 FOR UPDATE").await?,
            read_head: p("SELECT revision, meta, identity_count FROM burgee_head WHERE id = 1").await?,
            write_head: p("UPDATE burgee_head SET revision = $1, meta = $2, identity_count = identity_count + $3 WHERE id = 1").await?,
            changes_since: p("SELECT revision, previous, value FROM burgee_changes WHERE revision > $1 ORDER BY revision").await?,
            log_batch: p("INSERT INTO burgee_changes (revision, previous, batch, value) VALUES ($1, $2, $3, $4)").await?,
            find_batch: p("SELECT 1 FROM burgee_changes WHERE revision = $1 AND batch = $2").await?,
            identity: p("SELECT value FROM burgee_identities WHERE environment_id = $1 AND identifier = $2").await?,
            traits: p("SELECT key, value FROM burgee_traits WHERE environment_id = $1 AND identifier = $2 ORDER BY key").await?,
            next_identifier: p("SELECT identifier FROM burgee_identities WHERE environment_id = $1 AND identifier > $2 ORDER BY identifier LIMIT 1").await?,
            audit_from: p("SELECT seq, value FROM burgee_audit WHERE seq >= $1 ORDER BY seq LIMIT $2").await?,
            put_records: p("INSERT INTO burgee_records (kind, id, value) SELECT * FROM UNNEST($1::int2[], $2::int8[], $3::bytea[]) ON CONFLICT (kind, id) DO UPDATE SET value = EXCLUDED.value").await?,
            delete_records: p("DELETE FROM burgee_records r USING UNNEST($1::int2[], $2::int8[]) AS d(kind, id) WHERE r.kind = d.kind AND r.id = d.id").await?,
            // `xmax = 0` tells a fresh row from an updated one: the identity count stays exact.
            put_identities: p("WITH up AS (INSERT INTO burgee_identities (environment_id, identifier, value) SELECT * FROM UNNEST($1::int8[], $2::bytea[], $3::bytea[]) ON CONFLICT (environment_id, identifier) DO UPDATE SET value = EXCLUDED.value RETURNING (xmax = 0) AS fresh) SELECT count(*) FILTER (WHERE fresh) FROM up").await?,
            delete_identities: p("DELETE FROM burgee_identities r USING UNNEST($1::int8[], $2::bytea[]) AS d(environment_id, identifier) WHERE r.environment_id = d.environment_id AND r.identifier = d.identifier").await?,
            put_traits: p("INSERT INTO burgee_traits (environment_id, identifier, key, value) SELECT * FROM UNNEST($1::int8[], $2::bytea[], $3::bytea[], $4::bytea[]) ON CONFLICT (environment_id, identifier, key) DO UPDATE SET value = EXCLUDED.value").await?,
            delete_traits: p("DELETE FROM burgee_traits r USING UNNEST($1::int8[], $2::bytea[], $3::bytea[]) AS d(environment_id, identifier, key) WHERE r.environment_id = d.environment_id AND r.identifier = d.identifier AND r.key = d.key").await?,
            put_audit: p("INSERT INTO burgee_audit (seq, value) SELECT * FROM UNNEST($1::int8[], $2::bytea[]) ON CONFLICT (seq) DO UPDATE SET value = EXCLUDED.value").await?,
            delete_audit: p("DELETE FROM burgee_audit WHERE seq = ANY($1::int8[])").await?,
            put_purges: p("INSERT INTO burgee_purges (environment_id) SELECT * FROM UNNEST($1::int8[]) ON CONFLICT DO NOTHING").await?,
            delete_purges: p("DELETE FROM burgee_purges WHERE environment_id = ANY($1::int8[])").await?,
            evaluations: p("SELECT e.environment_id, e.feature_id, e.hour, e.value FROM burgee_evaluations e JOIN UNNEST($1::int8[], $2::int8[], $3::int8[]) AS k(environment_id, feature_id, hour) ON e.environment_id = k.environment_id AND e.feature_id = k.feature_id AND e.hour = k.hour").await?,
            put_evaluations: p("INSERT INTO burgee_evaluations (environment_id, feature_id, hour, value) SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::bytea[]) ON CONFLICT (environment_id, feature_id, hour) DO UPDATE SET value = EXCLUDED.value").await?,
            delete_evaluations: p("DELETE FROM burgee_evaluations r USING UNNEST($1::int8[], $2::int8[], $3::int8[]) AS d(environment_id, feature_id, hour) WHERE r.environment_id = d.environment_id AND r.feature_id = d.feature_id AND r.hour = d.hour").await?,
            notify: p("SELECT pg_notify($1, $2)").await?,
        })
    }
}
