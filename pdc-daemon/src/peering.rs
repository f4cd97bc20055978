//! The node's side of the network: it validates gossip against the ledger before it is
//! forwarded, answers data and sync requests, and runs anti-entropy (heads exchange and
//! bounded range pulls) on every new peer and periodically.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pdc_proto::Message;
use pdc_proto::wire::{
    DataRequest, DataResponse, Gossip, Head, HeadsRequest, HeadsResponse, RangeRequest,
    RangeResponse, SyncRequest, SyncResponse, gossip, sync_request, sync_response,
};
use tokio::sync::mpsc;

use crate::access::DataTransport;
use crate::ledger::{AccountId, Ingested, LedgerError, VerifiedBlock};
use crate::net::{Acceptance, Multiaddr, NetClient, NetConfig, NetEvent, PeerId, account_of};
use crate::node::{Node, NodeError};

/// Most blocks returned for one range request.
const MAX_RANGE: u32 = 256;

/// Starts the network for `node` and the task that serves it. Returns the client (also
/// stored in `node.net`) and the serving task.
pub async fn start(node: Arc<Node>) -> Result<(NetClient, tokio::task::JoinHandle<()>), NodeError> {
    let parse = |what: &'static str, v: &[String]| -> Result<Vec<Multiaddr>, NodeError> {
        v.iter()
            .map(|a| {
                a.parse::<Multiaddr>().map_err(|source| NodeError::Address {
                    what,
                    addr: a.clone(),
                    source,
                })
            })
            .collect()
    };
    let mut cfg = NetConfig::new(
        node.identity().signing_key.to_bytes(),
        node.genesis().hash(),
    );
    cfg.listen = parse("listen", &node.config().p2p_listen)?;
    cfg.bootstrap = parse("bootstrap", &node.config().bootstrap)?;
    cfg.discovery = node.config().p2p_discovery;
    cfg.max_connections = node.config().max_connections();
    cfg.connection_target = node.config().connection_target();
    cfg.request_timeout = Duration::from_millis(node.config().search_timeout_ms.max(100));
    let (client, events, _swarm) = crate::net::spawn(cfg)?;
    let _ = node.set_net(client.clone());
    for addr in parse("bootstrap", &node.config().bootstrap)? {
        if let Err(e) = client.dial(addr.clone()).await {
            tracing::warn!("cannot dial bootstrap peer {addr}: {e}");
        }
    }
    let task = tokio::spawn(serve(node, client.clone(), events));
    Ok((client, task))
}

/// Most gossip messages validated as one batch. Gossip arrives in bursts (a hospital
/// search makes an Access, a Send and a Receive block per patient, and every node sees
/// them all), so messages that queue up while a batch is being written are taken
/// together: one batch signature check, one hold of the ledger's write lock and one
/// durable write for all of them, instead of one of each per message.
const GOSSIP_BATCH: usize = 256;

/// Gossip batches in flight at once. Validation waits for a durable write; while one
/// batch syncs, the next is verified and applied, and queued writes share one fsync.
/// Bounded, so a flood backs up into the network layer (which then drops with
/// `Ignore`) instead of piling up tasks.
const GOSSIP_BATCHES_IN_FLIGHT: usize = 4;

/// Peers waiting for (or in) an anti-entropy session at most; triggers beyond it are
/// dropped, and the periodic tick catches up.
const SYNC_QUEUE: usize = 64;

/// Runs anti-entropy sessions, a bounded number at a time and one per peer. Sessions
/// are started on every new connection, every tick and for every gossiped block that
/// arrived before its predecessor; each is a heads exchange (every account's head, both
/// ways) plus range pulls. Unbounded, they pile up whenever many peers connect at once
/// (a network starting, a partition healing): 200 nodes joining started tens of
/// thousands of sessions that timed out against each other and starved everything
/// else. Triggers wait for a free slot (a peer already waiting is not queued twice),
/// so a node joining still syncs with every peer it meets.
#[derive(Clone)]
struct Syncer {
    node: Arc<Node>,
    client: NetClient,
    slots: Arc<tokio::sync::Semaphore>,
    queued: Arc<std::sync::Mutex<std::collections::HashSet<PeerId>>>,
}

impl Syncer {
    fn new(node: Arc<Node>, client: NetClient) -> Self {
        // One more than a tick starts, so a new connection is synced even mid-tick.
        let slots = node.config().sync_peers.max(1) + 1;
        Self {
            node,
            client,
            slots: Arc::new(tokio::sync::Semaphore::new(slots)),
            queued: Arc::default(),
        }
    }

    /// Queues a session with `peer` unless one is queued or running for it already, or
    /// the queue is full.
    fn start(&self, peer: PeerId) {
        {
            let mut queued = self
                .queued
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if queued.len() >= SYNC_QUEUE || !queued.insert(peer) {
                return;
            }
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Ok(_slot) = this.slots.acquire().await {
                anti_entropy(&this.node, &this.client, peer).await;
            }
            this.queued
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&peer);
        });
    }
}

/// One gossip message waiting for its verdict.
struct Pending {
    msg_id: crate::net::MessageId,
    from: PeerId,
    data: Vec<u8>,
}

async fn serve(node: Arc<Node>, client: NetClient, mut events: mpsc::Receiver<NetEvent>) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(GOSSIP_BATCHES_IN_FLIGHT));
    let syncer = Syncer::new(node.clone(), client.clone());
    // The first tick at a random point of the first interval: nodes started together
    // (a restart, a test network) would otherwise all sync at the same instant, every
    // interval, and burst instead of spreading the load.
    let period = Duration::from_secs(node.config().sync_interval_secs.max(1));
    let offset = period.mul_f64(rand::random::<f64>());
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
    loop {
        // Own blocks waiting for a requester to relay them go out at this deadline.
        let deferred = node.ledger().deferred_due();
        tokio::select! {
            () = node.ledger().deferred_changed() => {}
            () = tokio::time::sleep_until(deferred.unwrap_or_else(Instant::now).into()),
                if deferred.is_some() =>
            {
                node.ledger().gossip_deferred_if_due();
            }
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                let NetEvent::Gossip { msg_id, propagation_source, data } = ev else {
                    handle(&node, &client, &syncer, ev).await;
                    continue;
                };
                // Wait for a batch slot first, so whatever queues meanwhile joins this batch.
                let Ok(permit) = in_flight.clone().acquire_owned().await else { break };
                let mut batch = vec![Pending { msg_id, from: propagation_source, data }];
                while batch.len() < GOSSIP_BATCH {
                    match events.try_recv() {
                        Ok(NetEvent::Gossip { msg_id, propagation_source, data }) => {
                            batch.push(Pending { msg_id, from: propagation_source, data });
                        }
                        Ok(other) => handle(&node, &client, &syncer, other).await,
                        Err(_) => break,
                    }
                }
                let (node, client, syncer) = (node.clone(), client.clone(), syncer.clone());
                tokio::spawn(async move {
                    on_gossip_batch(&node, &client, &syncer, batch).await;
                    drop(permit);
                });
            }
            _ = tick.tick() => {
                if let Ok(peers) = client.peers().await {
                    let connected: Vec<PeerId> =
                        peers.into_iter().filter(|p| p.connected).map(|p| p.peer_id).collect();
                    let picked = rand::seq::SliceRandom::choose_multiple(
                        connected.as_slice(),
                        &mut rand::thread_rng(),
                        node.config().sync_peers.max(1),
                    );
                    for &peer in picked {
                        syncer.start(peer);
                    }
                }
            }
        }
    }
}

async fn handle(node: &Arc<Node>, client: &NetClient, syncer: &Syncer, ev: NetEvent) {
    match ev {
        // Batched by `serve`; never reaches here.
        NetEvent::Gossip { .. } => {}
        NetEvent::InboundData {
            peer,
            request,
            channel,
        } => {
            let (node, client) = (node.clone(), client.clone());
            tokio::spawn(async move {
                let resp = match account_of(&peer) {
                    None => crate::access::refusal("peer identity is not an ed25519 account"),
                    Some(acct) => {
                        crate::access::answer_or_refuse(&node, AccountId(acct), request).await
                    }
                };
                if let Err(e) = client.respond_data(channel, resp).await {
                    tracing::debug!("could not answer {peer}: {e}");
                }
            });
        }
        NetEvent::InboundSync {
            request, channel, ..
        } => {
            let resp = answer_sync(node, request);
            let _ = client.respond_sync(channel, resp).await;
        }
        NetEvent::PeerIdentified { peer, .. } => syncer.start(peer),
        NetEvent::PeerConnected(_) | NetEvent::PeerDisconnected(_) => {}
    }
}

/// Validates gossiped blocks and fork proofs against the ledger, then reports each
/// message's verdict: Accept only what was fully validated and stored, Reject what is
/// invalid (undecodable, a bad signature, a broken chain rule), Ignore duplicates and
/// blocks that must wait for their predecessor (which is then fetched from the
/// forwarding peer), and Ignore everything if the write failed (not the sender's fault).
///
/// The blocks of the batch are ingested as one, in arrival order
/// ([`Node::ingest_remote_batch`]): each gets the verdict it would have had alone, and
/// a message of several blocks the combination of theirs ([`combine`]).
async fn on_gossip_batch(
    node: &Arc<Node>,
    client: &NetClient,
    syncer: &Syncer,
    batch: Vec<Pending>,
) {
    let mut verdicts = vec![Acceptance::Reject; batch.len()];
    let mut blocks = Vec::new(); // (index in batch, signed block bytes)
    for (i, m) in batch.iter().enumerate() {
        let Ok(msg) = pdc_proto::decode_bounded::<Gossip>(&m.data, 64 * 1024) else {
            continue; // undecodable: Reject
        };
        match msg.kind {
            Some(gossip::Kind::Block(signed)) => {
                verdicts[i] = Acceptance::Ignore; // until a block of it says otherwise
                blocks.push((i, signed.encode_to_vec()));
            }
            Some(gossip::Kind::Blocks(b))
                if !b.blocks.is_empty() && b.blocks.len() <= crate::node::MAX_GOSSIP_BLOCKS =>
            {
                verdicts[i] = Acceptance::Ignore;
                blocks.extend(b.blocks.iter().map(|signed| (i, signed.encode_to_vec())));
            }
            Some(gossip::Kind::ForkProof(p)) => {
                verdicts[i] = match node.ledger().ingest_fork_proof(&p).await {
                    Ok(true) => Acceptance::Accept,
                    Ok(false) => Acceptance::Ignore,
                    Err(NodeError::Ledger(_)) => Acceptance::Reject,
                    Err(_) => Acceptance::Ignore,
                }
            }
            // Empty, or more blocks than one batch may hold: Reject.
            Some(gossip::Kind::Blocks(_)) | None => {}
        }
    }
    if !blocks.is_empty() {
        let (index, bytes): (Vec<usize>, Vec<Vec<u8>>) = blocks.into_iter().unzip();
        match node.ledger().ingest_remote_batch(bytes).await {
            Ok(results) => {
                let mut stored_all = Vec::new();
                let mut pull_from = Vec::new();
                for (&i, result) in index.iter().zip(results) {
                    let verdict = match result {
                        Ok(Ingested::Applied { stored }) => {
                            stored_all.extend(stored);
                            Acceptance::Accept
                        }
                        Ok(Ingested::Fork { proof, stored }) => {
                            stored_all.extend(stored);
                            let msg = Gossip {
                                kind: Some(gossip::Kind::ForkProof(proof.to_msg())),
                            };
                            let _ = client.publish(msg.encode_to_vec()).await;
                            Acceptance::Accept
                        }
                        Ok(Ingested::Duplicate) => Acceptance::Ignore,
                        Ok(Ingested::Pending { .. }) => {
                            if !pull_from.contains(&batch[i].from) {
                                pull_from.push(batch[i].from);
                            }
                            Acceptance::Ignore
                        }
                        Err(e) => {
                            tracing::info!(from = %batch[i].from, "rejected gossiped block: {e}");
                            Acceptance::Reject
                        }
                    };
                    verdicts[i] = combine(verdicts[i], verdict);
                }
                after_stored(node, &stored_all).await;
                for peer in pull_from {
                    syncer.start(peer);
                }
            }
            Err(e) => {
                tracing::warn!("could not store {} gossiped blocks: {e}", index.len());
                for i in index {
                    verdicts[i] = Acceptance::Ignore;
                }
            }
        }
    }
    for (m, verdict) in batch.into_iter().zip(verdicts) {
        let _ = client.report_validation(m.msg_id, m.from, verdict).await;
    }
}

/// The verdict on a message of several blocks: Reject if any block is invalid (its
/// publisher sent something invalid), else Accept if any was new, else Ignore.
fn combine(a: Acceptance, b: Acceptance) -> Acceptance {
    match (a, b) {
        (Acceptance::Reject, _) | (_, Acceptance::Reject) => Acceptance::Reject,
        (Acceptance::Accept, _) | (_, Acceptance::Accept) => Acceptance::Accept,
        _ => Acceptance::Ignore,
    }
}

/// A payee claims Sends addressed to it as soon as it stores them.
async fn after_stored(node: &Arc<Node>, stored: &[crate::ledger::BlockHash]) {
    if let Err(e) = crate::access::claim_sends(node, stored).await {
        tracing::warn!("could not claim a payment: {e}");
    }
}

/// Our heads as far as they are durable: a peer never learns of a block this node
/// could still lose in a crash.
fn our_heads(node: &Node) -> Vec<Head> {
    node.ledger().read_state(|st| {
        st.durable_heads()
            .iter()
            .map(|(a, h)| Head {
                author: a.0.to_vec(),
                seq: h.seq,
                hash: h.hash.0.to_vec(),
            })
            .collect()
    })
}

fn answer_sync(node: &Node, req: SyncRequest) -> SyncResponse {
    let kind = match req.kind {
        Some(sync_request::Kind::Heads(_)) => sync_response::Kind::Heads(HeadsResponse {
            heads: our_heads(node),
        }),
        Some(sync_request::Kind::Range(r)) => match <[u8; 32]>::try_from(r.author.as_slice()) {
            Ok(a) => {
                let blocks = node.ledger().read_state(|st| {
                    st.durable_range(
                        &AccountId(a),
                        r.from_seq.max(1),
                        r.limit.min(MAX_RANGE) as usize,
                    )
                    .iter()
                    .filter_map(|b| b.to_signed().ok())
                    .collect()
                });
                sync_response::Kind::Range(RangeResponse { blocks })
            }
            Err(_) => sync_response::Kind::Error("author must be 32 bytes".into()),
        },
        Some(sync_request::Kind::ForkProofs(_)) => {
            let proofs = node
                .ledger()
                .read(|l| l.fork_proofs().map(|p| p.to_msg()).collect());
            sync_response::Kind::ForkProofs(pdc_proto::wire::ForkProofsResponse { proofs })
        }
        None => sync_response::Kind::Error("empty sync request".into()),
    };
    SyncResponse { kind: Some(kind) }
}

/// Exchanges heads with `peer` and pulls, in bounded batches, every range it has that we
/// lack, then whatever pending blocks still wait for.
pub async fn anti_entropy(node: &Arc<Node>, client: &NetClient, peer: PeerId) {
    let req = SyncRequest {
        kind: Some(sync_request::Kind::Heads(HeadsRequest {
            heads: our_heads(node),
        })),
    };
    let Ok(SyncResponse {
        kind: Some(sync_response::Kind::Heads(theirs)),
    }) = client.sync_request(peer, req).await
    else {
        return;
    };
    // Fork proofs first: a proof freezes an account, so later ranges of it need no pull.
    let req = SyncRequest {
        kind: Some(sync_request::Kind::ForkProofs(
            pdc_proto::wire::ForkProofsRequest {},
        )),
    };
    if let Ok(SyncResponse {
        kind: Some(sync_response::Kind::ForkProofs(r)),
    }) = client.sync_request(peer, req).await
    {
        for p in r.proofs.iter().take(1024) {
            if let Err(e) = node.ledger().ingest_fork_proof(p).await {
                tracing::info!(%peer, "sync: refused a fork proof: {e}");
            }
        }
    }
    let mut wanted: Vec<(AccountId, u64)> = Vec::new();
    for h in theirs.heads {
        let Ok(a) = <[u8; 32]>::try_from(h.author.as_slice()) else {
            continue;
        };
        let a = AccountId(a);
        let ours = node.ledger().read(|l| l.head(&a));
        match ours {
            None if h.seq > 0 => wanted.push((a, 1)),
            // Pull from our own head's seq (one block of overlap): if the peer holds a
            // different block there, ingesting it reveals the fork.
            Some(o) if h.seq > o.seq || (h.seq == o.seq && h.hash != o.hash.0) => {
                wanted.push((a, o.seq.max(1)))
            }
            _ => {}
        }
    }
    // Rounds: pulling one chain can unblock blocks of another (a Receive waits for its
    // Send), and the ledger then reports what it still misses.
    for _round in 0..8 {
        if wanted.is_empty() {
            break;
        }
        for (author, from) in std::mem::take(&mut wanted) {
            pull_chain(node, client, peer, author, from).await;
        }
        wanted = node.ledger().read(|l| {
            l.missing()
                .into_iter()
                .map(|m| (m.author, m.from_seq))
                .collect()
        });
    }
}

/// Pulls `author`'s chain from `peer` range by range. Each range is ingested as one
/// batch (signatures batch-verified, one durable write), and the write of one range
/// overlaps the request and signature check of the next, so neither the network round
/// trip nor the fsync leaves the core idle.
async fn pull_chain(
    node: &Arc<Node>,
    client: &NetClient,
    peer: PeerId,
    author: AccountId,
    mut from: u64,
) {
    let mut to_write: Option<Vec<Result<VerifiedBlock, LedgerError>>> = None;
    loop {
        let write = to_write.take();
        let (fetched, written) =
            tokio::join!(fetch_range(node, client, peer, author, from), async {
                match write {
                    Some(decoded) => Some(node.ledger().ingest_verified_batch(decoded).await),
                    None => None,
                }
            });
        if let Some(results) = written
            && !settle(node, client, peer, results).await
        {
            return;
        }
        let Some((decoded, n)) = fetched else {
            return;
        };
        to_write = Some(decoded);
        if n < MAX_RANGE as usize {
            break;
        }
        from += n as u64;
    }
    if let Some(decoded) = to_write {
        let results = node.ledger().ingest_verified_batch(decoded).await;
        settle(node, client, peer, results).await;
    }
}

/// Requests one range of `author`'s chain from `peer` and checks its blocks'
/// signatures; returns them with the number of blocks the peer sent.
async fn fetch_range(
    node: &Arc<Node>,
    client: &NetClient,
    peer: PeerId,
    author: AccountId,
    from: u64,
) -> Option<(Vec<Result<VerifiedBlock, LedgerError>>, usize)> {
    let req = SyncRequest {
        kind: Some(sync_request::Kind::Range(RangeRequest {
            author: author.0.to_vec(),
            from_seq: from,
            limit: MAX_RANGE,
        })),
    };
    let Ok(SyncResponse {
        kind: Some(sync_response::Kind::Range(r)),
    }) = client.sync_request(peer, req).await
    else {
        return None;
    };
    let n = r.blocks.len();
    let bytes = r.blocks.iter().map(Message::encode_to_vec).collect();
    match node.ledger().verify_remote_batch(bytes).await {
        Ok(decoded) => Some((decoded, n)),
        Err(e) => {
            tracing::warn!(%peer, "sync: could not check a range: {e}");
            None
        }
    }
}

/// Acts on what storing one range did: claims payments, gossips fork proofs. Returns
/// whether to keep pulling from `peer` (not after a fork, an invalid block or a failed
/// write).
async fn settle(
    node: &Arc<Node>,
    client: &NetClient,
    peer: PeerId,
    results: Result<Vec<Result<Ingested, LedgerError>>, NodeError>,
) -> bool {
    let results = match results {
        Ok(results) => results,
        Err(e) => {
            tracing::warn!(%peer, "sync: could not store a range: {e}");
            return false;
        }
    };
    let mut stored = Vec::new();
    let mut proofs = Vec::new();
    let mut go_on = true;
    for result in results {
        match result {
            Ok(Ingested::Applied { stored: s }) => stored.extend(s),
            Ok(Ingested::Fork { proof, stored: s }) => {
                stored.extend(s);
                if !proofs.contains(&proof) {
                    proofs.push(proof);
                }
                go_on = false;
            }
            Ok(Ingested::Duplicate | Ingested::Pending { .. }) => {}
            Err(e) => {
                // The rest of the range was still checked, and stored if valid; a peer
                // that serves invalid blocks is not asked for more.
                tracing::info!(%peer, "sync: refused a block: {e}");
                go_on = false;
            }
        }
    }
    after_stored(node, &stored).await;
    for proof in proofs {
        let msg = Gossip {
            kind: Some(gossip::Kind::ForkProof(proof.to_msg())),
        };
        let _ = client.publish(msg.encode_to_vec()).await;
    }
    go_on
}

/// Requests over libp2p: the patient's PeerId is derived from its account key.
#[derive(Debug, Clone)]
pub struct NetTransport {
    /// The node's network client.
    pub client: NetClient,
}

impl DataTransport for NetTransport {
    async fn request(&self, patient: AccountId, req: DataRequest) -> Result<DataResponse, String> {
        let peer = peer_of(&patient).ok_or_else(|| "not an ed25519 account".to_string())?;
        self.client
            .data_request(peer, req)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The PeerId of an account (its ed25519 public key).
pub fn peer_of(account: &AccountId) -> Option<PeerId> {
    let pk = libp2p::identity::ed25519::PublicKey::try_from_bytes(account.as_bytes()).ok()?;
    Some(libp2p::identity::PublicKey::from(pk).to_peer_id())
}
