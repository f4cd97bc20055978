//! The protocols the node speaks and how they are configured: the libp2p behaviour,
//! protocol names and topic from the network hash, gossipsub scoring, the port check.

use super::*;

type DataBehaviour = request_response::Behaviour<ProstCodec<DataRequest, DataResponse>>;
type SyncBehaviour = request_response::Behaviour<ProstCodec<SyncRequest, SyncResponse>>;

/// Every protocol the node speaks. Field order is the order the swarm polls them;
/// connection limits come first so they can deny a connection before others see it.
#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    pub(super) limits: connection_limits::Behaviour,
    pub(super) identify: identify::Behaviour,
    pub(super) ping: ping::Behaviour,
    pub(super) kad: kad::Behaviour<kad::store::MemoryStore>,
    pub(super) gossipsub: gossipsub::Behaviour,
    pub(super) data: DataBehaviour,
    pub(super) sync: SyncBehaviour,
}

/// Protocol names and topic derived from the network hash.
pub(super) struct Names {
    pub(super) identify_version: String,
    pub(super) data: StreamProtocol,
    pub(super) sync: StreamProtocol,
    pub(super) kad: StreamProtocol,
    pub(super) topic: IdentTopic,
}

impl Names {
    pub(super) fn new(config: &NetConfig) -> Result<Self, NetError> {
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

/// Refuses a fixed TCP port that another process already listens on.
///
/// libp2p-tcp sets `SO_REUSEPORT` on its listeners, so binding a taken port "succeeds"
/// and the kernel then splits incoming connections between the two processes. A plain
/// bind (no `SO_REUSEPORT`) fails in that case and lets us say so up front.
pub(super) fn ensure_port_free(addr: &Multiaddr) -> Result<(), NetError> {
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

pub(super) fn build_behaviour(
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
