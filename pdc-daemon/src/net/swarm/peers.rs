//! The peer table: what the task knows about each peer, its addresses, and which idle
//! connections to close above the connection target.

use super::*;

/// What the task knows about one peer.
pub(in crate::net) struct PeerEntry {
    pub(super) addrs: Vec<Multiaddr>,
    pub(super) connections: u32,
    /// Whether the node was told `PeerConnected` (so it gets the matching disconnect).
    pub(super) announced: bool,
    pub(super) protocol_version: Option<String>,
    pub(super) agent_version: Option<String>,
    pub(super) last_seen_ms: u64,
    /// When the first of the current connections was established.
    pub(in crate::net) connected_since_ms: u64,
    /// Last data or sync request to or from the peer.
    pub(in crate::net) last_request_ms: u64,
    /// Last data request to or from the peer (a hospital asking, or asked).
    pub(in crate::net) last_data_ms: u64,
}

impl PeerEntry {
    pub(in crate::net) fn new() -> Self {
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
    pub(in crate::net) fn last_use(&self, trim_after: Duration) -> u64 {
        let extra = DATA_PEER_KEEP.saturating_sub(trim_after).as_millis();
        let data = self
            .last_data_ms
            .saturating_add(u64::try_from(extra).unwrap_or(u64::MAX));
        self.last_request_ms.max(self.connected_since_ms).max(data)
    }

    pub(super) fn add_addr(&mut self, addr: Multiaddr) {
        // Keep the newest last; a re-seen address moves to the end.
        self.addrs.retain(|a| a != &addr);
        self.addrs.push(addr);
        if self.addrs.len() > MAX_ADDRS_PER_PEER {
            self.addrs.remove(0);
        }
    }
}

/// Which of `connected` connected peers to close to get down to the connection target:
/// none in `keep` (the gossip mesh, bootstrap peers), none used (connected, or a data
/// or sync request either way) within `trim_after`, least recently used first, at most
/// the excess over the target. `last_used` is each peer's latest use in ms.
pub(in crate::net) fn trim_candidates(
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

impl NetTask {
    pub(super) fn remember_addr(&mut self, peer: PeerId, addr: Multiaddr) {
        self.swarm.add_peer_address(peer, addr.clone());
        if self.config.discovery {
            self.swarm
                .behaviour_mut()
                .kad
                .add_address(&peer, addr.clone());
        }
        self.entry(peer).add_addr(addr);
    }

    pub(super) fn entry(&mut self, peer: PeerId) -> &mut PeerEntry {
        if self.peers.len() >= MAX_KNOWN_PEERS && !self.peers.contains_key(&peer) {
            self.forget_oldest_peer();
        }
        self.peers.entry(peer).or_insert_with(PeerEntry::new)
    }

    pub(super) fn forget_oldest_peer(&mut self) {
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
    pub(super) fn requested(&mut self, peer: PeerId, data: bool) {
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
    pub(super) fn trim_connections(&mut self) {
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

    pub(super) fn touch(&mut self, peer: PeerId) {
        if let Some(entry) = self.peers.get_mut(&peer) {
            entry.last_seen_ms = now_ms();
        }
    }
}
