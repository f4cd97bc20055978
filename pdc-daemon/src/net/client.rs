//! The cloneable handle to the swarm task.
//!
//! Every method sends one `Command` over a bounded channel (so a flood of callers waits
//! instead of growing memory) and awaits its `oneshot` reply.

use std::time::Duration;

use libp2p::gossipsub::MessageId;
use libp2p::{Multiaddr, PeerId};
use pdc_proto::wire::{DataRequest, DataResponse, SyncRequest, SyncResponse};
use tokio::sync::{mpsc, oneshot};

use super::{Acceptance, NetError, PeerInfo, ResponseToken};

/// Reply channel of one command.
pub(super) type Reply<T> = oneshot::Sender<T>;

/// What a [`NetClient`] asks of the swarm task.
#[derive(Debug)]
pub(super) enum Command {
    ListenAddrs(Reply<Vec<Multiaddr>>),
    Dial(Multiaddr, Reply<Result<(), NetError>>),
    AddAddress(PeerId, Multiaddr, Reply<()>),
    Publish(Vec<u8>, Reply<Result<(), NetError>>),
    ReportValidation {
        msg_id: MessageId,
        propagation_source: PeerId,
        acceptance: Acceptance,
        reply: Reply<bool>,
    },
    DataRequest(PeerId, DataRequest, Reply<Result<DataResponse, NetError>>),
    SyncRequest(PeerId, SyncRequest, Reply<Result<SyncResponse, NetError>>),
    RespondData(ResponseToken, DataResponse, Reply<Result<(), NetError>>),
    RespondSync(ResponseToken, SyncResponse, Reply<Result<(), NetError>>),
    Peers(Reply<Vec<PeerInfo>>),
    PeerScore(PeerId, Reply<Option<f64>>),
    MeshPeers(Reply<Vec<PeerId>>),
    Shutdown(Reply<()>),
}

/// Cloneable handle to the network task. Dropping every clone stops the task.
#[derive(Debug, Clone)]
pub struct NetClient {
    local_peer_id: PeerId,
    commands: mpsc::Sender<Command>,
    /// Outer bound on a request's wait, in case the swarm's own timeout never fires
    /// (it covers the stream, not the dial before it).
    request_deadline: Duration,
}

impl NetClient {
    pub(super) fn new(
        local_peer_id: PeerId,
        commands: mpsc::Sender<Command>,
        request_timeout: Duration,
    ) -> Self {
        Self {
            local_peer_id,
            commands,
            request_deadline: request_timeout.saturating_mul(2) + Duration::from_secs(5),
        }
    }

    async fn call<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(command(tx))
            .await
            .map_err(|_| NetError::Shutdown)?;
        rx.await.map_err(|_| NetError::Shutdown)
    }

    /// This node's `PeerId`.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// The addresses the node listens on. Waits for the first listener to be ready, so
    /// right after [`super::spawn`] this returns the real port of a `/tcp/0` listen address.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.call(Command::ListenAddrs).await
    }

    /// Starts dialing `addr` (ideally ending in `/p2p/<peer id>`). Returns once the dial is
    /// under way; success shows up as [`super::NetEvent::PeerConnected`].
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.call(|reply| Command::Dial(addr, reply)).await?
    }

    /// Remembers an address of `peer` for later dials and requests.
    pub async fn add_address(&self, peer: PeerId, addr: Multiaddr) -> Result<(), NetError> {
        self.call(|reply| Command::AddAddress(peer, addr, reply))
            .await
    }

    /// Publishes an already encoded `wire::Gossip` on the ledger topic.
    pub async fn publish(&self, data: Vec<u8>) -> Result<(), NetError> {
        self.call(|reply| Command::Publish(data, reply)).await?
    }

    /// Reports the node's verdict on a [`super::NetEvent::Gossip`]: `Accept` forwards it,
    /// `Reject` drops it and penalises `propagation_source`, `Ignore` drops it. Returns
    /// false if the message had already left the cache (validated too late).
    pub async fn report_validation(
        &self,
        msg_id: MessageId,
        propagation_source: PeerId,
        acceptance: Acceptance,
    ) -> Result<bool, NetError> {
        self.call(|reply| Command::ReportValidation {
            msg_id,
            propagation_source,
            acceptance,
            reply,
        })
        .await
    }

    /// Asks `peer` for records and waits for its answer (bounded by `request_timeout`).
    pub async fn data_request(
        &self,
        peer: PeerId,
        request: DataRequest,
    ) -> Result<DataResponse, NetError> {
        let call = self.call(|reply| Command::DataRequest(peer, request, reply));
        match tokio::time::timeout(self.request_deadline, call).await {
            Ok(result) => result?,
            Err(_) => Err(NetError::Timeout { peer }),
        }
    }

    /// Sends a sync request to `peer` and waits for its answer (bounded by `request_timeout`).
    pub async fn sync_request(
        &self,
        peer: PeerId,
        request: SyncRequest,
    ) -> Result<SyncResponse, NetError> {
        let call = self.call(|reply| Command::SyncRequest(peer, request, reply));
        match tokio::time::timeout(self.request_deadline, call).await {
            Ok(result) => result?,
            Err(_) => Err(NetError::Timeout { peer }),
        }
    }

    /// Answers an [`super::NetEvent::InboundData`]. Refuses (without consuming the token) a
    /// response above `max_response_bytes`, so the node can send a smaller refusal instead.
    pub async fn respond_data(
        &self,
        channel: ResponseToken,
        response: DataResponse,
    ) -> Result<(), NetError> {
        self.call(|reply| Command::RespondData(channel, response, reply))
            .await?
    }

    /// Answers an [`super::NetEvent::InboundSync`]; same rules as [`Self::respond_data`].
    pub async fn respond_sync(
        &self,
        channel: ResponseToken,
        response: SyncResponse,
    ) -> Result<(), NetError> {
        self.call(|reply| Command::RespondSync(channel, response, reply))
            .await?
    }

    /// Every peer the node knows, connected or not.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        self.call(Command::Peers).await
    }

    /// The gossipsub score of `peer` (negative means misbehaving), if it is known.
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, NetError> {
        self.call(|reply| Command::PeerScore(peer, reply)).await
    }

    /// Peers in our gossipsub mesh for the ledger topic (the ones we forward to).
    pub async fn mesh_peers(&self) -> Result<Vec<PeerId>, NetError> {
        self.call(Command::MeshPeers).await
    }

    /// Stops the network task and waits until it has stopped accepting work. Pending
    /// requests fail with [`NetError::Shutdown`].
    pub async fn shutdown(&self) -> Result<(), NetError> {
        match self.call(Command::Shutdown).await {
            // A task that is already gone is what the caller wants.
            Ok(()) | Err(NetError::Shutdown) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
