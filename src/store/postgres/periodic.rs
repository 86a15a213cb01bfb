//! Exactly one replica runs the periodic work (background purges, audit retention, pruning
//! the change log): the one holding a session-level advisory lock. The lock goes with its
//! session, so when that replica dies or loses the database another one takes it over
//! within [`TRY_EVERY`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::connect::Connector;
use super::{State, error};

/// The advisory lock of the periodic work ("burgeeP" in ASCII).
const PERIODIC_LOCK: i64 = 0x0062_7572_6765_6550;
/// How often a replica without the lock tries to take it, and the holder checks it still
/// has its session.
const TRY_EVERY: Duration = Duration::from_secs(2);
/// How often the holder prunes the change log.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// How long the change log keeps a batch: a replica further behind reloads everything.
pub fn change_log_window() -> Duration {
    // A test knob: the tests prune within seconds.
    std::env::var("BURGEE_PG_CHANGE_LOG_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(15 * 60), Duration::from_secs)
}

/// Holds (or waits for) the lock for as long as the process runs.
pub async fn run(connector: Connector, state: Arc<State>) {
    loop {
        if let Err(error) = hold(&connector, &state).await {
            tracing::debug!(%error, "the periodic-work lock session ended");
        }
        if state.leading.swap(false, Ordering::SeqCst) {
            tracing::warn!("this replica no longer runs the periodic work");
        }
        metrics::gauge!("burgee_periodic_work_leader").set(0.0);
        tokio::time::sleep(TRY_EVERY).await;
    }
}

async fn hold(connector: &Connector, state: &State) -> Result<(), crate::store::StoreError> {
    let client = connector.client().await?;
    loop {
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&PERIODIC_LOCK])
            .await
            .map_err(error)?;
        if row.get::<_, bool>(0) {
            break;
        }
        tokio::time::sleep(TRY_EVERY).await;
    }
    tracing::info!("this replica runs the periodic work (it holds the advisory lock)");
    state.leading.store(true, Ordering::SeqCst);
    metrics::gauge!("burgee_periodic_work_leader").set(1.0);
    let window = i64::try_from(change_log_window().as_secs()).unwrap_or(i64::MAX);
    let mut since_prune = PRUNE_EVERY;
    loop {
        if since_prune >= PRUNE_EVERY.min(change_log_window()) {
            since_prune = Duration::ZERO;
            // Keeps the latest batch whatever its age: a replica compares against it.
            let pruned = client
                .execute(
                    "DELETE FROM burgee_changes WHERE created_at < now() - make_interval(secs => $1) \
                     AND revision < (SELECT max(revision) FROM burgee_changes)",
                    &[&(window as f64)],
                )
                .await
                .map_err(error)?;
            if pruned > 0 {
                tracing::debug!(pruned, "pruned the change log");
            }
        } else {
            client.execute("SELECT 1", &[]).await.map_err(error)?;
        }
        tokio::time::sleep(TRY_EVERY).await;
        since_prune += TRY_EVERY;
    }
}
