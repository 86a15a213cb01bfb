//! The background removal of deleted environments' identity rows.
//!
//! Deleting an environment hides it at once; its identities and traits (possibly millions of
//! rows) are removed afterwards by [`Command::PurgeEnvironment`] steps of bounded size, each a
//! command through the write path (so replicas stay identical) that interleaves with other
//! writes. The pending list is stored, so a restart resumes where the removal stopped.

use std::time::Duration;

use super::Store;
use super::command::{Actor, COMMAND_FORMAT, Command, Envelope};

/// Rows (identities plus traits) removed per step: keeps each step to milliseconds.
pub const PURGE_STEP_ROWS: u32 = 2000;

pub async fn run(store: Store) {
    loop {
        let next = store.catalog().purges.iter().next().copied();
        let Some(environment_id) = next else {
            store.shared.purge_wakeup.notified().await;
            continue;
        };
        let envelope = Envelope {
            format: COMMAND_FORMAT,
            actor: Actor::System,
            request_id: format!("purge-environment-{environment_id}"),
            timestamp: crate::clock::now_millis(),
            command: Command::PurgeEnvironment {
                environment_id,
                max_rows: PURGE_STEP_ROWS,
            },
        };
        match store.execute(envelope).await {
            Ok(Ok(_)) => {}
            Ok(Err(refused)) => {
                tracing::warn!(environment_id, %refused, "a purge step was refused");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(super::StoreError::Closed) => return,
            Err(error) => {
                tracing::warn!(environment_id, %error, "a purge step failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
