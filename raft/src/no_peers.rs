//! The network of a node without a cluster secret: it reaches no peer, which is all a
//! one-member group needs.

use openraft::BasicNode;
use openraft::error::{RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use crate::types::TypeConfig;

/// The network of a node that has no peers yet.
#[derive(Clone, Copy)]
pub(crate) struct NoPeers;

#[derive(Debug, thiserror::Error)]
#[error("this node has no cluster network")]
struct NoNetwork;

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = NoPeers;

    async fn new_client(&mut self, _target: u64, _node: &BasicNode) -> Self::Network {
        NoPeers
    }
}

type RpcError<E = openraft::error::Infallible> =
    openraft::error::RPCError<u64, BasicNode, RaftError<u64, E>>;

impl RaftNetwork<TypeConfig> for NoPeers {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RpcError> {
        Err(openraft::error::RPCError::Unreachable(Unreachable::new(
            &NoNetwork,
        )))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RpcError<openraft::error::InstallSnapshotError>> {
        Err(openraft::error::RPCError::Unreachable(Unreachable::new(
            &NoNetwork,
        )))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RpcError> {
        Err(openraft::error::RPCError::Unreachable(Unreachable::new(
            &NoNetwork,
        )))
    }
}
