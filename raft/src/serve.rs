//! The cluster port's routes, all `POST` with postcard bodies: `/raft/append`, `/raft/vote`,
//! `/raft/snapshot` (openraft's RPCs), `/raft/write` (a follower forwarding a client's write),
//! `/raft/read-index` (a follower asking the leader how far to apply before a linearizable
//! read), `/raft/members` (a follower forwarding a membership change) and `/raft/hello`
//! (which cluster a node belongs to, asked before forming one).
//!
//! Every request must carry the cluster secret (else 401) and, when the sender has one, the
//! cluster id of this node (else 409): a node of another cluster is refused and both log why.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use openraft::Raft;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::formats::Formats;
use crate::identity::{CLUSTER_ID_HEADER, ClusterIdentity};
use crate::membership::MemberChange;
use crate::network::{ClusterSecret, NODE_HEADER, SECRET_HEADER};
use crate::types::{Command, TypeConfig};

/// What `/raft/hello` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub node_id: u64,
    pub cluster_id: Option<String>,
    /// Whether the node belongs to a group (it has a membership or a log).
    pub member: bool,
}

#[derive(Clone)]
struct Served {
    raft: Raft<TypeConfig>,
    identity: ClusterIdentity,
    formats: Formats,
}

/// The cluster port's routes for `raft`.
pub fn router(
    raft: Raft<TypeConfig>,
    secret: ClusterSecret,
    identity: ClusterIdentity,
    formats: Formats,
) -> axum::Router {
    axum::Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/write", post(forwarded_write))
        .route("/raft/read-index", post(read_index))
        .route("/raft/members", post(members))
        .route("/raft/hello", post(hello))
        // The secret is checked before a body is read, so only members may send large ones
        // (snapshot chunks, appends of many entries).
        .route_layer(axum::middleware::from_fn_with_state(secret, require_secret))
        .layer(axum::middleware::map_response_with_state(
            formats.clone(),
            tell_formats,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Served {
            raft,
            identity,
            formats,
        })
}

/// Every answer tells this node's formats (the leader learns its members' from them).
async fn tell_formats(State(formats): State<Formats>, mut response: Response) -> Response {
    for (name, value) in formats.headers() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// The largest request body of cluster traffic.
const MAX_BODY: usize = 256 * 1024 * 1024;

/// Refuses a request without the cluster secret before its body is read.
async fn require_secret(
    State(secret): State<ClusterSecret>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if secret.matches(given) {
        next.run(request).await
    } else {
        let sender = request
            .headers()
            .get(NODE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown");
        tracing::warn!(
            sender,
            "refused cluster traffic with a wrong or missing cluster secret"
        );
        Refusal::WrongSecret.into_response()
    }
}

/// Why cluster traffic was not taken.
enum Refusal {
    WrongSecret,
    OtherCluster(String),
    NewerCluster(String),
    Unreadable(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::WrongSecret => (StatusCode::UNAUTHORIZED, "wrong cluster secret").into_response(),
            Self::OtherCluster(why) => (StatusCode::CONFLICT, why).into_response(),
            Self::NewerCluster(why) => (StatusCode::UPGRADE_REQUIRED, why).into_response(),
            Self::Unreadable(why) => (
                StatusCode::BAD_REQUEST,
                format!("a request that cannot be read: {why}"),
            )
                .into_response(),
        }
    }
}

/// Whether a route's traffic may teach a new node its cluster id.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Teaches {
    /// A leader's appends and snapshots: a node without an id takes the sender's.
    ClusterId,
    Nothing,
}

/// Checks the cluster id (the secret was checked before the body was read) and decodes the
/// body.
fn accept<Q: DeserializeOwned>(
    served: &Served,
    headers: &HeaderMap,
    body: &[u8],
    teaches: Teaches,
) -> Result<Q, Refusal> {
    let sender = headers
        .get(NODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    let theirs = headers.get(CLUSTER_ID_HEADER).and_then(|v| v.to_str().ok());
    if let Err(error) = served.identity.check(theirs, teaches == Teaches::ClusterId) {
        tracing::error!(sender, %error, "refused cluster traffic of another cluster");
        return Err(Refusal::OtherCluster(error.to_string()));
    }
    if let Err(why) = served.formats.check_incoming(headers) {
        tracing::error!(sender, "{why}");
        return Err(Refusal::NewerCluster(why));
    }
    postcard::from_bytes(body).map_err(|e| Refusal::Unreadable(e.to_string()))
}

fn reply<T: Serialize>(answer: &T) -> Response {
    match postcard::to_stdvec(answer) {
        Ok(bytes) => bytes.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn append(State(served): State<Served>, headers: HeaderMap, body: Bytes) -> Response {
    match accept::<AppendEntriesRequest<TypeConfig>>(&served, &headers, &body, Teaches::ClusterId) {
        Ok(rpc) => reply(&served.raft.append_entries(rpc).await),
        Err(refusal) => refusal.into_response(),
    }
}

async fn vote(State(served): State<Served>, headers: HeaderMap, body: Bytes) -> Response {
    match accept::<VoteRequest<u64>>(&served, &headers, &body, Teaches::Nothing) {
        Ok(rpc) => reply(&served.raft.vote(rpc).await),
        Err(refusal) => refusal.into_response(),
    }
}

async fn snapshot(State(served): State<Served>, headers: HeaderMap, body: Bytes) -> Response {
    match accept::<InstallSnapshotRequest<TypeConfig>>(&served, &headers, &body, Teaches::ClusterId)
    {
        Ok(rpc) => reply(&served.raft.install_snapshot(rpc).await),
        Err(refusal) => refusal.into_response(),
    }
}

/// A write a follower forwarded: proposed here (the leader) and answered as applied.
async fn forwarded_write(
    State(served): State<Served>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match accept::<Command>(&served, &headers, &body, Teaches::Nothing) {
        Ok(command) => reply(&crate::node::propose(&served.raft, command).await),
        Err(refusal) => refusal.into_response(),
    }
}

/// The log index a follower must apply before a read that sees every acknowledged write.
async fn read_index(State(served): State<Served>, headers: HeaderMap, body: Bytes) -> Response {
    match accept::<()>(&served, &headers, &body, Teaches::Nothing) {
        Ok(()) => reply(&crate::node::read_index(&served.raft).await),
        Err(refusal) => refusal.into_response(),
    }
}

async fn members(State(served): State<Served>, headers: HeaderMap, body: Bytes) -> Response {
    match accept::<MemberChange>(&served, &headers, &body, Teaches::Nothing) {
        Ok(change) => reply(&crate::membership::change(&served.raft, change).await),
        Err(refusal) => refusal.into_response(),
    }
}

/// Which cluster this node belongs to; answered to any holder of the secret, whatever its
/// cluster id, so a node can tell it was pointed at another cluster.
async fn hello(State(served): State<Served>) -> Response {
    let member = served.raft.is_initialized().await.unwrap_or(false);
    let node_id = served.raft.metrics().borrow().id;
    reply(&Hello {
        node_id,
        cluster_id: served.identity.get(),
        member,
    })
}
