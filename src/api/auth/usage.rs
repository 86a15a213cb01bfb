//! When credentials were last used. Each node notes uses in memory (idle timeouts use the
//! latest one) and records them through the write path at most every [`RECORD_EVERY_MS`] per
//! credential, so a busy token does not turn every request into a write.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::store::Store;
use crate::store::command::{Actor, Command, Envelope};

pub const RECORD_EVERY_MS: i64 = 60_000;
const FLUSH_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct Usage {
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    sessions: HashMap<u32, i64>,
    tokens: HashMap<u32, i64>,
}

impl Usage {
    pub fn session_used(&self, id: u32, at: i64) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.sessions.insert(id, at);
    }

    pub fn token_used(&self, id: u32, at: i64) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.tokens.insert(id, at);
    }

    /// The latest use of a session this node saw.
    pub fn session_seen(&self, id: u32) -> Option<i64> {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.sessions.get(&id).copied()
    }

    /// Records uses that moved on by a minute or more; forgets credentials that are gone.
    pub async fn flush(&self, store: &Store) {
        let catalog = store.catalog();
        let (sessions, tokens) = {
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            seen.sessions
                .retain(|id, _| catalog.sessions.contains_key(id));
            seen.tokens.retain(|id, _| catalog.tokens.contains_key(id));
            let sessions: Vec<(u32, i64)> = seen
                .sessions
                .iter()
                .filter(|(id, at)| {
                    catalog
                        .sessions
                        .get(id)
                        .is_some_and(|s| **at >= s.last_seen_at + RECORD_EVERY_MS)
                })
                .map(|(id, at)| (*id, *at))
                .collect();
            let tokens: Vec<(u32, i64)> = seen
                .tokens
                .iter()
                .filter(|(id, at)| {
                    catalog.tokens.get(id).is_some_and(|t| {
                        t.last_used_at
                            .is_none_or(|last| **at >= last + RECORD_EVERY_MS)
                    })
                })
                .map(|(id, at)| (*id, *at))
                .collect();
            (sessions, tokens)
        };
        if sessions.is_empty() && tokens.is_empty() {
            return;
        }
        let envelope = Envelope::now(
            Actor::System,
            "record-use",
            Command::RecordUse { sessions, tokens },
        );
        if let Err(error) = store.execute(envelope).await {
            tracing::debug!(%error, "recording credential use failed; it is retried");
        }
    }

    /// Flushes now and then, for as long as the server runs.
    pub async fn run(self: std::sync::Arc<Self>, store: Store) {
        loop {
            tokio::time::sleep(FLUSH_EVERY).await;
            self.flush(&store).await;
        }
    }
}
