//! Cluster traffic between nodes: HTTP on the cluster port (apart from the API port, as etcd
//! keeps its peer port), postcard bodies, and a shared secret every request carries, compared
//! in constant time. A node with another secret is refused and says so in its log.
//!
//! Paths: `POST /raft/append`, `/raft/vote`, `/raft/snapshot` (openraft's RPCs) and
//! `/raft/write` (a follower forwarding a client's write to the leader).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use openraft::error::{NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::types::{Command, TypeConfig};

/// The header that carries the cluster secret.
pub const SECRET_HEADER: &str = "x-burgee-cluster-secret";

/// The shared secret of a cluster (never printed).
#[derive(Clone)]
pub struct ClusterSecret(Arc<str>);

impl ClusterSecret {
    pub fn new(secret: &str) -> Self {
        Self(Arc::from(secret))
    }

    fn matches(&self, given: &[u8]) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.0.as_bytes(), given).into()
    }
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Reaches other nodes.
#[derive(Clone)]
pub struct HttpNetwork {
    http: reqwest::Client,
    secret: ClusterSecret,
}

impl HttpNetwork {
    pub fn new(secret: ClusterSecret) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self { http, secret }
    }

    /// POSTs `body` to `address` + `path`; the peer's answer decoded.
    pub(crate) async fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        address: &str,
        path: &str,
        body: &Q,
    ) -> Result<A, CallError> {
        let bytes = postcard::to_stdvec(body).map_err(|e| CallError::Local(e.to_string()))?;
        let url = format!("{}{path}", address.trim_end_matches('/'));
        let response = self
            .http
            .post(url)
            .header(SECRET_HEADER, &*self.secret.0)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() || e.is_timeout() {
                    CallError::Unreachable(e.to_string())
                } else {
                    CallError::Network(e.to_string())
                }
            })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| CallError::Network(e.to_string()))?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(CallError::Refused(
                String::from_utf8_lossy(&body).into_owned(),
            ));
        }
        if !status.is_success() {
            return Err(CallError::Network(format!(
                "{status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        postcard::from_bytes(&body)
            .map_err(|e| CallError::Network(format!("an answer that cannot be read: {e}")))
    }
}

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the peer cannot be reached: {0}")]
    Unreachable(String),
    #[error("the peer refused this node's cluster secret: {0}")]
    Refused(String),
    #[error("cluster traffic failed: {0}")]
    Network(String),
    #[error("{0}")]
    Local(String),
}

impl<E: std::error::Error> From<CallError> for RPCError<u64, BasicNode, RaftError<u64, E>> {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Unreachable(_) => RPCError::Unreachable(Unreachable::new(&error)),
            CallError::Refused(_) => {
                tracing::error!(%error, "a peer refused this node: check --cluster-secret");
                RPCError::Network(NetworkError::new(&error))
            }
            CallError::Network(_) | CallError::Local(_) => {
                RPCError::Network(NetworkError::new(&error))
            }
        }
    }
}

/// A connection to one peer.
pub struct Peer {
    network: HttpNetwork,
    target: u64,
    address: String,
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Self::Network {
        Peer {
            network: self.clone(),
            target,
            address: node.addr.clone(),
        }
    }
}

type Rpc<T, E = openraft::error::Infallible> =
    Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

impl Peer {
    async fn rpc<Q: Serialize, A: DeserializeOwned, E: std::error::Error + DeserializeOwned>(
        &self,
        path: &str,
        body: &Q,
    ) -> Rpc<A, E> {
        let answer: Result<A, RaftError<u64, E>> =
            self.network.call(&self.address, path, body).await?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<u64>> {
        self.rpc("/raft/append", &rpc).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Rpc<InstallSnapshotResponse<u64>, openraft::error::InstallSnapshotError> {
        self.rpc("/raft/snapshot", &rpc).await
    }

    async fn vote(&mut self, rpc: VoteRequest<u64>, _option: RPCOption) -> Rpc<VoteResponse<u64>> {
        self.rpc("/raft/vote", &rpc).await
    }
}

/// The cluster port's routes for `raft`.
pub fn router(raft: Raft<TypeConfig>, secret: ClusterSecret) -> axum::Router {
    axum::Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/write", post(forwarded_write))
        .with_state(Served { raft, secret })
}

#[derive(Clone)]
struct Served {
    raft: Raft<TypeConfig>,
    secret: ClusterSecret,
}

/// Why cluster traffic was not taken.
enum Refusal {
    WrongSecret,
    Unreadable(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::WrongSecret => (StatusCode::UNAUTHORIZED, "wrong cluster secret").into_response(),
            Self::Unreadable(why) => (
                StatusCode::BAD_REQUEST,
                format!("a request that cannot be read: {why}"),
            )
                .into_response(),
        }
    }
}

/// Checks the secret and decodes the body.
fn accept<Q: DeserializeOwned>(
    served: &Served,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Q, Refusal> {
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !served.secret.matches(given) {
        tracing::warn!("refused cluster traffic with a wrong or missing cluster secret");
        return Err(Refusal::WrongSecret);
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
    match accept::<AppendEntriesRequest<TypeConfig>>(&served, &headers, &body) {
        Ok(rpc) => reply(&served.raft.append_entries(rpc).await),
        Err(refusal) => refusal.into_response(),
    }
}

async fn vote(State(served): State<Served>, headers: HeaderMap, body: Bytes) -> Response {
    match accept::<VoteRequest<u64>>(&served, &headers, &body) {
        Ok(rpc) => reply(&served.raft.vote(rpc).await),
        Err(refusal) => refusal.into_response(),
    }
}

async fn snapshot(State(served): State<Served>, headers: HeaderMap, body: Bytes) -> Response {
    match accept::<InstallSnapshotRequest<TypeConfig>>(&served, &headers, &body) {
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
    match accept::<Command>(&served, &headers, &body) {
        Ok(command) => reply(&crate::node::propose(&served.raft, command).await),
        Err(refusal) => refusal.into_response(),
    }
}
