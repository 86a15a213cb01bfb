//! `/admin/v1/cluster/members`: the cluster's membership, changed online at any node (a
//! follower forwards the change to the leader). Each change is recorded in the audit log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};
use burgee_raft::{MemberChange, MembershipError};
use serde::Deserialize;
use serde_json::Value;

use super::{ApiError, Body, execute};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::store::command::{Command, SecurityEvent};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/cluster/members", post(add))
        .route("/admin/v1/cluster/members/{id}", delete(remove))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    id: u64,
    /// The node's `--advertise-cluster-url`.
    url: String,
    /// A non-voting member: it replicates the log and serves reads, and takes no part in
    /// elections or commits.
    #[serde(default)]
    learner: bool,
}

async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewMember>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let url = body.url.trim().trim_end_matches('/').to_owned();
    refuse_older_version(&state, body.id, &url).await?;
    let change = MemberChange::Add {
        id: body.id,
        url: url.clone(),
        voter: !body.learner,
    };
    apply(&state, change).await?;
    record(&state, &caller, body.id, "added", Some(url), !body.learner).await?;
    Ok((StatusCode::OK, Json(status(&state)?)))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let voter = node(&state)?.status().voters.contains(&id);
    apply(&state, MemberChange::Remove { id }).await?;
    record(&state, &caller, id, "removed", None, voter).await?;
    Ok(Json(status(&state)?))
}

/// Refuses to add a node that cannot read the cluster's active command format: it would
/// refuse the log. A node that does not answer is left to the membership change (which
/// waits for it to catch up).
async fn refuse_older_version(state: &AppState, id: u64, url: &str) -> Result<(), ApiError> {
    let Some(node) = state.store.node() else {
        return Ok(());
    };
    let active = state.store.catalog().active_command_format();
    if active <= 1 {
        // Every version reads the first format: nothing to ask.
        return Ok(());
    }
    match node.hello(url).await {
        Ok(greeting) if greeting.command_format < active => Err(ApiError::new(
            StatusCode::CONFLICT,
            "incompatible_version",
            format!(
                "node {id} at {url} reads command formats up to {}, and this cluster runs \
                 format {active}: upgrade Burgee on that node before adding it",
                greeting.command_format
            ),
        )
        .with_details(serde_json::json!({
            "node_command_format": greeting.command_format,
            "active_command_format": active,
        }))),
        _ => Ok(()),
    }
}

async fn apply(state: &AppState, change: MemberChange) -> Result<(), ApiError> {
    if state.settings.cluster.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_clustered",
            "this node runs without a cluster port: start it with --cluster-listen and \
             --cluster-secret before it can take members",
        ));
    }
    node(state)?
        .change_members(change)
        .await
        .map_err(|e| membership_error(&e))
}

async fn record(
    state: &AppState,
    caller: &Caller,
    node_id: u64,
    change: &str,
    url: Option<String>,
    voter: bool,
) -> Result<(), ApiError> {
    let event = SecurityEvent::MembershipChanged {
        node_id,
        change: change.to_owned(),
        url,
        voter,
    };
    execute(state, caller, Command::RecordEvent(event))
        .await
        .map(|_| ())
}

fn status(state: &AppState) -> Result<Value, ApiError> {
    let node = node(state)?;
    Ok(crate::cluster::status_json(&node.status(), node.formats()))
}

/// The Raft node; a server on PostgreSQL has none.
fn node(state: &AppState) -> Result<&burgee_raft::Node, ApiError> {
    state.store.node().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_clustered",
            "this server keeps its state in PostgreSQL: it has no Raft cluster (add replicas \
             by starting more servers on the same database)",
        )
    })
}

fn membership_error(error: &MembershipError) -> ApiError {
    let message = error.to_string();
    match error {
        MembershipError::NotLeader { .. } | MembershipError::Unreachable(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_quorum", message)
        }
        MembershipError::Invalid(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_member", message)
        }
        MembershipError::Conflict(_) => {
            ApiError::new(StatusCode::CONFLICT, "membership_conflict", message)
        }
        MembershipError::UnknownMember(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
        }
        MembershipError::NotCaughtUp { .. } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "member_not_caught_up",
            message,
        ),
        MembershipError::Stopped(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }
}
