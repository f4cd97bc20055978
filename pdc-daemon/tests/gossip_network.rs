//! In-process networks of real nodes (real RocksDB, keys, libp2p on 127.0.0.1): a block
//! published at one node reaches all; in a line A–B–C, blocks that A publishes and that
//! fail validation are rejected at B, never reach C, and cost A its score at B; a message
//! of several blocks with one invalid among them goes no further than B either; Access
//! blocks travel with the requester's payment, or after the owner's linger if nobody
//! relays them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pdc_daemon::config::{Config, Role};
use pdc_daemon::ledger::{
    AccountId, BlockHash, Head, Kind, LedgerError, Register, Send, VerifiedBlock, sign_block,
};
use pdc_daemon::net::NetClient;
use pdc_daemon::node::{Node, init};
use pdc_proto::Message;
use pdc_proto::wire::{Gossip, gossip};

struct N {
    node: Arc<Node>,
    net: NetClient,
    _dir: tempfile::TempDir,
}

impl N {
    fn addr(&self, listen: &[pdc_daemon::net::Multiaddr]) -> String {
        format!("{}/p2p/{}", listen[0], self.net.local_peer_id())
    }
}

const GENESIS: &str = "network_id = \"gossip-test\"\ndefault_price = 500000\n";

async fn start(role: Role, name: &str, bootstrap: Vec<String>, discovery: bool) -> N {
    start_with(role, name, bootstrap, discovery, 3600).await
}

async fn start_with(
    role: Role,
    name: &str,
    bootstrap: Vec<String>,
    discovery: bool,
    sync_secs: u64,
) -> N {
    let dir = tempfile::tempdir().expect("tmp");
    init(dir.path(), role, name).expect("init");
    open_in(dir, GENESIS, bootstrap, discovery, sync_secs).await
}

async fn open_in(
    dir: tempfile::TempDir,
    genesis: &str,
    bootstrap: Vec<String>,
    discovery: bool,
    sync_secs: u64,
) -> N {
    open_with(dir, genesis, bootstrap, discovery, sync_secs, |_| {}).await
}

async fn open_with(
    dir: tempfile::TempDir,
    genesis: &str,
    bootstrap: Vec<String>,
    discovery: bool,
    sync_secs: u64,
    tweak: impl FnOnce(&mut Config),
) -> N {
    std::fs::write(dir.path().join("genesis.toml"), genesis).expect("genesis");
    let mut cfg = Config::load(&dir.path().join("config.toml")).expect("config");
    tweak(&mut cfg);
    cfg.genesis = Some("genesis.toml".into());
    cfg.bootstrap = bootstrap;
    cfg.p2p_discovery = discovery;
    // 3600 s in the gossip tests: anti-entropy must not mask what gossip does.
    cfg.sync_interval_secs = sync_secs;
    let node = Node::open(cfg).await.expect("open");
    let (net, _task) = pdc_daemon::peering::start(node.clone()).await.expect("net");
    N {
        node,
        net,
        _dir: dir,
    }
}

async fn wait(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n`'s own chain head.
fn own_head(n: &N) -> Head {
    n.node
        .ledger()
        .read(|l| l.head(&n.node.account()))
        .expect("registered")
}

/// Signs a block of `n`'s chain by hand (tests that forge or fork it), with `n`'s key
/// on `n`'s network.
fn sign_as(
    n: &N,
    seq: u64,
    prev: BlockHash,
    timestamp_ms: u64,
    balance_after: i64,
    body: Kind,
) -> Result<VerifiedBlock, LedgerError> {
    sign_block(
        &n.node.identity().signing_key,
        &n.node.genesis().hash(),
        seq,
        prev,
        timestamp_ms,
        balance_after,
        body,
    )
}

/// Waits until every node has at least `min` peers in its gossipsub mesh, so a
/// publish reaches a neighbour at once instead of waiting for the next heartbeat.
async fn meshed(nodes: &[&N], min: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut ready = true;
        for n in nodes {
            ready &= n.net.mesh_peers().await.expect("mesh").len() >= min;
        }
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for the gossip mesh"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n` appends (and gossips) a block of its own: a marker that travels behind whatever
/// `n` published or forwarded before, so a negative check can wait for it instead of
/// sleeping.
async fn marker(n: &N) -> BlockHash {
    pdc_daemon::access::grant(
        &n.node,
        AccountId([5; 32]),
        vec!["treatment".into()],
        "all".into(),
        0,
        1,
    )
    .await
    .expect("marker block")
    .hash()
}

/// Waits until `observer` has a negative gossip score for `peer`: the moment it has
/// reported a message of `peer` invalid.
async fn penalized(observer: &N, peer: &N) {
    let id = peer.net.local_peer_id();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = observer
            .net
            .peer_score(id)
            .await
            .expect("score")
            .unwrap_or(0.0);
        if s < 0.0 {
            return;
        }
        assert!(Instant::now() < deadline, "no penalty (score {s})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn has(n: &N, h: &BlockHash) -> bool {
    n.node.ledger().read(|l| l.block(h).is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_published_at_one_node_reaches_all_five() {
    let first = start(Role::Hospital, "N0", vec![], true).await;
    let boot = first.addr(&first.net.listen_addrs().await.expect("addrs"));
    let mut nodes = vec![first];
    for i in 1..5 {
        nodes.push(start(Role::Patient, &format!("N{i}"), vec![boot.clone()], true).await);
    }
    // Wait for the mesh: every node has every Register block (via gossip or sync on connect).
    wait(30, "all Register blocks everywhere", || {
        nodes
            .iter()
            .all(|n| n.node.ledger().read(|l| l.heads().len()) == 5)
    })
    .await;
    meshed(&nodes.iter().collect::<Vec<_>>(), 1).await;
    let grantee = nodes[0].node.account();
    let b = pdc_daemon::access::grant(
        &nodes[3].node,
        grantee,
        vec!["treatment".into()],
        "all".into(),
        0,
        1,
    )
    .await
    .expect("grant");
    wait(10, "the grant at every node by gossip", || {
        nodes.iter().all(|n| has(n, &b.hash()))
    })
    .await;
}

/// A line A - B - C with no discovery, so C only ever hears A through B; returns once B
/// and C hold A's Register and C is not connected to A.
async fn line() -> (N, N, N) {
    let a = start(Role::Patient, "A", vec![], false).await;
    let a_addr = a.addr(&a.net.listen_addrs().await.expect("addrs"));
    let b = start(Role::Patient, "B", vec![a_addr], false).await;
    let b_addr = b.addr(&b.net.listen_addrs().await.expect("addrs"));
    let c = start(Role::Patient, "C", vec![b_addr], false).await;
    wait(30, "B and C to know A's Register", || {
        has(&b, &head_hash(&a)) && has(&c, &head_hash(&a))
    })
    .await;
    meshed(&[&a, &b, &c], 1).await;
    meshed(&[&b], 2).await;
    let peers = c.net.peers().await.expect("peers");
    assert!(
        !peers
            .iter()
            .any(|p| p.connected && p.peer_id == a.net.local_peer_id()),
        "C must not be connected to A directly"
    );
    (a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_blocks_stop_at_the_first_honest_node() {
    let (a, b, c) = line().await;

    let head = own_head(&a);
    let reg = || {
        Kind::Register(Register {
            role: "patient".into(),
            display_name: "again".into(),
            listen_addrs: vec![],
            encryption_key: Vec::new(),
        })
    };
    // 1. Bad prev: seq 2 that does not link to A's head.
    let bad_prev = sign_as(
        &a,
        head.seq + 1,
        BlockHash([9; 32]),
        1,
        0,
        Kind::ConsentRevoke(pdc_daemon::ledger::ConsentRevoke {
            grant_id: vec![1; 16],
        }),
    )
    .expect("sign");
    // 2. Negative balance: a Send of money A does not have.
    let broke = sign_as(
        &a,
        head.seq + 1,
        head.hash,
        2,
        -5,
        Kind::Send(Send {
            to: vec![7; 32],
            amount: 5,
            access_ref: vec![],
        }),
    )
    .expect("sign");
    // 3. Bad signature: a valid block with one signature byte flipped.
    let good = sign_as(&a, head.seq + 1, head.hash, 3, 0, reg()).expect("sign");
    let mut forged = good.to_signed().expect("signed");
    forged.signature[0] ^= 1;
    let hashes_before = |n: &N| n.node.ledger().read(|l| l.heads());
    let (b0, c0) = (hashes_before(&b), hashes_before(&c));
    for signed in [
        bad_prev.to_signed().expect("s"),
        broke.to_signed().expect("s"),
        forged,
    ] {
        let msg = Gossip {
            kind: Some(gossip::Kind::Block(signed)),
        };
        a.net
            .publish(msg.encode_to_vec())
            .await
            .expect("A publishes to B");
    }
    // 4. Oversized: more than the gossip size cap.
    let huge = Gossip {
        kind: Some(gossip::Kind::Block(pdc_proto::ledger::SignedBlock {
            unsigned: vec![0; 200 * 1024],
            signature: vec![0; 64],
        })),
    };
    assert!(
        a.net.publish(huge.encode_to_vec()).await.is_err(),
        "oversized gossip is refused at the source"
    );

    // B penalizes A for the invalid blocks.
    penalized(&b, &a).await;
    // B has judged them (A is penalized); a block B appends after that reaches C
    // behind anything B forwarded.
    let m = marker(&b).await;
    wait(15, "C to receive B's marker", || has(&c, &m)).await;
    let b_acct = b.node.account();
    for (n, mut before, name) in [(&b, b0, "B"), (&c, c0, "C")] {
        let mut after = hashes_before(n);
        after.remove(&b_acct);
        before.remove(&b_acct);
        assert_eq!(after, before, "{name} stored none of the invalid blocks");
    }
    for blk in [&bad_prev, &broke] {
        assert!(!has(&c, &blk.hash()) && !has(&b, &blk.hash()));
    }
}

fn head_hash(n: &N) -> BlockHash {
    n.node
        .ledger()
        .read(|l| l.head(&n.node.account()))
        .expect("head")
        .hash
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_shown_to_each_half_freezes_the_author_identically_everywhere() {
    let first = start_with(Role::Hospital, "F0", vec![], true, 1).await;
    let boot = first.addr(&first.net.listen_addrs().await.expect("addrs"));
    let mut nodes = vec![first];
    for i in 1..4 {
        nodes.push(start_with(Role::Patient, &format!("F{i}"), vec![boot.clone()], true, 1).await);
    }
    wait(30, "all Register blocks everywhere", || {
        nodes
            .iter()
            .all(|n| n.node.ledger().read(|l| l.heads().len()) == 4)
    })
    .await;
    // F1 signs two different blocks at the same seq; one half sees one, the other half
    // the other (handed over directly, as a partitioned network would deliver them).
    let cheat = &nodes[1];
    let head = own_head(cheat);
    let grantee = nodes[0].node.account().0.to_vec();
    let grant = |id: u8| {
        Kind::ConsentGrant(pdc_daemon::ledger::ConsentGrant {
            grant_id: vec![id; 16],
            grantee: grantee.clone(),
            scope: "all".into(),
            purposes: vec!["treatment".into()],
            not_after_ms: 0,
            price: 1,
        })
    };
    let one = sign_as(cheat, head.seq + 1, head.hash, 10, 0, grant(1)).expect("sign");
    let two = sign_as(cheat, head.seq + 1, head.hash, 11, 0, grant(2)).expect("sign");
    nodes[2]
        .node
        .ledger()
        .ingest_remote(one.bytes())
        .await
        .expect("half one");
    nodes[3]
        .node
        .ledger()
        .ingest_remote(two.bytes())
        .await
        .expect("half two");
    let author = cheat.node.account();
    wait(30, "every node to hold the fork proof", || {
        nodes
            .iter()
            .all(|n| n.node.ledger().read(|l| l.fork_proof(&author).is_some()))
    })
    .await;
    let view = |n: &N| {
        n.node.ledger().read(|l| {
            let p = l.fork_proof(&author).expect("proof");
            (
                p.hashes(),
                p.frozen_at(),
                l.head(&author).map(|h| h.seq),
                l.balance(&author, 0).chain,
            )
        })
    };
    let first_view = view(&nodes[0]);
    assert_eq!(first_view.1, head.seq, "frozen at the seq before the fork");
    for n in &nodes {
        assert_eq!(
            view(n),
            first_view,
            "same proof, same frozen chain and balance on every node"
        );
    }
}

/// A hospital funded by the genesis and patients bootstrapped to it (`names`), returned
/// once every node holds every Register and has a gossip mesh.
async fn funded_network(network_id: &str, names: &[&str]) -> (N, Vec<N>) {
    funded_network_lingering(network_id, names, 3000).await
}

/// [`funded_network`] whose patients gossip their Access blocks themselves only after
/// `linger_ms` (`gossip_linger_ms`).
async fn funded_network_lingering(network_id: &str, names: &[&str], linger_ms: u64) -> (N, Vec<N>) {
    let hd = tempfile::tempdir().expect("tmp");
    let h_acct: AccountId = init(hd.path(), Role::Hospital, "Payer")
        .expect("init")
        .account
        .parse()
        .expect("acct");
    let genesis = format!(
        "network_id = \"{network_id}\"\ndefault_price = 500000\n[[balances]]\naccount = \"{h_acct}\"\namount = 10000000\n"
    );
    let h = open_in(hd, &genesis, vec![], true, 3600).await;
    let boot = h.addr(&h.net.listen_addrs().await.expect("addrs"));
    let mut patients = Vec::new();
    for name in names {
        let d = tempfile::tempdir().expect("tmp");
        init(d.path(), Role::Patient, name).expect("init");
        patients.push(
            open_with(d, &genesis, vec![boot.clone()], true, 3600, |c| {
                c.gossip_linger_ms = linger_ms;
            })
            .await,
        );
    }
    wait(30, "registers everywhere", || {
        std::iter::once(&h)
            .chain(&patients)
            .all(|n| n.node.ledger().read(|l| l.heads().len()) == names.len() + 1)
    })
    .await;
    meshed(&std::iter::once(&h).chain(&patients).collect::<Vec<_>>(), 1).await;
    (h, patients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_replayed_later_by_another_publisher_credits_nothing_twice() {
    // A hospital funded by the genesis pays a patient; a third node later re-publishes the
    // Send and Receive in a new envelope (so the content-addressed gossip id differs and
    // no duplicate cache can catch them): every ledger sees duplicates and the balances
    // do not move.
    let (h, others) = funded_network("replay-test", &["Payee", "Replayer"]).await;
    let h_acct = h.node.account();
    let all = [&h, &others[0], &others[1]];
    let payee = others[0].node.account();
    let send = h
        .node
        .ledger()
        .append(Kind::Send(Send {
            to: payee.0.to_vec(),
            amount: 500_000,
            access_ref: vec![],
        }))
        .await
        .expect("send");
    wait(30, "the payee to claim", || {
        others[0]
            .node
            .ledger()
            .read(|l| l.is_received(&send.hash()))
    })
    .await;
    let receive_hash = others[0]
        .node
        .ledger()
        .read(|l| l.head(&payee))
        .expect("head")
        .hash;
    wait(30, "every node to hold the Receive", || {
        all.iter().all(|n| has(n, &receive_hash))
    })
    .await;
    let balances = |n: &N| {
        n.node.ledger().read(|l| {
            (
                l.balance(&payee, 0).chain,
                l.balance(&h_acct, 0).chain,
                l.heads(),
            )
        })
    };
    let before: Vec<_> = all.iter().map(|n| balances(n)).collect();
    assert_eq!(before[0].0, 500_000);
    let receive = others[0]
        .node
        .ledger()
        .read(|l| l.block(&receive_hash).map(|b| b.bytes().to_vec()))
        .expect("receive");
    for bytes in [send.bytes().to_vec(), receive] {
        let signed = pdc_proto::ledger::SignedBlock::decode(bytes.as_slice()).expect("signed");
        let msg = Gossip {
            kind: Some(gossip::Kind::Block(signed)),
        }
        .encode_to_vec();
        // Gossip ids are content hashes: the very same message is refused at once.
        assert!(
            others[1].net.publish(msg.clone()).await.is_err(),
            "a verbatim replay is a duplicate message"
        );
        // A replayer that wraps the block in a different envelope (an unknown field,
        // which decoding skips) gets past the message id; the ledger must still see the
        // same block.
        let mut variant = msg;
        variant.extend_from_slice(&[15 << 3, 1]);
        others[1].net.publish(variant).await.expect("replay");
    }
    // The replayer's own next block travels behind its replays.
    let m = marker(&others[1]).await;
    wait(15, "every node to hold the replayer's marker", || {
        all.iter().all(|n| has(n, &m))
    })
    .await;
    let replayer = others[1].node.account();
    let after: Vec<_> = all
        .iter()
        .map(|n| {
            let (payee, payer, mut heads) = balances(n);
            heads.remove(&replayer);
            (payee, payer, heads)
        })
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .map(|(payee, payer, mut heads)| {
            heads.remove(&replayer);
            (payee, payer, heads)
        })
        .collect();
    assert_eq!(after, before, "a replayed payment credits nothing twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_payments_travels_as_one_message_and_every_payee_claims_its_own() {
    // `append_batch` (a hospital paying every answer of a search) gossips its blocks as
    // one `Blocks` message: every node must store all of them, and each payee claim its
    // own Send.
    let (h, payees) = funded_network("batch-test", &["P1", "P2", "P3"]).await;
    let bodies = payees
        .iter()
        .map(|p| {
            Kind::Send(Send {
                to: p.node.account().0.to_vec(),
                amount: 500_000,
                access_ref: vec![],
            })
        })
        .collect();
    let sends: Vec<_> = h
        .node
        .ledger()
        .append_batch(bodies)
        .await
        .expect("batch")
        .into_iter()
        .map(|r| r.expect("send"))
        .collect();
    assert_eq!(sends.len(), 3);
    for (p, send) in payees.iter().zip(&sends) {
        wait(30, "each payee to claim its Send", || {
            p.node.ledger().read(|l| l.is_received(&send.hash()))
        })
        .await;
    }
    for p in &payees {
        assert_eq!(
            p.node
                .ledger()
                .read(|l| l.balance(&p.node.account(), 0).chain),
            500_000,
            "each payee credited once, with its own Send only"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_one_invalid_block_goes_no_further() {
    let (a, b, c) = line().await;
    let head = own_head(&a);
    let good = sign_as(
        &a,
        head.seq + 1,
        head.hash,
        1,
        0,
        Kind::ConsentGrant(pdc_daemon::ledger::ConsentGrant {
            grant_id: vec![1; 16],
            grantee: b.node.account().0.to_vec(),
            scope: "all".into(),
            purposes: vec!["treatment".into()],
            not_after_ms: 0,
            price: 500_000,
        }),
    )
    .expect("sign");
    let mut forged = sign_as(&a, head.seq + 2, good.hash(), 2, 0, {
        Kind::ConsentRevoke(pdc_daemon::ledger::ConsentRevoke {
            grant_id: vec![2; 16],
        })
    })
    .expect("sign")
    .to_signed()
    .expect("signed");
    forged.signature[0] ^= 1;
    let batch = Gossip {
        kind: Some(gossip::Kind::Blocks(pdc_proto::wire::BlockBatch {
            blocks: vec![good.to_signed().expect("signed"), forged],
        })),
    };
    a.net
        .publish(batch.encode_to_vec())
        .await
        .expect("A publishes to B");
    // B keeps the valid block (it is valid on its own) but rejects the message.
    wait(15, "B to store the valid block of the batch", || {
        has(&b, &good.hash())
    })
    .await;
    // B has judged the message (A is penalized for it); a block B publishes after that
    // reaches C behind anything B forwarded.
    penalized(&b, &a).await;
    let m = marker(&b).await;
    wait(15, "C to receive B's marker", || has(&c, &m)).await;
    assert!(
        !has(&c, &good.hash()),
        "a batch with an invalid block is not forwarded, not even its valid block"
    );
}

/// `owner` grants `h` for treatment; returns once `h` knows the grant.
async fn granted(owner: &N, h: &N) {
    let g = pdc_daemon::access::grant(
        &owner.node,
        h.node.account(),
        vec!["treatment".into()],
        "all".into(),
        0,
        500_000,
    )
    .await
    .expect("grant");
    wait(30, "the hospital to learn the grant", || has(h, &g.hash())).await;
}

/// `h` asks `owner` alone, over the network, and checks and pays as a search does.
async fn ask(h: &N, owner: &N, purpose: &str) -> pdc_daemon::access::CheckedAnswer {
    let report = pdc_daemon::access::search_patients(
        &h.node,
        Arc::new(pdc_daemon::peering::NetTransport {
            client: h.net.clone(),
        }),
        pdc_daemon::access::FanOut {
            query: "asthma".into(),
            purpose: purpose.into(),
            staff_user: "dr-relay".into(),
            timeout: Duration::from_secs(10),
            concurrency: 4,
            only: Some((owner.node.account(), "Owner".into())),
        },
    )
    .await
    .expect("search");
    match report.patients.as_slice() {
        [(_, _, pdc_daemon::access::PatientOutcome::Answered(a))] => a.clone(),
        other => panic!("the owner answers: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_relays_each_access_block_with_its_payment_and_the_owner_stays_quiet() {
    // The owner would gossip its Access blocks only after a minute, and anti-entropy
    // runs hourly: a third node that gets them within seconds got them from the
    // hospital's relay. The owner drops a relayed block from its queue (it will not
    // gossip it a second time).
    let (h, p) = funded_network_lingering("relay-test", &["Owner", "Watcher"], 60_000).await;
    let (owner, watcher) = (&p[0], &p[1]);
    granted(owner, &h).await;
    // A refusal (purpose not granted): no payment, no Receive, so nothing of the
    // owner's own would carry the Access block out before the minute is over.
    let denied = ask(&h, owner, "research").await;
    assert!(
        denied.refused && denied.payment.is_none(),
        "{}",
        denied.reason
    );
    wait(10, "the watcher to hold the refusal's Access block", || {
        has(watcher, &denied.access_block)
    })
    .await;
    wait(10, "the relay to come back to the owner", || {
        owner.node.ledger().deferred_due().is_none()
    })
    .await;
    // Granted and paid: the Access block and the Send travel together.
    let a = ask(&h, owner, "treatment").await;
    let send = a.payment.expect("the hospital paid");
    assert!(!a.refused, "granted: {}", a.reason);
    wait(
        10,
        "the watcher to hold the Access block and its payment",
        || has(watcher, &a.access_block) && has(watcher, &send),
    )
    .await;
    wait(10, "the owner to claim, and the watcher to see it", || {
        watcher.node.ledger().read(|l| l.is_received(&send))
    })
    .await;
    assert!(owner.node.ledger().deferred_due().is_none());
}

/// `h` asks `owner` over the network and never pays (so never relays the Access
/// block); returns the Access block's hash, from the owner's chain.
async fn ask_without_paying(h: &N, owner: &N) -> BlockHash {
    let peer = pdc_daemon::peering::peer_of(&owner.node.account()).expect("peer");
    let resp = h
        .net
        .data_request(
            peer,
            pdc_proto::wire::DataRequest {
                request_id: vec![7; 16],
                query: "asthma".into(),
                purpose: "treatment".into(),
                staff_user: "dr-never-pays".into(),
            },
        )
        .await
        .expect("answer");
    assert!(!resp.refused, "granted: {}", resp.reason);
    owner
        .node
        .ledger()
        .read(|l| l.head(&owner.node.account()))
        .expect("head")
        .hash
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_linger_the_owner_gossips_its_access_block_at_once() {
    // `gossip_linger_ms = 0`: the owner publishes the Access block itself, right away,
    // and keeps nothing back.
    let (h, p) = funded_network_lingering("no-linger-test", &["Owner", "Watcher"], 0).await;
    let (owner, watcher) = (&p[0], &p[1]);
    granted(owner, &h).await;
    let access = ask_without_paying(&h, owner).await;
    assert!(
        owner.node.ledger().deferred_due().is_none(),
        "nothing waits"
    );
    wait(5, "the watcher to get it by gossip", || {
        has(watcher, &access)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_block_nobody_relays_goes_out_after_the_linger() {
    // A requester that asks and never pays never relays the Access block: the owner's
    // node keeps it back for `gossip_linger_ms` (2 s here), then gossips it itself.
    let (h, p) = funded_network_lingering("linger-test", &["Owner", "Watcher"], 2_000).await;
    let (owner, watcher) = (&p[0], &p[1]);
    granted(owner, &h).await;
    let access = ask_without_paying(&h, owner).await;
    // The linger runs from the owner's append, which the owner's queue records; the
    // block must reach no one before that deadline, and everyone after it.
    let due = owner
        .node
        .ledger()
        .deferred_due()
        .expect("the Access block waits");
    wait(10, "the owner to gossip it after the linger", || {
        let seen = [watcher, &h].map(|n| has(n, &access));
        assert!(
            !seen.contains(&true) || Instant::now() >= due,
            "a node has the Access block {:?} before the linger is over",
            due - Instant::now()
        );
        seen == [true, true]
    })
    .await;
    assert!(owner.node.ledger().deferred_due().is_none());
}
