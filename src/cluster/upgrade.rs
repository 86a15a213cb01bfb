//! Rolling upgrades: the leader switches a newer command format on once every member reads
//! it. Until then a command of the newer format is refused with `upgrade_in_progress` (a
//! member of the older version could not read it), so old and new versions run side by side
//! and the new features start working when the last member is upgraded.

use std::time::Duration;

use burgee_raft::Node;

use crate::store::Embedded;
use crate::store::command::{Actor, Command, Envelope};

/// How often every node publishes its cluster's format and the leader looks at its members.
const EVERY: Duration = Duration::from_secs(1);

/// The format every member reads, when it is newer than the active one (on the leader).
fn switchable(node: &Node, active: u16) -> Option<u16> {
    let status = node.status();
    let formats = node.formats();
    if !status.is_leader {
        return None;
    }
    let heard = formats.peers();
    let mut every = formats.own();
    for id in status.members.keys().filter(|id| **id != status.id) {
        // A member not heard from lately may be stopped for its upgrade: wait for it.
        every = every.min(*heard.get(id)?);
    }
    (every > active).then_some(every)
}

/// Publishes the active format to the cluster traffic and, on the leader, switches a newer
/// one on if every member reads it. Returns the active format.
pub async fn step(store: &Embedded) -> u16 {
    let catalog = store.catalog();
    let active = catalog.active_command_format();
    let node = store.node();
    node.formats().set_active(active);
    if !catalog.meta.initialized {
        return active;
    }
    let Some(to) = switchable(node, active) else {
        return active;
    };
    let envelope = Envelope::now(
        Actor::System,
        "raise-command-format",
        Command::RaiseCommandFormat { to },
    );
    match store.execute(envelope).await {
        Ok(Ok(_)) => {
            tracing::info!(
                from = active,
                to,
                "every member reads command format {to}: switched it on"
            );
            node.formats().set_active(to);
            to
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "switching command format {to} on was refused");
            active
        }
        Err(error) => {
            tracing::debug!(%error, "switching command format {to} on must wait");
            active
        }
    }
}

/// Runs [`step`] every second for as long as the server runs.
pub async fn run(store: Embedded) {
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        step(&store).await;
    }
}
