//! Real-time streams (server-sent events) of an environment's changes: Flagsmith's
//! (`/sse/environments/{key}/stream`, [`flagsmith`]) and Burgee's own, versioned one
//! (`/api/v1/flags/stream`, [`native`]).
//!
//! Both run the same loop: wait for the environment's next snapshot, a keep-alive tick or
//! shutdown; check the key still opens the environment (a revoked key or an organisation
//! that stopped serving flags ends the stream); ask the stream's [`Feed`] what to send.

pub mod flagsmith;
pub mod native;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, Sse};
use futures_util::Stream;
use tokio::time::{Instant, MissedTickBehavior};

use crate::cache::changes::Subscription;
use crate::cache::{EnvironmentSnapshot, Snapshots};

/// What one kind of stream sends for each snapshot of its environment.
pub trait Feed: Send + 'static {
    /// Events for a snapshot newer than the last one this feed saw (maybe none).
    fn changed(&mut self, snapshot: &Arc<EnvironmentSnapshot>) -> Vec<Event>;
}

/// Counts open streams in `burgee_sse_subscribers{stream}` while it lives.
struct Open(&'static str);

impl Open {
    fn new(stream: &'static str) -> Self {
        metrics::gauge!("burgee_sse_subscribers", "stream" => stream).increment(1.0);
        Self(stream)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        metrics::gauge!("burgee_sse_subscribers", "stream" => self.0).decrement(1.0);
    }
}

struct Running<F> {
    snapshots: Arc<Snapshots>,
    key: String,
    environment_id: u32,
    subscription: Subscription,
    feed: F,
    pending: VecDeque<Event>,
    ping: tokio::time::Interval,
    _open: Open,
}

impl<F: Feed> Running<F> {
    /// Whether the key still opens this environment.
    fn key_works(&self) -> bool {
        self.snapshots
            .by_key(&self.key)
            .is_some_and(|(snapshot, _)| {
                snapshot.environment_id == self.environment_id && !snapshot.stop_serving_flags
            })
    }

    /// The next event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let woken = tokio::select! {
                changed = self.subscription.snapshots.changed() => Wake::Changed(changed.is_ok()),
                _ = self.ping.tick() => Wake::Ping,
                _ = self.subscription.closing.wait_for(|closing| *closing) => Wake::Closing,
            };
            match woken {
                // A closed channel: the environment was deleted.
                Wake::Changed(false) | Wake::Closing => return None,
                _ if !self.key_works() => return None,
                Wake::Changed(true) => {
                    let snapshot = Arc::clone(&self.subscription.snapshots.borrow_and_update());
                    self.pending.extend(self.feed.changed(&snapshot));
                }
                Wake::Ping => return Some(Event::default().comment("ping")),
            }
        }
    }
}

enum Wake {
    /// A newer snapshot (`false`: the channel closed).
    Changed(bool),
    Ping,
    Closing,
}

/// The subscription's newest snapshot, marked seen: what a stream's first events describe
/// (later snapshots wake the stream, none is missed in between).
pub fn current(subscription: &mut Subscription) -> Arc<EnvironmentSnapshot> {
    Arc::clone(&subscription.snapshots.borrow_and_update())
}

/// Subscribes to environment `environment_id`: the subscription and the snapshot it starts
/// from (taken under the subscription, so no change falls between the two).
pub fn subscribe(
    snapshots: &crate::cache::Snapshots,
    environment_id: u32,
) -> Result<(Subscription, Arc<EnvironmentSnapshot>), crate::api::sdk::SdkError> {
    let mut subscription = snapshots
        .subscribe(environment_id)
        .ok_or(crate::api::sdk::SdkError::UnknownKey)?;
    let snapshot = current(&mut subscription);
    Ok((subscription, snapshot))
}

/// What a handler hands over to start a stream.
pub struct Start<F> {
    pub stream: &'static str,
    pub key: String,
    pub environment_id: u32,
    pub subscription: Subscription,
    /// Sent first (the state on subscribe, or what a resuming client missed).
    pub first: Vec<Event>,
    pub feed: F,
}

/// The response streaming `start`'s events, with a keep-alive comment every `ping`.
pub fn respond<F: Feed>(
    snapshots: Arc<Snapshots>,
    ping: Duration,
    start: Start<F>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut ticks = tokio::time::interval_at(Instant::now() + ping, ping);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let running = Running {
        snapshots,
        key: start.key,
        environment_id: start.environment_id,
        subscription: start.subscription,
        feed: start.feed,
        pending: start.first.into(),
        ping: ticks,
        _open: Open::new(start.stream),
    };
    let events = futures_util::stream::unfold(running, |mut running| async move {
        let event = running.next().await?;
        Some((Ok(event), running))
    });
    Sse::new(events)
}
