//! Burgee's schema in PostgreSQL, created and migrated by Burgee itself.
//!
//! Migrations are numbered SQL files built into the binary. They run in one transaction
//! under a transaction-scoped advisory lock, so replicas starting together migrate once and
//! the others wait and find the work done. A database migrated by a newer Burgee is refused:
//! this binary would not know what the newer schema means.

use tokio_postgres::Client;

use crate::store::StoreError;

/// Every migration, in order; the version is the position (1-based).
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_evaluations.sql"),
];

/// The advisory lock migrations hold ("burgee" in ASCII).
const MIGRATION_LOCK: i64 = 0x6275_7267_6565;

/// The schema version this binary writes.
pub fn current_version() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

/// Brings the schema in the connection's `search_path` to this binary's version.
pub async fn migrate(client: &mut Client) -> Result<u32, StoreError> {
    let txn = client.transaction().await.map_err(super::error)?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(super::error)?;
    txn.batch_execute(
        "CREATE TABLE IF NOT EXISTS burgee_schema_migrations (
            version integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(super::error)?;
    let row = txn
        .query_one(
            "SELECT coalesce(max(version), 0) FROM burgee_schema_migrations",
            &[],
        )
        .await
        .map_err(super::error)?;
    let found: i32 = row.get(0);
    let found = u32::try_from(found).unwrap_or(0);
    let supported = current_version();
    if found > supported {
        return Err(StoreError::NewerFormat { found, supported });
    }
    for (position, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i32::try_from(position + 1).unwrap_or(i32::MAX);
        txn.batch_execute(sql).await.map_err(super::error)?;
        txn.execute(
            "INSERT INTO burgee_schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(super::error)?;
        tracing::info!(version, "migrated the PostgreSQL schema");
    }
    txn.commit().await.map_err(super::error)?;
    Ok(supported)
}
