//! In-process multi-node tests on 127.0.0.1.

use std::collections::HashSet;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use pdc_proto::wire::{
    DataRequest, DataResponse, Head, HeadsRequest, HeadsResponse, SyncRequest, SyncResponse,
    sync_request, sync_response,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

use super::*;

const NET: [u8; 32] = [7; 32];
const OTHER_NET: [u8; 32] = [9; 32];
const WAIT: Duration = Duration::from_secs(10);

fn seed(n: u8) -> [u8; 32] {
    [n; 32]
}

struct Node {
    client: NetClient,
    events: Option<mpsc::Receiver<NetEvent>>,
    _task: JoinHandle<()>,
    addr: Multiaddr,
    peer: PeerId,
}

impl Node {
    fn events(&mut self) -> &mut mpsc::Receiver<NetEvent> {
        self.events
            .as_mut()
            .expect("events already handed to a validator")
    }
}

async fn start(
    n: u8,
    network: [u8; 32],
    bootstrap: Option<&Node>,
    tweak: impl FnOnce(&mut NetConfig),
) -> Node {
    let mut config = NetConfig::new(seed(n), network);
    if let Some(b) = bootstrap {
        config.bootstrap.push(b.addr.clone());
    }
    tweak(&mut config);
    let (client, events, task) = spawn(config).expect("spawn");
    let peer = client.local_peer_id();
    let listen = client.listen_addrs().await.expect("listen addrs");
    let addr = listen[0].clone().with(Protocol::P2p(peer));
    Node {
        client,
        events: Some(events),
        _task: task,
        addr,
        peer,
    }
}

/// Waits for the first event `pick` maps to `Some`, discarding the others.
async fn wait_for<T>(
    events: &mut mpsc::Receiver<NetEvent>,
    within: Duration,
    mut pick: impl FnMut(NetEvent) -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        let event = timeout(
            deadline.saturating_duration_since(Instant::now()),
            events.recv(),
        )
        .await
        .ok()??;
        if let Some(found) = pick(event) {
            return Some(found);
        }
    }
}

async fn wait_identified(node: &mut Node, peer: PeerId) {
    wait_for(node.events(), WAIT, |e| match e {
        NetEvent::PeerIdentified { peer: p, .. } if p == peer => Some(()),
        _ => None,
    })
    .await
    .expect("peer identified");
}

fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(seed)
        .verifying_key()
        .to_bytes()
}

/// Runs the node's side of gossip validation: `policy` decides, every delivered message
/// is also reported on `seen` as (node index, data).
fn run_validator(
    index: usize,
    node: &mut Node,
    policy: fn(&[u8]) -> Acceptance,
    seen: mpsc::Sender<(usize, Vec<u8>)>,
) {
    let mut events = node.events.take().expect("events");
    let client = node.client.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let NetEvent::Gossip {
                msg_id,
                propagation_source,
                data,
                ..
            } = event
            {
                let verdict = policy(&data);
                client
                    .report_validation(msg_id, propagation_source, verdict)
                    .await
                    .expect("report");
                let _ = seen.send((index, data)).await;
            }
        }
    });
}

fn accept_all(_: &[u8]) -> Acceptance {
    Acceptance::Accept
}

fn reject_bad(data: &[u8]) -> Acceptance {
    if data.starts_with(b"bad") {
        Acceptance::Reject
    } else {
        Acceptance::Accept
    }
}

/// The peers in `node`'s gossip mesh.
async fn mesh_of(node: &Node) -> HashSet<PeerId> {
    node.client
        .mesh_peers()
        .await
        .expect("mesh")
        .into_iter()
        .collect()
}

/// Waits until `node`'s mesh holds exactly `expected` peers.
async fn wait_mesh(node: &Node, expected: &[PeerId]) {
    let want: HashSet<PeerId> = expected.iter().copied().collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mesh = mesh_of(node).await;
        if mesh == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "mesh {mesh:?} never became {want:?}"
        );
        sleep(Duration::from_millis(200)).await;
    }
}

fn small_request() -> DataRequest {
    DataRequest {
        request_id: vec![42; 16],
        query: "type 2 diabetes".into(),
        purpose: "treatment".into(),
        staff_user: "dr-house".into(),
    }
}

#[tokio::test]
async fn identity_helpers_match_ed25519() {
    let peer = peer_id_from_seed(&seed(1));
    assert_eq!(account_of(&peer), Some(ed25519_public(&seed(1))));
    assert_eq!(
        account_of(&PeerId::random()),
        None,
        "random ids are not ed25519 keys"
    );
}

#[tokio::test]
async fn data_and_sync_round_trip_with_authenticated_peer() {
    let mut a = start(1, NET, None, |_| {}).await;
    let mut b = start(2, NET, Some(&a), |_| {}).await;
    wait_identified(&mut b, a.peer).await;
    wait_identified(&mut a, b.peer).await;

    // A asks B; B sees the authenticated PeerId of A.
    let client = a.client.clone();
    let b_peer = b.peer;
    let asked = tokio::spawn(async move { client.data_request(b_peer, small_request()).await });
    let (peer, request, token) = wait_for(b.events(), WAIT, |e| match e {
        NetEvent::InboundData {
            peer,
            request,
            channel,
        } => Some((peer, request, channel)),
        _ => None,
    })
    .await
    .expect("inbound data");
    assert_eq!(peer, a.peer);
    assert_eq!(peer, peer_id_from_seed(&seed(1)));
    assert_eq!(account_of(&peer), Some(ed25519_public(&seed(1))));
    assert_eq!(request, small_request());
    let answer = DataResponse {
        refused: true,
        reason: "no consent for purpose treatment".into(),
        ..Default::default()
    };
    b.client
        .respond_data(token, answer.clone())
        .await
        .expect("respond");
    assert_eq!(asked.await.expect("join").expect("response"), answer);
    // A token answers once.
    assert!(matches!(
        b.client.respond_data(token, answer).await,
        Err(NetError::UnknownResponseToken(_))
    ));

    // Sync the other way.
    let client = b.client.clone();
    let a_peer = a.peer;
    let heads = SyncRequest {
        kind: Some(sync_request::Kind::Heads(HeadsRequest { heads: vec![] })),
    };
    let asked = tokio::spawn(async move { client.sync_request(a_peer, heads).await });
    let (peer, token) = wait_for(a.events(), WAIT, |e| match e {
        NetEvent::InboundSync { peer, channel, .. } => Some((peer, channel)),
        _ => None,
    })
    .await
    .expect("inbound sync");
    assert_eq!(peer, b.peer);
    let reply = SyncResponse {
        kind: Some(sync_response::Kind::Heads(HeadsResponse {
            heads: vec![Head {
                author: ed25519_public(&seed(1)).to_vec(),
                seq: 3,
                hash: vec![5; 32],
            }],
        })),
    };
    a.client
        .respond_sync(token, reply.clone())
        .await
        .expect("respond");
    assert_eq!(asked.await.expect("join").expect("sync response"), reply);

    let peers = b.client.peers().await.expect("peers");
    let info = peers.iter().find(|p| p.peer_id == a.peer).expect("A known");
    assert!(info.connected);
    assert!(
        info.protocol_version
            .as_deref()
            .unwrap_or("")
            .contains(&hex::encode(NET))
    );
    assert!(!info.addrs.is_empty());
}

#[tokio::test]
async fn size_limits_and_failures_are_clear_errors() {
    // A accepts and sends at most 1 KiB; B has the defaults.
    let mut a = start(3, NET, None, |c| {
        c.max_request_bytes = 1024;
        c.max_response_bytes = 1024;
        c.request_timeout = Duration::from_secs(2);
    })
    .await;
    let mut b = start(4, NET, Some(&a), |_| {}).await;
    wait_identified(&mut b, a.peer).await;
    wait_identified(&mut a, b.peer).await;
    let big = "x".repeat(4096);

    // Oversized request: A's codec refuses to write it.
    let err = a
        .client
        .data_request(
            b.peer,
            DataRequest {
                query: big.clone(),
                ..small_request()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            NetError::TooLarge {
                kind: MessageKind::Request,
                max: 1024,
                ..
            }
        ),
        "{err}"
    );

    // Oversized inbound request: B may send it, A's codec refuses to read it and the node
    // never sees it.
    let err = b
        .client
        .data_request(
            a.peer,
            DataRequest {
                query: big.clone(),
                ..small_request()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            NetError::Stream { .. } | NetError::ConnectionClosed { .. }
        ),
        "{err}"
    );
    assert!(
        wait_for(a.events(), Duration::from_millis(300), |e| match e {
            NetEvent::InboundData { .. } => Some(()),
            _ => None,
        })
        .await
        .is_none()
    );

    // Oversized response: B may send it, A's codec refuses to read it.
    let client = a.client.clone();
    let b_peer = b.peer;
    let asked = tokio::spawn(async move { client.data_request(b_peer, small_request()).await });
    let token = wait_for(b.events(), WAIT, |e| match e {
        NetEvent::InboundData { channel, .. } => Some(channel),
        _ => None,
    })
    .await
    .expect("inbound");
    let big_answer = DataResponse {
        reason: big.clone(),
        ..Default::default()
    };
    b.client
        .respond_data(token, big_answer)
        .await
        .expect("B may send 4 KiB");
    let err = asked.await.expect("join").unwrap_err();
    assert!(
        matches!(
            err,
            NetError::TooLarge {
                kind: MessageKind::Response,
                max: 1024,
                ..
            }
        ),
        "{err}"
    );

    // Responder side: A cannot answer above its cap, keeps the token, answers smaller.
    let client = b.client.clone();
    let a_peer = a.peer;
    let asked = tokio::spawn(async move { client.data_request(a_peer, small_request()).await });
    let token = wait_for(a.events(), WAIT, |e| match e {
        NetEvent::InboundData { channel, .. } => Some(channel),
        _ => None,
    })
    .await
    .expect("inbound");
    let err = a
        .client
        .respond_data(
            token,
            DataResponse {
                reason: big,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            NetError::TooLarge {
                kind: MessageKind::Response,
                ..
            }
        ),
        "{err}"
    );
    let small = DataResponse {
        refused: true,
        reason: "too much".into(),
        ..Default::default()
    };
    a.client
        .respond_data(token, small.clone())
        .await
        .expect("smaller answer");
    assert_eq!(asked.await.expect("join").expect("response"), small);

    // Unknown peer: nothing to dial.
    let stranger = PeerId::random();
    let err = a
        .client
        .data_request(stranger, small_request())
        .await
        .unwrap_err();
    assert!(
        matches!(err, NetError::Unreachable { peer } if peer == stranger),
        "{err}"
    );

    // A peer that never answers: A's 2 s timeout.
    let started = Instant::now();
    let client = a.client.clone();
    let asked = tokio::spawn(async move { client.data_request(b_peer, small_request()).await });
    let _ignored_token = wait_for(b.events(), WAIT, |e| match e {
        NetEvent::InboundData { channel, .. } => Some(channel),
        _ => None,
    })
    .await
    .expect("inbound");
    let err = asked.await.expect("join").unwrap_err();
    assert!(
        matches!(err, NetError::Timeout { peer } if peer == b.peer),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test]
async fn gossip_reaches_a_line_of_five_after_each_accepts() {
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..5u8 {
        let node = start(30 + i, NET, nodes.last(), |c| c.discovery = false).await;
        nodes.push(node);
    }
    let (seen_tx, mut seen) = mpsc::channel(64);
    for (i, node) in nodes.iter_mut().enumerate() {
        run_validator(i, node, accept_all, seen_tx.clone());
    }
    let ids: Vec<PeerId> = nodes.iter().map(|n| n.peer).collect();
    for (i, node) in nodes.iter().enumerate() {
        let mut neighbours = Vec::new();
        if i > 0 {
            neighbours.push(ids[i - 1]);
        }
        if i + 1 < ids.len() {
            neighbours.push(ids[i + 1]);
        }
        wait_mesh(node, &neighbours).await;
    }

    for (from, payload) in [
        (0usize, b"block-from-0".to_vec()),
        (4, b"block-from-4".to_vec()),
    ] {
        nodes[from]
            .client
            .publish(payload.clone())
            .await
            .expect("publish");
        let mut reached = HashSet::new();
        while reached.len() < 4 {
            let (i, data) = timeout(WAIT, seen.recv())
                .await
                .expect("gossip in time")
                .expect("open");
            assert_ne!(i, from, "no self-delivery");
            if data == payload {
                assert!(reached.insert(i), "node {i} got the message twice");
            }
        }
    }
}

#[tokio::test]
async fn rejected_gossip_stops_at_the_validator_and_costs_score() {
    let a = start(40, NET, None, |c| c.discovery = false).await;
    let mut b = start(41, NET, Some(&a), |c| c.discovery = false).await;
    let mut c = start(42, NET, Some(&b), |c| c.discovery = false).await;
    let mut a = a;
    let (seen_tx, mut seen) = mpsc::channel(64);
    run_validator(0, &mut a, accept_all, seen_tx.clone());
    run_validator(1, &mut b, reject_bad, seen_tx.clone());
    run_validator(2, &mut c, accept_all, seen_tx);
    wait_mesh(&b, &[a.peer, c.peer]).await;
    wait_mesh(&c, &[b.peer]).await;

    a.client
        .publish(b"bad-block".to_vec())
        .await
        .expect("publish bad");
    let (i, data) = timeout(WAIT, seen.recv())
        .await
        .expect("B sees it")
        .expect("open");
    assert_eq!((i, data.as_slice()), (1, &b"bad-block"[..]));
    let score = b
        .client
        .peer_score(a.peer)
        .await
        .expect("score")
        .expect("scoring on");
    assert!(score < 0.0, "A's score at B should be negative, is {score}");

    // A later valid message still flows A -> B -> C; the bad one never reached C.
    a.client
        .publish(b"good-block".to_vec())
        .await
        .expect("publish good");
    let mut c_got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !c_got.contains(&b"good-block".to_vec()) {
        let (i, data) = timeout(
            deadline.saturating_duration_since(Instant::now()),
            seen.recv(),
        )
        .await
        .expect("good block reaches C")
        .expect("open");
        if i == 2 {
            c_got.push(data);
        }
    }
    // Give a stray late copy of the bad block time to show up.
    while let Ok(Some((i, data))) = timeout(Duration::from_secs(1), seen.recv()).await {
        if i == 2 {
            c_got.push(data);
        }
    }
    assert!(
        !c_got.contains(&b"bad-block".to_vec()),
        "C received a rejected message"
    );
}

#[tokio::test]
async fn nodes_of_another_network_do_not_mix() {
    let mut a = start(50, NET, None, |_| {}).await;
    let mut b = start(51, NET, Some(&a), |_| {}).await;
    wait_identified(&mut b, a.peer).await;
    let mut f = start(52, OTHER_NET, Some(&a), |_| {}).await;

    // F connects (transport and Noise are shared), then identify splits them.
    wait_for(f.events(), WAIT, |e| match e {
        NetEvent::PeerDisconnected(p) if p == a.peer => Some(()),
        NetEvent::PeerIdentified { peer, .. } if peer == a.peer => {
            panic!("F identified A as a peer of its network")
        }
        _ => None,
    })
    .await
    .expect("F is disconnected from A");

    // Requests fail: either A drops the connection or the protocol names differ.
    let err = f
        .client
        .data_request(a.peer, small_request())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            NetError::UnsupportedProtocol { .. }
                | NetError::ConnectionClosed { .. }
                | NetError::Unreachable { .. }
        ),
        "{err}"
    );

    let (seen_tx, mut seen) = mpsc::channel(64);
    run_validator(0, &mut a, accept_all, seen_tx.clone());
    run_validator(1, &mut b, accept_all, seen_tx.clone());
    run_validator(2, &mut f, accept_all, seen_tx);
    wait_mesh(&a, &[b.peer]).await;
    a.client.publish(b"block".to_vec()).await.expect("publish");
    let (i, _) = timeout(WAIT, seen.recv())
        .await
        .expect("B gets it")
        .expect("open");
    assert_eq!(i, 1);
    assert!(
        timeout(Duration::from_secs(2), seen.recv()).await.is_err(),
        "F must not receive gossip of another network"
    );
    let a_at_f = f.client.peers().await.expect("peers");
    assert!(a_at_f.iter().all(|p| !p.connected || p.peer_id != a.peer));
    let f_at_a = a.client.peers().await.expect("peers");
    assert!(
        f_at_a
            .iter()
            .all(|p| p.peer_id != f.peer || p.protocol_version.is_none())
    );
}

#[tokio::test]
async fn gossip_reaches_a_star_of_five_with_discovery_on() {
    let hub = start(60, NET, None, |_| {}).await;
    let mut nodes = vec![hub];
    for i in 1..5u8 {
        let node = start(60 + i, NET, Some(&nodes[0]), |_| {}).await;
        nodes.push(node);
    }
    let (seen_tx, mut seen) = mpsc::channel(64);
    for (i, node) in nodes.iter_mut().enumerate() {
        run_validator(i, node, accept_all, seen_tx.clone());
    }
    // Every leaf needs at least one mesh peer before a leaf's message can spread.
    for node in &nodes {
        let deadline = Instant::now() + Duration::from_secs(15);
        while node.client.mesh_peers().await.expect("mesh").is_empty() {
            assert!(Instant::now() < deadline, "empty mesh");
            sleep(Duration::from_millis(200)).await;
        }
    }
    nodes[4]
        .client
        .publish(b"leaf-block".to_vec())
        .await
        .expect("publish");
    let mut reached = HashSet::new();
    while reached.len() < 4 {
        let (i, data) = timeout(WAIT, seen.recv())
            .await
            .expect("in time")
            .expect("open");
        assert_eq!(data, b"leaf-block");
        assert!(reached.insert(i), "node {i} got the message twice");
    }
    assert!(!reached.contains(&4));
}

#[tokio::test]
async fn shutdown_stops_the_task_and_fails_later_calls() {
    let mut config = NetConfig::new(seed(70), NET);
    config.bootstrap = vec![];
    let (client, mut events, task) = spawn(config).expect("spawn");
    client.shutdown().await.expect("shutdown");
    timeout(WAIT, task)
        .await
        .expect("task ends")
        .expect("no panic");
    assert!(matches!(client.peers().await, Err(NetError::Shutdown)));
    assert!(
        events.recv().await.is_none(),
        "event channel closes with the task"
    );
    // A second shutdown is harmless.
    client.shutdown().await.expect("idempotent");
}

#[tokio::test]
async fn bad_configuration_is_refused_with_a_clear_error() {
    let mut config = NetConfig::new(seed(71), NET);
    config.bootstrap = vec!["/ip4/127.0.0.1/tcp/1".parse().expect("addr")];
    assert!(matches!(
        spawn(config),
        Err(NetError::InvalidAddress { .. })
    ));

    let (first, _events, _task) = spawn(NetConfig::new(seed(72), NET)).expect("spawn");
    let taken = first.listen_addrs().await.expect("addrs")[0].clone();
    let mut config = NetConfig::new(seed(73), NET);
    config.listen = vec![taken];
    let err = spawn(config).map(|_| ()).unwrap_err();
    assert!(matches!(err, NetError::Listen { .. }), "{err}");
}

#[test]
fn trimming_picks_idle_peers_outside_the_mesh_least_recently_used_first() {
    let config = NetConfig {
        connection_target: 3,
        trim_after: Duration::from_secs(30),
        ..NetConfig::new(seed(1), NET)
    };
    let p: Vec<PeerId> = (0..8).map(|_| PeerId::random()).collect();
    let now = 1_000_000;
    // p0, p1: mesh or bootstrap; p2: used 5 s ago; p3..p7 idle, p7 the longest.
    let keep: HashSet<PeerId> = [p[0], p[1]].into_iter().collect();
    let used = |i: usize, ago_s: u64| (p[i], now - ago_s * 1000);
    let last_used = vec![
        used(0, 600),
        used(1, 600),
        used(2, 5),
        used(3, 40),
        used(4, 50),
        used(5, 300),
        used(6, 60),
        used(7, 900),
    ];
    // 8 connected, target 3: 5 to close, but only p3..p7 may go; oldest use first.
    let close = trimming(&config, 8, &last_used, &keep, now);
    assert_eq!(close, vec![p[7], p[5], p[6], p[4], p[3]]);
    // Fewer allowed than idle: the least recently used ones.
    assert_eq!(
        trimming(&config, 5, &last_used, &keep, now),
        vec![p[7], p[5]]
    );
    // At or under the target nothing goes, idle or not.
    assert!(trimming(&config, 3, &last_used, &keep, now).is_empty());
    // Nothing idle long enough: nothing goes, whatever the excess.
    let busy = NetConfig {
        trim_after: Duration::from_secs(3600),
        ..config
    };
    assert!(trimming(&busy, 8, &last_used, &keep, now).is_empty());
}

#[test]
fn a_data_request_keeps_a_connection_longer_than_a_sync() {
    let trim_after = Duration::from_secs(30);
    let now = 10_000_000;
    let mut e = super::swarm::PeerEntry::new();
    e.connected_since_ms = now - 3_600_000;
    // A sync two minutes ago: idle for trimming.
    e.last_request_ms = now - 120_000;
    assert!(now - e.last_use(trim_after) >= 30_000);
    // A data request two minutes ago: still in use for trimming, until ten minutes.
    e.last_data_ms = now - 120_000;
    e.last_request_ms = e.last_data_ms;
    assert!(now.saturating_sub(e.last_use(trim_after)) < 30_000);
    e.last_data_ms = now - 11 * 60_000;
    e.last_request_ms = e.last_data_ms;
    assert!(now - e.last_use(trim_after) >= 30_000);
}

fn trimming(
    config: &NetConfig,
    connected: usize,
    last_used: &[(PeerId, u64)],
    keep: &HashSet<PeerId>,
    now: u64,
) -> Vec<PeerId> {
    super::swarm::trim_candidates(connected, last_used, keep, now, config)
}

#[tokio::test]
async fn connections_above_the_target_are_trimmed_down_to_the_gossip_mesh() {
    // A hub that 16 peers dial. With a target of 2 it closes every idle connection
    // outside its gossip mesh (the mesh itself is kept: it carries the gossip); the
    // same hub with a target of 100 keeps all 16. Gossip still flows afterwards.
    let fast = |target: u32| {
        move |c: &mut NetConfig| {
            c.connection_target = target;
            c.trim_after = Duration::from_millis(500);
            c.maintenance_interval = Duration::from_millis(200);
            c.discovery = false;
        }
    };
    let mut trimmed_hub = start(1, NET, None, fast(2)).await;
    let kept_hub = start(2, NET, None, fast(100)).await;
    let mut spokes = Vec::new();
    for i in 0..16u8 {
        let spoke = start(10 + i, NET, Some(&trimmed_hub), |c| c.discovery = false).await;
        spoke
            .client
            .dial(kept_hub.addr.clone())
            .await
            .expect("dial the second hub");
        spokes.push(spoke);
    }
    let connected = |n: &Node| {
        let client = n.client.clone();
        async move {
            client
                .peers()
                .await
                .expect("peers")
                .into_iter()
                .filter(|p| p.connected)
                .count()
        }
    };
    let deadline = Instant::now() + WAIT;
    loop {
        let now = connected(&trimmed_hub).await;
        let mesh = mesh_of(&trimmed_hub).await.len();
        if now < 16 && now == mesh {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the hub still has {now} connections with {mesh} in its mesh"
        );
        sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        connected(&kept_hub).await,
        16,
        "a hub under its target closes nothing"
    );
    // A spoke still connected to the trimmed hub reaches it by gossip.
    let mesh = mesh_of(&trimmed_hub).await;
    let sender = spokes
        .iter()
        .find(|s| mesh.contains(&s.peer))
        .expect("a spoke in the mesh");
    sender
        .client
        .publish(b"after trimming".to_vec())
        .await
        .expect("publish");
    let got = wait_for(trimmed_hub.events(), WAIT, |e| match e {
        NetEvent::Gossip { data, .. } => Some(data),
        _ => None,
    })
    .await;
    assert_eq!(got.as_deref(), Some(&b"after trimming"[..]));
}
