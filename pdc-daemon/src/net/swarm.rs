//! The task that owns the libp2p `Swarm`: builds the behaviour, runs the event loop,
//! keeps the pending-reply and response-channel maps.

use std::collections::{HashMap, HashSet, hash_map::Entry};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use libp2p::gossipsub::{
    self, IdentTopic, MessageAcceptance, MessageAuthenticity, PeerScoreParams, PeerScoreThresholds,
    PublishError, TopicScoreParams, ValidationMode,
};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{
    self, InboundRequestId, OutboundFailure, OutboundRequestId, ProtocolSupport,
};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, connection_limits, identify, kad,
    noise, ping, tcp, yamux,
};
use pdc_proto::Message;
use pdc_proto::wire::{DataRequest, DataResponse, SyncRequest, SyncResponse};
use tokio::sync::mpsc;

use super::client::{Command, NetClient, Reply};
use super::codec::{FrameTooLarge, ProstCodec};
use super::{
    Acceptance, MessageKind, NetConfig, NetError, NetEvent, PeerInfo, ResponseToken,
    keypair_from_seed,
};

/// How long a connection that carried a data request (either way) is kept above the
/// connection target; see `NetTask::trim_connections`.
const DATA_PEER_KEEP: Duration = Duration::from_secs(600);

/// Room for the gossipsub envelope (signature, key, sequence number, topic) around a
/// payload of `max_gossip_bytes`, so a payload at the limit still fits one RPC frame.
const GOSSIP_ENVELOPE_BYTES: usize = 1024;
/// Peer table bound; disconnected peers seen longest ago are forgotten first.
const MAX_KNOWN_PEERS: usize = 4096;
/// Addresses kept per peer.
const MAX_ADDRS_PER_PEER: usize = 16;
/// Peers of other networks remembered (to drop their reconnections at once).
const MAX_FOREIGN_PEERS: usize = 1024;
/// Callers waiting for the first listen address.
const MAX_LISTEN_WAITERS: usize = 64;

type DataBehaviour = request_response::Behaviour<ProstCodec<DataRequest, DataResponse>>;
type SyncBehaviour = request_response::Behaviour<ProstCodec<SyncRequest, SyncResponse>>;

/// Every protocol the node speaks. Field order is the order the swarm polls them;
/// connection limits come first so they can deny a connection before others see it.
#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    gossipsub: gossipsub::Behaviour,
    data: DataBehaviour,
    sync: SyncBehaviour,
}

/// Protocol names and topic derived from the network hash.
struct Names {
    identify_version: String,
    data: StreamProtocol,
    sync: StreamProtocol,
    kad: StreamProtocol,
    topic: IdentTopic,
}

impl Names {
    fn new(config: &NetConfig) -> Result<Self, NetError> {
        let tag = config.network_tag();
        let protocol = |name: &str| {
            StreamProtocol::try_from_owned(format!("/pdc/{tag}/{name}/1"))
                .map_err(|e| NetError::Setup(format!("protocol name: {e}")))
        };
        Ok(Self {
            identify_version: format!("/pdc/{}/1", hex::encode(config.network_hash)),
            data: protocol("data")?,
            sync: protocol("sync")?,
            kad: protocol("kad")?,
            topic: IdentTopic::new(format!("pdc/{tag}/ledger")),
        })
    }
}

/// What the task knows about one peer.
pub(super) struct PeerEntry {
    addrs: Vec<Multiaddr>,
    connections: u32,
    /// Whether the node was told `PeerConnected` (so it gets the matching disconnect).
    announced: bool,
    protocol_version: Option<String>,
    agent_version: Option<String>,
    last_seen_ms: u64,
    /// When the first of the current connections was established.
    pub(super) connected_since_ms: u64,
    /// Last data or sync request to or from the peer.
    pub(super) last_request_ms: u64,
    /// Last data request to or from the peer (a hospital asking, or asked).
    pub(super) last_data_ms: u64,
}

impl PeerEntry {
    pub(super) fn new() -> Self {
        Self {
            addrs: Vec::new(),
            connections: 0,
            announced: false,
            protocol_version: None,
            agent_version: None,
            last_seen_ms: now_ms(),
            connected_since_ms: now_ms(),
            last_request_ms: 0,
            last_data_ms: 0,
        }
    }

    /// The latest use of the connection as trimming sees it (ms): its start, its last
    /// data or sync request, and a data request counting as a use for
    /// `DATA_PEER_KEEP` rather than `trim_after` (a hospital that searched is likely
    /// to search again, and redialing every patient would slow its next search).
    pub(super) fn last_use(&self, trim_after: Duration) -> u64 {
        let extra = DATA_PEER_KEEP.saturating_sub(trim_after).as_millis();
        let data = self
            .last_data_ms
            .saturating_add(u64::try_from(extra).unwrap_or(u64::MAX));
        self.last_request_ms.max(self.connected_since_ms).max(data)
    }

    fn add_addr(&mut self, addr: Multiaddr) {
        // Keep the newest last; a re-seen address moves to the end.
        self.addrs.retain(|a| a != &addr);
        self.addrs.push(addr);
        if self.addrs.len() > MAX_ADDRS_PER_PEER {
            self.addrs.remove(0);
        }
    }
}

/// The swarm and every piece of state that belongs with it.
struct NetTask {
    swarm: Swarm<Behaviour>,
    config: NetConfig,
    names: Names,
    /// Bootstrap peers and their addresses, redialed when the node has no peers left.
    bootstrap: Vec<(PeerId, Multiaddr)>,
    events: mpsc::Sender<NetEvent>,
    peers: HashMap<PeerId, PeerEntry>,
    foreign: HashSet<PeerId>,
    listen_waiters: Vec<Reply<Vec<Multiaddr>>>,
    pending_data: HashMap<OutboundRequestId, Reply<Result<DataResponse, NetError>>>,
    pending_sync: HashMap<OutboundRequestId, Reply<Result<SyncResponse, NetError>>>,
    /// Response channels of inbound requests the node has not answered yet.
    data_channels: HashMap<ResponseToken, request_response::ResponseChannel<DataResponse>>,
    sync_channels: HashMap<ResponseToken, request_response::ResponseChannel<SyncResponse>>,
    /// Inbound request id -> token, to drop a channel when its request fails or times out.
    data_inbound: HashMap<InboundRequestId, ResponseToken>,
    sync_inbound: HashMap<InboundRequestId, ResponseToken>,
    next_token: u64,
}

pub(super) fn spawn(
    config: NetConfig,
) -> Result<
    (
        NetClient,
        mpsc::Receiver<NetEvent>,
        tokio::task::JoinHandle<()>,
    ),
    NetError,
> {
    let keypair = keypair_from_seed(&config.keypair_seed)?;
    let local_peer_id = keypair.public().to_peer_id();
    let names = Names::new(&config)?;

    let mut bootstrap = Vec::with_capacity(config.bootstrap.len());
    for addr in &config.bootstrap {
        match addr.iter().last() {
            Some(Protocol::P2p(peer)) => bootstrap.push((peer, addr.clone())),
            _ => {
                return Err(NetError::InvalidAddress {
                    addr: addr.clone(),
                    reason: "a bootstrap address must end in /p2p/<peer id>".into(),
                });
            }
        }
    }

    let behaviour = build_behaviour(&config, &names, &keypair)?;
    let idle = config.idle_connection_timeout;
    let mut swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetError::Setup(format!("TCP/Noise/Yamux transport: {e}")))?
        .with_behaviour(move |_| behaviour)
        .map_err(|e| NetError::Setup(format!("behaviour: {e}")))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();

    for addr in &config.listen {
        ensure_port_free(addr)?;
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
    }

    let (command_tx, command_rx) = mpsc::channel(config.command_buffer.max(1));
    let (event_tx, event_rx) = mpsc::channel(config.event_buffer.max(1));
    let client = NetClient::new(local_peer_id, command_tx, config.request_timeout);

    let mut task = NetTask {
        swarm,
        config,
        names,
        bootstrap,
        events: event_tx,
        peers: HashMap::new(),
        foreign: HashSet::new(),
        listen_waiters: Vec::new(),
        pending_data: HashMap::new(),
        pending_sync: HashMap::new(),
        data_channels: HashMap::new(),
        sync_channels: HashMap::new(),
        data_inbound: HashMap::new(),
        sync_inbound: HashMap::new(),
        next_token: 0,
    };
    task.connect_bootstrap();
    let handle = tokio::spawn(task.run(command_rx));
    Ok((client, event_rx, handle))
}

/// Refuses a fixed TCP port that another process already listens on.
///
/// libp2p-tcp sets `SO_REUSEPORT` on its listeners, so binding a taken port "succeeds"
/// and the kernel then splits incoming connections between the two processes. A plain
/// bind (no `SO_REUSEPORT`) fails in that case and lets us say so up front.
fn ensure_port_free(addr: &Multiaddr) -> Result<(), NetError> {
    let mut ip = None;
    let mut port = None;
    for protocol in addr.iter() {
        match protocol {
            Protocol::Ip4(v4) => ip = Some(std::net::IpAddr::V4(v4)),
            Protocol::Ip6(v6) => ip = Some(std::net::IpAddr::V6(v6)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    match (ip, port) {
        (Some(ip), Some(port)) if port != 0 => std::net::TcpListener::bind((ip, port))
            .map(drop)
            .map_err(|e| NetError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            }),
        _ => Ok(()),
    }
}

fn build_behaviour(
    config: &NetConfig,
    names: &Names,
    keypair: &libp2p::identity::Keypair,
) -> Result<Behaviour, NetError> {
    let local_peer_id = keypair.public().to_peer_id();

    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(config.max_connections))
        .with_max_established_per_peer(Some(config.max_connections_per_peer))
        // Half-open handshakes cost memory and CPU too; bound them like the rest.
        .with_max_pending_incoming(Some(config.max_connections.clamp(16, 128)))
        .with_max_pending_outgoing(Some(config.max_connections.clamp(16, 128)));

    let identify = identify::Behaviour::new(
        identify::Config::new(names.identify_version.clone(), keypair.public())
            .with_agent_version(config.agent_version.clone())
            .with_cache_size(0),
    );

    let mut kad_config = kad::Config::new(names.kad.clone());
    // We never use DHT records; filtering inserts keeps peers from filling our store.
    kad_config.set_record_filtering(kad::StoreInserts::FilterBoth);
    if config.discovery {
        // A bootstrap walks every bucket and so dials most of a network of a few
        // hundred nodes (the connections are trimmed again later; see
        // `trim_connections`). Nodes started together would do it together every five
        // minutes, the whole network handshaking at once: each node picks its own
        // period between five and ten minutes instead.
        let period = Duration::from_secs(300).mul_f64(1.0 + rand::random::<f64>());
        kad_config.set_periodic_bootstrap_interval(Some(period));
    } else {
        kad_config.set_periodic_bootstrap_interval(None);
        // Without automatic inserts the routing table stays empty, so Kademlia never
        // starts the lookups that would connect us to peers of peers.
        kad_config.set_kbucket_inserts(kad::BucketInserts::Manual);
    }
    let mut kad = kad::Behaviour::with_config(
        local_peer_id,
        kad::store::MemoryStore::new(local_peer_id),
        kad_config,
    );
    // Every node is meant to be reachable (patients answer requests), so serve the DHT
    // even before an external address is confirmed (never, on a LAN or localhost).
    kad.set_mode(Some(kad::Mode::Server));

    // Anonymous messages with content-addressed ids. Everything on the topic carries
    // its own signature (a ledger block is signed by its author's account key, a fork
    // proof is two such blocks) and is fully validated before it is accepted, so a
    // gossipsub signature would only authenticate the forwarder-of-origin a second time:
    // one more ed25519 signing per publish and one more verification per message on
    // every node, the largest CPU cost of gossip after the block check itself. Without
    // it nothing on the wire names the node that first published a block, and the same
    // block published twice (by its author and by a peer after a sync) is one message.
    // Misbehaviour is still charged to the authenticated connection it came from
    // (`propagation_source`) by the peer score.
    let gossipsub_config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(blake3::hash(&m.data).as_bytes().to_vec())
        })
        .validate_messages()
        .max_transmit_size(config.max_gossip_bytes + GOSSIP_ENVELOPE_BYTES)
        .build()
        .map_err(|e| NetError::Setup(format!("gossipsub: {e}")))?;
    let mut gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossipsub_config)
        .map_err(|e| NetError::Setup(format!("gossipsub: {e}")))?;
    let (params, thresholds) = score_params(&names.topic);
    gossipsub
        .with_peer_score(params, thresholds)
        .map_err(|e| NetError::Setup(format!("gossipsub peer score: {e}")))?;
    gossipsub
        .subscribe(&names.topic)
        .map_err(|e| NetError::Setup(format!("gossipsub subscribe: {e}")))?;

    let rr_config = request_response::Config::default()
        .with_request_timeout(config.request_timeout)
        .with_max_concurrent_streams(64);
    let data = DataBehaviour::with_codec(
        ProstCodec::new(config.max_request_bytes, config.max_response_bytes),
        [(names.data.clone(), ProtocolSupport::Full)],
        rr_config.clone(),
    );
    let sync = SyncBehaviour::with_codec(
        ProstCodec::new(config.max_request_bytes, config.max_response_bytes),
        [(names.sync.clone(), ProtocolSupport::Full)],
        rr_config,
    );

    Ok(Behaviour {
        limits: connection_limits::Behaviour::new(limits),
        identify,
        ping: ping::Behaviour::new(ping::Config::new()),
        kad,
        gossipsub,
        data,
        sync,
    })
}

/// Peer scoring for a low-traffic topic (ledger blocks are rare).
///
/// The defaults of the spec assume a busy topic: they penalise mesh peers that deliver
/// fewer than 20 messages, which would push every honest peer of a quiet network below
/// zero. Here the only strong signal is an invalid message (a block the node Rejected):
/// honest peers forward only what they validated, so a peer forwarding invalid blocks is
/// faulty. One invalid message costs -10 (below zero, at the gossip threshold), three
/// graylist the peer; the penalty decays over about ten minutes.
fn score_params(topic: &IdentTopic) -> (PeerScoreParams, PeerScoreThresholds) {
    let topic_params = TopicScoreParams {
        topic_weight: 1.0,
        // P1: a small reward for staying in the mesh, capped at +1 after an hour.
        time_in_mesh_weight: 1.0 / 3600.0,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 3600.0,
        // P2: a small reward for being first to deliver valid blocks.
        first_message_deliveries_weight: 0.5,
        first_message_deliveries_decay: gossipsub::score_parameter_decay(Duration::from_secs(3600)),
        first_message_deliveries_cap: 20.0,
        // P3/P3b off: delivery-rate expectations do not fit a quiet topic.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4: invalid messages.
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: gossipsub::score_parameter_decay(Duration::from_secs(
            600,
        )),
        ..TopicScoreParams::default()
    };
    let mut params = PeerScoreParams::default();
    params.topics.insert(topic.hash(), topic_params);
    // Demo networks and tests run many nodes on one host; colocation is not abuse there.
    params
        .ip_colocation_factor_whitelist
        .insert(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    (params, PeerScoreThresholds::default())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Which of `connected` connected peers to close to get down to the connection target:
/// none in `keep` (the gossip mesh, bootstrap peers), none used (connected, or a data
/// or sync request either way) within `trim_after`, least recently used first, at most
/// the excess over the target. `last_used` is each peer's latest use in ms.
pub(super) fn trim_candidates(
    connected: usize,
    last_used: &[(PeerId, u64)],
    keep: &HashSet<PeerId>,
    now_ms: u64,
    config: &NetConfig,
) -> Vec<PeerId> {
    let excess = connected.saturating_sub(config.connection_target as usize);
    let quiet = u64::try_from(config.trim_after.as_millis()).unwrap_or(u64::MAX);
    let mut idle: Vec<(u64, PeerId)> = last_used
        .iter()
        .filter(|(p, last)| !keep.contains(p) && now_ms.saturating_sub(*last) >= quiet)
        .map(|(p, last)| (*last, *p))
        .collect();
    idle.sort_unstable();
    idle.into_iter().take(excess).map(|(_, p)| p).collect()
}

fn outbound_error(peer: PeerId, error: OutboundFailure) -> NetError {
    match error {
        OutboundFailure::DialFailure => NetError::Unreachable { peer },
        OutboundFailure::Timeout => NetError::Timeout { peer },
        OutboundFailure::ConnectionClosed => NetError::ConnectionClosed { peer },
        OutboundFailure::UnsupportedProtocols => NetError::UnsupportedProtocol { peer },
        OutboundFailure::Io(e) => match FrameTooLarge::from_io(&e) {
            Some(t) => NetError::TooLarge {
                kind: t.kind,
                len: t.len,
                max: t.max,
            },
            None => NetError::Stream {
                peer,
                reason: e.to_string(),
            },
        },
    }
}

impl NetTask {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut maintenance = tokio::time::interval(self.config.maintenance_interval);
        // The first tick fires at once; bootstrap dials are already under way.
        maintenance.tick().await;
        let shutdown_reply = loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = commands.recv() => match command {
                    Some(Command::Shutdown(reply)) => break Some(reply),
                    Some(command) => self.on_command(command),
                    // Every client is gone: nobody can use the network any more.
                    None => break None,
                },
                _ = maintenance.tick() => self.maintain(),
            }
        };
        tracing::debug!(peer = %self.swarm.local_peer_id(), "network task stopping");
        // Dropping `self` drops the pending reply senders: their callers get Shutdown.
        drop(self);
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    fn connect_bootstrap(&mut self) {
        for (peer, addr) in self.bootstrap.clone() {
            self.remember_addr(peer, addr.clone());
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
            }
        }
    }

    fn remember_addr(&mut self, peer: PeerId, addr: Multiaddr) {
        self.swarm.add_peer_address(peer, addr.clone());
        if self.config.discovery {
            self.swarm
                .behaviour_mut()
                .kad
                .add_address(&peer, addr.clone());
        }
        self.entry(peer).add_addr(addr);
    }

    fn entry(&mut self, peer: PeerId) -> &mut PeerEntry {
        if self.peers.len() >= MAX_KNOWN_PEERS && !self.peers.contains_key(&peer) {
            self.forget_oldest_peer();
        }
        self.peers.entry(peer).or_insert_with(PeerEntry::new)
    }

    fn forget_oldest_peer(&mut self) {
        let oldest = self
            .peers
            .iter()
            .filter(|(_, e)| e.connections == 0)
            .min_by_key(|(_, e)| e.last_seen_ms)
            .map(|(p, _)| *p);
        if let Some(peer) = oldest {
            self.peers.remove(&peer);
        }
    }

    /// A data (`data`) or sync request to or from `peer` (see `trim_connections`).
    fn requested(&mut self, peer: PeerId, data: bool) {
        let now = now_ms();
        let entry = self.entry(peer);
        entry.last_request_ms = now;
        if data {
            entry.last_data_ms = now;
        }
    }

    /// Keeps the node near `connection_target` connections. Kademlia dials every peer a
    /// lookup meets, and gossipsub holds a stream open on every connection, so the
    /// swarm's idle timeout never fires: with discovery on, 200 nodes ended up fully
    /// meshed (40,000 sockets on one machine, both cores busy with pings and lazy
    /// gossip). Above the target, connections that carry nothing of this node's are
    /// closed, least recently used first: not in its gossip mesh, not to a bootstrap
    /// peer, and with no data or sync request either way and no new connection for
    /// `trim_after` (so a lookup, a sync session or a search in progress keeps its
    /// peers), and no data request for `DATA_PEER_KEEP` (see [`PeerEntry::last_use`]).
    /// Closed peers stay in Kademlia's table and are dialed again when needed. The
    /// choice is [`trim_candidates`].
    fn trim_connections(&mut self) {
        let connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        if connected.len() <= self.config.connection_target as usize {
            return;
        }
        let mesh: HashSet<PeerId> = self
            .swarm
            .behaviour()
            .gossipsub
            .all_mesh_peers()
            .copied()
            .collect();
        let keep: HashSet<PeerId> = mesh
            .into_iter()
            .chain(self.bootstrap.iter().map(|(p, _)| *p))
            .collect();
        let last_used: Vec<(PeerId, u64)> = connected
            .iter()
            .filter_map(|p| Some((*p, self.peers.get(p)?.last_use(self.config.trim_after))))
            .collect();
        let close = trim_candidates(connected.len(), &last_used, &keep, now_ms(), &self.config);
        if !close.is_empty() {
            tracing::debug!(
                connected = connected.len(),
                target = self.config.connection_target,
                closing = close.len(),
                "closing idle connections above the target"
            );
        }
        for peer in close {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn touch(&mut self, peer: PeerId) {
        if let Some(entry) = self.peers.get_mut(&peer) {
            entry.last_seen_ms = now_ms();
        }
    }

    /// Hands an event to the node without ever waiting; see the module docs. Returns
    /// whether the event was delivered.
    fn emit(&self, event: NetEvent) -> bool {
        match self.events.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("event queue to the node is full; dropping a network event");
                false
            }
            // The node stopped reading; the task keeps serving until told to stop.
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn maintain(&mut self) {
        if self.swarm.connected_peers().next().is_none() && !self.bootstrap.is_empty() {
            tracing::info!("no connected peers; redialing bootstrap peers");
            self.connect_bootstrap();
        }
        if self.peers.len() > MAX_KNOWN_PEERS {
            self.forget_oldest_peer();
        }
        self.trim_connections();
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::ListenAddrs(reply) => {
                let addrs: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
                if addrs.is_empty() && self.listen_waiters.len() < MAX_LISTEN_WAITERS {
                    self.listen_waiters.push(reply);
                } else {
                    let _ = reply.send(addrs);
                }
            }
            Command::Dial(addr, reply) => {
                if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                    self.remember_addr(peer, addr.clone());
                }
                let result = self
                    .swarm
                    .dial(addr)
                    .map_err(|e| NetError::Dial(e.to_string()));
                let _ = reply.send(result);
            }
            Command::AddAddress(peer, addr, reply) => {
                self.remember_addr(peer, addr);
                let _ = reply.send(());
            }
            Command::Publish(data, reply) => {
                let _ = reply.send(self.publish(data));
            }
            Command::ReportValidation {
                msg_id,
                propagation_source,
                acceptance,
                reply,
            } => {
                let acceptance = match acceptance {
                    Acceptance::Accept => MessageAcceptance::Accept,
                    Acceptance::Reject => MessageAcceptance::Reject,
                    Acceptance::Ignore => MessageAcceptance::Ignore,
                };
                let found = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&msg_id, &propagation_source, acceptance);
                let _ = reply.send(found);
            }
            Command::DataRequest(peer, request, reply) => {
                self.requested(peer, true);
                let id = self.swarm.behaviour_mut().data.send_request(&peer, request);
                self.pending_data.insert(id, reply);
            }
            Command::SyncRequest(peer, request, reply) => {
                self.requested(peer, false);
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.pending_sync.insert(id, reply);
            }
            Command::RespondData(token, response, reply) => {
                let max = self.config.max_response_bytes;
                let result = match self.data_channels.entry(token) {
                    Entry::Vacant(_) => Err(NetError::UnknownResponseToken(token)),
                    Entry::Occupied(_) if response.encoded_len() > max => Err(too_large(
                        MessageKind::Response,
                        response.encoded_len(),
                        max,
                    )),
                    Entry::Occupied(slot) => self
                        .swarm
                        .behaviour_mut()
                        .data
                        .send_response(slot.remove(), response)
                        .map_err(|_| NetError::ResponseChannelClosed),
                };
                let _ = reply.send(result);
            }
            Command::RespondSync(token, response, reply) => {
                let max = self.config.max_response_bytes;
                let result = match self.sync_channels.entry(token) {
                    Entry::Vacant(_) => Err(NetError::UnknownResponseToken(token)),
                    Entry::Occupied(_) if response.encoded_len() > max => Err(too_large(
                        MessageKind::Response,
                        response.encoded_len(),
                        max,
                    )),
                    Entry::Occupied(slot) => self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(slot.remove(), response)
                        .map_err(|_| NetError::ResponseChannelClosed),
                };
                let _ = reply.send(result);
            }
            Command::Peers(reply) => {
                let list = self
                    .peers
                    .iter()
                    .map(|(peer, e)| PeerInfo {
                        peer_id: *peer,
                        addrs: e.addrs.clone(),
                        connected: e.connections > 0,
                        protocol_version: e.protocol_version.clone(),
                        agent_version: e.agent_version.clone(),
                        last_seen_ms: e.last_seen_ms,
                        foreign: self.foreign.contains(peer),
                    })
                    .collect();
                let _ = reply.send(list);
            }
            Command::PeerScore(peer, reply) => {
                let _ = reply.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::MeshPeers(reply) => {
                let topic = self.names.topic.hash();
                let mesh = self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .mesh_peers(&topic)
                    .copied()
                    .collect();
                let _ = reply.send(mesh);
            }
            // Handled by the loop, which must stop after it.
            Command::Shutdown(reply) => {
                let _ = reply.send(());
            }
        }
    }

    fn publish(&mut self, data: Vec<u8>) -> Result<(), NetError> {
        let max = self.config.max_gossip_bytes;
        if data.len() > max {
            return Err(too_large(MessageKind::Gossip, data.len(), max));
        }
        let topic = self.names.topic.clone();
        match self.swarm.behaviour_mut().gossipsub.publish(topic, data) {
            Ok(_) => Ok(()),
            Err(PublishError::NoPeersSubscribedToTopic) => Err(NetError::NoGossipPeers),
            Err(e) => Err(NetError::Publish(e.to_string())),
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                let addrs: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
                for waiter in self.listen_waiters.drain(..) {
                    let _ = waiter.send(addrs.clone());
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if self.foreign.contains(&peer_id) {
                    // Known to be of another network: do not let it talk at all.
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                let entry = self.entry(peer_id);
                entry.connections = num_established.get();
                entry.last_seen_ms = now_ms();
                if num_established.get() == 1 {
                    entry.connected_since_ms = now_ms();
                }
                if endpoint.is_dialer() {
                    entry.add_addr(endpoint.get_remote_address().clone());
                }
                if !entry.announced {
                    entry.announced = true;
                    self.emit(NetEvent::PeerConnected(peer_id));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                let Some(entry) = self.peers.get_mut(&peer_id) else {
                    return;
                };
                entry.connections = num_established;
                if num_established == 0 && entry.announced {
                    entry.announced = false;
                    self.emit(NetEvent::PeerDisconnected(peer_id));
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, %error, "outgoing connection failed");
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(%error, "listener error");
            }
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.on_identified(peer_id, info);
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => self.on_gossip(propagation_source, message_id, message),
            BehaviourEvent::Data(event) => self.on_data_event(event),
            BehaviourEvent::Sync(event) => self.on_sync_event(event),
            BehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(_),
                ..
            }) => self.touch(peer),
            _ => {}
        }
    }

    fn on_identified(&mut self, peer: PeerId, info: identify::Info) {
        if info.protocol_version != self.names.identify_version {
            tracing::info!(
                %peer,
                theirs = %info.protocol_version,
                "peer belongs to another network; disconnecting"
            );
            if self.foreign.len() >= MAX_FOREIGN_PEERS {
                self.foreign.clear();
            }
            self.foreign.insert(peer);
            self.swarm.behaviour_mut().kad.remove_peer(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        let listen_addrs: Vec<Multiaddr> = info
            .listen_addrs
            .into_iter()
            .take(MAX_ADDRS_PER_PEER)
            .collect();
        for addr in &listen_addrs {
            self.remember_addr(peer, addr.clone());
        }
        let entry = self.entry(peer);
        entry.protocol_version = Some(info.protocol_version.clone());
        entry.agent_version = Some(info.agent_version);
        entry.last_seen_ms = now_ms();
        self.emit(NetEvent::PeerIdentified {
            peer,
            listen_addrs,
            protocol_version: info.protocol_version,
        });
    }

    fn on_gossip(
        &mut self,
        propagation_source: PeerId,
        msg_id: gossipsub::MessageId,
        message: gossipsub::Message,
    ) {
        self.touch(propagation_source);
        // Anonymous validation already dropped any message that names a publisher or
        // carries a gossipsub signature; what is left is judged by its content alone.
        let verdict = match message.data.len() {
            len if len > self.config.max_gossip_bytes => Some(MessageAcceptance::Reject),
            _ => {
                let event = NetEvent::Gossip {
                    msg_id: msg_id.clone(),
                    propagation_source,
                    data: message.data,
                };
                // Not delivered: free the cache slot without blaming the sender.
                (!self.emit(event)).then_some(MessageAcceptance::Ignore)
            }
        };
        if let Some(verdict) = verdict {
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(&msg_id, &propagation_source, verdict);
        }
    }

    fn token(&mut self) -> ResponseToken {
        self.next_token += 1;
        ResponseToken(self.next_token)
    }

    fn on_data_event(&mut self, event: request_response::Event<DataRequest, DataResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => {
                self.touch(peer);
                self.requested(peer, true);
                match message {
                    request_response::Message::Request {
                        request_id,
                        request,
                        channel,
                    } => {
                        let token = self.token();
                        let event = NetEvent::InboundData {
                            peer,
                            request,
                            channel: token,
                        };
                        // Dropping `channel` on failure refuses the request at once.
                        if self.emit(event) {
                            self.data_channels.insert(token, channel);
                            self.data_inbound.insert(request_id, token);
                        }
                    }
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if let Some(reply) = self.pending_data.remove(&request_id) {
                            let _ = reply.send(Ok(response));
                        }
                    }
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "data request failed");
                if let Some(reply) = self.pending_data.remove(&request_id) {
                    let _ = reply.send(Err(outbound_error(peer, error)));
                }
            }
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "inbound data request failed");
                if let Some(token) = self.data_inbound.remove(&request_id) {
                    self.data_channels.remove(&token);
                }
            }
            request_response::Event::ResponseSent { request_id, .. } => {
                self.data_inbound.remove(&request_id);
            }
        }
    }

    fn on_sync_event(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => {
                self.touch(peer);
                self.requested(peer, false);
                match message {
                    request_response::Message::Request {
                        request_id,
                        request,
                        channel,
                    } => {
                        let token = self.token();
                        let event = NetEvent::InboundSync {
                            peer,
                            request,
                            channel: token,
                        };
                        if self.emit(event) {
                            self.sync_channels.insert(token, channel);
                            self.sync_inbound.insert(request_id, token);
                        }
                    }
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if let Some(reply) = self.pending_sync.remove(&request_id) {
                            let _ = reply.send(Ok(response));
                        }
                    }
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "sync request failed");
                if let Some(reply) = self.pending_sync.remove(&request_id) {
                    let _ = reply.send(Err(outbound_error(peer, error)));
                }
            }
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "inbound sync request failed");
                if let Some(token) = self.sync_inbound.remove(&request_id) {
                    self.sync_channels.remove(&token);
                }
            }
            request_response::Event::ResponseSent { request_id, .. } => {
                self.sync_inbound.remove(&request_id);
            }
        }
    }
}

fn too_large(kind: MessageKind, len: usize, max: usize) -> NetError {
    NetError::TooLarge {
        kind,
        len: len as u64,
        max: max as u64,
    }
}
