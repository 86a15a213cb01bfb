//! Audit retention: entries older than the retention are pruned in bounded steps through
//! the write path, each leaving a checkpoint entry, so verification still works.

use std::time::Duration;

use super::Store;
use super::command::{Actor, Applied, Command, Envelope};

/// Entries removed per step, so one step never stalls other writes for long.
const STEP_ROWS: u32 = 5_000;
const CHECK_EVERY: Duration = Duration::from_secs(3600);

pub async fn run(store: Store, retention: Duration) {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    loop {
        if store.runs_periodic_work() {
            prune(&store, retention_ms).await;
            tokio::time::sleep(CHECK_EVERY).await;
        } else {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
}

/// Prunes until nothing older than the retention is left (or a step fails).
pub async fn prune(store: &Store, retention_ms: i64) {
    let before = crate::clock::now_millis().saturating_sub(retention_ms);
    loop {
        let envelope = Envelope::now(
            Actor::System,
            "audit-retention",
            Command::PruneAudit {
                before,
                max_rows: STEP_ROWS,
            },
        );
        match store.execute(envelope).await {
            Ok(Ok(Applied::Removed { more: true, .. })) => {}
            Ok(Ok(_)) => return,
            Ok(Err(error)) => {
                tracing::warn!(%error, "pruning the audit log was refused");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "pruning the audit log failed; it is retried later");
                return;
            }
        }
    }
}
