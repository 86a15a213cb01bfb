//! Cluster traffic between nodes: HTTP on the cluster port (apart from the API port, as etcd
//! keeps its peer port), postcard bodies, and a shared secret every request carries, compared
//! in constant time. A node with another secret is refused and says so in its log.
//!
//! This module is the calling side; [`crate::serve`] answers. Every request also carries the
//! sender's cluster id ([`crate::identity`]): a node of another cluster is refused.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use openraft::BasicNode;
use openraft::error::{NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::formats::Formats;
use crate::identity::{CLUSTER_ID_HEADER, ClusterIdentity};
use crate::types::TypeConfig;

/// The header that carries the cluster secret.
pub const SECRET_HEADER: &str = "x-burgee-cluster-secret";
/// The header that names the sending node (for the receiver's log, and for tools between
/// nodes such as a test's network partition).
pub const NODE_HEADER: &str = "x-burgee-node-id";

/// The shared secret of a cluster (never printed).
#[derive(Clone)]
pub struct ClusterSecret(Arc<str>);

impl ClusterSecret {
    pub fn new(secret: &str) -> Self {
        Self(Arc::from(secret))
    }

    pub(crate) fn matches(&self, given: &[u8]) -> bool {
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
    identity: ClusterIdentity,
    node_id: u64,
    formats: Formats,
}

/// Installs ring as the process's TLS crypto provider (idempotent); [`client_tls`] does, so
/// every client built with it has one.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client TLS setup trusting only `roots`. Every client is built with one: left to itself,
/// reqwest looks for the system's certificate store, which a FROM-scratch image has not, and
/// then fails to build at all.
pub fn client_tls(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    client_tls_showing(roots, None)
}

/// The same, showing `certificate` when a server demands a client certificate (mutual TLS
/// between nodes).
pub fn client_tls_showing(
    roots: rustls::RootCertStore,
    certificate: Option<Arc<dyn rustls::client::ResolvesClientCert>>,
) -> rustls::ClientConfig {
    install_crypto_provider();
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let mut config = match certificate {
        Some(resolver) => builder.with_client_cert_resolver(resolver),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

impl HttpNetwork {
    /// A network reaching https peers with `tls` (without it, plain http peers only).
    pub fn new(
        secret: ClusterSecret,
        identity: ClusterIdentity,
        node_id: u64,
        formats: Formats,
        tls: Option<rustls::ClientConfig>,
    ) -> Self {
        let tls = tls.unwrap_or_else(|| client_tls(rustls::RootCertStore::empty()));
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self {
            http,
            secret,
            identity,
            node_id,
            formats,
        }
    }

    /// POSTs `body` to `address` + `path`; the peer's answer decoded.
    pub(crate) async fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        address: &str,
        path: &str,
        body: &Q,
    ) -> Result<A, CallError> {
        self.call_told(address, path, body)
            .await
            .map(|(answer, _)| answer)
    }

    /// The same, with the headers of the answer (which tell the peer's formats).
    pub(crate) async fn call_told<Q: Serialize, A: DeserializeOwned>(
        &self,
        address: &str,
        path: &str,
        body: &Q,
    ) -> Result<(A, HeaderMap), CallError> {
        let bytes = postcard::to_stdvec(body).map_err(|e| CallError::Local(e.to_string()))?;
        let url = format!("{}{path}", address.trim_end_matches('/'));
        let mut request = self
            .http
            .post(url)
            .header(SECRET_HEADER, &*self.secret.0)
            .header(NODE_HEADER, self.node_id);
        if let Some(id) = self.identity.get() {
            request = request.header(CLUSTER_ID_HEADER, id);
        }
        for (name, value) in self.formats.headers() {
            request = request.header(name, value);
        }
        let response = request
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() || e.is_timeout() {
                    // The chain of causes says why (a refused certificate, for one).
                    CallError::Unreachable(causes(&e))
                } else {
                    CallError::Network(e.to_string())
                }
            })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| CallError::Network(e.to_string()))?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(CallError::Refused(
                String::from_utf8_lossy(&body).into_owned(),
            ));
        }
        if status == StatusCode::CONFLICT {
            return Err(CallError::OtherCluster(
                String::from_utf8_lossy(&body).into_owned(),
            ));
        }
        if status == StatusCode::UPGRADE_REQUIRED {
            return Err(CallError::Incompatible(
                String::from_utf8_lossy(&body).into_owned(),
            ));
        }
        if !status.is_success() {
            return Err(CallError::Network(format!(
                "{status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        let answer = postcard::from_bytes(&body)
            .map_err(|e| CallError::Network(format!("an answer that cannot be read: {e}")))?;
        Ok((answer, headers))
    }

    /// What this node heard of its peers' formats.
    pub fn formats(&self) -> &Formats {
        &self.formats
    }
}

/// An error and its causes on one line.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the peer cannot be reached: {0}")]
    Unreachable(String),
    #[error("the peer refused this node's cluster secret: {0}")]
    Refused(String),
    #[error("the peer belongs to another cluster: {0}")]
    OtherCluster(String),
    #[error("the peer runs an older version than this cluster needs: {0}")]
    Incompatible(String),
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
            CallError::OtherCluster(_) => {
                tracing::error!(%error, "a member's data belongs to another cluster: check --initial-cluster and its data directory");
                RPCError::Network(NetworkError::new(&error))
            }
            CallError::Incompatible(_) => {
                tracing::error!(%error, "a member cannot take part until it is upgraded");
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
        let (answer, headers): (Result<A, RaftError<u64, E>>, _) =
            self.network.call_told(&self.address, path, body).await?;
        self.network.formats.record(self.target, &headers);
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
