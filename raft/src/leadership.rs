//! Logs this node's view of leadership as it changes (a new term, a new leader, none), at
//! info: what an operator reads first after a failover, without Raft's per-message detail.

use openraft::{Raft, ServerState};

use crate::types::TypeConfig;

/// Follows the node's metrics until the Raft core stops.
pub(crate) fn log_changes(raft: &Raft<TypeConfig>) {
    let mut metrics = raft.metrics();
    tokio::spawn(async move {
        let mut seen: Option<(u64, Option<u64>, ServerState)> = None;
        loop {
            let now = {
                let m = metrics.borrow_and_update();
                (m.current_term, m.current_leader, m.state)
            };
            if seen != Some(now) {
                let (term, leader, state) = now;
                match (leader, state) {
                    (_, ServerState::Leader) => tracing::info!(term, "this node leads the cluster"),
                    (Some(leader), _) => tracing::info!(
                        term,
                        leader,
                        ?state,
                        "the cluster's leader is node {leader}"
                    ),
                    (None, _) => tracing::info!(term, ?state, "no leader is known"),
                }
                seen = Some(now);
            }
            if metrics.changed().await.is_err() {
                return;
            }
        }
    });
}
