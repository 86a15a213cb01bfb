//! Membership changes online, as the leader carries them out: a node joins as a learner
//! (it replicates the log, through a snapshot when the log it needs was purged), becomes a
//! voter once it has caught up, and leaves. A follower forwards the change to the leader.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, Raft};
use serde::{Deserialize, Serialize};

use crate::types::TypeConfig;

/// How long a joining voter may take to catch up before it stays a learner (within the API
/// request timeout of 30 s).
const CATCH_UP: Duration = Duration::from_secs(20);
/// How close to the leader's log a learner must be to become a voter.
const CAUGHT_UP_LAG: u64 = 64;

/// A change of the cluster's members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberChange {
    /// Adds node `id` at `url`: a learner, then (with `voter`) a voter once caught up. Adding a
    /// member again with its URL is a no-op; a learner added again as a voter is promoted.
    Add { id: u64, url: String, voter: bool },
    /// Removes node `id` (a voter or a learner); it stops receiving the log.
    Remove { id: u64 },
}

/// Why a membership change did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum MembershipError {
    #[error("no leader can change the membership now (the leader is {leader:?})")]
    NotLeader { leader: Option<u64> },
    #[error("the leader cannot be reached: {0}")]
    Unreachable(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("node {0} is not a member of the cluster")]
    UnknownMember(u64),
    #[error(
        "node {id} joined as a learner but did not catch up with the log within {seconds} s; \
         it stays a learner (check that it runs and can be reached at its URL, then add it again)"
    )]
    NotCaughtUp { id: u64, seconds: u64 },
    #[error("the Raft node stopped: {0}")]
    Stopped(String),
}

/// Carries out `change` on this node, which must lead.
pub(crate) async fn change(
    raft: &Raft<TypeConfig>,
    change: MemberChange,
) -> Result<(), MembershipError> {
    let metrics = raft.metrics().borrow().clone();
    if metrics.current_leader != Some(metrics.id) {
        return Err(MembershipError::NotLeader {
            leader: metrics.current_leader,
        });
    }
    let membership = metrics.membership_config.membership().clone();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    match change {
        MemberChange::Add { id, url, voter } => {
            check_url(&url)?;
            if id == 0 {
                return Err(MembershipError::Invalid(
                    "node ids start at 1 (0 is not a node id)".into(),
                ));
            }
            match membership.get_node(&id) {
                Some(node) if node.addr != url => {
                    return Err(MembershipError::Conflict(format!(
                        "node {id} is a member at {}; remove it first to give it another URL",
                        node.addr
                    )));
                }
                Some(_) => {}
                None => {
                    raft.add_learner(id, BasicNode::new(&url), false)
                        .await
                        .map_err(write_error)?;
                }
            }
            if voter && !voters.contains(&id) {
                wait_caught_up(raft, id).await?;
                raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                    .await
                    .map_err(write_error)?;
            }
            Ok(())
        }
        MemberChange::Remove { id } => {
            if membership.get_node(&id).is_none() {
                return Err(MembershipError::UnknownMember(id));
            }
            let change = if voters.contains(&id) {
                if voters.len() == 1 {
                    return Err(MembershipError::Invalid(format!(
                        "node {id} is the only voter: a cluster cannot remove its last voter"
                    )));
                }
                ChangeMembers::RemoveVoters(BTreeSet::from([id]))
            } else {
                ChangeMembers::RemoveNodes(BTreeSet::from([id]))
            };
            raft.change_membership(change, false)
                .await
                .map(|_| ())
                .map_err(write_error)
        }
    }
}

fn check_url(url: &str) -> Result<(), MembershipError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| MembershipError::Invalid(format!("{url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(MembershipError::Invalid(format!(
            "{url:?} is not an http:// or https:// URL of a host"
        )));
    }
    Ok(())
}

/// Waits until the leader's replication to `id` is close to its log's end.
async fn wait_caught_up(raft: &Raft<TypeConfig>, id: u64) -> Result<(), MembershipError> {
    raft.wait(Some(CATCH_UP))
        .metrics(
            |m| {
                let last = m.last_log_index.unwrap_or(0);
                m.replication
                    .as_ref()
                    .and_then(|r| r.get(&id).copied().flatten())
                    .is_some_and(|matched| matched.index + CAUGHT_UP_LAG >= last)
            },
            "the learner catching up",
        )
        .await
        .map(|_| ())
        .map_err(|_| MembershipError::NotCaughtUp {
            id,
            seconds: CATCH_UP.as_secs(),
        })
}

fn write_error(error: RaftError<u64, ClientWriteError<u64, BasicNode>>) -> MembershipError {
    match error {
        RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
            MembershipError::NotLeader {
                leader: forward.leader_id,
            }
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(
            ChangeMembershipError::InProgress(_),
        )) => MembershipError::Conflict(
            "another membership change is in progress; try again in a moment".into(),
        ),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(other)) => {
            MembershipError::Invalid(other.to_string())
        }
        other => MembershipError::Stopped(other.to_string()),
    }
}
