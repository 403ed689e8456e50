//! Raft RPCs over the messenger: the same authenticated QUIC connections as everything else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use rados::{CallError, Messenger, Rpc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::store::{NodeId, TypeConfig};

/// Raft AppendEntries (and heartbeats).
#[derive(Debug, Serialize, Deserialize)]
pub struct RaftAppend(pub AppendEntriesRequest<TypeConfig>);
impl Rpc for RaftAppend {
    const METHOD: u16 = 150;
    type Reply = Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>;
}

/// Raft RequestVote.
#[derive(Debug, Serialize, Deserialize)]
pub struct RaftVote(pub VoteRequest<NodeId>);
impl Rpc for RaftVote {
    const METHOD: u16 = 151;
    type Reply = Result<VoteResponse<NodeId>, RaftError<NodeId>>;
}

/// One chunk of a Raft snapshot.
#[derive(Debug, Serialize, Deserialize)]
pub struct RaftSnapshot(pub InstallSnapshotRequest<TypeConfig>);
impl Rpc for RaftSnapshot {
    const METHOD: u16 = 152;
    type Reply = Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>;
}

/// When each peer monitor last answered a Raft RPC (for quorum status).
pub type Contacts = Arc<Mutex<HashMap<NodeId, Instant>>>;

/// Creates per-peer Raft clients over one messenger.
#[derive(Clone)]
pub struct Network {
    /// The monitor's messenger.
    pub messenger: Arc<Messenger>,
    /// Last answers.
    pub contacts: Contacts,
}

/// A Raft client for one peer.
pub struct Peer {
    target: NodeId,
    addr: Option<SocketAddr>,
    net: Network,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        Peer {
            target,
            addr: node.addr.parse().ok(),
            net: self.clone(),
        }
    }
}

impl Peer {
    async fn call<R, T, E>(&self, req: R) -> Result<T, RPCError<NodeId, BasicNode, E>>
    where
        R: Rpc<Reply = Result<T, E>>,
        E: std::error::Error,
    {
        let Some(addr) = self.addr else {
            let e = CallError::Encode(format!("monitor {} has no valid address", self.target));
            return Err(RPCError::Unreachable(Unreachable::new(&e)));
        };
        let reply = self
            .net
            .messenger
            .call(addr, &req)
            .await
            .map_err(|e| match e {
                CallError::Unreachable { .. } | CallError::Refused { .. } => {
                    RPCError::Unreachable(Unreachable::new(&e))
                }
                _ => RPCError::Network(NetworkError::new(&e)),
            })?;
        self.net
            .contacts
            .lock()
            .expect("contacts lock")
            .insert(self.target, Instant::now());
        reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(RaftAppend(rpc)).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(RaftSnapshot(rpc)).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(RaftVote(rpc)).await
    }
}
