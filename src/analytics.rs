//! Evaluation analytics: each node writes the counts its snapshots gathered through the
//! write path now and then (counts from several nodes add up), and one node at a time
//! prunes hourly rows past retention and the rows of deleted features.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::Snapshots;
use crate::store::Store;
use crate::store::command::{Actor, Applied, Command, Envelope};
use crate::store::evaluations::{HOUR_MS, hour_of};
use crate::store::state_machine::MAX_EVALUATION_ROWS;

/// Counts per command (each writes an hourly row and a summary row).
const COUNTS_PER_COMMAND: usize = MAX_EVALUATION_ROWS / 2;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Writes what was counted, every `every`, for as long as the server runs.
pub async fn run_flush(snapshots: Arc<Snapshots>, store: Store, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        flush(&snapshots, &store).await;
    }
}

/// Writes the counts gathered so far; what cannot be written goes back to be retried.
pub async fn flush(snapshots: &Snapshots, store: &Store) {
    let counts = snapshots.drain_evaluations();
    for chunk in counts.chunks(COUNTS_PER_COMMAND) {
        let envelope = Envelope::now(
            Actor::System,
            "record-evaluations",
            Command::RecordEvaluations {
                counts: chunk.to_vec(),
            },
        );
        match store.execute(envelope).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "recording evaluations was refused"),
            Err(error) => {
                tracing::debug!(%error, "recording evaluations failed; they are retried");
                snapshots.restore_evaluations(chunk);
            }
        }
    }
}

/// Prunes now and then on the node that runs periodic work.
pub async fn run_prune(store: Store, retention: Duration) {
    loop {
        if store.runs_periodic_work() {
            prune(&store, retention).await;
            tokio::time::sleep(PRUNE_EVERY).await;
        } else {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
}

/// Removes hourly rows older than `retention` and every row of deleted features and
/// environments, a bounded step at a time.
pub async fn prune(store: &Store, retention: Duration) {
    let retention_hours =
        u32::try_from(retention.as_millis() / HOUR_MS.unsigned_abs() as u128).unwrap_or(u32::MAX);
    let before_hour = hour_of(crate::clock::now_millis()).saturating_sub(retention_hours);
    loop {
        let catalog = store.catalog();
        let alive = Arc::new(move |environment: u32, feature: u32| {
            catalog.feature_of_environment(environment, feature)
        });
        let rows = match store
            .expired_evaluations(before_hour, alive, MAX_EVALUATION_ROWS)
            .await
        {
            Ok(rows) if rows.is_empty() => return,
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "finding expired evaluation counts failed; retried later");
                return;
            }
        };
        let full = rows.len() == MAX_EVALUATION_ROWS;
        let envelope = Envelope::now(
            Actor::System,
            "evaluation-retention",
            Command::PruneEvaluations { before_hour, rows },
        );
        match store.execute(envelope).await {
            Ok(Ok(Applied::Removed { count, .. })) if full && count > 0 => {}
            Ok(Ok(_)) => return,
            Ok(Err(error)) => {
                tracing::warn!(%error, "pruning evaluation counts was refused");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "pruning evaluation counts failed; retried later");
                return;
            }
        }
    }
}
