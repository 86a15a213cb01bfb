//! The background removal of deleted environments' identity rows.
//!
//! Deleting an environment hides it at once; its identities and traits (possibly millions of
//! rows) are removed afterwards by [`Command::PurgeEnvironment`] steps of bounded size, each a
//! command through the write path (so replicas stay identical) that interleaves with other
//! writes. The pending list is stored, so a restart resumes where the removal stopped.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::Store;
use super::command::{Actor, Command, Envelope};

/// Rows (identities plus traits) removed per step: keeps each step to milliseconds.
pub const PURGE_STEP_ROWS: u32 = 2000;

/// Longest wait before a failing purge step is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub async fn run(store: Store) {
    // A step that fails is retried later, with a growing wait, while other environments'
    // purges go on.
    let mut retry_at: HashMap<u32, (Instant, Duration)> = HashMap::new();
    loop {
        if !store.runs_periodic_work() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let now = Instant::now();
        let pending = store.catalog().purges.clone();
        retry_at.retain(|id, _| pending.contains(id));
        let next = pending
            .iter()
            .copied()
            .find(|id| retry_at.get(id).is_none_or(|(at, _)| *at <= now));
        let Some(environment_id) = next else {
            if pending.is_empty() {
                store.purge_wakeup().notified().await;
            } else {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            continue;
        };
        let envelope = Envelope::now(
            Actor::System,
            format!("purge-environment-{environment_id}"),
            Command::PurgeEnvironment {
                environment_id,
                max_rows: PURGE_STEP_ROWS,
            },
        );
        let failure = match store.execute(envelope).await {
            Ok(Ok(_)) => {
                retry_at.remove(&environment_id);
                continue;
            }
            Ok(Err(refused)) => refused.to_string(),
            Err(super::StoreError::Closed) => return,
            Err(error) => error.to_string(),
        };
        let wait = retry_at
            .get(&environment_id)
            .map_or(Duration::from_secs(1), |(_, wait)| {
                (*wait * 2).min(MAX_BACKOFF)
            });
        tracing::warn!(environment_id, %failure, retry_in_seconds = wait.as_secs(), "a purge step did not apply; it will be retried");
        retry_at.insert(environment_id, (Instant::now() + wait, wait));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::store::Store;
    use crate::store::command::{Actor, COMMAND_FORMAT, Command, Envelope, TraitWrite};
    use crate::store::records::{EnvironmentSettingsRecord, StoredValue};
    use crate::store::writer::NoViews;

    async fn run(store: &Store, command: Command) {
        let envelope = Envelope {
            format: COMMAND_FORMAT,
            actor: Actor::System,
            request_id: "test".into(),
            origin: Default::default(),
            timestamp: 1,
            command,
        };
        store.execute(envelope).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_restart_resumes_an_interrupted_purge() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Arc::new(NoViews)).await.unwrap();
        run(
            &store,
            Command::Initialize {
                organisation_name: "default".into(),
                instance_seed: [0; 16],
                admin_token: None,
                setup: None,
            },
        )
        .await;
        run(
            &store,
            Command::CreateProject {
                name: "Web".into(),
                hide_disabled_flags: false,
            },
        )
        .await;
        for (name, key) in [("Production", "production-key"), ("Staging", "staging-key")] {
            run(
                &store,
                Command::CreateEnvironment {
                    project_id: 1,
                    name: name.into(),
                    client_key: key.into(),
                    settings: EnvironmentSettingsRecord::default(),
                },
            )
            .await;
        }
        // Concurrent identify calls share group commits.
        let mut calls = tokio::task::JoinSet::new();
        for environment_id in [1, 2] {
            for i in 0..3000 {
                let store = store.clone();
                calls.spawn(async move {
                    let command = Command::Identify {
                        environment_id,
                        identifier: format!("user-{i}"),
                        traits: vec![TraitWrite {
                            key: "n".into(),
                            value: Some(StoredValue::Integer(i)),
                        }],
                        max_traits: 10,
                    };
                    run(&store, command).await;
                });
            }
        }
        while let Some(done) = calls.join_next().await {
            done.unwrap();
        }
        // Deleted, but the background purge never started: a restart must pick it up.
        run(&store, Command::DeleteEnvironment { id: 1 }).await;
        assert_eq!(store.identity_rows(1).await.unwrap(), 6000);
        store.close().await.unwrap();
        drop(store);
        // The stopped node's tasks let go of the files a moment later.
        let reopened = loop {
            match Store::open(dir.path(), Arc::new(NoViews)).await {
                Ok(store) => break store,
                Err(crate::store::StoreError::Locked { .. }) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(other) => panic!("{other}"),
            }
        };
        assert!(reopened.catalog().purges.contains(&1));
        reopened.start_background_work();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !reopened.catalog().purges.is_empty() {
            assert!(Instant::now() < deadline, "the purge did not finish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            reopened.identity_rows(1).await.unwrap(),
            0,
            "no row of the deleted environment is left"
        );
        assert_eq!(
            reopened.identity_rows(2).await.unwrap(),
            6000,
            "the other environment keeps its rows"
        );
    }
}
