//! The task that owns the libp2p `Swarm`: builds the behaviour, runs the event loop,
//! keeps the pending-reply and response-channel maps.
//!
//! # Layout
//! - this file: the task (`NetTask`), its start (`spawn`) and the event loop: commands
//!   from the client, swarm and behaviour events, gossip, data and sync requests;
//! - `behaviour`: the protocols (`Behaviour`), their names, gossipsub scoring, the port
//!   check;
//! - `peers`: the peer table (`PeerEntry`), address bookkeeping and connection trimming.

use std::collections::{HashMap, HashSet, hash_map::Entry};
use std::time::Duration;

use crate::time::now_ms;

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

mod behaviour;
mod peers;

use behaviour::{Behaviour, BehaviourEvent, Names, build_behaviour, ensure_port_free};
pub(super) use peers::PeerEntry;
#[cfg(test)]
pub(super) use peers::trim_candidates;

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
            Command::ListenAddrs(reply) => self.listen_addrs(reply),
            Command::Dial(addr, reply) => {
                let _ = reply.send(self.dial(addr));
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
                let found = self.report_validation(&msg_id, &propagation_source, acceptance);
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
                let data = &mut self.swarm.behaviour_mut().data;
                let result = respond(&mut self.data_channels, token, response, max, |c, r| {
                    data.send_response(c, r)
                });
                let _ = reply.send(result);
            }
            Command::RespondSync(token, response, reply) => {
                let max = self.config.max_response_bytes;
                let sync = &mut self.swarm.behaviour_mut().sync;
                let result = respond(&mut self.sync_channels, token, response, max, |c, r| {
                    sync.send_response(c, r)
                });
                let _ = reply.send(result);
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peer_list());
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

    /// Answers with the listen addresses, or, before the first listener is up, keeps
    /// the reply (a bounded number of them) until it is.
    fn listen_addrs(&mut self, reply: Reply<Vec<Multiaddr>>) {
        let addrs: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
        if addrs.is_empty() && self.listen_waiters.len() < MAX_LISTEN_WAITERS {
            self.listen_waiters.push(reply);
        } else {
            let _ = reply.send(addrs);
        }
    }

    fn dial(&mut self, addr: Multiaddr) -> Result<(), NetError> {
        if let Some(Protocol::P2p(peer)) = addr.iter().last() {
            self.remember_addr(peer, addr.clone());
        }
        self.swarm
            .dial(addr)
            .map_err(|e| NetError::Dial(e.to_string()))
    }

    /// Hands gossipsub the verdict on a message it held back; false if it no longer
    /// knows the message.
    fn report_validation(
        &mut self,
        msg_id: &gossipsub::MessageId,
        propagation_source: &PeerId,
        acceptance: Acceptance,
    ) -> bool {
        let acceptance = match acceptance {
            Acceptance::Accept => MessageAcceptance::Accept,
            Acceptance::Reject => MessageAcceptance::Reject,
            Acceptance::Ignore => MessageAcceptance::Ignore,
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(msg_id, propagation_source, acceptance)
    }

    fn peer_list(&self) -> Vec<PeerInfo> {
        self.peers
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
            .collect()
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

/// Sends `response` on the channel `token` names, once: an unknown token and a response
/// over `max` bytes are refused (the channel stays open for a smaller answer).
fn respond<R: Message, C>(
    channels: &mut HashMap<ResponseToken, C>,
    token: ResponseToken,
    response: R,
    max: usize,
    send: impl FnOnce(C, R) -> Result<(), R>,
) -> Result<(), NetError> {
    match channels.entry(token) {
        Entry::Vacant(_) => Err(NetError::UnknownResponseToken(token)),
        Entry::Occupied(_) if response.encoded_len() > max => Err(too_large(
            MessageKind::Response,
            response.encoded_len(),
            max,
        )),
        Entry::Occupied(slot) => {
            send(slot.remove(), response).map_err(|_| NetError::ResponseChannelClosed)
        }
    }
}
