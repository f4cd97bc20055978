//! The libp2p networking layer: pure transport, no ledger or record logic.
//!
//! One task owns the libp2p `Swarm` (see `swarm`); the rest of the node holds a cloneable
//! [`NetClient`] (commands over a bounded channel, one `oneshot` reply each) and reads
//! [`NetEvent`]s from a bounded receiver returned by [`spawn`].
//!
//! # Layout
//! - `codec`: the length-prefixed prost codec of the two request-response protocols, with
//!   size caps checked before any allocation.
//! - `client`: [`NetClient`] and the `Command`s it sends to the swarm task.
//! - `swarm`: the behaviour (TCP + Noise + Yamux, identify, ping, Kademlia, gossipsub,
//!   request-response for data and sync, connection limits) and the event loop that owns it.
//!
//! # Networks never mix
//! The genesis hash is part of every protocol name (`/pdc/<hex8>/data/1`,
//! `/pdc/<hex8>/sync/1`, `/pdc/<hex8>/kad/1`), of the gossip topic (`pdc/<hex8>/ledger`)
//! and of the identify protocol version (`/pdc/<hex64>/1`, the full hash). A peer whose
//! identify announces another network is disconnected and remembered, and its later
//! connections are closed as soon as they are established.
//!
//! # Answering inbound requests
//! An inbound request arrives as [`NetEvent::InboundData`] / [`NetEvent::InboundSync`] with a
//! [`ResponseToken`]. The libp2p `ResponseChannel` itself stays in a map inside the swarm
//! task, keyed by that token: only the swarm can send on it, and keeping it there means
//! the node never holds swarm state. Answer with [`NetClient::respond_data`] or
//! [`NetClient::respond_sync`]. A token that is never answered is dropped when the
//! request times out (`request_timeout`), and the requester sees a timeout.
//!
//! # Event delivery
//! The swarm task never waits for the node: when the event channel (`event_buffer`) is
//! full, the event is dropped with a warning. A dropped gossip message is reported as
//! `Ignore` (anti-entropy sync repairs the gap); a dropped inbound request is refused at
//! once so the requester sees a failure instead of waiting for its timeout.

mod client;
mod codec;
mod swarm;
#[cfg(test)]
mod tests;

use std::net::Ipv4Addr;
use std::time::Duration;

pub use self::client::NetClient;
pub use libp2p::gossipsub::MessageId;
pub use libp2p::{Multiaddr, PeerId};

use libp2p::identity;
use libp2p::multiaddr::Protocol;
use pdc_proto::wire::{DataRequest, SyncRequest};

/// Configuration of the networking layer.
#[derive(Clone)]
pub struct NetConfig {
    /// The node's ed25519 secret key (32-byte seed). The libp2p identity is the same key as
    /// the node's ledger account, so an authenticated `PeerId` maps to an account.
    pub keypair_seed: [u8; 32],
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to connect to at start; each address must end in `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// Hash of the network's genesis; separates networks (see the module docs).
    pub network_hash: [u8; 32],
    /// Largest gossip payload (an encoded `wire::Gossip`) sent or accepted.
    pub max_gossip_bytes: usize,
    /// Largest encoded request (data or sync) sent or accepted.
    pub max_request_bytes: usize,
    /// Largest encoded response (data or sync) sent or accepted.
    pub max_response_bytes: usize,
    /// How long an outbound request may wait for its response, and an inbound one for
    /// the node's answer.
    pub request_timeout: Duration,
    /// Most established connections in total.
    pub max_connections: u32,
    /// Most established connections to one peer.
    pub max_connections_per_peer: u32,
    /// Connections kept without trimming; above it, idle connections that carry
    /// nothing of this node's are closed (see `NetTask::trim_connections`).
    pub connection_target: u32,
    /// How long a connection must have been up, with no data or sync request either
    /// way, before it may be trimmed.
    pub trim_after: Duration,
    /// How often the task checks its connections (redials bootstrap peers when alone,
    /// trims above the target).
    pub maintenance_interval: Duration,
    /// Let Kademlia find and connect peers beyond the bootstrap list. Turn off only for
    /// fixed topologies (tests, closed demos): then the node talks only to the peers it
    /// dials and those that dial it.
    pub discovery: bool,
    /// Capacity of the event channel to the node.
    pub event_buffer: usize,
    /// Capacity of the command channel from the clients.
    pub command_buffer: usize,
    /// Close connections that no protocol has used for this long.
    pub idle_connection_timeout: Duration,
    /// Agent string announced through identify.
    pub agent_version: String,
}

impl NetConfig {
    /// A configuration with the defaults: listen on `127.0.0.1` with an ephemeral port,
    /// no bootstrap peers, 64 KiB gossip, 1 MiB requests, 8 MiB responses, 10 s timeout,
    /// 256 connections (8 per peer), discovery on.
    pub fn new(keypair_seed: [u8; 32], network_hash: [u8; 32]) -> Self {
        Self {
            keypair_seed,
            listen: vec![
                Multiaddr::empty()
                    .with(Protocol::Ip4(Ipv4Addr::LOCALHOST))
                    .with(Protocol::Tcp(0)),
            ],
            bootstrap: Vec::new(),
            network_hash,
            max_gossip_bytes: 64 * 1024,
            max_request_bytes: 1024 * 1024,
            max_response_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            max_connections: 256,
            max_connections_per_peer: 8,
            connection_target: 32,
            trim_after: Duration::from_secs(30),
            maintenance_interval: Duration::from_secs(15),
            discovery: true,
            event_buffer: 1024,
            command_buffer: 256,
            idle_connection_timeout: Duration::from_secs(60),
            agent_version: concat!("pdc-daemon/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// First 8 hex digits of the network hash, as used in protocol names and the topic.
    pub fn network_tag(&self) -> String {
        hex::encode(&self.network_hash[..4])
    }
}

impl std::fmt::Debug for NetConfig {
    // Hand-written so the secret seed never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetConfig")
            .field("peer_id", &peer_id_from_seed(&self.keypair_seed))
            .field("listen", &self.listen)
            .field("bootstrap", &self.bootstrap)
            .field("network_hash", &hex::encode(self.network_hash))
            .field("max_gossip_bytes", &self.max_gossip_bytes)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_peer", &self.max_connections_per_peer)
            .field("connection_target", &self.connection_target)
            .field("trim_after", &self.trim_after)
            .field("discovery", &self.discovery)
            .finish_non_exhaustive()
    }
}

/// What the networking layer reports to the node.
#[derive(Debug)]
pub enum NetEvent {
    /// A gossip message on the ledger topic, not yet forwarded. Messages are anonymous
    /// (the payload carries its own signatures), so only the forwarding peer is known.
    /// The node validates it and must call [`NetClient::report_validation`] with `msg_id` and `propagation_source`.
    Gossip {
        /// Gossipsub id of the message.
        msg_id: MessageId,
        /// Peer that forwarded it to us.
        propagation_source: PeerId,
        /// The payload: a prost-encoded `wire::Gossip`, at most `max_gossip_bytes`.
        data: Vec<u8>,
    },
    /// A peer asks for records.
    InboundData {
        /// The authenticated remote peer of the connection (Noise handshake): the identity
        /// the owner's access decision must use.
        peer: PeerId,
        /// The request.
        request: DataRequest,
        /// Pass to [`NetClient::respond_data`].
        channel: ResponseToken,
    },
    /// A peer asks for ledger heads or blocks.
    InboundSync {
        /// The authenticated remote peer of the connection.
        peer: PeerId,
        /// The request.
        request: SyncRequest,
        /// Pass to [`NetClient::respond_sync`].
        channel: ResponseToken,
    },
    /// The first connection to a peer is established (authenticated, network not yet
    /// checked: wait for [`NetEvent::PeerIdentified`] before syncing).
    PeerConnected(PeerId),
    /// The last connection to a peer closed.
    PeerDisconnected(PeerId),
    /// A peer of this network identified itself; a good moment to start anti-entropy.
    PeerIdentified {
        /// The peer.
        peer: PeerId,
        /// Addresses it listens on, as it says.
        listen_addrs: Vec<Multiaddr>,
        /// Its identify protocol version (carries the network hash).
        protocol_version: String,
    },
}

/// Handle to answer one inbound request; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponseToken(pub(crate) u64);

/// The node's verdict on a gossip message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Valid: forward it to the mesh.
    Accept,
    /// Invalid: drop it and penalise the peer that sent it.
    Reject,
    /// Not forwarded and not penalised (duplicates, blocks we cannot check yet).
    Ignore,
}

/// What the node knows about a peer.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerInfo {
    /// The peer.
    pub peer_id: PeerId,
    /// Known addresses (from connections, identify and `add_address`), newest last.
    pub addrs: Vec<Multiaddr>,
    /// Whether at least one connection is open.
    pub connected: bool,
    /// Identify protocol version, once identified.
    pub protocol_version: Option<String>,
    /// Identify agent version, once identified.
    pub agent_version: Option<String>,
    /// When we last heard from the peer (Unix milliseconds).
    pub last_seen_ms: u64,
    /// Its identify announced another network: it was disconnected and its later
    /// connections are closed as soon as they open (see the module docs).
    pub foreign: bool,
}

/// Which message a size limit refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A request (data or sync).
    Request,
    /// A response (data or sync).
    Response,
    /// A gossip payload.
    Gossip,
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Request => "request",
            Self::Response => "response",
            Self::Gossip => "gossip message",
        })
    }
}

/// Errors of the networking layer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The key seed is not a usable ed25519 secret key.
    #[error("the node key is not a valid ed25519 secret key: {0}")]
    InvalidKey(String),
    /// A listen address could not be used.
    #[error("cannot listen on {addr}: {reason} — choose another address or port in `listen`")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// A bootstrap or dial address cannot be used.
    #[error("invalid peer address {addr}: {reason}")]
    InvalidAddress {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// Building the transport or a behaviour failed (a configuration error).
    #[error("cannot set up the network: {0}")]
    Setup(String),
    /// A message is larger than the configured limit.
    #[error("{kind} of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Which message.
        kind: MessageKind,
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// No connected peer is subscribed to the ledger topic yet.
    #[error("no peer is subscribed to the ledger topic yet; the message will reach peers by sync")]
    NoGossipPeers,
    /// Publishing a gossip message failed.
    #[error("cannot publish the gossip message: {0}")]
    Publish(String),
    /// The peer cannot be reached (no known address, or every dial failed).
    #[error("cannot reach peer {peer}: no working address — add one with add_address or dial")]
    Unreachable {
        /// The peer.
        peer: PeerId,
    },
    /// The peer did not answer in time.
    #[error("peer {peer} did not answer within the request timeout")]
    Timeout {
        /// The peer.
        peer: PeerId,
    },
    /// The peer does not speak this network's protocol.
    #[error("peer {peer} does not support this protocol; is it on another network (genesis)?")]
    UnsupportedProtocol {
        /// The peer.
        peer: PeerId,
    },
    /// The connection closed before the response arrived.
    #[error("connection to {peer} closed before the response arrived")]
    ConnectionClosed {
        /// The peer.
        peer: PeerId,
    },
    /// The exchange failed on the stream (malformed or refused message).
    #[error("request to {peer} failed: {reason}")]
    Stream {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// The response token is unknown: already answered, or the request timed out.
    #[error("no pending inbound request for {0:?}: already answered or timed out")]
    UnknownResponseToken(ResponseToken),
    /// The requester is gone (timeout or connection closed) before the answer was sent.
    #[error("the requester is gone; the response was not sent")]
    ResponseChannelClosed,
    /// Dialing could not start.
    #[error("cannot dial: {0}")]
    Dial(String),
    /// The network task has stopped.
    #[error("the network task has stopped")]
    Shutdown,
}

/// Starts the network task. Must be called inside a Tokio runtime.
///
/// Returns the client handle, the receiver of [`NetEvent`]s (bounded by
/// `config.event_buffer`) and the task's handle; the task ends on
/// [`NetClient::shutdown`] or when every client is dropped.
pub fn spawn(
    config: NetConfig,
) -> Result<
    (
        NetClient,
        tokio::sync::mpsc::Receiver<NetEvent>,
        tokio::task::JoinHandle<()>,
    ),
    NetError,
> {
    swarm::spawn(config)
}

/// The `PeerId` of the node whose ed25519 secret key seed is `seed`.
pub fn peer_id_from_seed(seed: &[u8; 32]) -> PeerId {
    match keypair_from_seed(seed) {
        Ok(keypair) => keypair.public().to_peer_id(),
        // Every 32-byte string is a valid ed25519 seed, so this arm is unreachable in
        // practice; a random id can never collide with a real peer's.
        Err(_) => PeerId::random(),
    }
}

/// The ed25519 public key (ledger account) behind a `PeerId`, if the id inlines an ed25519
/// key (identity multihash, as every ed25519 `PeerId` does).
pub fn account_of(peer: &PeerId) -> Option<[u8; 32]> {
    let multihash = peer.as_ref();
    // 0x00 is the identity multihash: the digest is the protobuf-encoded public key.
    if multihash.code() != 0 {
        return None;
    }
    let key = identity::PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    Some(key.try_into_ed25519().ok()?.to_bytes())
}

/// libp2p keypair from an ed25519 seed; the seed copy is zeroized by libp2p.
pub(crate) fn keypair_from_seed(seed: &[u8; 32]) -> Result<identity::Keypair, NetError> {
    let mut copy = *seed;
    identity::Keypair::ed25519_from_bytes(&mut copy)
        .map_err(|e| NetError::InvalidKey(e.to_string()))
}
