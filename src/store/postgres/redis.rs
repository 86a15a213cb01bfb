//! Change notifications through Redis pub/sub (`--cache redis`): each replica publishes the
//! revision it committed, and every replica subscribes to wake its catch-up. Redis is never
//! the source of truth: a lost message (Redis down, a reconnect) is covered by the periodic
//! look at the head, and after every reconnect the replica catches up at once.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::{Notify, watch};

/// How long a subscriber waits before connecting again.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// The pub/sub channel of one installation (its schema).
pub fn channel(schema: &str) -> String {
    format!("burgee:{schema}:changes")
}

/// Publishes every revision this replica commits (the latest one, when they come faster
/// than Redis takes them).
pub async fn publish(client: redis::Client, channel: String, mut committed: watch::Receiver<u64>) {
    let mut connection: Option<redis::aio::MultiplexedConnection> = None;
    while committed.changed().await.is_ok() {
        let revision = *committed.borrow_and_update();
        if connection.is_none() {
            connection = client.get_multiplexed_async_connection().await.ok();
        }
        let Some(conn) = connection.as_mut() else {
            metrics::counter!("burgee_notification_failures_total").increment(1);
            continue;
        };
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(revision)
            .query_async(conn)
            .await;
        if let Err(error) = sent {
            tracing::debug!(%error, "publishing a change to Redis failed");
            metrics::counter!("burgee_notification_failures_total").increment(1);
            connection = None;
        }
    }
}

/// Wakes `notified` for every change another replica published (see [`super::is_news`]), reconnecting for as long as
/// the process runs.
pub async fn subscribe(
    client: redis::Client,
    channel: String,
    state: Arc<super::State>,
    notified: Arc<Notify>,
) {
    let mut connected_before = false;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(error) = pubsub.subscribe(&channel).await {
                    tracing::debug!(%error, "subscribing to Redis failed");
                } else {
                    if connected_before {
                        tracing::info!("subscribed to Redis again");
                    }
                    connected_before = true;
                    metrics::gauge!("burgee_notifications_connected").set(1.0);
                    // Whatever was published while this replica was not listening.
                    notified.notify_one();
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let revision: String = message.get_payload().unwrap_or_default();
                        if super::is_news(&state, &revision) {
                            notified.notify_one();
                        }
                    }
                    tracing::warn!(
                        "the Redis subscription ended; changes arrive by polling until it is back"
                    );
                }
            }
            Err(error) => tracing::debug!(%error, "connecting to Redis failed"),
        }
        metrics::gauge!("burgee_notifications_connected").set(0.0);
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}
